// lib/storage/records.h: versioned binary encoding of stored values.
//
// Every record starts with a format version byte; decoders refuse versions
// they do not know (DataLoss) instead of misreading them, so the format can
// evolve by adding a version. Identity fields (organization, slugs) live in
// the key and are not repeated in the value.
#ifndef KEYGATE_LIB_STORAGE_RECORDS_H_
#define KEYGATE_LIB_STORAGE_RECORDS_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "keygate/service_account.h"
#include "keygate/token.h"
#include "keygate/webhook.h"
#include "keygate/webhook_delivery.h"
#include "lib/base/digest.h"

namespace keygate::storage {

inline constexpr uint8_t kRecordVersion = 1;

// The value of the schema_version key (default CF): the storage format this
// code reads and writes. Frozen: tests/storage_format_v1_test.cc.
inline constexpr std::string_view kSchemaVersion = "1";

// A pepper fingerprint value (default CF) is the raw 32-byte Digest, with no
// version byte.

// StoredToken is a token row: its metadata and the keyed digest of its value.
struct StoredToken {
  TokenMetadata metadata;
  Digest digest{};
};

// Account record (accounts CF value).
std::string EncodeAccount(const ServiceAccount& account);
// DecodeAccount fills every field but organization and slug (from the key).
absl::Status DecodeAccount(std::string_view value, ServiceAccount* account);

// Token record (tokens CF value). The v1 fields, then, for a rotated token
// only, the rotation section (docs/storage-schema.md): a record without it
// is exactly a format v1 record, so records written before rotation existed
// decode unchanged. A keygate older than rotation refuses (DataLoss) the
// record of a rotated token.
std::string EncodeToken(const StoredToken& token);
// DecodeToken fills every field but organization, service_account and slug.
absl::Status DecodeToken(std::string_view value, StoredToken* token);

// Digest record (digests CF value): the token key the digest belongs to.
std::string EncodeDigestRecord(std::string_view token_key);
absl::Status DecodeDigestRecord(std::string_view value,
                                std::string_view* token_key);

// Last-used record (default CF, key LastUsedRecordKey): a token's last
// successful verify, to the second: version byte, then the time (8 bytes,
// as every stored time).
std::string EncodeLastUsed(absl::Time last_used);
absl::Status DecodeLastUsed(std::string_view value, absl::Time* last_used);

// StoredWebhookEndpoint is a webhook endpoint row: the endpoint and its
// signing secret sealed under pepper `secret_pepper_id`
// (lib/webhooks/secret_box.h). Never the plaintext secret.
struct StoredWebhookEndpoint {
  WebhookEndpoint endpoint;
  int secret_pepper_id = 0;
  std::string sealed_secret;
};

// Webhook endpoint record (default CF, key WebhookKey): version byte,
// lp(url), varint(n) + n * lp(event name), lp(description), disabled(1),
// created_at(8), lp(created_by), updated_at(8), lp(updated_by),
// secret_created_at(8), secret pepper id(1), lp(sealed secret).
std::string EncodeWebhookEndpoint(const StoredWebhookEndpoint& stored);
// DecodeWebhookEndpoint fills every field but organization and id.
absl::Status DecodeWebhookEndpoint(std::string_view value,
                                   StoredWebhookEndpoint* stored);

// Webhook delivery state record (default CF, key WebhookDeliveryKey):
// version byte, cursor (8, big-endian), varint32 failure_streak, varint32
// n (at most kMaxWebhookDeliveryAttemptsKept), then n attempts newest first,
// each: lp(event_id), type byte, event_position (8, big-endian), varint32
// attempt, time (8), varint32 http_status, error byte, latency (8,
// big-endian microseconds). New fields are only ever appended.
std::string EncodeWebhookDeliveryState(const WebhookDeliveryState& state);
// DecodeWebhookDeliveryState returns DataLoss for anything malformed.
absl::Status DecodeWebhookDeliveryState(std::string_view value,
                                        WebhookDeliveryState* state);

}  // namespace keygate::storage

#endif  // KEYGATE_LIB_STORAGE_RECORDS_H_

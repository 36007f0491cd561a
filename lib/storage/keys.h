// lib/storage/keys.h: RocksDB key layout (see docs/storage-schema.md).
//
// Every component but the last is length-prefixed (varint32 size + bytes),
// so no organization, account or slug can ever be read as part of another:
// ("a", "bc") and ("ab", "c") give different keys, and a prefix scan of one
// organization never reaches another.
#ifndef KEYGATE_LIB_STORAGE_KEYS_H_
#define KEYGATE_LIB_STORAGE_KEYS_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "lib/base/digest.h"

namespace keygate::storage {

// default (meta) CF: the schema version and one pepper fingerprint per id.
inline constexpr std::string_view kSchemaVersionKey = "schema_version";
// PepperFingerprintKey: "pepper/" + the id in decimal ("pepper/1").
std::string PepperFingerprintKey(int pepper_id);

// accounts CF: lp(org) + slug.
std::string AccountKey(std::string_view org, std::string_view slug);
std::string AccountPrefix(std::string_view org);
bool DecodeAccountKey(std::string_view key, std::string_view* org,
                      std::string_view* slug);

// tokens CF: lp(org) + lp(account) + token slug.
std::string TokenKey(std::string_view org, std::string_view account,
                     std::string_view slug);
// TokenPrefix covers one account's tokens; OrganizationPrefix all of an
// organization's (the same bytes as AccountPrefix: lp(org)).
std::string TokenPrefix(std::string_view org, std::string_view account);
std::string OrganizationPrefix(std::string_view org);
bool DecodeTokenKey(std::string_view key, std::string_view* org,
                    std::string_view* account, std::string_view* slug);

// token_times CF: lp(org) + lp(account) + be64(~created micros) + slug, so a
// forward scan lists an account's tokens newest first, ties by slug.
std::string TokenTimeKey(std::string_view org, std::string_view account,
                         absl::Time created_at, std::string_view slug);
// TokenTimeSuffix is the part after TokenPrefix: the keyset cursor position.
std::string TokenTimeSuffix(absl::Time created_at, std::string_view slug);

// digests CF: the 32 digest bytes (DigestBytes in lib/base/digest.h).

// default (meta) CF, last-used range: "last_used/" + the 8 bytes of a
// LastUsedKey (an addition to format v1 that stores written before simply
// lack). LastUsedKey is the first 8 bytes of a token's keyed digest as a
// little-endian integer, with 0 and 2^64-1 (which mark empty and erased
// slots in memory) moved to 1 and 2^64-2; two tokens sharing it share a
// last-used time (probability ~n^2 / 2^65).
inline constexpr std::string_view kLastUsedPrefix = "last_used/";
uint64_t LastUsedKey(const Digest& digest);
std::string LastUsedRecordKey(uint64_t last_used_key);
// DecodeLastUsedRecordKey reads a key of the range; false if malformed.
bool DecodeLastUsedRecordKey(std::string_view key, uint64_t* last_used_key);

// default (meta) CF, webhook range: "webhooks/" + lp(org) + endpoint id (an
// addition to format v1, like last_used/). A prefix scan of
// WebhookPrefix(org) lists one organization's endpoints by id.
inline constexpr std::string_view kWebhookPrefix = "webhooks/";
std::string WebhookPrefix(std::string_view org);
std::string WebhookKey(std::string_view org, std::string_view id);
// DecodeWebhookKey reads a key of the range; false if malformed.
bool DecodeWebhookKey(std::string_view key, std::string_view* org,
                      std::string_view* id);

// default (meta) CF, webhook delivery range: "webhook_delivery/" + lp(org) +
// endpoint id (an addition to format v1): one endpoint's delivery state
// (Store::RecordWebhookDelivery), deleted with the endpoint.
inline constexpr std::string_view kWebhookDeliveryPrefix = "webhook_delivery/";
std::string WebhookDeliveryKey(std::string_view org, std::string_view id);

// Times are stored as big-endian microseconds with the sign bit flipped, so
// byte order is time order.
uint64_t EncodeTime(absl::Time t);
absl::Time DecodeTime(uint64_t encoded);

}  // namespace keygate::storage

#endif  // KEYGATE_LIB_STORAGE_KEYS_H_

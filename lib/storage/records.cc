#include "lib/storage/records.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "lib/base/absl_view.h"
#include "lib/storage/coding.h"
#include "lib/storage/keys.h"

namespace keygate::storage {

namespace {

constexpr uint8_t kTokenHasExpiry = 1 << 0;
constexpr uint8_t kTokenRevoked = 1 << 1;
constexpr uint32_t kMaxScopes = 4096;
// The optional rotation section after the v1 fields: a flags byte (never 0),
// then the fields it flags, in this order. kRotatedTo and kGraceEnds come
// together (a rotated-out token).
constexpr uint8_t kRotatedTo = 1 << 0;
constexpr uint8_t kRotatedFrom = 1 << 1;
constexpr uint8_t kGraceEnds = 1 << 2;

absl::Status Corrupt(std::string_view what) {
  return absl::DataLossError(absl::StrCat("corrupt ", AbslView(what), " record"));
}

void PutTime(std::string* dst, absl::Time t) {
  PutFixed64BigEndian(dst, EncodeTime(t));
}

bool GetTime(Decoder& decoder, absl::Time* t) {
  uint64_t encoded;
  if (!decoder.GetFixed64BigEndian(&encoded)) return false;
  *t = DecodeTime(encoded);
  return true;
}

bool GetString(Decoder& decoder, std::string* out) {
  std::string_view view;
  if (!decoder.GetLengthPrefixed(&view)) return false;
  out->assign(view.data(), view.size());
  return true;
}

absl::Status CheckVersion(Decoder& decoder, std::string_view what) {
  uint8_t version;
  if (!decoder.GetByte(&version)) return Corrupt(what);
  if (version != kRecordVersion) {
    return absl::DataLossError(absl::StrCat(
        AbslView(what), " record has format version ", version,
        ", which this keygate does not know (newer store?)"));
  }
  return absl::OkStatus();
}

}  // namespace

std::string EncodeAccount(const ServiceAccount& account) {
  std::string value;
  value.push_back(static_cast<char>(kRecordVersion));
  PutLengthPrefixed(&value, account.name);
  value.push_back(account.disabled ? 1 : 0);
  PutTime(&value, account.created_at);
  PutLengthPrefixed(&value, account.created_by);
  PutTime(&value, account.updated_at);
  PutLengthPrefixed(&value, account.updated_by);
  return value;
}

absl::Status DecodeAccount(std::string_view value, ServiceAccount* account) {
  Decoder decoder(value);
  if (absl::Status s = CheckVersion(decoder, "account"); !s.ok()) return s;
  uint8_t disabled;
  if (!GetString(decoder, &account->name) || !decoder.GetByte(&disabled) ||
      disabled > 1 || !GetTime(decoder, &account->created_at) ||
      !GetString(decoder, &account->created_by) ||
      !GetTime(decoder, &account->updated_at) ||
      !GetString(decoder, &account->updated_by) || !decoder.done()) {
    return Corrupt("account");
  }
  account->disabled = disabled == 1;
  return absl::OkStatus();
}

std::string EncodeToken(const StoredToken& token) {
  const TokenMetadata& m = token.metadata;
  std::string value;
  value.push_back(static_cast<char>(kRecordVersion));
  value.append(reinterpret_cast<const char*>(token.digest.data()),
               token.digest.size());
  value.push_back(static_cast<char>(m.pepper_id));
  PutLengthPrefixed(&value, m.name);
  PutVarint32(&value, static_cast<uint32_t>(m.scopes.size()));
  for (const std::string& scope : m.scopes) PutLengthPrefixed(&value, scope);
  PutTime(&value, m.created_at);
  PutLengthPrefixed(&value, m.created_by);
  uint8_t flags = 0;
  if (m.expires_at) flags |= kTokenHasExpiry;
  if (m.revoked_at) flags |= kTokenRevoked;
  value.push_back(static_cast<char>(flags));
  if (m.expires_at) PutTime(&value, *m.expires_at);
  if (m.revoked_at) {
    PutTime(&value, *m.revoked_at);
    PutLengthPrefixed(&value, m.revoked_by);
  }
  // The rotation section, appended only to rotated tokens: every other
  // record stays byte for byte what format v1 wrote.
  uint8_t rotation = 0;
  if (!m.rotated_to.empty()) rotation |= kRotatedTo;
  if (!m.rotated_from.empty()) rotation |= kRotatedFrom;
  if (m.grace_ends_at) rotation |= kGraceEnds;
  if (rotation != 0) {
    value.push_back(static_cast<char>(rotation));
    if (rotation & kRotatedTo) PutLengthPrefixed(&value, m.rotated_to);
    if (rotation & kRotatedFrom) PutLengthPrefixed(&value, m.rotated_from);
    if (rotation & kGraceEnds) PutTime(&value, *m.grace_ends_at);
  }
  return value;
}

absl::Status DecodeToken(std::string_view value, StoredToken* token) {
  Decoder decoder(value);
  if (absl::Status s = CheckVersion(decoder, "token"); !s.ok()) return s;
  TokenMetadata& m = token->metadata;
  std::string_view digest;
  uint8_t pepper_id;
  uint32_t scope_count;
  if (!decoder.GetBytes(token->digest.size(), &digest) ||
      !decoder.GetByte(&pepper_id) || !GetString(decoder, &m.name) ||
      !decoder.GetVarint32(&scope_count) || scope_count > kMaxScopes) {
    return Corrupt("token");
  }
  std::memcpy(token->digest.data(), digest.data(), digest.size());
  m.pepper_id = pepper_id;
  m.scopes.resize(scope_count);
  for (std::string& scope : m.scopes) {
    if (!GetString(decoder, &scope)) return Corrupt("token");
  }
  uint8_t flags;
  if (!GetTime(decoder, &m.created_at) || !GetString(decoder, &m.created_by) ||
      !decoder.GetByte(&flags) ||
      (flags & ~(kTokenHasExpiry | kTokenRevoked)) != 0) {
    return Corrupt("token");
  }
  m.expires_at.reset();
  m.revoked_at.reset();
  m.revoked_by.clear();
  if (flags & kTokenHasExpiry) {
    absl::Time t;
    if (!GetTime(decoder, &t)) return Corrupt("token");
    m.expires_at = t;
  }
  if (flags & kTokenRevoked) {
    absl::Time t;
    if (!GetTime(decoder, &t) || !GetString(decoder, &m.revoked_by)) {
      return Corrupt("token");
    }
    m.revoked_at = t;
  }
  m.rotated_to.clear();
  m.rotated_from.clear();
  m.grace_ends_at.reset();
  if (!decoder.done()) {
    uint8_t rotation;
    if (!decoder.GetByte(&rotation) || rotation == 0 ||
        (rotation & ~(kRotatedTo | kRotatedFrom | kGraceEnds)) != 0 ||
        ((rotation & kRotatedTo) != 0) != ((rotation & kGraceEnds) != 0)) {
      return Corrupt("token");
    }
    if ((rotation & kRotatedTo) &&
        (!GetString(decoder, &m.rotated_to) || m.rotated_to.empty())) {
      return Corrupt("token");
    }
    if ((rotation & kRotatedFrom) &&
        (!GetString(decoder, &m.rotated_from) || m.rotated_from.empty())) {
      return Corrupt("token");
    }
    if (rotation & kGraceEnds) {
      absl::Time t;
      if (!GetTime(decoder, &t)) return Corrupt("token");
      m.grace_ends_at = t;
    }
  }
  if (!decoder.done()) return Corrupt("token");
  return absl::OkStatus();
}

std::string EncodeDigestRecord(std::string_view token_key) {
  std::string value;
  value.push_back(static_cast<char>(kRecordVersion));
  PutLengthPrefixed(&value, token_key);
  return value;
}

absl::Status DecodeDigestRecord(std::string_view value,
                                std::string_view* token_key) {
  Decoder decoder(value);
  if (absl::Status s = CheckVersion(decoder, "digest"); !s.ok()) return s;
  if (!decoder.GetLengthPrefixed(token_key) || !decoder.done()) {
    return Corrupt("digest");
  }
  return absl::OkStatus();
}

std::string EncodeLastUsed(absl::Time last_used) {
  std::string value;
  value.push_back(static_cast<char>(kRecordVersion));
  PutTime(&value, last_used);
  return value;
}

absl::Status DecodeLastUsed(std::string_view value, absl::Time* last_used) {
  Decoder decoder(value);
  if (absl::Status s = CheckVersion(decoder, "last-used"); !s.ok()) return s;
  if (!GetTime(decoder, last_used) || !decoder.done()) {
    return Corrupt("last-used");
  }
  return absl::OkStatus();
}

std::string EncodeWebhookEndpoint(const StoredWebhookEndpoint& stored) {
  const WebhookEndpoint& e = stored.endpoint;
  std::string value;
  value.push_back(static_cast<char>(kRecordVersion));
  PutLengthPrefixed(&value, e.url);
  PutVarint32(&value, static_cast<uint32_t>(e.event_names.size()));
  for (const std::string& name : e.event_names) PutLengthPrefixed(&value, name);
  PutLengthPrefixed(&value, e.description);
  value.push_back(e.disabled ? 1 : 0);
  PutTime(&value, e.created_at);
  PutLengthPrefixed(&value, e.created_by);
  PutTime(&value, e.updated_at);
  PutLengthPrefixed(&value, e.updated_by);
  PutTime(&value, e.secret_created_at);
  value.push_back(static_cast<char>(stored.secret_pepper_id));
  PutLengthPrefixed(&value, stored.sealed_secret);
  return value;
}

absl::Status DecodeWebhookEndpoint(std::string_view value,
                                   StoredWebhookEndpoint* stored) {
  Decoder decoder(value);
  if (absl::Status s = CheckVersion(decoder, "webhook"); !s.ok()) return s;
  WebhookEndpoint& e = stored->endpoint;
  std::string_view url, description, created_by, updated_by, sealed;
  uint32_t count = 0;
  if (!decoder.GetLengthPrefixed(&url) || !decoder.GetVarint32(&count) ||
      count > 64) {
    return Corrupt("webhook");
  }
  e.url = std::string(url);
  e.event_names.clear();
  for (uint32_t i = 0; i < count; ++i) {
    std::string_view name;
    if (!decoder.GetLengthPrefixed(&name)) return Corrupt("webhook");
    e.event_names.emplace_back(name);
  }
  uint8_t disabled = 0, pepper_id = 0;
  if (!decoder.GetLengthPrefixed(&description) ||
      !decoder.GetByte(&disabled) || disabled > 1 ||
      !GetTime(decoder, &e.created_at) ||
      !decoder.GetLengthPrefixed(&created_by) ||
      !GetTime(decoder, &e.updated_at) ||
      !decoder.GetLengthPrefixed(&updated_by) ||
      !GetTime(decoder, &e.secret_created_at) ||
      !decoder.GetByte(&pepper_id) || !decoder.GetLengthPrefixed(&sealed) ||
      !decoder.done()) {
    return Corrupt("webhook");
  }
  e.description = std::string(description);
  e.disabled = disabled == 1;
  e.created_by = std::string(created_by);
  e.updated_by = std::string(updated_by);
  stored->secret_pepper_id = pepper_id;
  stored->sealed_secret = std::string(sealed);
  return absl::OkStatus();
}

std::string EncodeWebhookDeliveryState(const WebhookDeliveryState& state) {
  std::string value;
  value.push_back(static_cast<char>(kRecordVersion));
  PutFixed64BigEndian(&value, state.cursor);
  PutVarint32(&value, state.failure_streak);
  const size_t n =
      std::min(state.recent_attempts.size(), kMaxWebhookDeliveryAttemptsKept);
  PutVarint32(&value, static_cast<uint32_t>(n));
  for (size_t i = 0; i < n; ++i) {
    const WebhookDeliveryAttempt& a = state.recent_attempts[i];
    PutLengthPrefixed(&value, a.event_id);
    value.push_back(static_cast<char>(a.event_type));
    PutFixed64BigEndian(&value, a.event_position);
    PutVarint32(&value, a.attempt);
    PutTime(&value, a.time);
    PutVarint32(&value, static_cast<uint32_t>(std::max(a.http_status, 0)));
    value.push_back(static_cast<char>(a.error));
    PutFixed64BigEndian(
        &value, static_cast<uint64_t>(std::max<int64_t>(
                    absl::ToInt64Microseconds(a.latency), 0)));
  }
  return value;
}

absl::Status DecodeWebhookDeliveryState(std::string_view value,
                                        WebhookDeliveryState* state) {
  Decoder decoder(value);
  if (absl::Status s = CheckVersion(decoder, "webhook delivery"); !s.ok()) {
    return s;
  }
  uint32_t count = 0;
  if (!decoder.GetFixed64BigEndian(&state->cursor) ||
      !decoder.GetVarint32(&state->failure_streak) ||
      !decoder.GetVarint32(&count) ||
      count > kMaxWebhookDeliveryAttemptsKept) {
    return Corrupt("webhook delivery");
  }
  state->recent_attempts.clear();
  for (uint32_t i = 0; i < count; ++i) {
    WebhookDeliveryAttempt a;
    std::string_view event_id;
    uint8_t type = 0, error = 0;
    uint32_t status = 0;
    uint64_t latency = 0;
    if (!decoder.GetLengthPrefixed(&event_id) || !decoder.GetByte(&type) ||
        !decoder.GetFixed64BigEndian(&a.event_position) ||
        !decoder.GetVarint32(&a.attempt) || !GetTime(decoder, &a.time) ||
        !decoder.GetVarint32(&status) || status > 999 ||
        !decoder.GetByte(&error) ||
        !decoder.GetFixed64BigEndian(&latency) ||
        latency > (uint64_t{1} << 62)) {
      return Corrupt("webhook delivery");
    }
    a.event_id = std::string(event_id);
    a.event_type = static_cast<EventType>(type);
    a.http_status = static_cast<int>(status);
    // Any error byte is kept as it is: a newer keygate may have written one
    // this one does not name (WebhookDeliveryErrorName: "unknown").
    a.error = static_cast<WebhookDeliveryError>(error);
    a.latency = absl::Microseconds(static_cast<int64_t>(latency));
    state->recent_attempts.push_back(std::move(a));
  }
  if (!decoder.done()) return Corrupt("webhook delivery");
  return absl::OkStatus();
}

}  // namespace keygate::storage

// lib/storage/event_record.cc: encoding of event outbox records and keys.
#include "lib/storage/event_record.h"

#include <optional>
#include <utility>

#include "lib/storage/coding.h"
#include "lib/storage/keys.h"
#include "lib/storage/records.h"

namespace keygate::storage {

namespace {

constexpr uint8_t kAccountResource = 1;
constexpr uint8_t kTokenResource = 2;
constexpr uint8_t kWebhookEndpointResource = 3;
// The decoder bounds a token's scope count (the store's own bound is far
// lower).
constexpr uint32_t kMaxScopes = 1u << 16;

absl::Status CorruptEvent() {
  return absl::DataLossError("corrupt event record");
}

bool IsKnownType(uint8_t type) {
  return type >= static_cast<uint8_t>(EventType::kServiceAccountCreated) &&
         type <= static_cast<uint8_t>(EventType::kWebhookEndpointDisabled);
}

bool GetString(Decoder& decoder, std::string* out) {
  std::string_view view;
  if (!decoder.GetLengthPrefixed(&view)) return false;
  out->assign(view.data(), view.size());
  return true;
}

void PutTime(std::string* value, absl::Time t) {
  PutFixed64BigEndian(value, EncodeTime(t));
}

bool GetTime(Decoder& decoder, absl::Time* t) {
  uint64_t encoded;
  if (!decoder.GetFixed64BigEndian(&encoded)) return false;
  *t = DecodeTime(encoded);
  return true;
}

void PutOptionalTime(std::string* value, const std::optional<absl::Time>& t) {
  value->push_back(t ? 1 : 0);
  if (t) PutTime(value, *t);
}

bool GetOptionalTime(Decoder& decoder, std::optional<absl::Time>* t) {
  uint8_t present;
  if (!decoder.GetByte(&present) || present > 1) return false;
  t->reset();
  if (present == 0) return true;
  absl::Time value;
  if (!GetTime(decoder, &value)) return false;
  *t = value;
  return true;
}

void PutAccount(std::string* value, const ServiceAccount& account) {
  PutLengthPrefixed(value, account.slug);
  PutLengthPrefixed(value, account.name);
  value->push_back(account.disabled ? 1 : 0);
  PutTime(value, account.created_at);
  PutLengthPrefixed(value, account.created_by);
  PutTime(value, account.updated_at);
  PutLengthPrefixed(value, account.updated_by);
}

bool GetAccount(Decoder& decoder, ServiceAccount* account) {
  uint8_t disabled;
  if (!GetString(decoder, &account->slug) ||
      !GetString(decoder, &account->name) || !decoder.GetByte(&disabled) ||
      disabled > 1 || !GetTime(decoder, &account->created_at) ||
      !GetString(decoder, &account->created_by) ||
      !GetTime(decoder, &account->updated_at) ||
      !GetString(decoder, &account->updated_by)) {
    return false;
  }
  account->disabled = disabled == 1;
  return true;
}

void PutToken(std::string* value, const TokenMetadata& m) {
  PutLengthPrefixed(value, m.service_account);
  PutLengthPrefixed(value, m.slug);
  PutLengthPrefixed(value, m.name);
  PutVarint32(value, static_cast<uint32_t>(m.scopes.size()));
  for (const std::string& scope : m.scopes) PutLengthPrefixed(value, scope);
  PutTime(value, m.created_at);
  PutLengthPrefixed(value, m.created_by);
  PutOptionalTime(value, m.expires_at);
  PutOptionalTime(value, m.revoked_at);
  PutLengthPrefixed(value, m.revoked_by);
  PutVarint32(value, static_cast<uint32_t>(m.pepper_id));
  PutLengthPrefixed(value, m.rotated_to);
  PutLengthPrefixed(value, m.rotated_from);
  PutOptionalTime(value, m.grace_ends_at);
}

bool GetToken(Decoder& decoder, TokenMetadata* m) {
  uint32_t scopes, pepper_id;
  if (!GetString(decoder, &m->service_account) ||
      !GetString(decoder, &m->slug) || !GetString(decoder, &m->name) ||
      !decoder.GetVarint32(&scopes) || scopes > kMaxScopes) {
    return false;
  }
  m->scopes.clear();
  for (uint32_t i = 0; i < scopes; ++i) {
    std::string scope;
    if (!GetString(decoder, &scope)) return false;
    m->scopes.push_back(std::move(scope));
  }
  if (!GetTime(decoder, &m->created_at) ||
      !GetString(decoder, &m->created_by) ||
      !GetOptionalTime(decoder, &m->expires_at) ||
      !GetOptionalTime(decoder, &m->revoked_at) ||
      !GetString(decoder, &m->revoked_by) ||
      !decoder.GetVarint32(&pepper_id) || pepper_id > 255 ||
      !GetString(decoder, &m->rotated_to) ||
      !GetString(decoder, &m->rotated_from) ||
      !GetOptionalTime(decoder, &m->grace_ends_at)) {
    return false;
  }
  m->pepper_id = static_cast<int>(pepper_id);
  return true;
}

}  // namespace

std::string EventKey(uint64_t position) {
  std::string key(kEventPrefix);
  PutFixed64BigEndian(&key, position);
  return key;
}

bool DecodeEventKey(std::string_view key, uint64_t* position) {
  if (key.substr(0, kEventPrefix.size()) != kEventPrefix) return false;
  Decoder decoder(key.substr(kEventPrefix.size()));
  return decoder.GetFixed64BigEndian(position) && decoder.done();
}

std::string EncodeEvent(const Event& event) {
  std::string value;
  value.push_back(static_cast<char>(kRecordVersion));
  value.push_back(static_cast<char>(event.type));
  PutTime(&value, event.time);
  PutLengthPrefixed(&value, event.id);
  PutLengthPrefixed(&value, event.organization);
  PutLengthPrefixed(&value, event.actor);
  if (event.token) {
    value.push_back(static_cast<char>(kTokenResource));
    PutToken(&value, *event.token);
  } else if (event.webhook_endpoint) {
    const WebhookEndpoint& e = *event.webhook_endpoint;
    value.push_back(static_cast<char>(kWebhookEndpointResource));
    PutLengthPrefixed(&value, e.id);
    PutLengthPrefixed(&value, e.url);
    PutLengthPrefixed(&value, e.description);
    value.push_back(e.disabled ? 1 : 0);
    PutTime(&value, e.updated_at);
    PutLengthPrefixed(&value, e.updated_by);
  } else {
    value.push_back(static_cast<char>(kAccountResource));
    PutAccount(&value, event.service_account.value_or(ServiceAccount()));
  }
  return value;
}

absl::Status DecodeEvent(std::string_view value, Event* event) {
  Decoder decoder(value);
  uint8_t version, type, resource;
  if (!decoder.GetByte(&version) || version != kRecordVersion ||
      !decoder.GetByte(&type) || !IsKnownType(type) ||
      !GetTime(decoder, &event->time) || !GetString(decoder, &event->id) ||
      !GetString(decoder, &event->organization) ||
      !GetString(decoder, &event->actor) || !decoder.GetByte(&resource)) {
    return CorruptEvent();
  }
  event->type = static_cast<EventType>(type);
  event->service_account.reset();
  event->token.reset();
  event->webhook_endpoint.reset();
  if (resource == kAccountResource) {
    ServiceAccount account;
    if (!GetAccount(decoder, &account)) return CorruptEvent();
    account.organization = event->organization;
    event->service_account = std::move(account);
  } else if (resource == kTokenResource) {
    TokenMetadata token;
    if (!GetToken(decoder, &token)) return CorruptEvent();
    token.organization = event->organization;
    event->token = std::move(token);
  } else if (resource == kWebhookEndpointResource) {
    WebhookEndpoint endpoint;
    uint8_t disabled = 0;
    if (!GetString(decoder, &endpoint.id) ||
        !GetString(decoder, &endpoint.url) ||
        !GetString(decoder, &endpoint.description) ||
        !decoder.GetByte(&disabled) || disabled > 1 ||
        !GetTime(decoder, &endpoint.updated_at) ||
        !GetString(decoder, &endpoint.updated_by)) {
      return CorruptEvent();
    }
    endpoint.disabled = disabled == 1;
    endpoint.organization = event->organization;
    event->webhook_endpoint = std::move(endpoint);
  } else {
    return CorruptEvent();
  }
  if (!decoder.done()) return CorruptEvent();
  return absl::OkStatus();
}

std::string EncodeEventCursor(const EventCursor& cursor) {
  std::string value;
  value.push_back(static_cast<char>(kRecordVersion));
  PutFixed64BigEndian(&value, cursor.acked);
  PutFixed64BigEndian(&value, cursor.last);
  PutOptionalTime(&value, cursor.due_through);
  return value;
}

absl::Status DecodeEventCursor(std::string_view value, EventCursor* cursor) {
  Decoder decoder(value);
  uint8_t version;
  if (!decoder.GetByte(&version) || version != kRecordVersion ||
      !decoder.GetFixed64BigEndian(&cursor->acked) ||
      !decoder.GetFixed64BigEndian(&cursor->last) ||
      !GetOptionalTime(decoder, &cursor->due_through) || !decoder.done() ||
      cursor->acked > cursor->last) {
    return absl::DataLossError("corrupt event cursor record");
  }
  return absl::OkStatus();
}

}  // namespace keygate::storage

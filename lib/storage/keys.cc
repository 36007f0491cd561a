#include "lib/storage/keys.h"

#include "absl/strings/str_cat.h"
#include "lib/storage/coding.h"

namespace keygate::storage {

namespace {
constexpr uint64_t kSignBit = uint64_t{1} << 63;
}  // namespace

uint64_t EncodeTime(absl::Time t) {
  return static_cast<uint64_t>(absl::ToUnixMicros(t)) ^ kSignBit;
}

absl::Time DecodeTime(uint64_t encoded) {
  return absl::FromUnixMicros(static_cast<int64_t>(encoded ^ kSignBit));
}

uint64_t LastUsedKey(const Digest& digest) {
  uint64_t key = 0;
  for (int i = 7; i >= 0; --i) key = (key << 8) | digest[i];
  if (key == 0) key = 1;
  if (key == ~uint64_t{0}) key = ~uint64_t{0} - 1;
  return key;
}

std::string LastUsedRecordKey(uint64_t last_used_key) {
  std::string key(kLastUsedPrefix);
  for (int i = 0; i < 8; ++i) {
    key.push_back(static_cast<char>((last_used_key >> (8 * i)) & 0xff));
  }
  return key;
}

bool DecodeLastUsedRecordKey(std::string_view key, uint64_t* last_used_key) {
  if (key.size() != kLastUsedPrefix.size() + 8 ||
      key.substr(0, kLastUsedPrefix.size()) != kLastUsedPrefix) {
    return false;
  }
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) {
    value = (value << 8) |
            static_cast<uint8_t>(key[kLastUsedPrefix.size() + i]);
  }
  if (value == 0 || value == ~uint64_t{0}) return false;
  *last_used_key = value;
  return true;
}

std::string PepperFingerprintKey(int pepper_id) {
  return absl::StrCat("pepper/", pepper_id);
}

std::string AccountPrefix(std::string_view org) {
  std::string key;
  PutLengthPrefixed(&key, org);
  return key;
}

std::string OrganizationPrefix(std::string_view org) {
  return AccountPrefix(org);
}

std::string WebhookPrefix(std::string_view org) {
  std::string key(kWebhookPrefix);
  PutLengthPrefixed(&key, org);
  return key;
}

std::string WebhookKey(std::string_view org, std::string_view id) {
  std::string key = WebhookPrefix(org);
  key.append(id);
  return key;
}

std::string WebhookDeliveryKey(std::string_view org, std::string_view id) {
  std::string key(kWebhookDeliveryPrefix);
  PutLengthPrefixed(&key, org);
  key.append(id);
  return key;
}

bool DecodeWebhookKey(std::string_view key, std::string_view* org,
                      std::string_view* id) {
  if (key.substr(0, kWebhookPrefix.size()) != kWebhookPrefix) return false;
  Decoder decoder(key.substr(kWebhookPrefix.size()));
  if (!decoder.GetLengthPrefixed(org)) return false;
  *id = decoder.remaining();
  return !id->empty();
}

std::string AccountKey(std::string_view org, std::string_view slug) {
  std::string key = AccountPrefix(org);
  key.append(slug);
  return key;
}

bool DecodeAccountKey(std::string_view key, std::string_view* org,
                      std::string_view* slug) {
  Decoder decoder(key);
  if (!decoder.GetLengthPrefixed(org)) return false;
  *slug = decoder.remaining();
  return !slug->empty();
}

std::string TokenPrefix(std::string_view org, std::string_view account) {
  std::string key = AccountPrefix(org);
  PutLengthPrefixed(&key, account);
  return key;
}

std::string TokenKey(std::string_view org, std::string_view account,
                     std::string_view slug) {
  std::string key = TokenPrefix(org, account);
  key.append(slug);
  return key;
}

bool DecodeTokenKey(std::string_view key, std::string_view* org,
                    std::string_view* account, std::string_view* slug) {
  Decoder decoder(key);
  if (!decoder.GetLengthPrefixed(org) || !decoder.GetLengthPrefixed(account)) {
    return false;
  }
  *slug = decoder.remaining();
  return !slug->empty();
}

std::string TokenTimeSuffix(absl::Time created_at, std::string_view slug) {
  std::string suffix;
  PutFixed64BigEndian(&suffix, ~EncodeTime(created_at));
  suffix.append(slug);
  return suffix;
}

std::string TokenTimeKey(std::string_view org, std::string_view account,
                         absl::Time created_at, std::string_view slug) {
  return TokenPrefix(org, account) + TokenTimeSuffix(created_at, slug);
}

}  // namespace keygate::storage

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

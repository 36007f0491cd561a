// lib/token/codec.cc: token generation and strict, allocation-free parsing.
#include "lib/token/codec.h"

#include <sodium.h>

#include <array>
#include <cstdint>

#include "lib/crypto/sodium.h"
#include "lib/token/crc32c.h"

namespace keygate::token {
namespace {

constexpr char kAlphabet[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
constexpr uint32_t kBase = 62;
static_assert(sizeof(kAlphabet) - 1 == kBase);

// The largest pepper id a single base62 digit can carry.
constexpr int kMaxPepperId = 61;

// kInvalid marks a byte that is not a base62 digit.
constexpr uint8_t kInvalid = 0xff;

constexpr std::array<uint8_t, 256> MakeDigitValues() {
  std::array<uint8_t, 256> values{};
  for (auto& v : values) v = kInvalid;
  for (uint32_t i = 0; i < kBase; ++i) {
    values[static_cast<uint8_t>(kAlphabet[i])] = static_cast<uint8_t>(i);
  }
  return values;
}

constexpr std::array<uint8_t, 256> kDigitValues = MakeDigitValues();
static_assert(kDigitValues['0'] == 0 && kDigitValues['A'] == 10 &&
              kDigitValues['a'] == 36 && kDigitValues['z'] == 61 &&
              kDigitValues['_'] == kInvalid);

inline uint8_t DigitValue(char c) {
  return kDigitValues[static_cast<uint8_t>(c)];
}

// EncodeChecksum writes `crc` as kChecksumChars base62 digits, most
// significant first.
void EncodeChecksum(uint32_t crc, char* out) {
  uint64_t v = crc;
  for (size_t i = kChecksumChars; i-- > 0;) {
    out[i] = kAlphabet[v % kBase];
    v /= kBase;
  }
}

constexpr size_t kMaxTokenSize =
    kMaxPrefixSize + kPepperIdChars + kSecretChars + kChecksumChars;

}  // namespace

bool IsValidPrefix(std::string_view prefix) {
  if (prefix.size() < 2 || prefix.size() > kMaxPrefixSize) return false;
  if (prefix.back() != '_') return false;
  for (size_t i = 0; i + 1 < prefix.size(); ++i) {
    const char c = prefix[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  }
  return true;
}

TokenCodec::TokenCodec(std::string_view prefix) : prefix_(prefix) {}

SecretString TokenCodec::Generate(int pepper_id) const {
  if (pepper_id < 1 || pepper_id > kMaxPepperId) return SecretString();
  if (!IsValidPrefix(prefix_)) return SecretString();
  if (!crypto::InitSodium().ok()) return SecretString();

  char buf[kMaxTokenSize];
  const size_t size = token_size();
  size_t pos = 0;
  for (char c : prefix_) buf[pos++] = c;
  buf[pos++] = kAlphabet[pepper_id];
  // Rejection sampling over CSPRNG bytes: a byte below kAcceptBelow
  // (= 4 * 62) maps uniformly onto the alphabet by `% 62`; about 3% of the
  // bytes are drawn again. One randombytes_buf call per token instead of
  // one randombytes_uniform (a getrandom syscall with libsodium's sysrandom
  // backend) per character.
  constexpr unsigned kAcceptBelow = (256 / kBase) * kBase;
  unsigned char random[64];
  size_t used = sizeof random;
  for (size_t i = 0; i < kSecretChars; ++i) {
    unsigned char b;
    do {
      if (used == sizeof random) {
        randombytes_buf(random, sizeof random);
        used = 0;
      }
      b = random[used++];
    } while (b >= kAcceptBelow);
    buf[pos++] = kAlphabet[b % kBase];
  }
  sodium_memzero(random, sizeof random);
  EncodeChecksum(Crc32c(buf, pos), buf + pos);
  pos += kChecksumChars;

  SecretString token(std::string_view(buf, size));
  sodium_memzero(buf, sizeof buf);
  return token;
}

int TokenCodec::ParsePepperId(std::string_view token) const noexcept {
  const size_t prefix_size = prefix_.size();
  if (token.size() != token_size()) return 0;

  // Accumulate every failure instead of returning early, so the work done
  // depends only on the length.
  uint32_t bad = 0;
  for (size_t i = 0; i < prefix_size; ++i) {
    bad |= static_cast<uint8_t>(token[i] ^ prefix_[i]);
  }
  const uint8_t pepper = DigitValue(token[prefix_size]);
  bad |= static_cast<uint32_t>(pepper == 0 || pepper > kMaxPepperId);

  const size_t secret_begin = prefix_size + kPepperIdChars;
  const size_t checksum_begin = secret_begin + kSecretChars;
  for (size_t i = secret_begin; i < checksum_begin; ++i) {
    bad |= static_cast<uint32_t>(DigitValue(token[i]) == kInvalid);
  }

  uint64_t checksum = 0;
  for (size_t i = checksum_begin; i < token.size(); ++i) {
    const uint8_t d = DigitValue(token[i]);
    bad |= static_cast<uint32_t>(d == kInvalid);
    checksum = checksum * kBase + (d & 0x3f);
  }
  // 62^6 > 2^32: a decoded value above UINT32_MAX never equals the CRC, so
  // each checksum has exactly one accepted spelling.
  const uint32_t crc = Crc32c(token.data(), checksum_begin);
  bad |= static_cast<uint32_t>(checksum != crc);

  return bad == 0 ? pepper : 0;
}

}  // namespace keygate::token

// lib/token/codec.h: the token string format.
//
//   <prefix><pepper id: 1 base62 char><secret: 43 base62 chars><checksum: 6 base62 chars>
//
// The secret is 43 characters drawn uniformly from the 62-char alphabet
// [0-9A-Za-z] by libsodium's CSPRNG (43 * log2(62) = 256.03 bits). The
// checksum is CRC-32C over everything before it (prefix included), written as
// 6 base62 digits, most significant first (62^6 > 2^32), so typos and random
// strings are rejected without any hashing or lookup (GitHub-style).
#ifndef KEYGATE_LIB_TOKEN_CODEC_H_
#define KEYGATE_LIB_TOKEN_CODEC_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "keygate/secret_string.h"

namespace keygate::token {

inline constexpr size_t kPepperIdChars = 1;
inline constexpr size_t kSecretChars = 43;
inline constexpr size_t kChecksumChars = 6;
inline constexpr size_t kMaxPrefixSize = 17;

// IsValidPrefix reports whether `prefix` is 1-16 chars of [a-z0-9] then '_'.
bool IsValidPrefix(std::string_view prefix);

// TokenCodec formats and parses token strings for one prefix. Immutable and
// safe for concurrent use.
class TokenCodec {
 public:
  // REQUIRES: IsValidPrefix(prefix).
  explicit TokenCodec(std::string_view prefix);

  // Generate returns a fresh token for pepper `pepper_id` (1..61) in a
  // buffer wiped on destruction; every intermediate buffer is wiped too.
  // Returns an empty SecretString (which never parses) if `pepper_id` is out
  // of range, the prefix is invalid, or libsodium cannot be initialized.
  SecretString Generate(int pepper_id) const;

  // ParsePepperId validates `token` strictly (exact length, prefix,
  // alphabet, checksum) and returns its pepper id (1..61), or 0 if it is
  // malformed in any way. Never allocates, never throws; constant work for a
  // given length.
  int ParsePepperId(std::string_view token) const noexcept;

  // token_size is the length of every token this codec makes.
  size_t token_size() const { return prefix_.size() + kPepperIdChars + kSecretChars + kChecksumChars; }
  std::string_view prefix() const { return prefix_; }

 private:
  std::string prefix_;
};

}  // namespace keygate::token

#endif  // KEYGATE_LIB_TOKEN_CODEC_H_

// lib/crypto/token_digester.h: the keyed digest that is all storage keeps of
// a token.
#ifndef KEYGATE_LIB_CRYPTO_TOKEN_DIGESTER_H_
#define KEYGATE_LIB_CRYPTO_TOKEN_DIGESTER_H_

#include <cstdint>
#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "keygate/keyring.h"
#include "lib/base/digest.h"

namespace keygate::crypto {

// The digest value type lives in lib/base/digest.h (storage and the index
// use it without the crypto layer); these names keep crypto::Digest valid.
using ::keygate::Digest;
using ::keygate::kDigestSize;

// DigestEqual compares two digests in constant time (crypto_verify_32).
bool DigestEqual(const Digest& a, const Digest& b) noexcept;

// kSha256TokenDomain and kSha256FingerprintDomain fill the second half of the
// 64-byte SHA-256 key block (pepper || domain, zero-padded): token digests
// and pepper fingerprints start from different secret chaining values, so
// neither can be derived from the other (docs/token-digest.md).
inline constexpr std::string_view kSha256TokenDomain = "keygate token digest v1";
inline constexpr std::string_view kSha256FingerprintDomain =
    "keygate pepper fingerprint v2";

// TokenDigester computes the keyed digest of a token under a pepper, with the
// algorithm the keyring records for that pepper id (docs/token-digest.md):
//  - kBlake2bKeyed: BLAKE2b-256 keyed with the pepper (libsodium
//    crypto_generichash) over the token. Each digest copies a keyed state
//    made once (two compressions per digest).
//  - kSha256KeyBlock: SHA-256(pepper || domain label padded to 32 bytes ||
//    token) through OpenSSL libcrypto. The state after the 64-byte key block
//    is computed once; a token of up to 55 bytes then costs one compression
//    (the CPU's SHA extensions where present), longer ones the usual
//    update/final.
// Precomputed states are secret-equivalent and live in sodium_malloc'd,
// read-only memory. Immutable after Create; safe for concurrent use.
class TokenDigester {
 public:
  // Create precomputes the states of every pepper in `keyring`. Fails with
  // InvalidArgument if `keyring` is null, ResourceExhausted if secure memory
  // cannot be allocated, Internal if libsodium or OpenSSL fails.
  static absl::StatusOr<std::unique_ptr<TokenDigester>> Create(
      std::shared_ptr<const Keyring> keyring);
  ~TokenDigester();
  TokenDigester(const TokenDigester&) = delete;
  TokenDigester& operator=(const TokenDigester&) = delete;

  // Compute writes the digest of `token` under pepper `pepper_id` to `out`
  // and returns true, or returns false if the keyring has no such pepper.
  // No allocation, no lock; scratch holding token bytes is wiped. Time
  // depends only on the token's length and the pepper's algorithm.
  bool Compute(int pepper_id, std::string_view token, Digest* out) const noexcept;

  // Fingerprint returns a keyed digest of a fixed label under `pepper_id`:
  // stored by the store so that opening with a different pepper (or the same
  // pepper under another algorithm) under the same id is refused. Reveals
  // nothing about the pepper. REQUIRES: the id is in the keyring (otherwise
  // the result is all zero bytes).
  Digest Fingerprint(int pepper_id) const;

  // algorithm returns the digest algorithm of `pepper_id` (as the keyring
  // records it).
  DigestAlgorithm algorithm(int pepper_id) const {
    return keyring_->algorithm(pepper_id);
  }
  int active_id() const { return keyring_->active_id(); }
  const Keyring& keyring() const { return *keyring_; }

 private:
  struct States;
  TokenDigester(std::shared_ptr<const Keyring> keyring, States* states);

  std::shared_ptr<const Keyring> keyring_;
  States* states_;  // owned; sodium_malloc'd
};

}  // namespace keygate::crypto

#endif  // KEYGATE_LIB_CRYPTO_TOKEN_DIGESTER_H_

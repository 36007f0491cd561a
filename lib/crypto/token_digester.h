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

// TokenDigester computes BLAKE2b-256 keyed with a pepper (libsodium
// crypto_generichash) over the whole token string. The keyed initial state of
// every pepper is computed once and kept in sodium_malloc'd memory, so each
// digest skips the key setup (libsodium still compresses the buffered key
// block per digest: two compressions, see bench/token_digester_benchmark.cc).
// Immutable after Create; safe for concurrent use.
class TokenDigester {
 public:
  // Create precomputes the states of every pepper in `keyring`. Fails with
  // InvalidArgument if `keyring` is null, ResourceExhausted if secure memory
  // cannot be allocated, Internal if libsodium fails.
  static absl::StatusOr<std::unique_ptr<TokenDigester>> Create(
      std::shared_ptr<const Keyring> keyring);
  ~TokenDigester();
  TokenDigester(const TokenDigester&) = delete;
  TokenDigester& operator=(const TokenDigester&) = delete;

  // Compute writes the digest of `token` under pepper `pepper_id` to `out`
  // and returns true, or returns false if the keyring has no such pepper.
  // No allocation; scratch state is wiped.
  bool Compute(int pepper_id, std::string_view token, Digest* out) const noexcept;

  // Fingerprint returns a keyed digest of a fixed label under `pepper_id`:
  // stored by the store so that opening with a different pepper under the
  // same id is refused. Reveals nothing about the pepper. REQUIRES: the id is
  // in the keyring (otherwise the result is all zero bytes).
  Digest Fingerprint(int pepper_id) const;

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

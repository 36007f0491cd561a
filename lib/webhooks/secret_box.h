// lib/webhooks/secret_box.h: sealing webhook signing secrets for storage.
//
// A signing secret must be readable again to sign deliveries, so it cannot
// be hashed like a token. It is stored sealed with XChaCha20-Poly1305
// (libsodium crypto_aead_xchacha20poly1305_ietf) under a key derived with
// crypto_kdf from one pepper of the keyring (context "kgwhsec1", subkey 1):
// a stolen database without the pepper file reveals no secret. The
// endpoint's identity (organization and id) is the associated data, so a
// sealed secret copied onto another endpoint does not open. Thread-safe.
#ifndef KEYGATE_LIB_WEBHOOKS_SECRET_BOX_H_
#define KEYGATE_LIB_WEBHOOKS_SECRET_BOX_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "keygate/keyring.h"
#include "keygate/secret_string.h"

namespace keygate::webhooks {

// SealSecret seals `secret` under pepper `pepper_id` of `keyring`, bound to
// `associated`. Returns nonce (24 bytes) + ciphertext + tag (16 bytes), or
// FailedPrecondition if the keyring has no such pepper.
absl::StatusOr<std::string> SealSecret(const Keyring& keyring, int pepper_id,
                                       std::string_view associated,
                                       std::string_view secret);

// OpenSecret reverses SealSecret. DataLoss if `sealed` does not open (wrong
// pepper, other associated data, tampered bytes); FailedPrecondition if the
// keyring lacks the pepper.
absl::StatusOr<SecretString> OpenSecret(const Keyring& keyring, int pepper_id,
                                        std::string_view associated,
                                        std::string_view sealed);

}  // namespace keygate::webhooks

#endif  // KEYGATE_LIB_WEBHOOKS_SECRET_BOX_H_

// lib/crypto/keyring_keys.h: keygate's own access to a keyring's key bytes.
#ifndef KEYGATE_LIB_CRYPTO_KEYRING_KEYS_H_
#define KEYGATE_LIB_CRYPTO_KEYRING_KEYS_H_

#include <cstdint>

#include "keygate/keyring.h"

namespace keygate::crypto {

// KeyringKeys reads the key material Keyring keeps private from hosts. Only
// the digest code (and its tests) use it: nothing else in keygate needs key
// bytes. Thread-safe, as Keyring is.
class KeyringKeys {
 public:
  // Key returns the 32 key bytes of pepper `id`, or nullptr if `keyring` has
  // no such pepper. The pointer lives as long as `keyring`.
  static const uint8_t* Key(const Keyring& keyring, int id) {
    return keyring.key(id);
  }
};

}  // namespace keygate::crypto

#endif  // KEYGATE_LIB_CRYPTO_KEYRING_KEYS_H_

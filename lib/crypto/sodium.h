// lib/crypto/sodium.h: libsodium initialization and randomness.
#ifndef KEYGATE_LIB_CRYPTO_SODIUM_H_
#define KEYGATE_LIB_CRYPTO_SODIUM_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"

namespace keygate::crypto {

// InitSodium calls sodium_init() once per process (thread-safe) and returns
// Internal if it failed. Every entry point that uses libsodium calls it.
absl::Status InitSodium();

// RandomBytes fills buf[0, n) from libsodium's CSPRNG.
// REQUIRES: InitSodium() succeeded.
void RandomBytes(void* buf, size_t n);

// RandomUniform returns a uniform value in [0, upper) (no modulo bias).
// REQUIRES: InitSodium() succeeded, upper >= 1.
uint32_t RandomUniform(uint32_t upper);

}  // namespace keygate::crypto

#endif  // KEYGATE_LIB_CRYPTO_SODIUM_H_

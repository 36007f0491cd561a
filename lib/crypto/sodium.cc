// lib/crypto/sodium.cc: libsodium initialization and randomness.
#include "lib/crypto/sodium.h"

#include <sodium.h>

namespace keygate::crypto {

absl::Status InitSodium() {
  // sodium_init() is itself idempotent; the static makes the check cheap and
  // its initialization is thread-safe (C++11 magic statics).
  static const int result = sodium_init();
  if (result < 0) {
    return absl::InternalError("libsodium initialization failed");
  }
  return absl::OkStatus();
}

void RandomBytes(void* buf, size_t n) { randombytes_buf(buf, n); }

uint32_t RandomUniform(uint32_t upper) { return randombytes_uniform(upper); }

}  // namespace keygate::crypto

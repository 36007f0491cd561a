// lib/base/digest.h: the 32-byte keyed token digest as a value.
//
// A Digest is what storage keeps of a token and what the verify index is
// keyed by. It is computed only by lib/crypto/token_digester.h; this header
// holds the plain value type so that storage and the index need not include
// the crypto layer (and through it the keyring).
#ifndef KEYGATE_LIB_BASE_DIGEST_H_
#define KEYGATE_LIB_BASE_DIGEST_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/base/attributes.h"

namespace keygate {

inline constexpr size_t kDigestSize = 32;
using Digest = std::array<uint8_t, kDigestSize>;

// DigestBytes returns the digest's bytes as a view that lives as long as
// `digest`.
inline std::string_view DigestBytes(
    const Digest& digest ABSL_ATTRIBUTE_LIFETIME_BOUND) {
  return std::string_view(reinterpret_cast<const char*>(digest.data()),
                          digest.size());
}

}  // namespace keygate

#endif  // KEYGATE_LIB_BASE_DIGEST_H_

// lib/token/crc32c.cc: CRC-32C, hardware (SSE4.2) and portable paths.
#include "lib/token/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace keygate::token {
namespace internal {
namespace {

// The reflected Castagnoli polynomial.
constexpr uint32_t kPolynomial = 0x82f63b78u;

using Table = std::array<std::array<uint32_t, 256>, 8>;

// Slicing-by-8 tables: kTables[0] is the classic byte table; kTables[k][b] is
// the CRC of byte b followed by k zero bytes.
constexpr Table MakeTables() {
  Table t{};
  for (uint32_t b = 0; b < 256; ++b) {
    uint32_t crc = b;
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc >> 1) ^ ((crc & 1u) ? kPolynomial : 0u);
    }
    t[0][b] = crc;
  }
  for (uint32_t b = 0; b < 256; ++b) {
    for (int k = 1; k < 8; ++k) {
      t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xffu];
    }
  }
  return t;
}

constexpr Table kTables = MakeTables();
static_assert(kTables[0][1] == 0xf26b8303u, "CRC-32C table is wrong");

inline uint64_t LoadLe64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  return v;
}

}  // namespace

uint32_t Crc32cPortable(const void* data, size_t n) noexcept {
  const auto* p = static_cast<const uint8_t*>(data);
  uint32_t crc = 0xffffffffu;
  // Byte-wise until 8-byte aligned, so the wide loads are aligned.
  while (n > 0 && (reinterpret_cast<uintptr_t>(p) & 7u) != 0) {
    crc = (crc >> 8) ^ kTables[0][(crc ^ *p++) & 0xffu];
    --n;
  }
  while (n >= 8) {
    const uint64_t v = LoadLe64(p) ^ crc;
    crc = kTables[7][v & 0xff] ^ kTables[6][(v >> 8) & 0xff] ^
          kTables[5][(v >> 16) & 0xff] ^ kTables[4][(v >> 24) & 0xff] ^
          kTables[3][(v >> 32) & 0xff] ^ kTables[2][(v >> 40) & 0xff] ^
          kTables[1][(v >> 48) & 0xff] ^ kTables[0][v >> 56];
    p += 8;
    n -= 8;
  }
  while (n > 0) {
    crc = (crc >> 8) ^ kTables[0][(crc ^ *p++) & 0xffu];
    --n;
  }
  return crc ^ 0xffffffffu;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t Crc32cSse42(const void* data,
                                                       size_t n) noexcept {
  // Unaligned 8-byte loads (x86 has no penalty within a line), then a
  // 4/2/1-byte tail: at most 3 short steps, none per byte of alignment.
  const auto* p = static_cast<const uint8_t*>(data);
  uint64_t crc = 0xffffffffu;
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, sizeof v);
    crc = _mm_crc32_u64(crc, v);
    p += 8;
    n -= 8;
  }
  uint32_t crc32 = static_cast<uint32_t>(crc);
  if (n >= 4) {
    uint32_t v;
    std::memcpy(&v, p, sizeof v);
    crc32 = _mm_crc32_u32(crc32, v);
    p += 4;
    n -= 4;
  }
  if (n >= 2) {
    uint16_t v;
    std::memcpy(&v, p, sizeof v);
    crc32 = _mm_crc32_u16(crc32, v);
    p += 2;
    n -= 2;
  }
  if (n > 0) crc32 = _mm_crc32_u8(crc32, *p);
  return crc32 ^ 0xffffffffu;
}
#endif

bool Crc32cHardwareAvailable() noexcept {
#if defined(__x86_64__)
  // Function-local static: detected once, safe even from static initializers.
  static const bool available = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2") != 0;
  }();
  return available;
#else
  return false;
#endif
}

}  // namespace internal

uint32_t Crc32c(const void* data, size_t n) noexcept {
#if defined(__x86_64__)
  if (internal::Crc32cHardwareAvailable()) {
    return internal::Crc32cSse42(data, n);
  }
#endif
  return internal::Crc32cPortable(data, n);
}

}  // namespace keygate::token

// lib/token/crc32c.h: CRC-32C (Castagnoli), the token checksum.
#ifndef KEYGATE_LIB_TOKEN_CRC32C_H_
#define KEYGATE_LIB_TOKEN_CRC32C_H_

#include <cstddef>
#include <cstdint>

namespace keygate::token {

// Crc32c returns the CRC-32C of data[0, n) (initial value and final xor
// 0xffffffff, as iSCSI / crc32c / RocksDB). Uses SSE4.2 when the CPU has it,
// a table otherwise; both give identical results. Thread-safe, no allocation.
// `data` may be null when n == 0.
uint32_t Crc32c(const void* data, size_t n) noexcept;

namespace internal {

// The portable implementation (slicing-by-8 over compile-time tables),
// exposed so tests can compare both paths.
uint32_t Crc32cPortable(const void* data, size_t n) noexcept;

// Crc32cHardwareAvailable reports whether Crc32c uses the SSE4.2 path on this
// CPU (detected once per process).
bool Crc32cHardwareAvailable() noexcept;

#if defined(__x86_64__)
// The SSE4.2 implementation, exposed so tests can compare both paths.
// REQUIRES: Crc32cHardwareAvailable().
uint32_t Crc32cSse42(const void* data, size_t n) noexcept;
#endif

}  // namespace internal

}  // namespace keygate::token

#endif  // KEYGATE_LIB_TOKEN_CRC32C_H_

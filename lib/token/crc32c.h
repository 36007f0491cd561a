// lib/token/crc32c.h: CRC-32C (Castagnoli), the token checksum.
#ifndef KEYGATE_LIB_TOKEN_CRC32C_H_
#define KEYGATE_LIB_TOKEN_CRC32C_H_

#include <cstddef>
#include <cstdint>

namespace keygate::token {

// Crc32c returns the CRC-32C of data[0, n) (initial value and final xor
// 0xffffffff, as iSCSI / crc32c / RocksDB). Uses SSE4.2 when the CPU has it,
// a table otherwise; both give identical results. Thread-safe, no allocation.
uint32_t Crc32c(const void* data, size_t n) noexcept;

namespace internal {
// The portable implementation, exposed so tests can compare both paths.
uint32_t Crc32cPortable(const void* data, size_t n) noexcept;
}  // namespace internal

}  // namespace keygate::token

#endif  // KEYGATE_LIB_TOKEN_CRC32C_H_

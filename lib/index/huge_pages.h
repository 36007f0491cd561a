// lib/index/huge_pages.h: memory for the verify index's large arrays, backed
// by transparent huge pages where the kernel offers them.
#ifndef KEYGATE_LIB_INDEX_HUGE_PAGES_H_
#define KEYGATE_LIB_INDEX_HUGE_PAGES_H_

#include <cstddef>

namespace keygate::index {

// kHugePageSize is the x86-64 transparent huge page size.
inline constexpr size_t kHugePageSize = size_t{2} << 20;

// AllocateHugePageBacked returns `bytes` of zeroed memory, or null if out of
// memory. Blocks of at least kHugePageSize are 2 MiB-aligned and advised
// MADV_HUGEPAGE (Linux; the system's THP mode "madvise" honours it), so a
// random probe of a large index costs one TLB entry per 2 MiB instead of
// per 4 KiB; smaller blocks are plain. Free with FreeHugePageBacked and the
// same `bytes`. Thread-safe.
void* AllocateHugePageBacked(size_t bytes) noexcept;
void FreeHugePageBacked(void* p, size_t bytes) noexcept;

}  // namespace keygate::index

#endif  // KEYGATE_LIB_INDEX_HUGE_PAGES_H_

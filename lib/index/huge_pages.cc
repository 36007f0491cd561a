// lib/index/huge_pages.cc: huge-page-backed allocation for the verify index.
#include "lib/index/huge_pages.h"

#include <cstdlib>
#include <cstring>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace keygate::index {

void* AllocateHugePageBacked(size_t bytes) noexcept {
  if (bytes < kHugePageSize) return std::calloc(1, bytes == 0 ? 1 : bytes);
  // aligned_alloc wants a multiple of the alignment; the tail past `bytes`
  // is never touched, so it costs no resident memory.
  const size_t rounded = (bytes + kHugePageSize - 1) / kHugePageSize * kHugePageSize;
  void* p = std::aligned_alloc(kHugePageSize, rounded);
  if (p == nullptr) return nullptr;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  (void)madvise(p, rounded, MADV_HUGEPAGE);  // advice only: may be refused
#endif
  std::memset(p, 0, bytes);
  return p;
}

void FreeHugePageBacked(void* p, size_t bytes) noexcept {
  (void)bytes;
  std::free(p);
}

}  // namespace keygate::index

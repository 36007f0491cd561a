// bench/alloc_counter.cc: a counting global operator new for keygate_bench.
#include "bench/alloc_counter.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <new>

namespace keygate::bench {
namespace {
thread_local uint64_t t_allocations = 0;
}  // namespace

uint64_t ThreadAllocations() { return t_allocations; }

uint64_t ResidentBytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long size = 0, resident = 0;
  const int n = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  return n == 2 ? resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE)) : 0;
}

void CountAllocation() { ++t_allocations; }

}  // namespace keygate::bench

void* operator new(std::size_t n) {
  keygate::bench::CountAllocation();
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return ::operator new(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  keygate::bench::CountAllocation();
  return std::malloc(n == 0 ? 1 : n);
}
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept {
  return ::operator new(n, t);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

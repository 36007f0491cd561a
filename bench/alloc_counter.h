// bench/alloc_counter.h: counts heap allocations of the calling thread (the
// benchmark binary replaces the global operator new).
#ifndef KEYGATE_BENCH_ALLOC_COUNTER_H_
#define KEYGATE_BENCH_ALLOC_COUNTER_H_

#include <cstdint>

namespace keygate::bench {

// ThreadAllocations returns how many times operator new ran on this thread.
uint64_t ThreadAllocations();

// ResidentBytes returns the process's resident set size (/proc/self/statm).
uint64_t ResidentBytes();

}  // namespace keygate::bench

#endif  // KEYGATE_BENCH_ALLOC_COUNTER_H_

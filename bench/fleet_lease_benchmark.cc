// bench/fleet_lease_benchmark.cc: FleetLease::LeaseHeld, the check every
// verify of a fleet member adds (lib/postgres/fleet_lease.h): one monotonic
// clock read and one atomic load, no lock, no allocation. Also
// ReportApplied, which the change-log applier calls per applied change.
//
// Needs a PostgreSQL database to join: set KEYGATE_BENCH_POSTGRES to a libpq
// connection string (the benchmarks are skipped otherwise), e.g.
//   KEYGATE_BENCH_POSTGRES='host=/tmp/pg port=5499 user=postgres dbname=postgres'
#include <benchmark/benchmark.h>

#include <time.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "bench/alloc_counter.h"
#include "lib/postgres/fleet_lease.h"

namespace {

using keygate::postgres::FleetLease;
using keygate::postgres::FleetLeaseOptions;

// SharedLease joins once per process (the first benchmark that asks); null
// when no database is configured or reachable (*why says so).
FleetLease* SharedLease(std::string* why) {
  static absl::Mutex mutex(absl::kConstInit);
  static std::unique_ptr<FleetLease>* lease = nullptr;
  static std::string* error = nullptr;
  absl::MutexLock lock(&mutex);
  if (lease == nullptr && error == nullptr) {
    const char* conninfo = std::getenv("KEYGATE_BENCH_POSTGRES");
    if (conninfo == nullptr || *conninfo == '\0') {
      error = new std::string("set KEYGATE_BENCH_POSTGRES to a connection string");
    } else {
      FleetLeaseOptions options;
      options.lease = absl::Seconds(60);  // held for the whole run
      options.name = "keygate_bench";
      absl::StatusOr<std::unique_ptr<FleetLease>> joined =
          FleetLease::Join(conninfo, 0, options);
      if (joined.ok()) {
        lease = new std::unique_ptr<FleetLease>(std::move(*joined));
      } else {
        error = new std::string(joined.status().ToString());
      }
    }
  }
  if (lease == nullptr) {
    *why = *error;
    return nullptr;
  }
  return lease->get();
}

void BM_LeaseHeld(benchmark::State& state) {
  std::string why;
  FleetLease* lease = SharedLease(&why);
  if (lease == nullptr) {
    state.SkipWithError(why.c_str());
    return;
  }
  if (!lease->LeaseHeld()) {
    state.SkipWithError("the lease is not held (log ahead of position 0?)");
    return;
  }
  const uint64_t allocations = keygate::bench::ThreadAllocations();
  int64_t held = 0;
  for (auto _ : state) {
    const bool ok = lease->LeaseHeld();
    benchmark::DoNotOptimize(ok);
    held += ok;
  }
  state.counters["allocs_per_call"] = benchmark::Counter(
      static_cast<double>(keygate::bench::ThreadAllocations() - allocations),
      benchmark::Counter::kAvgIterations);
  state.counters["held_fraction"] = benchmark::Counter(
      static_cast<double>(held), benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_LeaseHeld)->Threads(1)->Threads(2);

void BM_ReportAppliedNoMove(benchmark::State& state) {
  std::string why;
  FleetLease* lease = SharedLease(&why);
  if (lease == nullptr) {
    state.SkipWithError(why.c_str());
    return;
  }
  for (auto _ : state) lease->ReportApplied(0);
}
BENCHMARK(BM_ReportAppliedNoMove);

}  // namespace

namespace {

// The clocks LeaseHeld could read, alone: the floor of the check.
void BM_SteadyClockNow(benchmark::State& state) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(std::chrono::steady_clock::now());
  }
}
BENCHMARK(BM_SteadyClockNow);

void BM_CoarseMonotonicNow(benchmark::State& state) {
  for (auto _ : state) {
    timespec now;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
    benchmark::DoNotOptimize(now);
  }
}
BENCHMARK(BM_CoarseMonotonicNow);

}  // namespace

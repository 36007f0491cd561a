// bench/active_token_index_benchmark.cc: memory and cost of the store's
// name and quota index (lib/store/active_token_index.h) at 1M tokens.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>

#include "bench/alloc_counter.h"
#include "keygate/token.h"
#include "lib/crypto/sodium.h"
#include "lib/store/active_token_index.h"

namespace {

// Fill adds `n` tokens named "t<i>" to `index`: all in one account, or in
// accounts of 1000; every tenth with an expiry.
void Fill(keygate::store::ActiveTokenIndex& index, int n, bool one_account) {
  const absl::Time now = absl::FromUnixSeconds(1800000000);
  keygate::TokenMetadata t;
  t.organization = "org";
  for (int i = 0; i < n; ++i) {
    t.service_account =
        one_account ? "acct-0" : "acct-" + std::to_string(i / 1000);
    t.name = "t" + std::to_string(i);
    t.expires_at.reset();
    if (i % 10 == 0) t.expires_at = now + absl::Minutes(i);
    index.Add(t);
  }
}

// BM_ActiveTokenIndexMemory: resident bytes per token of the index holding
// N tokens (range 1: all in one account, or 0: accounts of 1000).
// Iterations(1): the timing is the fill.
void BM_ActiveTokenIndexMemory(benchmark::State& state) {
  if (!keygate::crypto::InitSodium().ok()) {
    state.SkipWithError("sodium");
    return;
  }
  const int n = static_cast<int>(state.range(0));
  for (auto _ : state) {
    const uint64_t before = keygate::bench::ResidentBytes();
    auto index = std::make_unique<keygate::store::ActiveTokenIndex>();
    Fill(*index, n, state.range(1) != 0);
    state.counters["bytes_per_token"] =
        static_cast<double>(keygate::bench::ResidentBytes() - before) / n;
  }
}
BENCHMARK(BM_ActiveTokenIndexMemory)->Args({1000000, 1})->Args({1000000, 0})
    ->Iterations(1)->Unit(benchmark::kMillisecond);

// BM_ActiveTokenIndexCheck: the two questions of a create (name taken,
// active count) against an account of N tokens.
void BM_ActiveTokenIndexCheck(benchmark::State& state) {
  if (!keygate::crypto::InitSodium().ok()) {
    state.SkipWithError("sodium");
    return;
  }
  const int n = static_cast<int>(state.range(0));
  keygate::store::ActiveTokenIndex index;
  Fill(index, n, true);
  absl::Time now = absl::FromUnixSeconds(1800000000);
  int i = 0;
  for (auto _ : state) {
    const std::string name = "c" + std::to_string(i++);
    benchmark::DoNotOptimize(index.NameTaken("org", "acct-0", name, now));
    benchmark::DoNotOptimize(index.CountActive("org", now));
    now += absl::Microseconds(1);
  }
}
BENCHMARK(BM_ActiveTokenIndexCheck)->Arg(10000)->Arg(1000000);

}  // namespace

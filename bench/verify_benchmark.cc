// bench/verify_benchmark.cc: the verify hot path against the hardware floor,
// and the writes, at 10k and 1M tokens (10M with KEYGATE_BENCH_10M=1).
//
// Stores of N tokens are built once per process by a bulk path (storage
// batches of tokens digested exactly as CreateToken does, spread over
// accounts of 1000 tokens, 1% revoked), then opened with Store::Open, which
// loads the verify index as at any start. The write benchmarks use stores
// whose N tokens all sit in one account of one organization instead
// (OneAccountFixture), opened with an organization quota.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <benchmark/benchmark.h>
#include <openssl/sha.h>
#include <rocksdb/perf_context.h>
#include <rocksdb/perf_level.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "bench/alloc_counter.h"
#include "keygate/keygate.h"
#include "lib/crypto/token_digester.h"
#include "lib/index/verify_index.h"
#include "lib/storage/tables.h"
#include "lib/token/codec.h"

namespace {

constexpr char kPepper[] =
    "1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f "
    "sha256\n";
constexpr int kTokensPerAccount = 1000;
constexpr int kRevokedEvery = 100;  // 1% revoked

std::string AccountSlug(int i) { return "acct-" + std::to_string(i); }

// InVisitOrder copies `tokens` into strings allocated one after another in
// the order they will be verified: a server reads a presented token from a
// hot request buffer, so the benchmarks (the floor and keygate alike) read
// their input from memory that the prefetcher streams, not from strings
// scattered among the fixture's other allocations.
std::vector<std::string> InVisitOrder(const std::vector<std::string>& tokens) {
  std::vector<std::string> out;
  out.reserve(tokens.size());
  for (const std::string& t : tokens) out.emplace_back(t);
  return out;
}

// `quota` is Options::max_active_tokens_per_organization (0: none).
keygate::Options StoreOptions(const std::string& path, bool sync,
                              uint32_t quota = 0) {
  keygate::Options options;
  options.path = path;
  options.keyring = *keygate::Keyring::Parse(kPepper);
  options.sync_writes = sync;
  options.max_active_tokens_per_organization = quota;
  return options;
}

// StoreFixture is a store of `n` tokens built by the bulk path, in accounts
// of `tokens_per_account` tokens; tokens() are the active ones, revoked()
// the revoked ones.
class StoreFixture {
 public:
  explicit StoreFixture(int n, int tokens_per_account = kTokensPerAccount)
      : n_(n), tokens_per_account_(tokens_per_account) {
    char tmpl[] = "/tmp/keygate-bench-XXXXXX";
    dir_ = mkdtemp(tmpl);
    error_ = Build();
  }
  ~StoreFixture() {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  const std::string& error() const { return error_; }
  keygate::Store& store() { return *store_; }
  const std::vector<std::string>& tokens() const { return tokens_; }
  const std::vector<std::string>& revoked() const { return revoked_; }
  std::string path() const { return dir_ + "/store"; }
  int n() const { return n_; }
  double open_seconds() const { return open_seconds_; }
  double open_rss_per_token() const { return open_rss_per_token_; }

  // Reopen closes the store and opens it again with `sync` and `quota`
  // (StoreOptions).
  std::string Reopen(bool sync, uint32_t quota = 0) {
    store_.reset();
    auto store = keygate::Store::Open(StoreOptions(path(), sync, quota));
    if (!store.ok()) return store.status().ToString();
    store_ = *std::move(store);
    return "";
  }
  void CloseStore() { store_.reset(); }

 private:
  std::string Build() {
    {
      auto store = keygate::Store::Open(StoreOptions(path(), false));
      if (!store.ok()) return store.status().ToString();
      for (int a = 0; a * tokens_per_account_ < std::max(n_, 1); ++a) {
        auto account = (*store)->CreateServiceAccount(
            "org", {"bench", AccountSlug(a)}, "bench");
        if (!account.ok()) return account.status().ToString();
      }
      if (absl::Status s = (*store)->Close(); !s.ok()) return s.ToString();
    }
    {
      auto tables = keygate::storage::Tables::Open(path(), false);
      if (!tables.ok()) return tables.status().ToString();
      auto digester = keygate::crypto::TokenDigester::Create(
          *keygate::Keyring::Parse(kPepper));
      if (!digester.ok()) return digester.status().ToString();
      keygate::token::TokenCodec codec("kg_");
      const absl::Time now = absl::FromUnixMicros(absl::ToUnixMicros(absl::Now()));
      keygate::storage::Batch batch;
      for (int i = 0; i < n_; ++i) {
        keygate::storage::StoredToken t;
        keygate::SecretString value = codec.Generate(1);
        (*digester)->Compute(1, value.view(), &t.digest);
        t.metadata.organization = "org";
        t.metadata.service_account = AccountSlug(i / tokens_per_account_);
        t.metadata.slug = "t" + std::to_string(i);
        t.metadata.name = t.metadata.slug;
        t.metadata.scopes = {"read:tokens"};
        t.metadata.created_at = now;
        t.metadata.created_by = "bench";
        t.metadata.pepper_id = 1;
        if (i % kRevokedEvery == kRevokedEvery - 1) {
          t.metadata.revoked_at = now;
          t.metadata.revoked_by = "bench";
          revoked_.emplace_back(value.view());
        } else {
          tokens_.emplace_back(value.view());
        }
        (*tables)->PutNewToken(batch, t);
        if (batch.size() >= 30000) {
          if (absl::Status s = (*tables)->Write(batch, false); !s.ok()) {
            return s.ToString();
          }
          batch = keygate::storage::Batch();
        }
      }
      if (batch.size() > 0) {
        if (absl::Status s = (*tables)->Write(batch, false); !s.ok()) {
          return s.ToString();
        }
      }
      if (absl::Status s = (*tables)->Close(); !s.ok()) return s.ToString();
    }
    const uint64_t rss_before = keygate::bench::ResidentBytes();
    const absl::Time start = absl::Now();
    auto store = keygate::Store::Open(StoreOptions(path(), false));
    open_seconds_ = absl::ToDoubleSeconds(absl::Now() - start);
    if (!store.ok()) return store.status().ToString();
    open_rss_per_token_ =
        n_ == 0 ? 0
                : static_cast<double>(keygate::bench::ResidentBytes() -
                                      rss_before) / n_;
    store_ = *std::move(store);
    // Verify in a random order: no help from the cache or the prefetcher.
    std::mt19937_64 rng(42);
    std::shuffle(tokens_.begin(), tokens_.end(), rng);
    tokens_ = InVisitOrder(tokens_);
    revoked_ = InVisitOrder(revoked_);
    return "";
  }

  const int n_;
  const int tokens_per_account_;
  std::string dir_;
  std::string error_;
  std::unique_ptr<keygate::Store> store_;
  std::vector<std::string> tokens_;
  std::vector<std::string> revoked_;
  double open_seconds_ = 0;
  double open_rss_per_token_ = 0;
};

// Fixtures holds the process's store fixtures by N (never destroyed itself:
// CloseFixtures empties it at exit).
absl::Mutex fixtures_mu;
std::map<int, std::unique_ptr<StoreFixture>>& Fixtures() {
  static auto* fixtures = new std::map<int, std::unique_ptr<StoreFixture>>;
  return *fixtures;
}

// CloseFixtures closes every store and removes its directory. Runs at exit,
// registered after the first store opened, so before the static objects
// RocksDB made while opening are destroyed (closing later crashes in
// RocksDB's logger).
void CloseFixtures() {
  absl::MutexLock lock(&fixtures_mu);
  Fixtures().clear();
}

// Fixture returns the process's fixture of `n` tokens, built on first use
// (by whichever benchmark thread gets there first).
StoreFixture& Fixture(int n) {
  absl::MutexLock lock(&fixtures_mu);
  auto& slot = Fixtures()[n];
  if (slot == nullptr) {
    slot = std::make_unique<StoreFixture>(n);
    static const bool registered = std::atexit(CloseFixtures) == 0;
    (void)registered;
  }
  return *slot;
}

// OneAccountFixture returns the process's fixture of `n` tokens all in
// account AccountSlug(0) of organization "org", built on first use.
StoreFixture& OneAccountFixture(int n) {
  static std::map<int, std::unique_ptr<StoreFixture>> fixtures;
  auto& slot = fixtures[n];
  if (slot == nullptr) slot = std::make_unique<StoreFixture>(n, std::max(n, 1));
  return *slot;
}

bool Ready(benchmark::State& state, StoreFixture& fixture) {
  if (!fixture.error().empty()) {
    state.SkipWithError(fixture.error().c_str());
    return false;
  }
  return true;
}

// VerifySizes registers N = 10k and 1M tokens, and 10M when the environment
// has KEYGATE_BENCH_10M=1 (a 10M fixture takes minutes and ~3 GB of disk).
void VerifySizes(benchmark::internal::Benchmark* b) {
  b->Arg(10000)->Arg(1000000);
  const char* ten_million = std::getenv("KEYGATE_BENCH_10M");
  if (ten_million != nullptr && std::string(ten_million) == "1") {
    b->Arg(10000000);
  }
}

// RocksDbReads counts what the calling thread asks of RocksDB (memtable
// gets and seeks, block cache hits, block reads) through RocksDB's
// thread-local perf context, from construction to Count().
class RocksDbReads {
 public:
  RocksDbReads() {
    rocksdb::SetPerfLevel(rocksdb::PerfLevel::kEnableCount);
    rocksdb::get_perf_context()->Reset();
  }
  ~RocksDbReads() { rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable); }
  uint64_t Count() const {
    const rocksdb::PerfContext* c = rocksdb::get_perf_context();
    return c->get_from_memtable_count + c->seek_on_memtable_count +
           c->block_cache_hit_count + c->block_read_count;
  }
};

// ---- the floor --------------------------------------------------------------

// FloorFixture is BM_Floor's data for N tokens, built once per process (not
// per repetition): random tokens in a shuffled order and an
// absl::flat_hash_map of their digests.
class FloorFixture {
 public:
  explicit FloorFixture(int n) {
    unsigned char key_block[64] = {7};
    SHA256_Init(&keyed_);
    SHA256_Update(&keyed_, key_block, sizeof key_block);
    keygate::token::TokenCodec codec("kg_");
    map_.reserve(n);
    tokens_.reserve(n);
    for (int i = 0; i < n; ++i) {
      tokens_.emplace_back(codec.Generate(1).view());
      keygate::Digest d;
      DigestOf(tokens_.back(), &d);
      map_.emplace(d, i);
    }
    std::mt19937_64 rng(42);
    std::shuffle(tokens_.begin(), tokens_.end(), rng);
    tokens_ = InVisitOrder(tokens_);
  }

  // DigestOf is one SHA-256 compression of `token` from the keyed state.
  void DigestOf(std::string_view token, keygate::Digest* out) const {
    unsigned char block[64] = {};
    std::memcpy(block, token.data(), token.size());
    block[token.size()] = 0x80;
    const uint64_t bits = (64 + token.size()) * 8;
    for (int i = 0; i < 8; ++i) {
      block[63 - i] = static_cast<unsigned char>(bits >> (8 * i));
    }
    SHA256_CTX ctx;
    std::memcpy(ctx.h, keyed_.h, sizeof ctx.h);
    SHA256_Transform(&ctx, block);
    for (int i = 0; i < 8; ++i) {
      const uint32_t h = ctx.h[i];
      (*out)[4 * i] = h >> 24;
      (*out)[4 * i + 1] = h >> 16;
      (*out)[4 * i + 2] = h >> 8;
      (*out)[4 * i + 3] = h;
    }
  }

  struct Hash {
    size_t operator()(const keygate::Digest& d) const {
      size_t h;
      std::memcpy(&h, d.data(), sizeof h);
      return h;
    }
  };
  const absl::flat_hash_map<keygate::Digest, uint32_t, Hash>& map() const {
    return map_;
  }
  const std::vector<std::string>& tokens() const { return tokens_; }

 private:
  SHA256_CTX keyed_;
  absl::flat_hash_map<keygate::Digest, uint32_t, Hash> map_;
  std::vector<std::string> tokens_;
};

FloorFixture& Floor(int n) {
  static absl::Mutex mu;
  static std::map<int, std::unique_ptr<FloorFixture>> fixtures;
  absl::MutexLock lock(&mu);
  auto& slot = fixtures[n];
  if (slot == nullptr) slot = std::make_unique<FloorFixture>(n);
  return *slot;
}

// BM_Floor: one SHA-256 compression of the token from a state precomputed
// over a 64-byte block (OpenSSL, SHA extensions where present), plus one
// probe of an absl::flat_hash_map holding the N digests so made.
void BM_Floor(benchmark::State& state) {
  const FloorFixture& floor = Floor(static_cast<int>(state.range(0)));
  const auto& tokens = floor.tokens();
  const auto& map = floor.map();
  size_t i = (tokens.size() / state.threads()) * state.thread_index();
  for (auto _ : state) {
    keygate::Digest d;
    floor.DigestOf(tokens[i], &d);
    auto it = map.find(d);
    benchmark::DoNotOptimize(it);
    if (++i == tokens.size()) i = 0;
  }
}
BENCHMARK(BM_Floor)->Apply(VerifySizes)->Threads(1)->Threads(2)
    ->UseRealTime();

// ---- verify -----------------------------------------------------------------

// AddVerifyCounters sets allocs_per_verify and rocksdb_reads (per verify,
// averaged over the threads).
void AddVerifyCounters(benchmark::State& state, uint64_t allocations,
                       uint64_t rocksdb_reads, uint64_t calls) {
  const double n = calls == 0 ? 1 : static_cast<double>(calls);
  state.counters["allocs_per_verify"] = benchmark::Counter(
      static_cast<double>(allocations) / n, benchmark::Counter::kAvgThreads);
  state.counters["rocksdb_reads"] = benchmark::Counter(
      static_cast<double>(rocksdb_reads) / n, benchmark::Counter::kAvgThreads);
}

// RunVerify verifies `tokens` (from a per-thread offset, cycling) with
// `required_scope` and sets the per-verify counters; `expect_ok` says
// whether every call must succeed.
void RunVerify(benchmark::State& state, StoreFixture& fixture,
               const std::vector<std::string>& tokens,
               std::string_view required_scope, bool expect_ok) {
  if (tokens.empty()) {
    state.SkipWithError("no tokens");
    return;
  }
  keygate::Store& store = fixture.store();
  size_t i = (tokens.size() / state.threads()) * state.thread_index();
  uint64_t calls = 0;
  RocksDbReads reads;
  const uint64_t allocations_before = keygate::bench::ThreadAllocations();
  for (auto _ : state) {
    auto principal = store.Verify(tokens[i], required_scope);
    if (principal.ok() != expect_ok) {
      state.SkipWithError("unexpected verify outcome");
      break;
    }
    benchmark::DoNotOptimize(principal);
    ++calls;
    if (++i == tokens.size()) i = 0;
  }
  AddVerifyCounters(state,
                    keygate::bench::ThreadAllocations() - allocations_before,
                    reads.Count(), calls);
}

void BM_VerifyHit(benchmark::State& state) {
  StoreFixture& fixture = Fixture(static_cast<int>(state.range(0)));
  if (!Ready(state, fixture)) return;
  RunVerify(state, fixture, fixture.tokens(), "read:tokens", true);
  if (state.thread_index() == 0) {
    state.counters["open_seconds"] = fixture.open_seconds();
    state.counters["open_rss_bytes_per_token"] = fixture.open_rss_per_token();
  }
}
BENCHMARK(BM_VerifyHit)->Apply(VerifySizes)->Threads(1)->Threads(2)
    ->UseRealTime();

// UnknownTokens returns 4096 well-formed tokens (valid checksum) no store
// issued.
const std::vector<std::string>& UnknownTokens() {
  static const std::vector<std::string>* const tokens = [] {
    auto* v = new std::vector<std::string>;
    keygate::token::TokenCodec codec("kg_");
    for (int i = 0; i < 4096; ++i) v->emplace_back(codec.Generate(1).view());
    return v;
  }();
  return *tokens;
}

// Well-formed tokens the store never issued: one probe, no RocksDB read.
void BM_VerifyUnknown(benchmark::State& state) {
  StoreFixture& fixture = Fixture(static_cast<int>(state.range(0)));
  if (!Ready(state, fixture)) return;
  RunVerify(state, fixture, UnknownTokens(), "", false);
}
BENCHMARK(BM_VerifyUnknown)->Apply(VerifySizes)->Threads(1)->Threads(2)
    ->UseRealTime();

// A typo'd token: rejected by the checksum alone.
void BM_VerifyMalformed(benchmark::State& state) {
  StoreFixture& fixture = Fixture(static_cast<int>(state.range(0)));
  if (!Ready(state, fixture)) return;
  std::string typo = fixture.tokens()[0];
  typo[10] = typo[10] == 'a' ? 'b' : 'a';
  RunVerify(state, fixture, {typo}, "", false);
}
BENCHMARK(BM_VerifyMalformed)->Apply(VerifySizes)->Threads(1)->Threads(2)
    ->UseRealTime();

void BM_VerifyRevoked(benchmark::State& state) {
  StoreFixture& fixture = Fixture(static_cast<int>(state.range(0)));
  if (!Ready(state, fixture)) return;
  RunVerify(state, fixture, fixture.revoked(), "", false);
}
BENCHMARK(BM_VerifyRevoked)->Apply(VerifySizes)->Threads(1)->Threads(2)
    ->UseRealTime();

// BM_ListPage: one ListTokens page of 100 from an account of 1000 tokens in
// a store of N (rocksdb_reads shows the counter counts real reads).
void BM_ListPage(benchmark::State& state) {
  StoreFixture& fixture = Fixture(static_cast<int>(state.range(0)));
  if (!Ready(state, fixture)) return;
  keygate::PageRequest page;
  page.limit = 100;
  uint64_t calls = 0;
  RocksDbReads reads;
  for (auto _ : state) {
    auto listed = fixture.store().ListTokens("org", AccountSlug(2), page);
    if (!listed.ok()) {
      state.SkipWithError(listed.status().ToString().c_str());
      break;
    }
    benchmark::DoNotOptimize(listed);
    ++calls;
  }
  state.counters["rocksdb_reads"] =
      calls == 0 ? 0 : static_cast<double>(reads.Count()) / calls;
}
BENCHMARK(BM_ListPage)->Arg(10000)->Arg(1000000)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

// ---- writes -----------------------------------------------------------------

// The write benchmarks run with an organization quota far above what they
// create, so that every create checks it (and nothing is refused).
constexpr uint32_t kWriteQuota = 4000000000u;

// BM_Create: CreateToken into the one account of a store whose N existing
// tokens are all in that account and organization (OneAccountFixture),
// with an organization quota; sync on (range 1) or off.
void BM_Create(benchmark::State& state) {
  StoreFixture& fixture = OneAccountFixture(static_cast<int>(state.range(0)));
  if (!Ready(state, fixture)) return;
  if (std::string e = fixture.Reopen(state.range(1) != 0, kWriteQuota);
      !e.empty()) {
    state.SkipWithError(e.c_str());
    return;
  }
  static int counter = 0;
  for (auto _ : state) {
    keygate::TokenSpec spec;
    spec.name = "c" + std::to_string(counter++);
    spec.scopes = {"read:tokens"};
    auto created = fixture.store().CreateToken("org", AccountSlug(0), spec,
                                               "bench");
    if (!created.ok()) {
      state.SkipWithError(created.status().ToString().c_str());
      break;
    }
  }
  state.counters["tokens_in_account"] = fixture.n();
  (void)fixture.Reopen(false);
}
BENCHMARK(BM_Create)->ArgsProduct({{10000, 1000000}, {0, 1}})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

// BM_Revoke: RevokeToken, in the one account of OneAccountFixture (N
// existing tokens, with the quota), of tokens made for it outside the
// timing.
void BM_Revoke(benchmark::State& state) {
  StoreFixture& fixture = OneAccountFixture(static_cast<int>(state.range(0)));
  if (!Ready(state, fixture)) return;
  if (std::string e = fixture.Reopen(state.range(1) != 0, kWriteQuota);
      !e.empty()) {
    state.SkipWithError(e.c_str());
    return;
  }
  static int counter = 0;
  for (auto _ : state) {
    state.PauseTiming();
    keygate::TokenSpec spec;
    spec.name = "r" + std::to_string(counter++);
    spec.scopes = {"read:tokens"};
    auto created = fixture.store().CreateToken("org", AccountSlug(0), spec,
                                               "bench");
    state.ResumeTiming();
    if (!created.ok()) {
      state.SkipWithError(created.status().ToString().c_str());
      break;
    }
    absl::Status s = fixture.store().RevokeToken("org", AccountSlug(0),
                                                 created->metadata.slug,
                                                 "bench");
    if (!s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      break;
    }
  }
  state.counters["tokens_in_account"] = fixture.n();
  (void)fixture.Reopen(false);
}
BENCHMARK(BM_Revoke)->ArgsProduct({{10000, 1000000}, {0, 1}})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

// BM_Open: Store::Open of the N-token store (the index bulk load).
void BM_Open(benchmark::State& state) {
  StoreFixture& fixture = Fixture(static_cast<int>(state.range(0)));
  if (!Ready(state, fixture)) return;
  fixture.CloseStore();
  for (auto _ : state) {
    auto store = keygate::Store::Open(StoreOptions(fixture.path(), false));
    if (!store.ok()) {
      state.SkipWithError(store.status().ToString().c_str());
      break;
    }
    state.PauseTiming();
    store->reset();
    state.ResumeTiming();
  }
  (void)fixture.Reopen(false);
}
BENCHMARK(BM_Open)->Arg(1000000)->Iterations(1)->Unit(benchmark::kMillisecond);

// ---- memory -----------------------------------------------------------------

// BM_IndexMemory: resident bytes per token of the verify index alone, filled
// with N tokens as the store fills it (1000 per account, one scope set,
// slugs "t<i>"). Iterations(1): the timing is the fill.
void BM_IndexMemory(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  keygate::scope::ScopeCatalog catalog({"service_accounts", "tokens"});
  for (auto _ : state) {
    const uint64_t before = keygate::bench::ResidentBytes();
    auto index = std::make_unique<keygate::index::VerifyIndex>();
    std::vector<std::shared_ptr<keygate::index::AccountState>> accounts;
    std::mt19937_64 rng(1);
    for (int i = 0; i < n; ++i) {
      if (i % kTokensPerAccount == 0) {
        accounts.push_back(std::make_shared<keygate::index::AccountState>());
      }
      const uint32_t group = index->InternGroup(
          "org", AccountSlug(i / kTokensPerAccount), {"read:tokens"},
          &catalog, accounts.back());
      keygate::Digest d;
      for (size_t k = 0; k < d.size(); k += 8) {
        const uint64_t r = rng();
        std::memcpy(d.data() + k, &r, 8);
      }
      (void)index->Put(d, group, false, std::nullopt, "t" + std::to_string(i));
    }
    state.counters["bytes_per_token"] =
        static_cast<double>(keygate::bench::ResidentBytes() - before) / n;
  }
}
BENCHMARK(BM_IndexMemory)->Arg(1000000)->Iterations(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace

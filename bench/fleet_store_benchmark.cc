// bench/fleet_store_benchmark.cc: a store on PostgreSQL (Options::
// postgres_connection), alone and in a fleet. What a write costs when it
// takes the fleet write lock, commits to the server and NOTIFYs the others,
// and what a revoke costs when it also waits until every other live
// process has applied it (Options::fleet_lease, docs/fleet-revocation.md);
// and the verify hit path of such a store (in memory, plus the lease check).
//
// The fleet's other processes are stores opened in this process on the same
// database, each with its own connections, write listener and lease
// heartbeat: `members` is 1 (alone) or 3. Each benchmark run uses a fresh
// schema, so runs do not see each other's tokens.
//
// Needs a PostgreSQL database: set KEYGATE_BENCH_POSTGRES to a libpq
// connection string (the benchmarks are skipped otherwise), or run
// bench/fleet/run.sh, which starts a throwaway server and does.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "keygate/keygate.h"
#include "lib/crypto/token_digester.h"
#include "lib/postgres/connection.h"
#include "lib/postgres/postgres_database.h"
#include "lib/storage/tables.h"
#include "lib/token/codec.h"

namespace {

constexpr char kPepper[] =
    "1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef "
    "sha256\n";
constexpr char kOrg[] = "org";
constexpr char kAccount[] = "fleet-bench";

// FleetFixture is `members` stores on one fresh schema of the database named
// by KEYGATE_BENCH_POSTGRES; store(0) makes the calls, the others listen.
class FleetFixture {
 public:
  FleetFixture(int members, absl::Duration lease) { error_ = Build(members, lease); }
  ~FleetFixture() {
    for (auto& store : stores_) {
      if (store != nullptr) (void)store->Close();
    }
  }

  const std::string& error() const { return error_; }
  keygate::Store& store(int i) { return *stores_[i]; }

 private:
  std::string Build(int members, absl::Duration lease) {
    const char* conninfo = std::getenv("KEYGATE_BENCH_POSTGRES");
    if (conninfo == nullptr || *conninfo == '\0') {
      return "set KEYGATE_BENCH_POSTGRES (or run bench/fleet/run.sh)";
    }
    static int schemas = 0;
    const std::string schema = absl::StrCat(
        "bench_fleet_", getpid(), "_", ++schemas);
    {
      auto admin = keygate::postgres::Connection::Open(conninfo);
      if (!admin.ok()) return admin.status().ToString();
      if (absl::Status s = (*admin)->ExecScript(
              absl::StrCat("CREATE SCHEMA ", schema));
          !s.ok()) {
        return s.ToString();
      }
    }
    for (int i = 0; i < members; ++i) {
      keygate::Options options;
      options.postgres_connection = absl::StrCat(
          conninfo, " options='-csearch_path=", schema, "'");
      options.keyring = *keygate::Keyring::Parse(kPepper);
      options.sync_writes = true;
      options.fleet_lease = lease;
      auto store = keygate::Store::Open(options);
      if (!store.ok()) return store.status().ToString();
      stores_.push_back(*std::move(store));
    }
    auto account = stores_[0]->CreateServiceAccount(
        kOrg, {"bench", kAccount}, "bench");
    if (!account.ok()) return account.status().ToString();
    return "";
  }

  std::string error_;
  std::vector<std::unique_ptr<keygate::Store>> stores_;
};

absl::Duration LeaseOf(const benchmark::State& state) {
  return state.range(1) != 0 ? absl::Seconds(5) : absl::ZeroDuration();
}

// BM_FleetCreate: CreateToken on a store of the fleet (sync on): the write
// lock, applying the others' writes, one transaction, NOTIFY.
void BM_FleetCreate(benchmark::State& state) {
  FleetFixture fleet(static_cast<int>(state.range(0)), LeaseOf(state));
  if (!fleet.error().empty()) {
    state.SkipWithError(fleet.error().c_str());
    return;
  }
  int counter = 0;
  for (auto _ : state) {
    keygate::TokenSpec spec;
    spec.name = "c" + std::to_string(counter++);
    spec.scopes = {"read:tokens"};
    auto created = fleet.store(0).CreateToken(kOrg, kAccount, spec, "bench");
    if (!created.ok()) {
      state.SkipWithError(created.status().ToString().c_str());
      break;
    }
  }
}
BENCHMARK(BM_FleetCreate)
    ->ArgNames({"members", "lease"})
    ->ArgsProduct({{1, 3}, {0, 1}})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

// BM_FleetRevoke: RevokeToken of a token made outside the timing. With the
// lease, the call returns once every other member has applied it: the
// figure is the fleet's revocation latency, commit to "refused
// everywhere".
void BM_FleetRevoke(benchmark::State& state) {
  const int members = static_cast<int>(state.range(0));
  FleetFixture fleet(members, LeaseOf(state));
  if (!fleet.error().empty()) {
    state.SkipWithError(fleet.error().c_str());
    return;
  }
  int counter = 0;
  int64_t refused_everywhere = 0;
  for (auto _ : state) {
    state.PauseTiming();
    keygate::TokenSpec spec;
    spec.name = "r" + std::to_string(counter++);
    spec.scopes = {"read:tokens"};
    auto created = fleet.store(0).CreateToken(kOrg, kAccount, spec, "bench");
    state.ResumeTiming();
    if (!created.ok()) {
      state.SkipWithError(created.status().ToString().c_str());
      break;
    }
    absl::Status s = fleet.store(0).RevokeToken(
        kOrg, kAccount, created->metadata.slug, "bench");
    if (!s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      break;
    }
    state.PauseTiming();
    // What the guarantee promises, checked outside the timing.
    bool everywhere = true;
    for (int i = 0; i < members; ++i) {
      everywhere &= !fleet.store(i).Verify(created->value.view()).ok();
    }
    refused_everywhere += everywhere;
    state.ResumeTiming();
  }
  state.counters["refused_everywhere"] = benchmark::Counter(
      static_cast<double>(refused_everywhere),
      benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_FleetRevoke)
    ->ArgNames({"members", "lease"})
    ->ArgsProduct({{1, 3}, {0, 1}})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

// BM_FleetVerify: Verify of an active token on a member other than the one
// that created it (3 members, lease on): the in-memory hit path plus the
// lease check; no database round trip.
void BM_FleetVerify(benchmark::State& state) {
  FleetFixture fleet(3, absl::Seconds(5));
  if (!fleet.error().empty()) {
    state.SkipWithError(fleet.error().c_str());
    return;
  }
  keygate::TokenSpec spec;
  spec.name = "v";
  spec.scopes = {"read:tokens"};
  auto created = fleet.store(0).CreateToken(kOrg, kAccount, spec, "bench");
  if (!created.ok()) {
    state.SkipWithError(created.status().ToString().c_str());
    return;
  }
  keygate::Store& member = fleet.store(2);
  if (absl::Status s = member.CatchUp(); !s.ok()) {
    state.SkipWithError(s.ToString().c_str());
    return;
  }
  int64_t ok = 0;
  for (auto _ : state) {
    auto verified = member.Verify(created->value.view());
    ok += verified.ok();
    benchmark::DoNotOptimize(verified);
  }
  state.counters["ok_fraction"] = benchmark::Counter(
      static_cast<double>(ok), benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_FleetVerify);

// BM_FleetOpen: Store::Open of a store on PostgreSQL holding N tokens (1000
// per account, written in bulk through the storage layer, outside the
// timing): the index load from the database, lease off. Iterations(1).
void BM_FleetOpen(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const char* base = std::getenv("KEYGATE_BENCH_POSTGRES");
  if (base == nullptr || *base == '\0') {
    state.SkipWithError("set KEYGATE_BENCH_POSTGRES (or run bench/fleet/run.sh)");
    return;
  }
  const std::string schema = absl::StrCat("bench_open_", getpid(), "_", n);
  const std::string conninfo =
      absl::StrCat(base, " options='-csearch_path=", schema, "'");
  auto fail = [&](const absl::Status& s) {
    state.SkipWithError(s.ToString().c_str());
  };
  {
    auto admin = keygate::postgres::Connection::Open(base);
    if (!admin.ok()) return fail(admin.status());
    if (absl::Status s = (*admin)->ExecScript(
            absl::StrCat("CREATE SCHEMA ", schema));
        !s.ok()) {
      return fail(s);
    }
  }
  keygate::Options options;
  options.postgres_connection = conninfo;
  options.keyring = *keygate::Keyring::Parse(kPepper);
  options.sync_writes = false;
  options.fleet_lease = absl::ZeroDuration();
  {
    auto store = keygate::Store::Open(options);
    if (!store.ok()) return fail(store.status());
    for (int a = 0; a * 1000 < n; ++a) {
      auto account = (*store)->CreateServiceAccount(
          kOrg, {"bench", absl::StrCat("acct-", a)}, "bench");
      if (!account.ok()) return fail(account.status());
    }
    if (absl::Status s = (*store)->Close(); !s.ok()) return fail(s);
  }
  {
    auto db = keygate::postgres::PostgresDatabase::Open(conninfo);
    if (!db.ok()) return fail(db.status());
    std::unique_ptr<keygate::storage::Tables> tables =
        keygate::storage::Tables::OnDatabase(*std::move(db));
    auto digester = keygate::crypto::TokenDigester::Create(
        *keygate::Keyring::Parse(kPepper));
    if (!digester.ok()) return fail(digester.status());
    keygate::token::TokenCodec codec("kg_");
    const absl::Time now = absl::FromUnixMicros(absl::ToUnixMicros(absl::Now()));
    keygate::storage::Batch batch;
    for (int i = 0; i < n; ++i) {
      keygate::storage::StoredToken t;
      keygate::SecretString value = codec.Generate(1);
      (*digester)->Compute(1, value.view(), &t.digest);
      t.metadata.organization = kOrg;
      t.metadata.service_account = absl::StrCat("acct-", i / 1000);
      t.metadata.slug = absl::StrCat("t", i);
      t.metadata.name = t.metadata.slug;
      t.metadata.scopes = {"read:tokens"};
      t.metadata.created_at = now;
      t.metadata.created_by = "bench";
      t.metadata.pepper_id = 1;
      tables->PutNewToken(batch, t);
      if (batch.size() >= 30000 || i + 1 == n) {
        if (absl::Status s = tables->Write(batch, false); !s.ok()) {
          return fail(s);
        }
        batch = keygate::storage::Batch();
      }
    }
    if (absl::Status s = tables->Close(); !s.ok()) return fail(s);
  }
  for (auto _ : state) {
    auto store = keygate::Store::Open(options);
    if (!store.ok()) return fail(store.status());
    state.PauseTiming();
    (void)(*store)->Close();
    state.ResumeTiming();
  }
  state.counters["tokens"] = n;
}
BENCHMARK(BM_FleetOpen)
    ->Arg(100000)
    ->Arg(1000000)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

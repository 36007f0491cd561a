// tests/postgres_fleet_test.cc: several Stores on one PostgreSQL database,
// each with its own connections, as separate processes of a fleet are:
// what one writes the others verify (after Store::CatchUp, and on their own
// once the write listener wakes them), names stay unique across the fleet,
// change positions are dense and in commit order under concurrent writers,
// and every store converges on the same state.
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "keygate/keygate.h"
#include "lib/postgres/connection.h"
#include "lib/storage/change_record.h"
#include "lib/store/store_impl.h"
#include "tests/store_test_util.h"
#include "tests/support/postgres_server.h"

namespace keygate {
namespace {

using ::keygate::testing::PostgresEnvironment;

::testing::Environment* const kPostgres =
    ::testing::AddGlobalTestEnvironment(new PostgresEnvironment);

constexpr std::string_view kOrg = "org-fleet";
constexpr std::string_view kActor = "user:fleet";

class FleetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    KEYGATE_REQUIRE_POSTGRES();
    keyring_ = test::ParseKeyringOrDie({{1, test::kPepperHex1}});
    absl::StatusOr<std::string> schema =
        PostgresEnvironment::server()->CreateSchema();
    ASSERT_TRUE(schema.ok()) << schema.status();
    conninfo_ = *schema;
  }

  // OpenStore opens one member of the fleet. `poll` is its fallback poll
  // interval (the listener is woken by NOTIFY long before an hour).
  std::unique_ptr<Store> OpenStore(absl::Duration poll = absl::Hours(1)) {
    Options options;
    options.postgres_connection = conninfo_;
    options.keyring = keyring_;
    options.sync_writes = false;
    options.follower_catch_up_interval = poll;
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  static absl::StatusOr<CreatedToken> Create(Store& store,
                                             std::string_view account,
                                             std::string_view name) {
    TokenSpec spec;
    spec.name = std::string(name);
    spec.scopes = {"read:tokens"};
    return store.CreateToken(kOrg, account, spec, kActor);
  }

  static absl::Status CreateAccount(Store& store, std::string_view slug) {
    ServiceAccountSpec spec;
    spec.name = "Account " + std::string(slug);
    spec.slug = std::string(slug);
    return store.CreateServiceAccount(kOrg, spec, kActor).status();
  }

  // ChangePositions reads every change position stored, in order.
  std::vector<uint64_t> ChangePositions() {
    std::vector<uint64_t> positions;
    absl::StatusOr<std::unique_ptr<postgres::Connection>> connection =
        postgres::Connection::Open(conninfo_);
    EXPECT_TRUE(connection.ok()) << connection.status();
    if (!connection.ok()) return positions;
    absl::StatusOr<postgres::Result> rows = (*connection)->Exec(
        "SELECT key FROM keygate_kv WHERE family = 0 AND "
        "substring(key from 1 for 8) = 'changes/' ORDER BY key",
        {}, /*binary_results=*/true);
    EXPECT_TRUE(rows.ok()) << rows.status();
    if (!rows.ok()) return positions;
    for (int i = 0; i < rows->rows(); ++i) {
      uint64_t position = 0;
      EXPECT_TRUE(storage::DecodeChangeKey(rows->Value(i, 0), &position));
      positions.push_back(position);
    }
    return positions;
  }

  std::shared_ptr<const Keyring> keyring_;
  std::string conninfo_;
};

TEST_F(FleetTest, CreateOnOneVerifiesOnAnotherAfterCatchUp) {
  std::unique_ptr<Store> a = OpenStore(absl::ZeroDuration());
  std::unique_ptr<Store> b = OpenStore(absl::Hours(1));
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  KG_ASSERT_OK(CreateAccount(*a, "ci"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken token, Create(*a, "ci", "deploy"));
  KG_ASSERT_OK(b->CatchUp());
  KG_EXPECT_OK(b->Verify(token.value.view()));
  // B writes next: its checks see A's token (the name is taken fleet-wide).
  absl::StatusOr<CreatedToken> again = Create(*b, "ci", "deploy");
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists)
      << again.status();
  KG_EXPECT_OK(a->Close());
  KG_EXPECT_OK(b->Close());
}

TEST_F(FleetTest, TheListenerWakesAnotherStoreWithoutCatchUp) {
  // Polls only hourly: only the NOTIFY can wake B within the bound.
  std::unique_ptr<Store> a = OpenStore();
  std::unique_ptr<Store> b = OpenStore();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  KG_ASSERT_OK(CreateAccount(*a, "ci"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken token, Create(*a, "ci", "deploy"));
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  bool verified = false;
  while (!verified && absl::Now() < deadline) {
    verified = b->Verify(token.value.view()).ok();
    if (!verified) absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_TRUE(verified) << "B did not see A's token within 5 s";
  // And a revoke on A is refused by B's Verify once B has caught up.
  KG_ASSERT_OK(a->RevokeToken(kOrg, "ci", token.metadata.slug, kActor));
  KG_ASSERT_OK(b->CatchUp());
  absl::StatusOr<Principal> revoked = b->Verify(token.value.view());
  ASSERT_FALSE(revoked.ok());
  EXPECT_EQ(VerifyFailureOf(revoked.status()), VerifyFailure::kRevoked);
}

TEST_F(FleetTest, RevokeOnOneIsRefusedByAnotherAfterItCatchesUp) {
  std::unique_ptr<Store> a = OpenStore();
  std::unique_ptr<Store> b = OpenStore();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  KG_ASSERT_OK(CreateAccount(*b, "ci"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken token, Create(*b, "ci", "deploy"));
  KG_ASSERT_OK(a->CatchUp());
  KG_ASSERT_OK(a->Verify(token.value.view()));
  KG_ASSERT_OK(a->RevokeToken(kOrg, "ci", token.metadata.slug, kActor));
  KG_ASSERT_OK(b->CatchUp());
  absl::StatusOr<Principal> refused = b->Verify(token.value.view());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(VerifyFailureOf(refused.status()), VerifyFailure::kRevoked);
}

TEST_F(FleetTest, ConcurrentCreatesOfOneNameOnTwoStoresExactlyOneWins) {
  std::unique_ptr<Store> a = OpenStore();
  std::unique_ptr<Store> b = OpenStore();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  KG_ASSERT_OK(CreateAccount(*a, "ci"));
  constexpr int kRounds = 20;
  for (int round = 0; round < kRounds; ++round) {
    const std::string name = absl::StrCat("deploy-", round);
    absl::Status results[2];
    std::thread on_a([&] { results[0] = Create(*a, "ci", name).status(); });
    std::thread on_b([&] { results[1] = Create(*b, "ci", name).status(); });
    on_a.join();
    on_b.join();
    int wins = 0;
    for (const absl::Status& status : results) {
      if (status.ok()) {
        ++wins;
      } else {
        EXPECT_EQ(status.code(), absl::StatusCode::kAlreadyExists) << status;
      }
    }
    EXPECT_EQ(wins, 1) << "round " << round;
  }
}

TEST_F(FleetTest, ConcurrentWritersLeaveDensePositionsAndOneState) {
  constexpr int kStores = 3;
  constexpr int kThreadsPerStore = 2;
  constexpr int kOpsPerThread = 40;
  std::vector<std::unique_ptr<Store>> stores;
  for (int i = 0; i < kStores; ++i) {
    stores.push_back(OpenStore());
    ASSERT_NE(stores.back(), nullptr);
  }
  for (const char* slug : {"alpha", "beta"}) {
    KG_ASSERT_OK(CreateAccount(*stores[0], slug));
  }
  // The oracle: every token a writer created, and whether a revoke of it
  // returned OK.
  struct Created {
    std::string account;
    std::string slug;
    std::string value;
    bool revoked = false;
  };
  absl::Mutex mu;
  std::vector<Created> created;
  std::vector<std::thread> threads;
  for (int s = 0; s < kStores; ++s) {
    for (int t = 0; t < kThreadsPerStore; ++t) {
      threads.emplace_back([&, s, t] {
        std::mt19937 random(s * 100 + t);
        Store& store = *stores[s];
        for (int op = 0; op < kOpsPerThread; ++op) {
          const std::string account = random() % 2 ? "alpha" : "beta";
          if (random() % 3 != 0) {
            absl::StatusOr<CreatedToken> token =
                Create(store, account, absl::StrCat("t", s, "-", t, "-", op));
            EXPECT_TRUE(token.ok()) << token.status();
            if (!token.ok()) continue;
            absl::MutexLock lock(&mu);
            created.push_back({account, token->metadata.slug,
                               std::string(token->value.view()), false});
          } else {
            Created victim;
            size_t index = 0;
            {
              absl::MutexLock lock(&mu);
              if (created.empty()) continue;
              index = random() % created.size();
              victim = created[index];
            }
            absl::Status revoked =
                store.RevokeToken(kOrg, victim.account, victim.slug, kActor);
            // Revoking one already revoked (by any store) is idempotent or
            // a conflict; never another failure.
            if (revoked.ok()) {
              absl::MutexLock lock(&mu);
              created[index].revoked = true;
            }
          }
        }
      });
    }
  }
  for (std::thread& thread : threads) thread.join();

  // Positions: 1..N, each once (a gap or a duplicate would be a write a
  // peer misses or two writes on one position).
  const std::vector<uint64_t> positions = ChangePositions();
  ASSERT_FALSE(positions.empty());
  for (size_t i = 0; i < positions.size(); ++i) {
    ASSERT_EQ(positions[i], i + 1) << "at index " << i;
  }
  // Every store: the same listing, and Verify answers as the oracle says.
  std::vector<std::string> listings[kStores];
  for (int s = 0; s < kStores; ++s) {
    KG_ASSERT_OK(stores[s]->CatchUp());
    auto* impl = static_cast<store::StoreImpl*>(stores[s].get());
    EXPECT_EQ(impl->change_position(), positions.back()) << "store " << s;
    for (const char* account : {"alpha", "beta"}) {
      PageRequest page;
      page.limit = 1000;
      absl::StatusOr<Page<TokenMetadata>> tokens =
          stores[s]->ListTokens(kOrg, account, page);
      KG_ASSERT_OK(tokens);
      for (const TokenMetadata& m : tokens->items) {
        listings[s].push_back(absl::StrCat(account, "/", m.slug, "/",
                                           m.revoked_at.has_value()));
      }
    }
    for (size_t i = 0; i < created.size(); ++i) {
      absl::StatusOr<Principal> verified =
          stores[s]->Verify(created[i].value);
      EXPECT_EQ(verified.ok(), !created[i].revoked)
          << "store " << s << " token " << i;
    }
  }
  EXPECT_EQ(listings[1], listings[0]);
  EXPECT_EQ(listings[2], listings[0]);
}

TEST_F(FleetTest, AStoreReopenedOnTheDatabaseKeepsEverything) {
  std::string value;
  {
    std::unique_ptr<Store> a = OpenStore();
    ASSERT_NE(a, nullptr);
    KG_ASSERT_OK(CreateAccount(*a, "ci"));
    KG_ASSERT_OK_AND_ASSIGN(CreatedToken token, Create(*a, "ci", "deploy"));
    value = std::string(token.value.view());
    KG_ASSERT_OK(a->Close());
  }
  std::unique_ptr<Store> again = OpenStore();
  ASSERT_NE(again, nullptr);
  KG_EXPECT_OK(again->Verify(value));
  EXPECT_EQ(Create(*again, "ci", "deploy").status().code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_F(FleetTest, APeerHoldingTheWriteLockMakesWritesUnavailableNotHang) {
  std::unique_ptr<Store> a = OpenStore();
  ASSERT_NE(a, nullptr);
  KG_ASSERT_OK(CreateAccount(*a, "ci"));
  // A stuck peer: holds the fleet write lock and never lets go.
  absl::StatusOr<std::unique_ptr<postgres::Connection>> peer =
      postgres::Connection::Open(conninfo_);
  KG_ASSERT_OK(peer);
  KG_ASSERT_OK((*peer)->Exec(
      "SELECT pg_advisory_lock($1::bigint)",
      {postgres::Param::Text(std::to_string(postgres::kFleetWriteLockKey))}));
  const absl::Time start = absl::Now();
  absl::StatusOr<CreatedToken> blocked = Create(*a, "ci", "deploy");
  EXPECT_EQ(blocked.status().code(), absl::StatusCode::kUnavailable)
      << blocked.status();
  // The default lock timeout is 10 s; generous bound against a hang.
  EXPECT_LT(absl::Now() - start, absl::Seconds(60));
  peer->reset();  // the session ends: the lock is released
  KG_EXPECT_OK(Create(*a, "ci", "deploy"));
}

TEST_F(FleetTest, AFollowerOnPostgresIsRefused) {
  Options options;
  options.postgres_connection = conninfo_;
  options.keyring = keyring_;
  options.role = StoreRole::kFollower;
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition)
      << store.status();
}

TEST_F(FleetTest, AnotherPepperUnderTheSameIdIsRefused) {
  std::unique_ptr<Store> a = OpenStore();
  ASSERT_NE(a, nullptr);
  KG_ASSERT_OK(a->Close());
  Options options;
  options.postgres_connection = conninfo_;
  options.keyring = test::ParseKeyringOrDie({{1, test::kOtherPepperHex1}});
  absl::StatusOr<std::unique_ptr<Store>> wrong = Store::Open(options);
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kFailedPrecondition)
      << wrong.status();
}

// Real processes: each child opens its own Store on the database and
// writes; its exit code is how many of the contested names it won.
TEST_F(FleetTest, SeveralProcessesWriteOneDatabase) {
  constexpr int kProcesses = 3;
  constexpr int kOwnTokens = 15;
  constexpr int kContested = 10;
  {
    std::unique_ptr<Store> setup = OpenStore();
    ASSERT_NE(setup, nullptr);
    KG_ASSERT_OK(CreateAccount(*setup, "ci"));
    KG_ASSERT_OK(setup->Close());
  }
  std::vector<pid_t> children;
  for (int p = 0; p < kProcesses; ++p) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      // The child: no gtest assertions, no exit handlers (the parent's
      // server must outlive it); _exit with the result.
      int wins = 0;
      {
        std::unique_ptr<Store> store = OpenStore();
        if (store == nullptr) _exit(200);
        for (int n = 0; n < kOwnTokens; ++n) {
          if (!Create(*store, "ci", absl::StrCat("p", p, "-", n)).ok()) {
            _exit(201);
          }
          if (n < kContested) {
            absl::StatusOr<CreatedToken> contested =
                Create(*store, "ci", absl::StrCat("shared-", n));
            if (contested.ok()) {
              ++wins;
            } else if (contested.status().code() !=
                       absl::StatusCode::kAlreadyExists) {
              _exit(202);
            }
          }
        }
        if (!store->Close().ok()) _exit(203);
      }
      _exit(wins);
    }
    children.push_back(pid);
  }
  int total_wins = 0;
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_LT(WEXITSTATUS(status), 200) << "child failed: "
                                        << WEXITSTATUS(status);
    total_wins += WEXITSTATUS(status);
  }
  EXPECT_EQ(total_wins, kContested);
  const std::vector<uint64_t> positions = ChangePositions();
  for (size_t i = 0; i < positions.size(); ++i) {
    ASSERT_EQ(positions[i], i + 1) << "at index " << i;
  }
  std::unique_ptr<Store> check = OpenStore();
  ASSERT_NE(check, nullptr);
  PageRequest page;
  page.limit = 1000;
  absl::StatusOr<Page<TokenMetadata>> tokens =
      check->ListTokens(kOrg, "ci", page);
  KG_ASSERT_OK(tokens);
  std::set<std::string> names;
  for (const TokenMetadata& m : tokens->items) {
    EXPECT_TRUE(names.insert(m.name).second) << m.name;
  }
  EXPECT_EQ(names.size(),
            static_cast<size_t>(kProcesses * kOwnTokens + kContested));
}

}  // namespace
}  // namespace keygate

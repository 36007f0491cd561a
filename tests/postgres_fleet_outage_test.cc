// tests/postgres_fleet_outage_test.cc: a fleet on PostgreSQL (issue 10,
// docs/fleet-revocation.md) through an outage of the database server
// itself: stopped (fast or immediate shutdown), every process fails closed
// within its lease (VerifyFailure::kFleetLeaseLapsed) and refuses writes
// (Unavailable, nothing changed); started again on the same port, every
// process recovers by itself with nothing lost, and the fleet-wide revoke
// guarantee holds again at once. And a revoke made while one process is
// still cut off after the restart is applied by that process before its
// lease comes back: it never accepts the revoked token.
//
// The tests stop the server, so they run against a server of their own
// (not PostgresEnvironment's), with synchronous_commit on: an immediate
// shutdown must not lose an acknowledged commit (the store's sync_writes
// leaves the server's default in force). Skipped when the PostgreSQL
// binaries are absent.
#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "keygate/keygate.h"
#include "lib/postgres/connection.h"
#include "tests/store_test_util.h"
#include "tests/support/postgres_server.h"

namespace keygate {
namespace {

using ::keygate::testing::PostgresServer;
using ::keygate::testing::PostgresServerOptions;
using ::keygate::testing::StopMode;

constexpr std::string_view kOrg = "org-outage";
constexpr std::string_view kActor = "user:outage";
constexpr std::string_view kAccount = "ci";
// L of every process. Its heartbeat runs every L/4 and its grants end at
// most L - L/20 after the heartbeat that gave them.
constexpr absl::Duration kLease = absl::Seconds(1);
// Liveness bounds (a loaded 2-core machine): never the guarantee itself.
constexpr absl::Duration kRecoveryBound = absl::Seconds(60);

class FleetOutageTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    PostgresServerOptions options;
    options.synchronous_commit = true;
    absl::StatusOr<std::unique_ptr<PostgresServer>> server =
        PostgresServer::Start(options);
    if (server.ok()) {
      server_ = std::move(*server).release();
      status_ = new absl::Status();
    } else {
      status_ = new absl::Status(server.status());
    }
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    delete status_;
    status_ = nullptr;
  }

  void SetUp() override {
    if (server_ == nullptr) {
      if (absl::IsNotFound(*status_)) GTEST_SKIP() << status_->message();
      FAIL() << "PostgreSQL test server did not start: " << *status_;
    }
    // A failed test may have left it stopped.
    if (!server_->running()) KG_ASSERT_OK(server_->Restart());
    keyring_ = test::ParseKeyringOrDie({{1, test::kPepperHex1}});
    absl::StatusOr<std::string> schema = server_->CreateSchema();
    ASSERT_TRUE(schema.ok()) << schema.status();
    conninfo_ = *schema;
  }

  // OpenStore opens one process of the fleet, as database role `role`
  // (empty: the server's superuser). Durable commits (sync_writes): an
  // immediate shutdown must not lose what was acknowledged.
  std::unique_ptr<Store> OpenStore(std::string_view role = "") {
    Options options;
    options.postgres_connection =
        role.empty() ? conninfo_
                     : absl::StrCat(conninfo_, " user=", std::string(role));
    options.keyring = keyring_;
    options.sync_writes = true;
    options.fleet_lease = kLease;
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  static absl::StatusOr<CreatedToken> Create(Store& store,
                                             std::string_view name) {
    TokenSpec spec;
    spec.name = std::string(name);
    spec.slug = std::string(name);
    spec.scopes = {"read:tokens"};
    return store.CreateToken(kOrg, kAccount, spec, kActor);
  }

  static absl::Status CreateAccount(Store& store) {
    ServiceAccountSpec spec;
    spec.name = "CI";
    spec.slug = std::string(kAccount);
    return store.CreateServiceAccount(kOrg, spec, kActor).status();
  }

  static VerifyFailure FailureOf(Store& store, const SecretString& token) {
    return VerifyFailureOf(store.Verify(token.view()).status());
  }

  // VerifiesWithin reports whether `store` accepts `token` within
  // `timeout`.
  static bool VerifiesWithin(Store& store, const SecretString& token,
                             absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      if (store.Verify(token.view()).ok()) return true;
      absl::SleepFor(absl::Milliseconds(5));
    }
    return false;
  }

  // Admin opens a superuser connection to the test's schema.
  std::unique_ptr<postgres::Connection> Admin() {
    absl::StatusOr<std::unique_ptr<postgres::Connection>> admin =
        postgres::Connection::Open(conninfo_);
    EXPECT_TRUE(admin.ok()) << admin.status();
    return admin.ok() ? *std::move(admin) : nullptr;
  }

  static PostgresServer* server_;
  static absl::Status* status_;
  std::shared_ptr<const Keyring> keyring_;
  std::string conninfo_;
};

PostgresServer* FleetOutageTest::server_ = nullptr;
absl::Status* FleetOutageTest::status_ = nullptr;

class FleetServerStopTest : public FleetOutageTest,
                            public ::testing::WithParamInterface<StopMode> {};

TEST_P(FleetServerStopTest, EveryProcessFailsClosedWithinItsLeaseAndRecovers) {
  std::unique_ptr<Store> a = OpenStore();
  std::unique_ptr<Store> b = OpenStore();
  std::unique_ptr<Store> c = OpenStore();
  ASSERT_TRUE(a && b && c);
  const std::vector<Store*> fleet = {a.get(), b.get(), c.get()};
  KG_ASSERT_OK(CreateAccount(*a));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken before, Create(*a, "before"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken kept, Create(*b, "kept"));
  for (Store* store : fleet) {
    ASSERT_TRUE(VerifiesWithin(*store, before.value, absl::Seconds(10)));
    ASSERT_TRUE(VerifiesWithin(*store, kept.value, absl::Seconds(10)));
  }
  // Acknowledged right before the stop, not yet seen by the others: it
  // must survive the stop (even an immediate one) and reach them after.
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken last, Create(*c, "last"));

  KG_ASSERT_OK(server_->Stop(GetParam()));
  ASSERT_FALSE(server_->running());
  const absl::Time stopped = absl::Now();

  // Liveness: each process notices (its lease lapses) and fails closed,
  // with the lease's own reason.
  for (size_t i = 0; i < fleet.size(); ++i) {
    VerifyFailure failure = VerifyFailure::kNone;
    while (absl::Now() < stopped + kLease + absl::Seconds(10)) {
      failure = FailureOf(*fleet[i], before.value);
      if (failure != VerifyFailure::kNone) break;
      absl::SleepFor(absl::Milliseconds(5));
    }
    EXPECT_EQ(failure, VerifyFailure::kFleetLeaseLapsed)
        << "process " << i << ": " << VerifyFailureName(failure);
  }
  // The guarantee: every grant came from a heartbeat sent before the
  // server stopped, so once L has passed since, none is left (100 ms for
  // the wall clock against the lease's monotonic one).
  absl::SleepFor(stopped + kLease + absl::Milliseconds(100) - absl::Now());
  for (size_t i = 0; i < fleet.size(); ++i) {
    for (const CreatedToken* token : {&before, &kept}) {
      const VerifyFailure failure = FailureOf(*fleet[i], token->value);
      EXPECT_EQ(failure, VerifyFailure::kFleetLeaseLapsed)
          << "process " << i << " " << token->metadata.slug << ": "
          << VerifyFailureName(failure);
    }
  }

  // Writes fail, Unavailable, and change nothing (checked after the
  // restart).
  for (size_t i = 0; i < fleet.size(); ++i) {
    const absl::Status created =
        Create(*fleet[i], absl::StrCat("during-", i)).status();
    EXPECT_EQ(created.code(), absl::StatusCode::kUnavailable)
        << "process " << i << ": " << created;
    const absl::Status revoked =
        fleet[i]->RevokeToken(kOrg, kAccount, "kept", kActor);
    EXPECT_EQ(revoked.code(), absl::StatusCode::kUnavailable)
        << "process " << i << ": " << revoked;
  }

  // Back on the same port: every process reconnects and catches up by
  // itself, nothing lost (`last` reaches the two that never saw it).
  KG_ASSERT_OK(server_->Restart());
  for (size_t i = 0; i < fleet.size(); ++i) {
    for (const CreatedToken* token : {&before, &kept, &last}) {
      EXPECT_TRUE(VerifiesWithin(*fleet[i], token->value, kRecoveryBound))
          << "process " << i << " " << token->metadata.slug;
    }
  }
  // The failed writes left nothing: three tokens, none revoked.
  KG_ASSERT_OK_AND_ASSIGN(Page<TokenMetadata> page,
                          a->ListTokens(kOrg, kAccount, PageRequest{}));
  std::vector<std::string> slugs;
  for (const TokenMetadata& token : page.items) {
    slugs.push_back(token.slug);
    EXPECT_FALSE(token.revoked()) << token.slug;
  }
  std::sort(slugs.begin(), slugs.end());
  EXPECT_EQ(slugs, (std::vector<std::string>{"before", "kept", "last"}));

  // And the fleet-wide revoke holds again: the very next verify on every
  // other process refuses the token.
  KG_ASSERT_OK(a->RevokeToken(kOrg, kAccount, "before", kActor));
  EXPECT_EQ(FailureOf(*b, before.value), VerifyFailure::kRevoked);
  EXPECT_EQ(FailureOf(*c, before.value), VerifyFailure::kRevoked);
  KG_ASSERT_OK(c->RevokeToken(kOrg, kAccount, "kept", kActor));
  EXPECT_EQ(FailureOf(*a, kept.value), VerifyFailure::kRevoked);
  EXPECT_EQ(FailureOf(*b, kept.value), VerifyFailure::kRevoked);
  EXPECT_TRUE(b->Verify(last.value.view()).ok());

  KG_EXPECT_OK(c->Close());
  KG_EXPECT_OK(b->Close());
  KG_EXPECT_OK(a->Close());
}

INSTANTIATE_TEST_SUITE_P(
    StopModes, FleetServerStopTest,
    ::testing::Values(StopMode::kFast, StopMode::kImmediate),
    [](const ::testing::TestParamInfo<StopMode>& info) {
      return std::string(info.param == StopMode::kFast ? "Fast" : "Immediate");
    });

// The server stops and comes back, but one process (C) stays cut off (its
// role may not log in: it cannot reconnect) while the two others revoke a
// token. C never accepts that token: not while cut off (its lease lapsed
// with the server), and not when it is let back in (it applies the revoke
// before its lease comes back).
TEST_F(FleetOutageTest, ARevokeWhileAProcessIsStillCutOffIsAppliedFirst) {
  std::unique_ptr<postgres::Connection> admin = Admin();
  ASSERT_NE(admin, nullptr);
  KG_ASSERT_OK(admin->ExecScript(
      "DROP ROLE IF EXISTS outage_member_c; "
      "CREATE ROLE outage_member_c LOGIN SUPERUSER"));
  std::unique_ptr<Store> a = OpenStore();
  std::unique_ptr<Store> b = OpenStore();
  std::unique_ptr<Store> c = OpenStore("outage_member_c");
  ASSERT_TRUE(a && b && c);
  KG_ASSERT_OK(CreateAccount(*a));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken doomed, Create(*a, "doomed"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken other, Create(*a, "other"));
  ASSERT_TRUE(VerifiesWithin(*c, doomed.value, absl::Seconds(10)));
  ASSERT_TRUE(VerifiesWithin(*c, other.value, absl::Seconds(10)));

  // No NEW session for C's role: the ones it has live on until the stop.
  KG_ASSERT_OK(admin->ExecScript("ALTER ROLE outage_member_c NOLOGIN"));
  admin.reset();
  EXPECT_TRUE(c->Verify(doomed.value.view()).ok());
  KG_ASSERT_OK(server_->Stop(StopMode::kImmediate));
  KG_ASSERT_OK(server_->Restart());

  // A and B are back; C is not, and has failed closed.
  ASSERT_TRUE(VerifiesWithin(*a, other.value, kRecoveryBound));
  ASSERT_TRUE(VerifiesWithin(*b, other.value, kRecoveryBound));
  const absl::Time deadline = absl::Now() + kLease + absl::Seconds(10);
  VerifyFailure failure = VerifyFailure::kNone;
  while (absl::Now() < deadline) {
    failure = FailureOf(*c, doomed.value);
    if (failure != VerifyFailure::kNone) break;
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_EQ(failure, VerifyFailure::kFleetLeaseLapsed)
      << VerifyFailureName(failure);

  // The revoke does not wait on C beyond its lease, and B refuses the
  // token at once.
  KG_ASSERT_OK(a->RevokeToken(kOrg, kAccount, "doomed", kActor));
  EXPECT_EQ(FailureOf(*b, doomed.value), VerifyFailure::kRevoked);
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken fresh, Create(*b, "fresh"));
  EXPECT_EQ(FailureOf(*c, doomed.value), VerifyFailure::kFleetLeaseLapsed);

  // Let C back in. Until its lease is back (`other` verifies) and after,
  // it never accepts `doomed`.
  admin = Admin();
  ASSERT_NE(admin, nullptr);
  KG_ASSERT_OK(admin->ExecScript("ALTER ROLE outage_member_c LOGIN"));
  bool back = false;
  int accepted = 0;
  const absl::Time recovery = absl::Now() + kRecoveryBound;
  while (!back && absl::Now() < recovery) {
    if (c->Verify(doomed.value.view()).ok()) ++accepted;
    back = c->Verify(other.value.view()).ok();
    if (c->Verify(doomed.value.view()).ok()) ++accepted;
  }
  EXPECT_TRUE(back) << "C did not recover";
  EXPECT_EQ(accepted, 0) << "C accepted the token revoked while it was out";
  EXPECT_EQ(FailureOf(*c, doomed.value), VerifyFailure::kRevoked);
  EXPECT_TRUE(VerifiesWithin(*c, fresh.value, absl::Seconds(10)));

  KG_EXPECT_OK(c->Close());
  KG_EXPECT_OK(b->Close());
  KG_EXPECT_OK(a->Close());
}

}  // namespace
}  // namespace keygate

// tests/postgres_fleet_revocation_test.cc: the fleet-wide revocation
// guarantee of a store on PostgreSQL (Options::fleet_lease,
// docs/fleet-revocation.md): when a revoking call returns, no process of
// the fleet accepts the token, whether it is live (it has applied the
// revocation), stopped (its lease lapsed before the call returned) or cut
// off from the database (it fails closed until it is back and caught up).
//
// Every test runs against a throwaway PostgreSQL server
// (tests/support/postgres_server.h), skipped when the binaries are absent.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "keygate/keygate.h"
#include "lib/postgres/connection.h"
#include "lib/storage/database.h"
#include "lib/storage/keys.h"
#include "tests/store_test_util.h"
#include "tests/support/postgres_server.h"

namespace keygate {
namespace {

using ::keygate::testing::PostgresEnvironment;

::testing::Environment* const kPostgres =
    ::testing::AddGlobalTestEnvironment(new PostgresEnvironment);

constexpr std::string_view kOrg = "org-fleet";
constexpr std::string_view kActor = "user:fleet";
constexpr std::string_view kAccount = "ci";

class FleetRevocationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    KEYGATE_REQUIRE_POSTGRES();
    keyring_ = test::ParseKeyringOrDie({{1, test::kPepperHex1}});
    absl::StatusOr<std::string> schema =
        PostgresEnvironment::server()->CreateSchema();
    ASSERT_TRUE(schema.ok()) << schema.status();
    conninfo_ = *schema;
  }

  // OpenStore opens one process of the fleet with lease `lease`, as
  // database role `role` (empty: the server's). Only NOTIFY wakes its
  // listener: the fallback poll is an hour.
  std::unique_ptr<Store> OpenStore(absl::Duration lease,
                                   std::string_view role = "") {
    Options options;
    options.postgres_connection =
        role.empty() ? conninfo_ : absl::StrCat(conninfo_, " user=", std::string(role));
    options.keyring = keyring_;
    options.sync_writes = false;
    options.follower_catch_up_interval = absl::Hours(1);
    options.fleet_lease = lease;
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

  // VerifiesWithin reports whether `store` accepts `token` within
  // `timeout` (a liveness bound: the listener applies on NOTIFY).
  static bool VerifiesWithin(Store& store, const SecretString& token,
                             absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      if (store.Verify(token.view()).ok()) return true;
      absl::SleepFor(absl::Milliseconds(5));
    }
    return false;
  }

  // Admin opens a superuser connection to the test database.
  std::unique_ptr<postgres::Connection> Admin() {
    absl::StatusOr<std::unique_ptr<postgres::Connection>> admin =
        postgres::Connection::Open(conninfo_);
    EXPECT_TRUE(admin.ok()) << admin.status();
    return admin.ok() ? *std::move(admin) : nullptr;
  }

  std::shared_ptr<const Keyring> keyring_;
  std::string conninfo_;
};

TEST_F(FleetRevocationTest, WhenARevokeReturnsNoLiveProcessAcceptsTheToken) {
  std::unique_ptr<Store> a = OpenStore(absl::Seconds(2));
  std::unique_ptr<Store> b = OpenStore(absl::Seconds(2));
  std::unique_ptr<Store> c = OpenStore(absl::Seconds(2));
  ASSERT_TRUE(a && b && c);
  KG_ASSERT_OK(CreateAccount(*a));
  // Without the fleet-wide wait, B and C apply the revocation a few
  // milliseconds after it returns: over these rounds some verify right
  // after the revoke is accepted.
  for (int round = 0; round < 20; ++round) {
    KG_ASSERT_OK_AND_ASSIGN(CreatedToken created,
                            Create(*a, absl::StrCat("t", round)));
    ASSERT_TRUE(VerifiesWithin(*b, created.value, absl::Seconds(10)))
        << "round " << round;
    ASSERT_TRUE(VerifiesWithin(*c, created.value, absl::Seconds(10)))
        << "round " << round;
    KG_ASSERT_OK(a->RevokeToken(kOrg, kAccount, created.metadata.slug, kActor));
    for (Store* store : {b.get(), c.get()}) {
      const absl::Status status = store->Verify(created.value.view()).status();
      ASSERT_FALSE(status.ok()) << "round " << round;
      EXPECT_EQ(VerifyFailureOf(status), VerifyFailure::kRevoked)
          << "round " << round << ": " << status;
    }
  }
  // Disabling an account is a revocation too.
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken live, Create(*a, "live"));
  ASSERT_TRUE(VerifiesWithin(*c, live.value, absl::Seconds(10)));
  KG_ASSERT_OK(a->SetServiceAccountDisabled(kOrg, kAccount, true, kActor));
  EXPECT_EQ(VerifyFailureOf(c->Verify(live.value.view()).status()),
            VerifyFailure::kAccountDisabled);
  KG_EXPECT_OK(c->Close());
  KG_EXPECT_OK(b->Close());
  KG_EXPECT_OK(a->Close());
}

TEST_F(FleetRevocationTest, AStoppedProcessHoldsARevokeAtMostItsLease) {
  constexpr absl::Duration kLease = absl::Seconds(1);
  std::unique_ptr<Store> a = OpenStore(kLease);
  ASSERT_NE(a, nullptr);
  KG_ASSERT_OK(CreateAccount(*a));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken created, Create(*a, "deploy"));

  int to_child[2];
  int from_child[2];
  ASSERT_EQ(pipe(to_child), 0);
  ASSERT_EQ(pipe(from_child), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // The child, another process of the fleet: no gtest assertions; it
    // answers each request byte with VerifyFailure (0: accepted).
    close(to_child[1]);
    close(from_child[0]);
    std::unique_ptr<Store> b = OpenStore(kLease);
    if (b == nullptr) _exit(2);
    const char ready = VerifiesWithin(*b, created.value, absl::Seconds(10))
                           ? 'r'
                           : 'x';
    if (write(from_child[1], &ready, 1) != 1) _exit(3);
    char request = 0;
    while (read(to_child[0], &request, 1) == 1) {
      const char answer = static_cast<char>(
          VerifyFailureOf(b->Verify(created.value.view()).status()));
      if (write(from_child[1], &answer, 1) != 1) _exit(4);
    }
    (void)b->Close();
    _exit(0);
  }
  close(to_child[0]);
  close(from_child[1]);
  char ready = 0;
  ASSERT_EQ(read(from_child[0], &ready, 1), 1);
  ASSERT_EQ(ready, 'r') << "the child never verified the token";

  // Stopped: it neither applies nor renews its lease.
  ASSERT_EQ(kill(pid, SIGSTOP), 0);
  const absl::Time start = absl::Now();
  KG_ASSERT_OK(a->RevokeToken(kOrg, kAccount, "deploy", kActor));
  const absl::Duration waited = absl::Now() - start;
  // The revoke waited for the stopped process's lease to lapse (its last
  // renewal was at most a heartbeat, L/4, before the stop)...
  EXPECT_GE(waited, kLease / 2);
  // ...and no longer than the lease bound (generous: a liveness check).
  EXPECT_LT(waited, absl::Seconds(15));

  // Resumed, its very first answer is a refusal: its lease has lapsed, or
  // it has applied the revocation.
  ASSERT_EQ(kill(pid, SIGCONT), 0);
  const char request = 'v';
  ASSERT_EQ(write(to_child[1], &request, 1), 1);
  char answer = 0;
  ASSERT_EQ(read(from_child[0], &answer, 1), 1);
  const auto failure = static_cast<VerifyFailure>(answer);
  EXPECT_TRUE(failure == VerifyFailure::kFleetLeaseLapsed ||
              failure == VerifyFailure::kRevoked)
      << VerifyFailureName(failure);

  close(to_child[1]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  close(from_child[0]);
  KG_EXPECT_OK(a->Close());
}

TEST_F(FleetRevocationTest, AProcessCutOffFromTheDatabaseFailsClosedThenRecovers) {
  constexpr absl::Duration kLease = absl::Milliseconds(600);
  std::unique_ptr<postgres::Connection> admin = Admin();
  ASSERT_NE(admin, nullptr);
  KG_ASSERT_OK(admin->ExecScript(
      "DROP ROLE IF EXISTS fleet_member_b; "
      "CREATE ROLE fleet_member_b LOGIN SUPERUSER"));
  std::unique_ptr<Store> a = OpenStore(kLease);
  std::unique_ptr<Store> b = OpenStore(kLease, "fleet_member_b");
  ASSERT_TRUE(a && b);
  KG_ASSERT_OK(CreateAccount(*a));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken created, Create(*a, "deploy"));
  ASSERT_TRUE(VerifiesWithin(*b, created.value, absl::Seconds(10)));

  // Cut B off: no new session for its role, and its sessions killed.
  KG_ASSERT_OK(admin->ExecScript("ALTER ROLE fleet_member_b NOLOGIN"));
  KG_ASSERT_OK(admin->Exec(
      "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
      "WHERE usename = 'fleet_member_b'"));
  VerifyFailure failure = VerifyFailure::kNone;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    failure = VerifyFailureOf(b->Verify(created.value.view()).status());
    if (failure != VerifyFailure::kNone) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(failure, VerifyFailure::kFleetLeaseLapsed)
      << VerifyFailureName(failure);
  // A's revoke meanwhile does not wait on B beyond B's lease.
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken second, Create(*a, "second"));
  KG_ASSERT_OK(a->RevokeToken(kOrg, kAccount, "deploy", kActor));

  // Back: B reconnects, applies what it missed, and answers again, with
  // the revocation it missed applied.
  KG_ASSERT_OK(admin->ExecScript("ALTER ROLE fleet_member_b LOGIN"));
  EXPECT_TRUE(VerifiesWithin(*b, second.value, absl::Seconds(20)));
  EXPECT_EQ(VerifyFailureOf(b->Verify(created.value.view()).status()),
            VerifyFailure::kRevoked);
  KG_EXPECT_OK(b->Close());
  KG_EXPECT_OK(a->Close());
}

// A process reads the rows a change record names live, after scanning the
// records: a row may be gone by then (a later record, not yet scanned,
// deleted it). Here the revoked token's row is deleted outright before the
// cut-off process catches up: it must not report the revocation applied
// while its index still holds the token as active.
TEST_F(FleetRevocationTest, ARevokedTokenWhoseRowIsGoneIsNotLeftActive) {
  constexpr absl::Duration kLease = absl::Milliseconds(600);
  std::unique_ptr<postgres::Connection> admin = Admin();
  ASSERT_NE(admin, nullptr);
  KG_ASSERT_OK(admin->ExecScript(
      "DROP ROLE IF EXISTS fleet_member_c; "
      "CREATE ROLE fleet_member_c LOGIN SUPERUSER"));
  std::unique_ptr<Store> a = OpenStore(kLease);
  std::unique_ptr<Store> b = OpenStore(kLease, "fleet_member_c");
  ASSERT_TRUE(a && b);
  KG_ASSERT_OK(CreateAccount(*a));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken doomed, Create(*a, "doomed"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken other, Create(*a, "other"));
  ASSERT_TRUE(VerifiesWithin(*b, doomed.value, absl::Seconds(10)));
  ASSERT_TRUE(VerifiesWithin(*b, other.value, absl::Seconds(10)));

  KG_ASSERT_OK(admin->ExecScript("ALTER ROLE fleet_member_c NOLOGIN"));
  KG_ASSERT_OK(admin->Exec(
      "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
      "WHERE usename = 'fleet_member_c'"));
  KG_ASSERT_OK(a->RevokeToken(kOrg, kAccount, "doomed", kActor));
  KG_ASSERT_OK(admin->Exec(
      "DELETE FROM keygate_kv WHERE family = $1::smallint AND key = $2",
      {postgres::Param::Text(std::to_string(
           static_cast<int>(storage::Family::kTokens))),
       postgres::Param::Bytes(storage::TokenKey(kOrg, kAccount, "doomed"))}));
  KG_ASSERT_OK(admin->ExecScript("ALTER ROLE fleet_member_c LOGIN"));

  // Caught up again (its lease held: `other` verifies), B must not accept
  // the revoked token.
  ASSERT_TRUE(VerifiesWithin(*b, other.value, absl::Seconds(20)));
  const absl::Status doomed_status = b->Verify(doomed.value.view()).status();
  EXPECT_FALSE(doomed_status.ok());
  KG_EXPECT_OK(b->Close());
  KG_EXPECT_OK(a->Close());
}

// A second revoke of a token whose first revoke is still waiting for the
// fleet (another client, or a retry after a lost answer) answers 404, "no
// such live token": that answer must not come before the fleet stopped
// accepting the token either.
TEST_F(FleetRevocationTest, ARevokeOfARevokedTokenWaitsForTheFleetToo) {
  constexpr absl::Duration kLease = absl::Seconds(3);
  std::unique_ptr<postgres::Connection> admin = Admin();
  ASSERT_NE(admin, nullptr);
  KG_ASSERT_OK(admin->ExecScript(
      "DROP ROLE IF EXISTS fleet_member_d; "
      "CREATE ROLE fleet_member_d LOGIN SUPERUSER"));
  std::unique_ptr<Store> a = OpenStore(kLease);
  std::unique_ptr<Store> b = OpenStore(kLease, "fleet_member_d");
  ASSERT_TRUE(a && b);
  KG_ASSERT_OK(CreateAccount(*a));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken created, Create(*a, "deploy"));
  ASSERT_TRUE(VerifiesWithin(*b, created.value, absl::Seconds(10)));

  // B is cut off: it keeps its lease (and the token) until the lease ends.
  KG_ASSERT_OK(admin->ExecScript("ALTER ROLE fleet_member_d NOLOGIN"));
  KG_ASSERT_OK(admin->Exec(
      "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
      "WHERE usename = 'fleet_member_d'"));
  absl::Status first;
  std::thread first_revoke(
      [&] { first = a->RevokeToken(kOrg, kAccount, "deploy", kActor); });
  absl::SleepFor(absl::Milliseconds(200));
  const absl::Status second = a->RevokeToken(kOrg, kAccount, "deploy", kActor);
  EXPECT_EQ(second.code(), absl::StatusCode::kNotFound) << second;
  EXPECT_FALSE(b->Verify(created.value.view()).ok())
      << "the second revoke answered while B still accepted the token";
  first_revoke.join();
  KG_EXPECT_OK(first);
  KG_ASSERT_OK(admin->ExecScript("ALTER ROLE fleet_member_d LOGIN"));
  KG_EXPECT_OK(b->Close());
  KG_EXPECT_OK(a->Close());
}

// kill -9 of a process mid-stream: the revokes meanwhile wait at most its
// lease, and the process started again loads what it missed.
TEST_F(FleetRevocationTest, AKilledProcessRestartedHasEverythingItMissed) {
  constexpr absl::Duration kLease = absl::Seconds(1);
  std::unique_ptr<Store> a = OpenStore(kLease);
  ASSERT_NE(a, nullptr);
  KG_ASSERT_OK(CreateAccount(*a));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken doomed, Create(*a, "doomed"));

  // SpawnVerifier forks a process of the fleet that verifies `token` in a
  // loop until killed, and reports (pipe) once it has accepted it.
  auto spawn_verifier = [&](const SecretString& token, int* ready_fd) {
    int ready[2];
    if (pipe(ready) != 0) return pid_t{-1};
    const pid_t pid = fork();
    if (pid == 0) {
      close(ready[0]);
      std::unique_ptr<Store> b = OpenStore(kLease);
      if (b == nullptr) _exit(2);
      const char answer =
          VerifiesWithin(*b, token, absl::Seconds(10)) ? 'r' : 'x';
      if (write(ready[1], &answer, 1) != 1) _exit(3);
      for (;;) (void)b->Verify(token.view());  // mid-stream until killed
    }
    close(ready[1]);
    *ready_fd = ready[0];
    return pid;
  };
  int ready_fd = -1;
  const pid_t first = spawn_verifier(doomed.value, &ready_fd);
  ASSERT_GT(first, 0);
  char ready = 0;
  ASSERT_EQ(read(ready_fd, &ready, 1), 1);
  close(ready_fd);
  ASSERT_EQ(ready, 'r');
  ASSERT_EQ(kill(first, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(waitpid(first, &status, 0), first);

  // While it is dead: a revoke (waits at most its lease) and a new token.
  const absl::Time start = absl::Now();
  KG_ASSERT_OK(a->RevokeToken(kOrg, kAccount, "doomed", kActor));
  // Its row stays until its lease lapses (it could not leave): the revoke
  // waited for that, and no longer than the bound (generous: liveness).
  EXPECT_GE(absl::Now() - start, kLease / 2);
  EXPECT_LT(absl::Now() - start, absl::Seconds(15));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken fresh, Create(*a, "fresh"));

  // Restarted, it accepts the new token and refuses the revoked one.
  std::unique_ptr<Store> restarted = OpenStore(kLease);
  ASSERT_NE(restarted, nullptr);
  EXPECT_TRUE(VerifiesWithin(*restarted, fresh.value, absl::Seconds(10)));
  EXPECT_EQ(VerifyFailureOf(restarted->Verify(doomed.value.view()).status()),
            VerifyFailure::kRevoked);
  KG_EXPECT_OK(restarted->Close());
  KG_EXPECT_OK(a->Close());
}

TEST_F(FleetRevocationTest, AZeroLeaseMeansNoLeaseAndNoWait) {
  std::unique_ptr<Store> a = OpenStore(absl::ZeroDuration());
  std::unique_ptr<Store> b = OpenStore(absl::ZeroDuration());
  ASSERT_TRUE(a && b);
  KG_ASSERT_OK(CreateAccount(*a));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken created, Create(*a, "deploy"));
  ASSERT_TRUE(VerifiesWithin(*b, created.value, absl::Seconds(10)));
  std::unique_ptr<postgres::Connection> admin = Admin();
  ASSERT_NE(admin, nullptr);
  absl::StatusOr<postgres::Result> members =
      admin->Exec("SELECT count(*) FROM keygate_fleet_members");
  KG_ASSERT_OK(members);
  EXPECT_EQ(members->Value(0, 0), "0");
  KG_EXPECT_OK(b->Close());
  KG_EXPECT_OK(a->Close());
}

}  // namespace
}  // namespace keygate

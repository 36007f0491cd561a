// tests/postgres_fleet_lease_test.cc: lib/postgres/fleet_lease: members of
// one database hold leases only while they hear from it and apply what they
// heard; WaitForFleet returns once every live member applied a position, or
// once a lease has passed; and the guarantee itself: after WaitForFleet(P)
// returned, no member holds its lease without having applied P, also a
// member cut off from the database and let back in (docs/fleet-revocation.md).
//
// Positions come from the test's own log table (fleet_test_log) through
// FleetLeaseOptions::newest_position_sql. Real-time waits only where the
// database clock is involved, with a small lease; the local side runs on an
// injected clock where it can.
#include "lib/postgres/fleet_lease.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/postgres/connection.h"
#include "lib/postgres/schema.h"
#include "tests/support/postgres_server.h"

namespace keygate::postgres {
namespace {

using ::keygate::testing::PostgresEnvironment;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

::testing::Environment* const kPostgres =
    ::testing::AddGlobalTestEnvironment(new PostgresEnvironment);

constexpr char kTestLogSql[] =
    "SELECT coalesce(max(position), 0) FROM fleet_test_log";

class FakeClock : public MonotonicClock {
 public:
  int64_t NowNanos() const override { return now_.load(); }
  void Advance(absl::Duration by) { now_ += absl::ToInt64Nanoseconds(by); }

 private:
  std::atomic<int64_t> now_{1'000'000'000};
};

// Eventually polls `condition` every millisecond for at most `bound`.
template <typename Condition>
bool Eventually(Condition condition, absl::Duration bound = absl::Seconds(5)) {
  const absl::Time deadline = absl::Now() + bound;
  while (absl::Now() < deadline) {
    if (condition()) return true;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return condition();
}

class PostgresFleetLeaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    KEYGATE_REQUIRE_POSTGRES();
    absl::StatusOr<std::string> database =
        PostgresEnvironment::server()->CreateSchema();
    ASSERT_TRUE(database.ok()) << database.status();
    conninfo_ = *database;
    admin_ = Connect(conninfo_);
    ASSERT_NE(admin_, nullptr);
    ASSERT_TRUE(EnsureSchema(*admin_).ok());
    ASSERT_TRUE(admin_
                    ->ExecScript("CREATE TABLE fleet_test_log "
                                 "(position bigint PRIMARY KEY)")
                    .ok());
  }

  static std::unique_ptr<Connection> Connect(const std::string& conninfo) {
    absl::StatusOr<std::unique_ptr<Connection>> connection =
        Connection::Open(conninfo);
    EXPECT_TRUE(connection.ok()) << connection.status();
    return connection.ok() ? std::move(*connection) : nullptr;
  }

  // Commit appends the next position to the test log; returns it.
  uint64_t Commit() {
    absl::StatusOr<Result> row = admin_->Exec(
        "INSERT INTO fleet_test_log SELECT coalesce(max(position), 0) + 1 "
        "FROM fleet_test_log RETURNING position");
    EXPECT_TRUE(row.ok()) << row.status();
    if (!row.ok()) return 0;
    return static_cast<uint64_t>(*row->Int64(0, 0));
  }

  // RealTimeOptions: a 300 ms lease on the real clock.
  static FleetLeaseOptions RealTimeOptions(
      absl::Duration lease = absl::Milliseconds(300)) {
    FleetLeaseOptions options;
    options.lease = lease;
    // Covers twice a coarse clock tick of up to 10 ms (HZ=100).
    options.clock_margin = std::max(lease / 20, absl::Milliseconds(25));
    options.newest_position_sql = kTestLogSql;
    options.connect_timeout = absl::Seconds(2);
    options.wait_poll_max = absl::Milliseconds(5);
    return options;
  }

  std::unique_ptr<FleetLease> Join(uint64_t applied,
                                   FleetLeaseOptions options,
                                   const std::string& conninfo = "") {
    absl::StatusOr<std::unique_ptr<FleetLease>> lease = FleetLease::Join(
        conninfo.empty() ? conninfo_ : conninfo, applied, std::move(options));
    EXPECT_TRUE(lease.ok()) << lease.status();
    return lease.ok() ? std::move(*lease) : nullptr;
  }

  // RoleConnInfo creates a login role of its own (a superuser, so it reads
  // the test's schema) and returns a connection string for it: the test
  // can then cut that member off the database (CutOff) and let it back
  // (Restore) without touching anyone else.
  std::string RoleConnInfo(const std::string& role) {
    role_ = absl::StrCat(role, "_", ++roles_);
    EXPECT_TRUE(admin_
                    ->ExecScript(absl::StrCat("CREATE ROLE ", role_,
                                              " LOGIN SUPERUSER"))
                    .ok());
    return absl::StrReplaceAll(conninfo_,
                               {{"user=keygate", absl::StrCat("user=", role_)}});
  }
  void CutOff(const std::string& role) {
    ASSERT_TRUE(
        admin_->ExecScript(absl::StrCat("ALTER ROLE ", role, " NOLOGIN")).ok());
    absl::StatusOr<Result> killed = admin_->Exec(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE usename = $1",
        {Param::Text(role)});
    ASSERT_TRUE(killed.ok()) << killed.status();
  }
  void Restore(const std::string& role) {
    ASSERT_TRUE(
        admin_->ExecScript(absl::StrCat("ALTER ROLE ", role, " LOGIN")).ok());
  }

  // RowApplied is the member's applied_position in the table (-1: no row).
  int64_t RowApplied(const FleetLease& member) {
    absl::StatusOr<Result> row = admin_->Exec(
        "SELECT applied_position FROM keygate_fleet_members "
        "WHERE member_id = $1",
        {Param::Text(member.member_id())});
    EXPECT_TRUE(row.ok()) << row.status();
    if (!row.ok() || row->rows() == 0) return -1;
    return *row->Int64(0, 0);
  }

  std::string conninfo_;
  std::unique_ptr<Connection> admin_;
  std::string role_;
  static inline int roles_ = 0;
};

TEST_F(PostgresFleetLeaseTest, RejectsInconsistentOptions) {
  FleetLeaseOptions zero = RealTimeOptions();
  zero.lease = absl::ZeroDuration();
  FleetLeaseOptions margin = RealTimeOptions();
  margin.clock_margin = margin.lease;
  FleetLeaseOptions interval = RealTimeOptions();
  interval.heartbeat_interval = interval.lease;
  FleetLeaseOptions horizon = RealTimeOptions();
  horizon.stale_member_horizon = absl::Milliseconds(1);
  // The default clock is coarse: a margin below two of its ticks is refused.
  FleetLeaseOptions tiny_margin = RealTimeOptions();
  tiny_margin.clock_margin = absl::Nanoseconds(1);
  FleetLeaseOptions burst = RealTimeOptions();
  burst.early_heartbeat_burst = 0;
  for (const FleetLeaseOptions& options :
       {zero, margin, interval, horizon, tiny_margin, burst}) {
    absl::StatusOr<std::unique_ptr<FleetLease>> lease =
        FleetLease::Join(conninfo_, 0, options);
    ASSERT_FALSE(lease.ok());
    EXPECT_EQ(lease.status().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST_F(PostgresFleetLeaseTest, UnreachableDatabaseFailsJoinWithoutThePassword) {
  absl::StatusOr<std::unique_ptr<FleetLease>> lease = FleetLease::Join(
      "host=127.0.0.1 port=1 dbname=x user=x password=hunter2-secret "
      "connect_timeout=2",
      0, RealTimeOptions());
  ASSERT_FALSE(lease.ok());
  EXPECT_EQ(lease.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(std::string(lease.status().message()).find("hunter2"),
            std::string::npos);
}

TEST_F(PostgresFleetLeaseTest, CaughtUpMemberHoldsLeaseAndLeaveDeletesItsRow) {
  std::unique_ptr<FleetLease> member = Join(0, RealTimeOptions());
  ASSERT_NE(member, nullptr);
  EXPECT_TRUE(member->LeaseHeld());
  EXPECT_EQ(RowApplied(*member), 0);
  EXPECT_EQ(member->member_id().size(), 36u);  // a UUID

  ASSERT_TRUE(member->Leave().ok());
  EXPECT_FALSE(member->LeaseHeld());
  EXPECT_EQ(RowApplied(*member), -1);
  EXPECT_TRUE(member->Leave().ok());  // idempotent
  // Alone in the fleet, and gone from it: nobody to wait for.
  absl::StatusOr<FleetWaitResult> wait = member->WaitForFleet(1);
  ASSERT_TRUE(wait.ok()) << wait.status();
  EXPECT_TRUE(wait->waited_on.empty());
}

// A revoke that committed just before its store closed (Leave ran between
// its commit and its wait) still waits for the rest of the fleet: having
// left, this process verifies nothing, but the others still might.
TEST_F(PostgresFleetLeaseTest, AWaitAfterLeavingStillWaitsForTheOthers) {
  std::unique_ptr<FleetLease> leaving = Join(0, RealTimeOptions());
  std::unique_ptr<FleetLease> lagging = Join(0, RealTimeOptions());
  ASSERT_NE(leaving, nullptr);
  ASSERT_NE(lagging, nullptr);
  const uint64_t position = Commit();
  leaving->ReportApplied(position);
  ASSERT_TRUE(leaving->Leave().ok());
  absl::StatusOr<FleetWaitResult> wait = leaving->WaitForFleet(position);
  ASSERT_TRUE(wait.ok()) << wait.status();
  EXPECT_THAT(wait->waited_on, ElementsAre(lagging->member_id()));
  // `lagging` never applies `position`: only its lease ends the wait.
  EXPECT_TRUE(wait->ended_by_lease_bound);
  EXPECT_GE(wait->waited, absl::Milliseconds(300));
}

// A member that leaves deletes its row: a wait blocked on it ends at once,
// not after its lease. A crashed member's row older than the horizon is
// collected by the next member that joins.
TEST_F(PostgresFleetLeaseTest, LeavingEndsWaitsAndStaleRowsAreCollected) {
  std::unique_ptr<FleetLease> a = Join(0, RealTimeOptions(absl::Seconds(5)));
  std::unique_ptr<FleetLease> leaving =
      Join(0, RealTimeOptions(absl::Seconds(5)));
  ASSERT_NE(a, nullptr);
  ASSERT_NE(leaving, nullptr);
  const uint64_t position = Commit();
  a->ReportApplied(position);
  std::atomic<bool> returned{false};
  absl::StatusOr<FleetWaitResult> wait;
  std::thread waiter([&] {
    wait = a->WaitForFleet(position);
    returned = true;
  });
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_FALSE(returned);
  ASSERT_TRUE(leaving->Leave().ok());
  EXPECT_TRUE(Eventually([&] { return returned.load(); }, absl::Seconds(3)));
  waiter.join();
  ASSERT_TRUE(wait.ok()) << wait.status();
  EXPECT_FALSE(wait->ended_by_lease_bound);
  EXPECT_THAT(wait->waited_on, ElementsAre(leaving->member_id()));

  ASSERT_TRUE(admin_
                  ->ExecScript(
                      "INSERT INTO keygate_fleet_members (member_id, "
                      "applied_position, heard_at, lease_micros, updated_at) "
                      "VALUES ('crashed', 0, now() - interval '2 hours', "
                      "5000000, now() - interval '2 hours')")
                  .ok());
  std::unique_ptr<FleetLease> joiner = Join(position, RealTimeOptions());
  ASSERT_NE(joiner, nullptr);
  absl::StatusOr<Result> crashed = admin_->Exec(
      "SELECT count(*) FROM keygate_fleet_members WHERE member_id = 'crashed'");
  ASSERT_TRUE(crashed.ok()) << crashed.status();
  EXPECT_EQ(*crashed->Int64(0, 0), 0);
}

// Local side on an injected clock, with heartbeats far apart (nothing runs
// in the background during the test): a grant needs the position heard,
// and ends exactly lease - margin after its heartbeat was sent.
TEST_F(PostgresFleetLeaseTest, GrantNeedsWhatWasHeardAndEndsOnTheLocalClock) {
  for (int i = 0; i < 5; ++i) Commit();
  FakeClock clock;
  FleetLeaseOptions options = RealTimeOptions();
  options.lease = absl::Minutes(50);
  options.heartbeat_interval = absl::Minutes(30);
  options.clock_margin = absl::Minutes(10);
  options.early_heartbeat_spacing = absl::ZeroDuration();
  options.clock = &clock;
  std::unique_ptr<FleetLease> member = Join(3, options);
  ASSERT_NE(member, nullptr);
  EXPECT_FALSE(member->LeaseHeld()) << "heard 5, applied 3";
  member->ReportApplied(4);
  EXPECT_FALSE(member->LeaseHeld());
  member->ReportApplied(5);
  EXPECT_TRUE(member->LeaseHeld());
  member->ReportApplied(2);  // never goes down
  EXPECT_EQ(member->applied_position(), 5u);

  clock.Advance(absl::Minutes(40) - absl::Nanoseconds(1));
  EXPECT_TRUE(member->LeaseHeld());
  clock.Advance(absl::Nanoseconds(1));
  EXPECT_FALSE(member->LeaseHeld()) << "lease 50 min - margin 10 min";
}

TEST_F(PostgresFleetLeaseTest, WaitReturnsAtOnceWhenEveryMemberApplied) {
  std::vector<std::unique_ptr<FleetLease>> members;
  for (int i = 0; i < 3; ++i) {
    members.push_back(Join(0, RealTimeOptions(absl::Seconds(5))));
    ASSERT_NE(members.back(), nullptr);
  }
  const uint64_t position = Commit();
  for (auto& member : members) member->ReportApplied(position);
  for (auto& member : members) {
    ASSERT_TRUE(Eventually([&] {
      return RowApplied(*member) == static_cast<int64_t>(position);
    })) << "an early heartbeat publishes the applied position";
  }
  absl::StatusOr<FleetWaitResult> wait = members[0]->WaitForFleet(position);
  ASSERT_TRUE(wait.ok()) << wait.status();
  EXPECT_THAT(wait->waited_on, IsEmpty());
  EXPECT_FALSE(wait->ended_by_lease_bound);
  EXPECT_EQ(wait->failed_queries, 0);
  for (auto& member : members) EXPECT_TRUE(member->LeaseHeld());
}

TEST_F(PostgresFleetLeaseTest, WaitBlocksWhileOneMemberLagsAndEndsWhenItApplies) {
  // A 5 s lease: the lagging member stays live for the whole test.
  std::vector<std::unique_ptr<FleetLease>> members;
  for (int i = 0; i < 3; ++i) {
    members.push_back(Join(0, RealTimeOptions(absl::Seconds(5))));
    ASSERT_NE(members.back(), nullptr);
  }
  FleetLease& lagging = *members[2];
  const uint64_t position = Commit();
  members[0]->ReportApplied(position);
  members[1]->ReportApplied(position);

  std::atomic<bool> returned{false};
  absl::StatusOr<FleetWaitResult> wait;
  std::thread waiter([&] {
    wait = members[0]->WaitForFleet(position);
    returned = true;
  });
  absl::SleepFor(absl::Milliseconds(500));
  EXPECT_FALSE(returned) << "returned while a live member had not applied";
  lagging.ReportApplied(position);
  EXPECT_TRUE(Eventually([&] { return returned.load(); }, absl::Seconds(3)))
      << "still waiting 3 s after the last member applied";
  waiter.join();
  ASSERT_TRUE(wait.ok()) << wait.status();
  EXPECT_THAT(wait->waited_on, ElementsAre(lagging.member_id()));
  EXPECT_FALSE(wait->ended_by_lease_bound);
  EXPECT_THAT(wait->unconfirmed, IsEmpty());
  EXPECT_TRUE(lagging.LeaseHeld());
}

// The acknowledgement is event-driven: the member's heartbeat that reports
// the position NOTIFYs, and the waiter re-reads the table at once, well
// before its next poll (here 8 s away: the backoff has reached it) and the
// member's next regular heartbeat (30 s). The old polling waiter slept
// 4 s between its looks at this point.
TEST_F(PostgresFleetLeaseTest, WaitEndsSoonAfterTheMemberReportsNotAtItsNextPoll) {
  FleetLeaseOptions options = RealTimeOptions(absl::Minutes(2));
  options.heartbeat_interval = absl::Seconds(30);
  options.wait_poll_max = absl::Seconds(8);
  std::unique_ptr<FleetLease> waiter = Join(0, options);
  std::unique_ptr<FleetLease> member = Join(0, options);
  ASSERT_NE(waiter, nullptr);
  ASSERT_NE(member, nullptr);
  const uint64_t position = Commit();
  waiter->ReportApplied(position);

  std::atomic<bool> returned{false};
  absl::StatusOr<FleetWaitResult> wait;
  std::thread thread([&] {
    wait = waiter->WaitForFleet(position);
    returned = true;
  });
  // Past 4.1 s the polls (1, 2, 4 ... ms apart) are 4 s and more apart.
  absl::SleepFor(absl::Milliseconds(4300));
  EXPECT_FALSE(returned) << "returned while a live member had not applied";
  const absl::Time reported = absl::Now();
  member->ReportApplied(position);
  EXPECT_TRUE(Eventually([&] { return returned.load(); }, absl::Seconds(10)));
  const absl::Duration after_report = absl::Now() - reported;
  thread.join();
  ASSERT_TRUE(wait.ok()) << wait.status();
  EXPECT_LT(after_report, absl::Milliseconds(1500))
      << "the wait ended at a poll, not at the member's report";
  EXPECT_THAT(wait->waited_on, ElementsAre(member->member_id()));
  EXPECT_FALSE(wait->ended_by_lease_bound);
  EXPECT_THAT(wait->unconfirmed, IsEmpty());
  EXPECT_GE(wait->notified_rechecks, 1);
}

// Early heartbeats come from a bucket: a few moves in a row are each
// published at once (no spacing between the first `burst`), but a storm of
// moves costs at most the bucket and one per spacing.
TEST_F(PostgresFleetLeaseTest, EarlyHeartbeatsComeInABoundedBurst) {
  FleetLeaseOptions options = RealTimeOptions(absl::Minutes(2));
  options.heartbeat_interval = absl::Seconds(30);
  options.early_heartbeat_spacing = absl::Seconds(20);
  options.early_heartbeat_burst = 3;
  std::unique_ptr<FleetLease> waiter = Join(0, options);
  std::unique_ptr<FleetLease> member = Join(0, options);
  ASSERT_NE(waiter, nullptr);
  ASSERT_NE(member, nullptr);
  for (int i = 0; i < 3; ++i) {
    const uint64_t position = Commit();
    waiter->ReportApplied(position);
    member->ReportApplied(position);
    absl::StatusOr<FleetWaitResult> wait = waiter->WaitForFleet(position);
    ASSERT_TRUE(wait.ok()) << wait.status();
    EXPECT_FALSE(wait->ended_by_lease_bound);
    EXPECT_LT(wait->waited, absl::Seconds(5))
        << "move " << i << " waited for the spacing";
  }
  // The bucket is empty (the three early heartbeats have finished): a storm
  // of moves now waits for the spacing.
  ASSERT_TRUE(Eventually([&] { return member->heartbeats() >= 3; }));
  const uint64_t before = member->heartbeats();
  for (int i = 0; i < 50; ++i) {
    member->ReportApplied(Commit());
    absl::SleepFor(absl::Milliseconds(2));
  }
  absl::SleepFor(absl::Milliseconds(500));
  EXPECT_EQ(member->heartbeats(), before) << "a storm hammered the database";
  EXPECT_LT(RowApplied(*member), static_cast<int64_t>(
                                     member->applied_position()));
}

// A member cut off from the database (its backend terminated, and it may
// not log in again) loses its lease within the lease; a wait for a
// position it never applied returns within lease + slack, and not while the
// cut-off member still holds its lease. Let back in and caught up, it holds
// its lease again.
TEST_F(PostgresFleetLeaseTest, CutOffMemberLapsesAndDoesNotBlockTheWait) {
  const absl::Duration lease = absl::Milliseconds(300);
  std::unique_ptr<FleetLease> a = Join(0, RealTimeOptions(lease));
  std::unique_ptr<FleetLease> b = Join(0, RealTimeOptions(lease));
  const std::string cut_conninfo = RoleConnInfo("fleet_cut");
  const std::string cut_role = role_;
  std::unique_ptr<FleetLease> cut =
      Join(0, RealTimeOptions(lease), cut_conninfo);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_NE(cut, nullptr);
  ASSERT_TRUE(cut->LeaseHeld());

  CutOff(cut_role);
  const absl::Time cut_at = absl::Now();
  ASSERT_TRUE(Eventually([&] { return !cut->LeaseHeld(); }, absl::Seconds(3)));
  EXPECT_LE(absl::Now() - cut_at, lease + absl::Seconds(1))
      << "lease held too long after the database was unreachable";

  const uint64_t position = Commit();
  a->ReportApplied(position);
  b->ReportApplied(position);
  const absl::Time started = absl::Now();
  absl::StatusOr<FleetWaitResult> wait = a->WaitForFleet(position);
  const absl::Duration waited = absl::Now() - started;
  ASSERT_TRUE(wait.ok()) << wait.status();
  EXPECT_FALSE(cut->LeaseHeld());
  EXPECT_LE(waited, lease + absl::Seconds(2));
  EXPECT_GT(cut->failed_heartbeats(), 0u);

  Restore(cut_role);
  EXPECT_TRUE(Eventually([&] { return cut->heartbeats() > 0; }));
  const uint64_t heartbeats = cut->heartbeats();
  ASSERT_TRUE(Eventually([&] { return cut->heartbeats() > heartbeats + 1; }));
  EXPECT_FALSE(cut->LeaseHeld())
      << "back in touch but has not applied position " << position;
  cut->ReportApplied(position);
  EXPECT_TRUE(Eventually([&] { return cut->LeaseHeld(); }, absl::Seconds(3)));
}

// A member that keeps hearing from the database but stops applying (a
// stuck change feed) loses its lease too, and does not hold a wait for
// long; once it applies again it holds its lease again.
TEST_F(PostgresFleetLeaseTest, MemberThatHearsButDoesNotApplyLosesItsLease) {
  const absl::Duration lease = absl::Milliseconds(300);
  std::unique_ptr<FleetLease> a = Join(0, RealTimeOptions(lease));
  std::unique_ptr<FleetLease> stuck = Join(0, RealTimeOptions(lease));
  ASSERT_NE(a, nullptr);
  ASSERT_NE(stuck, nullptr);
  const uint64_t position = Commit();
  a->ReportApplied(position);
  const absl::Time committed = absl::Now();

  absl::StatusOr<FleetWaitResult> wait = a->WaitForFleet(position);
  const absl::Duration waited = absl::Now() - committed;
  ASSERT_TRUE(wait.ok()) << wait.status();
  EXPECT_FALSE(stuck->LeaseHeld()) << "holds its lease without position "
                                   << position << " after the wait returned";
  EXPECT_GE(waited, lease - absl::Milliseconds(50))
      << "returned before the stuck member's lease could have lapsed";
  EXPECT_LE(waited, lease + absl::Seconds(2));
  EXPECT_THAT(wait->waited_on, ElementsAre(stuck->member_id()));
  EXPECT_GT(stuck->heartbeats(), 0u);

  // It keeps hearing, but renews nothing until it applies.
  const uint64_t heartbeats = stuck->heartbeats();
  ASSERT_TRUE(Eventually([&] { return stuck->heartbeats() > heartbeats + 2; }));
  EXPECT_FALSE(stuck->LeaseHeld());
  stuck->ReportApplied(position);
  EXPECT_TRUE(Eventually([&] { return stuck->LeaseHeld(); }, absl::Seconds(3)));
}

// Under a steady stream of writes every heartbeat hears a newer position
// than the member has applied; a member that applies with a bounded lag
// must still keep its lease (the oldest pending grant keeps its
// requirement until met, instead of being replaced by each newer one,
// which would starve the member of usable grants forever).
TEST_F(PostgresFleetLeaseTest, LaggingButApplyingMemberKeepsItsLeaseUnderWrites) {
  FleetLeaseOptions options = RealTimeOptions(absl::Seconds(1));
  options.early_heartbeat_spacing = absl::Milliseconds(5);
  std::unique_ptr<FleetLease> member = Join(0, options);
  ASSERT_NE(member, nullptr);
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    while (!stop) {
      Commit();
      absl::SleepFor(absl::Milliseconds(5));
    }
  });
  // A feed with a fixed 40 ms delay: it applies, every 2 ms, what was the
  // newest position 40 ms earlier, so every heartbeat hears more than the
  // member has applied.
  std::thread applier([&] {
    std::unique_ptr<Connection> connection = Connect(conninfo_);
    if (connection == nullptr) return;
    std::deque<std::pair<absl::Time, uint64_t>> seen;
    while (!stop) {
      absl::StatusOr<Result> newest = connection->Exec(kTestLogSql);
      if (!newest.ok()) return;
      const absl::Time now = absl::Now();
      seen.emplace_back(now, static_cast<uint64_t>(*newest->Int64(0, 0)));
      while (seen.size() >= 2 &&
             seen[1].first <= now - absl::Milliseconds(40)) {
        seen.pop_front();
      }
      if (seen.front().first <= now - absl::Milliseconds(40)) {
        member->ReportApplied(seen.front().second);
      }
      absl::SleepFor(absl::Milliseconds(2));
    }
  });
  absl::SleepFor(absl::Seconds(1));  // the join-time grant has expired
  int held = 0, samples = 0;
  const absl::Time end = absl::Now() + absl::Seconds(1);
  while (absl::Now() < end) {
    held += member->LeaseHeld();
    ++samples;
    absl::SleepFor(absl::Milliseconds(2));
  }
  stop = true;
  writer.join();
  applier.join();
  EXPECT_GT(member->heartbeats(), 10u);
  EXPECT_GE(held * 2, samples) << held << " of " << samples
                               << " samples held the lease";
}

// A waiter that cannot read the table (the database unreachable for it)
// still returns OK, but only after a whole lease: by then no member can
// hold a grant that did not require the position.
TEST_F(PostgresFleetLeaseTest, WaiterCutOffReturnsOnlyAfterTheLease) {
  const absl::Duration lease = absl::Milliseconds(300);
  const std::string conninfo = RoleConnInfo("fleet_waiter");
  const std::string role = role_;
  std::unique_ptr<FleetLease> waiter =
      Join(0, RealTimeOptions(lease), conninfo);
  std::unique_ptr<FleetLease> other = Join(0, RealTimeOptions(lease));
  ASSERT_NE(waiter, nullptr);
  ASSERT_NE(other, nullptr);
  const uint64_t position = Commit();
  CutOff(role);
  const absl::Time started = absl::Now();
  absl::StatusOr<FleetWaitResult> wait = waiter->WaitForFleet(position);
  const absl::Duration waited = absl::Now() - started;
  ASSERT_TRUE(wait.ok()) << wait.status();
  EXPECT_TRUE(wait->ended_by_lease_bound);
  EXPECT_GT(wait->failed_queries, 0);
  EXPECT_GE(waited, lease);
  EXPECT_GE(wait->waited, lease);
  EXPECT_LE(waited, lease + absl::Seconds(5));
  EXPECT_FALSE(other->LeaseHeld()) << "never applied " << position;
  Restore(role);
}

// The guarantee under churn: members apply the log with random lag (one
// of them stalls for longer than a lease now and then), one is cut off
// and let back in; a revoker commits positions and waits for each. After
// every wait for P returned, no member is ever seen holding its lease with
// applied < P.
TEST_F(PostgresFleetLeaseTest, NoMemberHoldsItsLeaseWithoutARevocationAfterTheWait) {
  const absl::Duration lease = absl::Milliseconds(300);
  constexpr int kMembers = 4;
  std::vector<std::unique_ptr<FleetLease>> members;
  const std::string cut_conninfo = RoleConnInfo("fleet_churn");
  const std::string cut_role = role_;
  for (int i = 0; i < kMembers; ++i) {
    members.push_back(
        Join(0, RealTimeOptions(lease), i == 0 ? cut_conninfo : ""));
    ASSERT_NE(members.back(), nullptr);
  }
  std::unique_ptr<FleetLease> revoker = Join(0, RealTimeOptions(lease));
  ASSERT_NE(revoker, nullptr);

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> confirmed{0};  // the newest P whose wait returned
  std::atomic<int> violations{0};
  std::atomic<int> checks{0};
  std::vector<std::thread> appliers;
  for (int i = 0; i < kMembers; ++i) {
    appliers.emplace_back([&, i] {
      std::unique_ptr<Connection> connection = Connect(conninfo_);
      if (connection == nullptr) return;
      std::mt19937 random(77 + i);
      while (!stop) {
        absl::StatusOr<Result> newest = connection->Exec(kTestLogSql);
        if (!newest.ok()) return;
        const uint64_t position = static_cast<uint64_t>(*newest->Int64(0, 0));
        // Lag: a few ms, sometimes more than a lease.
        const int lag_ms = (random() % 10 == 0) ? 400 : random() % 30;
        absl::SleepFor(absl::Milliseconds(lag_ms));
        members[i]->ReportApplied(position);
      }
    });
  }
  std::thread checker([&] {
    while (!stop) {
      const uint64_t p = confirmed.load();
      for (auto& member : members) {
        const bool held = member->LeaseHeld();
        const uint64_t applied = member->applied_position();  // read after
        if (held && applied < p) ++violations;
      }
      ++checks;
    }
  });

  for (int round = 0; round < 12; ++round) {
    if (round == 3) CutOff(cut_role);
    if (round == 7) Restore(cut_role);
    const uint64_t position = Commit();
    revoker->ReportApplied(position);
    absl::StatusOr<FleetWaitResult> wait = revoker->WaitForFleet(position);
    ASSERT_TRUE(wait.ok()) << wait.status();
    confirmed = position;
    for (auto& member : members) {
      const bool held = member->LeaseHeld();
      if (held) {
        EXPECT_GE(member->applied_position(), position)
            << "round " << round << ": " << member->member_id();
      }
    }
    absl::SleepFor(absl::Milliseconds(50 + 20 * (round % 4)));
  }
  absl::SleepFor(lease);
  stop = true;
  for (std::thread& applier : appliers) applier.join();
  checker.join();
  EXPECT_EQ(violations.load(), 0) << "of " << checks.load() << " checks";
  EXPECT_GT(checks.load(), 100);
  // Liveness: once the churn ends, every member catches up and holds its
  // lease again (the cut-off one too).
  const uint64_t last = Commit();
  for (auto& member : members) member->ReportApplied(last);
  for (auto& member : members) {
    EXPECT_TRUE(Eventually([&] { return member->LeaseHeld(); }))
        << member->member_id();
  }
}

}  // namespace
}  // namespace keygate::postgres

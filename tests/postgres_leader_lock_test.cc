// tests/postgres_leader_lock_test.cc: postgres::LeaderLock elects one
// process of a fleet (webhook delivery): exactly one holder at a time, and
// another takes over when the holder stops or loses its session.
//
// Every test runs against a throwaway PostgreSQL server
// (tests/support/postgres_server.h), skipped when the binaries are absent.
#include "lib/postgres/leader_lock.h"

#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "lib/postgres/connection.h"
#include "tests/support/postgres_server.h"

namespace keygate::postgres {
namespace {

using ::keygate::testing::PostgresEnvironment;

::testing::Environment* const kPostgres =
    ::testing::AddGlobalTestEnvironment(new PostgresEnvironment);

constexpr int64_t kKey = 0x7465737430303031;  // "test0001"

template <typename F>
bool Eventually(F done, absl::Duration limit = absl::Seconds(10)) {
  const absl::Time end = absl::Now() + limit;
  while (absl::Now() < end) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return done();
}

class LeaderLockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    KEYGATE_REQUIRE_POSTGRES();
    absl::StatusOr<std::string> schema =
        PostgresEnvironment::server()->CreateSchema();
    ASSERT_TRUE(schema.ok()) << schema.status();
    conninfo_ = *schema;
  }
  std::string conninfo_;
};

TEST_F(LeaderLockTest, ExactlyOneHoldsAndAnotherTakesOverWhenItStops) {
  LeaderLock a(conninfo_, kKey, absl::Milliseconds(50));
  LeaderLock b(conninfo_, kKey, absl::Milliseconds(50));
  ASSERT_TRUE(Eventually([&] { return a.held() || b.held(); }));
  // Several rounds of both trying: never both.
  for (int i = 0; i < 20; ++i) {
    EXPECT_FALSE(a.held() && b.held());
    absl::SleepFor(absl::Milliseconds(25));
  }
  LeaderLock& holder = a.held() ? a : b;
  LeaderLock& other = a.held() ? b : a;
  holder.Stop();
  EXPECT_FALSE(holder.held());
  EXPECT_TRUE(Eventually([&] { return other.held(); }));
}

TEST_F(LeaderLockTest, AHolderWhoseSessionEndsLetsAnotherTakeOver) {
  // A checks its session every 300 ms, B tries every 10 ms: B takes the
  // lock before A notices; until A's next check both believe they hold it
  // (the documented overlap), after it only B.
  LeaderLock a(conninfo_, kKey, absl::Milliseconds(300));
  ASSERT_TRUE(Eventually([&] { return a.held(); }));
  LeaderLock b(conninfo_, kKey, absl::Milliseconds(10));
  absl::SleepFor(absl::Milliseconds(200));
  ASSERT_FALSE(b.held());
  absl::StatusOr<std::unique_ptr<Connection>> admin = Connection::Open(conninfo_);
  ASSERT_TRUE(admin.ok()) << admin.status();
  // End the session that holds the advisory lock.
  absl::StatusOr<Result> ended = (*admin)->Exec(
      "SELECT count(pg_terminate_backend(pid)) FROM pg_locks "
      "WHERE locktype = 'advisory' AND granted");
  ASSERT_TRUE(ended.ok()) << ended.status();
  ASSERT_EQ(ended->Value(0, 0), "1");
  EXPECT_TRUE(Eventually([&] { return b.held(); }));
  EXPECT_TRUE(Eventually([&] { return !a.held(); }));
  for (int i = 0; i < 10; ++i) {
    EXPECT_FALSE(a.held() && b.held());
    absl::SleepFor(absl::Milliseconds(25));
  }
}

}  // namespace
}  // namespace keygate::postgres

// tests/postgres_database_test.cc: PostgresDatabase keeps the contract of
// storage::Database exactly as RocksDB does: the same random writes give
// the same Get and Scan answers on both (bytewise key order with 0x00,
// 0x80 and 0xff bytes, prefixes, start_after), scans page through more
// rows than a page, batches are all or nothing, and the connection string's
// password never reaches a status.
#include "lib/postgres/postgres_database.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "lib/storage/rocks_database.h"
#include "tests/support/postgres_server.h"

namespace keygate::postgres {
namespace {

using ::keygate::testing::PostgresEnvironment;
using storage::Batch;
using storage::Family;

::testing::Environment* const kPostgres =
    ::testing::AddGlobalTestEnvironment(new PostgresEnvironment);

using Rows = std::vector<std::pair<std::string, std::string>>;

Rows ScanAll(const storage::Database& db, Family family,
             std::string_view prefix, std::string_view start_after,
             size_t stop_after = SIZE_MAX) {
  Rows rows;
  absl::Status status = db.Scan(
      family, prefix, start_after,
      [&](std::string_view key, std::string_view value) {
        rows.emplace_back(std::string(key), std::string(value));
        return rows.size() < stop_after;
      });
  EXPECT_TRUE(status.ok()) << status;
  return rows;
}

class PostgresDatabaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    KEYGATE_REQUIRE_POSTGRES();
    absl::StatusOr<std::string> schema =
        PostgresEnvironment::server()->CreateSchema();
    ASSERT_TRUE(schema.ok()) << schema.status();
    conninfo_ = *schema;
    absl::StatusOr<std::unique_ptr<PostgresDatabase>> db =
        PostgresDatabase::Open(conninfo_);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
  }

  std::string conninfo_;
  std::unique_ptr<PostgresDatabase> db_;
};

TEST_F(PostgresDatabaseTest, SameAnswersAsRocksDbForRandomBytewiseKeys) {
  const std::string dir =
      ::testing::TempDir() + "/keygate_pgdb_" + std::to_string(getpid());
  std::filesystem::remove_all(dir);
  absl::StatusOr<std::unique_ptr<storage::RocksDatabase>> rocks =
      storage::RocksDatabase::Open(dir, /*create_if_missing=*/true);
  ASSERT_TRUE(rocks.ok()) << rocks.status();
  // Keys from a small alphabet that stresses byte order: NUL, 0x7f/0x80
  // (signed char boundary), 0xff (the prefix-end carry), 'a'.
  const char alphabet[] = {'\0', '\x7f', '\x80', '\xff', 'a'};
  std::mt19937 random(7);
  auto random_key = [&] {
    std::string key;
    const int length = random() % 4;
    for (int i = 0; i < length; ++i) key.push_back(alphabet[random() % 5]);
    return key;
  };
  for (int round = 0; round < 30; ++round) {
    Batch batch;
    for (int op = 0; op < 10; ++op) {
      const Family family = static_cast<Family>(random() % 2);
      if (random() % 4 == 0) {
        batch.Delete(family, random_key());
      } else {
        batch.Put(family, random_key(), random_key() + "v");
      }
    }
    Batch copy = batch;
    ASSERT_TRUE((*rocks)->Write(batch, false).ok());
    ASSERT_TRUE(db_->Write(copy, false).ok());
  }
  for (int probe = 0; probe < 200; ++probe) {
    const Family family = static_cast<Family>(probe % 2);
    const std::string prefix = probe % 3 == 0 ? "" : random_key();
    const std::string start_after = probe % 2 == 0 ? "" : random_key();
    EXPECT_EQ(ScanAll(*db_, family, prefix, start_after),
              ScanAll(**rocks, family, prefix, start_after))
        << "probe " << probe;
    const std::string key = random_key();
    absl::StatusOr<std::optional<std::string>> got = db_->Get(family, key);
    absl::StatusOr<std::optional<std::string>> want =
        (*rocks)->Get(family, key);
    ASSERT_TRUE(got.ok() && want.ok());
    EXPECT_EQ(*got, *want) << "probe " << probe;
  }
  // Spelled out: 0x00 < 0x7f < 0x80 < 0xff, and "\xff" < "\xff\x00".
  Rows all = ScanAll(*db_, Family::kMeta, "", "");
  for (size_t i = 1; i < all.size(); ++i) {
    EXPECT_LT(all[i - 1].first, all[i].first);  // std::string: unsigned
  }
  ASSERT_TRUE((*rocks)->Close().ok());
  std::filesystem::remove_all(dir);
}

TEST_F(PostgresDatabaseTest, ScansPageThroughMoreRowsThanAPage) {
  constexpr int kRows = 2 * kScanPageRows + 17;
  Batch batch;
  for (int i = 0; i < kRows; ++i) {
    char key[16];
    snprintf(key, sizeof(key), "p/%06d", i);
    batch.Put(Family::kTokens, key, std::to_string(i));
  }
  batch.Put(Family::kTokens, "q/outside", "x");
  ASSERT_TRUE(db_->Write(batch, true).ok());
  Rows rows = ScanAll(*db_, Family::kTokens, "p/", "");
  ASSERT_EQ(rows.size(), static_cast<size_t>(kRows));
  for (int i = 0; i < kRows; ++i) EXPECT_EQ(rows[i].second, std::to_string(i));
  // start_after is exclusive and relative to the prefix.
  rows = ScanAll(*db_, Family::kTokens, "p/", "001999");
  ASSERT_EQ(rows.size(), static_cast<size_t>(kRows - 2000));
  EXPECT_EQ(rows.front().first, "p/002000");
  // A visitor that stops early stops the scan.
  EXPECT_EQ(ScanAll(*db_, Family::kTokens, "p/", "", 5).size(), 5u);
  EXPECT_EQ(db_->EstimateKeyCount(Family::kTokens),
            static_cast<uint64_t>(kRows + 1));
}

TEST_F(PostgresDatabaseTest, ABatchIsAllOrNothing) {
  Batch first;
  first.Put(Family::kMeta, "a", "1");
  ASSERT_TRUE(db_->Write(first, true).ok());
  // The third operation fails in the server (the family CHECK): the two
  // before it must not be left behind.
  Batch doomed;
  doomed.Put(Family::kMeta, "a", "2");
  doomed.Put(Family::kMeta, "b", "2");
  doomed.Put(static_cast<Family>(-1), "c", "2");
  const absl::Status failed = db_->Write(doomed, true);
  EXPECT_EQ(failed.code(), absl::StatusCode::kFailedPrecondition) << failed;
  EXPECT_EQ(*db_->Get(Family::kMeta, "a"), "1");
  EXPECT_EQ(*db_->Get(Family::kMeta, "b"), std::nullopt);
  // And the connection is usable afterwards.
  Batch next;
  next.Put(Family::kMeta, "b", "3");
  EXPECT_TRUE(db_->Write(next, true).ok());
  EXPECT_EQ(*db_->Get(Family::kMeta, "b"), "3");
}

TEST_F(PostgresDatabaseTest, AWriteAfterLosingTheFleetLockFails) {
  ASSERT_TRUE(db_->LockWrites().ok());
  absl::StatusOr<std::unique_ptr<Connection>> admin =
      Connection::Open(conninfo_);
  ASSERT_TRUE(admin.ok());
  const std::string pid = std::to_string(db_->write_backend_pid());
  ASSERT_TRUE((*admin)
                  ->Exec("SELECT pg_terminate_backend($1::int)",
                         {Param::Text(pid)})
                  .ok());
  // The session (and the lock with it) is gone: a write must not quietly
  // reconnect and commit without the lock.
  Batch batch;
  batch.Put(Family::kMeta, "k", "v");
  absl::Status first = db_->Write(batch, true);
  EXPECT_EQ(first.code(), absl::StatusCode::kUnavailable) << first;
  Batch again;
  again.Put(Family::kMeta, "k", "v");
  absl::Status second = db_->Write(again, true);
  EXPECT_EQ(second.code(), absl::StatusCode::kUnavailable) << second;
  EXPECT_EQ(*db_->Get(Family::kMeta, "k"), std::nullopt);
  db_->UnlockWrites();
  Batch later;
  later.Put(Family::kMeta, "k", "w");
  EXPECT_TRUE(db_->Write(later, true).ok());
}

TEST_F(PostgresDatabaseTest, IdleSessionsTheServerEndedAreReopenedNotFailed) {
  Batch batch;
  batch.Put(Family::kMeta, "k", "v");
  ASSERT_TRUE(db_->Write(batch, true).ok());
  ASSERT_EQ(*db_->Get(Family::kMeta, "k"), "v");
  absl::StatusOr<std::unique_ptr<Connection>> admin =
      Connection::Open(conninfo_);
  ASSERT_TRUE(admin.ok());
  // Both of the database's sessions (this test's server is its own).
  absl::StatusOr<Result> ended = (*admin)->Exec(
      "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
      "WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'");
  ASSERT_TRUE(ended.ok()) << ended.status();
  ASSERT_EQ(ended->Value(0, 0), "2");
  const int old_writer = db_->write_backend_pid();
  // Give the server time to close them: then nothing is lost by waiting.
  absl::SleepFor(absl::Milliseconds(200));
  absl::StatusOr<std::optional<std::string>> read = db_->Get(Family::kMeta, "k");
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, "v");
  Batch next;
  next.Put(Family::kMeta, "k", "w");
  EXPECT_TRUE(db_->Write(next, true).ok());
  EXPECT_NE(db_->write_backend_pid(), old_writer);
  EXPECT_EQ(*db_->Get(Family::kMeta, "k"), "w");
}

// A process that stalls while it holds the fleet write lock (SIGSTOP, a
// paused VM, a partitioned host) must not stop every other process's
// writes, revocations included: the server ends its idle session, which
// releases the lock, and the stalled process's own next write fails.
TEST_F(PostgresDatabaseTest, AStalledLockHolderLosesTheLockAndOthersWrite) {
  PostgresDatabaseOptions options;
  options.write_lock_timeout = absl::Seconds(10);
  options.stalled_lock_holder_timeout = absl::Seconds(1);
  absl::StatusOr<std::unique_ptr<PostgresDatabase>> stalled =
      PostgresDatabase::Open(conninfo_, options);
  absl::StatusOr<std::unique_ptr<PostgresDatabase>> other =
      PostgresDatabase::Open(conninfo_, options);
  ASSERT_TRUE(stalled.ok() && other.ok());
  ASSERT_TRUE((*stalled)->LockWrites().ok());
  // Taken within the lock timeout: the stalled session ended after 1 s.
  absl::Status locked = (*other)->LockWrites();
  ASSERT_TRUE(locked.ok()) << locked;
  Batch batch;
  batch.Put(Family::kMeta, "revoked", "yes");
  EXPECT_TRUE((*other)->Write(batch, true).ok());
  (*other)->UnlockWrites();
  // The stalled one wakes up: its write fails, it never writes unlocked.
  Batch late;
  late.Put(Family::kMeta, "revoked", "no");
  EXPECT_EQ((*stalled)->Write(late, true).code(),
            absl::StatusCode::kUnavailable);
  (*stalled)->UnlockWrites();
  EXPECT_EQ(*(*other)->Get(Family::kMeta, "revoked"), "yes");
}

// A server, role or connection string whose synchronous_commit is off would
// let a server crash lose acknowledged writes: every connection raises it.
TEST_F(PostgresDatabaseTest, ConnectionsNeverCommitWithSynchronousCommitOff) {
  const std::string base = PostgresEnvironment::server()->ConnInfo();
  for (const char* level : {"off", "local", "remote_write", "on"}) {
    absl::StatusOr<std::unique_ptr<Connection>> connection = Connection::Open(
        absl::StrCat(base, " options='-csynchronous_commit=", level, "'"));
    ASSERT_TRUE(connection.ok()) << connection.status();
    absl::StatusOr<Result> shown =
        (*connection)->Exec("SHOW synchronous_commit");
    ASSERT_TRUE(shown.ok()) << shown.status();
    EXPECT_EQ(shown->Value(0, 0),
              std::string_view(level) == "off" ? "on" : level)
        << "asked for " << level;
  }
  // The server-wide default too (a role setting reaches new sessions).
  absl::StatusOr<std::unique_ptr<Connection>> admin = Connection::Open(base);
  ASSERT_TRUE(admin.ok());
  ASSERT_TRUE((*admin)->Exec("ALTER ROLE CURRENT_USER SET synchronous_commit "
                             "= off").ok());
  absl::StatusOr<std::unique_ptr<Connection>> fresh = Connection::Open(base);
  ASSERT_TRUE((*admin)->Exec("ALTER ROLE CURRENT_USER RESET "
                             "synchronous_commit").ok());
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  absl::StatusOr<Result> shown = (*fresh)->Exec("SHOW synchronous_commit");
  ASSERT_TRUE(shown.ok()) << shown.status();
  EXPECT_EQ(shown->Value(0, 0), "on");
}

TEST(PostgresDatabaseOpenTest, TheStatusNeverCarriesThePassword) {
  absl::StatusOr<std::unique_ptr<PostgresDatabase>> db =
      PostgresDatabase::Open(
          "host=127.0.0.1 port=1 user=x password=hunter2-secret "
          "connect_timeout=2");
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().message().find("hunter2"), std::string::npos)
      << db.status();
  absl::StatusOr<std::unique_ptr<PostgresDatabase>> malformed =
      PostgresDatabase::Open("host='unterminated password=hunter2-secret");
  ASSERT_FALSE(malformed.ok());
  EXPECT_EQ(malformed.status().message().find("hunter2"), std::string::npos)
      << malformed.status();
}

}  // namespace
}  // namespace keygate::postgres

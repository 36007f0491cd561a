// tests/postgres_change_feed_test.cc: lib/postgres/change_feed: positions
// dense and in commit order under concurrent writers, nothing missed across
// lost notifications and lost connections; and the bigserial trap the
// append lock exists for.
#include "lib/postgres/change_feed.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/postgres/connection.h"
#include "lib/postgres/schema.h"
#include "tests/support/postgres_server.h"

namespace keygate::postgres {
namespace {

using ::keygate::testing::PostgresEnvironment;

::testing::Environment* const kPostgres =
    ::testing::AddGlobalTestEnvironment(new PostgresEnvironment);

storage::ChangeRecord Change(const std::string& organization) {
  storage::ChangeRecord change;
  change.kind = storage::ChangeKind::kTokenRevoked;
  change.written_at = absl::FromUnixMicros(1'700'000'000'000'000);
  change.organization = organization;
  change.service_account = "sa";
  change.token_slug = "tok";
  return change;
}

// Applied is what a reader applied, in order.
struct Applied {
  std::vector<uint64_t> positions;
  std::vector<std::string> organizations;

  absl::Status Add(uint64_t position, const storage::ChangeRecord& change) {
    positions.push_back(position);
    organizations.push_back(change.organization);
    return absl::OkStatus();
  }
};

class PostgresChangeFeedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    KEYGATE_REQUIRE_POSTGRES();
    absl::StatusOr<std::string> database =
        PostgresEnvironment::server()->CreateSchema();
    ASSERT_TRUE(database.ok()) << database.status();
    conninfo_ = *database;
    std::unique_ptr<Connection> connection = Connect();
    ASSERT_NE(connection, nullptr);
    ASSERT_TRUE(EnsureSchema(*connection).ok());
  }

  std::unique_ptr<Connection> Connect() {
    absl::StatusOr<std::unique_ptr<Connection>> connection =
        Connection::Open(conninfo_);
    EXPECT_TRUE(connection.ok()) << connection.status();
    return connection.ok() ? std::move(*connection) : nullptr;
  }

  // Append commits one change in its own transaction; its position.
  uint64_t Append(Connection& connection, const std::string& organization,
                  std::string_view channel = kDefaultChangeChannel) {
    absl::StatusOr<Transaction> transaction = Transaction::Begin(connection);
    EXPECT_TRUE(transaction.ok()) << transaction.status();
    if (!transaction.ok()) return 0;
    absl::StatusOr<uint64_t> position =
        AppendChange(*transaction, Change(organization), channel);
    EXPECT_TRUE(position.ok()) << position.status();
    EXPECT_TRUE(transaction->Commit().ok());
    return position.ok() ? *position : 0;
  }

  std::unique_ptr<ChangeFeedReader> OpenReader(
      uint64_t applied = 0, ChangeFeedReaderOptions options = {}) {
    absl::StatusOr<std::unique_ptr<ChangeFeedReader>> reader =
        ChangeFeedReader::Open(conninfo_, applied, options);
    EXPECT_TRUE(reader.ok()) << reader.status();
    return reader.ok() ? std::move(*reader) : nullptr;
  }

  void Terminate(int backend_pid) {
    std::unique_ptr<Connection> admin = Connect();
    ASSERT_NE(admin, nullptr);
    absl::StatusOr<Result> done = admin->Exec(
        "SELECT pg_terminate_backend($1::int)",
        {Param::Text(std::to_string(backend_pid))});
    ASSERT_TRUE(done.ok()) << done.status();
    ASSERT_EQ(done->Value(0, 0), "t");
  }

  std::string conninfo_;
};

TEST_F(PostgresChangeFeedTest, RecordsRoundTrip) {
  std::unique_ptr<Connection> writer = Connect();
  ASSERT_NE(writer, nullptr);
  storage::ChangeRecord purge;
  purge.kind = storage::ChangeKind::kTokensPurged;
  purge.written_at = absl::FromUnixMicros(1'234'567);
  Digest digest;
  for (size_t i = 0; i < digest.size(); ++i) digest[i] = static_cast<uint8_t>(i);
  purge.deleted_digests = {digest};
  purge.organization = std::string("org\0with nul", 12);
  {
    absl::StatusOr<Transaction> transaction = Transaction::Begin(*writer);
    ASSERT_TRUE(transaction.ok());
    absl::StatusOr<uint64_t> position = AppendChange(*transaction, purge);
    ASSERT_TRUE(position.ok()) << position.status();
    EXPECT_EQ(*position, 1u);
    ASSERT_TRUE(transaction->Commit().ok());
  }
  std::unique_ptr<ChangeFeedReader> reader = OpenReader();
  ASSERT_NE(reader, nullptr);
  std::vector<storage::ChangeRecord> read;
  absl::StatusOr<size_t> applied = reader->CatchUp(
      [&](uint64_t, const storage::ChangeRecord& change) {
        read.push_back(change);
        return absl::OkStatus();
      });
  ASSERT_TRUE(applied.ok()) << applied.status();
  ASSERT_EQ(read.size(), 1u);
  EXPECT_EQ(read[0].kind, storage::ChangeKind::kTokensPurged);
  EXPECT_EQ(read[0].written_at, purge.written_at);
  EXPECT_EQ(read[0].organization, purge.organization);
  EXPECT_EQ(read[0].deleted_digests, purge.deleted_digests);
  EXPECT_EQ(reader->applied_position(), 1u);
}

// The acceptance test of the design: writers with their own connections
// interleave (random pauses between taking the position and committing,
// a quarter rolled back) while a reader tails, and its connection is killed
// halfway. It must see every committed change exactly once, at dense
// positions 1..N, in order, and no rolled-back one.
TEST_F(PostgresChangeFeedTest, ConcurrentWritersReaderSeesEveryCommitOnce) {
  constexpr int kWriters = 4;
  constexpr int kPerWriter = 30;
  std::mutex mu;
  std::set<std::string> committed, rolled_back;
  std::map<uint64_t, std::string> committed_at;  // position -> organization
  std::atomic<int> writers_done{0};
  std::atomic<bool> failed{false};

  std::unique_ptr<ChangeFeedReader> reader = OpenReader();
  ASSERT_NE(reader, nullptr);
  const int first_reader_pid = reader->backend_pid();

  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      std::unique_ptr<Connection> connection = Connect();
      if (connection == nullptr) {
        failed = true;
        ++writers_done;
        return;
      }
      std::mt19937 random(1234 + w);
      for (int i = 0; i < kPerWriter; ++i) {
        const std::string organization = absl::StrCat("w", w, "-", i);
        absl::StatusOr<Transaction> transaction =
            Transaction::Begin(*connection);
        if (!transaction.ok()) {
          failed = true;
          break;
        }
        absl::StatusOr<uint64_t> position =
            AppendChange(*transaction, Change(organization));
        if (!position.ok()) {
          ADD_FAILURE() << position.status();
          failed = true;
          break;
        }
        // Work inside the transaction after the position was taken.
        std::this_thread::sleep_for(
            std::chrono::microseconds(random() % 3000));
        if (random() % 4 == 0) {
          if (!transaction->Rollback().ok()) failed = true;
          std::lock_guard<std::mutex> lock(mu);
          rolled_back.insert(organization);
        } else {
          absl::Status status = transaction->Commit();
          if (!status.ok()) {
            ADD_FAILURE() << status;
            failed = true;
            break;
          }
          std::lock_guard<std::mutex> lock(mu);
          committed.insert(organization);
          // A committed position is never reused.
          if (!committed_at.emplace(*position, organization).second) {
            ADD_FAILURE() << "position " << *position << " committed twice";
            failed = true;
          }
        }
      }
      ++writers_done;
    });
  }

  Applied applied;
  bool killed = false;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    const bool done = writers_done.load() == kWriters;
    absl::StatusOr<size_t> got = reader->Next(
        [&](uint64_t position, const storage::ChangeRecord& change) {
          return applied.Add(position, change);
        },
        absl::Milliseconds(200));
    if (!got.ok()) {  // no ASSERT: the writers must be joined first
      ADD_FAILURE() << got.status();
      break;
    }
    if (!killed && applied.positions.size() >= kWriters * kPerWriter / 3) {
      // Mid-stream: the reader's connection dies.
      Terminate(reader->backend_pid());
      killed = true;
    }
    if (done) {
      std::lock_guard<std::mutex> lock(mu);
      if (applied.positions.size() >= committed.size()) break;
    }
  }
  for (std::thread& writer : writers) writer.join();
  ASSERT_FALSE(failed.load());
  ASSERT_TRUE(killed);
  // One more catch-up: nothing may be left behind.
  ASSERT_TRUE(reader
                  ->CatchUp([&](uint64_t position,
                                const storage::ChangeRecord& change) {
                    return applied.Add(position, change);
                  })
                  .ok());

  EXPECT_GE(reader->reconnects(), 1u);
  EXPECT_NE(reader->backend_pid(), first_reader_pid);
  EXPECT_GT(rolled_back.size(), 0u);
  // Dense, in order, each once.
  ASSERT_EQ(applied.positions.size(), committed.size());
  for (size_t i = 0; i < applied.positions.size(); ++i) {
    ASSERT_EQ(applied.positions[i], i + 1) << "at index " << i;
  }
  // Exactly the committed changes, at the positions their writers got.
  std::set<std::string> seen(applied.organizations.begin(),
                             applied.organizations.end());
  EXPECT_EQ(seen.size(), applied.organizations.size()) << "a change twice";
  EXPECT_EQ(seen, committed);
  for (const std::string& organization : rolled_back) {
    EXPECT_EQ(seen.count(organization), 0u) << organization;
  }
  for (size_t i = 0; i < applied.positions.size(); ++i) {
    EXPECT_EQ(committed_at[applied.positions[i]], applied.organizations[i]);
  }
}

TEST_F(PostgresChangeFeedTest, ReaderDisconnectedCatchesUpByPosition) {
  std::unique_ptr<Connection> writer = Connect();
  ASSERT_NE(writer, nullptr);
  for (int i = 0; i < 5; ++i) Append(*writer, absl::StrCat("before-", i));
  std::unique_ptr<ChangeFeedReader> reader = OpenReader();
  ASSERT_NE(reader, nullptr);
  Applied applied;
  auto add = [&](uint64_t position, const storage::ChangeRecord& change) {
    return applied.Add(position, change);
  };
  ASSERT_EQ(*reader->CatchUp(add), 5u);

  // The connection dies; the changes committed meanwhile (whose
  // notifications it can never receive) are read after the reconnect.
  Terminate(reader->backend_pid());
  for (int i = 0; i < 5; ++i) Append(*writer, absl::StrCat("during-", i));
  absl::StatusOr<size_t> got = reader->Next(add, absl::Seconds(30));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, 5u);
  EXPECT_EQ(reader->reconnects(), 1u);
  EXPECT_EQ(reader->applied_position(), 10u);
  EXPECT_EQ(applied.positions,
            (std::vector<uint64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
  EXPECT_EQ(applied.organizations[5], "during-0");

  // And it keeps listening on the new connection: woken, not polled.
  std::thread later([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    std::unique_ptr<Connection> late = Connect();
    if (late != nullptr) Append(*late, "after");
  });
  const auto start = std::chrono::steady_clock::now();
  got = reader->Next(add, absl::Seconds(30));
  const auto waited = std::chrono::steady_clock::now() - start;
  later.join();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, 1u);
  EXPECT_EQ(applied.organizations.back(), "after");
  // Liveness only: the notification woke it long before the 30 s timeout.
  EXPECT_LT(waited, std::chrono::seconds(10));
}

TEST_F(PostgresChangeFeedTest, MissedNotificationOnlyDelaysUntilThePoll) {
  std::unique_ptr<Connection> writer = Connect();
  ASSERT_NE(writer, nullptr);
  std::unique_ptr<ChangeFeedReader> reader = OpenReader();
  ASSERT_NE(reader, nullptr);
  Applied applied;
  auto add = [&](uint64_t position, const storage::ChangeRecord& change) {
    return applied.Add(position, change);
  };
  ASSERT_EQ(*reader->CatchUp(add), 0u);
  // The writer notifies a channel nobody listens on: the reader, waiting
  // for its own channel, never hears of the commit, which lands while it
  // waits (100 ms into a 2 s wait). One call must still return it: read by
  // position when the wait times out.
  std::thread silent([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::unique_ptr<Connection> connection = Connect();
    if (connection != nullptr) Append(*connection, "silent", "elsewhere");
  });
  absl::StatusOr<size_t> got = reader->Next(add, absl::Seconds(2));
  silent.join();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, 1u);
  EXPECT_EQ(applied.organizations, std::vector<std::string>{"silent"});
  EXPECT_EQ(reader->applied_position(), 1u);
}

TEST_F(PostgresChangeFeedTest, TrimmedPositionIsOutOfRange) {
  std::unique_ptr<Connection> writer = Connect();
  ASSERT_NE(writer, nullptr);
  for (int i = 0; i < 3; ++i) Append(*writer, absl::StrCat("o", i));
  ASSERT_TRUE(
      writer->ExecScript("DELETE FROM keygate_changes WHERE position < 3").ok());
  std::unique_ptr<ChangeFeedReader> reader = OpenReader(/*applied=*/0);
  ASSERT_NE(reader, nullptr);
  Applied applied;
  absl::StatusOr<size_t> got =
      reader->CatchUp([&](uint64_t position, const storage::ChangeRecord& c) {
        return applied.Add(position, c);
      });
  EXPECT_EQ(got.status().code(), absl::StatusCode::kOutOfRange)
      << got.status();
  EXPECT_TRUE(applied.positions.empty());
  // A reader positioned at the trim point reads on.
  std::unique_ptr<ChangeFeedReader> rebuilt = OpenReader(/*applied=*/2);
  ASSERT_NE(rebuilt, nullptr);
  got = rebuilt->CatchUp([&](uint64_t position, const storage::ChangeRecord& c) {
    return applied.Add(position, c);
  });
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(applied.positions, std::vector<uint64_t>{3});
}

TEST_F(PostgresChangeFeedTest, FailedApplyIsOfferedAgain) {
  std::unique_ptr<Connection> writer = Connect();
  ASSERT_NE(writer, nullptr);
  Append(*writer, "a");
  Append(*writer, "b");
  std::unique_ptr<ChangeFeedReader> reader = OpenReader();
  ASSERT_NE(reader, nullptr);
  std::vector<uint64_t> seen;
  absl::StatusOr<size_t> got =
      reader->CatchUp([&](uint64_t position, const storage::ChangeRecord&) {
        if (position == 2) return absl::InternalError("apply failed");
        seen.push_back(position);
        return absl::OkStatus();
      });
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(reader->applied_position(), 1u);
  got = reader->CatchUp([&](uint64_t position, const storage::ChangeRecord&) {
    seen.push_back(position);
    return absl::OkStatus();
  });
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(seen, (std::vector<uint64_t>{1, 2}));
}

TEST_F(PostgresChangeFeedTest, RefusesAChannelThatIsNotAnIdentifier) {
  ChangeFeedReaderOptions options;
  options.channel = "x\"; DROP TABLE keygate_changes; --";
  EXPECT_EQ(ChangeFeedReader::Open(conninfo_, 0, options).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::unique_ptr<Connection> writer = Connect();
  ASSERT_NE(writer, nullptr);
  absl::StatusOr<Transaction> transaction = Transaction::Begin(*writer);
  ASSERT_TRUE(transaction.ok());
  EXPECT_EQ(AppendChange(*transaction, Change("o"), "Bad Channel")
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(PostgresChangeFeedTest, RefusesATransactionAboveReadCommitted) {
  std::unique_ptr<Connection> writer = Connect();
  ASSERT_NE(writer, nullptr);
  absl::StatusOr<Transaction> transaction = Transaction::Begin(*writer);
  ASSERT_TRUE(transaction.ok());
  ASSERT_TRUE(
      transaction->Exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
          .ok());
  EXPECT_EQ(AppendChange(*transaction, Change("o")).status().code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(transaction->Rollback().ok());
  EXPECT_EQ(Append(*writer, "o"), 1u);
}

// WaitUntilBlockedOnLock waits until `pid`'s backend waits for a lock.
bool WaitUntilBlockedOnLock(Connection& observer, int pid) {
  for (int i = 0; i < 200; ++i) {
    absl::StatusOr<Result> waiting = observer.Exec(
        "SELECT wait_event_type = 'Lock' FROM pg_stat_activity "
        "WHERE pid = $1::int",
        {Param::Text(std::to_string(pid))});
    if (waiting.ok() && waiting->rows() == 1 && waiting->Value(0, 0) == "t") {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return false;
}

// The trap, deterministically: A takes a sequence number, B takes the next
// and commits first. A "highest id seen" reader of a bigserial log skips
// A's row for good; the change feed, under the same interleaving, makes B
// wait for A and loses nothing.
TEST_F(PostgresChangeFeedTest, BigserialHighestIdReaderSkipsARowTheFeedDoesNot) {
  std::unique_ptr<Connection> a = Connect();
  std::unique_ptr<Connection> b = Connect();
  std::unique_ptr<Connection> observer = Connect();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_NE(observer, nullptr);

  // --- The naive log.
  ASSERT_TRUE(observer
                  ->ExecScript("CREATE TABLE naive_log (id bigserial PRIMARY "
                               "KEY, payload text NOT NULL)")
                  .ok());
  auto read_after = [&](int64_t after) {
    std::vector<int64_t> ids;
    absl::StatusOr<Result> rows = observer->Exec(
        "SELECT id FROM naive_log WHERE id > $1::bigint ORDER BY id",
        {Param::Text(std::to_string(after))});
    EXPECT_TRUE(rows.ok()) << rows.status();
    if (rows.ok()) {
      for (int r = 0; r < rows->rows(); ++r) ids.push_back(*rows->Int64(r, 0));
    }
    return ids;
  };
  {
    absl::StatusOr<Transaction> ta = Transaction::Begin(*a);
    absl::StatusOr<Transaction> tb = Transaction::Begin(*b);
    ASSERT_TRUE(ta.ok() && tb.ok());
    ASSERT_TRUE(
        ta->Exec("INSERT INTO naive_log (payload) VALUES ('A')").ok());  // 1
    ASSERT_TRUE(
        tb->Exec("INSERT INTO naive_log (payload) VALUES ('B')").ok());  // 2
    ASSERT_TRUE(tb->Commit().ok());
    int64_t highest_seen = 0;
    std::vector<int64_t> first = read_after(highest_seen);
    EXPECT_EQ(first, std::vector<int64_t>{2});
    for (int64_t id : first) highest_seen = std::max(highest_seen, id);
    ASSERT_TRUE(ta->Commit().ok());
    // A's row (id 1) is committed now, but below the highest id seen.
    EXPECT_EQ(read_after(highest_seen), std::vector<int64_t>{})
        << "the naive reader should have skipped id 1";
    EXPECT_EQ(read_after(0), (std::vector<int64_t>{1, 2}));
  }

  // --- The change feed, same interleaving.
  std::unique_ptr<ChangeFeedReader> reader = OpenReader();
  ASSERT_NE(reader, nullptr);
  Applied applied;
  auto add = [&](uint64_t position, const storage::ChangeRecord& change) {
    return applied.Add(position, change);
  };
  absl::StatusOr<Transaction> ta = Transaction::Begin(*a);
  ASSERT_TRUE(ta.ok());
  absl::StatusOr<uint64_t> position_a = AppendChange(*ta, Change("A"));
  ASSERT_TRUE(position_a.ok()) << position_a.status();
  EXPECT_EQ(*position_a, 1u);
  absl::StatusOr<uint64_t> position_b = absl::UnknownError("not run");
  const int b_pid = b->backend_pid();
  std::thread tb_thread([&] {
    absl::StatusOr<Transaction> tb = Transaction::Begin(*b);
    if (!tb.ok()) return;
    position_b = AppendChange(*tb, Change("B"));  // waits for A
    if (position_b.ok()) {
      absl::Status committed = tb->Commit();
      if (!committed.ok()) position_b = committed;
    }
  });
  // B is blocked on the append lock (not merely slow), and the reader sees
  // nothing: A's position is not committed.
  // (EXPECT, not ASSERT: B's thread must be joined whatever happens.)
  EXPECT_TRUE(WaitUntilBlockedOnLock(*observer, b_pid));
  absl::StatusOr<size_t> early = reader->CatchUp(add);
  EXPECT_TRUE(early.ok() && *early == 0) << early.status();
  EXPECT_TRUE(ta->Commit().ok());
  tb_thread.join();
  ASSERT_TRUE(position_b.ok()) << position_b.status();
  EXPECT_EQ(*position_b, 2u);
  ASSERT_TRUE(reader->CatchUp(add).ok());
  EXPECT_EQ(applied.positions, (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(applied.organizations, (std::vector<std::string>{"A", "B"}));
}

}  // namespace
}  // namespace keygate::postgres

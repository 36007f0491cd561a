// tests/postgres_schema_test.cc: lib/postgres/schema (versioned creation and
// migration) and lib/postgres/connection (errors, bytes, transactions,
// secrets), against a throwaway server (tests/support/postgres_server.h).
#include "lib/postgres/schema.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/postgres/connection.h"
#include "tests/support/postgres_server.h"

namespace keygate::postgres {
namespace {

using ::keygate::testing::PostgresEnvironment;
using ::testing::HasSubstr;
using ::testing::Not;

::testing::Environment* const kPostgres =
    ::testing::AddGlobalTestEnvironment(new PostgresEnvironment);

class PostgresSchemaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    KEYGATE_REQUIRE_POSTGRES();
    absl::StatusOr<std::string> database =
        PostgresEnvironment::server()->CreateSchema();
    ASSERT_TRUE(database.ok()) << database.status();
    conninfo_ = *database;
  }

  std::unique_ptr<Connection> Connect() {
    absl::StatusOr<std::unique_ptr<Connection>> connection =
        Connection::Open(conninfo_);
    EXPECT_TRUE(connection.ok()) << connection.status();
    return connection.ok() ? std::move(*connection) : nullptr;
  }

  std::string conninfo_;
};

const char* const kTables[] = {"keygate_schema", "keygate_kv",
                               "keygate_fleet_members"};
// Version 1's tables, which version 2 drops (never written by any keygate).
const char* const kDroppedTables[] = {
    "keygate_meta",      "keygate_accounts", "keygate_tokens",
    "keygate_token_times", "keygate_digests", "keygate_last_used",
    "keygate_webhooks",  "keygate_changes"};

TEST_F(PostgresSchemaTest, CreatesEveryTableAtTheCurrentVersion) {
  std::unique_ptr<Connection> connection = Connect();
  ASSERT_NE(connection, nullptr);
  absl::StatusOr<int> before = ReadSchemaVersion(*connection);
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(*before, 0);

  ASSERT_TRUE(EnsureSchema(*connection).ok());
  absl::StatusOr<int> version = ReadSchemaVersion(*connection);
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(*version, kSchemaVersion);
  for (const char* table : kTables) {
    absl::StatusOr<Result> exists = connection->Exec(
        "SELECT to_regclass($1) IS NOT NULL", {Param::Text(table)});
    ASSERT_TRUE(exists.ok()) << exists.status();
    EXPECT_EQ(exists->Value(0, 0), "t") << table;
  }
  for (const char* table : kDroppedTables) {
    absl::StatusOr<Result> exists = connection->Exec(
        "SELECT to_regclass($1) IS NOT NULL", {Param::Text(table)});
    ASSERT_TRUE(exists.ok()) << exists.status();
    EXPECT_EQ(exists->Value(0, 0), "f") << table;
  }
  // The constraints are real: families are not negative.
  absl::StatusOr<Result> zero = connection->Exec(
      "INSERT INTO keygate_kv VALUES (-1, $1, $1)", {Param::Bytes("r")});
  ASSERT_FALSE(zero.ok());
  EXPECT_EQ(zero.status().code(), absl::StatusCode::kFailedPrecondition)
      << zero.status();
}

TEST_F(PostgresSchemaTest, ReopeningAtTheCurrentVersionKeepsEveryRow) {
  std::unique_ptr<Connection> connection = Connect();
  ASSERT_NE(connection, nullptr);
  ASSERT_TRUE(EnsureSchema(*connection).ok());
  ASSERT_TRUE(connection
                  ->Exec("INSERT INTO keygate_kv VALUES (0, 'pepper/1', $1)",
                         {Param::Bytes(std::string("\0\xff", 2))})
                  .ok());
  std::unique_ptr<Connection> second = Connect();
  ASSERT_NE(second, nullptr);
  ASSERT_TRUE(EnsureSchema(*second).ok());
  ASSERT_TRUE(EnsureSchema(*second).ok());
  absl::StatusOr<Result> row = second->Exec(
      "SELECT value FROM keygate_kv WHERE key = 'pepper/1'", {},
      /*binary_results=*/true);
  ASSERT_TRUE(row.ok()) << row.status();
  ASSERT_EQ(row->rows(), 1);
  EXPECT_EQ(row->Value(0, 0), std::string("\0\xff", 2));
  absl::StatusOr<Result> versions =
      second->Exec("SELECT count(*) FROM keygate_schema");
  ASSERT_TRUE(versions.ok());
  EXPECT_EQ(*versions->Int64(0, 0), 1);
}

TEST_F(PostgresSchemaTest, ProcessesOpeningAtOnceAllSucceed) {
  constexpr int kOpeners = 6;
  std::vector<std::unique_ptr<Connection>> connections;
  for (int i = 0; i < kOpeners; ++i) {
    connections.push_back(Connect());
    ASSERT_NE(connections.back(), nullptr);
  }
  std::vector<absl::Status> results(kOpeners);
  std::vector<std::thread> threads;
  for (int i = 0; i < kOpeners; ++i) {
    threads.emplace_back(
        [&, i] { results[i] = EnsureSchema(*connections[i]); });
  }
  for (std::thread& thread : threads) thread.join();
  for (const absl::Status& status : results) EXPECT_TRUE(status.ok()) << status;
  absl::StatusOr<int> version = ReadSchemaVersion(*connections[0]);
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(*version, kSchemaVersion);
}

TEST_F(PostgresSchemaTest, RefusesANewerVersionAndChangesNothing) {
  std::unique_ptr<Connection> connection = Connect();
  ASSERT_NE(connection, nullptr);
  ASSERT_TRUE(EnsureSchema(*connection).ok());
  const std::string future = std::to_string(kSchemaVersion + 1);
  ASSERT_TRUE(connection
                  ->Exec("UPDATE keygate_schema SET version = $1::int",
                         {Param::Text(future)})
                  .ok());
  ASSERT_TRUE(connection->ExecScript("DROP TABLE keygate_kv").ok());

  const absl::Status refused = EnsureSchema(*connection);
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition) << refused;
  EXPECT_THAT(refused.message(), HasSubstr(future));
  absl::StatusOr<int> version = ReadSchemaVersion(*connection);
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(*version, kSchemaVersion + 1);
  // No migration ran: the dropped table was not recreated.
  absl::StatusOr<Result> exists = connection->Exec(
      "SELECT to_regclass('keygate_kv') IS NOT NULL");
  ASSERT_TRUE(exists.ok());
  EXPECT_EQ(exists->Value(0, 0), "f");
  // And the connection is usable (the refused transaction was rolled back).
  EXPECT_TRUE(connection->Exec("SELECT 1").ok());
}

// ---- Connection ------------------------------------------------------------

TEST(PostgresSqlStateTest, MapsTheRetryableAndTheFatal) {
  EXPECT_EQ(SqlStateToStatusCode("40001"), absl::StatusCode::kAborted);
  EXPECT_EQ(SqlStateToStatusCode("40P01"), absl::StatusCode::kAborted);
  EXPECT_EQ(SqlStateToStatusCode("08006"), absl::StatusCode::kUnavailable);
  EXPECT_EQ(SqlStateToStatusCode("57P01"), absl::StatusCode::kUnavailable);
  EXPECT_EQ(SqlStateToStatusCode("23505"), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(SqlStateToStatusCode("23514"),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(SqlStateToStatusCode("22P02"), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SqlStateToStatusCode("28P01"), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(SqlStateToStatusCode("42P01"), absl::StatusCode::kInternal);
  EXPECT_EQ(SqlStateToStatusCode(""), absl::StatusCode::kInternal);
  EXPECT_EQ(SqlStateToStatusCode("4000"), absl::StatusCode::kInternal);
}

TEST_F(PostgresSchemaTest, BytesRoundTripEveryByteValue) {
  std::unique_ptr<Connection> connection = Connect();
  ASSERT_NE(connection, nullptr);
  std::string every_byte;
  for (int i = 0; i < 256; ++i) every_byte.push_back(static_cast<char>(i));
  absl::StatusOr<Result> echoed =
      connection->Exec("SELECT $1::bytea", {Param::Bytes(every_byte)},
                       /*binary_results=*/true);
  ASSERT_TRUE(echoed.ok()) << echoed.status();
  EXPECT_EQ(echoed->Value(0, 0), every_byte);
  // A NUL cannot travel in a text parameter: refused, not truncated.
  absl::StatusOr<Result> nul = connection->Exec(
      "SELECT $1::text", {Param::Text(std::string("a\0b", 3))});
  EXPECT_EQ(nul.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(PostgresSchemaTest, UniqueViolationIsAlreadyExists) {
  std::unique_ptr<Connection> connection = Connect();
  ASSERT_NE(connection, nullptr);
  ASSERT_TRUE(EnsureSchema(*connection).ok());
  const char* insert = "INSERT INTO keygate_kv VALUES (0, 'k', $1)";
  ASSERT_TRUE(connection->Exec(insert, {Param::Bytes("v")}).ok());
  absl::StatusOr<Result> again = connection->Exec(insert, {Param::Bytes("v")});
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists)
      << again.status();
  EXPECT_THAT(again.status().message(), HasSubstr("23505"));
}

TEST_F(PostgresSchemaTest, SerializationFailureIsAborted) {
  std::unique_ptr<Connection> first = Connect();
  std::unique_ptr<Connection> second = Connect();
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  ASSERT_TRUE(EnsureSchema(*first).ok());
  ASSERT_TRUE(first
                  ->Exec("INSERT INTO keygate_kv VALUES (0, 'k', $1)",
                         {Param::Bytes("0")})
                  .ok());
  absl::StatusOr<Transaction> reader = Transaction::Begin(*first);
  ASSERT_TRUE(reader.ok());
  ASSERT_TRUE(reader->Exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                  .ok());
  ASSERT_TRUE(reader->Exec("SELECT value FROM keygate_kv").ok());
  ASSERT_TRUE(second
                  ->Exec("UPDATE keygate_kv SET value = $1",
                         {Param::Bytes("1")})
                  .ok());
  absl::StatusOr<Result> conflict = reader->Exec(
      "UPDATE keygate_kv SET value = $1", {Param::Bytes("2")});
  EXPECT_EQ(conflict.status().code(), absl::StatusCode::kAborted)
      << conflict.status();
  // COMMIT after a failed statement rolls back: Aborted, never OK.
  EXPECT_EQ(reader->Commit().code(), absl::StatusCode::kAborted);
  absl::StatusOr<Result> value =
      first->Exec("SELECT value FROM keygate_kv", {}, true);
  ASSERT_TRUE(value.ok());
  EXPECT_EQ(value->Value(0, 0), "1");
}

TEST_F(PostgresSchemaTest, DroppedTransactionRollsBack) {
  std::unique_ptr<Connection> connection = Connect();
  ASSERT_NE(connection, nullptr);
  ASSERT_TRUE(EnsureSchema(*connection).ok());
  {
    absl::StatusOr<Transaction> transaction = Transaction::Begin(*connection);
    ASSERT_TRUE(transaction.ok());
    ASSERT_TRUE(transaction
                    ->Exec("INSERT INTO keygate_kv VALUES (0, 'k', $1)",
                           {Param::Bytes("v")})
                    .ok());
  }
  absl::StatusOr<Result> count =
      connection->Exec("SELECT count(*) FROM keygate_kv");
  ASSERT_TRUE(count.ok()) << count.status();
  EXPECT_EQ(*count->Int64(0, 0), 0);
}

TEST_F(PostgresSchemaTest, TerminatedConnectionIsUnavailable) {
  std::unique_ptr<Connection> victim = Connect();
  std::unique_ptr<Connection> admin = Connect();
  ASSERT_NE(victim, nullptr);
  ASSERT_NE(admin, nullptr);
  const std::string pid = std::to_string(victim->backend_pid());
  ASSERT_TRUE(admin
                  ->Exec("SELECT pg_terminate_backend($1::int)",
                         {Param::Text(pid)})
                  .ok());
  absl::StatusOr<Result> after = victim->Exec("SELECT 1");
  EXPECT_EQ(after.status().code(), absl::StatusCode::kUnavailable)
      << after.status();
  EXPECT_TRUE(victim->is_broken());
  EXPECT_EQ(victim->Exec("SELECT 1").status().code(),
            absl::StatusCode::kUnavailable);
}

TEST(PostgresConnectionSecretTest, PasswordNeverInAnError) {
  const std::string password = "Hunter2-s3cr3t-pw";
  // Nothing listens on port 1; the message names host and port only.
  absl::StatusOr<std::unique_ptr<Connection>> refused = Connection::Open(
      absl::StrCat("host=127.0.0.1 port=1 user=u dbname=d password=", password),
      absl::Seconds(2));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(refused.status().ToString(), Not(HasSubstr(password)));
  // The URI form too.
  absl::StatusOr<std::unique_ptr<Connection>> uri = Connection::Open(
      absl::StrCat("postgresql://u:", password, "@127.0.0.1:1/d"),
      absl::Seconds(2));
  ASSERT_FALSE(uri.ok());
  EXPECT_THAT(uri.status().ToString(), Not(HasSubstr(password)));
  // A malformed string: libpq's own parse error would quote it.
  for (const std::string& malformed :
       {absl::StrCat("host=127.0.0.1 ", password),
        absl::StrCat("password='", password),
        absl::StrCat("postgresql://u:", password, "@[::1")}) {
    absl::StatusOr<std::unique_ptr<Connection>> bad =
        Connection::Open(malformed, absl::Seconds(2));
    ASSERT_FALSE(bad.ok()) << malformed;
    EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument)
        << bad.status();
    EXPECT_THAT(bad.status().ToString(), Not(HasSubstr(password)));
  }
}

TEST_F(PostgresSchemaTest, PasswordRedactedFromServerMessages) {
  // Trust authentication accepts any password: connect with one, then make
  // the server echo it in an error message.
  const std::string password = "Qz7-very-secret";
  absl::StatusOr<std::unique_ptr<Connection>> connection =
      Connection::Open(absl::StrCat(conninfo_, " password=", password));
  ASSERT_TRUE(connection.ok()) << connection.status();
  absl::StatusOr<Result> echoed = (*connection)->Exec(
      absl::StrCat("SELECT 1/0 AS \"", password, "\", no_such_column"));
  ASSERT_FALSE(echoed.ok());
  EXPECT_THAT(echoed.status().ToString(), Not(HasSubstr(password)));
  EXPECT_THAT(echoed.status().ToString(), HasSubstr("[redacted]"));
}

}  // namespace
}  // namespace keygate::postgres

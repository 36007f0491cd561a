// lib/postgres/connection.h: one PostgreSQL connection (libpq's C API behind
// RAII owners), parameterized statements, transactions, and libpq errors
// mapped to absl::Status in one place.
//
// Error mapping (SqlStateToStatusCode): a lost or refused connection, and
// the server shutting down or refusing connections (SQLSTATE class 08,
// 57P01-57P03), is Unavailable: retry, possibly after reconnecting. A
// serialization failure (40001) or deadlock (40P01) is Aborted: retry the
// whole transaction. A unique violation (23505) is AlreadyExists; any other
// integrity violation (class 23) FailedPrecondition; bad data (class 22)
// InvalidArgument; lock_not_available (55P03) Aborted; query_canceled (57014)
// DeadlineExceeded; insufficient resources (class 53) ResourceExhausted;
// insufficient privilege and bad credentials (42501, class 28)
// PermissionDenied; everything else Internal.
//
// Secrets: the connection string may hold a password. It is never put in a
// status message or a log: messages come from the server or libpq only, and
// any occurrence of the password in them is replaced with "[redacted]"; a
// malformed connection string gets a fixed message (libpq's own parse error
// quotes the string).
#ifndef KEYGATE_LIB_POSTGRES_CONNECTION_H_
#define KEYGATE_LIB_POSTGRES_CONNECTION_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;

namespace keygate::postgres {

// SqlStateToStatusCode maps a five-character SQLSTATE to the status code the
// file comment lists (Internal for anything unlisted or malformed).
absl::StatusCode SqlStateToStatusCode(std::string_view sqlstate);

// Param is one statement parameter: text, binary bytes (for bytea: any byte,
// NUL included) or SQL NULL. It views its bytes: they must outlive the call
// they are passed to.
struct Param {
  static Param Text(std::string_view text) { return {text, false, false}; }
  static Param Bytes(std::string_view bytes) { return {bytes, true, false}; }
  static Param Null() { return {std::string_view(), false, true}; }

  std::string_view value;
  bool binary = false;
  bool is_null = false;
};

// Result owns a PGresult of a statement that succeeded. Every column is
// returned in binary format when the statement asked for it (Exec's
// `binary_results`), text format otherwise. Movable, not copyable.
class Result {
 public:
  Result() = default;
  explicit Result(PGresult* result) : result_(result) {}
  Result(Result&& other) noexcept;
  Result& operator=(Result&& other) noexcept;
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;
  ~Result();

  int rows() const;
  int columns() const;
  bool IsNull(int row, int column) const;
  // Value views the bytes of a field (empty for NULL); valid while this
  // Result lives. REQUIRES: row < rows(), column < columns().
  std::string_view Value(int row, int column) const;
  // Int64 reads a text-format integer field. InvalidArgument if it is NULL
  // or not a decimal int64.
  absl::StatusOr<int64_t> Int64(int row, int column) const;
  // CommandStatus is the command tag ("COMMIT", "ROLLBACK", "INSERT 0 1").
  std::string_view CommandStatus() const;
  // CommandTuples is the number of rows an INSERT/UPDATE/DELETE touched.
  uint64_t CommandTuples() const;

 private:
  PGresult* result_ = nullptr;
};

// Notification is one NOTIFY the connection received.
struct Notification {
  std::string channel;
  std::string payload;
  int sender_pid = 0;
};

// Connection owns one PGconn. Not thread-safe: one thread uses a connection
// at a time (give each thread its own). Movable only through its
// unique_ptr.
class Connection {
 public:
  // Open connects with a libpq connection string ("host=... port=...
  // dbname=..." or a postgresql:// URI), waiting at most `connect_timeout`
  // (rounded up to whole seconds, at least 2: libpq's connect_timeout unit;
  // a timeout set in the string wins), with TCP keepalives after 10 s idle
  // and a 30 s tcp_user_timeout unless the string sets them (a silent
  // network fails a statement in about half a minute, not the kernel's
  // quarter of an hour). InvalidArgument for a malformed
  // string (a fixed message), Unavailable if the server cannot be reached,
  // PermissionDenied for refused credentials. The password never appears in
  // the status. A session whose default synchronous_commit is `off` (server,
  // role or connection-string setting) is raised to `on`, so every commit
  // is flushed before it is acknowledged; other levels are kept.
  static absl::StatusOr<std::unique_ptr<Connection>> Open(
      std::string_view conninfo,
      absl::Duration connect_timeout = absl::Seconds(10));

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // Exec runs one statement with parameters ($1, $2, ...). On success the
  // result (rows for a query; none for a command). On failure the mapped
  // status with the server's message (never a parameter's value, never the
  // password). A lost connection is Unavailable and leaves is_broken() true.
  absl::StatusOr<Result> Exec(std::string_view sql,
                              absl::Span<const Param> params = {},
                              bool binary_results = false);

  // ExecScript runs one or more statements without parameters (DDL). The
  // first failing statement's status; statements before it ran.
  absl::Status ExecScript(std::string_view sql);

  // WaitForNotifications waits up to `timeout` for at least one
  // notification, then returns every notification received so far (possibly
  // none: the timeout passed). Unavailable if the connection was lost while
  // waiting (is_broken() is then true). Timed on the steady clock (at most
  // 24 h). REQUIRES: no statement in progress.
  absl::StatusOr<std::vector<Notification>> WaitForNotifications(
      absl::Duration timeout);

  // is_broken says the connection is unusable (lost or never made): drop it
  // and open a new one.
  bool is_broken() const;
  // Alive reads whatever the server sent while this connection was idle
  // (without waiting) and says whether it is still usable: a session the
  // server terminated (pg_terminate_backend, a restart, an idle timeout)
  // is found here rather than by the next statement failing. REQUIRES: no
  // statement in progress.
  bool Alive();
  // backend_pid is the server process serving this connection (for
  // pg_terminate_backend in tests and for logs).
  int backend_pid() const;

 private:
  Connection(PGconn* conn, std::string password)
      : conn_(conn), password_(std::move(password)) {}
  // StatusOf builds the status of a failed statement (result may be null).
  absl::Status StatusOf(const PGresult* result, std::string_view what) const;
  // Redact replaces every occurrence of the password in `message`.
  std::string Redact(std::string_view message) const;

  PGconn* conn_;
  // The password of the connection string, to redact it from messages.
  // Wiped on destruction.
  std::string password_;
};

// Transaction is an open transaction on a connection (BEGIN at Begin). It
// rolls back in its destructor unless Commit or Rollback ran. The
// connection must outlive it and must run nothing else meanwhile except
// through it. Isolation: READ COMMITTED (the server's default) unless the
// caller changes it with SET TRANSACTION as the first statement. Not
// thread-safe; movable, not copyable.
class Transaction {
 public:
  // Begin starts a transaction. The status of BEGIN on failure.
  static absl::StatusOr<Transaction> Begin(Connection& connection);

  Transaction(Transaction&& other) noexcept;
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();

  // Exec runs a statement in the transaction (Connection::Exec). After a
  // failed statement PostgreSQL refuses everything but a rollback: the
  // caller should Rollback (or drop the Transaction).
  absl::StatusOr<Result> Exec(std::string_view sql,
                              absl::Span<const Param> params = {},
                              bool binary_results = false) {
    return connection_->Exec(sql, params, binary_results);
  }

  // Commit commits. OK means the transaction is durable as the server is
  // configured; Aborted if it was rolled back instead (a serialization
  // failure at commit, or an earlier failed statement); Unavailable if the
  // connection was lost (the outcome is then unknown to this process).
  absl::Status Commit();
  // Rollback rolls back. OK also when the connection is already lost (the
  // server rolls back a transaction whose connection dies).
  absl::Status Rollback();

  Connection& connection() const { return *connection_; }

 private:
  explicit Transaction(Connection* connection) : connection_(connection) {}
  Connection* connection_;
  bool open_ = true;
};

}  // namespace keygate::postgres

#endif  // KEYGATE_LIB_POSTGRES_CONNECTION_H_

// lib/postgres/connection.cc: libpq behind RAII owners; the one place that
// turns libpq errors into absl::Status.
#include "lib/postgres/connection.h"

#include <libpq-fe.h>
#include <poll.h>
#include <sodium.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstdlib>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "lib/base/absl_view.h"

namespace keygate::postgres {
namespace {

std::string_view StdView(absl::string_view view) {
  return std::string_view(view.data(), view.size());
}

// Trimmed is a libpq message without its trailing newline.
std::string_view Trimmed(const char* message) {
  return StdView(absl::StripTrailingAsciiWhitespace(
      message == nullptr ? "" : message));
}

// PasswordOf returns the password a parsed connection string names ("" if
// none), or nullopt if the string does not parse.
std::optional<std::string> PasswordOf(const std::string& conninfo) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (error != nullptr) PQfreemem(error);  // quotes the string: never shown
  if (options == nullptr) return std::nullopt;
  std::string password;
  for (PQconninfoOption* option = options; option->keyword != nullptr;
       ++option) {
    if (option->val != nullptr &&
        std::string_view(option->keyword) == "password") {
      password = option->val;
      sodium_memzero(option->val, password.size());
    }
  }
  PQconninfoFree(options);
  return password;
}

void Wipe(std::string& secret) {
  if (!secret.empty()) sodium_memzero(secret.data(), secret.size());
  secret.clear();
}

}  // namespace

absl::StatusCode SqlStateToStatusCode(std::string_view sqlstate) {
  if (sqlstate.size() != 5) return absl::StatusCode::kInternal;
  const std::string_view klass = sqlstate.substr(0, 2);
  if (sqlstate == "40001" || sqlstate == "40P01" || sqlstate == "55P03") {
    return absl::StatusCode::kAborted;
  }
  if (sqlstate == "23505") return absl::StatusCode::kAlreadyExists;
  if (sqlstate == "57014") return absl::StatusCode::kDeadlineExceeded;
  if (sqlstate == "57P01" || sqlstate == "57P02" || sqlstate == "57P03") {
    return absl::StatusCode::kUnavailable;
  }
  if (sqlstate == "42501") return absl::StatusCode::kPermissionDenied;
  if (klass == "08") return absl::StatusCode::kUnavailable;
  if (klass == "23") return absl::StatusCode::kFailedPrecondition;
  if (klass == "22") return absl::StatusCode::kInvalidArgument;
  if (klass == "53") return absl::StatusCode::kResourceExhausted;
  if (klass == "28") return absl::StatusCode::kPermissionDenied;
  return absl::StatusCode::kInternal;
}

// ---- Result ----------------------------------------------------------------

Result::Result(Result&& other) noexcept
    : result_(std::exchange(other.result_, nullptr)) {}

Result& Result::operator=(Result&& other) noexcept {
  if (this != &other) {
    if (result_ != nullptr) PQclear(result_);
    result_ = std::exchange(other.result_, nullptr);
  }
  return *this;
}

Result::~Result() {
  if (result_ != nullptr) PQclear(result_);
}

int Result::rows() const {
  return result_ == nullptr ? 0 : PQntuples(result_);
}

int Result::columns() const {
  return result_ == nullptr ? 0 : PQnfields(result_);
}

bool Result::IsNull(int row, int column) const {
  return PQgetisnull(result_, row, column) != 0;
}

std::string_view Result::Value(int row, int column) const {
  if (IsNull(row, column)) return std::string_view();
  return std::string_view(PQgetvalue(result_, row, column),
                          static_cast<size_t>(PQgetlength(result_, row, column)));
}

absl::StatusOr<int64_t> Result::Int64(int row, int column) const {
  if (IsNull(row, column)) {
    return absl::InvalidArgumentError("integer column is NULL");
  }
  int64_t value = 0;
  if (PQfformat(result_, column) != 0 ||
      !absl::SimpleAtoi(AbslView(Value(row, column)), &value)) {
    return absl::InvalidArgumentError("column is not a text-format integer");
  }
  return value;
}

std::string_view Result::CommandStatus() const {
  return result_ == nullptr ? std::string_view() : PQcmdStatus(result_);
}

uint64_t Result::CommandTuples() const {
  if (result_ == nullptr) return 0;
  uint64_t count = 0;
  return absl::SimpleAtoi(PQcmdTuples(result_), &count) ? count : 0;
}

// ---- Connection ------------------------------------------------------------

absl::StatusOr<std::unique_ptr<Connection>> Connection::Open(
    std::string_view conninfo, absl::Duration connect_timeout) {
  std::string info(conninfo);
  std::optional<std::string> password = PasswordOf(info);
  if (!password.has_value()) {
    Wipe(info);
    return absl::InvalidArgumentError(
        "malformed PostgreSQL connection string");
  }
  const int64_t seconds =
      std::max<int64_t>(2, absl::ToInt64Seconds(absl::Ceil(
                               connect_timeout, absl::Seconds(1))));
  const std::string timeout_text = std::to_string(seconds);
  // expand_dbname: `dbname` carries the whole string, whose own settings
  // (if any) override the defaults given before it. The defaults bound how
  // long a silent network (a dropped route, a dead server host) can hold a
  // statement: TCP keepalives probe an idle connection after 10 s, and
  // unacknowledged data fails the connection after 30 s
  // (tcp_user_timeout), instead of the kernel's many minutes.
  const char* keywords[] = {"connect_timeout",     "keepalives",
                            "keepalives_idle",     "keepalives_interval",
                            "keepalives_count",    "tcp_user_timeout",
                            "dbname",              nullptr};
  const char* values[] = {timeout_text.c_str(), "1", "10", "5", "3", "30000",
                          info.c_str(), nullptr};
  PGconn* conn = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
  Wipe(info);
  if (conn == nullptr) {
    Wipe(*password);
    return absl::ResourceExhaustedError("libpq could not allocate a connection");
  }
  std::unique_ptr<Connection> connection(
      new Connection(conn, std::move(*password)));
  // Server notices (WARNING, NOTICE) are not errors: libpq would print them
  // to stderr; drop them.
  PQsetNoticeProcessor(conn, [](void*, const char*) {}, nullptr);
  if (PQstatus(conn) != CONNECTION_OK) {
    const std::string message =
        connection->Redact(Trimmed(PQerrorMessage(conn)));
    // libpq reports refused credentials only in the message text.
    if (absl::StrContains(message, "authentication failed") ||
        absl::StrContains(message, "no pg_hba.conf entry") ||
        absl::StrContains(message, "password")) {
      return absl::PermissionDeniedError(
          absl::StrCat("PostgreSQL refused the connection: ", message));
    }
    return absl::UnavailableError(
        absl::StrCat("cannot connect to PostgreSQL: ", message));
  }
  // A commit must be flushed before it is acknowledged: a server, role or
  // connection-string default of synchronous_commit=off would let a server
  // crash lose acknowledged writes (and a fleet's revocations). Raise 'off'
  // to 'on' for the session; keep 'local' and the stronger remote_* levels.
  // A write that asks for less (PostgresDatabase::Write without sync) still
  // lowers it with SET LOCAL for its own transaction.
  if (absl::StatusOr<Result> durable = connection->Exec(
          "SELECT set_config('synchronous_commit', 'on', false) "
          "WHERE current_setting('synchronous_commit') = 'off'");
      !durable.ok()) {
    return durable.status();
  }
  return connection;
}

Connection::~Connection() {
  if (conn_ != nullptr) PQfinish(conn_);
  Wipe(password_);
}

std::string Connection::Redact(std::string_view message) const {
  if (password_.empty()) return std::string(message);
  return absl::StrReplaceAll(AbslView(message),
                             {{AbslView(password_), "[redacted]"}});
}

absl::Status Connection::StatusOf(const PGresult* result,
                                  std::string_view what) const {
  const char* state =
      result == nullptr ? nullptr
                        : PQresultErrorField(result, PG_DIAG_SQLSTATE);
  absl::StatusCode code = state == nullptr
                              ? absl::StatusCode::kInternal
                              : SqlStateToStatusCode(state);
  if (PQstatus(conn_) == CONNECTION_BAD) code = absl::StatusCode::kUnavailable;
  const char* text = result != nullptr ? PQresultErrorMessage(result) : "";
  if (text == nullptr || *text == '\0') text = PQerrorMessage(conn_);
  std::string message = Redact(Trimmed(text));
  if (message.empty()) message = "no message";
  return absl::Status(
      code, absl::StrCat(AbslView(what), ": ", message,
                         state != nullptr ? absl::StrCat(" (SQLSTATE ", state, ")")
                                          : std::string()));
}

absl::StatusOr<Result> Connection::Exec(std::string_view sql,
                                        absl::Span<const Param> params,
                                        bool binary_results) {
  if (is_broken()) {
    return absl::UnavailableError("PostgreSQL connection lost");
  }
  std::vector<const char*> values(params.size());
  std::vector<int> lengths(params.size());
  std::vector<int> formats(params.size());
  // libpq reads text parameters up to a NUL: give each its own terminated
  // copy (binary ones are read by length).
  std::vector<std::string> text_copies(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    const Param& param = params[i];
    if (param.is_null) {
      values[i] = nullptr;
      continue;
    }
    if (param.binary) {
      values[i] = param.value.data() != nullptr ? param.value.data() : "";
      lengths[i] = static_cast<int>(param.value.size());
      formats[i] = 1;
    } else {
      if (param.value.find('\0') != std::string_view::npos) {
        return absl::InvalidArgumentError(
            "a text parameter contains a NUL byte");
      }
      text_copies[i] = std::string(param.value);
      values[i] = text_copies[i].c_str();
    }
  }
  const std::string statement(sql);
  PGresult* raw = PQexecParams(conn_, statement.c_str(),
                               static_cast<int>(params.size()),
                               /*paramTypes=*/nullptr, values.data(),
                               lengths.data(), formats.data(),
                               binary_results ? 1 : 0);
  Result result(raw);
  const ExecStatusType status =
      raw == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(raw);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return StatusOf(raw, "PostgreSQL statement failed");
  }
  return result;
}

absl::Status Connection::ExecScript(std::string_view sql) {
  if (is_broken()) {
    return absl::UnavailableError("PostgreSQL connection lost");
  }
  const std::string script(sql);
  // PQexec returns the last statement's result, or the first failure's.
  PGresult* raw = PQexec(conn_, script.c_str());
  Result owner(raw);
  const ExecStatusType status =
      raw == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(raw);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return StatusOf(raw, "PostgreSQL script failed");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Notification>> Connection::WaitForNotifications(
    absl::Duration timeout) {
  std::vector<Notification> received;
  auto drain = [&] {
    while (PGnotify* notify = PQnotifies(conn_)) {
      received.push_back(Notification{notify->relname,
                                      notify->extra != nullptr ? notify->extra
                                                               : "",
                                      notify->be_pid});
      PQfreemem(notify);
    }
  };
  if (is_broken()) return absl::UnavailableError("PostgreSQL connection lost");
  // On the steady clock: a wall clock set back must not stretch the wait.
  const auto deadline =
      std::chrono::steady_clock::now() +
      absl::ToChronoNanoseconds(std::min(timeout, absl::Hours(24)));
  for (;;) {
    // Input already buffered (read while a statement ran) first.
    if (PQconsumeInput(conn_) == 0 || is_broken()) {
      return StatusOf(nullptr, "PostgreSQL connection lost");
    }
    drain();
    if (!received.empty()) return received;
    const absl::Duration left = absl::FromChrono(
        deadline - std::chrono::steady_clock::now());
    if (left <= absl::ZeroDuration()) return received;
    struct pollfd fd = {PQsocket(conn_), POLLIN, 0};
    if (fd.fd < 0) return absl::UnavailableError("PostgreSQL connection lost");
    const int ms = static_cast<int>(std::min<int64_t>(
        absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))),
        60 * 60 * 1000));
    const int ready = poll(&fd, 1, ms);
    if (ready < 0 && errno != EINTR) {
      return absl::UnavailableError("poll on the PostgreSQL socket failed");
    }
    // Readable, hung up or timed out: the loop's PQconsumeInput tells.
  }
}

bool Connection::is_broken() const {
  return conn_ == nullptr || PQstatus(conn_) == CONNECTION_BAD;
}

bool Connection::Alive() {
  // A terminated session sends its error and then closes; libpq may read
  // the error in one call and see the end of the stream only in the next.
  for (int round = 0; round < 4; ++round) {
    if (is_broken()) return false;
    struct pollfd fd = {PQsocket(conn_), POLLIN, 0};
    if (fd.fd < 0) return false;
    const int ready = poll(&fd, 1, 0);
    if (ready <= 0) return ready == 0 || errno == EINTR;
    if (PQconsumeInput(conn_) == 0) return false;
  }
  return !is_broken();
}

int Connection::backend_pid() const {
  return conn_ == nullptr ? 0 : PQbackendPID(conn_);
}

// ---- Transaction -----------------------------------------------------------

absl::StatusOr<Transaction> Transaction::Begin(Connection& connection) {
  absl::StatusOr<Result> begun = connection.Exec("BEGIN");
  if (!begun.ok()) return begun.status();
  return Transaction(&connection);
}

Transaction::Transaction(Transaction&& other) noexcept
    : connection_(other.connection_), open_(std::exchange(other.open_, false)) {}

Transaction::~Transaction() {
  if (open_) (void)Rollback();
}

absl::Status Transaction::Commit() {
  if (!open_) return absl::FailedPreconditionError("transaction already ended");
  open_ = false;
  absl::StatusOr<Result> committed = connection_->Exec("COMMIT");
  if (!committed.ok()) {
    if (committed.status().code() == absl::StatusCode::kUnavailable) {
      return committed.status();
    }
    return absl::AbortedError(absl::StrCat(
        "PostgreSQL transaction rolled back at commit: ",
        committed.status().message()));
  }
  // COMMIT of a transaction with a failed statement succeeds as ROLLBACK.
  if (committed->CommandStatus() != "COMMIT") {
    return absl::AbortedError(
        "PostgreSQL transaction rolled back at commit (an earlier statement "
        "failed)");
  }
  return absl::OkStatus();
}

absl::Status Transaction::Rollback() {
  if (!open_) return absl::FailedPreconditionError("transaction already ended");
  open_ = false;
  if (connection_->is_broken()) return absl::OkStatus();
  absl::StatusOr<Result> rolled_back = connection_->Exec("ROLLBACK");
  if (!rolled_back.ok() && connection_->is_broken()) return absl::OkStatus();
  return rolled_back.status();
}

}  // namespace keygate::postgres

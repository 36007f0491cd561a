// lib/postgres/postgres_database.cc: storage::Database on PostgreSQL.
#include "lib/postgres/postgres_database.h"

#include <sodium.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "lib/base/absl_view.h"
#include "lib/postgres/schema.h"

namespace keygate::postgres {
namespace {

std::string FamilyText(storage::Family family) {
  return std::to_string(static_cast<int>(family));
}

// PrefixEnd is the smallest key greater than every key starting with
// `prefix`, or nullopt if there is none (empty, or every byte 0xff).
std::optional<std::string> PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    unsigned char last = static_cast<unsigned char>(end.back());
    if (last != 0xff) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();
  }
  return std::nullopt;
}

absl::Status Context(const absl::Status& status, std::string_view what) {
  if (status.ok()) return status;
  return absl::Status(status.code(),
                      absl::StrCat(AbslView(what), ": ", status.message()));
}

}  // namespace

absl::StatusOr<std::unique_ptr<PostgresDatabase>> PostgresDatabase::Open(
    std::string_view conninfo, PostgresDatabaseOptions options) {
  absl::StatusOr<std::unique_ptr<Connection>> writer =
      Connection::Open(conninfo, options.connect_timeout);
  if (!writer.ok()) return writer.status();
  if (absl::Status s = EnsureSchema(**writer); !s.ok()) return s;
  absl::StatusOr<std::unique_ptr<Connection>> reader =
      Connection::Open(conninfo, options.connect_timeout);
  if (!reader.ok()) return reader.status();
  return std::unique_ptr<PostgresDatabase>(
      new PostgresDatabase(std::string(conninfo), options,
                           *std::move(writer), *std::move(reader)));
}

PostgresDatabase::~PostgresDatabase() {
  (void)Close();
  if (!conninfo_.empty()) sodium_memzero(conninfo_.data(), conninfo_.size());
}

absl::StatusOr<Connection*> PostgresDatabase::Usable(
    std::unique_ptr<Connection>& connection) const {
  if (connection != nullptr && connection->Alive()) return connection.get();
  connection.reset();
  absl::StatusOr<std::unique_ptr<Connection>> fresh =
      Connection::Open(conninfo_, options_.connect_timeout);
  if (!fresh.ok()) return fresh.status();
  connection = *std::move(fresh);
  return connection.get();
}

absl::Status PostgresDatabase::CatchUpWithPrimary() {
  return absl::FailedPreconditionError("not a follower: nothing to catch up");
}

absl::Status PostgresDatabase::Close() {
  {
    absl::MutexLock lock(&write_mu_);
    if (closed_) return absl::OkStatus();
    closed_ = true;
    // Closing the session releases a session advisory lock it holds.
    write_locked_ = false;
    writer_.reset();
  }
  absl::MutexLock lock(&read_mu_);
  reader_.reset();
  return absl::OkStatus();
}

absl::StatusOr<std::optional<std::string>> PostgresDatabase::Get(
    storage::Family family, std::string_view key) const {
  absl::MutexLock lock(&read_mu_);
  absl::StatusOr<Connection*> connection = Usable(reader_);
  if (!connection.ok()) return Context(connection.status(), "reading store");
  const std::string family_text = FamilyText(family);
  absl::StatusOr<Result> row = (*connection)->Exec(
      "SELECT value FROM keygate_kv WHERE family = $1::smallint AND key = $2",
      {Param::Text(family_text), Param::Bytes(key)}, /*binary_results=*/true);
  if (!row.ok()) return Context(row.status(), "reading store");
  if (row->rows() == 0) return std::optional<std::string>();
  return std::optional<std::string>(std::string(row->Value(0, 0)));
}

absl::Status PostgresDatabase::Write(storage::Batch& batch, bool sync) {
  absl::MutexLock lock(&write_mu_);
  if (closed_) return absl::FailedPreconditionError("the database is closed");
  if (write_locked_ && (writer_ == nullptr || !writer_->Alive())) {
    return absl::UnavailableError(
        "writing store: the connection holding the fleet write lock was lost");
  }
  absl::StatusOr<Transaction> transaction = BeginWrite();
  if (!transaction.ok()) return Context(transaction.status(), "writing store");
  if (!sync) {
    if (absl::StatusOr<Result> set =
            transaction->Exec("SET LOCAL synchronous_commit TO off");
        !set.ok()) {
      return Context(set.status(), "writing store");
    }
  }
  for (const storage::Batch::Op& op : batch.ops()) {
    const std::string family_text = FamilyText(op.family);
    absl::StatusOr<Result> done =
        op.is_delete
            ? transaction->Exec(
                  "DELETE FROM keygate_kv WHERE family = $1::smallint AND "
                  "key = $2",
                  {Param::Text(family_text), Param::Bytes(op.key)})
            : transaction->Exec(
                  "INSERT INTO keygate_kv (family, key, value) "
                  "VALUES ($1::smallint, $2, $3) ON CONFLICT (family, key) "
                  "DO UPDATE SET value = EXCLUDED.value",
                  {Param::Text(family_text), Param::Bytes(op.key),
                   Param::Bytes(op.value)});
    if (!done.ok()) return Context(done.status(), "writing store");
  }
  if (absl::StatusOr<Result> notified = transaction->Exec(
          absl::StrCat("NOTIFY ", AbslView(kWriteChannel)));
      !notified.ok()) {
    return Context(notified.status(), "writing store");
  }
  return Context(transaction->Commit(), "writing store");
}

absl::StatusOr<Transaction> PostgresDatabase::BeginWrite() {
  absl::StatusOr<Connection*> connection = Usable(writer_);
  if (!connection.ok()) return connection.status();
  absl::StatusOr<Transaction> transaction = Transaction::Begin(**connection);
  // Not holding the lock, a session the server ended just now (idle) is
  // replaced once: a failed BEGIN wrote nothing.
  if (transaction.ok() || write_locked_ || !(*connection)->is_broken()) {
    return transaction;
  }
  connection = Usable(writer_);
  if (!connection.ok()) return connection.status();
  return Transaction::Begin(**connection);
}

uint64_t PostgresDatabase::EstimateKeyCount(storage::Family family) const {
  absl::MutexLock lock(&read_mu_);
  absl::StatusOr<Connection*> connection = Usable(reader_);
  if (!connection.ok()) return 0;
  const std::string family_text = FamilyText(family);
  absl::StatusOr<Result> row = (*connection)->Exec(
      "SELECT count(*) FROM keygate_kv WHERE family = $1::smallint",
      {Param::Text(family_text)});
  if (!row.ok() || row->rows() != 1) return 0;
  absl::StatusOr<int64_t> count = row->Int64(0, 0);
  return count.ok() && *count > 0 ? static_cast<uint64_t>(*count) : 0;
}

absl::Status PostgresDatabase::Scan(
    storage::Family family, std::string_view prefix,
    std::string_view start_after,
    const std::function<bool(std::string_view, std::string_view)>& visit)
    const {
  const std::string family_text = FamilyText(family);
  const std::optional<std::string> end = PrefixEnd(prefix);
  const std::string limit = std::to_string(kScanPageRows);
  // The first page starts at the prefix (inclusive) or strictly after
  // prefix + start_after; every next page strictly after the last key.
  std::string from(prefix);
  from.append(start_after);
  bool inclusive = start_after.empty();
  for (;;) {
    std::string sql = absl::StrCat(
        "SELECT key, value FROM keygate_kv WHERE family = $1::smallint AND "
        "key ",
        inclusive ? ">=" : ">", " $2",
        end.has_value() ? " AND key < $4" : "", " ORDER BY key LIMIT $3::int");
    std::vector<Param> params = {Param::Text(family_text), Param::Bytes(from),
                                 Param::Text(limit)};
    if (end.has_value()) params.push_back(Param::Bytes(*end));
    absl::StatusOr<Result> page;
    {
      absl::MutexLock lock(&read_mu_);
      absl::StatusOr<Connection*> connection = Usable(reader_);
      if (!connection.ok()) {
        return Context(connection.status(), "scanning store");
      }
      page = (*connection)->Exec(sql, params, /*binary_results=*/true);
    }
    if (!page.ok()) return Context(page.status(), "scanning store");
    const int rows = page->rows();
    for (int row = 0; row < rows; ++row) {
      if (!visit(page->Value(row, 0), page->Value(row, 1))) {
        return absl::OkStatus();
      }
    }
    if (rows < kScanPageRows) return absl::OkStatus();
    from.assign(page->Value(rows - 1, 0));
    inclusive = false;
  }
}

absl::Status PostgresDatabase::LockWrites() {
  absl::MutexLock lock(&write_mu_);
  if (closed_) return absl::FailedPreconditionError("the database is closed");
  auto millis = [](absl::Duration d) {
    return absl::StrCat(std::max<int64_t>(1, absl::ToInt64Milliseconds(d)),
                        "ms");
  };
  const std::string timeout = millis(options_.write_lock_timeout);
  const std::string idle = millis(options_.stalled_lock_holder_timeout);
  absl::StatusOr<Connection*> connection;
  // Twice at most: the server may end the idle session (idle_session_timeout)
  // between Usable's check and this first statement; nothing is held yet.
  for (int attempt = 0;; ++attempt) {
    connection = Usable(writer_);
    if (!connection.ok()) {
      return Context(connection.status(), "taking the fleet write lock");
    }
    absl::StatusOr<Result> set = (*connection)->Exec(
        "SELECT set_config('lock_timeout', $1, false), "
        "set_config('idle_session_timeout', $2, false)",
        {Param::Text(timeout), Param::Text(idle)});
    if (set.ok()) break;
    if (attempt > 0 || !(*connection)->is_broken()) {
      return Context(set.status(), "taking the fleet write lock");
    }
  }
  const std::string key = std::to_string(kFleetWriteLockKey);
  absl::StatusOr<Result> locked = (*connection)->Exec(
      "SELECT pg_advisory_lock($1::bigint)", {Param::Text(key)});
  if (!locked.ok()) {
    // lock_not_available maps to Aborted; to the caller a peer that holds
    // the lock past the timeout is an unavailable store: retry later.
    if (absl::IsAborted(locked.status())) {
      return absl::UnavailableError(
          "another keygate process holds the fleet write lock past "
          "the lock timeout");
    }
    return Context(locked.status(), "taking the fleet write lock");
  }
  write_locked_ = true;
  return absl::OkStatus();
}

void PostgresDatabase::UnlockWrites() {
  absl::MutexLock lock(&write_mu_);
  if (!write_locked_) return;
  write_locked_ = false;
  if (writer_ == nullptr || writer_->is_broken()) return;
  const std::string key = std::to_string(kFleetWriteLockKey);
  absl::StatusOr<Result> unlocked = writer_->Exec(
      "SELECT pg_advisory_unlock($1::bigint)", {Param::Text(key)});
  // If even that fails, drop the session: that releases the lock.
  if (!unlocked.ok()) writer_.reset();
}

int PostgresDatabase::write_backend_pid() const {
  absl::MutexLock lock(&write_mu_);
  return writer_ == nullptr ? 0 : writer_->backend_pid();
}

}  // namespace keygate::postgres

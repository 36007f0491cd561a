// lib/postgres/change_feed.cc: appending to and tailing keygate_changes.
#include "lib/postgres/change_feed.h"

#include <sodium.h>

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace keygate::postgres {
namespace {

// IsPlainChannel accepts lower-case SQL identifiers of at most 63 bytes
// (NAMEDATALEN - 1), so LISTEN's quoted name and pg_notify's text agree.
bool IsPlainChannel(std::string_view channel) {
  if (channel.empty() || channel.size() > 63) return false;
  for (size_t i = 0; i < channel.size(); ++i) {
    const char c = channel[i];
    const bool ok = (c >= 'a' && c <= 'z') || c == '_' ||
                    (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

uint64_t ReadBigEndian64(std::string_view bytes) {
  uint64_t value = 0;
  for (unsigned char c : bytes) value = (value << 8) | c;
  return value;
}

}  // namespace

absl::StatusOr<uint64_t> AppendChange(Transaction& transaction,
                                      const storage::ChangeRecord& change,
                                      std::string_view channel) {
  if (!IsPlainChannel(channel)) {
    return absl::InvalidArgumentError(
        "change channel must be a lower-case SQL identifier");
  }
  const std::string lock_key = std::to_string(kChangeLogLockKey);
  // Held until the transaction ends: the next appender waits for our commit
  // (or rollback) before it reads max(position).
  absl::StatusOr<Result> locked = transaction.Exec(
      "SELECT pg_advisory_xact_lock($1::bigint), "
      "current_setting('transaction_isolation')",
      {Param::Text(lock_key)});
  if (!locked.ok()) return locked.status();
  if (locked->Value(0, 1) != "read committed") {
    // A snapshot older than the lock could miss the previous append.
    return absl::FailedPreconditionError(
        "AppendChange needs a READ COMMITTED transaction");
  }
  const std::string record = storage::EncodeChange(change);
  const std::string written_at =
      std::to_string(absl::ToUnixMicros(change.written_at));
  // A new statement: READ COMMITTED takes its snapshot now, after the lock,
  // so it sees the previous appender's committed row.
  absl::StatusOr<Result> inserted = transaction.Exec(
      "INSERT INTO keygate_changes (position, written_at, record) "
      "SELECT COALESCE(MAX(position), 0) + 1, $1::bigint, $2::bytea "
      "FROM keygate_changes RETURNING position",
      {Param::Text(written_at), Param::Bytes(record)});
  if (!inserted.ok()) return inserted.status();
  if (inserted->rows() != 1) {
    return absl::InternalError("change log insert returned no position");
  }
  absl::StatusOr<int64_t> position = inserted->Int64(0, 0);
  if (!position.ok()) return position.status();
  const std::string payload = std::to_string(*position);
  if (absl::StatusOr<Result> notified = transaction.Exec(
          "SELECT pg_notify($1, $2)",
          {Param::Text(channel), Param::Text(payload)});
      !notified.ok()) {
    return notified.status();
  }
  return static_cast<uint64_t>(*position);
}

absl::StatusOr<std::unique_ptr<ChangeFeedReader>> ChangeFeedReader::Open(
    std::string_view conninfo, uint64_t applied_position,
    ChangeFeedReaderOptions options) {
  if (!IsPlainChannel(options.channel)) {
    return absl::InvalidArgumentError(
        "change channel must be a lower-case SQL identifier");
  }
  if (options.batch_size < 1) options.batch_size = 1;
  std::unique_ptr<ChangeFeedReader> reader(new ChangeFeedReader(
      std::string(conninfo), applied_position, std::move(options)));
  if (absl::Status connected = reader->Connect(); !connected.ok()) {
    return connected;
  }
  return reader;
}

ChangeFeedReader::~ChangeFeedReader() {
  connection_.reset();
  if (!conninfo_.empty()) sodium_memzero(conninfo_.data(), conninfo_.size());
}

int ChangeFeedReader::backend_pid() const {
  return connection_ == nullptr ? 0 : connection_->backend_pid();
}

absl::Status ChangeFeedReader::Connect() {
  connection_.reset();
  absl::StatusOr<std::unique_ptr<Connection>> connection =
      Connection::Open(conninfo_, options_.connect_timeout);
  if (!connection.ok()) return connection.status();
  if (connected_once_) ++reconnects_;
  connected_once_ = true;
  // LISTEN before the first read: a commit after that read notifies us.
  if (absl::Status listening = (*connection)->ExecScript(
          absl::StrCat("LISTEN \"", options_.channel, "\""));
      !listening.ok()) {
    return listening;
  }
  connection_ = std::move(*connection);
  return absl::OkStatus();
}

absl::Status ChangeFeedReader::EnsureConnected() {
  if (connection_ != nullptr && !connection_->is_broken()) {
    return absl::OkStatus();
  }
  return Connect();
}

absl::StatusOr<size_t> ChangeFeedReader::ReadOnce(Apply apply, bool* more) {
  *more = false;
  const std::string after = std::to_string(applied_position_);
  const std::string limit = std::to_string(options_.batch_size);
  absl::StatusOr<Result> rows = connection_->Exec(
      "SELECT position, record FROM keygate_changes "
      "WHERE position > $1::bigint ORDER BY position LIMIT $2::int",
      {Param::Text(after), Param::Text(limit)}, /*binary_results=*/true);
  if (!rows.ok()) return rows.status();
  size_t applied = 0;
  for (int row = 0; row < rows->rows(); ++row) {
    const std::string_view position_bytes = rows->Value(row, 0);
    if (position_bytes.size() != 8) {
      return absl::DataLossError("change log position is not an int8");
    }
    const uint64_t position = ReadBigEndian64(position_bytes);
    if (position != applied_position_ + 1) {
      if (row == 0) {
        return absl::OutOfRangeError(absl::StrCat(
            "change log position ", applied_position_ + 1,
            " was trimmed (the oldest kept is ", position,
            "): rebuild from the tables"));
      }
      return absl::DataLossError(absl::StrCat(
          "change log skips from position ", applied_position_, " to ",
          position));
    }
    storage::ChangeRecord change;
    if (absl::Status decoded =
            storage::DecodeChange(rows->Value(row, 1), &change);
        !decoded.ok()) {
      return absl::DataLossError(absl::StrCat(
          "change log record ", position, ": ", decoded.message()));
    }
    if (absl::Status status = apply(position, change); !status.ok()) {
      return status;
    }
    applied_position_ = position;
    ++applied;
  }
  *more = rows->rows() == options_.batch_size;
  return applied;
}

absl::StatusOr<size_t> ChangeFeedReader::CatchUp(Apply apply) {
  size_t total = 0;
  bool reconnected = false;
  for (;;) {
    if (absl::Status connected = EnsureConnected(); !connected.ok()) {
      return connected;
    }
    bool more = false;
    absl::StatusOr<size_t> applied = ReadOnce(apply, &more);
    if (!applied.ok()) {
      // A connection lost mid-read: reconnect once and read again from the
      // position reached (nothing is applied twice: applied_position_
      // advanced record by record).
      if (applied.status().code() == absl::StatusCode::kUnavailable &&
          !reconnected) {
        reconnected = true;
        connection_.reset();
        continue;
      }
      return applied.status();
    }
    total += *applied;
    if (!more) return total;
  }
}

absl::StatusOr<size_t> ChangeFeedReader::Next(Apply apply,
                                              absl::Duration timeout) {
  absl::StatusOr<size_t> applied = CatchUp(apply);
  if (!applied.ok() || *applied > 0) return applied;
  absl::StatusOr<std::vector<Notification>> notified =
      connection_->WaitForNotifications(timeout);
  // Notified, timed out, or lost the connection: read by position in every
  // case (CatchUp reconnects a lost connection first).
  if (!notified.ok()) connection_.reset();
  return CatchUp(apply);
}

}  // namespace keygate::postgres

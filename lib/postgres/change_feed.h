// lib/postgres/change_feed.h: the PostgreSQL change log (table
// keygate_changes, docs/postgres-schema.md): writers append one record per
// committed write in the write's own transaction; every process tails it in
// position order.
//
// Why positions are dense and commit-ordered (the trap this avoids): a
// sequence (bigserial) is assigned when a row is INSERTed, not when its
// transaction commits. Transaction A takes id 1, B takes id 2 and commits
// first; a reader that remembers "the highest id I saw" reads 2, moves past
// 1, and never sees A's row when A commits (tests/postgres_change_feed_test.cc
// shows it). Here AppendChange first takes pg_advisory_xact_lock
// (kChangeLogLockKey), which PostgreSQL releases only after the transaction
// has committed (and become visible) or rolled back, and only then reads
// max(position) + 1 with a fresh READ COMMITTED snapshot. So a writer gets
// position p + 1 only after the writer of p has finished: positions are
// handed out in commit order, a rolled-back writer's position is taken by
// the next one (no holes), and when a reader sees position p committed,
// every position below p is committed too or will never exist. A reader
// therefore never needs to look back. The price: appends to one log are
// serialized for the rest of their transactions (keep write transactions
// short; a keygate write is a handful of rows).
//
// Wake-ups: AppendChange also NOTIFYs `channel` with the position (delivered
// at commit). ChangeFeedReader LISTENs before it reads, so a commit after a
// read always wakes it; but a notification can still be missed (a dropped
// connection, another channel, a server restart), so the reader also reads
// by position whenever a wait times out and after every reconnect: a missed
// notification delays an update by at most the wait's timeout, and never
// loses it.
#ifndef KEYGATE_LIB_POSTGRES_CHANGE_FEED_H_
#define KEYGATE_LIB_POSTGRES_CHANGE_FEED_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "lib/postgres/connection.h"
#include "lib/storage/change_record.h"

namespace keygate::postgres {

// kChangeLogLockKey is the pg_advisory_xact_lock key serializing appends to
// keygate_changes ("kgchange" in ASCII).
inline constexpr int64_t kChangeLogLockKey = 0x6b676368616e6765;

// kDefaultChangeChannel is the NOTIFY channel of the change log.
inline constexpr std::string_view kDefaultChangeChannel = "keygate_changes";

// AppendChange appends `change` (storage::EncodeChange bytes) to
// keygate_changes in `transaction`, at the next position, and queues a
// NOTIFY on `channel` with the position (decimal) for the commit. Returns
// the position, which is final once the transaction commits (a rollback
// discards it, and the next append takes it). Blocks while another
// transaction holds the append lock, i.e. until the previous appender
// commits or rolls back. `transaction` must run at READ COMMITTED (the
// default): a REPEATABLE READ snapshot taken before the lock could miss the
// previous append, so any other level is FailedPrecondition.
// InvalidArgument if `channel` is not a lower-case SQL identifier.
// Otherwise the transaction's status (Aborted, Unavailable, ...); the caller
// rolls back.
absl::StatusOr<uint64_t> AppendChange(
    Transaction& transaction, const storage::ChangeRecord& change,
    std::string_view channel = kDefaultChangeChannel);

// ChangeFeedReaderOptions configures a ChangeFeedReader.
struct ChangeFeedReaderOptions {
  // The channel to LISTEN on (the writers' AppendChange channel).
  // Default: kDefaultChangeChannel.
  std::string channel = std::string(kDefaultChangeChannel);
  // At most this many records are read per statement (a long backlog is
  // read in several).
  // Default: 1000.
  int batch_size = 1000;
  // The connect timeout of every (re)connection.
  // Default: 10 s.
  absl::Duration connect_timeout = absl::Seconds(10);
};

// ChangeFeedReader tails keygate_changes from a position: it applies every
// committed record after it exactly once, in position order, and survives
// lost notifications and lost connections (see the file comment). It keeps
// its own connection (a copy of the connection string, wiped on
// destruction). Not thread-safe: one thread drives a reader.
class ChangeFeedReader {
 public:
  // Apply receives one record and its position. A non-OK status stops the
  // reader before that position (it is offered again on the next call).
  using Apply =
      absl::FunctionRef<absl::Status(uint64_t, const storage::ChangeRecord&)>;

  // Open connects, LISTENs, and positions the reader after
  // `applied_position` (0: from the start). The connection's status on
  // failure; InvalidArgument for a channel that is not a plain identifier.
  static absl::StatusOr<std::unique_ptr<ChangeFeedReader>> Open(
      std::string_view conninfo, uint64_t applied_position,
      ChangeFeedReaderOptions options = {});

  ChangeFeedReader(const ChangeFeedReader&) = delete;
  ChangeFeedReader& operator=(const ChangeFeedReader&) = delete;
  ~ChangeFeedReader();

  // CatchUp applies every record committed after applied_position(), in
  // order, reconnecting once first if the connection was lost. Returns how
  // many it applied. Errors (applied_position() then says how far it got):
  // Unavailable if the database cannot be reached (call again later);
  // OutOfRange if the next position was trimmed from the log (rebuild from
  // the tables, then Open at the log's newest position); DataLoss for a
  // record that does not decode or a hole in the positions (which the
  // append lock rules out); Apply's status.
  absl::StatusOr<size_t> CatchUp(Apply apply);

  // Next waits for changes: it catches up, and if nothing was new waits up
  // to `timeout` for a notification, then catches up again whether one came
  // or not (so a missed notification delays at most `timeout`). Returns how
  // many records it applied (0: none within `timeout`). Errors as CatchUp.
  absl::StatusOr<size_t> Next(Apply apply, absl::Duration timeout);

  // applied_position is the position of the last record applied.
  uint64_t applied_position() const { return applied_position_; }
  // reconnects counts the connections opened after the first.
  uint64_t reconnects() const { return reconnects_; }
  // backend_pid is the server process of the current connection (0 if none).
  int backend_pid() const;

 private:
  ChangeFeedReader(std::string conninfo, uint64_t applied_position,
                   ChangeFeedReaderOptions options)
      : conninfo_(std::move(conninfo)),
        options_(std::move(options)),
        applied_position_(applied_position) {}

  // Connect opens the connection and LISTENs (before any read, so no commit
  // after the read goes unnoticed).
  absl::Status Connect();
  // EnsureConnected reconnects a lost connection.
  absl::Status EnsureConnected();
  // ReadOnce applies one batch; sets *more if the batch was full.
  absl::StatusOr<size_t> ReadOnce(Apply apply, bool* more);

  std::string conninfo_;
  ChangeFeedReaderOptions options_;
  std::unique_ptr<Connection> connection_;
  uint64_t applied_position_;
  uint64_t reconnects_ = 0;
  bool connected_once_ = false;
};

}  // namespace keygate::postgres

#endif  // KEYGATE_LIB_POSTGRES_CHANGE_FEED_H_

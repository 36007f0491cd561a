// lib/postgres/postgres_database.h: the PostgreSQL implementation of
// storage::Database: the store's keys and values, byte for byte as RocksDB
// holds them, in one table keygate_kv(family, key, value)
// (docs/postgres-schema.md).
//
// bytea compares bytewise (memcmp, then length), which is RocksDB's default
// comparator: scans return keys in the same order on both backends.
//
// Connections: one for writes and one for reads, each used under its own
// mutex (reads never wait for a write transaction, and a write never waits
// for a long scan). A connection found broken is replaced by a new one on
// the next call that needs it. Scans read pages of kScanPageRows rows
// (keyset pagination on the key) with no lock held while the visitor runs.
//
// Fleet writes: several processes may open one database. The fleet write
// lock (LockWrites / UnlockWrites) is a PostgreSQL session advisory lock
// (kFleetWriteLockKey) held on the write connection, whose session the
// server ends when it idles longer than stalled_lock_holder_timeout (so a
// stalled holder releases it). It needs a direct connection or session
// pooling: a transaction-pooling proxy (PgBouncer's pool_mode=transaction)
// would run the lock and the write in different sessions. The store takes it
// around every write so that its in-memory checks see every other process's
// committed writes first (lib/store/fleet.cc). Every committed Write
// NOTIFYs kWriteChannel so peers wake up at once.
#ifndef KEYGATE_LIB_POSTGRES_POSTGRES_DATABASE_H_
#define KEYGATE_LIB_POSTGRES_POSTGRES_DATABASE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "lib/postgres/connection.h"
#include "lib/storage/database.h"

namespace keygate::postgres {

// kFleetWriteLockKey is the session advisory lock key serializing the
// writes of every store on one database ("kgwrites" in ASCII).
inline constexpr int64_t kFleetWriteLockKey = 0x6b67777269746573;

// kWriteChannel is the NOTIFY channel every committed Write signals.
inline constexpr std::string_view kWriteChannel = "keygate_writes";

// kScanPageRows is how many rows a Scan reads per statement.
inline constexpr int kScanPageRows = 1000;

// PostgresDatabaseOptions configures a PostgresDatabase.
struct PostgresDatabaseOptions {
  // The connect timeout of every connection (libpq connect_timeout).
  // Default: 10 s.
  absl::Duration connect_timeout = absl::Seconds(10);
  // How long LockWrites waits for the fleet write lock before it gives up
  // with Unavailable (a peer stuck holding it).
  // Default: 10 s.
  absl::Duration write_lock_timeout = absl::Seconds(10);
  // How long the write connection may sit idle (no statement running)
  // before the server ends its session (PostgreSQL's idle_session_timeout,
  // set on that session only; PostgreSQL 14 or newer). A process that
  // stalls while it holds the fleet write lock (stopped, paused, cut off)
  // thus releases it after this long instead of blocking every other
  // process's writes; a healthy one holds it for one write's statements.
  // An idle write connection ended this way is reopened on the next write.
  // Default: 30 s.
  absl::Duration stalled_lock_holder_timeout = absl::Seconds(30);
};

// PostgresDatabase is a storage::Database in PostgreSQL. Thread-safe (see
// the file comment); Close must not race with other calls.
class PostgresDatabase final : public storage::Database {
 public:
  // Open connects (twice: writes and reads) with the libpq connection
  // string `conninfo` and creates or migrates keygate's schema
  // (EnsureSchema). Connection errors as Connection::Open (the password is
  // never in the status); EnsureSchema's errors.
  static absl::StatusOr<std::unique_ptr<PostgresDatabase>> Open(
      std::string_view conninfo, PostgresDatabaseOptions options = {});
  ~PostgresDatabase() override;

  // is_follower: never (followers are RocksDB-only).
  bool is_follower() const override { return false; }
  // CatchUpWithPrimary: FailedPrecondition (reads are always current).
  absl::Status CatchUpWithPrimary() override;
  // Close releases the fleet write lock if held and closes both
  // connections; idempotent. Every committed Write is already durable.
  absl::Status Close() override;

  // Get is one SELECT.
  absl::StatusOr<std::optional<std::string>> Get(
      storage::Family family, std::string_view key) const override;
  // Write runs the batch's upserts and deletes in order in one transaction
  // and NOTIFYs kWriteChannel at commit. Without `sync` the commit does not
  // wait for the server's WAL flush (synchronous_commit off for this
  // transaction: a server crash may lose it, never half of it).
  absl::Status Write(storage::Batch& batch, bool sync) override;
  // EstimateKeyCount counts the family's rows (exact at the time; 0 on
  // error).
  uint64_t EstimateKeyCount(storage::Family family) const override;
  // Scan reads ordered pages of kScanPageRows rows (see the file comment).
  absl::Status Scan(storage::Family family, std::string_view prefix,
                    std::string_view start_after,
                    const std::function<bool(std::string_view key,
                                             std::string_view value)>& visit)
      const override;

  // LockWrites takes the fleet write lock (kFleetWriteLockKey) on the write
  // connection, waiting at most write_lock_timeout: Unavailable when it
  // passes (a peer holds the lock that long) or the server is unreachable.
  // REQUIRES: this process does not hold it already (the store's write
  // mutex guarantees it).
  absl::Status LockWrites();
  // UnlockWrites releases it. A lost connection has released it already.
  void UnlockWrites();

  // write_backend_pid is the server process of the write connection (0 if
  // none), for tests that kill it.
  int write_backend_pid() const;

 private:
  PostgresDatabase(std::string conninfo, PostgresDatabaseOptions options,
                   std::unique_ptr<Connection> writer,
                   std::unique_ptr<Connection> reader)
      : conninfo_(std::move(conninfo)),
        options_(options),
        writer_(std::move(writer)),
        reader_(std::move(reader)) {}

  // Usable returns `connection`, reconnected first if it is missing or
  // no longer Alive (the server ended the idle session).
  absl::StatusOr<Connection*> Usable(std::unique_ptr<Connection>& connection)
      const;

  // BeginWrite opens a transaction on the write connection (see Write).
  absl::StatusOr<Transaction> BeginWrite()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);

  // The connection string, for reconnecting; wiped on destruction.
  std::string conninfo_;
  const PostgresDatabaseOptions options_;
  mutable absl::Mutex write_mu_;
  mutable std::unique_ptr<Connection> writer_ ABSL_GUARDED_BY(write_mu_);
  mutable absl::Mutex read_mu_;
  mutable std::unique_ptr<Connection> reader_ ABSL_GUARDED_BY(read_mu_);
  // LockWrites succeeded and UnlockWrites has not run: the write
  // connection must not be replaced meanwhile (a new session would not hold
  // the lock), so a Write on a lost one fails instead.
  bool write_locked_ ABSL_GUARDED_BY(write_mu_) = false;
  bool closed_ ABSL_GUARDED_BY(write_mu_) = false;
};

}  // namespace keygate::postgres

#endif  // KEYGATE_LIB_POSTGRES_POSTGRES_DATABASE_H_

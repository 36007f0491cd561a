// lib/storage/rocks_database.h: the RocksDB implementation of Database.
//
// The only file that talks to RocksDB. It converts every rocksdb::Status in
// one place (ToStatus) and exposes the column families of the schema
// (docs/storage-schema.md) by name.
#ifndef KEYGATE_LIB_STORAGE_ROCKS_DATABASE_H_
#define KEYGATE_LIB_STORAGE_ROCKS_DATABASE_H_

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/storage/database.h"

namespace rocksdb {
class ColumnFamilyHandle;
class DB;
class Env;
class FileSystem;
}  // namespace rocksdb

namespace keygate::storage {

// RocksDatabase owns an open RocksDB instance. Safe for concurrent use;
// Close must not race with other calls (the store guarantees that).
class RocksDatabase final : public Database {
 public:
  // Open opens or creates the database at `path`. FailedPrecondition if it
  // is locked by another process or another open instance.
  //
  // The store is owner-only (lib/storage/private_file_system.h): the store
  // directory is 0700 and every file RocksDB creates in it 0600, whatever
  // the umask. A store of an older keygate (0755 directory, 0644 files) is
  // tightened to those modes before it is opened, silently: its modes came
  // from an old default, not from a choice, and refusing would make every
  // upgrade a manual step. Symbolic links in it are not followed. An
  // existing directory that holds no store gets only its own mode tightened,
  // and only when a store is being created in it; FailedPrecondition if a
  // mode cannot be set (another user's directory, for example).
  //
  // The WAL is replayed in kTolerateCorruptedTailRecords mode
  // (docs/storage-schema.md, "Crash recovery"): a torn last record (a write
  // that never returned) is dropped; a corrupted record anywhere else is
  // DataLoss and the store does not open, so an acknowledged revocation is
  // never silently forgotten.
  //
  // `base_file_system` is the FileSystem under PrivateFileSystem; null means
  // rocksdb::FileSystem::Default(). Tests pass a fault-injection FileSystem
  // here (lib/store/open_on_file_system.h); it must outlive the Database.
  static absl::StatusOr<std::unique_ptr<RocksDatabase>> Open(
      const std::string& path, bool create_if_missing,
      std::shared_ptr<rocksdb::FileSystem> base_file_system = nullptr);

  // OpenFollower opens the database at `path`, which another process (or
  // another Database of this one) may hold, as a read-only RocksDB secondary
  // instance keeping its own files (info log) in `secondary_path` (created
  // owner-only if missing). Reads see the primary's state as of the last
  // CatchUpWithPrimary (or the open). Every Write fails. NotFound if no
  // keygate store is at `path`; FailedPrecondition if it is not one.
  static absl::StatusOr<std::unique_ptr<RocksDatabase>> OpenFollower(
      const std::string& path, const std::string& secondary_path);
  ~RocksDatabase() override;

  bool is_follower() const override { return follower_; }

  // CatchUpWithPrimary: RocksDB TryCatchUpWithPrimary (the primary's
  // MANIFEST and WAL).
  absl::Status CatchUpWithPrimary() override;

  // Close flushes the WAL and closes; idempotent. After a failed Write the
  // WAL is not flushed again (nothing acknowledged is waiting in it, and
  // RocksDB 7.8 built with assertions, as Debian's is, aborts the process on
  // a second use of a WAL writer that failed): the store just closes.
  absl::Status Close() override;

  absl::StatusOr<std::optional<std::string>> Get(
      Family family, std::string_view key) const override;

  // Write applies `batch` atomically; with `sync` the WAL is fsynced first.
  absl::Status Write(Batch& batch, bool sync) override;

  // EstimateKeyCount returns RocksDB's estimate of the keys in `family`
  // ("rocksdb.estimate-num-keys": may be off either way, e.g. counting
  // overwritten or deleted keys), or 0 if unavailable.
  uint64_t EstimateKeyCount(Family family) const override;

  // Scan: a bulk scan reads ahead and does not fill the block cache.
  absl::Status Scan(Family family, std::string_view prefix,
                    std::string_view start_after,
                    const std::function<bool(std::string_view key,
                                             std::string_view value)>& visit)
      const override;

 private:
  RocksDatabase(const std::string& path, std::unique_ptr<rocksdb::Env> env,
                rocksdb::DB* db,
                std::vector<rocksdb::ColumnFamilyHandle*> handles);

  std::string path_;
  // The Env with the owner-only FileSystem; outlives db_ (Close deletes db_).
  std::unique_ptr<rocksdb::Env> env_;
  rocksdb::DB* db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  // Set by a Write that failed: RocksDB then refuses writes until reopened.
  std::atomic<bool> write_failed_{false};
  // A secondary instance (OpenFollower): never writes, not even at Close.
  bool follower_ = false;
};

}  // namespace keygate::storage

#endif  // KEYGATE_LIB_STORAGE_ROCKS_DATABASE_H_

// lib/storage/database.h: the key/value interface behind a store (the
// families of docs/storage-schema.md, batches of writes), implemented by
// RocksDB (lib/storage/rocks_database.h) and PostgreSQL
// (lib/postgres/postgres_database.h).
#ifndef KEYGATE_LIB_STORAGE_DATABASE_H_
#define KEYGATE_LIB_STORAGE_DATABASE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace rocksdb {
class ColumnFamilyHandle;
class DB;
class Env;
class FileSystem;
}  // namespace rocksdb

namespace keygate::storage {

// Family names a column family.
enum class Family {
  kMeta = 0,    // "default": schema version, pepper fingerprints
  kAccounts,    // service accounts by (org, slug)
  kTokens,      // token rows by (org, account, slug)
  kTokenTimes,  // (org, account, newest-first time, slug) -> "" for listing
  kDigests,     // keyed digest -> token key: the unique primary key
};
inline constexpr int kFamilyCount = 5;

// Batch collects writes that Database::Write applies atomically, in order.
class Batch {
 public:
  void Put(Family family, std::string_view key, std::string_view value) {
    ops_.push_back({family, std::string(key), std::string(value), false});
  }
  void Delete(Family family, std::string_view key) {
    ops_.push_back({family, std::string(key), std::string(), true});
  }
  size_t size() const { return ops_.size(); }

  // Op is one write of the batch: a put of `value`, or a delete.
  struct Op {
    Family family;
    std::string key;
    std::string value;
    bool is_delete;
  };
  // ops lists the writes in the order they were added (the order a
  // Database applies them in).
  const std::vector<Op>& ops() const { return ops_; }

 private:
  std::vector<Op> ops_;
};

// Database is the key/value store behind a store: ordered families of
// byte-string keys (compared bytewise), written in atomic batches. Two
// implementations: RocksDatabase (lib/storage/rocks_database.h, an embedded
// RocksDB directory: Open and OpenFollower below) and PostgresDatabase
// (lib/postgres/postgres_database.h, one table keygate_kv). Safe for
// concurrent use; Close must not race with other calls (the store
// guarantees that).
class Database {
 public:
  // Open opens or creates the RocksDB database at `path`
  // (RocksDatabase::Open: the directory and file modes, crash recovery and
  // lock conflicts are documented there). `base_file_system` is the
  // FileSystem under PrivateFileSystem; null means the default.
  static absl::StatusOr<std::unique_ptr<Database>> Open(
      const std::string& path, bool create_if_missing,
      std::shared_ptr<rocksdb::FileSystem> base_file_system = nullptr);

  // OpenFollower opens the RocksDB database at `path` read-only as a
  // secondary instance keeping its own files in `secondary_path`
  // (RocksDatabase::OpenFollower).
  static absl::StatusOr<std::unique_ptr<Database>> OpenFollower(
      const std::string& path, const std::string& secondary_path);

  Database() = default;
  virtual ~Database() = default;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // is_follower reports whether this is a read-only follower (a RocksDB
  // secondary instance). Every Write of a follower fails.
  virtual bool is_follower() const = 0;

  // CatchUpWithPrimary makes the reads of a follower see every write the
  // primary has made durable so far. Safe to run concurrently with reads;
  // not with itself (the store serializes it). FailedPrecondition on a
  // database that is not a follower.
  virtual absl::Status CatchUpWithPrimary() = 0;

  // Close makes every acknowledged write durable (as configured) and
  // releases the database; idempotent. No other call may follow.
  virtual absl::Status Close() = 0;

  // Get returns the value, nullopt if absent, or an error.
  virtual absl::StatusOr<std::optional<std::string>> Get(
      Family family, std::string_view key) const = 0;

  // Write applies `batch` atomically (all of its operations, in order, or
  // none); with `sync` it is durable when Write returns OK.
  virtual absl::Status Write(Batch& batch, bool sync) = 0;

  // EstimateKeyCount returns an estimate of the keys in `family` (may be
  // off either way), or 0 if unavailable. For pre-sizing only.
  virtual uint64_t EstimateKeyCount(Family family) const = 0;

  // Scan calls visit(key, value) for keys starting with `prefix` in
  // bytewise order, starting strictly after `prefix + start_after` when
  // start_after is not empty, until visit returns false. A scan of a whole
  // family (empty `prefix` and `start_after`) is a bulk scan. The visitor
  // may call other methods of this Database.
  virtual absl::Status Scan(
      Family family, std::string_view prefix, std::string_view start_after,
      const std::function<bool(std::string_view key, std::string_view value)>&
          visit) const = 0;
};

}  // namespace keygate::storage

#endif  // KEYGATE_LIB_STORAGE_DATABASE_H_

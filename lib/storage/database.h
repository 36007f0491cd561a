// lib/storage/database.h: the RocksDB instance behind a store.
//
// The only file that talks to RocksDB. It converts every rocksdb::Status in
// one place (ToStatus) and exposes the column families of the schema
// (docs/storage-schema.md) by name.
#ifndef KEYGATE_LIB_STORAGE_DATABASE_H_
#define KEYGATE_LIB_STORAGE_DATABASE_H_

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

 private:
  friend class Database;
  struct Op {
    Family family;
    std::string key;
    std::string value;
    bool is_delete;
  };
  std::vector<Op> ops_;
};

// Database owns an open RocksDB instance. Safe for concurrent use; Close
// must not race with other calls (the store guarantees that).
class Database {
 public:
  // Open opens or creates the database at `path`. FailedPrecondition if it
  // is locked by another process or another open instance.
  static absl::StatusOr<std::unique_ptr<Database>> Open(
      const std::string& path, bool create_if_missing);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Close flushes the WAL and closes; idempotent.
  absl::Status Close();

  // Get returns the value, nullopt if absent, or an error.
  absl::StatusOr<std::optional<std::string>> Get(Family family,
                                                 std::string_view key) const;

  // Write applies `batch` atomically; with `sync` the WAL is fsynced first.
  absl::Status Write(Batch& batch, bool sync);

  // Scan calls visit(key, value) for keys starting with `prefix` in order,
  // starting strictly after `prefix + start_after` when start_after is not
  // empty, until visit returns false.
  absl::Status Scan(Family family, std::string_view prefix,
                    std::string_view start_after,
                    const std::function<bool(std::string_view key,
                                             std::string_view value)>& visit)
      const;

 private:
  Database(const std::string& path, rocksdb::DB* db,
           std::vector<rocksdb::ColumnFamilyHandle*> handles);

  std::string path_;
  rocksdb::DB* db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
};

}  // namespace keygate::storage

#endif  // KEYGATE_LIB_STORAGE_DATABASE_H_

// lib/storage/rocks_database.cc: the RocksDB Database.
#include "lib/storage/rocks_database.h"

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/base/absl_view.h"
#include "lib/errors/payloads.h"
#include "lib/storage/private_file_system.h"
#include "rocksdb/db.h"
#include "rocksdb/env.h"
#include "rocksdb/file_system.h"
#include "rocksdb/options.h"
#include "rocksdb/write_batch.h"

namespace keygate::storage {

namespace {

constexpr const char* kFamilyNames[kFamilyCount] = {
    "default", "accounts", "tokens",
    "token_times", "digests"};

rocksdb::Slice ToSlice(std::string_view s) { return {s.data(), s.size()}; }

// IsLockConflict recognizes RocksDB's refusal to lock the LOCK file:
// "While lock file: <dir>/LOCK: ..." (another process) or "lock hold by
// current process, ...: <dir>/LOCK: ..." (this one). Matching just "lock"
// would also match paths such as /srv/blocks/db in unrelated I/O errors.
bool IsLockConflict(const rocksdb::Status& s) {
  if (!s.IsIOError()) return false;
  const std::string text = s.ToString();
  return absl::StrContains(text, "While lock file: ") ||
         absl::StrContains(text, "lock hold by current process");
}

// The one place a rocksdb::Status becomes an absl::Status.
absl::Status ToStatus(const rocksdb::Status& s, std::string_view context) {
  if (s.ok()) return absl::OkStatus();
  std::string message = absl::StrCat(AbslView(context), ": ", s.ToString());
  if (IsLockConflict(s)) {
    return internal::StoreInUseError(absl::StrCat(
        AbslView(context),
        ": the store is in use by another process (or already open in this "
        "one): ",
        s.ToString()));
  }
  if (s.IsBusy() || s.IsTimedOut() || s.IsTryAgain() || s.IsIOError() ||
      s.IsIncomplete() || s.IsShutdownInProgress()) {
    return absl::UnavailableError(message);
  }
  if (s.IsCorruption()) return absl::DataLossError(message);
  return absl::InternalError(message);
}

}  // namespace

RocksDatabase::RocksDatabase(const std::string& path, std::unique_ptr<rocksdb::Env> env,
                   rocksdb::DB* db,
                   std::vector<rocksdb::ColumnFamilyHandle*> handles)
    : path_(path), env_(std::move(env)), db_(db), handles_(std::move(handles)) {}

RocksDatabase::~RocksDatabase() { (void)Close(); }

absl::StatusOr<std::unique_ptr<RocksDatabase>> RocksDatabase::Open(
    const std::string& path, bool create_if_missing,
    std::shared_ptr<rocksdb::FileSystem> base_file_system) {
  if (create_if_missing) {
    // RocksDB creates only the last directory of the path. The new
    // directory's 0777 & ~umask is tightened below, before anything is
    // created in it; permission checks use the current mode, so an early
    // look inside (even through an open descriptor) finds nothing to read.
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot create the store directory ", path, ": ", ec.message()));
    }
  }
  // Every file RocksDB creates goes through PrivateFileSystem (0600 / 0700).
  if (base_file_system == nullptr) {
    base_file_system = rocksdb::FileSystem::Default();
  }
  std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(
      std::make_shared<PrivateFileSystem>(base_file_system));
  rocksdb::DBOptions options;
  options.env = env.get();
  options.create_if_missing = create_if_missing;
  // An existing database must already have every family of the schema: a
  // keygate store creates them all in its first open, so a database without
  // them is someone else's and is left untouched.
  std::vector<std::string> existing;
  if (rocksdb::DB::ListColumnFamilies(options, path, &existing).ok()) {
    for (const char* name : kFamilyNames) {
      if (std::find(existing.begin(), existing.end(), name) == existing.end()) {
        return absl::FailedPreconditionError(absl::StrCat(
            path, " holds a RocksDB database that is not a keygate store"));
      }
    }
    // A keygate store, maybe from a version that left it 0755 / 0644.
    if (absl::Status s = MakeTreePrivate(path); !s.ok()) return s;
  } else {
    options.create_missing_column_families = true;
    // A new store: its directory only (other files there are not ours).
    // Without create_if_missing there is no store to protect and RocksDB
    // refuses the directory below, so it is left as it is.
    if (create_if_missing) {
      if (absl::Status s = MakeDirectoryPrivate(path); !s.ok()) return s;
    }
  }
  options.paranoid_checks = true;
  // A torn tail (the last write never returned, so never acknowledged) is
  // dropped; corruption before the tail fails Open with Corruption (DataLoss)
  // instead of replaying up to it and silently forgetting what followed, as
  // the default kPointInTimeRecovery would: a forgotten revocation brings a
  // token back to life. docs/storage-schema.md, "Crash recovery".
  options.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  options.keep_log_file_num = 5;
  rocksdb::ColumnFamilyOptions cf_options;
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const char* name : kFamilyNames) {
    descriptors.emplace_back(name, cf_options);
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, path, descriptors, &handles, &db);
  if (!s.ok()) {
    if (s.IsInvalidArgument() && !create_if_missing) {
      return absl::NotFoundError(
          absl::StrCat("no keygate store at ", path, ": ", s.ToString()));
    }
    return ToStatus(s, absl::StrCat("opening store at ", path));
  }
  return std::unique_ptr<RocksDatabase>(
      new RocksDatabase(path, std::move(env), db, std::move(handles)));
}

absl::StatusOr<std::unique_ptr<RocksDatabase>> RocksDatabase::OpenFollower(
    const std::string& path, const std::string& secondary_path) {
  std::error_code ec;
  std::filesystem::create_directories(secondary_path, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create the follower directory ", secondary_path,
                     ": ", ec.message()));
  }
  if (absl::Status s = MakeDirectoryPrivate(secondary_path); !s.ok()) return s;
  std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(
      std::make_shared<PrivateFileSystem>(rocksdb::FileSystem::Default()));
  rocksdb::DBOptions options;
  options.env = env.get();
  options.create_if_missing = false;
  // A secondary opens every table file up front and keeps it open: the
  // primary may delete a file (compaction) before the secondary reads it.
  options.max_open_files = -1;
  options.paranoid_checks = true;
  std::vector<std::string> existing;
  rocksdb::Status listed =
      rocksdb::DB::ListColumnFamilies(options, path, &existing);
  if (!listed.ok()) {
    return absl::NotFoundError(
        absl::StrCat("no keygate store at ", path, ": ", listed.ToString()));
  }
  for (const char* name : kFamilyNames) {
    if (std::find(existing.begin(), existing.end(), name) == existing.end()) {
      return absl::FailedPreconditionError(absl::StrCat(
          path, " holds a RocksDB database that is not a keygate store"));
    }
  }
  rocksdb::ColumnFamilyOptions cf_options;
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const char* name : kFamilyNames) {
    descriptors.emplace_back(name, cf_options);
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  rocksdb::Status s = rocksdb::DB::OpenAsSecondary(
      options, path, secondary_path, descriptors, &handles, &db);
  if (!s.ok()) {
    return ToStatus(s, absl::StrCat("opening store at ", path, " as a follower"));
  }
  std::unique_ptr<RocksDatabase> database(
      new RocksDatabase(path, std::move(env), db, std::move(handles)));
  database->follower_ = true;
  return database;
}

absl::Status RocksDatabase::CatchUpWithPrimary() {
  if (!follower_) {
    return absl::FailedPreconditionError("not a follower: nothing to catch up");
  }
  return ToStatus(db_->TryCatchUpWithPrimary(), "catching up with the primary");
}

absl::Status RocksDatabase::Close() {
  if (db_ == nullptr) return absl::OkStatus();
  absl::Status status;
  if (!follower_ && !write_failed_.load(std::memory_order_acquire)) {
    status = ToStatus(db_->FlushWAL(/*sync=*/true), "flushing WAL");
  }
  for (rocksdb::ColumnFamilyHandle* handle : handles_) {
    rocksdb::Status s = db_->DestroyColumnFamilyHandle(handle);
    if (status.ok()) status = ToStatus(s, "closing column family");
  }
  handles_.clear();
  rocksdb::Status s = db_->Close();
  if (status.ok()) status = ToStatus(s, absl::StrCat("closing store at ", path_));
  delete db_;
  db_ = nullptr;
  return status;
}

absl::StatusOr<std::optional<std::string>> RocksDatabase::Get(
    Family family, std::string_view key) const {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(),
                               handles_[static_cast<int>(family)],
                               ToSlice(key), &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return ToStatus(s, "reading store");
  return std::optional<std::string>(std::move(value));
}

absl::Status RocksDatabase::Write(Batch& batch, bool sync) {
  if (follower_) {
    return absl::FailedPreconditionError(
        "store opened as a follower: read-only");
  }
  rocksdb::WriteBatch write_batch;
  for (const Batch::Op& op : batch.ops()) {
    rocksdb::ColumnFamilyHandle* handle = handles_[static_cast<int>(op.family)];
    rocksdb::Status s =
        op.is_delete ? write_batch.Delete(handle, ToSlice(op.key))
                     : write_batch.Put(handle, ToSlice(op.key), ToSlice(op.value));
    if (!s.ok()) return ToStatus(s, "building write batch");
  }
  rocksdb::WriteOptions options;
  options.sync = sync;
  rocksdb::Status s = db_->Write(options, &write_batch);
  if (!s.ok()) write_failed_.store(true, std::memory_order_release);
  return ToStatus(s, "writing store");
}

uint64_t RocksDatabase::EstimateKeyCount(Family family) const {
  uint64_t count = 0;
  if (!db_->GetIntProperty(handles_[static_cast<int>(family)],
                           "rocksdb.estimate-num-keys", &count)) {
    return 0;
  }
  return count;
}

absl::Status RocksDatabase::Scan(
    Family family, std::string_view prefix, std::string_view start_after,
    const std::function<bool(std::string_view, std::string_view)>& visit)
    const {
  rocksdb::ReadOptions options;
  if (prefix.empty() && start_after.empty()) {
    // A bulk scan (the load at open): read every block once, sequentially.
    options.fill_cache = false;
    options.readahead_size = 2 << 20;
  }
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(options, handles_[static_cast<int>(family)]));
  std::string start(prefix);
  start.append(start_after);
  for (it->Seek(ToSlice(start)); it->Valid(); it->Next()) {
    rocksdb::Slice key = it->key();
    std::string_view key_view(key.data(), key.size());
    if (key_view.substr(0, prefix.size()) != prefix) break;
    if (!start_after.empty() && key_view == start) continue;
    rocksdb::Slice value = it->value();
    if (!visit(key_view, std::string_view(value.data(), value.size()))) break;
  }
  return ToStatus(it->status(), "scanning store");
}

absl::StatusOr<std::unique_ptr<Database>> Database::Open(
    const std::string& path, bool create_if_missing,
    std::shared_ptr<rocksdb::FileSystem> base_file_system) {
  absl::StatusOr<std::unique_ptr<RocksDatabase>> db = RocksDatabase::Open(
      path, create_if_missing, std::move(base_file_system));
  if (!db.ok()) return db.status();
  return std::unique_ptr<Database>(*std::move(db));
}

absl::StatusOr<std::unique_ptr<Database>> Database::OpenFollower(
    const std::string& path, const std::string& secondary_path) {
  absl::StatusOr<std::unique_ptr<RocksDatabase>> db =
      RocksDatabase::OpenFollower(path, secondary_path);
  if (!db.ok()) return db.status();
  return std::unique_ptr<Database>(*std::move(db));
}

}  // namespace keygate::storage

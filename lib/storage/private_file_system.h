// lib/storage/private_file_system.h: owner-only files for the store.
//
// A store's files name accounts, scopes and organizations; no other local
// user may read them. RocksDB 7.8 creates files 0644 & ~umask and
// directories 0755 & ~umask with no option to change it, and changing the
// process umask is process-wide (and racy in a host with other threads), so
// the store's directory and every file in it are made owner-only here:
//   - PrivateFileSystem makes what RocksDB creates 0600 (files) or 0700
//     (directories), right after the call that created it;
//   - MakeDirectoryPrivate / MakeTreePrivate tighten a store directory (and,
//     for a store made by an older keygate, the files in it) at Open.
// The store directory is made 0700 before RocksDB creates anything in it, so
// the moment between a file's creation (0644 & ~umask) and its chmod is not
// observable by another user: they cannot traverse the directory.
#ifndef KEYGATE_LIB_STORAGE_PRIVATE_FILE_SYSTEM_H_
#define KEYGATE_LIB_STORAGE_PRIVATE_FILE_SYSTEM_H_

#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "rocksdb/file_system.h"

namespace keygate::storage {

// The mode of every regular file of a store.
inline constexpr mode_t kPrivateFileMode = 0600;
// The mode of the store directory and of any directory in it.
inline constexpr mode_t kPrivateDirectoryMode = 0700;

// PrivateFileSystem is a RocksDB FileSystem that forwards every call to a
// target FileSystem and makes whatever the call created owner-only: files
// kPrivateFileMode, directories kPrivateDirectoryMode, regardless of the
// umask. Covered: NewWritableFile, ReopenWritableFile, ReuseWritableFile,
// NewRandomRWFile, NewLogger (the info LOG), LockFile (the LOCK file),
// CreateDir, and CreateDirIfMissing when the directory did not exist (an
// existing one is left as it is: see MakeDirectoryPrivate).
//
// If the mode cannot be set, the call fails with an IOError naming the path
// and the reason, and whatever it opened is closed (a lock is released):
// RocksDB then fails the operation rather than keep a file others can read.
//
// The mode is set by path with chmod(2), so the target must keep files at
// their real paths on the local file system (the default POSIX FileSystem or
// a wrapper of it, e.g. a fault-injection FileSystem for crash tests); it can
// itself wrap, or be wrapped by, such wrappers. Thread-safe to the extent
// the target is (it adds no state).
class PrivateFileSystem : public rocksdb::FileSystemWrapper {
 public:
  // Wraps `target`, which must not be null.
  explicit PrivateFileSystem(const std::shared_ptr<rocksdb::FileSystem>& target);

  static const char* kClassName() { return "KeygatePrivateFileSystem"; }
  const char* Name() const override { return kClassName(); }

  rocksdb::IOStatus NewWritableFile(
      const std::string& fname, const rocksdb::FileOptions& file_opts,
      std::unique_ptr<rocksdb::FSWritableFile>* result,
      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReopenWritableFile(
      const std::string& fname, const rocksdb::FileOptions& file_opts,
      std::unique_ptr<rocksdb::FSWritableFile>* result,
      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReuseWritableFile(
      const std::string& fname, const std::string& old_fname,
      const rocksdb::FileOptions& file_opts,
      std::unique_ptr<rocksdb::FSWritableFile>* result,
      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewRandomRWFile(
      const std::string& fname, const rocksdb::FileOptions& file_opts,
      std::unique_ptr<rocksdb::FSRandomRWFile>* result,
      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewLogger(const std::string& fname,
                              const rocksdb::IOOptions& options,
                              std::shared_ptr<rocksdb::Logger>* result,
                              rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus LockFile(const std::string& fname,
                             const rocksdb::IOOptions& options,
                             rocksdb::FileLock** lock,
                             rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus CreateDir(const std::string& dirname,
                              const rocksdb::IOOptions& options,
                              rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus CreateDirIfMissing(const std::string& dirname,
                                       const rocksdb::IOOptions& options,
                                       rocksdb::IODebugContext* dbg) override;
};

// MakeDirectoryPrivate sets the directory at `path` (following a symbolic
// link at `path` itself) to kPrivateDirectoryMode, leaving its contents
// alone. OK if it already has that mode (then nothing is written);
// FailedPrecondition naming the path and the reason if it is not a
// directory or its mode cannot be set (e.g. it belongs to another user).
// Logs nothing.
absl::Status MakeDirectoryPrivate(const std::string& path);

// MakeTreePrivate makes the directory at `path` private as
// MakeDirectoryPrivate does, then every directory beneath it
// kPrivateDirectoryMode and every regular file kPrivateFileMode. The top
// directory goes first, so no other user can reach an entry while it is
// being tightened. Symbolic links (and anything they point to) and other
// special files are left untouched, so a link planted in the store cannot
// redirect a chmod. Entries already at their mode are not written. Stops at
// the first entry whose mode cannot be set: FailedPrecondition naming it and
// the reason. Logs nothing.
absl::Status MakeTreePrivate(const std::string& path);

}  // namespace keygate::storage

#endif  // KEYGATE_LIB_STORAGE_PRIVATE_FILE_SYSTEM_H_

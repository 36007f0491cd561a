#include "lib/storage/private_file_system.h"

#include <sys/stat.h>

#include <cerrno>
#include <filesystem>
#include <string_view>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "lib/base/absl_view.h"

namespace keygate::storage {

namespace {

// SetMode gives `path` (following links) exactly `mode` unless it already
// has it. Returns 0 or the errno value of the failed call.
int SetMode(const std::string& path, mode_t mode) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return errno;
  if ((st.st_mode & 07777) == mode) return 0;
  if (::chmod(path.c_str(), mode) != 0) return errno;
  return 0;
}

// ErrnoText is strerror's text without strerror's shared buffer.
std::string ErrnoText(int error) {
  return std::generic_category().message(error);
}

rocksdb::IOStatus ModeError(const std::string& path, int error) {
  return rocksdb::IOStatus::IOError(
      absl::StrCat("cannot make ", path, " owner-only"), ErrnoText(error));
}

// Private sets `path` to `mode` after `created` succeeded; on failure it
// runs `undo` (close what the call opened) and returns the error.
template <typename Undo>
rocksdb::IOStatus Private(rocksdb::IOStatus created, const std::string& path,
                          mode_t mode, Undo undo) {
  if (!created.ok()) return created;
  if (const int error = SetMode(path, mode); error != 0) {
    undo();
    return ModeError(path, error);
  }
  return created;
}

absl::Status TreeError(const std::string& path, std::string_view reason) {
  return absl::FailedPreconditionError(absl::StrCat(
      "cannot make ", path, " owner-only (", AbslView(reason),
      "); the store holds private data: fix its owner or mode"));
}

}  // namespace

PrivateFileSystem::PrivateFileSystem(
    const std::shared_ptr<rocksdb::FileSystem>& target)
    : rocksdb::FileSystemWrapper(target) {}

rocksdb::IOStatus PrivateFileSystem::NewWritableFile(
    const std::string& fname, const rocksdb::FileOptions& file_opts,
    std::unique_ptr<rocksdb::FSWritableFile>* result,
    rocksdb::IODebugContext* dbg) {
  return Private(target()->NewWritableFile(fname, file_opts, result, dbg),
                 fname, kPrivateFileMode, [result] { result->reset(); });
}

rocksdb::IOStatus PrivateFileSystem::ReopenWritableFile(
    const std::string& fname, const rocksdb::FileOptions& file_opts,
    std::unique_ptr<rocksdb::FSWritableFile>* result,
    rocksdb::IODebugContext* dbg) {
  return Private(target()->ReopenWritableFile(fname, file_opts, result, dbg),
                 fname, kPrivateFileMode, [result] { result->reset(); });
}

rocksdb::IOStatus PrivateFileSystem::ReuseWritableFile(
    const std::string& fname, const std::string& old_fname,
    const rocksdb::FileOptions& file_opts,
    std::unique_ptr<rocksdb::FSWritableFile>* result,
    rocksdb::IODebugContext* dbg) {
  return Private(
      target()->ReuseWritableFile(fname, old_fname, file_opts, result, dbg),
      fname, kPrivateFileMode, [result] { result->reset(); });
}

rocksdb::IOStatus PrivateFileSystem::NewRandomRWFile(
    const std::string& fname, const rocksdb::FileOptions& file_opts,
    std::unique_ptr<rocksdb::FSRandomRWFile>* result,
    rocksdb::IODebugContext* dbg) {
  return Private(target()->NewRandomRWFile(fname, file_opts, result, dbg),
                 fname, kPrivateFileMode, [result] { result->reset(); });
}

rocksdb::IOStatus PrivateFileSystem::NewLogger(
    const std::string& fname, const rocksdb::IOOptions& options,
    std::shared_ptr<rocksdb::Logger>* result, rocksdb::IODebugContext* dbg) {
  return Private(target()->NewLogger(fname, options, result, dbg), fname,
                 kPrivateFileMode, [result] { result->reset(); });
}

rocksdb::IOStatus PrivateFileSystem::LockFile(const std::string& fname,
                                              const rocksdb::IOOptions& options,
                                              rocksdb::FileLock** lock,
                                              rocksdb::IODebugContext* dbg) {
  return Private(target()->LockFile(fname, options, lock, dbg), fname,
                 kPrivateFileMode, [&] {
                   (void)target()->UnlockFile(*lock, options, dbg);
                   *lock = nullptr;
                 });
}

rocksdb::IOStatus PrivateFileSystem::CreateDir(
    const std::string& dirname, const rocksdb::IOOptions& options,
    rocksdb::IODebugContext* dbg) {
  return Private(target()->CreateDir(dirname, options, dbg), dirname,
                 kPrivateDirectoryMode, [] {});
}

rocksdb::IOStatus PrivateFileSystem::CreateDirIfMissing(
    const std::string& dirname, const rocksdb::IOOptions& options,
    rocksdb::IODebugContext* dbg) {
  // An existing directory is not this call's to change: RocksDB calls this
  // on the store directory even when it then refuses to open it (no store
  // and create_if_missing off), and Database::Open sets that one itself.
  struct stat st;
  if (::stat(dirname.c_str(), &st) == 0) {
    return target()->CreateDirIfMissing(dirname, options, dbg);
  }
  return Private(target()->CreateDirIfMissing(dirname, options, dbg), dirname,
                 kPrivateDirectoryMode, [] {});
}

absl::Status MakeDirectoryPrivate(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return TreeError(path, ErrnoText(errno));
  if (!S_ISDIR(st.st_mode)) return TreeError(path, "not a directory");
  if (const int error = SetMode(path, kPrivateDirectoryMode); error != 0) {
    return TreeError(path, ErrnoText(error));
  }
  return absl::OkStatus();
}

absl::Status MakeTreePrivate(const std::string& path) {
  if (absl::Status s = MakeDirectoryPrivate(path); !s.ok()) return s;
  namespace fs = std::filesystem;
  std::error_code ec;
  // directory_options::none: symbolic links to directories are not entered.
  fs::recursive_directory_iterator it(path, fs::directory_options::none, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const std::string entry = it->path().string();
    // The type of the entry itself (lstat): a link is never followed.
    const fs::file_status status = it->symlink_status(ec);
    if (ec) return TreeError(entry, ec.message());
    mode_t mode;
    if (fs::is_directory(status)) {
      // Before the iterator descends into it, so a 0000 directory is read.
      mode = kPrivateDirectoryMode;
    } else if (fs::is_regular_file(status)) {
      mode = kPrivateFileMode;
    } else {
      continue;
    }
    if (const int error = SetMode(entry, mode); error != 0) {
      return TreeError(entry, ErrnoText(error));
    }
  }
  if (ec) return TreeError(path, ec.message());
  return absl::OkStatus();
}

}  // namespace keygate::storage

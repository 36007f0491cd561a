// fuzz/memory_file_system.h: an in-memory RocksDB FileSystem for stateful
// fuzz targets (header-only).
//
// A store on disk costs the fuzzer its speed (file creation, fsync of the
// MANIFEST and directory at every open and close); MemoryFileSystem keeps
// every byte RocksDB writes in memory instead, in RocksDB's own MockEnv
// (rocksdb::NewMemEnv), so a store opens, closes and reopens (same
// MemoryFileSystem) without I/O.
//
// The store wraps whatever FileSystem it is given in its PrivateFileSystem
// (lib/storage/private_file_system.h), which chmods each file and directory
// RocksDB creates by its real path. So that this still runs (and is still
// fuzzed), MemoryFileSystem also creates an empty placeholder of the same
// name on the real file system for every file or directory it creates in
// memory; nothing is ever written to a placeholder. Paths must therefore
// lie under a real, writable directory (a fuzz::TempDir), which owns the
// placeholders and removes them.
//
// Its writable files say their Sync is thread-safe (MockEnv's files lock
// internally but do not say so), since the store's Close flushes and syncs
// the WAL (rocksdb::DB::FlushWAL(true)), which RocksDB refuses otherwise.
#ifndef KEYGATE_FUZZ_MEMORY_FILE_SYSTEM_H_
#define KEYGATE_FUZZ_MEMORY_FILE_SYSTEM_H_

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>
#include <utility>

#include "rocksdb/env.h"
#include "rocksdb/file_system.h"
#include "rocksdb/io_status.h"

namespace keygate::fuzz {

// MemoryFileSystem is a RocksDB FileSystem whose files live in memory for as
// long as the object does (see the file comment for the real-path
// placeholders). Each instance is its own empty file system. Thread-safe as
// RocksDB's MockFileSystem is (it locks internally).
class MemoryFileSystem : public rocksdb::FileSystemWrapper {
 public:
  // Create returns a new, empty in-memory file system.
  static std::shared_ptr<MemoryFileSystem> Create() {
    std::shared_ptr<rocksdb::Env> memory_env(
        rocksdb::NewMemEnv(rocksdb::Env::Default()));
    return std::shared_ptr<MemoryFileSystem>(
        new MemoryFileSystem(std::move(memory_env)));
  }

  static const char* kClassName() { return "KeygateFuzzMemoryFileSystem"; }
  const char* Name() const override { return kClassName(); }

  rocksdb::IOStatus NewWritableFile(
      const std::string& fname, const rocksdb::FileOptions& file_opts,
      std::unique_ptr<rocksdb::FSWritableFile>* result,
      rocksdb::IODebugContext* dbg) override {
    return WithWritableFile(
        target()->NewWritableFile(fname, file_opts, result, dbg), fname,
        result);
  }
  rocksdb::IOStatus ReopenWritableFile(
      const std::string& fname, const rocksdb::FileOptions& file_opts,
      std::unique_ptr<rocksdb::FSWritableFile>* result,
      rocksdb::IODebugContext* dbg) override {
    return WithWritableFile(
        target()->ReopenWritableFile(fname, file_opts, result, dbg), fname,
        result);
  }
  rocksdb::IOStatus ReuseWritableFile(
      const std::string& fname, const std::string& old_fname,
      const rocksdb::FileOptions& file_opts,
      std::unique_ptr<rocksdb::FSWritableFile>* result,
      rocksdb::IODebugContext* dbg) override {
    return WithWritableFile(target()->ReuseWritableFile(fname, old_fname,
                                                        file_opts, result, dbg),
                            fname, result);
  }
  rocksdb::IOStatus NewRandomRWFile(
      const std::string& fname, const rocksdb::FileOptions& file_opts,
      std::unique_ptr<rocksdb::FSRandomRWFile>* result,
      rocksdb::IODebugContext* dbg) override {
    return WithFile(target()->NewRandomRWFile(fname, file_opts, result, dbg),
                    fname);
  }
  rocksdb::IOStatus NewLogger(const std::string& fname,
                              const rocksdb::IOOptions& options,
                              std::shared_ptr<rocksdb::Logger>* result,
                              rocksdb::IODebugContext* dbg) override {
    return WithFile(target()->NewLogger(fname, options, result, dbg), fname);
  }
  rocksdb::IOStatus LockFile(const std::string& fname,
                             const rocksdb::IOOptions& options,
                             rocksdb::FileLock** lock,
                             rocksdb::IODebugContext* dbg) override {
    return WithFile(target()->LockFile(fname, options, lock, dbg), fname);
  }
  rocksdb::IOStatus CreateDir(const std::string& dirname,
                              const rocksdb::IOOptions& options,
                              rocksdb::IODebugContext* dbg) override {
    return WithDirectory(target()->CreateDir(dirname, options, dbg), dirname);
  }
  rocksdb::IOStatus CreateDirIfMissing(const std::string& dirname,
                                       const rocksdb::IOOptions& options,
                                       rocksdb::IODebugContext* dbg) override {
    return WithDirectory(target()->CreateDirIfMissing(dirname, options, dbg),
                         dirname);
  }

 private:
  explicit MemoryFileSystem(std::shared_ptr<rocksdb::Env> memory_env)
      : rocksdb::FileSystemWrapper(memory_env->GetFileSystem()),
        memory_env_(std::move(memory_env)) {}

  // WithFile makes the real placeholder of `fname` once `created` is OK.
  static rocksdb::IOStatus WithFile(rocksdb::IOStatus created,
                                    const std::string& fname) {
    if (!created.ok()) return created;
    const int fd =
        ::open(fname.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
               0600);
    if (fd < 0) return rocksdb::IOStatus::IOError("placeholder", fname);
    ::close(fd);
    return created;
  }

  // SyncThreadSafeFile is an in-memory writable file that says its Sync is
  // thread-safe (see the file comment).
  class SyncThreadSafeFile : public rocksdb::FSWritableFileOwnerWrapper {
   public:
    explicit SyncThreadSafeFile(std::unique_ptr<rocksdb::FSWritableFile> file)
        : rocksdb::FSWritableFileOwnerWrapper(std::move(file)) {}
    bool IsSyncThreadSafe() const override { return true; }
  };

  // WithWritableFile is WithFile that also wraps the new file in
  // SyncThreadSafeFile.
  static rocksdb::IOStatus WithWritableFile(
      rocksdb::IOStatus created, const std::string& fname,
      std::unique_ptr<rocksdb::FSWritableFile>* result) {
    rocksdb::IOStatus s = WithFile(std::move(created), fname);
    if (s.ok()) {
      *result = std::make_unique<SyncThreadSafeFile>(std::move(*result));
    }
    return s;
  }

  // WithDirectory makes the real placeholder directory `dirname` once
  // `created` is OK (an existing one is fine).
  static rocksdb::IOStatus WithDirectory(rocksdb::IOStatus created,
                                         const std::string& dirname) {
    if (!created.ok()) return created;
    if (::mkdir(dirname.c_str(), 0700) != 0 && errno != EEXIST) {
      return rocksdb::IOStatus::IOError("placeholder directory", dirname);
    }
    return created;
  }

  // Owns the MockFileSystem's clock; outlives it as the wrapped target.
  std::shared_ptr<rocksdb::Env> memory_env_;
};

}  // namespace keygate::fuzz

#endif  // KEYGATE_FUZZ_MEMORY_FILE_SYSTEM_H_

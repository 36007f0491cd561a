// tests/crash/fault_injection_file_system.h: a RocksDB FileSystem for crash,
// power-loss and I/O-fault tests.
//
// Modelled on RocksDB's FaultInjectionTestFS (utilities/fault_injection_fs.h;
// no code copied). It forwards to a target FileSystem (the default POSIX one)
// and, for every file opened for writing, tracks how many bytes were written
// and how many of them were synced (Sync or Fsync; RangeSync is not a
// durability promise and does not count). A simulated power loss
// (DropUnsyncedData) truncates every tracked file to its synced length: what
// the kernel would have lost had the machine lost power.
//
// Faults, each counted over the operations of its kind since it was armed:
//   kWrite  Append / PositionedAppend of a file opened for writing
//   kSync   Sync of such a file (fdatasync: RocksDB's WAL and SST syncs)
//   kFsync  Fsync of such a file or of a directory (RocksDB fsyncs the store
//           directory after creating files)
// FailNth(kind, n, persistent) fails the n-th operation of `kind` (1-based)
// with an IOError, once, or that one and every later one of the kind.
// SetDiskFull makes every write fail with NoSpace. CrashAfter(n) makes the
// n-th write-or-sync fail and the file system inactive: from then on every
// write and sync fails and changes nothing (the process "lost power").
//
// The store's PrivateFileSystem wraps this one (lib/store/
// open_on_file_system.h). Thread-safe: one mutex guards the tracking and
// fault state.
#ifndef KEYGATE_TESTS_CRASH_FAULT_INJECTION_FILE_SYSTEM_H_
#define KEYGATE_TESTS_CRASH_FAULT_INJECTION_FILE_SYSTEM_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "rocksdb/file_system.h"

namespace keygate::test {

enum class IoKind { kWrite = 0, kSync = 1, kFsync = 2 };
inline constexpr int kIoKindCount = 3;

class FaultInjectionFileSystem : public rocksdb::FileSystemWrapper {
 public:
  explicit FaultInjectionFileSystem(
      std::shared_ptr<rocksdb::FileSystem> target = rocksdb::FileSystem::Default());

  static const char* kClassName() { return "KeygateFaultInjectionFileSystem"; }
  const char* Name() const override { return kClassName(); }

  // ----- faults -----

  // FailNth arms a fault: the n-th (1-based) later operation of `kind` fails
  // with an IOError; with `persistent`, every one after it too. Replaces any
  // fault armed for `kind`.
  void FailNth(IoKind kind, uint64_t n, bool persistent) ABSL_LOCKS_EXCLUDED(mu_);
  // SetDiskFull makes every write fail with NoSpace while `full`.
  void SetDiskFull(bool full) ABSL_LOCKS_EXCLUDED(mu_);
  // CrashAfter makes the n-th (1-based) later write or sync (any kind) fail
  // and deactivates the file system (see SetActive) from that operation on.
  void CrashAfter(uint64_t n) ABSL_LOCKS_EXCLUDED(mu_);
  // ClearFaults disarms every fault and reactivates the file system.
  void ClearFaults() ABSL_LOCKS_EXCLUDED(mu_);
  // SetActive(false) makes every later write and sync fail with IOError and
  // change nothing, as if the machine had lost power.
  void SetActive(bool active) ABSL_LOCKS_EXCLUDED(mu_);
  // injected returns how many operations of `kind` were failed on purpose.
  uint64_t injected(IoKind kind) const ABSL_LOCKS_EXCLUDED(mu_);
  // operations returns how many operations of `kind` were attempted.
  uint64_t operations(IoKind kind) const ABSL_LOCKS_EXCLUDED(mu_);

  // ----- power loss -----

  // DropUnsyncedData truncates every tracked file to the length it had at
  // its last successful sync (0 if never synced) and forgets the tracking.
  // Call with the store closed (or destroyed) and the file system inactive.
  // Returns how many bytes were dropped.
  uint64_t DropUnsyncedData() ABSL_LOCKS_EXCLUDED(mu_);
  // unsynced_bytes returns the bytes written but not synced, over all files.
  uint64_t unsynced_bytes() const ABSL_LOCKS_EXCLUDED(mu_);

  // ----- FileSystem -----
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
  rocksdb::IOStatus NewDirectory(const std::string& name,
                                 const rocksdb::IOOptions& io_opts,
                                 std::unique_ptr<rocksdb::FSDirectory>* result,
                                 rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus RenameFile(const std::string& src, const std::string& dest,
                               const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus DeleteFile(const std::string& fname,
                               const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override;

  // Called by the file wrappers. Check returns OK or the injected error for
  // one operation of `kind` on `fname`.
  rocksdb::IOStatus Check(IoKind kind, const std::string& fname)
      ABSL_LOCKS_EXCLUDED(mu_);
  void Appended(const std::string& fname, uint64_t bytes) ABSL_LOCKS_EXCLUDED(mu_);
  void Synced(const std::string& fname) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct FileState {
    uint64_t size = 0;
    uint64_t synced = 0;
  };
  struct Fault {
    uint64_t countdown = 0;  // 0: not armed
    bool persistent = false;
    bool firing = false;  // a persistent fault that already fired
  };

  rocksdb::IOStatus Track(const std::string& fname, rocksdb::IOStatus s,
                          std::unique_ptr<rocksdb::FSWritableFile>* result,
                          uint64_t initial_size);

  mutable absl::Mutex mu_;
  std::map<std::string, FileState> files_ ABSL_GUARDED_BY(mu_);
  Fault faults_[kIoKindCount] ABSL_GUARDED_BY(mu_);
  uint64_t injected_[kIoKindCount] ABSL_GUARDED_BY(mu_) = {};
  uint64_t operations_[kIoKindCount] ABSL_GUARDED_BY(mu_) = {};
  bool disk_full_ ABSL_GUARDED_BY(mu_) = false;
  bool active_ ABSL_GUARDED_BY(mu_) = true;
  uint64_t crash_countdown_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace keygate::test

#endif  // KEYGATE_TESTS_CRASH_FAULT_INJECTION_FILE_SYSTEM_H_

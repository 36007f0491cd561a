#include "tests/crash/fault_injection_file_system.h"

#include <unistd.h>

#include <utility>

namespace keygate::test {

namespace {

// TrackedFile reports every write and sync of one file to the file system.
class TrackedFile : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  TrackedFile(FaultInjectionFileSystem* fs, std::string fname,
              std::unique_ptr<rocksdb::FSWritableFile> target)
      : FSWritableFileOwnerWrapper(std::move(target)),
        fs_(fs),
        fname_(std::move(fname)) {}

  rocksdb::IOStatus Append(const rocksdb::Slice& data,
                           const rocksdb::IOOptions& options,
                           rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = fs_->Check(IoKind::kWrite, fname_);
    if (!s.ok()) return s;
    s = target()->Append(data, options, dbg);
    if (s.ok()) fs_->Appended(fname_, data.size());
    return s;
  }
  rocksdb::IOStatus Append(const rocksdb::Slice& data,
                           const rocksdb::IOOptions& options,
                           const rocksdb::DataVerificationInfo& /*info*/,
                           rocksdb::IODebugContext* dbg) override {
    return Append(data, options, dbg);
  }
  rocksdb::IOStatus PositionedAppend(const rocksdb::Slice& data,
                                     uint64_t offset,
                                     const rocksdb::IOOptions& options,
                                     rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = fs_->Check(IoKind::kWrite, fname_);
    if (!s.ok()) return s;
    s = target()->PositionedAppend(data, offset, options, dbg);
    if (s.ok()) fs_->Appended(fname_, data.size());
    return s;
  }
  rocksdb::IOStatus PositionedAppend(
      const rocksdb::Slice& data, uint64_t offset,
      const rocksdb::IOOptions& options,
      const rocksdb::DataVerificationInfo& /*info*/,
      rocksdb::IODebugContext* dbg) override {
    return PositionedAppend(data, offset, options, dbg);
  }
  rocksdb::IOStatus Sync(const rocksdb::IOOptions& options,
                         rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = fs_->Check(IoKind::kSync, fname_);
    if (!s.ok()) return s;
    s = target()->Sync(options, dbg);
    if (s.ok()) fs_->Synced(fname_);
    return s;
  }
  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options,
                          rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = fs_->Check(IoKind::kFsync, fname_);
    if (!s.ok()) return s;
    s = target()->Fsync(options, dbg);
    if (s.ok()) fs_->Synced(fname_);
    return s;
  }

 private:
  FaultInjectionFileSystem* fs_;
  const std::string fname_;
};

// TrackedDirectory routes directory fsyncs through the fault checks.
class TrackedDirectory : public rocksdb::FSDirectoryWrapper {
 public:
  TrackedDirectory(FaultInjectionFileSystem* fs, std::string name,
                   std::unique_ptr<rocksdb::FSDirectory> target)
      : FSDirectoryWrapper(std::move(target)), fs_(fs), name_(std::move(name)) {}

  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options,
                          rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = fs_->Check(IoKind::kFsync, name_);
    if (!s.ok()) return s;
    return FSDirectoryWrapper::Fsync(options, dbg);
  }
  rocksdb::IOStatus FsyncWithDirOptions(
      const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg,
      const rocksdb::DirFsyncOptions& dir_options) override {
    rocksdb::IOStatus s = fs_->Check(IoKind::kFsync, name_);
    if (!s.ok()) return s;
    return FSDirectoryWrapper::FsyncWithDirOptions(options, dbg, dir_options);
  }

 private:
  FaultInjectionFileSystem* fs_;
  const std::string name_;
};

}  // namespace

FaultInjectionFileSystem::FaultInjectionFileSystem(
    std::shared_ptr<rocksdb::FileSystem> target)
    : FileSystemWrapper(std::move(target)) {}

void FaultInjectionFileSystem::FailNth(IoKind kind, uint64_t n,
                                       bool persistent) {
  absl::MutexLock lock(&mu_);
  faults_[static_cast<int>(kind)] = Fault{n, persistent, false};
}

void FaultInjectionFileSystem::SetDiskFull(bool full) {
  absl::MutexLock lock(&mu_);
  disk_full_ = full;
}

void FaultInjectionFileSystem::CrashAfter(uint64_t n) {
  absl::MutexLock lock(&mu_);
  crash_countdown_ = n;
}

void FaultInjectionFileSystem::ClearFaults() {
  absl::MutexLock lock(&mu_);
  for (Fault& f : faults_) f = Fault{};
  disk_full_ = false;
  crash_countdown_ = 0;
  active_ = true;
}

void FaultInjectionFileSystem::SetActive(bool active) {
  absl::MutexLock lock(&mu_);
  active_ = active;
}

uint64_t FaultInjectionFileSystem::injected(IoKind kind) const {
  absl::MutexLock lock(&mu_);
  return injected_[static_cast<int>(kind)];
}

uint64_t FaultInjectionFileSystem::operations(IoKind kind) const {
  absl::MutexLock lock(&mu_);
  return operations_[static_cast<int>(kind)];
}

rocksdb::IOStatus FaultInjectionFileSystem::Check(IoKind kind,
                                                  const std::string& fname) {
  absl::MutexLock lock(&mu_);
  const int k = static_cast<int>(kind);
  ++operations_[k];
  if (!active_) return rocksdb::IOStatus::IOError("simulated power loss", fname);
  if (crash_countdown_ > 0 && --crash_countdown_ == 0) {
    active_ = false;
    return rocksdb::IOStatus::IOError("simulated power loss", fname);
  }
  if (kind == IoKind::kWrite && disk_full_) {
    ++injected_[k];
    return rocksdb::IOStatus::NoSpace("simulated full disk", fname);
  }
  Fault& f = faults_[k];
  if (f.firing || (f.countdown > 0 && --f.countdown == 0)) {
    f.firing = f.persistent;
    ++injected_[k];
    return rocksdb::IOStatus::IOError("injected I/O error", fname);
  }
  return rocksdb::IOStatus::OK();
}

void FaultInjectionFileSystem::Appended(const std::string& fname,
                                        uint64_t bytes) {
  absl::MutexLock lock(&mu_);
  files_[fname].size += bytes;
}

void FaultInjectionFileSystem::Synced(const std::string& fname) {
  absl::MutexLock lock(&mu_);
  auto it = files_.find(fname);
  if (it != files_.end()) it->second.synced = it->second.size;
}

uint64_t FaultInjectionFileSystem::unsynced_bytes() const {
  absl::MutexLock lock(&mu_);
  uint64_t total = 0;
  for (const auto& [name, state] : files_) total += state.size - state.synced;
  return total;
}

uint64_t FaultInjectionFileSystem::DropUnsyncedData() {
  absl::MutexLock lock(&mu_);
  uint64_t dropped = 0;
  for (const auto& [name, state] : files_) {
    if (state.size == state.synced) continue;
    if (::truncate(name.c_str(), static_cast<off_t>(state.synced)) == 0) {
      dropped += state.size - state.synced;
    }
  }
  files_.clear();
  return dropped;
}

rocksdb::IOStatus FaultInjectionFileSystem::Track(
    const std::string& fname, rocksdb::IOStatus s,
    std::unique_ptr<rocksdb::FSWritableFile>* result, uint64_t initial_size) {
  if (!s.ok()) return s;
  {
    absl::MutexLock lock(&mu_);
    // A new file's directory entry is assumed durable (RocksDB fsyncs the
    // directory); its contents are not until synced.
    files_[fname] = FileState{initial_size, initial_size};
  }
  *result = std::make_unique<TrackedFile>(this, fname, std::move(*result));
  return s;
}

rocksdb::IOStatus FaultInjectionFileSystem::NewWritableFile(
    const std::string& fname, const rocksdb::FileOptions& file_opts,
    std::unique_ptr<rocksdb::FSWritableFile>* result,
    rocksdb::IODebugContext* dbg) {
  {
    absl::MutexLock lock(&mu_);
    if (!active_) return rocksdb::IOStatus::IOError("simulated power loss", fname);
  }
  return Track(fname, target()->NewWritableFile(fname, file_opts, result, dbg),
               result, 0);
}

rocksdb::IOStatus FaultInjectionFileSystem::ReopenWritableFile(
    const std::string& fname, const rocksdb::FileOptions& file_opts,
    std::unique_ptr<rocksdb::FSWritableFile>* result,
    rocksdb::IODebugContext* dbg) {
  {
    absl::MutexLock lock(&mu_);
    if (!active_) return rocksdb::IOStatus::IOError("simulated power loss", fname);
  }
  uint64_t size = 0;
  (void)target()->GetFileSize(fname, rocksdb::IOOptions(), &size, dbg);
  return Track(fname,
               target()->ReopenWritableFile(fname, file_opts, result, dbg),
               result, size);
}

rocksdb::IOStatus FaultInjectionFileSystem::ReuseWritableFile(
    const std::string& fname, const std::string& old_fname,
    const rocksdb::FileOptions& file_opts,
    std::unique_ptr<rocksdb::FSWritableFile>* result,
    rocksdb::IODebugContext* dbg) {
  {
    absl::MutexLock lock(&mu_);
    if (!active_) return rocksdb::IOStatus::IOError("simulated power loss", fname);
    files_.erase(old_fname);
  }
  return Track(fname,
               target()->ReuseWritableFile(fname, old_fname, file_opts, result,
                                           dbg),
               result, 0);
}

rocksdb::IOStatus FaultInjectionFileSystem::NewDirectory(
    const std::string& name, const rocksdb::IOOptions& io_opts,
    std::unique_ptr<rocksdb::FSDirectory>* result,
    rocksdb::IODebugContext* dbg) {
  rocksdb::IOStatus s = target()->NewDirectory(name, io_opts, result, dbg);
  if (!s.ok()) return s;
  *result = std::make_unique<TrackedDirectory>(this, name, std::move(*result));
  return s;
}

rocksdb::IOStatus FaultInjectionFileSystem::RenameFile(
    const std::string& src, const std::string& dest,
    const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) {
  {
    absl::MutexLock lock(&mu_);
    if (!active_) return rocksdb::IOStatus::IOError("simulated power loss", src);
  }
  rocksdb::IOStatus s = target()->RenameFile(src, dest, options, dbg);
  if (s.ok()) {
    absl::MutexLock lock(&mu_);
    files_.erase(dest);
    auto it = files_.find(src);
    if (it != files_.end()) {
      files_[dest] = it->second;
      files_.erase(src);
    }
  }
  return s;
}

rocksdb::IOStatus FaultInjectionFileSystem::DeleteFile(
    const std::string& fname, const rocksdb::IOOptions& options,
    rocksdb::IODebugContext* dbg) {
  {
    absl::MutexLock lock(&mu_);
    if (!active_) return rocksdb::IOStatus::IOError("simulated power loss", fname);
  }
  rocksdb::IOStatus s = target()->DeleteFile(fname, options, dbg);
  if (s.ok()) {
    absl::MutexLock lock(&mu_);
    files_.erase(fname);
  }
  return s;
}

}  // namespace keygate::test

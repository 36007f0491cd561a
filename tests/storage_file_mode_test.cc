// tests/storage_file_mode_test.cc: a store is owner-only on disk. Its
// directory is 0700 and every file in it 0600 whatever the umask, a store
// left 0755 / 0644 by an older keygate is tightened at Open, and the
// tightening never follows a symbolic link out of the store.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/storage/private_file_system.h"
#include "tests/store_test_util.h"

namespace keygate::test {
namespace {

namespace fs = std::filesystem;

// Mode returns the permission bits of `path` (lstat), or -1.
int Mode(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return -1;
  return static_cast<int>(st.st_mode & 07777);
}

// EntryModes describes every entry under `dir` (recursively) whose mode is
// not 0700 (directories) or 0600 (regular files); any other kind of entry
// is reported too. Empty means all are owner-only.
std::vector<std::string> NotOwnerOnly(const std::string& dir) {
  std::vector<std::string> bad;
  if (Mode(dir) != 0700) bad.push_back(dir + " (the store directory)");
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    const std::string path = it->path().string();
    const fs::file_status status = it->symlink_status();
    const int mode = Mode(path);
    char octal[8];
    snprintf(octal, sizeof(octal), "%04o", mode);
    if (fs::is_directory(status)) {
      if (mode != 0700) bad.push_back(path + " dir " + octal);
    } else if (fs::is_regular_file(status)) {
      if (mode != 0600) bad.push_back(path + " file " + octal);
    } else {
      bad.push_back(path + " (not a regular file or directory)");
    }
  }
  if (ec) bad.push_back("walk failed: " + ec.message());
  return bad;
}

// FileNames lists the names of the entries directly in `dir`.
std::vector<std::string> FileNames(const std::string& dir) {
  std::vector<std::string> names;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  return names;
}

// StorageFileModeTest opens every store under umask 022, so RocksDB on its
// own would create 0755 directories and 0644 files.
class StorageFileModeTest : public StoreTest {
 protected:
  void SetUp() override {
    saved_umask_ = ::umask(022);
    StoreTest::SetUp();
  }
  void TearDown() override {
    StoreTest::TearDown();
    ::umask(saved_umask_);
  }

  // Populate creates an account and `count` tokens in the open store.
  void Populate(const std::string& account, int count) {
    KG_ASSERT_OK(CreateAccount(account));
    for (int i = 0; i < count; ++i) {
      KG_ASSERT_OK(CreateToken(account, "token " + std::to_string(i)));
    }
  }

  mode_t saved_umask_ = 0;
};

TEST_F(StorageFileModeTest, NewStoreIsOwnerOnlyAfterWritesFlushesAndReopens) {
  Populate("ci-bot", 20);
  // Close syncs the WAL; reopening replays it into table files (flush at
  // recovery), writes a new MANIFEST, OPTIONS, LOG (the old one renamed).
  KG_ASSERT_OK(Reopen());
  Populate("deploy-bot", 20);
  KG_ASSERT_OK(Reopen());
  KG_ASSERT_OK(store_->Close());
  store_.reset();

  const std::vector<std::string> names = FileNames(StorePath());
  // The kinds of file RocksDB writes, so the check below covers them all.
  for (const char* expected : {"LOCK", "CURRENT", "IDENTITY", "LOG"}) {
    EXPECT_THAT(names, ::testing::Contains(expected));
  }
  for (const char* prefix : {"MANIFEST-", "OPTIONS-", "LOG.old."}) {
    EXPECT_THAT(names, ::testing::Contains(::testing::StartsWith(prefix)));
  }
  EXPECT_THAT(names, ::testing::Contains(::testing::EndsWith(".sst")));
  EXPECT_THAT(names, ::testing::Contains(::testing::EndsWith(".log")));

  EXPECT_THAT(NotOwnerOnly(StorePath()), ::testing::IsEmpty());
}

TEST_F(StorageFileModeTest, OpenStoreIsOwnerOnlyWhileRunning) {
  // The files of a store in use (LOCK held, WAL open, LOG open).
  Populate("ci-bot", 5);
  EXPECT_THAT(NotOwnerOnly(StorePath()), ::testing::IsEmpty());
}

TEST_F(StorageFileModeTest, StoreOfAnOlderVersionIsTightenedAtOpen) {
  Populate("ci-bot", 10);
  KG_ASSERT_OK(store_->Close());
  store_.reset();
  // What an older keygate left: a 0755 directory of 0644 files.
  ASSERT_EQ(::chmod(StorePath().c_str(), 0755), 0);
  for (const std::string& name : FileNames(StorePath())) {
    ASSERT_EQ(::chmod((StorePath() + "/" + name).c_str(), 0644), 0) << name;
  }
  const std::string sub = StorePath() + "/archive";
  ASSERT_EQ(::mkdir(sub.c_str(), 0755), 0);
  { std::ofstream(sub + "/notes") << "x"; }
  ASSERT_EQ(::chmod((sub + "/notes").c_str(), 0644), 0);

  KG_ASSERT_OK(Reopen());
  EXPECT_THAT(NotOwnerOnly(StorePath()), ::testing::IsEmpty());
  // And the data is intact.
  KG_ASSERT_OK_AND_ASSIGN(std::vector<TokenMetadata> tokens,
                          AllTokens("ci-bot"));
  EXPECT_EQ(tokens.size(), 10u);
}

TEST_F(StorageFileModeTest, TighteningDoesNotFollowSymbolicLinks) {
  KG_ASSERT_OK(store_->Close());
  store_.reset();
  // A file outside the store, reachable through a link inside it.
  const std::string outside = dir_.Sub("outside");
  { std::ofstream(outside) << "not the store's"; }
  ASSERT_EQ(::chmod(outside.c_str(), 0644), 0);
  const std::string outside_dir = dir_.Sub("outside-dir");
  ASSERT_EQ(::mkdir(outside_dir.c_str(), 0755), 0);
  ASSERT_EQ(::symlink(outside.c_str(), (StorePath() + "/link").c_str()), 0);
  ASSERT_EQ(::symlink(outside_dir.c_str(), (StorePath() + "/dirlink").c_str()),
            0);
  ASSERT_EQ(::chmod(StorePath().c_str(), 0755), 0);

  KG_ASSERT_OK(Reopen());
  EXPECT_EQ(Mode(StorePath()), 0700);
  EXPECT_EQ(Mode(outside), 0644);
  EXPECT_EQ(Mode(outside_dir), 0755);
}

TEST_F(StorageFileModeTest, NewStoreInAnExistingDirectoryTightensOnlyTheDirectory) {
  const std::string path = dir_.Sub("existing");
  ASSERT_EQ(::mkdir(path.c_str(), 0755), 0);
  const std::string other = path + "/README";
  { std::ofstream(other) << "someone else's file"; }
  ASSERT_EQ(::chmod(other.c_str(), 0644), 0);

  Options options = DefaultOptions();
  options.path = path;
  KG_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> store,
                          Store::Open(std::move(options)));
  KG_ASSERT_OK(store->Close());
  EXPECT_EQ(Mode(path), 0700);
  EXPECT_EQ(Mode(other), 0644) << "a file RocksDB did not create is not ours";
  for (const std::string& name : FileNames(path)) {
    if (name == "README") continue;
    EXPECT_EQ(Mode(path + "/" + name), 0600) << name;
  }
}

TEST_F(StorageFileModeTest, FailedOpenWithoutCreateChangesNothing) {
  // Not a store, and create_if_missing is off: Open fails and leaves the
  // directory as it was.
  const std::string path = dir_.Sub("not-a-store");
  ASSERT_EQ(::mkdir(path.c_str(), 0755), 0);
  const std::string file = path + "/data";
  { std::ofstream(file) << "data"; }
  ASSERT_EQ(::chmod(file.c_str(), 0644), 0);

  Options options = DefaultOptions();
  options.path = path;
  options.create_if_missing = false;
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(std::move(options));
  EXPECT_TRUE(absl::IsNotFound(store.status())) << store.status();
  EXPECT_EQ(Mode(path), 0755);
  EXPECT_EQ(Mode(file), 0644);
}

// The FileSystem wrapper on its own, under a permissive umask: what it
// creates is owner-only even for calls a store rarely makes.
TEST_F(StorageFileModeTest, PrivateFileSystemCreatesOwnerOnlyEntries) {
  auto private_fs = std::make_shared<storage::PrivateFileSystem>(
      rocksdb::FileSystem::Default());
  const rocksdb::IOOptions io;
  const rocksdb::FileOptions file_options;
  const std::string dir = dir_.Sub("fs");

  ASSERT_TRUE(private_fs->CreateDir(dir, io, nullptr).ok());
  EXPECT_EQ(Mode(dir), 0700);
  const std::string sub = dir + "/sub";
  ASSERT_EQ(::mkdir(sub.c_str(), 0755), 0);
  ASSERT_TRUE(private_fs->CreateDirIfMissing(sub, io, nullptr).ok());
  EXPECT_EQ(Mode(sub), 0755) << "an existing directory is not its to change";
  ASSERT_TRUE(
      private_fs->CreateDirIfMissing(dir + "/new", io, nullptr).ok());
  EXPECT_EQ(Mode(dir + "/new"), 0700);

  std::unique_ptr<rocksdb::FSWritableFile> writable;
  ASSERT_TRUE(
      private_fs->NewWritableFile(dir + "/w", file_options, &writable, nullptr)
          .ok());
  writable.reset();
  EXPECT_EQ(Mode(dir + "/w"), 0600);
  ASSERT_TRUE(private_fs
                  ->ReopenWritableFile(dir + "/r", file_options, &writable,
                                       nullptr)
                  .ok());
  writable.reset();
  EXPECT_EQ(Mode(dir + "/r"), 0600);
  ASSERT_EQ(::chmod((dir + "/w").c_str(), 0644), 0);
  ASSERT_TRUE(private_fs
                  ->ReuseWritableFile(dir + "/reused", dir + "/w",
                                      file_options, &writable, nullptr)
                  .ok());
  writable.reset();
  EXPECT_EQ(Mode(dir + "/reused"), 0600);

  // The POSIX NewRandomRWFile opens an existing file (no O_CREAT).
  { std::ofstream(dir + "/rw") << "x"; }
  ASSERT_EQ(::chmod((dir + "/rw").c_str(), 0644), 0);
  std::unique_ptr<rocksdb::FSRandomRWFile> random_rw;
  const rocksdb::IOStatus rw_status =
      private_fs->NewRandomRWFile(dir + "/rw", file_options, &random_rw,
                                  nullptr);
  ASSERT_TRUE(rw_status.ok()) << rw_status.ToString();
  random_rw.reset();
  EXPECT_EQ(Mode(dir + "/rw"), 0600);

  std::shared_ptr<rocksdb::Logger> logger;
  ASSERT_TRUE(private_fs->NewLogger(dir + "/LOG", io, &logger, nullptr).ok());
  logger.reset();
  EXPECT_EQ(Mode(dir + "/LOG"), 0600);

  rocksdb::FileLock* lock = nullptr;
  ASSERT_TRUE(private_fs->LockFile(dir + "/LOCK", io, &lock, nullptr).ok());
  EXPECT_EQ(Mode(dir + "/LOCK"), 0600);
  EXPECT_TRUE(private_fs->UnlockFile(lock, io, nullptr).ok());
}

}  // namespace
}  // namespace keygate::test

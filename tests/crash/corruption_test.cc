// tests/crash/corruption_test.cc: damaged WAL, SST and pepper files.
//
// The WAL is replayed in kTolerateCorruptedTailRecords mode (lib/storage/
// database.cc; docs/storage-schema.md, "Crash recovery"): a torn last record
// (a write cut short, never acknowledged) is dropped and the store opens; a
// corrupted record is DataLoss and the store refuses to open, so an
// acknowledged revocation is never silently forgotten. A bad pepper file is
// a clear error and leaves the store as it was.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "keygate/keygate.h"
#include "tests/crash/crash_workload.h"

namespace keygate::crash {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> FilesEndingWith(const fs::path& dir, const std::string& ext) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ext) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

void FlipByte(const fs::path& file, uint64_t offset) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x5a);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(&c, 1);
}

class CorruptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = fs::temp_directory_path() /
            ("keygate-corruption-" + std::to_string(getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path_);
  }
  void TearDown() override { fs::remove_all(path_); }

  uint64_t WalSize() {
    std::vector<fs::path> wals = FilesEndingWith(path_, ".log");
    return wals.empty() ? 0 : fs::file_size(wals.back());
  }

  // Builds a store whose newest WAL holds: an account "ci", tokens "keep"
  // and "gone", and the acknowledged revoke of "gone". Records the WAL
  // offsets around the revoke.
  void BuildStoreWithRevokeInWal() {
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(CrashOptions(path_));
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE((*store)->CreateServiceAccount(kOrganization, {"ci", "ci"}, kActor).ok());
    for (const char* slug : {"keep", "gone"}) {
      TokenSpec spec{slug, slug, {"read:tokens"}, std::nullopt};
      absl::StatusOr<CreatedToken> t = (*store)->CreateToken(kOrganization, "ci", spec, kActor);
      ASSERT_TRUE(t.ok()) << t.status();
      values_[slug] = std::string(t->value.view());
    }
    before_revoke_ = WalSize();
    ASSERT_TRUE((*store)->RevokeToken(kOrganization, "ci", "gone", kActor).ok());
    after_revoke_ = WalSize();
    ASSERT_GT(after_revoke_, before_revoke_);
    ASSERT_TRUE((*store)->Close().ok());
  }

  std::string path_;
  std::map<std::string, std::string> values_;
  uint64_t before_revoke_ = 0;
  uint64_t after_revoke_ = 0;
};

// A corrupted byte in the record of an acknowledged revoke (the last record
// of the WAL) must not be taken for a torn tail: Open refuses with DataLoss
// and keeps refusing (nothing is "repaired" away).
TEST_F(CorruptionTest, CorruptedLastRecordIsDataLossNotARollback) {
  BuildStoreWithRevokeInWal();
  FlipByte(FilesEndingWith(path_, ".log").back(), (before_revoke_ + after_revoke_) / 2);
  for (int attempt = 0; attempt < 2; ++attempt) {
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(CrashOptions(path_));
    ASSERT_FALSE(store.ok()) << "opened with a corrupted revoke; 'gone' verifies: "
                             << (*store)->Verify(values_["gone"]).ok();
    EXPECT_TRUE(absl::IsDataLoss(store.status())) << store.status();
    EXPECT_NE(store.status().message().find("Corruption"), std::string::npos) << store.status();
  }
}

// A corrupted byte in the middle of the WAL, with acknowledged records after
// it: DataLoss, not a replay up to the damage.
TEST_F(CorruptionTest, CorruptedMiddleOfWalIsDataLoss) {
  BuildStoreWithRevokeInWal();
  {
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(CrashOptions(path_));
    ASSERT_TRUE(store.ok()) << store.status();
    // Recovery moved the first WAL into SST files; write a new WAL: a
    // revoke in the middle, more acknowledged writes after it.
    TokenSpec spec{"later", "later", {"read:tokens"}, std::nullopt};
    absl::StatusOr<CreatedToken> t = (*store)->CreateToken(kOrganization, "ci", spec, kActor);
    ASSERT_TRUE(t.ok());
    values_["later"] = std::string(t->value.view());
    before_revoke_ = WalSize();
    ASSERT_TRUE((*store)->RevokeToken(kOrganization, "ci", "later", kActor).ok());
    after_revoke_ = WalSize();
    ASSERT_TRUE((*store)->RenameServiceAccount(kOrganization, "ci", "renamed", kActor).ok());
    ASSERT_TRUE((*store)->Close().ok());
  }
  FlipByte(FilesEndingWith(path_, ".log").back(), (before_revoke_ + after_revoke_) / 2);
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(CrashOptions(path_));
  ASSERT_FALSE(store.ok()) << "opened; the revoked token verifies: "
                           << (*store)->Verify(values_["later"]).ok();
  EXPECT_TRUE(absl::IsDataLoss(store.status())) << store.status();
}

// A torn tail (a write that never completed, so never acknowledged) is
// dropped cleanly: the store opens with everything before it.
TEST_F(CorruptionTest, TornUnacknowledgedTailIsDropped) {
  BuildStoreWithRevokeInWal();
  // Cut the WAL inside the revoke's record: that write "never returned".
  const fs::path wal = FilesEndingWith(path_, ".log").back();
  fs::resize_file(wal, (before_revoke_ + after_revoke_) / 2);
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(CrashOptions(path_));
  ASSERT_TRUE(store.ok()) << store.status();
  absl::StatusOr<State> state = Observe(**store);
  ASSERT_TRUE(state.ok());
  State expected;
  expected.accounts["ci"] = {"ci", false};
  expected.tokens["keep"] = {"ci", false};
  expected.tokens["gone"] = {"ci", false};  // its revoke was the torn write
  EXPECT_EQ(*state, expected) << state->Describe();
  EXPECT_TRUE((*store)->Verify(values_["keep"]).ok());
  // And the store takes writes again.
  EXPECT_TRUE((*store)->RevokeToken(kOrganization, "ci", "gone", kActor).ok());
  EXPECT_FALSE((*store)->Verify(values_["gone"]).ok());
}

// A corrupted byte in the middle of any SST file: the store either refuses
// to open with DataLoss, or (the byte was in a block Open never reads) opens
// with exactly the right state; never a silently different one.
TEST_F(CorruptionTest, CorruptedSstIsDataLossOrHarmless) {
  BuildStoreWithRevokeInWal();
  {  // Reopen: recovery flushes the WAL into SST files.
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(CrashOptions(path_));
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE((*store)->Close().ok());
  }
  const std::vector<fs::path> ssts = FilesEndingWith(path_, ".sst");
  ASSERT_FALSE(ssts.empty());
  const std::string pristine = path_ + "-pristine";
  fs::remove_all(pristine);
  fs::copy(path_, pristine, fs::copy_options::recursive);
  int refused = 0, harmless = 0;
  for (const fs::path& sst : ssts) {
    SCOPED_TRACE(sst.filename().string());
    fs::remove_all(path_);
    fs::copy(pristine, path_, fs::copy_options::recursive);
    fs::permissions(path_, fs::perms::owner_all);
    const fs::path target = fs::path(path_) / sst.filename();
    FlipByte(target, fs::file_size(target) / 2);
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(CrashOptions(path_));
    if (!store.ok()) {
      EXPECT_TRUE(absl::IsDataLoss(store.status())) << store.status();
      ++refused;
      continue;
    }
    absl::StatusOr<State> state = Observe(**store);
    if (!state.ok()) {
      EXPECT_TRUE(absl::IsDataLoss(state.status())) << state.status();
      ++refused;
      continue;
    }
    State expected;
    expected.accounts["ci"] = {"ci", false};
    expected.tokens["keep"] = {"ci", false};
    expected.tokens["gone"] = {"ci", true};
    EXPECT_EQ(*state, expected) << state->Describe();
    EXPECT_TRUE((*store)->Verify(values_["keep"]).ok());
    EXPECT_FALSE((*store)->Verify(values_["gone"]).ok());
    ++harmless;
  }
  std::printf("SST corruption: %zu files, %d refused with DataLoss, %d harmless\n",
              ssts.size(), refused, harmless);
  EXPECT_GT(refused, 0);
  fs::remove_all(pristine);
}

// Bad pepper files: a clear error that never shows the key, and the store
// is untouched (the right pepper file opens it with everything in place).
TEST_F(CorruptionTest, BadPepperFilesAreClearErrorsAndLeaveTheStoreAlone) {
  BuildStoreWithRevokeInWal();
  const std::string good = std::string(kKeyringText);
  const std::string hex = good.substr(2, 64);
  struct Case {
    const char* what;
    std::string text;
    mode_t mode;
  };
  const Case cases[] = {
      {"truncated", good.substr(0, 40), 0600},
      {"bad hex", "1 " + hex.substr(0, 60) + "zz!!\n", 0600},
      {"wrong mode", good, 0644},
      {"different key, same id", "1 " + std::string(64, '7') + "\n", 0600},
      {"empty", "", 0600},
  };
  const std::string pepper_path = path_ + ".pepper";
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    {
      std::ofstream out(pepper_path, std::ios::trunc);
      out << c.text;
    }
    ASSERT_EQ(chmod(pepper_path.c_str(), c.mode), 0);
    absl::Status status;
    absl::StatusOr<std::shared_ptr<const Keyring>> keyring = Keyring::Load(pepper_path);
    if (!keyring.ok()) {
      status = keyring.status();
    } else {
      Options options = CrashOptions(path_);
      options.keyring = *keyring;
      status = Store::Open(options).status();
    }
    EXPECT_FALSE(status.ok());
    EXPECT_TRUE(absl::IsInvalidArgument(status) || absl::IsPermissionDenied(status) ||
                absl::IsFailedPrecondition(status))
        << status;
    EXPECT_EQ(status.message().find(hex.substr(0, 16)), std::string::npos);
    EXPECT_EQ(status.message().find("7777777777777777"), std::string::npos);
    // The store is as it was.
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(CrashOptions(path_));
    ASSERT_TRUE(store.ok()) << store.status();
    absl::StatusOr<State> state = Observe(**store);
    ASSERT_TRUE(state.ok());
    EXPECT_EQ(state->tokens.size(), 2u);
    EXPECT_TRUE((*store)->Verify(values_["keep"]).ok());
    EXPECT_FALSE((*store)->Verify(values_["gone"]).ok());
  }
  fs::remove(pepper_path);
}

}  // namespace
}  // namespace keygate::crash

// tests/crash/io_fault_test.cc: the store under injected I/O errors.
//
// The contract (docs/storage-schema.md, "I/O errors"): a call whose write
// fails returns a non-OK status (Unavailable, naming the I/O error) and
// never success for data not persisted; the verify index and every read of
// the running store show nothing of it; after a failed write RocksDB stops
// accepting writes until the store is reopened; the store reopens cleanly
// once the fault is gone, and then shows the failed call either wholly
// applied or wholly absent (its bytes may have reached the WAL before the
// failing sync: a failed revoke may turn out applied, which is the safe
// direction; a failed create may leave a token whose value nobody ever saw).
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <string>

#include "gtest/gtest.h"
#include "keygate/keygate.h"
#include "lib/store/open_on_file_system.h"
#include "tests/crash/crash_workload.h"
#include "tests/crash/fault_injection_file_system.h"

namespace keygate::crash {
namespace {

using test::FaultInjectionFileSystem;
using test::IoKind;

const char* KindName(IoKind kind) {
  switch (kind) {
    case IoKind::kWrite: return "write";
    case IoKind::kSync: return "sync";
    case IoKind::kFsync: return "fsync";
  }
  return "?";
}

class IoFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = std::filesystem::temp_directory_path() /
            ("keygate-io-fault-" + std::to_string(getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(path_);
  }
  void TearDown() override { std::filesystem::remove_all(path_); }

  absl::StatusOr<std::unique_ptr<Store>> Open(std::shared_ptr<FaultInjectionFileSystem> fs) {
    return store::internal::OpenStoreOnFileSystem(CrashOptions(path_), std::move(fs));
  }

  std::string path_;
};

// The SQLite-style loop: for every kind, once and persistent, fail the n-th
// operation for n = 1..8, counting from before Open and from after it; run random operations
// until one fails, check the live store shows nothing of it, cut the power
// (drop every unsynced byte), reopen without the fault and check the oracle.
TEST_F(IoFaultTest, EveryNthFaultIsAnErrorAndNeverAFalseSuccess) {
  std::mt19937_64 rng(12345);
  Oracle oracle;
  uint64_t counter = 0;
  struct Tally { uint64_t injected = 0, open_refused = 0, call_failed = 0, applied = 0, absent = 0; };
  Tally tally[test::kIoKindCount];
  for (IoKind kind : {IoKind::kWrite, IoKind::kSync, IoKind::kFsync}) {
    for (bool persistent : {false, true}) {
     for (bool at_open : {true, false}) {
      for (uint64_t n = 1; n <= 8; ++n) {
        SCOPED_TRACE(testing::Message() << KindName(kind) << " #" << n
                                        << (persistent ? " persistent" : " once")
                                        << (at_open ? " from open" : " after open"));
        Tally& t = tally[static_cast<int>(kind)];
        auto fs = std::make_shared<FaultInjectionFileSystem>();
        if (at_open) fs->FailNth(kind, n, persistent);
        {
          absl::StatusOr<std::unique_ptr<Store>> store = Open(fs);
          if (!at_open) fs->FailNth(kind, n, persistent);
          if (!store.ok()) {
            // A clear error, not a crash, and not a store half open.
            EXPECT_TRUE(absl::IsUnavailable(store.status()) || absl::IsDataLoss(store.status()))
                << store.status();
            EXPECT_NE(store.status().message().find("injected I/O error"), std::string::npos)
                << store.status();
            ++t.open_refused;
          } else {
            for (int i = 0; i < 40; ++i) {
              Op op = PickOp(oracle.acked, rng, absl::StrCat("f", counter), counter);
              oracle.Intent(op);
              std::string value;
              absl::Status s = crash::Run(**store, op, &value);
              if (s.ok()) {
                oracle.Ack(value);
                continue;
              }
              ++t.call_failed;
              EXPECT_TRUE(absl::IsUnavailable(s)) << s;
              EXPECT_NE(s.message().find("injected I/O error"), std::string::npos) << s;
              // The running store shows nothing of the failed call.
              std::optional<std::string> d = oracle.Check(**store, /*pending_must_be_absent=*/true);
              ASSERT_FALSE(d.has_value()) << *d;
              oracle.Intent(op);  // still in doubt until the reopen
              // RocksDB refuses further writes until reopened.
              // (a call that writes: a purge with nothing to purge writes nothing)
              Op next;
              next.name = absl::StrCat("n", counter++);
              if (oracle.acked.accounts.empty()) {
                next.kind = OpKind::kCreateAccount;
                next.account = "acct-0";
              } else {
                next.kind = OpKind::kRename;
                next.account = oracle.acked.accounts.begin()->first;
              }
              std::string ignored;
              EXPECT_FALSE(crash::Run(**store, next, &ignored).ok());
              break;
            }
          }
          fs->SetActive(false);  // power cut: only synced bytes survive
        }
        t.injected += fs->injected(kind);
        fs->DropUnsyncedData();
        absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(CrashOptions(path_));
        ASSERT_TRUE(store.ok()) << store.status();
        const bool was_pending = oracle.pending.has_value();
        const uint64_t applied_before = oracle.pending_applied;
        std::optional<std::string> d = oracle.Check(**store);
        ASSERT_FALSE(d.has_value()) << *d;
        if (was_pending) (oracle.pending_applied > applied_before ? t.applied : t.absent)++;
      }
     }
    }
  }
  for (IoKind kind : {IoKind::kWrite, IoKind::kSync, IoKind::kFsync}) {
    const Tally& t = tally[static_cast<int>(kind)];
    std::printf("%-5s faults injected %llu: open refused %llu, call failed %llu "
                "(after reopen: applied %llu, absent %llu)\n",
                KindName(kind), static_cast<unsigned long long>(t.injected),
                static_cast<unsigned long long>(t.open_refused),
                static_cast<unsigned long long>(t.call_failed),
                static_cast<unsigned long long>(t.applied),
                static_cast<unsigned long long>(t.absent));
    EXPECT_GT(t.injected, 0u) << KindName(kind);
  }
}

// A revoke whose WAL sync fails is an error; the token keeps verifying in
// this process (the revoke did not happen as far as the caller knows, and
// the index must never run ahead of storage); the caller retries after a
// reopen and then the token never verifies again.
TEST_F(IoFaultTest, FailedRevokeIsAnErrorAndTheRetryHolds) {
  auto fs = std::make_shared<FaultInjectionFileSystem>();
  std::string value;
  {
    absl::StatusOr<std::unique_ptr<Store>> store = Open(fs);
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE((*store)->CreateServiceAccount(kOrganization, {"ci", "ci"}, kActor).ok());
    TokenSpec spec{"deploy", "deploy", {"read:tokens"}, std::nullopt};
    absl::StatusOr<CreatedToken> t = (*store)->CreateToken(kOrganization, "ci", spec, kActor);
    ASSERT_TRUE(t.ok()) << t.status();
    value.assign(t->value.view());
    for (IoKind kind : {IoKind::kWrite, IoKind::kSync}) {
      fs->FailNth(kind, 1, /*persistent=*/false);
      absl::Status s = (*store)->RevokeToken(kOrganization, "ci", "deploy", kActor);
      EXPECT_TRUE(absl::IsUnavailable(s)) << KindName(kind) << ": " << s;
      EXPECT_TRUE((*store)->Verify(value).ok()) << KindName(kind);
    }
    fs->ClearFaults();
    // Writes stay refused until the store is reopened, even with the fault gone.
    EXPECT_FALSE((*store)->RevokeToken(kOrganization, "ci", "deploy", kActor).ok());
    // Close after a failed write must not abort the process (Debian's
    // RocksDB asserts on a second use of the failed WAL writer); its status
    // may carry the earlier error.
    (void)(*store)->Close();
  }
  absl::StatusOr<std::unique_ptr<Store>> store = Open(fs);
  ASSERT_TRUE(store.ok()) << store.status();
  absl::Status retry = (*store)->RevokeToken(kOrganization, "ci", "deploy", kActor);
  // The failed sync's bytes may have reached the WAL: then it is revoked
  // already (NotFound), which is the safe direction.
  EXPECT_TRUE(retry.ok() || absl::IsNotFound(retry)) << retry;
  EXPECT_FALSE((*store)->Verify(value).ok());
  ASSERT_TRUE((*store)->Close().ok());
  fs->SetActive(false);
  fs->DropUnsyncedData();
  fs->ClearFaults();
  store = Open(fs);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_FALSE((*store)->Verify(value).ok());
}

// A full disk: every write call fails with a clear error, nothing it tried
// shows, verify keeps answering from memory, and once space is back a
// reopened store works.
TEST_F(IoFaultTest, FullDiskFailsEveryWriteClearly) {
  auto fs = std::make_shared<FaultInjectionFileSystem>();
  std::string value;
  {
    absl::StatusOr<std::unique_ptr<Store>> store = Open(fs);
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE((*store)->CreateServiceAccount(kOrganization, {"ci", "ci"}, kActor).ok());
    TokenSpec spec{"deploy", "deploy", {"read:tokens"}, std::nullopt};
    absl::StatusOr<CreatedToken> t = (*store)->CreateToken(kOrganization, "ci", spec, kActor);
    ASSERT_TRUE(t.ok()) << t.status();
    value.assign(t->value.view());

    fs->SetDiskFull(true);
    TokenSpec spec2{"second", "second", {"read:tokens"}, std::nullopt};
    const absl::Status statuses[] = {
        (*store)->CreateToken(kOrganization, "ci", spec2, kActor).status(),
        (*store)->RevokeToken(kOrganization, "ci", "deploy", kActor),
        (*store)->CreateServiceAccount(kOrganization, {"other", "other"}, kActor).status(),
        (*store)->SetServiceAccountDisabled(kOrganization, "ci", true, kActor).status(),
        (*store)->RenameServiceAccount(kOrganization, "ci", "renamed", kActor).status(),
        (*store)->DeleteServiceAccount(kOrganization, "ci", kActor),
    };
    for (const absl::Status& s : statuses) {
      EXPECT_TRUE(absl::IsUnavailable(s)) << s;
      EXPECT_FALSE(s.message().empty());
    }
    EXPECT_NE(statuses[0].message().find("No space"), std::string::npos) << statuses[0];
    EXPECT_TRUE((*store)->Verify(value).ok());
    absl::StatusOr<State> state = Observe(**store);
    ASSERT_TRUE(state.ok());
    EXPECT_EQ(state->accounts.size(), 1u);
    EXPECT_EQ(state->tokens.size(), 1u);
    EXPECT_FALSE(state->accounts.at("ci").disabled);
    fs->SetDiskFull(false);
  }
  absl::StatusOr<std::unique_ptr<Store>> store = Open(fs);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_TRUE((*store)->Verify(value).ok());
  ASSERT_TRUE((*store)->RevokeToken(kOrganization, "ci", "deploy", kActor).ok());
  EXPECT_FALSE((*store)->Verify(value).ok());
}

}  // namespace
}  // namespace keygate::crash

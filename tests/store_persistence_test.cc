// Tests of keygate::Store across Open/Close: reopening keeps everything,
// the store is exclusive (in this process and across processes), the pepper
// keyring is checked against the store, options are validated, peppers
// rotate, and a closed store refuses every call.
//
// These tests keep sync_writes on (the default) since durability is part of
// what they check.
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "keygate/keygate.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "tests/store_test_util.h"

namespace keygate {
namespace {

// Exit codes of a child process that tried to open a store.
constexpr int kChildFailedPrecondition = 10;
constexpr int kChildOpened = 11;
constexpr int kChildOtherError = 12;
constexpr int kChildBadSetup = 13;

// Environment of the child mode (see StorePersistenceChild.Open).
constexpr const char* kChildPathEnv = "KEYGATE_TEST_CHILD_OPEN_PATH";
// Pepper-file text for the child's keyring, with ';' for newlines.
constexpr const char* kChildKeyringEnv = "KEYGATE_TEST_CHILD_KEYRING";
// File the child writes "<status code>\n<status message>" to.
constexpr const char* kChildResultEnv = "KEYGATE_TEST_CHILD_RESULT";
// Optional: "write-and-die" makes the child write (see ChildOpen) and then
// exit without closing the store, as a crashing host would.
constexpr const char* kChildActionEnv = "KEYGATE_TEST_CHILD_ACTION";
constexpr std::string_view kWriteAndDie = "write-and-die";
// Optional: "in-use" makes the child report kChildFailedPrecondition only
// when its refusal carries the store-in-use payload (IsStoreInUse), and
// kChildOtherError for any other refusal.
constexpr std::string_view kCheckInUse = "in-use";

// Sanitizer runtime settings a re-executed child keeps, so it is checked as
// the parent is (the child's environment is otherwise only the variables
// above).
constexpr std::string_view kInheritedEnvPrefixes[] = {"ASAN_OPTIONS=",
                                                       "UBSAN_OPTIONS=",
                                                       "LSAN_OPTIONS="};

// ChildOpen opens the store at `path` with `keyring_text` and returns one of
// the exit codes above; if `result_path` is not empty it also writes the
// status there.
//
// With action kWriteAndDie the child, once open, revokes token "victim" of
// account "svc", creates token "born" there and disables account "other"
// (organization "org-test"), writes the first failing status (or OK) and
// exits at once, without Close or destructors. With action kCheckInUse the
// refusal must carry the store-in-use payload to count as
// kChildFailedPrecondition.
int ChildOpen(const std::string& path, std::string keyring_text,
              const std::string& result_path, std::string_view action = {}) {
  std::replace(keyring_text.begin(), keyring_text.end(), ';', '\n');
  absl::StatusOr<std::shared_ptr<const Keyring>> keyring =
      Keyring::Parse(keyring_text);
  if (!keyring.ok()) return kChildBadSetup;
  Options options;
  options.path = path;
  options.keyring = *keyring;
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options);
  absl::Status status = store.status();
  if (store.ok() && action == kWriteAndDie) {
    Store& st = **store;
    status = st.RevokeToken("org-test", "svc", "victim", "user:child");
    TokenSpec spec;
    spec.name = "born";
    spec.slug = "born";
    spec.scopes = {"read:tokens"};
    if (status.ok()) {
      status = st.CreateToken("org-test", "svc", spec, "user:child").status();
    }
    if (status.ok()) {
      status =
          st.SetServiceAccountDisabled("org-test", "other", true, "user:child")
              .status();
    }
    if (!result_path.empty()) {
      std::ofstream out(result_path, std::ios::binary | std::ios::trunc);
      out << static_cast<int>(status.code()) << "\n" << status.message();
    }
    std::_Exit(status.ok() ? kChildOpened : kChildOtherError);  // no Close
  }
  if (store.ok()) status = (*store)->Close();
  if (!result_path.empty()) {
    std::ofstream out(result_path, std::ios::binary | std::ios::trunc);
    out << static_cast<int>(status.code()) << "\n" << status.message();
  }
  if (store.ok()) return kChildOpened;
  if (action == kCheckInUse) {
    return IsStoreInUse(status) ? kChildFailedPrecondition : kChildOtherError;
  }
  // The parent's log shows why (the message names no secret).
  fprintf(stderr, "child open: %s\n", status.ToString().c_str());
  return status.code() == absl::StatusCode::kFailedPrecondition
             ? kChildFailedPrecondition
             : kChildOtherError;
}

// WaitChild waits for `pid` (bounded: a hung child is killed and reported,
// it never hangs the suite) and returns its exit code, or -1 - signal if a
// signal ended it, or -1000 if it hung.
int WaitChild(pid_t pid) {
  for (int i = 0; i < 6000; ++i) {  // up to ~60 s
    int wstatus = 0;
    const pid_t r = waitpid(pid, &wstatus, WNOHANG);
    if (r == pid) {
      if (WIFEXITED(wstatus)) return WEXITSTATUS(wstatus);
      if (WIFSIGNALED(wstatus)) return -1 - WTERMSIG(wstatus);
      return -1;
    }
    if (r < 0) return -1;
    usleep(10 * 1000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return -1000;
}

// RunOpenChild re-executes this test binary in child mode (a fresh process
// with no in-process state) to open `path` with `keyring_text`, and returns
// its exit code as WaitChild does. If `status` is not null it receives the
// child's Open status, or an Internal status describing a crash or hang.
int RunOpenChild(const std::string& path, const std::string& keyring_text,
                 const std::string& result_path, absl::Status* status,
                 std::string_view action = {}) {
  std::string keyring_env = keyring_text;
  std::replace(keyring_env.begin(), keyring_env.end(), '\n', ';');
  const std::string env_path = std::string(kChildPathEnv) + "=" + path;
  const std::string env_keyring =
      std::string(kChildKeyringEnv) + "=" + keyring_env;
  const std::string env_result =
      std::string(kChildResultEnv) + "=" + result_path;
  const std::string env_action =
      std::string(kChildActionEnv) + "=" + std::string(action);
  const std::string filter = "--gtest_filter=StorePersistenceChild.Open";
  std::vector<std::string> env_strings = {env_path, env_keyring, env_result,
                                          env_action};
  for (char** e = environ; *e != nullptr; ++e) {
    for (std::string_view prefix : kInheritedEnvPrefixes) {
      if (std::string_view(*e).starts_with(prefix)) env_strings.push_back(*e);
    }
  }
  // Everything the child needs is built before fork: between fork and
  // execve the child only makes system calls (no allocation, no locks), so
  // no lock another thread of this multithreaded process held at the fork
  // (RocksDB's background threads, an allocator's, ASan's) can hang it.
  char* argv[] = {const_cast<char*>("store_persistence_test"),
                  const_cast<char*>(filter.c_str()), nullptr};
  std::vector<char*> envp;
  for (std::string& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::remove(result_path.c_str());
  fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    execve("/proc/self/exe", argv, envp.data());
    _exit(kChildBadSetup);
  }
  const int code = WaitChild(pid);
  if (status != nullptr) {
    if (code == -1000) {
      *status = absl::InternalError("Store::Open hung (child killed)");
    } else if (code < 0) {
      *status = absl::InternalError("Store::Open crashed the process (signal " +
                                    std::to_string(-1 - code) + ")");
    } else {
      std::ifstream in(result_path, std::ios::binary);
      int raw_code = -1;
      std::string message;
      if (in >> raw_code) {
        in.get();
        message.assign(std::istreambuf_iterator<char>(in),
                       std::istreambuf_iterator<char>());
        *status =
            absl::Status(static_cast<absl::StatusCode>(raw_code), message);
      } else {
        *status = absl::InternalError("child wrote no result");
      }
    }
  }
  return code;
}

// The child half of the tests above: runs only when the parent re-executes
// this binary with the environment set.
TEST(StorePersistenceChild, Open) {
  const char* path = std::getenv(kChildPathEnv);
  const char* keyring = std::getenv(kChildKeyringEnv);
  const char* result = std::getenv(kChildResultEnv);
  const char* action = std::getenv(kChildActionEnv);
  if (path == nullptr || keyring == nullptr) {
    GTEST_SKIP() << "only runs as a child process";
  }
  std::_Exit(ChildOpen(path, keyring, result == nullptr ? "" : result,
                       action == nullptr ? "" : action));
}

class PersistenceTest : public test::StoreTest {
 protected:
  bool SyncWrites() const override { return true; }
};

TEST_F(PersistenceTest, ReopenKeepsEverything) {
  KG_ASSERT_OK(CreateAccount("alpha"));
  KG_ASSERT_OK(CreateAccount("beta"));
  KG_ASSERT_OK(CreateAccount("gone"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken active,
                          CreateToken("alpha", "active", {"write:tokens"}));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken revoked, CreateToken("alpha", "old"));
  KG_ASSERT_OK_AND_ASSIGN(
      CreatedToken expiring,
      CreateToken("alpha", "expiring", {"read:*"}, std::nullopt,
                  clock_.Now() + absl::Hours(2)));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken disabled, CreateToken("beta", "b"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken deleted, CreateToken("gone", "g"));
  clock_.Advance(absl::Minutes(1));
  KG_ASSERT_OK(
      store_->RevokeToken(kOrg, "alpha", revoked.metadata.slug, "user:rev"));
  KG_ASSERT_OK(store_->SetServiceAccountDisabled(kOrg, "beta", true, kActor));
  KG_ASSERT_OK(
      store_->RenameServiceAccount(kOrg, "alpha", "Alpha Prime", "user:ren"));
  KG_ASSERT_OK(store_->DeleteServiceAccount(kOrg, "gone", kActor));

  KG_ASSERT_OK_AND_ASSIGN(auto accounts_before, AllAccounts());
  KG_ASSERT_OK_AND_ASSIGN(auto tokens_before, AllTokens("alpha"));

  KG_ASSERT_OK(Reopen());

  KG_ASSERT_OK_AND_ASSIGN(auto accounts_after, AllAccounts());
  ASSERT_EQ(accounts_after.size(), 2u);
  ASSERT_EQ(accounts_before.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const ServiceAccount& b = accounts_before[i];
    const ServiceAccount& a = accounts_after[i];
    EXPECT_EQ(a.organization, b.organization);
    EXPECT_EQ(a.slug, b.slug);
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.disabled, b.disabled);
    EXPECT_EQ(a.created_at, b.created_at);
    EXPECT_EQ(a.created_by, b.created_by);
    EXPECT_EQ(a.updated_at, b.updated_at);
    EXPECT_EQ(a.updated_by, b.updated_by);
  }
  EXPECT_EQ(accounts_after[0].name, "Alpha Prime");
  EXPECT_TRUE(accounts_after[1].disabled);

  KG_ASSERT_OK_AND_ASSIGN(auto tokens_after, AllTokens("alpha"));
  ASSERT_EQ(tokens_after.size(), tokens_before.size());
  for (size_t i = 0; i < tokens_after.size(); ++i) {
    const TokenMetadata& b = tokens_before[i];
    const TokenMetadata& a = tokens_after[i];
    EXPECT_EQ(a.slug, b.slug);
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.scopes, b.scopes);
    EXPECT_EQ(a.created_at, b.created_at);
    EXPECT_EQ(a.created_by, b.created_by);
    EXPECT_EQ(a.expires_at, b.expires_at);
    EXPECT_EQ(a.revoked_at, b.revoked_at);
    EXPECT_EQ(a.revoked_by, b.revoked_by);
    EXPECT_EQ(a.pepper_id, b.pepper_id);
  }

  KG_ASSERT_OK_AND_ASSIGN(Principal p,
                          store_->Verify(active.value.view(), "read:tokens"));
  EXPECT_EQ(p.service_account(), "alpha");
  EXPECT_EQ(p.token_slug(), active.metadata.slug);
  EXPECT_EQ(VerifyFailureOf(store_->Verify(revoked.value.view()).status()),
            VerifyFailure::kRevoked);
  EXPECT_EQ(VerifyFailureOf(store_->Verify(disabled.value.view()).status()),
            VerifyFailure::kAccountDisabled);
  EXPECT_EQ(VerifyFailureOf(store_->Verify(deleted.value.view()).status()),
            VerifyFailure::kUnknown);
  EXPECT_EQ(store_->GetServiceAccount(kOrg, "gone").status().code(),
            absl::StatusCode::kNotFound);
  KG_EXPECT_OK(store_->Verify(expiring.value.view()));
  clock_.Advance(absl::Hours(2));
  EXPECT_EQ(VerifyFailureOf(store_->Verify(expiring.value.view()).status()),
            VerifyFailure::kExpired);

  // Uniqueness rules survive too: the revoked token's slug stays taken.
  EXPECT_EQ(CreateToken("alpha", "x", {"read:tokens"}, revoked.metadata.slug)
                .status()
                .code(),
            absl::StatusCode::kAlreadyExists);
  // Enabling after reopen restores the disabled account's token.
  KG_ASSERT_OK(store_->SetServiceAccountDisabled(kOrg, "beta", false, kActor));
  KG_EXPECT_OK(store_->Verify(disabled.value.view()));
}

TEST_F(PersistenceTest, DestructorWithoutCloseReleasesTheStore) {
  SKIP_IF_POSTGRES("the RocksDB LOCK file");
  KG_ASSERT_OK(CreateAccount("kept"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken t, CreateToken("kept", "t"));
  store_.reset();  // no Close()
  KG_ASSERT_OK_AND_ASSIGN(store_, Store::Open(DefaultOptions()));
  KG_EXPECT_OK(store_->Verify(t.value.view()));
}

TEST_F(PersistenceTest, SecondOpenInProcessIsFailedPrecondition) {
  SKIP_IF_POSTGRES("the RocksDB LOCK file (on PostgreSQL a second open joins the fleet: tests/postgres_fleet_test.cc)");
  KG_ASSERT_OK(CreateAccount("held"));
  auto second = Store::Open(DefaultOptions());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition)
      << second.status();
  // The first store is unharmed.
  KG_EXPECT_OK(store_->GetServiceAccount(kOrg, "held"));
  KG_EXPECT_OK(CreateAccount("still-writable"));
  // Once closed, the store can be opened again.
  KG_ASSERT_OK(store_->Close());
  KG_ASSERT_OK_AND_ASSIGN(store_, Store::Open(DefaultOptions()));
  KG_EXPECT_OK(store_->GetServiceAccount(kOrg, "still-writable"));
}

// A lock conflict is told apart by a status payload, not by its text; no
// other refusal of Open carries it.
TEST_F(PersistenceTest, StoreInUseIsAStructuredStatus) {
  SKIP_IF_POSTGRES("the RocksDB LOCK file");
  KG_ASSERT_OK(CreateAccount("held"));
  auto second = Store::Open(DefaultOptions());
  ASSERT_FALSE(second.ok());
  EXPECT_TRUE(IsStoreInUse(second.status())) << second.status();
  // Passing the status on (as the CLI does, with context) keeps the payload.
  absl::Status wrapped(second.status().code(), "context: ");
  second.status().ForEachPayload(
      [&](absl::string_view type_url, const absl::Cord& payload) {
        wrapped.SetPayload(type_url, payload);
      });
  EXPECT_TRUE(IsStoreInUse(wrapped));
  // The text alone is not enough.
  EXPECT_FALSE(IsStoreInUse(absl::FailedPreconditionError(
      std::string(second.status().message()))));

  // Other refusals are not "in use".
  KG_ASSERT_OK(store_->Close());
  store_.reset();
  Options wrong = DefaultOptions();
  wrong.keyring = test::ParseKeyringOrDie({{1, test::kOtherPepperHex1}});
  auto refused = Store::Open(wrong);
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(IsStoreInUse(refused.status())) << refused.status();
  Options missing = DefaultOptions();
  missing.path = dir_.Sub("absent");
  missing.create_if_missing = false;
  EXPECT_FALSE(IsStoreInUse(Store::Open(missing).status()));
  EXPECT_FALSE(IsStoreInUse(absl::OkStatus()));
}

// Across processes too: a second process (this binary re-executed, so it
// shares no in-process state) sees the payload on its refusal.
TEST_F(PersistenceTest, SecondProcessSeesStoreInUse) {
  SKIP_IF_POSTGRES("the RocksDB LOCK file");
  KG_ASSERT_OK(CreateAccount("held"));
  absl::Status child;
  EXPECT_EQ(RunOpenChild(StorePath(),
                         test::KeyringText({{1, test::kPepperHex1}}),
                         dir_.Sub("result"), &child, kCheckInUse),
            kChildFailedPrecondition)
      << child;
  EXPECT_EQ(child.code(), absl::StatusCode::kFailedPrecondition) << child;
  // The refusal harmed nothing: the holder still reads and writes.
  KG_EXPECT_OK(store_->GetServiceAccount(kOrg, "held"));
  KG_EXPECT_OK(CreateAccount("after-child"));
}

// A fresh process (fork + exec of this test binary) has no in-process state
// at all, so only the on-disk lock can stop it.
TEST_F(PersistenceTest, SecondProcessGetsFailedPrecondition) {
  SKIP_IF_POSTGRES("the RocksDB LOCK file");
  KG_ASSERT_OK(CreateAccount("held"));
  const std::string keyring = test::KeyringText({{1, test::kPepperHex1}});
  absl::Status child;
  EXPECT_EQ(RunOpenChild(StorePath(), keyring, dir_.Sub("result"), &child),
            kChildFailedPrecondition)
      << child;
  EXPECT_EQ(child.code(), absl::StatusCode::kFailedPrecondition) << child;
  KG_EXPECT_OK(store_->GetServiceAccount(kOrg, "held"));
  KG_EXPECT_OK(CreateAccount("after-child"));

  // After the parent closes, a second process may open it.
  KG_ASSERT_OK(store_->Close());
  store_.reset();
  EXPECT_EQ(RunOpenChild(StorePath(), keyring, dir_.Sub("result"), &child),
            kChildOpened)
      << child;
}

TEST_F(PersistenceTest, WrongPepperIsRefusedClearly) {
  SKIP_IF_POSTGRES("its child process opens the store directory");
  KG_ASSERT_OK(CreateAccount("svc"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken t, CreateToken("svc", "t"));
  KG_ASSERT_OK(store_->Close());
  store_.reset();

  // Opened in a fresh process, so a crash fails this test only.
  absl::Status wrong;
  RunOpenChild(StorePath(), test::KeyringText({{1, test::kOtherPepperHex1}}),
               dir_.Sub("result"), &wrong);
  EXPECT_EQ(wrong.code(), absl::StatusCode::kFailedPrecondition) << wrong;
  const std::string message =
      absl::AsciiStrToLower(std::string(wrong.message()));
  EXPECT_NE(message.find("pepper"), std::string::npos) << wrong;
  // Neither key appears in the message, in any case.
  EXPECT_EQ(message.find(std::string(test::kPepperHex1).substr(0, 16)),
            std::string::npos);
  EXPECT_EQ(message.find(std::string(test::kOtherPepperHex1).substr(0, 16)),
            std::string::npos);

  // The refused attempt changed nothing: the right pepper still opens it.
  KG_ASSERT_OK_AND_ASSIGN(store_, Store::Open(DefaultOptions()));
  KG_EXPECT_OK(store_->Verify(t.value.view()));
}

TEST_F(PersistenceTest, WrongPepperRefusedEvenWithoutTokens) {
  SKIP_IF_POSTGRES("its child process opens the store directory");
  // The store records its peppers at creation, not at first token.
  KG_ASSERT_OK(store_->Close());
  store_.reset();
  absl::Status wrong;
  RunOpenChild(StorePath(), test::KeyringText({{1, test::kOtherPepperHex1}}),
               dir_.Sub("result"), &wrong);
  EXPECT_EQ(wrong.code(), absl::StatusCode::kFailedPrecondition) << wrong;
}

TEST_F(PersistenceTest, KeyringMissingAUsedPepperIsRefused) {
  SKIP_IF_POSTGRES("its child process opens the store directory");
  Options rotated = DefaultOptions();
  rotated.keyring =
      test::ParseKeyringOrDie({{1, test::kPepperHex1}, {2, test::kPepperHex2}});
  KG_ASSERT_OK(Reopen(rotated));
  KG_ASSERT_OK(CreateAccount("svc"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken t2, CreateToken("svc", "t2"));
  EXPECT_EQ(t2.metadata.pepper_id, 2);
  KG_ASSERT_OK(store_->Close());
  store_.reset();

  // Only pepper 1: the store uses pepper 2.
  absl::Status missing;
  RunOpenChild(StorePath(), test::KeyringText({{1, test::kPepperHex1}}),
               dir_.Sub("result"), &missing);
  EXPECT_EQ(missing.code(), absl::StatusCode::kFailedPrecondition) << missing;

  // The full keyring still works.
  KG_ASSERT_OK_AND_ASSIGN(store_, Store::Open(rotated));
  KG_EXPECT_OK(store_->Verify(t2.value.view()));
}

TEST_F(PersistenceTest, KeyringMissingTheOlderPepperIsRefused) {
  SKIP_IF_POSTGRES("its child process opens the store directory");
  KG_ASSERT_OK(CreateAccount("svc"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken t1, CreateToken("svc", "t1"));
  KG_ASSERT_OK(store_->Close());
  store_.reset();
  absl::Status missing;
  RunOpenChild(StorePath(), test::KeyringText({{2, test::kPepperHex2}}),
               dir_.Sub("result"), &missing);
  EXPECT_EQ(missing.code(), absl::StatusCode::kFailedPrecondition) << missing;
  // The full keyring still opens it and the token verifies.
  KG_ASSERT_OK_AND_ASSIGN(store_, Store::Open(DefaultOptions()));
  KG_EXPECT_OK(store_->Verify(t1.value.view()));
}

TEST_F(PersistenceTest, PepperRotationKeepsOldTokensValid) {
  KG_ASSERT_OK(CreateAccount("svc"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken old_token, CreateToken("svc", "old"));
  EXPECT_EQ(old_token.metadata.pepper_id, 1);

  Options rotated = DefaultOptions();
  rotated.keyring =
      test::ParseKeyringOrDie({{1, test::kPepperHex1}, {2, test::kPepperHex2}});
  KG_ASSERT_OK(Reopen(rotated));
  KG_EXPECT_OK(store_->Verify(old_token.value.view()));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken new_token, CreateToken("svc", "new"));
  EXPECT_EQ(new_token.metadata.pepper_id, 2);
  KG_EXPECT_OK(store_->Verify(new_token.value.view()));
  // The listed metadata records which pepper digested each token.
  KG_ASSERT_OK_AND_ASSIGN(auto tokens, AllTokens("svc"));
  ASSERT_EQ(tokens.size(), 2u);
  EXPECT_EQ(tokens[0].pepper_id, 2);  // newest first
  EXPECT_EQ(tokens[1].pepper_id, 1);

  // Both survive another reopen; revoking the old one still works.
  KG_ASSERT_OK(Reopen(rotated));
  KG_EXPECT_OK(store_->Verify(old_token.value.view()));
  KG_EXPECT_OK(store_->Verify(new_token.value.view()));
  KG_ASSERT_OK(
      store_->RevokeToken(kOrg, "svc", old_token.metadata.slug, kActor));
  EXPECT_EQ(VerifyFailureOf(store_->Verify(old_token.value.view()).status()),
            VerifyFailure::kRevoked);
  KG_EXPECT_OK(store_->Verify(new_token.value.view()));
}

TEST_F(PersistenceTest, InvalidOptionsAreInvalidArgument) {
  SKIP_IF_POSTGRES("store paths");
  {
    Options options = DefaultOptions();
    options.keyring = nullptr;
    auto s = Store::Open(options);
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument)
        << s.status();
  }
  {
    Options options = DefaultOptions();
    options.path = "";
    auto s = Store::Open(options);
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument)
        << s.status();
  }
  for (const std::string& prefix :
       {std::string(""), std::string("_"), std::string("kg"),
        std::string("KG_"), std::string("k-g_"), std::string("kg__"),
        std::string(16, 'a') + "a_", std::string("k\0_", 3),
        std::string("\xff_")}) {
    Options options = DefaultOptions();
    options.path = dir_.Sub("prefix-store");
    options.token_prefix = prefix;
    auto s = Store::Open(options);
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument)
        << "prefix of size " << prefix.size() << ": " << s.status();
  }
  // Nothing was created by the refused opens.
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("prefix-store")));
  // The longest valid prefix works.
  Options options = DefaultOptions();
  options.path = dir_.Sub("long-prefix");
  options.token_prefix = std::string(16, 'a') + "_";
  KG_ASSERT_OK_AND_ASSIGN(auto other, Store::Open(options));
  KG_EXPECT_OK(other->Close());
}

TEST_F(PersistenceTest, CreateIfMissingFalseDoesNotCreate) {
  SKIP_IF_POSTGRES("store directories");
  Options options = DefaultOptions();
  options.path = dir_.Sub("absent");
  options.create_if_missing = false;
  auto s = Store::Open(options);
  EXPECT_FALSE(s.ok());
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("absent") + "/CURRENT"));
}

// Acknowledged writes survive the death of the process that made them: a
// child process revokes, creates and disables, then exits without Close.
TEST_F(PersistenceTest, WritesSurviveProcessDeathWithoutClose) {
  SKIP_IF_POSTGRES("its child process writes the store directory");
  KG_ASSERT_OK(CreateAccount("svc"));
  KG_ASSERT_OK(CreateAccount("other"));
  KG_ASSERT_OK_AND_ASSIGN(
      CreatedToken victim,
      CreateToken("svc", "victim", {"read:tokens"}, std::string("victim")));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken other_token, CreateToken("other", "o"));
  KG_ASSERT_OK(store_->Close());
  store_.reset();

  absl::Status child;
  EXPECT_EQ(
      RunOpenChild(StorePath(), test::KeyringText({{1, test::kPepperHex1}}),
                   dir_.Sub("result"), &child, kWriteAndDie),
      kChildOpened)
      << child;
  KG_ASSERT_OK(child);

  KG_ASSERT_OK_AND_ASSIGN(store_, Store::Open(DefaultOptions()));
  EXPECT_EQ(VerifyFailureOf(store_->Verify(victim.value.view()).status()),
            VerifyFailure::kRevoked);
  EXPECT_EQ(VerifyFailureOf(store_->Verify(other_token.value.view()).status()),
            VerifyFailure::kAccountDisabled);
  KG_ASSERT_OK_AND_ASSIGN(auto tokens, AllTokens("svc"));
  ASSERT_EQ(tokens.size(), 2u);
  // (The child ran on the system clock, so no order is asserted here.)
  const TokenMetadata& a = tokens[0];
  const TokenMetadata& b = tokens[1];
  const TokenMetadata& born = a.slug == "born" ? a : b;
  const TokenMetadata& dead = a.slug == "born" ? b : a;
  EXPECT_EQ(born.slug, "born");
  EXPECT_EQ(born.created_by, "user:child");
  EXPECT_FALSE(born.revoked());
  EXPECT_EQ(dead.slug, "victim");
  EXPECT_EQ(dead.revoked_by, "user:child");
}

TEST_F(PersistenceTest, PathThatIsAFileIsAnErrorNotACrash) {
  SKIP_IF_POSTGRES("store paths");
  const std::string file = dir_.Sub("plain-file");
  { std::ofstream(file) << "not a store"; }
  Options options = DefaultOptions();
  options.path = file;
  auto s = Store::Open(options);
  EXPECT_FALSE(s.ok());
  std::ifstream in(file);
  std::string content((std::istreambuf_iterator<char>(in)),
                      std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "not a store");
}

// A directory holding some other RocksDB database is refused, and left as
// it was: no keygate column families or records are added to it.
TEST_F(PersistenceTest, ForeignRocksDbIsRefusedAndLeftAlone) {
  SKIP_IF_POSTGRES("a RocksDB directory");
  const std::string path = dir_.Sub("foreign");
  {
    rocksdb::Options raw;
    raw.create_if_missing = true;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(raw, path, &db).ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "foo", "bar").ok());
    ASSERT_TRUE(db->Close().ok());
    delete db;
  }
  Options options = DefaultOptions();
  options.path = path;
  auto s = Store::Open(options);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition)
      << s.status();

  std::vector<std::string> families;
  ASSERT_TRUE(
      rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path, &families)
          .ok());
  EXPECT_EQ(families, std::vector<std::string>({"default"}))
      << "the refused open added column families to a foreign database";
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(rocksdb::DB::OpenForReadOnly(rocksdb::Options(), path, &db).ok());
  std::unique_ptr<rocksdb::Iterator> it(
      db->NewIterator(rocksdb::ReadOptions()));
  std::vector<std::string> keys;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    keys.push_back(it->key().ToString());
  }
  EXPECT_EQ(keys, std::vector<std::string>({"foo"}));
  it.reset();
  delete db;
}

// "Created if missing" with a missing parent: either the directories are
// created, or the error says the caller must fix the path. Unavailable
// ("temporarily unable to serve; retry") would be wrong: retrying never helps.
TEST_F(PersistenceTest, MissingParentDirectoryIsNotUnavailable) {
  SKIP_IF_POSTGRES("store paths");
  Options options = DefaultOptions();
  options.path = dir_.Sub("no/such/parent/store");
  auto s = Store::Open(options);
  if (s.ok()) {
    KG_EXPECT_OK((*s)->Close());
  } else {
    EXPECT_NE(s.status().code(), absl::StatusCode::kUnavailable) << s.status();
  }
}

TEST_F(PersistenceTest, ClosedStoreRefusesEveryCall) {
  KG_ASSERT_OK(CreateAccount("svc"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken t, CreateToken("svc", "t"));
  KG_ASSERT_OK(store_->Close());
  KG_EXPECT_OK(store_->Close());  // idempotent

  const auto fp = absl::StatusCode::kFailedPrecondition;
  ServiceAccountSpec aspec;
  aspec.name = "n";
  aspec.slug = "new-one";
  TokenSpec tspec;
  tspec.name = "n";
  tspec.scopes = {"read:tokens"};
  EXPECT_EQ(store_->CreateServiceAccount(kOrg, aspec, kActor).status().code(),
            fp);
  EXPECT_EQ(store_->GetServiceAccount(kOrg, "svc").status().code(), fp);
  EXPECT_EQ(store_->ListServiceAccounts(kOrg, PageRequest{}).status().code(),
            fp);
  EXPECT_EQ(
      store_->RenameServiceAccount(kOrg, "svc", "x", kActor).status().code(),
      fp);
  EXPECT_EQ(store_->SetServiceAccountDisabled(kOrg, "svc", true, kActor)
                .status()
                .code(),
            fp);
  EXPECT_EQ(store_->DeleteServiceAccount(kOrg, "svc", kActor).code(), fp);
  EXPECT_EQ(store_->CreateToken(kOrg, "svc", tspec, kActor).status().code(),
            fp);
  EXPECT_EQ(store_->ListTokens(kOrg, "svc", PageRequest{}).status().code(), fp);
  EXPECT_EQ(store_->RevokeToken(kOrg, "svc", t.metadata.slug, kActor).code(),
            fp);
  EXPECT_EQ(store_->Verify(t.value.view()).status().code(), fp);
  EXPECT_EQ(store_->Verify(t.value.view(), "read:tokens").status().code(), fp);
  EXPECT_EQ(store_->PurgeRetired().status().code(), fp);
  store_.reset();  // destructor after Close is fine

  // Nothing was lost or changed by the refused calls.
  KG_ASSERT_OK_AND_ASSIGN(store_, Store::Open(DefaultOptions()));
  KG_EXPECT_OK(store_->Verify(t.value.view()));
  KG_ASSERT_OK_AND_ASSIGN(auto accounts, AllAccounts());
  ASSERT_EQ(accounts.size(), 1u);
  EXPECT_FALSE(accounts[0].disabled);
}

}  // namespace
}  // namespace keygate

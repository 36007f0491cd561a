// tests/process_hardening_test.cc: DisableCoreDumps, run in forked children
// (it changes the whole process, so never in the test process itself); and
// HideArgumentValues, on a fake argv and on the real `keygate` binary
// (KEYGATE_BINARY), whose /proc/<pid>/cmdline must not show the password of
// its --postgres connection string while it runs.
#include "tools/keygate/process_hardening.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "keygate/keyring.h"

namespace keygate::tool {
namespace {

// Exit codes of the checking child.
constexpr int kChildOk = 0;
constexpr int kChildSetupFailed = 10;
constexpr int kChildStatusNotOk = 11;
constexpr int kChildSoftLimitNotZero = 12;
constexpr int kChildHardLimitNotZero = 13;
constexpr int kChildStillDumpable = 14;
constexpr int kChildCouldRaiseLimit = 15;

// ChildExitCode forks, runs `body` in the child (its return value is the
// child's exit code) and returns that code, or -signal.
template <typename Body>
int ChildExitCode(Body body) {
  const pid_t pid = fork();
  if (pid == 0) _exit(body());
  if (pid < 0) return -1000;
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1001;
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return WEXITSTATUS(status);
}

// StartPermissive sets RLIMIT_CORE to a non-zero value and the process
// dumpable, so a DisableCoreDumps that does nothing is caught. False if the
// environment's hard limit is already 0.
bool StartPermissive() {
  struct rlimit limit;
  if (getrlimit(RLIMIT_CORE, &limit) != 0 || limit.rlim_max == 0) return false;
  limit.rlim_cur = limit.rlim_max;
  if (setrlimit(RLIMIT_CORE, &limit) != 0) return false;
  return prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) == 0 &&
         prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 1;
}

bool CoreHardLimitIsZero() {
  struct rlimit limit;
  return getrlimit(RLIMIT_CORE, &limit) == 0 && limit.rlim_max == 0;
}

TEST(ProcessHardeningTest, DisableCoreDumpsZeroesTheLimitAndTheDumpableFlag) {
  if (CoreHardLimitIsZero()) {
    GTEST_SKIP() << "RLIMIT_CORE hard limit is already 0 here";
  }
  const int code = ChildExitCode([] {
    if (!StartPermissive()) return kChildSetupFailed;
    if (!DisableCoreDumps().ok()) return kChildStatusNotOk;
    struct rlimit limit;
    if (getrlimit(RLIMIT_CORE, &limit) != 0) return kChildSetupFailed;
    if (limit.rlim_cur != 0) return kChildSoftLimitNotZero;
    if (limit.rlim_max != 0) return kChildHardLimitNotZero;
    if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) return kChildStillDumpable;
    // Idempotent.
    if (!DisableCoreDumps().ok()) return kChildStatusNotOk;
    return kChildOk;
  });
  EXPECT_EQ(code, kChildOk);
}

// Why the limit is set after parsing --allow-core-dumps and not undone
// later: once hardened, the process cannot raise it back (root keeps
// CAP_SYS_RESOURCE, so as root the child first becomes nobody).
TEST(ProcessHardeningTest, AnUnprivilegedProcessCannotRaiseTheLimitBack) {
  if (CoreHardLimitIsZero()) {
    GTEST_SKIP() << "RLIMIT_CORE hard limit is already 0 here";
  }
  const int code = ChildExitCode([] {
    if (!StartPermissive()) return kChildSetupFailed;
    if (!DisableCoreDumps().ok()) return kChildStatusNotOk;
    if (getuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) {
      return kChildSetupFailed;
    }
    const struct rlimit raised = {RLIM_INFINITY, RLIM_INFINITY};
    if (setrlimit(RLIMIT_CORE, &raised) == 0) return kChildCouldRaiseLimit;
    return kChildOk;
  });
  EXPECT_EQ(code, kChildOk);
}

// The outcome itself: a hardened process that aborts leaves no core dump
// (the kernel's core-dumped bit in the wait status stays clear, also for a
// core_pattern that pipes to a program) and no core file in its directory,
// even with RLIMIT_CORE unlimited beforehand.
TEST(ProcessHardeningTest, AHardenedProcessThatCrashesDumpsNoCore) {
  if (CoreHardLimitIsZero()) {
    GTEST_SKIP() << "RLIMIT_CORE hard limit is already 0 here";
  }
  std::string dir = (std::filesystem::temp_directory_path() /
                     "keygate_hardening_XXXXXX")
                        .string();
  ASSERT_NE(mkdtemp(dir.data()), nullptr);

  // Control, only where core_pattern writes a plain file into the working
  // directory: the same crash without DisableCoreDumps does dump, so this
  // test can tell the two apart.
  std::string pattern;
  std::getline(std::ifstream("/proc/sys/kernel/core_pattern"), pattern);
  const bool core_lands_in_cwd =
      !pattern.empty() && pattern[0] != '|' && pattern.find('/') ==
                                                   std::string::npos;

  auto crash = [&dir](bool harden) {
    const pid_t pid = fork();
    if (pid == 0) {
      if (chdir(dir.c_str()) != 0 || !StartPermissive()) _exit(kChildSetupFailed);
      if (harden && !DisableCoreDumps().ok()) _exit(kChildStatusNotOk);
      signal(SIGABRT, SIG_DFL);
      abort();
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return status;
  };

  if (core_lands_in_cwd) {
    const int status = crash(/*harden=*/false);
    ASSERT_TRUE(WIFSIGNALED(status)) << status;
    EXPECT_TRUE(WCOREDUMP(status)) << "control: an unhardened crash dumps";
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      std::filesystem::remove(entry.path(), ec);
    }
  }

  const int status = crash(/*harden=*/true);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited " << WEXITSTATUS(status);
  EXPECT_EQ(WTERMSIG(status), SIGABRT);
  EXPECT_FALSE(WCOREDUMP(status));
  EXPECT_TRUE(std::filesystem::is_empty(dir)) << "a core file was written";
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

// FakeArgv is a mutable argv over its own strings, as main receives it.
class FakeArgv {
 public:
  explicit FakeArgv(std::vector<std::string> args) : args_(std::move(args)) {
    for (std::string& arg : args_) pointers_.push_back(arg.data());
    pointers_.push_back(nullptr);
  }
  int argc() const { return static_cast<int>(args_.size()); }
  char** argv() { return pointers_.data(); }
  // args reads the strings back through argv (as the kernel would).
  std::vector<std::string> args() const {
    std::vector<std::string> seen;
    for (int i = 0; i < argc(); ++i) seen.emplace_back(pointers_[i]);
    return seen;
  }

 private:
  std::vector<std::string> args_;
  std::vector<char*> pointers_;
};

TEST(HideArgumentValuesTest, OverwritesBothFormsAndNothingElse) {
  FakeArgv fake({"keygate", "--postgres", "host=db password=s3cret", "--json",
                 "sa", "list", "--postgres=password=two", "--postgresx=keep",
                 "--org", "acme", "--", "--postgres", "operand"});
  HideArgumentValues(fake.argc(), fake.argv(), {"--postgres"});
  EXPECT_EQ(fake.args(),
            (std::vector<std::string>{
                "keygate", "--postgres", "***********************", "--json",
                "sa", "list", "--postgres=************", "--postgresx=keep",
                "--org", "acme", "--", "--postgres", "operand"}));
}

TEST(HideArgumentValuesTest, HandlesAMissingValueAndEmptyValues) {
  FakeArgv trailing({"keygate", "sa", "--postgres"});
  HideArgumentValues(trailing.argc(), trailing.argv(), {"--postgres"});
  EXPECT_EQ(trailing.args(),
            (std::vector<std::string>{"keygate", "sa", "--postgres"}));

  FakeArgv empty({"keygate", "--postgres=", "--postgres", "", "--postgres",
                  "--", "--postgres", "after-dashes"});
  HideArgumentValues(empty.argc(), empty.argv(), {"--postgres"});
  EXPECT_EQ(empty.args(),
            (std::vector<std::string>{"keygate", "--postgres=", "--postgres",
                                      "", "--postgres", "--", "--postgres",
                                      "after-dashes"}));

  FakeArgv several({"keygate", "--a", "1", "--b=22", "--c", "333"});
  HideArgumentValues(several.argc(), several.argv(), {"--a", "--b"});
  EXPECT_EQ(several.args(), (std::vector<std::string>{"keygate", "--a", "*",
                                                      "--b=**", "--c", "333"}));
}

TEST(HideArgumentsTest, OverwritesEveryEqualArgumentAndNothingElse) {
  FakeArgv fake({"keygate", "token", "verify", "kg_secret", "--", "kg_secret",
                 "kg_secretx", "-", ""});
  HideArguments(fake.argc(), fake.argv(), {"kg_secret", "-", ""});
  EXPECT_EQ(fake.args(),
            (std::vector<std::string>{"keygate", "token", "verify",
                                      "*********", "--", "*********",
                                      "kg_secretx", "-", ""}));
}

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

// SilentServer listens on 127.0.0.1 and never answers: a libpq client that
// connects to it waits there until its connect_timeout, alive.
class SilentServer {
 public:
  SilentServer() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (fd_ < 0 ||
        bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) !=
            0 ||
        listen(fd_, 8) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) !=
            0) {
      return;
    }
    port_ = ntohs(address.sin_port);
  }
  ~SilentServer() {
    for (int fd : accepted_) close(fd);
    if (fd_ >= 0) close(fd_);
  }
  int port() const { return port_; }
  // AcceptWithin waits for a client for at most `timeout_ms`; it stays
  // connected (never answered) until the destructor.
  bool AcceptWithin(int timeout_ms) {
    pollfd waiting = {fd_, POLLIN, 0};
    if (poll(&waiting, 1, timeout_ms) != 1) return false;
    const int client = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) return false;
    accepted_.push_back(client);
    return true;
  }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::vector<int> accepted_;
};

// CmdlineWhileConnecting runs the real binary with `args` (after
// KEYGATE_BINARY) in a child, waits until it connects to `server` (it has
// parsed its command line and is opening the store, where it stays, alive,
// until its connect_timeout or the kill below), and returns what any local
// user then reads in its /proc/<pid>/cmdline.
::testing::AssertionResult CmdlineWhileConnecting(
    std::vector<std::string> args, SilentServer& server,
    const std::string& log, std::string* cmdline) {
  args.insert(args.begin(), KEYGATE_BINARY);
  // Built before fork: the child only makes system calls until execve.
  std::vector<char*> argv, envp;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env = {"USER=tester", "PATH=/usr/bin:/bin"};
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return ::testing::AssertionFailure() << "fork failed";
  if (pid == 0) {
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd < 0) _exit(126);
    dup2(fd, 1);
    dup2(fd, 2);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  const bool connected = server.AcceptWithin(60'000);
  *cmdline = ReadWholeFile("/proc/" + std::to_string(pid) + "/cmdline");
  const bool alive = waitpid(pid, nullptr, WNOHANG) == 0;
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  if (!connected) {
    return ::testing::AssertionFailure()
           << "keygate never connected: " << ReadWholeFile(log);
  }
  if (!alive) {
    return ::testing::AssertionFailure()
           << "keygate was not running: " << ReadWholeFile(log);
  }
  return ::testing::AssertionSuccess();
}

// A temporary directory with a pepper file, removed at the end.
class CmdlineFixture {
 public:
  CmdlineFixture() {
    dir_ = (std::filesystem::temp_directory_path() / "keygate_cmdline_XXXXXX")
               .string();
    if (mkdtemp(dir_.data()) == nullptr) dir_.clear();
    if (!dir_.empty()) created_ = Keyring::CreateFile(pepper()).ok();
  }
  ~CmdlineFixture() {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  bool ok() const { return created_; }
  std::string pepper() const { return dir_ + "/pepper"; }
  std::string log() const { return dir_ + "/keygate.log"; }

 private:
  std::string dir_;
  bool created_ = false;
};

// The attack: any local user reads /proc/<pid>/cmdline of a running
// `keygate` (`ps -ef` does). The real binary, given a connection string
// with a password on its command line, is caught while it runs (connecting
// to a server that never answers: parsing is long over) and its cmdline
// must not hold the password. Both spellings of the flag.
class HideArgumentValuesBinaryTest
    : public ::testing::TestWithParam<bool /*equals_form*/> {};

TEST_P(HideArgumentValuesBinaryTest, ARunningKeygateShowsNoPostgresPassword) {
  const bool equals_form = GetParam();
  CmdlineFixture fixture;
  ASSERT_TRUE(fixture.ok());
  SilentServer server;
  ASSERT_GT(server.port(), 0);

  const std::string marker = "Marker-Pw-7f3a9c";
  const std::string conninfo =
      "host=127.0.0.1 port=" + std::to_string(server.port()) +
      " dbname=keygate user=keygate sslmode=disable connect_timeout=120 "
      "password=" + marker;
  std::vector<std::string> args = {"--pepper-file", fixture.pepper()};
  if (equals_form) {
    args.push_back("--postgres=" + conninfo);
  } else {
    args.push_back("--postgres");
    args.push_back(conninfo);
  }
  for (const char* arg : {"sa", "list", "--org", "acme"}) args.push_back(arg);
  std::string cmdline;
  ASSERT_TRUE(CmdlineWhileConnecting(args, server, fixture.log(), &cmdline));
  // It is keygate's own argv (the flag is there), without the password.
  EXPECT_NE(cmdline.find("--postgres"), std::string::npos) << cmdline;
  EXPECT_NE(cmdline.find("acme"), std::string::npos) << cmdline;
  EXPECT_EQ(cmdline.find(marker), std::string::npos) << cmdline;
  EXPECT_EQ(cmdline.find("password="), std::string::npos) << cmdline;
}

// The same attack on a token given to `token verify` as an operand (also
// after "--"): once parsed, it is gone from the running process's cmdline.
TEST(HideArgumentsBinaryTest, ARunningTokenVerifyShowsNoToken) {
  for (const bool after_dashes : {false, true}) {
    SCOPED_TRACE(after_dashes ? "after --" : "operand");
    CmdlineFixture fixture;
    ASSERT_TRUE(fixture.ok());
    SilentServer server;
    ASSERT_GT(server.port(), 0);
    // Shaped like a token; whether it is valid does not matter here.
    const std::string token = "kg_MarkerToken7f3a9cQx81LmZ0";
    std::vector<std::string> args = {
        "--pepper-file", fixture.pepper(), "--postgres",
        "host=127.0.0.1 port=" + std::to_string(server.port()) +
            " dbname=keygate user=keygate sslmode=disable "
            "connect_timeout=120",
        "token", "verify"};
    if (after_dashes) args.push_back("--");
    args.push_back(token);
    std::string cmdline;
    ASSERT_TRUE(
        CmdlineWhileConnecting(args, server, fixture.log(), &cmdline));
    EXPECT_NE(cmdline.find("verify"), std::string::npos) << cmdline;
    EXPECT_EQ(cmdline.find("MarkerToken"), std::string::npos) << cmdline;
  }
}

INSTANTIATE_TEST_SUITE_P(Spellings, HideArgumentValuesBinaryTest,
                         ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return std::string(info.param ? "Equals" : "Separate");
                         });

}  // namespace
}  // namespace keygate::tool

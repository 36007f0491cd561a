// tests/process_hardening_test.cc: DisableCoreDumps, run in forked children
// (it changes the whole process, so never in the test process itself).
#include "tools/keygate/process_hardening.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

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

}  // namespace
}  // namespace keygate::tool

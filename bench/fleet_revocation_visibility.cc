// bench/fleet_revocation_visibility.cc: how soon a revocation is refused in
// every process of a fleet on PostgreSQL (docs/fleet-revocation.md), seen
// from real, separate OS processes.
//
// The parent forks N-1 children before it opens anything (no threads yet);
// then every process opens its own store on one fresh schema of the database
// named by KEYGATE_BENCH_POSTGRES (bench/fleet/run_visibility.sh starts a
// throwaway server). Coordination and timestamps go through an anonymous
// shared mapping made before the fork; every timestamp is CLOCK_MONOTONIC,
// one clock for every process of the host. Each round:
//   1. the parent (the revoker) creates a token and publishes it;
//   2. each child verifies it until it is accepted (it applied the create),
//      says so, then verifies it in a loop (a 20 us pause between calls, so
//      that the spinners leave the database and heartbeats a CPU) and
//      records the start of its first refusing Verify, and the start of its
//      last accepting one;
//   3. once every child accepts, the parent times RevokeToken (t0 .. t1).
// Reported, p50 / p99 / max over the rounds:
//   (a) t0 -> refused in every child (the latest first refusal);
//   (b) t1 -> refused in every child (negative: before RevokeToken returned);
//   (c) RevokeToken itself (t1 - t0);
// and in how many rounds every child was refused at return: no child began
// an accepting Verify after t1 (with the lease on, the guarantee says all).
// The revoking process applies its own write before RevokeToken returns.
// The polling pause makes (a) and (b) late by up to a pause plus a
// scheduling delay.
//
// Usage: keygate_fleet_revocation_visibility [rounds] (default 200)
//        [lease in ms] (default 5000; 0: no lease, no fleet wait)
//        [processes] (default 3)
// Not run by ctest.
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "keygate/keygate.h"
#include "lib/postgres/connection.h"

namespace {

constexpr char kPepper[] =
    "1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef "
    "sha256\n";
constexpr char kOrg[] = "org";
constexpr char kAccount[] = "visibility";
constexpr int kMaxProcesses = 16;
constexpr int kMaxToken = 256;

int64_t MonotonicNanos() {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
}

// Shared is the anonymous shared mapping, one per run. Lock-free atomics
// work across processes on shared memory.
struct Shared {
  std::atomic<int> parent_open{0};
  std::atomic<int> failed{0};
  std::atomic<int> round{-1};  // published after token is written
  std::atomic<int> quit{0};
  char token[kMaxToken];
  int token_size = 0;
  struct Child {
    std::atomic<int> open{0};
    std::atomic<int> accepted_round{-1};  // the child accepts round's token
    std::atomic<int> refused_round{-1};   // ... and has since refused it
    std::atomic<int64_t> refused_at{0};        // start of the first refusal
    std::atomic<int64_t> last_accept_start{0};  // start of the last accept
  } children[kMaxProcesses];
};
static_assert(std::atomic<int64_t>::is_always_lock_free);

keygate::Options StoreOptions(const std::string& conninfo,
                              absl::Duration lease) {
  keygate::Options options;
  options.postgres_connection = conninfo;
  options.keyring = *keygate::Keyring::Parse(kPepper);
  options.sync_writes = true;
  options.fleet_lease = lease;
  return options;
}

bool WaitFor(const std::atomic<int>& value, int at_least, Shared& shared,
             absl::Duration bound = absl::Seconds(60)) {
  const absl::Time give_up = absl::Now() + bound;
  while (value.load(std::memory_order_acquire) < at_least) {
    if (shared.failed.load() != 0 || absl::Now() > give_up) return false;
    absl::SleepFor(absl::Microseconds(50));
  }
  return true;
}

// Child runs one verifying process; returns its exit code.
int Child(Shared& shared, int index, const std::string& conninfo,
          absl::Duration lease) {
  Shared::Child& me = shared.children[index];
  if (!WaitFor(shared.parent_open, 1, shared)) return 1;
  absl::StatusOr<std::unique_ptr<keygate::Store>> store =
      keygate::Store::Open(StoreOptions(conninfo, lease));
  if (!store.ok()) {
    std::fprintf(stderr, "child %d: open: %s\n", index,
                 store.status().ToString().c_str());
    shared.failed.store(1);
    return 1;
  }
  me.open.store(1, std::memory_order_release);
  int round = 0;
  const timespec pause{0, 20'000};
  for (;; ++round) {
    while (shared.round.load(std::memory_order_acquire) < round) {
      if (shared.quit.load() != 0 || shared.failed.load() != 0) {
        (void)(*store)->Close();
        return 0;
      }
      nanosleep(&pause, nullptr);
    }
    const std::string token(shared.token, shared.token_size);
    const absl::Time give_up = absl::Now() + absl::Seconds(60);
    // Accepted first (the create applied here).
    for (;;) {
      const int64_t started = MonotonicNanos();
      if ((*store)->Verify(token).ok()) {
        me.last_accept_start.store(started, std::memory_order_relaxed);
        break;
      }
      if (absl::Now() > give_up || shared.failed.load() != 0) {
        std::fprintf(stderr, "child %d: round %d never accepted\n", index,
                     round);
        shared.failed.store(1);
        return 1;
      }
      nanosleep(&pause, nullptr);
    }
    me.accepted_round.store(round, std::memory_order_release);
    for (;;) {
      const int64_t started = MonotonicNanos();
      if (!(*store)->Verify(token).ok()) {
        me.refused_at.store(started, std::memory_order_relaxed);
        break;
      }
      me.last_accept_start.store(started, std::memory_order_relaxed);
      if (absl::Now() > give_up || shared.failed.load() != 0) {
        std::fprintf(stderr, "child %d: round %d never refused\n", index,
                     round);
        shared.failed.store(1);
        return 1;
      }
      nanosleep(&pause, nullptr);
    }
    me.refused_round.store(round, std::memory_order_release);
  }
}

double At(std::vector<double> values, double q) {
  std::sort(values.begin(), values.end());
  return values[std::min(values.size() - 1,
                         static_cast<size_t>(q * values.size()))];
}

void Print(const char* what, const std::vector<double>& ms) {
  std::printf("  %-44s p50 %8.3f ms  p99 %8.3f ms  max %8.3f ms\n", what,
              At(ms, 0.50), At(ms, 0.99),
              *std::max_element(ms.begin(), ms.end()));
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::max(1, std::atoi(argv[1])) : 200;
  const int lease_ms = argc > 2 ? std::max(0, std::atoi(argv[2])) : 5000;
  const int processes =
      argc > 3 ? std::clamp(std::atoi(argv[3]), 2, kMaxProcesses) : 3;
  const char* base = std::getenv("KEYGATE_BENCH_POSTGRES");
  if (base == nullptr || *base == '\0') {
    std::fprintf(stderr,
                 "set KEYGATE_BENCH_POSTGRES (or run "
                 "bench/fleet/run_visibility.sh)\n");
    return 2;
  }
  const absl::Duration lease = absl::Milliseconds(lease_ms);
  const std::string schema =
      absl::StrCat("bench_visibility_", getpid(), "_", lease_ms);
  {
    auto admin = keygate::postgres::Connection::Open(base);
    if (!admin.ok()) {
      std::fprintf(stderr, "connect: %s\n", admin.status().ToString().c_str());
      return 1;
    }
    if (absl::Status s =
            (*admin)->ExecScript(absl::StrCat("CREATE SCHEMA ", schema));
        !s.ok()) {
      std::fprintf(stderr, "schema: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  const std::string conninfo =
      absl::StrCat(base, " options='-csearch_path=", schema, "'");

  void* mapping = mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mapping == MAP_FAILED) return 1;
  Shared& shared = *new (mapping) Shared();
  // Forked before any thread exists (no store is open yet).
  std::vector<pid_t> children;
  for (int i = 1; i < processes; ++i) {
    const pid_t pid = fork();
    if (pid < 0) return 1;
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      prctl(PR_SET_TIMERSLACK, 1UL);
      _exit(Child(shared, i, conninfo, lease));
    }
    children.push_back(pid);
  }
  auto finish = [&](int code) {
    if (code != 0) shared.failed.store(1);
    shared.quit.store(1);
    for (pid_t pid : children) {
      int status = 0;
      waitpid(pid, &status, 0);
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) code = 1;
    }
    return code;
  };

  absl::StatusOr<std::unique_ptr<keygate::Store>> store =
      keygate::Store::Open(StoreOptions(conninfo, lease));
  if (!store.ok()) {
    std::fprintf(stderr, "open: %s\n", store.status().ToString().c_str());
    return finish(1);
  }
  if (auto account = (*store)->CreateServiceAccount(
          kOrg, {"visibility", kAccount}, "bench");
      !account.ok()) {
    std::fprintf(stderr, "account: %s\n",
                 account.status().ToString().c_str());
    return finish(1);
  }
  shared.parent_open.store(1, std::memory_order_release);
  for (int i = 1; i < processes; ++i) {
    if (!WaitFor(shared.children[i].open, 1, shared)) return finish(1);
  }

  std::vector<double> start_to_everywhere, return_to_everywhere, revoke_call;
  int refused_at_return = 0;
  for (int round = 0; round < rounds; ++round) {
    keygate::TokenSpec spec;
    spec.name = absl::StrCat("v", round);
    spec.scopes = {"read:tokens"};
    absl::StatusOr<keygate::CreatedToken> created =
        (*store)->CreateToken(kOrg, kAccount, spec, "bench");
    if (!created.ok()) {
      std::fprintf(stderr, "create: %s\n",
                   created.status().ToString().c_str());
      return finish(1);
    }
    const std::string_view token = created->value.view();
    if (token.size() > kMaxToken) return finish(1);
    std::memcpy(shared.token, token.data(), token.size());
    shared.token_size = static_cast<int>(token.size());
    shared.round.store(round, std::memory_order_release);
    for (int i = 1; i < processes; ++i) {
      if (!WaitFor(shared.children[i].accepted_round, round, shared)) {
        return finish(1);
      }
    }
    // A random phase against the heartbeats.
    absl::SleepFor(absl::Microseconds(std::rand() % 20000));
    const int64_t t0 = MonotonicNanos();
    absl::Status revoked = (*store)->RevokeToken(
        kOrg, kAccount, created->metadata.slug, "bench");
    const int64_t t1 = MonotonicNanos();
    if (!revoked.ok()) {
      std::fprintf(stderr, "revoke: %s\n", revoked.ToString().c_str());
      return finish(1);
    }
    int64_t everywhere = std::numeric_limits<int64_t>::min();
    bool all_at_return = true;
    for (int i = 1; i < processes; ++i) {
      Shared::Child& child = shared.children[i];
      if (!WaitFor(child.refused_round, round, shared)) return finish(1);
      everywhere = std::max(everywhere, child.refused_at.load());
      if (child.last_accept_start.load() > t1) all_at_return = false;
    }
    start_to_everywhere.push_back((everywhere - t0) / 1e6);
    return_to_everywhere.push_back((everywhere - t1) / 1e6);
    revoke_call.push_back((t1 - t0) / 1e6);
    refused_at_return += all_at_return;
  }
  (void)(*store)->Close();
  const int code = finish(0);

  double load[3] = {0, 0, 0};
  if (getloadavg(load, 3) < 0) load[0] = -1;
  std::printf(
      "fleet revocation visibility: %d processes, lease %d ms, %d rounds "
      "(load average %.2f)\n",
      processes, lease_ms, rounds, load[0]);
  Print("(a) revoke start -> refused in every process", start_to_everywhere);
  Print("(b) revoke return -> refused everywhere", return_to_everywhere);
  Print("(c) RevokeToken call", revoke_call);
  std::printf("  refused everywhere at return: %d of %d rounds\n",
              refused_at_return, rounds);
  return code;
}

// lib/postgres/leader_lock.h: one process of a fleet elected for a job
// (webhook delivery), by a PostgreSQL session advisory lock.
//
// LeaderLock keeps its own connection and tries pg_try_advisory_lock(key)
// on it every `retry_interval` until it gets the lock; while it holds it,
// it checks its session every retry_interval (a statement, so a lost
// session is noticed). held() says whether this process holds the lock as
// far as it knows. The server releases the lock when the session ends (a
// crash, a lost connection after the keepalive timeouts of
// postgres::Connection), and another process then takes it: for a moment
// after a partition two processes may both believe they hold it, so the
// job must tolerate a rare overlap (webhook delivery is at least once).
#ifndef KEYGATE_LIB_POSTGRES_LEADER_LOCK_H_
#define KEYGATE_LIB_POSTGRES_LEADER_LOCK_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace keygate::postgres {

// kWebhookDeliveryLockKey elects the process of a fleet that delivers
// webhooks ("kgdelivr" in ASCII).
inline constexpr int64_t kWebhookDeliveryLockKey = 0x6b6764656c697672;

class LeaderLock {
 public:
  // Starts trying at once, on a thread of its own. `conninfo` is copied
  // (and wiped by the destructor). `retry_interval` at least 10 ms.
  LeaderLock(std::string_view conninfo, int64_t key,
             absl::Duration retry_interval = absl::Seconds(2));
  ~LeaderLock();
  LeaderLock(const LeaderLock&) = delete;
  LeaderLock& operator=(const LeaderLock&) = delete;

  // held says whether this process holds the lock (as of its last check).
  // Lock-free.
  bool held() const { return held_.load(std::memory_order_acquire); }

  // Stop releases the lock (closes the session) and joins the thread;
  // idempotent. held() is false after it.
  void Stop();

 private:
  void Run();

  std::string conninfo_;
  const int64_t key_;
  const absl::Duration retry_interval_;
  std::atomic<bool> held_{false};
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace keygate::postgres

#endif  // KEYGATE_LIB_POSTGRES_LEADER_LOCK_H_

// lib/postgres/write_listener.h: wakes a store of a fleet when another
// process commits a write to the shared PostgreSQL database.
//
// WriteListener keeps its own connection LISTENing on kWriteChannel (every
// committed PostgresDatabase::Write NOTIFYs it) and calls `on_wake` after
// every notification, and also whenever `poll_interval` passes without one:
// a notification can be missed (a lost connection, a server restart), so
// the poll bounds how late a missed one is noticed. A lost connection is
// reopened, retrying with a backoff from kRetryFirst to kRetryMax (never
// longer than poll_interval); on_wake also runs after every reconnect, and
// again after the same backoff while it reports failure (the database was
// unreachable for it too). It LISTENs before the first on_wake, so a
// commit after any on_wake began is always followed by another on_wake.
#ifndef KEYGATE_LIB_POSTGRES_WRITE_LISTENER_H_
#define KEYGATE_LIB_POSTGRES_WRITE_LISTENER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "absl/time/time.h"
#include "lib/postgres/connection.h"

namespace keygate::postgres {

class WriteListener {
 public:
  static constexpr absl::Duration kRetryFirst = absl::Milliseconds(50);
  static constexpr absl::Duration kRetryMax = absl::Seconds(2);

  // Starts the listening thread. `on_wake` runs on it, never concurrently
  // with itself; `conninfo` is copied (and wiped by the destructor).
  // `poll_interval` at least 1 ms. `on_wake` returns whether it caught up.
  WriteListener(std::string_view conninfo, absl::Duration poll_interval,
                std::function<bool()> on_wake);
  ~WriteListener();
  WriteListener(const WriteListener&) = delete;
  WriteListener& operator=(const WriteListener&) = delete;

  // Stop ends the thread (within about poll_interval) and joins it;
  // idempotent. on_wake never runs after Stop returns.
  void Stop();

  // reconnects counts the connections opened after the first (tests).
  uint64_t reconnects() const {
    return reconnects_.load(std::memory_order_relaxed);
  }

 private:
  void Run();
  // Sleep waits `duration` in slices, returning early on Stop.
  void Sleep(absl::Duration duration) const;

  std::string conninfo_;
  const absl::Duration poll_interval_;
  const std::function<bool()> on_wake_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> reconnects_{0};
  std::thread thread_;
};

}  // namespace keygate::postgres

#endif  // KEYGATE_LIB_POSTGRES_WRITE_LISTENER_H_

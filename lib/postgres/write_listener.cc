// lib/postgres/write_listener.cc: LISTEN with a poll and reconnects.
#include "lib/postgres/write_listener.h"

#include <sodium.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "lib/base/absl_view.h"
#include "absl/time/clock.h"
#include "lib/postgres/postgres_database.h"

namespace keygate::postgres {

WriteListener::WriteListener(std::string_view conninfo,
                             absl::Duration poll_interval,
                             std::function<void()> on_wake)
    : conninfo_(conninfo),
      poll_interval_(std::max(poll_interval, absl::Milliseconds(1))),
      on_wake_(std::move(on_wake)) {
  thread_ = std::thread([this] { Run(); });
}

WriteListener::~WriteListener() {
  Stop();
  if (!conninfo_.empty()) sodium_memzero(conninfo_.data(), conninfo_.size());
}

void WriteListener::Stop() {
  stopping_.store(true, std::memory_order_release);
  if (thread_.joinable()) thread_.join();
}

void WriteListener::Run() {
  std::unique_ptr<Connection> connection;
  bool connected_once = false;
  // Waits are cut into slices so that Stop is noticed promptly.
  const absl::Duration slice = std::min(poll_interval_, absl::Milliseconds(200));
  while (!stopping_.load(std::memory_order_acquire)) {
    if (connection == nullptr || connection->is_broken()) {
      connection.reset();
      absl::StatusOr<std::unique_ptr<Connection>> fresh =
          Connection::Open(conninfo_, absl::Seconds(5));
      if (fresh.ok() &&
          (*fresh)->ExecScript(absl::StrCat("LISTEN ", AbslView(kWriteChannel))).ok()) {
        connection = *std::move(fresh);
        if (connected_once) reconnects_.fetch_add(1, std::memory_order_relaxed);
        connected_once = true;
      }
      // Listening (or not): what was committed meanwhile is read now.
      on_wake_();
      if (connection == nullptr) {
        const absl::Time until = absl::Now() + poll_interval_;
        while (!stopping_.load(std::memory_order_acquire) &&
               absl::Now() < until) {
          absl::SleepFor(std::min(slice, until - absl::Now()));
        }
      }
      continue;
    }
    // Wait for a notification or the poll interval, whichever is first.
    const absl::Time until = absl::Now() + poll_interval_;
    bool woken = false;
    while (!woken && !stopping_.load(std::memory_order_acquire)) {
      const absl::Duration left = until - absl::Now();
      if (left <= absl::ZeroDuration()) break;
      absl::StatusOr<std::vector<Notification>> notes =
          connection->WaitForNotifications(std::min(slice, left));
      if (!notes.ok()) break;  // lost: reconnect on the next turn
      woken = !notes->empty();
    }
    if (stopping_.load(std::memory_order_acquire)) return;
    on_wake_();
  }
}

}  // namespace keygate::postgres

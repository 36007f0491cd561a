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
                             std::function<bool()> on_wake)
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

void WriteListener::Sleep(absl::Duration duration) const {
  const absl::Time until = absl::Now() + duration;
  while (!stopping_.load(std::memory_order_acquire)) {
    const absl::Duration left = until - absl::Now();
    if (left <= absl::ZeroDuration()) return;
    absl::SleepFor(std::min(left, absl::Milliseconds(200)));
  }
}

void WriteListener::Run() {
  std::unique_ptr<Connection> connection;
  bool connected_once = false;
  // Waits are cut into slices so that Stop is noticed promptly.
  const absl::Duration slice = std::min(poll_interval_, absl::Milliseconds(200));
  const absl::Duration retry_max = std::min(poll_interval_, kRetryMax);
  absl::Duration retry = std::min(kRetryFirst, retry_max);
  // The last on_wake failed: run it again after `retry`, notified or not.
  bool behind = false;
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
      behind = !on_wake_();
      if (connection == nullptr || behind) {
        Sleep(retry);
        retry = std::min(retry * 2, retry_max);
      } else {
        retry = std::min(kRetryFirst, retry_max);
      }
      continue;
    }
    // Wait for a notification or the poll interval (the retry delay while
    // behind), whichever is first.
    const absl::Time until = absl::Now() + (behind ? retry : poll_interval_);
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
    behind = !on_wake_();
    if (behind) {
      retry = std::min(retry * 2, retry_max);
    } else {
      retry = std::min(kRetryFirst, retry_max);
    }
  }
}

}  // namespace keygate::postgres

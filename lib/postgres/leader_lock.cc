// lib/postgres/leader_lock.cc: pg_try_advisory_lock on a session of its own.
#include "lib/postgres/leader_lock.h"

#include <sodium.h>

#include <algorithm>
#include <utility>

#include "lib/postgres/connection.h"

namespace keygate::postgres {

LeaderLock::LeaderLock(std::string_view conninfo, int64_t key,
                       absl::Duration retry_interval)
    : conninfo_(conninfo),
      key_(key),
      retry_interval_(std::max(retry_interval, absl::Milliseconds(10))) {
  thread_ = std::thread([this] { Run(); });
}

LeaderLock::~LeaderLock() {
  Stop();
  if (!conninfo_.empty()) sodium_memzero(conninfo_.data(), conninfo_.size());
}

void LeaderLock::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
  held_.store(false, std::memory_order_release);
}

void LeaderLock::Run() {
  std::unique_ptr<Connection> connection;
  const std::string key = std::to_string(key_);
  for (;;) {
    if (connection == nullptr || connection->is_broken()) {
      held_.store(false, std::memory_order_release);
      connection.reset();
      absl::StatusOr<std::unique_ptr<Connection>> fresh =
          Connection::Open(conninfo_, absl::Seconds(5));
      if (fresh.ok()) connection = *std::move(fresh);
    }
    if (connection != nullptr) {
      if (!held()) {
        absl::StatusOr<Result> got = connection->Exec(
            "SELECT pg_try_advisory_lock($1::bigint)", {Param::Text(key)});
        if (got.ok() && got->rows() == 1 && got->Value(0, 0) == "t") {
          held_.store(true, std::memory_order_release);
        }
      } else {
        // Still the same session (holding the lock)? A statement tells.
        absl::StatusOr<Result> alive = connection->Exec(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND "
            "pid = pg_backend_pid() AND granted");
        if (!alive.ok() || alive->rows() != 1 || alive->Value(0, 0) == "0") {
          held_.store(false, std::memory_order_release);
          connection.reset();  // a new session, then try again
        }
      }
      if (connection != nullptr && connection->is_broken()) {
        held_.store(false, std::memory_order_release);
      }
    }
    absl::MutexLock lock(&mu_);
    auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return stopping_;
    };
    if (mu_.AwaitWithTimeout(absl::Condition(&stopping), retry_interval_)) {
      break;
    }
  }
  // Closing the session releases the lock.
  held_.store(false, std::memory_order_release);
  connection.reset();
}

}  // namespace keygate::postgres

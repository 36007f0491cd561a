// lib/postgres/fleet_lease.cc: the member's heartbeat and grants, and the
// fleet-wide wait (docs/fleet-revocation.md has the argument).
#include "lib/postgres/fleet_lease.h"

#include <sodium.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <string>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "lib/base/absl_view.h"
#include "lib/postgres/schema.h"

namespace keygate::postgres {
namespace {

int64_t SteadyNowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// SetStatementTimeout bounds every later statement of the connection. (Its
// commits are synchronous already: Connection::Open raises a default of
// synchronous_commit=off, and a heartbeat must be durable before its
// member uses the grant it brings; docs/fleet-revocation.md, "Why the
// heartbeat commits synchronously".)
absl::Status SetStatementTimeout(Connection& connection,
                                 absl::Duration timeout) {
  return connection.ExecScript(absl::StrCat(
      "SET statement_timeout = ",
      std::max<int64_t>(1, absl::ToInt64Milliseconds(timeout))));
}

// Positions are bigint in the database; a larger one cannot exist there.
int64_t ClampPosition(uint64_t position) {
  return position > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
             ? std::numeric_limits<int64_t>::max()
             : static_cast<int64_t>(position);
}

// The upsert, and in the same statement (so in the same transaction, sent
// at its commit) a notification to waiters when the applied position it
// reports is higher than the row's: `before` reads the row in the
// statement's snapshot, untouched by the insert.
constexpr std::string_view kHeartbeatSql = R"sql(
WITH before AS (
  SELECT applied_position FROM keygate_fleet_members WHERE member_id = $1
), upserted AS (
  INSERT INTO keygate_fleet_members AS m
    (member_id, name, applied_position, heard_at, lease_micros)
  VALUES ($1, $2, $3::bigint,
          CASE WHEN $4::boolean THEN now() ELSE '-infinity'::timestamptz END,
          $5::bigint)
  ON CONFLICT (member_id) DO UPDATE SET
    applied_position = GREATEST(m.applied_position, EXCLUDED.applied_position),
    heard_at = CASE WHEN $4::boolean THEN GREATEST(m.heard_at, now())
                    ELSE m.heard_at END,
    lease_micros = EXCLUDED.lease_micros,
    updated_at = now()
  RETURNING m.applied_position
)
SELECT pg_notify('keygate_fleet_applied', upserted.applied_position::text)
FROM upserted
WHERE upserted.applied_position >
      coalesce((SELECT applied_position FROM before), -1)
)sql";

constexpr std::string_view kLaggingMembersSql = R"sql(
SELECT member_id,
       (SELECT coalesce(max(lease_micros), 0) FROM keygate_fleet_members)
FROM keygate_fleet_members
WHERE heard_at + lease_micros * interval '1 microsecond' > now()
  AND applied_position < $1::bigint
ORDER BY member_id
)sql";

}  // namespace

FleetLease::FleetLease(std::string conninfo, uint64_t applied_position,
                       FleetLeaseOptions options)
    : conninfo_(std::move(conninfo)),
      options_(std::move(options)),
      grant_nanos_(absl::ToInt64Nanoseconds(options_.lease -
                                            options_.clock_margin)),
      lease_nanos_(absl::ToInt64Nanoseconds(options_.lease)),
      applied_(applied_position) {}

absl::StatusOr<std::unique_ptr<FleetLease>> FleetLease::Join(
    std::string_view conninfo, uint64_t applied_position,
    FleetLeaseOptions options) {
  if (options.heartbeat_interval == absl::ZeroDuration()) {
    options.heartbeat_interval = options.lease / 4;
  }
  if (options.clock_margin == absl::ZeroDuration()) {
    options.clock_margin = options.lease / 20;
  }
  if (options.lease < absl::Milliseconds(1) ||
      options.lease > absl::Hours(1) ||
      options.clock_margin < absl::ZeroDuration() ||
      options.clock_margin >= options.lease ||
      options.heartbeat_interval <= absl::ZeroDuration() ||
      options.heartbeat_interval >= options.lease - options.clock_margin ||
      options.early_heartbeat_spacing < absl::ZeroDuration() ||
      options.early_heartbeat_burst < 1 ||
      options.stale_member_horizon < options.lease ||
      options.wait_poll_max < absl::Milliseconds(1) ||
      options.newest_position_sql.empty()) {
    return absl::InvalidArgumentError(
        "fleet lease options: need 1 ms <= lease <= 1 h, 0 <= clock_margin "
        "< lease, 0 < heartbeat_interval < lease - clock_margin, "
        "early_heartbeat_spacing >= 0, early_heartbeat_burst >= 1, "
        "stale_member_horizon >= lease, "
        "wait_poll_max >= 1 ms and a newest_position_sql");
  }
  int64_t coarse_resolution = 0;
  if (options.clock == nullptr) {
    timespec resolution;
    if (clock_getres(CLOCK_MONOTONIC_COARSE, &resolution) != 0) {
      return absl::InternalError("fleet lease: no CLOCK_MONOTONIC_COARSE");
    }
    coarse_resolution =
        int64_t{resolution.tv_sec} * 1'000'000'000 + resolution.tv_nsec;
    if (options.clock_margin < absl::Nanoseconds(2 * coarse_resolution)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "fleet lease options: clock_margin must be at least twice the "
          "clock's resolution (",
          absl::FormatDuration(absl::Nanoseconds(coarse_resolution)), ")"));
    }
  }
  if (options.name.size() > 200) options.name.resize(200);
  std::unique_ptr<FleetLease> lease(new FleetLease(
      std::string(conninfo), applied_position, std::move(options)));
  lease->coarse_resolution_nanos_ = coarse_resolution;

  absl::StatusOr<std::unique_ptr<Connection>> connection = lease->Connect();
  if (!connection.ok()) return connection.status();
  if (absl::Status schema = EnsureSchema(**connection); !schema.ok()) {
    return schema;
  }
  const std::string horizon_micros = std::to_string(
      absl::ToInt64Microseconds(lease->options_.stale_member_horizon));
  if (absl::StatusOr<Result> collected = (*connection)->Exec(
          "DELETE FROM keygate_fleet_members "
          "WHERE updated_at + $1::bigint * interval '1 microsecond' < now()",
          {Param::Text(horizon_micros)});
      !collected.ok()) {
    return collected.status();
  }
  absl::StatusOr<Result> id =
      (*connection)->Exec("SELECT gen_random_uuid()::text");
  if (!id.ok()) return id.status();
  lease->member_id_ = std::string(id->Value(0, 0));
  if (absl::Status timeout =
          SetStatementTimeout(**connection, lease->options_.lease);
      !timeout.ok()) {
    return timeout;
  }
  lease->heartbeat_connection_ = std::move(*connection);
  lease->heartbeat_pid_.store(lease->heartbeat_connection_->backend_pid(),
                              std::memory_order_relaxed);
  if (absl::Status first = lease->Heartbeat(); !first.ok()) {
    // Nothing to undo: a row may exist and lapses by itself.
    absl::MutexLock lock(&lease->mutex_);
    lease->left_ = true;
    return first;
  }
  lease->heartbeat_thread_ = std::thread([raw = lease.get()] {
    raw->HeartbeatLoop();
  });
  return lease;
}

FleetLease::~FleetLease() {
  (void)Leave();
  if (!conninfo_.empty()) sodium_memzero(conninfo_.data(), conninfo_.size());
}

absl::StatusOr<std::unique_ptr<Connection>>
FleetLease::OpenLeaseBoundedConnection() {
  absl::StatusOr<std::unique_ptr<Connection>> connection = Connect();
  if (!connection.ok()) return connection.status();
  // A statement stuck longer than a lease renews nothing useful, and holds
  // a wait past its bound.
  if (absl::Status timeout = SetStatementTimeout(**connection, options_.lease);
      !timeout.ok()) {
    return timeout;
  }
  return connection;
}

absl::StatusOr<std::unique_ptr<Connection>> FleetLease::Connect() {
  return Connection::Open(conninfo_, options_.connect_timeout);
}

int FleetLease::heartbeat_backend_pid() const {
  return heartbeat_pid_.load(std::memory_order_relaxed);
}

absl::Status FleetLease::Leave() {
  {
    absl::MutexLock lock(&mutex_);
    if (left_) return absl::OkStatus();
    left_ = true;
    stopping_ = true;
    // The lease goes first: from here on nothing verifies.
    valid_until_nanos_.store(std::numeric_limits<int64_t>::min(),
                             std::memory_order_release);
    first_pending_ = PendingGrant();
    last_pending_ = PendingGrant();
    pending_required_.store(UINT64_MAX, std::memory_order_release);
    idle_wait_connections_.clear();
  }
  if (heartbeat_thread_.joinable()) heartbeat_thread_.join();
  // Join failed before this process had a member id: no row to delete.
  if (member_id_.empty()) return absl::OkStatus();
  absl::Status deleted = absl::OkStatus();
  if (heartbeat_connection_ == nullptr || !heartbeat_connection_->Alive()) {
    absl::StatusOr<std::unique_ptr<Connection>> connection = Connect();
    if (connection.ok()) {
      heartbeat_connection_ = std::move(*connection);
    } else {
      heartbeat_connection_.reset();
      deleted = connection.status();
    }
  }
  if (heartbeat_connection_ != nullptr) {
    absl::StatusOr<Result> gone = heartbeat_connection_->Exec(
        "DELETE FROM keygate_fleet_members WHERE member_id = $1",
        {Param::Text(member_id_)});
    if (!gone.ok()) deleted = gone.status();
  }
  heartbeat_connection_.reset();
  heartbeat_pid_.store(0, std::memory_order_relaxed);
  return deleted;
}

void FleetLease::ReportApplied(uint64_t position) {
  uint64_t applied = applied_.load(std::memory_order_relaxed);
  while (applied < position &&
         !applied_.compare_exchange_weak(applied, position,
                                         std::memory_order_seq_cst)) {
  }
  if (applied >= position) return;  // not a move
  const bool promote =
      position >= pending_required_.load(std::memory_order_seq_cst);
  if (!promote && options_.early_heartbeat_spacing == absl::ZeroDuration()) {
    return;
  }
  absl::MutexLock lock(&mutex_);
  applied_moved_ = true;
  PromoteLocked();
}

void FleetLease::ExtendLocked(int64_t until_nanos) {
  if (left_) return;
  if (until_nanos > valid_until_nanos_.load(std::memory_order_relaxed)) {
    valid_until_nanos_.store(until_nanos, std::memory_order_release);
  }
}

void FleetLease::PromoteLocked() {
  for (;;) {
    const uint64_t applied = applied_.load(std::memory_order_seq_cst);
    if (last_pending_.present() && applied >= last_pending_.required) {
      // The newest grant lasts longest; the older one requires less.
      ExtendLocked(last_pending_.until_nanos);
      first_pending_ = PendingGrant();
      last_pending_ = PendingGrant();
    } else if (first_pending_.present() &&
               applied >= first_pending_.required) {
      ExtendLocked(first_pending_.until_nanos);
      first_pending_ = last_pending_;
      last_pending_ = PendingGrant();
    }
    // Published before applied_ is read again: a ReportApplied that raced
    // past its fast path (it raised applied_, then read the old value
    // here) is caught by the re-read (both sequentially consistent).
    pending_required_.store(first_pending_.required, std::memory_order_seq_cst);
    if (!first_pending_.present() ||
        applied_.load(std::memory_order_seq_cst) < first_pending_.required) {
      return;
    }
  }
}

void FleetLease::OfferGrant(int64_t until_nanos, uint64_t required) {
  absl::MutexLock lock(&mutex_);
  if (left_) return;
  const PendingGrant grant{until_nanos, required};
  if (!first_pending_.present()) {
    first_pending_ = grant;
  } else {
    last_pending_ = grant;  // requires >= first's (M only grows)
  }
  PromoteLocked();
}

absl::Status FleetLease::Heartbeat() {
  if (heartbeat_connection_ == nullptr || !heartbeat_connection_->Alive()) {
    heartbeat_connection_.reset();
    heartbeat_pid_.store(0, std::memory_order_relaxed);
    absl::StatusOr<std::unique_ptr<Connection>> connection =
        OpenLeaseBoundedConnection();
    if (!connection.ok()) return connection.status();
    heartbeat_connection_ = std::move(*connection);
    heartbeat_pid_.store(heartbeat_connection_->backend_pid(),
                         std::memory_order_relaxed);
  }
  Connection& connection = *heartbeat_connection_;
  const uint64_t applied = applied_.load(std::memory_order_acquire);
  // Taken before the renewal is sent: the grant starts no later than the
  // database's heard_at, so it also ends no later (the safe direction).
  const int64_t sent_nanos = NowNanos();
  // Renew only a member that applies what it hears, allowing it one
  // heartbeat interval of lag (A >= M_old): one that hears but does not
  // apply stops renewing and lapses in the table, so later waits skip it.
  const int64_t old_enough =
      sent_nanos - absl::ToInt64Nanoseconds(options_.heartbeat_interval);
  while (heard_.size() >= 2 && heard_[1].first <= old_enough) {
    heard_.pop_front();
  }
  const bool renew = heard_.empty() || heard_.front().first > old_enough ||
                     applied >= heard_.front().second;
  const std::string applied_text = std::to_string(ClampPosition(applied));
  const std::string lease_micros =
      std::to_string(absl::ToInt64Microseconds(options_.lease));
  absl::StatusOr<Result> upserted = connection.Exec(
      kHeartbeatSql,
      {Param::Text(member_id_), Param::Text(options_.name),
       Param::Text(applied_text), Param::Text(renew ? "true" : "false"),
       Param::Text(lease_micros)});
  if (!upserted.ok()) return upserted.status();
  // A NEW statement, so its snapshot is taken after the upsert committed:
  // if it misses position P, the renewal committed before P did, and every
  // waiter for P sees it (docs/fleet-revocation.md).
  absl::StatusOr<Result> newest = connection.Exec(options_.newest_position_sql);
  if (!newest.ok()) return newest.status();
  if (newest->rows() != 1 || newest->columns() < 1) {
    return absl::InternalError(
        "fleet lease: the newest-position query did not return one row");
  }
  absl::StatusOr<int64_t> newest_position = newest->Int64(0, 0);
  if (!newest_position.ok()) return newest_position.status();
  if (*newest_position < 0) {
    return absl::InternalError(
        "fleet lease: the newest-position query returned a negative position");
  }
  const uint64_t newest_seen = static_cast<uint64_t>(*newest_position);
  heard_.emplace_back(sent_nanos, newest_seen);
  // Bounded; dropping the oldest only makes the renewal rule stricter.
  if (heard_.size() > 1024) heard_.pop_front();
  if (renew) OfferGrant(sent_nanos + grant_nanos_, newest_seen);
  return absl::OkStatus();
}

void FleetLease::HeartbeatLoop() {
  const int64_t interval =
      absl::ToInt64Nanoseconds(options_.heartbeat_interval);
  const int64_t spacing =
      absl::ToInt64Nanoseconds(options_.early_heartbeat_spacing);
  const int burst = options_.early_heartbeat_burst;
  // Early heartbeats draw from a token bucket: `burst` back to back, then
  // one per `spacing` (moves meanwhile share the next one).
  int tokens = burst;
  int64_t refilled = SteadyNowNanos();
  int64_t last_sent = refilled;
  for (;;) {
    {
      absl::MutexLock lock(&mutex_);
      for (;;) {
        if (stopping_) return;
        const int64_t now = SteadyNowNanos();
        if (spacing > 0 && tokens < burst && now - refilled >= spacing) {
          const int64_t gained = (now - refilled) / spacing;
          tokens = static_cast<int>(
              std::min<int64_t>(burst, int64_t{tokens} + gained));
          refilled += gained * spacing;
        }
        const int64_t regular_due = last_sent + interval;
        if (now >= regular_due) break;
        const bool early = applied_moved_ && spacing > 0;
        if (early && tokens > 0) {
          if (tokens == burst) refilled = now;  // the refill clock starts
          --tokens;
          break;
        }
        const int64_t due =
            early ? std::min(regular_due, refilled + spacing) : regular_due;
        const bool moved = applied_moved_;
        auto woken = [this, moved]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
          return stopping_ || applied_moved_ != moved;
        };
        mutex_.AwaitWithTimeout(absl::Condition(&woken),
                                absl::Nanoseconds(due - now));
      }
      applied_moved_ = false;
    }
    last_sent = SteadyNowNanos();
    if (Heartbeat().ok()) {
      heartbeats_.fetch_add(1, std::memory_order_relaxed);
    } else {
      failed_heartbeats_.fetch_add(1, std::memory_order_relaxed);
      if (heartbeat_connection_ != nullptr &&
          heartbeat_connection_->is_broken()) {
        heartbeat_connection_.reset();
        heartbeat_pid_.store(0, std::memory_order_relaxed);
      }
    }
  }
}

absl::StatusOr<std::unique_ptr<Connection>> FleetLease::TakeWaitConnection() {
  {
    absl::MutexLock lock(&mutex_);
    while (!idle_wait_connections_.empty()) {
      std::unique_ptr<Connection> connection =
          std::move(idle_wait_connections_.back());
      idle_wait_connections_.pop_back();
      if (connection->Alive()) return connection;
    }
  }
  // A stuck query must not hold the wait far beyond its lease bound.
  return OpenLeaseBoundedConnection();
}

void FleetLease::ReturnWaitConnection(std::unique_ptr<Connection> connection,
                                      bool listening) {
  constexpr size_t kMaxIdle = 4;
  if (connection == nullptr || connection->is_broken()) return;
  // An idle listener would have the server queue notifications for it.
  if (listening &&
      !connection
           ->ExecScript(absl::StrCat("UNLISTEN ", AbslView(kFleetAppliedChannel)))
           .ok()) {
    return;
  }
  absl::MutexLock lock(&mutex_);
  if (left_ || idle_wait_connections_.size() >= kMaxIdle) return;
  idle_wait_connections_.push_back(std::move(connection));
}

namespace {

// Reaches says whether a notification announces a member's applied
// position of at least `position`.
bool Reaches(const std::vector<Notification>& notes, uint64_t position) {
  for (const Notification& note : notes) {
    uint64_t reported = 0;
    if (note.channel == kFleetAppliedChannel &&
        absl::SimpleAtoi(AbslView(note.payload), &reported) && reported >= position) {
      return true;
    }
  }
  return false;
}

}  // namespace

absl::StatusOr<FleetWaitResult> FleetLease::WaitForFleet(uint64_t position) {
  FleetWaitResult result;
  const int64_t start = NowNanos();
  if (position == 0) return result;
  int64_t bound = lease_nanos_;
  const int64_t slack = coarse_resolution_nanos_;
  const std::string position_text = std::to_string(ClampPosition(position));
  absl::Duration backoff = absl::Milliseconds(1);
  bool first_look = true;
  std::unique_ptr<Connection> connection;
  bool listen_tried = false;  // on this connection
  bool listening = false;
  for (;;) {
    if (connection == nullptr) {
      absl::StatusOr<std::unique_ptr<Connection>> opened =
          TakeWaitConnection();
      if (opened.ok()) connection = std::move(*opened);
      listen_tried = false;
      listening = false;
    }
    bool looked = false;
    std::vector<std::string> lagging;
    if (connection != nullptr) {
      absl::StatusOr<Result> rows =
          connection->Exec(kLaggingMembersSql, {Param::Text(position_text)});
      if (rows.ok()) {
        looked = true;
        for (int row = 0; row < rows->rows(); ++row) {
          std::string member(rows->Value(row, 0));
          absl::StatusOr<int64_t> max_lease_micros = rows->Int64(row, 1);
          if (max_lease_micros.ok() && *max_lease_micros > 0) {
            bound = std::max(bound, *max_lease_micros * 1000);
          }
          // This process's own progress is known without its heartbeat.
          if (member == member_id_ &&
              applied_.load(std::memory_order_acquire) >= position) {
            continue;
          }
          lagging.push_back(std::move(member));
        }
      } else {
        ++result.failed_queries;
        connection.reset();  // reconnect on the next round
        listening = false;
      }
    } else {
      ++result.failed_queries;
    }
    if (looked) {
      if (first_look) {
        result.waited_on = lagging;
        first_look = false;
      }
      result.unconfirmed = lagging;
    }
    const int64_t now = NowNanos();
    result.waited = absl::Nanoseconds(now - start);
    if (looked && lagging.empty()) {
      result.unconfirmed.clear();
      break;
    }
    if (now - start >= bound + slack) {
      result.ended_by_lease_bound = true;
      break;
    }
    if (connection != nullptr && !listen_tried) {
      // Someone lags: LISTEN, then read again at once. A report committed
      // after the LISTEN is notified, one committed before it is in that
      // read; what the connection buffered before is stale for the same
      // reason. (A wait that finds no one lagging costs no LISTEN.)
      listen_tried = true;
      listening = connection
                      ->ExecScript(absl::StrCat(
                          "LISTEN ", AbslView(kFleetAppliedChannel)))
                      .ok();
      if (listening &&
          !connection->WaitForNotifications(absl::ZeroDuration()).ok()) {
        connection.reset();  // lost; reconnect on the next round
        listening = false;
      }
      continue;
    }
    // Until a member reports reaching the position, or the next poll (the
    // fallback: correctness never rests on a notification), or the bound.
    const absl::Duration pause = std::clamp(
        absl::Nanoseconds(start + bound + slack - now), absl::ZeroDuration(),
        backoff);
    if (listening) {
      // On the steady clock: a wall clock set back must not stretch the
      // wait past its bound.
      const int64_t until = SteadyNowNanos() + absl::ToInt64Nanoseconds(pause);
      for (;;) {
        const absl::Duration left =
            absl::Nanoseconds(until - SteadyNowNanos());
        if (left <= absl::ZeroDuration()) break;
        absl::StatusOr<std::vector<Notification>> notes =
            connection->WaitForNotifications(left);
        if (!notes.ok()) {
          connection.reset();
          listening = false;
          break;
        }
        if (Reaches(*notes, position)) {
          ++result.notified_rechecks;
          break;
        }
      }
    } else {
      absl::SleepFor(pause);
    }
    backoff = std::min(backoff * 2, options_.wait_poll_max);
  }
  ReturnWaitConnection(std::move(connection), listening);
  return result;
}

}  // namespace keygate::postgres

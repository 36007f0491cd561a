// lib/postgres/fleet_lease.h: a process's lease in a fleet that shares one
// PostgreSQL database (issue 10), and the fleet-wide wait that makes a
// revocation hold everywhere when it returns. The protocol and the argument
// for it are in docs/fleet-revocation.md; in short:
//
// - Each process (member) has a row in keygate_fleet_members. A heartbeat
//   thread, on its own connection, every `heartbeat_interval` (and soon
//   after the store reports progress): (1) upserts the row with the applied
//   position A the store reported, and renews `heard_at = now()` only if
//   A >= M_old, the newest log position a heartbeat sent at least one
//   heartbeat_interval earlier read (a member that hears but does not
//   apply stops renewing and lapses in the table), and NOTIFYs
//   kFleetAppliedChannel if A rose; this statement commits; then (2) reads the newest committed log position M in a NEW statement
//   (a snapshot taken after (1) committed).
// - A renewing heartbeat offers the member a grant: "valid until
//   S + lease - clock_margin" (S = the local monotonic time taken before (1)
//   was sent), usable only once the store has applied up to M. LeaseHeld()
//   is true while some usable grant has not expired: one clock read
//   (CLOCK_MONOTONIC_COARSE through the vDSO) and one atomic load, no lock,
//   no allocation, no system call (bench/fleet_lease_benchmark.cc).
// - WaitForFleet(P) returns when every member whose lease is live in the
//   database has reported applied >= P, or when `lease` has passed on the
//   waiter's clock since the call (by then every grant that does not
//   require P has expired, whether or not the database can be reached).
//   While someone lags it LISTENs, and re-reads the table when a
//   notification of a position >= P arrives, and on a backed-off poll
//   (notifications only make it faster).
//
// Safety in one sentence: a grant usable without having applied P must
// come from a heartbeat whose read (2) missed P, so it was sent before P
// committed and it expires within `lease` of that commit; and its renewal
// (1) committed before the read, so the waiter saw it in the table.
#ifndef KEYGATE_LIB_POSTGRES_FLEET_LEASE_H_
#define KEYGATE_LIB_POSTGRES_FLEET_LEASE_H_

#include <time.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "lib/postgres/connection.h"

namespace keygate::postgres {

// MonotonicClock is the local clock a lease is measured on. It must never
// go backwards and its rate must be within the lease's clock margin of real
// time (docs/fleet-revocation.md). Implementations are thread-safe.
class MonotonicClock {
 public:
  virtual ~MonotonicClock() = default;
  // NowNanos is the current time in nanoseconds from an arbitrary origin.
  virtual int64_t NowNanos() const = 0;
};

// kNewestChangePositionSql reads the newest committed position of the
// store's change log, 0 for an empty log: the change records are the keys
// storage::kChangePrefix ("changes/") + be64(position) of family 0 in
// keygate_kv (lib/postgres/postgres_database.h), so the newest is the
// greatest such key and its last 8 bytes are the position.
inline constexpr std::string_view kNewestChangePositionSql =
    "SELECT coalesce((SELECT ('x' || encode(substring(key FROM 9 FOR 8), "
    "'hex'))::bit(64)::bigint FROM keygate_kv WHERE family = 0 AND "
    "key >= 'changes/'::bytea AND key < 'changes0'::bytea "
    "ORDER BY key DESC LIMIT 1), 0)";

// kFleetAppliedChannel is the NOTIFY channel on which a heartbeat that
// reports a higher applied position than its row held announces it (the
// payload is the position, in decimal). WaitForFleet LISTENs on it.
inline constexpr std::string_view kFleetAppliedChannel =
    "keygate_fleet_applied";

// FleetLeaseOptions configures a FleetLease. Every member of a fleet must
// use the same `lease` (a waiter bounds its wait by the largest lease in the
// table when it can read it, by its own otherwise).
struct FleetLeaseOptions {
  // L: how long a grant lasts after its heartbeat was sent, and how long a
  // revocation may wait for a member that stopped answering. The knob that
  // trades fail-closed episodes during database hiccups for a shorter worst
  // case revoke latency.
  // Default: 5 s.
  absl::Duration lease = absl::Seconds(5);
  // How often the heartbeat runs. Zero means lease / 4. Must be below
  // lease - clock_margin (else the lease lapses between heartbeats).
  // Default: zero (lease / 4).
  absl::Duration heartbeat_interval = absl::ZeroDuration();
  // Subtracted from every local grant: covers the clock rate error of the
  // member and of the database host, and of a waiter, over one lease
  // (2 x 100 ppm of 5 s is 1 ms; the default is generous), and the default
  // clock's resolution (CLOCK_MONOTONIC_COARSE: a kernel tick, 1-10 ms);
  // at least twice that resolution. Zero means lease / 20.
  // Default: zero (lease / 20).
  absl::Duration clock_margin = absl::ZeroDuration();
  // After ReportApplied moves the applied position, the heartbeat runs
  // early, so that waiters learn the new position soon (lower revoke
  // latency). Early heartbeats draw from a token bucket of
  // `early_heartbeat_burst` tokens refilled one per this spacing: a few
  // revokes in a row are each acknowledged at once, a storm of them costs
  // at most one heartbeat per spacing (several moves meanwhile share one).
  // Zero disables early heartbeats (waiters then learn at the next regular
  // heartbeat).
  // Default: 20 ms.
  absl::Duration early_heartbeat_spacing = absl::Milliseconds(20);
  // The bucket's size: how many early heartbeats may run back to back
  // before they are spaced `early_heartbeat_spacing` apart. At least 1.
  // Default: 4.
  int early_heartbeat_burst = 4;
  // A query returning one row with one bigint: the newest committed change
  // log position. Positions must be dense and commit-ordered: if a
  // position p is committed before the statement's snapshot, the result is
  // at least p.
  // Default: kNewestChangePositionSql.
  std::string newest_position_sql = std::string(kNewestChangePositionSql);
  // A label stored in the member's row (host, pid) for operators; not
  // unique, never interpreted. Truncated to 200 bytes.
  // Default: "" (empty).
  std::string name;
  // Connect timeout of every (re)connection; also the heartbeat
  // connection's statement_timeout is `lease`.
  // Default: 5 s.
  absl::Duration connect_timeout = absl::Seconds(5);
  // Rows whose last heartbeat (renewing or not) is older than this are
  // deleted by any member at Join (crashed members). At least `lease`.
  // Default: 1 h.
  absl::Duration stale_member_horizon = absl::Hours(1);
  // WaitForFleet re-reads the members table when a member's heartbeat
  // notifies (kFleetAppliedChannel) a position at least the awaited one,
  // and otherwise polls, backing off from 1 ms up to this (the fallback:
  // a notification may be lost, and a member lapsing in the table sends
  // none).
  // Default: 20 ms.
  absl::Duration wait_poll_max = absl::Milliseconds(20);
  // The local clock of grants and of WaitForFleet's bound; not owned, must
  // outlive the FleetLease. Tests inject one.
  // Default: nullptr (CLOCK_MONOTONIC_COARSE).
  const MonotonicClock* clock = nullptr;
};

// FleetWaitResult tells how a WaitForFleet ended (for metrics and logs).
struct FleetWaitResult {
  // Time spent in the call (on the lease's clock).
  absl::Duration waited = absl::ZeroDuration();
  // Members (member_id) that were live and behind at the first look.
  std::vector<std::string> waited_on;
  // True if the wait ended because `lease` passed, not because every live
  // member reported the position; `unconfirmed` then lists the members
  // still live and behind at the last successful look (none checked if the
  // database could not be read at all). Either way the guarantee holds.
  bool ended_by_lease_bound = false;
  std::vector<std::string> unconfirmed;
  // Queries that failed (database unreachable) during the wait.
  int failed_queries = 0;
  // Re-reads prompted by a notification (the others were polls).
  int notified_rechecks = 0;
};

// FleetLease is one process's membership of a fleet: its lease, kept by a
// heartbeat thread, and the fleet-wide wait. Create one per process with
// Join; the store calls ReportApplied after it applies the change log, the
// verify path calls LeaseHeld, a revocation calls WaitForFleet after its
// commit. All methods are safe for concurrent use without external
// synchronization.
class FleetLease {
 public:
  // Join creates keygate's schema if needed (EnsureSchema), deletes stale
  // rows, registers this process as a new member (a fresh member_id) with
  // `applied_position`, and starts the heartbeat thread. The first
  // heartbeat has run when Join returns: LeaseHeld() is true if
  // `applied_position` is at least the log's newest position, and becomes
  // true once ReportApplied reaches it otherwise. InvalidArgument for
  // inconsistent options (a fixed message; never the connection string);
  // the connection's status if the database cannot be reached.
  static absl::StatusOr<std::unique_ptr<FleetLease>> Join(
      std::string_view conninfo, uint64_t applied_position,
      FleetLeaseOptions options = {});

  FleetLease(const FleetLease&) = delete;
  FleetLease& operator=(const FleetLease&) = delete;
  // Leaves (Leave) if Leave did not run. REQUIRES: no other call on this
  // object in progress.
  ~FleetLease();

  // Leave drops the lease (LeaseHeld is false from the first instruction),
  // stops the heartbeat and deletes the member's row, so waiters stop
  // considering it at once. OK if the row is gone (or was never readable:
  // a member that cannot delete its row simply lapses within `lease`);
  // the status of the DELETE otherwise. Idempotent.
  absl::Status Leave();

  // ReportApplied records that the store has applied the change log up to
  // `position` (its index reflects every change <= position). Call it
  // after applying, never before. Positions never go down (a lower one is
  // ignored). Makes a pending grant usable if it required at most
  // `position`. Cheap: an atomic max, a lock only when a grant is pending
  // or an early heartbeat is due. Not for the verify path.
  void ReportApplied(uint64_t position);

  // LeaseHeld says whether this process may still answer verifications:
  // it heard from the database within `lease` - `clock_margin` and has
  // applied the log up to what it heard then. Lock-free: one clock read
  // and one atomic load. False after Leave.
  bool LeaseHeld() const {
    return NowNanos() < valid_until_nanos_.load(std::memory_order_acquire);
  }

  // WaitForFleet waits until no process of the fleet can accept what the
  // change at `position` revoked: every member whose lease is live in the
  // database has reported applied >= `position` (this process: its own
  // ReportApplied), or `lease` has passed since the call. Call it after the
  // change committed. Always OK once it returns (the position being
  // committed is the caller's contract; a database that cannot be reached
  // only makes the wait last `lease`). After Leave it still waits for the
  // other members (a revoke that committed just before its store closed).
  absl::StatusOr<FleetWaitResult> WaitForFleet(uint64_t position)
      ABSL_LOCKS_EXCLUDED(mutex_);

  // member_id is this process's row key (a UUID the database generated).
  const std::string& member_id() const { return member_id_; }
  // applied_position is the highest position ReportApplied received.
  uint64_t applied_position() const {
    return applied_.load(std::memory_order_acquire);
  }
  // heartbeat_backend_pid is the server process of the heartbeat
  // connection (0 if none): for tests and logs.
  int heartbeat_backend_pid() const;
  // heartbeats counts successful heartbeats; failed_heartbeats the others.
  uint64_t heartbeats() const {
    return heartbeats_.load(std::memory_order_relaxed);
  }
  uint64_t failed_heartbeats() const {
    return failed_heartbeats_.load(std::memory_order_relaxed);
  }

 private:
  FleetLease(std::string conninfo, uint64_t applied_position,
             FleetLeaseOptions options);

  // NowNanos reads the lease's clock (inline: LeaseHeld is the hot path).
  // The default is CLOCK_MONOTONIC_COARSE (~6 ns here against ~30 ns for
  // steady_clock): it lags the precise clock by less than its resolution
  // (a kernel tick), which Join requires the clock margin to cover twice.
  int64_t NowNanos() const {
    if (options_.clock != nullptr) return options_.clock->NowNanos();
    timespec now;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
    return int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
  }
  // OpenLeaseBoundedConnection connects (Connection::Open: commits are
  // synchronous) and sets statement_timeout = lease (the heartbeat's
  // connection and every wait connection).
  absl::StatusOr<std::unique_ptr<Connection>> OpenLeaseBoundedConnection();
  // Heartbeat runs one heartbeat on heartbeat_connection_ (reconnecting
  // first if needed). Only the heartbeat thread (and Join, before it
  // starts) calls it.
  absl::Status Heartbeat() ABSL_LOCKS_EXCLUDED(mutex_);
  void HeartbeatLoop() ABSL_LOCKS_EXCLUDED(mutex_);
  // OfferGrant makes a grant usable now or keeps it pending.
  void OfferGrant(int64_t until_nanos, uint64_t required)
      ABSL_LOCKS_EXCLUDED(mutex_);
  // ExtendLocked raises valid_until_nanos_ to `until_nanos`.
  void ExtendLocked(int64_t until_nanos) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // PromoteLocked makes every pending grant whose requirement the applied
  // position meets usable.
  void PromoteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  absl::StatusOr<std::unique_ptr<Connection>> Connect();
  // TakeWaitConnection / ReturnWaitConnection manage the waiters' pool;
  // pooled connections do not LISTEN (ReturnWaitConnection UNLISTENs).
  absl::StatusOr<std::unique_ptr<Connection>> TakeWaitConnection()
      ABSL_LOCKS_EXCLUDED(mutex_);
  void ReturnWaitConnection(std::unique_ptr<Connection> connection,
                            bool listening) ABSL_LOCKS_EXCLUDED(mutex_);

  std::string conninfo_;  // wiped on destruction
  const FleetLeaseOptions options_;
  const int64_t grant_nanos_;   // lease - clock_margin
  const int64_t lease_nanos_;
  // The default clock's resolution (0 with an injected clock): a wait's
  // bound is extended by it, since its start may read up to that early.
  int64_t coarse_resolution_nanos_ = 0;
  std::string member_id_;       // set by Join, then constant

  // The verify path reads this alone.
  std::atomic<int64_t> valid_until_nanos_{0};
  std::atomic<uint64_t> applied_;
  // The lowest required position of the pending grants (first_pending_);
  // UINT64_MAX if none (so ReportApplied's fast path skips the lock).
  std::atomic<uint64_t> pending_required_{UINT64_MAX};
  std::atomic<uint64_t> heartbeats_{0};
  std::atomic<uint64_t> failed_heartbeats_{0};
  std::atomic<int> heartbeat_pid_{0};

  mutable absl::Mutex mutex_;
  // Grants not usable yet. Two slots, so that a member always converges
  // under a steady stream of writes: the oldest pending grant keeps its
  // requirement until it is met (a newer heartbeat replaces only the
  // newest one), so a member whose lag is bounded keeps making grants
  // usable even if every heartbeat hears a newer position.
  struct PendingGrant {
    int64_t until_nanos = 0;
    uint64_t required = UINT64_MAX;
    bool present() const { return required != UINT64_MAX; }
  };
  PendingGrant first_pending_ ABSL_GUARDED_BY(mutex_);
  PendingGrant last_pending_ ABSL_GUARDED_BY(mutex_);
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  bool left_ ABSL_GUARDED_BY(mutex_) = false;
  // ReportApplied moved the position since the last heartbeat was sent.
  bool applied_moved_ ABSL_GUARDED_BY(mutex_) = false;
  std::vector<std::unique_ptr<Connection>> idle_wait_connections_
      ABSL_GUARDED_BY(mutex_);

  // Heartbeat thread state (only that thread, and Join before it starts,
  // touch these).
  std::unique_ptr<Connection> heartbeat_connection_;
  // (sent_nanos, M) of recent successful heartbeats, oldest first; the
  // front is the newest one sent at least heartbeat_interval ago once
  // there is one (its M is what the member must have applied to renew).
  std::deque<std::pair<int64_t, uint64_t>> heard_;

  std::thread heartbeat_thread_;
};

}  // namespace keygate::postgres

#endif  // KEYGATE_LIB_POSTGRES_FLEET_LEASE_H_

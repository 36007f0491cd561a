// keygate/options.h: options for opening a keygate store.
#ifndef KEYGATE_OPTIONS_H_
#define KEYGATE_OPTIONS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "keygate/clock.h"
#include "keygate/keyring.h"
#include "keygate/webhook.h"

namespace keygate {

// StoreRole says how Store::Open opens a store.
enum class StoreRole {
  // The one process that owns the store: reads and writes (RocksDB's lock).
  kPrimary,
  // A read-only follower of a store another process (or another Store of
  // this one) holds as primary: verify, get and list work; every write
  // fails with FailedPrecondition. It applies the primary's change log on a
  // schedule (follower_catch_up_interval) and on Store::CatchUp, so it can
  // lag by up to the interval (docs/followers.md).
  kFollower,
};

// Options controls Store::Open.
struct Options {
  // Primary (read-write owner) or read-only follower. Default: kPrimary.
  StoreRole role = StoreRole::kPrimary;

  // Follower only: the directory where the follower keeps its own files
  // (RocksDB's secondary instance info log), created owner-only; never the
  // store directory itself. Empty: a fresh private directory under the
  // system temporary directory, removed by Close. Default: empty.
  std::string follower_directory;

  // Follower only: how often a background thread applies the primary's new
  // changes. Zero or negative: never on its own, only on Store::CatchUp.
  // Default: 100 milliseconds.
  absl::Duration follower_catch_up_interval = absl::Milliseconds(100);

  // Primary only: change-log trimming. A change record is deleted once it
  // is both older than change_log_retention and more than
  // change_log_min_records behind the newest (whichever keeps more). A
  // follower whose position was trimmed away rebuilds its state from a full
  // scan. Default: 1 hour.
  absl::Duration change_log_retention = absl::Hours(1);
  // Default: 100000 records. Values below 1 count as 1 (the newest record
  // is always kept: it carries the position).
  uint64_t change_log_min_records = 100000;

  // Primary only: the event outbox (Store::ReadEvents, keygate/event.h).
  // When true, every lifecycle change also records an event in its own
  // atomic write; when false nothing is recorded and writes pay nothing
  // (ReadEvents then returns only events recorded while it was on).
  // Default: false: an outbox is useful only to a host that drains it, and
  // an undrained one costs every write a record and disk for
  // event_retention; a host that feeds a bus turns it on.
  bool record_events = false;
  // Primary only: an event is deleted once acknowledged (Store::AckEvents)
  // or once older than this, whichever comes first, a bounded number per
  // write, so a host that stops reading loses events older than this
  // rather than filling the disk. Default: 7 days.
  absl::Duration event_retention = absl::Hours(24 * 7);
  // Primary only: how long before a token's expiry Store::EmitDueEvents
  // records token.expiring, one event per lead time (zero or negative
  // leads are ignored). Default: 7 days and 1 day.
  std::vector<absl::Duration> token_expiring_leads = {absl::Hours(24 * 7),
                                                      absl::Hours(24)};

  // Directory of the RocksDB store; created if missing (see
  // create_if_missing). Owner-only: Open makes it 0700 and every file in it
  // 0600, whatever the umask (a store left 0755 / 0644 by an older keygate
  // is tightened; symbolic links in it are not followed). Default: none,
  // required unless postgres_connection is set (then it is not used: no
  // directory is created or read, and it may be empty).
  std::string path;

  // A libpq connection string ("host=... dbname=... user=..." or a
  // postgresql:// URI) of a PostgreSQL database holding the store instead
  // of the RocksDB directory at `path` (README, "Fleets on PostgreSQL";
  // docs/postgres-schema.md). Open creates or migrates keygate's schema
  // there. Several processes may open one database as primaries at once
  // (a fleet): every write takes a fleet-wide lock and first applies what
  // the others committed, and a background thread applies their writes
  // between two of its own (LISTEN/NOTIFY, and a poll every
  // follower_catch_up_interval), so every process verifies the fleet's
  // tokens; Verify never queries PostgreSQL. Followers are RocksDB-only:
  // role kFollower with a connection string is FailedPrecondition. The
  // password in it never appears in a status or a log. Default: empty
  // (RocksDB at `path`).
  std::string postgres_connection;

  // PostgreSQL only: L, the lease of this process in its fleet
  // (docs/fleet-revocation.md). The process answers Verify only while it
  // has heard from the database within L and applied the change log up to
  // what it heard; otherwise every token fails (VerifyFailure::
  // kFleetLeaseLapsed, the same 401 outside) until it catches up. A write
  // that can take acceptance away (RevokeToken, RotateToken,
  // DeleteServiceAccount, UpdateServiceAccount and its disable/rename
  // forms) returns only when every process with a live lease has applied
  // it, or after L for those that stopped answering (whose leases have then
  // lapsed): when it returns, no process of the fleet accepts what it
  // revoked. A shorter L bounds that wait for a dead peer more tightly but
  // makes a process fail closed sooner when its database is slow. Every
  // process of a fleet must use the same L. Zero or negative: no lease and
  // no wait (a revoke returns once committed; the other processes refuse
  // the token once they apply it, within follower_catch_up_interval).
  // Default: 5 seconds.
  absl::Duration fleet_lease = absl::Seconds(5);

  // Peppers of the token digest, loaded from a file that lives apart from the
  // store (Keyring::Load). Open refuses to run without one, and refuses a
  // keyring whose peppers do not match the ones the store was created with.
  // Default: none, required.
  std::shared_ptr<const Keyring> keyring;

  // Prefix of every token string, so secret scanners can find leaked ones:
  // 1-16 chars of [a-z0-9] followed by '_'. Default: "kg_".
  std::string token_prefix = "kg_";

  // Sync the write-ahead log before create/revoke/... return, so an
  // acknowledged write survives a machine crash. Default: true.
  bool sync_writes = true;

  // Create the store directory if it does not exist. Default: true.
  bool create_if_missing = true;

  // Time source for created/revoked/expiry checks. Default: nullptr, meaning
  // SystemClock(). Must outlive the store.
  const Clock* clock = nullptr;

  // Modules a scope may name, e.g. {"tokens", "billing"}. Scopes naming any
  // other module are rejected. The management API's webhook routes need
  // "webhooks". Default: {"service_accounts", "tokens", "webhooks"}.
  std::vector<std::string> scope_modules = {"service_accounts", "tokens",
                                            "webhooks"};

  // How long revoked or expired tokens are kept (for listing and audit)
  // before PurgeRetired deletes them: a token retired exactly `retention`
  // ago is still kept (strict "longer ago than"). Active tokens are never
  // purged.
  // Default: 30 days.
  absl::Duration retention = absl::Hours(24 * 30);

  // How often each token's last-used time (TokenMetadata::last_used_at) is
  // written to the store. Verify keeps the time in memory only (to the
  // second, refreshed at most once per max(1 s, interval / 60) per token);
  // a background thread of the store writes the times that changed, in one
  // batch, every interval, and Close writes the rest. A crash loses at most
  // the last interval of last-used times, never a token or a revocation.
  // Zero or negative: no background thread, written at Close only.
  // Default: 60 seconds.
  absl::Duration last_used_flush_interval = absl::Seconds(60);

  // Maximum active (unrevoked, unexpired) tokens per organization; creating
  // one more fails with ResourceExhausted. Default: 0, meaning no limit.
  uint32_t max_active_tokens_per_organization = 0;

  // Maximum webhook endpoints per organization; creating one more fails
  // with ResourceExhausted. Must be 1 to 1000. Default: 20.
  uint32_t max_webhook_endpoints_per_organization = 20;

  // Which URLs a webhook endpoint may point at (keygate/webhook.h).
  // Default: http and https, any public host; loopback, private,
  // link-local and local names refused.
  WebhookTargetPolicy webhook_targets;
};

}  // namespace keygate

#endif  // KEYGATE_OPTIONS_H_

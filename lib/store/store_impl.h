// lib/store/store_impl.h: the Store implementation: validation, tenancy and
// lifecycle over the storage tables, keeping the verify index exact.
//
// One class, its members defined by job:
//   store_impl.cc  the guards, Close, the clock, the shared error statuses
//   open.cc        Open: options, the schema version and pepper checks, and
//                  loading the verify index from storage
//   accounts.cc    the service-account calls
//   tokens.cc      create, list, revoke and purge of tokens
//   rotate.cc      rotation of a token (a successor and a grace)
//   verify.cc      Verify and the upkeep of the verify index (grants and
//                  per-account state)
//   slugs.cc       choosing slugs (lib/store/slugs.h)
//   webhooks.cc    the webhook endpoint calls (lib/webhooks/)
//   events.cc      the event outbox calls (lib/store/event_outbox.h)
//   last_used.cc   loading and flushing the last-used times
//                  (lib/store/last_used_table.h, last_used_flusher.h)
//   follower.cc    a follower's catch-up: applying the primary's change
//                  log (lib/store/change_log.h) to the in-memory state
// and the names and active counts CreateToken checks in active_tokens_
// (lib/store/active_token_index.h), kept like the verify index: filled at
// open, changed by every writer after its batch commits.
#ifndef KEYGATE_LIB_STORE_STORE_IMPL_H_
#define KEYGATE_LIB_STORE_STORE_IMPL_H_

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "keygate/store.h"
#include "lib/base/digest.h"
#include "lib/crypto/token_digester.h"
#include "lib/index/revoked_digest_set.h"
#include "lib/index/verify_index.h"
#include "lib/postgres/fleet_lease.h"
#include "lib/postgres/postgres_database.h"
#include "lib/postgres/write_listener.h"
#include "lib/scope/scope.h"
#include "lib/store/active_token_index.h"
#include "lib/store/change_log.h"
#include "lib/store/event_outbox.h"
#include "lib/store/last_used_flusher.h"
#include "lib/store/last_used_table.h"
#include "lib/storage/records.h"
#include "lib/storage/tables.h"
#include "lib/token/codec.h"

namespace keygate::store {

// The statuses more than one file of the store returns.
absl::Status StoreClosedError();
absl::Status AccountNotFoundError();
absl::Status TokenNotFoundError();
absl::Status FollowerReadOnlyError();

// StoredTime truncates `t` to the microseconds storage keeps (toward the
// past, as storage::EncodeTime does), so what a call returns equals what a
// later read returns.
absl::Time StoredTime(absl::Time t);

// AccountEvent and TokenEvent are the event of `type` about the resource as
// the change leaves it, by `actor` (events.cc); Commit fills position, id
// and time.
Event AccountEvent(EventType type, const ServiceAccount& account,
                   std::string_view actor);
Event TokenEvent(EventType type, const TokenMetadata& token,
                 std::string_view actor);

class StoreImpl final : public Store {
 public:
  // Open is Store::Open; `base_file_system` as in storage::Database::Open
  // (null: the default; tests only, lib/store/open_on_file_system.h).
  static absl::StatusOr<std::unique_ptr<Store>> Open(
      Options options,
      std::shared_ptr<rocksdb::FileSystem> base_file_system = nullptr);
  ~StoreImpl() override;

  absl::Status Close() override ABSL_LOCKS_EXCLUDED(write_mu_, db_mu_);
  absl::Status CatchUp() override ABSL_LOCKS_EXCLUDED(write_mu_, db_mu_);
  std::string_view token_prefix() const override;

  absl::StatusOr<ServiceAccount> CreateServiceAccount(
      std::string_view organization, const ServiceAccountSpec& spec,
      std::string_view actor) override ABSL_LOCKS_EXCLUDED(write_mu_, db_mu_);
  absl::StatusOr<ServiceAccount> GetServiceAccount(
      std::string_view organization, std::string_view slug) override
      ABSL_LOCKS_EXCLUDED(db_mu_);
  absl::StatusOr<Page<ServiceAccount>> ListServiceAccounts(
      std::string_view organization, const PageRequest& page) override
      ABSL_LOCKS_EXCLUDED(db_mu_);
  absl::StatusOr<ServiceAccount> UpdateServiceAccount(
      std::string_view organization, std::string_view slug,
      const ServiceAccountPatch& patch, std::string_view actor) override
      ABSL_LOCKS_EXCLUDED(write_mu_, db_mu_);
  absl::StatusOr<ServiceAccount> RenameServiceAccount(
      std::string_view organization, std::string_view slug,
      std::string_view new_name, std::string_view actor) override
      ABSL_LOCKS_EXCLUDED(write_mu_, db_mu_);
  absl::StatusOr<ServiceAccount> SetServiceAccountDisabled(
      std::string_view organization, std::string_view slug, bool disabled,
      std::string_view actor) override ABSL_LOCKS_EXCLUDED(write_mu_, db_mu_);
  absl::Status DeleteServiceAccount(std::string_view organization,
                                    std::string_view slug,
                                    std::string_view actor) override
      ABSL_LOCKS_EXCLUDED(write_mu_, db_mu_);

  absl::StatusOr<CreatedToken> CreateToken(std::string_view organization,
                                           std::string_view service_account,
                                           const TokenSpec& spec,
                                           std::string_view actor) override
      ABSL_LOCKS_EXCLUDED(write_mu_, db_mu_);
  absl::StatusOr<Page<TokenMetadata>> ListTokens(
      std::string_view organization, std::string_view service_account,
      const PageRequest& page) override ABSL_LOCKS_EXCLUDED(db_mu_);
  absl::Status RevokeToken(std::string_view organization,
                           std::string_view service_account,
                           std::string_view token_slug,
                           std::string_view actor) override
      ABSL_LOCKS_EXCLUDED(write_mu_, db_mu_);
  using Store::RotateToken;
  absl::StatusOr<CreatedToken> RotateToken(
      std::string_view organization, std::string_view service_account,
      std::string_view token_slug, absl::Duration grace,
      std::string_view actor,
      absl::FunctionRef<absl::Status(const TokenSpec& successor)> authorize)
      override ABSL_LOCKS_EXCLUDED(write_mu_, db_mu_);
  absl::StatusOr<Principal> Verify(
      std::string_view token, std::string_view required_scope) const override;
  absl::StatusOr<PurgeResult> PurgeRetired() override
      ABSL_LOCKS_EXCLUDED(write_mu_, db_mu_);

  // ----- webhooks.cc
  absl::StatusOr<EndpointWithSecret> CreateWebhookEndpoint(
      std::string_view organization, const WebhookEndpointSpec& spec,
      std::string_view actor) override ABSL_LOCKS_EXCLUDED(write_mu_, db_mu_);
  absl::StatusOr<WebhookEndpoint> GetWebhookEndpoint(
      std::string_view organization, std::string_view id) override
      ABSL_LOCKS_EXCLUDED(db_mu_);
  absl::StatusOr<std::vector<WebhookEndpoint>> ListWebhookEndpoints(
      std::string_view organization) override ABSL_LOCKS_EXCLUDED(db_mu_);
  absl::StatusOr<WebhookEndpoint> UpdateWebhookEndpoint(
      std::string_view organization, std::string_view id,
      const WebhookEndpointPatch& patch, std::string_view actor) override
      ABSL_LOCKS_EXCLUDED(write_mu_, db_mu_);
  absl::Status DeleteWebhookEndpoint(std::string_view organization,
                                     std::string_view id,
                                     std::string_view actor) override
      ABSL_LOCKS_EXCLUDED(write_mu_, db_mu_);
  absl::StatusOr<EndpointWithSecret> RotateWebhookSecret(
      std::string_view organization, std::string_view id,
      std::string_view actor) override ABSL_LOCKS_EXCLUDED(write_mu_, db_mu_);
  absl::StatusOr<SecretString> WebhookSigningSecret(
      std::string_view organization, std::string_view id) override
      ABSL_LOCKS_EXCLUDED(db_mu_);

  // ----- webhook_delivery_state.cc
  absl::StatusOr<std::vector<WebhookEndpoint>> ListAllWebhookEndpoints()
      override ABSL_LOCKS_EXCLUDED(db_mu_);
  absl::StatusOr<WebhookDeliveryState> GetWebhookDeliveryState(
      std::string_view organization, std::string_view id) override
      ABSL_LOCKS_EXCLUDED(db_mu_);
  absl::StatusOr<WebhookDeliveryState> RecordWebhookDelivery(
      std::string_view organization, std::string_view id,
      const WebhookDeliveryUpdate& update) override
      ABSL_LOCKS_EXCLUDED(write_mu_, db_mu_);

  // ----- events.cc
  absl::StatusOr<std::vector<Event>> ReadEvents(uint64_t after_position,
                                                size_t max_count) override
      ABSL_LOCKS_EXCLUDED(db_mu_);
  absl::Status AckEvents(uint64_t through_position) override
      ABSL_LOCKS_EXCLUDED(write_mu_, db_mu_);
  absl::StatusOr<uint64_t> AckedEventPosition() override
      ABSL_LOCKS_EXCLUDED(db_mu_);
  absl::StatusOr<size_t> EmitDueEvents() override
      ABSL_LOCKS_EXCLUDED(write_mu_, db_mu_);

  // ----- last_used.cc
  // FlushLastUsed writes every last-used time that changed since the last
  // flush, in one batch (what the background flusher and Close run). OK
  // with nothing to write; FailedPrecondition once closed; a storage error
  // leaves the times pending for the next flush.
  absl::Status FlushLastUsed() ABSL_LOCKS_EXCLUDED(write_mu_, db_mu_);
  // last_used_records_written counts the last-used records flushes have
  // written since Open (tests: coalescing).
  uint64_t last_used_records_written() const {
    return last_used_records_written_.load(std::memory_order_relaxed);
  }

 private:
  // WriteGuard is the one way a write starts: it takes write_mu_ (writers
  // are serialized: each reads, checks, then writes) and then db_mu_ shared
  // (Close waits for it), and checks the store is open. When status() is OK
  // the tables may be read and written until the guard is destroyed.
  class ABSL_SCOPED_LOCKABLE WriteGuard {
   public:
    explicit WriteGuard(StoreImpl* store)
        ABSL_EXCLUSIVE_LOCK_FUNCTION(store->write_mu_)
            ABSL_SHARED_LOCK_FUNCTION(store->db_mu_);
    ~WriteGuard() ABSL_UNLOCK_FUNCTION();
    WriteGuard(const WriteGuard&) = delete;
    WriteGuard& operator=(const WriteGuard&) = delete;

    // status is OK, or FailedPrecondition if the store is closed or a
    // follower (read-only); on a fleet database (PostgreSQL), the fleet
    // write lock's status (Unavailable: a peer holds it too long) or the
    // catch-up's (SyncWithFleet).
    const absl::Status& status() const { return status_; }

    // AwaitFleetOnRelease makes the destructor, once it has released every
    // lock, wait until the fleet has applied the change this write just
    // committed (FleetLease::WaitForFleet; at most Options::fleet_lease).
    // Revoking writes call it after their Commit succeeded; no effect
    // without a fleet lease.
    void AwaitFleetOnRelease() { await_position_ = store_->change_position(); }

   private:
    StoreImpl* const store_;
    absl::Status status_;
    // The fleet write lock is held (released by the destructor).
    bool fleet_locked_ = false;
    // Non-zero: the position the destructor waits for the fleet to apply.
    uint64_t await_position_ = 0;
  };

  // ReadGuard is the one way a read starts: db_mu_ shared, and the check
  // that the store is open. Reads never wait for writers.
  class ABSL_SCOPED_LOCKABLE ReadGuard {
   public:
    explicit ReadGuard(const StoreImpl* store)
        ABSL_SHARED_LOCK_FUNCTION(store->db_mu_);
    ~ReadGuard() ABSL_UNLOCK_FUNCTION();
    ReadGuard(const ReadGuard&) = delete;
    ReadGuard& operator=(const ReadGuard&) = delete;

    // status is OK, or FailedPrecondition if the store is closed.
    const absl::Status& status() const { return status_; }

   private:
    const StoreImpl* const store_;
    absl::Status status_;
  };

  StoreImpl(Options options, std::unique_ptr<storage::Tables> tables,
            std::unique_ptr<crypto::TokenDigester> digester,
            std::shared_ptr<const scope::ScopeCatalog> catalog,
            std::string owned_follower_directory);

  // ----- open.cc
  // Load checks the schema version and the pepper fingerprints (recording
  // them in a new store) and fills the verify index from storage.
  absl::Status Load() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_)
      ABSL_LOCKS_EXCLUDED(db_mu_);

  // ----- last_used.cc
  // LoadLastUsed reads the stored last-used times into last_used_ (after
  // the tokens are loaded; records of tokens that are gone are ignored).
  absl::Status LoadLastUsed() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_)
      ABSL_SHARED_LOCKS_REQUIRED(db_mu_);
  // WriteLastUsed is FlushLastUsed under the caller's locks.
  absl::Status WriteLastUsed() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_)
      ABSL_SHARED_LOCKS_REQUIRED(db_mu_);
  // StartLastUsedFlusher starts the background flush if the options ask
  // for one (Open, once the store is loaded).
  void StartLastUsedFlusher();

  // ----- store_impl.cc
  // Now is the clock's time at the precision storage keeps (microseconds).
  absl::Time Now() const;
  // Commit applies `batch` atomically (synced unless Options::sync_writes is
  // false), with `change` appended to the change log in the same batch
  // (its written_at is set here) and, if Options::record_events, `events`
  // appended to the event outbox in the same batch too (positions, ids and
  // times set here; lib/store/event_outbox.h). On failure neither the
  // change nor any event exists.
  absl::Status Commit(storage::Batch& batch, storage::ChangeRecord change,
                      std::vector<Event> events = {})
      ABSL_SHARED_LOCKS_REQUIRED(db_mu_) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // CommitUnlogged is Commit for the batches followers need not see (the
  // last-used flush, the schema records at open, webhook endpoints, which
  // every call reads from storage): no change record.
  absl::Status CommitUnlogged(storage::Batch& batch)
      ABSL_SHARED_LOCKS_REQUIRED(db_mu_) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);

  // ReadAccount returns the stored account, or NotFound.
  absl::StatusOr<ServiceAccount> ReadAccount(std::string_view organization,
                                             std::string_view slug) const
      ABSL_SHARED_LOCKS_REQUIRED(db_mu_);

  // ----- accounts.cc
  // ApplyPatch is UpdateServiceAccount after validation.
  absl::StatusOr<ServiceAccount> ApplyPatch(std::string_view organization,
                                            std::string_view slug,
                                            const ServiceAccountPatch& patch,
                                            std::string_view actor)
      ABSL_LOCKS_EXCLUDED(write_mu_, db_mu_);

  // ----- webhooks.cc
  // SealNewSecret makes a fresh signing secret for `stored`'s endpoint and
  // seals it into `stored` under the active pepper; returns the secret.
  absl::StatusOr<SecretString> SealNewSecret(storage::StoredWebhookEndpoint& stored)
      const;

  // ----- tokens.cc
  // NewTokenValue draws a token value under the active pepper into
  // `created.value` and its digest into `stored` (digest, pepper_id),
  // checking the digest is not stored yet.
  absl::Status NewTokenValue(CreatedToken& created,
                             storage::StoredToken& stored) const
      ABSL_SHARED_LOCKS_REQUIRED(db_mu_);
  // PurgeChunk commits one chunk of PurgeRetired: the deletions in `batch`
  // of the tokens whose digests are `digests` and whose metadata (the
  // non-revoked ones only) is `unrevoked`, with their token.purged
  // `events`, then updates the indexes and clears the four.
  absl::Status PurgeChunk(storage::Batch& batch, std::vector<Digest>& digests,
                          std::vector<TokenMetadata>& unrevoked,
                          std::vector<Event>& events)
      ABSL_SHARED_LOCKS_REQUIRED(db_mu_) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // DeleteTokens adds to `batch` the deletion of every token of `range` that
  // `select` picks, and collects their digests for the index.
  absl::Status DeleteTokens(
      const storage::TokenRange& range,
      absl::FunctionRef<bool(const TokenMetadata&)> select,
      storage::Batch& batch, std::vector<Digest>& digests) const
      ABSL_SHARED_LOCKS_REQUIRED(db_mu_);

  // ----- follower.cc
  // ApplyChanges applies the change records after applied_position_ to the
  // in-memory state, as the tables read now (a follower's fixed view between
  // two catch-ups); rebuilds from a full scan if records it needs were
  // trimmed, or after an apply that failed midway. On PostgreSQL the
  // tables are read live, not in the view the records were scanned in: a
  // row a record names may be gone already (a later record, committed
  // since the scan, deleted it). The position is then reported only once
  // a further pass applied those later records too (at most
  // kMaxApplyPasses, then a rebuild; a rebuild at once if the next pass
  // finds no later record).
  absl::Status ApplyChanges() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_)
      ABSL_SHARED_LOCKS_REQUIRED(db_mu_);
  // ApplyChangesOnce is one pass of ApplyChanges; *rows_missing says a row
  // a record named was gone. It does not report the position.
  absl::Status ApplyChangesOnce(bool* rows_missing)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_)
      ABSL_SHARED_LOCKS_REQUIRED(db_mu_);
  static constexpr int kMaxApplyPasses = 8;
  // Rebuild makes the in-memory state equal to a full scan of the tables.
  absl::Status Rebuild() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_)
      ABSL_SHARED_LOCKS_REQUIRED(db_mu_);
  // StartCatchUpThread starts the scheduled catch-up of a follower if the
  // options ask for one (Open, once the store is loaded); on a fleet
  // database, the listener that applies the other processes' writes
  // (lib/postgres/write_listener.h) whatever the interval.
  void StartCatchUpThread();
  // SyncWithFleet applies the changes other processes committed to a fleet
  // database since this one last looked (ApplyChanges), and reloads the
  // event outbox's positions if events are recorded. Run under the fleet
  // write lock before every write, so the write's checks and positions see
  // every committed write of the fleet.
  absl::Status SyncWithFleet() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_)
      ABSL_SHARED_LOCKS_REQUIRED(db_mu_);
  // ReindexActiveTokens makes active_tokens_ hold the stored tokens of the
  // accounts named by their AccountKey (all of them if `everything`), as a
  // writer catching up with a fleet needs.
  absl::Status ReindexActiveTokens(
      const std::vector<std::pair<std::string, std::string>>& accounts,
      bool everything) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_)
      ABSL_SHARED_LOCKS_REQUIRED(db_mu_);
  // FollowAccount records the identity (created_at) of an account a
  // follower published, for Rebuild to tell a re-created account apart.
  void FollowAccount(const ServiceAccount& account)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);

  // ----- verify.cc: the verify index, changed only after a durable write.
  // PublishToken makes the index answer for `token` as stored (a revoked
  // token leaves index_ for revoked_). Fails only
  // if the index is full (CreateToken checks HasRoomFor before writing).
  absl::Status PublishToken(const storage::StoredToken& token)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // ForgetTokens removes deleted tokens from the index and the revoked set.
  void ForgetTokens(const std::vector<Digest>& digests)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // PublishAccount sets whether the account's tokens verify (disabled or
  // not); NewAccount gives a created account a fresh state, so that no grant
  // of an earlier account with the slug survives; ForgetAccount marks a
  // deleted account's grants dead.
  void PublishAccount(const ServiceAccount& account)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  void NewAccount(const ServiceAccount& account)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  void ForgetAccount(std::string_view organization, std::string_view slug)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // LoadedGroup is the grant group LoadToken interned last: the open scan
  // visits tokens in key order (by organization and account), so most
  // tokens reuse it without interning.
  struct LoadedGroup {
    std::string organization;
    std::string service_account;
    std::vector<std::string> scopes;
    uint32_t number = 0;
    bool valid = false;
  };
  // LoadToken adds a stored token while opening, after every account was
  // published: a token without its account never verifies. `last` is the
  // scan's LoadedGroup (starts default).
  absl::Status LoadToken(const storage::StoredToken& token, LoadedGroup& last)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);

  std::shared_ptr<index::AccountState> AccountStateFor(
      std::string_view organization, std::string_view slug)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // RetireEndedGraces moves the rotated-out tokens whose grace has ended
  // (and that are still in the index) from index_ to revoked_, so they
  // fail like revoked tokens in time too. Run by the last-used flusher's
  // tick and a follower's catch-up: a grace end shows in Verify's timing
  // for at most one such interval.
  void RetireEndedGraces() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // IndexToken puts `token` into the index with its interned group.
  absl::Status IndexToken(const storage::StoredToken& token,
                          std::shared_ptr<index::AccountState> account)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);

  const Options options_;
  // Opened as a follower (Options::role): every write is refused.
  const bool follower_;
  // The PostgreSQL database when Options::postgres_connection is set
  // (owned by tables_; null after Close and for RocksDB): a fleet database
  // other processes may write, so writes take its fleet write lock and
  // catch up first (SyncWithFleet).
  postgres::PostgresDatabase* fleet_ = nullptr;
  // The position of the last change record this store committed or applied
  // (0: none yet); set only through SetChangePosition.
  std::atomic<uint64_t> change_position_{0};
  // Fleet only (null otherwise, and when Options::fleet_lease is not
  // positive): this process's lease and the fleet-wide wait. Set once by
  // Open before the store is returned; Close leaves the fleet (LeaseHeld is
  // then false) but keeps the object, as Verify reads it without a lock.
  std::unique_ptr<postgres::FleetLease> lease_;
  // SetChangePosition records that the in-memory state reflects every
  // change up to `position` (committed or applied), and reports it to the
  // lease.
  void SetChangePosition(uint64_t position) {
    change_position_.store(position, std::memory_order_release);
    if (lease_ != nullptr) lease_->ReportApplied(position);
  }
  const Clock* const clock_;
  const token::TokenCodec codec_;
  const std::unique_ptr<crypto::TokenDigester> digester_;
  const std::shared_ptr<const scope::ScopeCatalog> catalog_;

  // Lock order: write_mu_ before db_mu_. write_mu_ serializes writers (each
  // reads, checks, then writes); db_mu_ is held shared by every storage
  // access and exclusively by Close. Take them with WriteGuard / ReadGuard.
  mutable absl::Mutex write_mu_;
  mutable absl::Mutex db_mu_ ABSL_ACQUIRED_AFTER(write_mu_);
  std::unique_ptr<storage::Tables> tables_ ABSL_GUARDED_BY(db_mu_);
  std::atomic<bool> closed_{false};

  // AccountKey -> shared state of that account's grants.
  absl::flat_hash_map<std::string, std::shared_ptr<index::AccountState>>
      accounts_ ABSL_GUARDED_BY(write_mu_);
  // The non-revoked tokens' names per account and active counts per
  // organization, as committed.
  ActiveTokenIndex active_tokens_ ABSL_GUARDED_BY(write_mu_);
  // Every stored token is in exactly one of these: the revoked ones in
  // revoked_ (probed in constant work on every miss of index_, so revoked
  // and unknown tokens take the same time), the others in index_.
  index::VerifyIndex index_;
  index::RevokedDigestSet revoked_;
  // Rotated-out tokens published into index_ in their grace, by grace end
  // (RetireEndedGraces; entries of tokens revoked or deleted since are
  // skipped when due).
  std::multimap<absl::Time, Digest> grace_ends_ ABSL_GUARDED_BY(write_mu_);

  // Last-used times: kept by Verify in memory, written by the flusher
  // (set once by Open, stopped by Close) and by Close. Flushes take
  // write_mu_, so they are serialized with revoke, purge and delete: a
  // flush never writes a token record, and never writes the time of a
  // token deleted before it.
  LastUsedTable last_used_;
  std::unique_ptr<LastUsedFlusher> flusher_;
  std::atomic<uint64_t> last_used_records_written_{0};

  // The change log: a primary appends to it (positions, trimming); a
  // follower reads its position at open from it.
  ChangeLog change_log_ ABSL_GUARDED_BY(write_mu_);
  // The event outbox: a primary appends to it in Commit (positions, ids,
  // trimming) and acknowledges in AckEvents; a follower never loads it.
  EventOutbox events_ ABSL_GUARDED_BY(write_mu_);
  // Follower and fleet: the position of the last change applied to memory; a
  // failed apply sets needs_rebuild_ (the state may be half applied).
  uint64_t applied_position_ ABSL_GUARDED_BY(write_mu_) = 0;
  bool needs_rebuild_ ABSL_GUARDED_BY(write_mu_) = false;
  // Follower and fleet: created_at of every published account, by
  // AccountKey.
  absl::flat_hash_map<std::string, absl::Time> followed_accounts_
      ABSL_GUARDED_BY(write_mu_);
  // Follower only: the scheduled catch-up (a periodic thread; set once by
  // Open, stopped by Close), and the follower directory Open made (removed
  // by Close; empty if the options named one).
  std::unique_ptr<LastUsedFlusher> catch_up_thread_;
  // Fleet only: the listener applying the other processes' writes.
  std::unique_ptr<postgres::WriteListener> fleet_listener_;
  std::string owned_follower_directory_;
  std::atomic<uint64_t> rebuilds_{0};

 public:
  // change_position is the position of the last change record this store
  // committed or applied from its fleet (0: none). After a logged write
  // returns OK it is at least that write's position.
  uint64_t change_position() const {
    return change_position_.load(std::memory_order_acquire);
  }
  // rebuilds counts a follower's full-scan rebuilds since Open (tests).
  uint64_t rebuilds() const { return rebuilds_.load(std::memory_order_relaxed); }
  // verify_index_size and revoked_set_size count the tokens index_ and
  // revoked_ hold (tests compare them with storage).
  size_t verify_index_size() const { return index_.size(); }
  size_t revoked_set_size() const { return revoked_.size(); }
};

}  // namespace keygate::store

#endif  // KEYGATE_LIB_STORE_STORE_IMPL_H_

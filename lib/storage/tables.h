// lib/storage/tables.h: the tables of a keygate store, over its RocksDB
// column families (docs/storage-schema.md).
//
// Tables is the only code that knows which column families a service account
// or a token occupies and how their keys and records are encoded: every put,
// delete, read and scan of store state happens here, and the store above it
// deals in ServiceAccount and StoredToken values only. Writes are added to a
// Batch and applied atomically by Write, so one store operation is one
// RocksDB write batch whatever tables it touches.
//
// Derived state kept on disk (token_times and digests) is maintained inside
// the Put*/Delete* calls, so adding an on-disk index changes this file and
// not the store. Name uniqueness and the per-organization active count are
// not on disk: the store keeps them in memory (lib/store/active_token_index.h),
// filled at open; FindActiveTokenName and CountActiveTokens here are the
// scans that index must agree with (its tests compare the two).
#ifndef KEYGATE_LIB_STORAGE_TABLES_H_
#define KEYGATE_LIB_STORAGE_TABLES_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "keygate/service_account.h"
#include "lib/base/digest.h"
#include "lib/storage/change_record.h"
#include "lib/storage/database.h"
#include "lib/storage/event_record.h"
#include "lib/storage/records.h"

namespace keygate::storage {

// ScanControl is what a scan visitor returns to go on or to stop early.
enum class ScanControl { kContinue, kStop };

// AccountVisitor is called once per account of a scan, in key order. An
// error status stops the scan and is what the scan returns.
using AccountVisitor =
    absl::FunctionRef<absl::StatusOr<ScanControl>(const ServiceAccount&)>;

// TokenVisitor is called once per token of a scan with its full metadata
// (organization, service_account and slug included). An error status stops
// the scan and is what the scan returns.
using TokenVisitor =
    absl::FunctionRef<absl::StatusOr<ScanControl>(const StoredToken&)>;

// TokenRange selects the tokens a scan visits: every token, one
// organization's, or one service account's.
class TokenRange {
 public:
  static TokenRange All() { return TokenRange(std::string()); }
  static TokenRange OfOrganization(std::string_view organization);
  static TokenRange OfAccount(std::string_view organization,
                              std::string_view service_account);

  // prefix is the tokens-CF key prefix the range covers.
  const std::string& prefix() const { return prefix_; }

 private:
  explicit TokenRange(std::string prefix) : prefix_(std::move(prefix)) {}
  std::string prefix_;
};

// Tables owns the store's Database. Reads and scans are safe for concurrent
// use with each other and with Write; Close must not race with any other
// call (the store serializes it). Every read or scan returns DataLoss for a
// record or key it cannot decode, and the Database's status for I/O errors.
class Tables {
 public:
  // Open opens or creates the database at `path` (Database::Open's errors;
  // a lock conflict carries the payload keygate::IsStoreInUse reads).
  // `base_file_system` as in Database::Open (null: the default).
  static absl::StatusOr<std::unique_ptr<Tables>> Open(
      const std::string& path, bool create_if_missing,
      std::shared_ptr<rocksdb::FileSystem> base_file_system = nullptr);
  // OpenFollower opens the database at `path` read-only as a follower
  // (Database::OpenFollower).
  static absl::StatusOr<std::unique_ptr<Tables>> OpenFollower(
      const std::string& path, const std::string& secondary_path);
  // OnDatabase wraps an open Database of another backend (PostgreSQL:
  // lib/postgres/postgres_database.h). REQUIRES: db is not null.
  static std::unique_ptr<Tables> OnDatabase(std::unique_ptr<Database> db);
  Tables(const Tables&) = delete;
  Tables& operator=(const Tables&) = delete;

  // is_follower and CatchUpWithPrimary: Database's.
  bool is_follower() const { return db_->is_follower(); }
  absl::Status CatchUpWithPrimary() { return db_->CatchUpWithPrimary(); }

  // Close flushes and closes the database; idempotent.
  absl::Status Close();

  // Write applies `batch` atomically; with `sync` the WAL is fsynced first.
  absl::Status Write(Batch& batch, bool sync);

  // ----- meta (default CF) -----

  // ReadSchemaVersion returns the stored schema version, or nullopt if none.
  absl::StatusOr<std::optional<std::string>> ReadSchemaVersion() const;
  // PutSchemaVersion records kSchemaVersion.
  void PutSchemaVersion(Batch& batch) const;
  // EstimateTokenCount is RocksDB's estimate of the stored tokens (may be off
  // either way; 0 if unknown), for pre-sizing in-memory indexes at open.
  uint64_t EstimateTokenCount() const;
  // IsEmpty reports whether the meta, accounts and tokens families hold no
  // key at all (a new store, as opposed to someone else's database).
  absl::StatusOr<bool> IsEmpty() const;
  // ReadPepperFingerprint returns the stored fingerprint bytes of
  // `pepper_id` as stored (the caller checks their size), or nullopt.
  absl::StatusOr<std::optional<std::string>> ReadPepperFingerprint(
      int pepper_id) const;
  void PutPepperFingerprint(Batch& batch, int pepper_id,
                            const Digest& fingerprint) const;

  // ----- service accounts (accounts CF) -----

  // ReadAccount returns the account with organization and slug filled in,
  // or nullopt if absent.
  absl::StatusOr<std::optional<ServiceAccount>> ReadAccount(
      std::string_view organization, std::string_view slug) const;
  // PutAccount creates or replaces the account named by its organization
  // and slug.
  void PutAccount(Batch& batch, const ServiceAccount& account) const;
  // DeleteAccount deletes the account row only (its tokens are deleted one
  // by one with DeleteToken).
  void DeleteAccount(Batch& batch, std::string_view organization,
                     std::string_view slug) const;
  // ScanAccounts visits the organization's accounts in slug order, starting
  // after slug `start_after` if it is not empty.
  absl::Status ScanAccounts(std::string_view organization,
                            std::string_view start_after,
                            AccountVisitor visit) const;
  // ScanEveryAccount visits every account of every organization.
  absl::Status ScanEveryAccount(AccountVisitor visit) const;

  // ----- tokens (tokens, token_times and digests CFs) -----

  // ReadToken returns the token with its full metadata, or nullopt if absent.
  absl::StatusOr<std::optional<StoredToken>> ReadToken(
      std::string_view organization, std::string_view service_account,
      std::string_view slug) const;
  // PutNewToken adds a token: its row, its listing entry and its digest.
  // REQUIRES: no token with this key or digest exists.
  void PutNewToken(Batch& batch, const StoredToken& token) const;
  // UpdateToken replaces the row of an existing token (revocation).
  // REQUIRES: the token exists with the same digest and created_at.
  void UpdateToken(Batch& batch, const StoredToken& token) const;
  // DeleteToken deletes every record of a token (as read from storage),
  // its last-used record included.
  void DeleteToken(Batch& batch, const StoredToken& token) const;
  // ScanTokens visits the tokens of `range` in key order.
  absl::Status ScanTokens(const TokenRange& range, TokenVisitor visit) const;
  // ScanTokensNewestFirst visits one account's tokens newest first (ties by
  // slug), starting after the listing position `start_after` (a
  // TokenTimeSuffix) if it is not empty. `visit` also gets the token's
  // position, the cursor of a later page. The listing is read from a
  // snapshot and each token as it is now: a token deleted since the scan
  // began is skipped.
  absl::Status ScanTokensNewestFirst(
      std::string_view organization, std::string_view service_account,
      std::string_view start_after,
      absl::FunctionRef<absl::StatusOr<ScanControl>(const StoredToken& token,
                                                    std::string_view position)>
          visit) const;
  // FindActiveTokenName reports whether the account has a token named `name`
  // that is active at `now`.
  absl::StatusOr<bool> FindActiveTokenName(std::string_view organization,
                                           std::string_view service_account,
                                           std::string_view name,
                                           absl::Time now) const;
  // CountActiveTokens counts the organization's tokens active at `now`.
  absl::StatusOr<uint64_t> CountActiveTokens(std::string_view organization,
                                             absl::Time now) const;
  // ----- last-used times (default CF, the last_used/ range) -----

  // PutLastUsed records the last-used time of the token whose
  // storage::LastUsedKey is `last_used_key`. Writes that record only.
  void PutLastUsed(Batch& batch, uint64_t last_used_key,
                   absl::Time last_used) const;
  // ScanLastUsed visits every last-used record (a store written before
  // they existed has none).
  absl::Status ScanLastUsed(
      absl::FunctionRef<absl::StatusOr<ScanControl>(uint64_t last_used_key,
                                                    absl::Time last_used)>
          visit) const;

  // ----- change log (default CF, the changes/ range) -----

  // PutChange appends `change` at `position`; DeleteChange trims one.
  void PutChange(Batch& batch, uint64_t position,
                 const ChangeRecord& change) const;
  void DeleteChange(Batch& batch, uint64_t position) const;
  // ScanChanges visits the change records with a position greater than
  // `after`, in position order (a store written before the log existed has
  // none).
  absl::Status ScanChanges(
      uint64_t after,
      absl::FunctionRef<absl::StatusOr<ScanControl>(uint64_t position,
                                                    const ChangeRecord& change)>
          visit) const;
  // LastChangePosition returns the position of the newest change record, 0
  // if there is none. Reads keys only: a record whose value cannot be
  // decoded does not stop it (DataLoss only for a malformed key).
  absl::StatusOr<uint64_t> LastChangePosition() const;

  // ----- event outbox (default CF, the events/ range and event_cursor) --

  // PutEvent records `event` at `position` (event.position is ignored);
  // DeleteEvent trims one.
  void PutEvent(Batch& batch, uint64_t position, const Event& event) const;
  void DeleteEvent(Batch& batch, uint64_t position) const;
  // ScanEvents visits the events with a position greater than `after`, in
  // position order, with event.position set.
  absl::Status ScanEvents(
      uint64_t after,
      absl::FunctionRef<absl::StatusOr<ScanControl>(const Event& event)> visit)
      const;
  // ReadEventCursor returns the cursor record, or nullopt if none (a store
  // that never recorded an event).
  absl::StatusOr<std::optional<EventCursor>> ReadEventCursor() const;
  void PutEventCursor(Batch& batch, const EventCursor& cursor) const;

  // ----- webhook endpoints (default CF, the webhooks/ range) -----

  // ReadWebhookEndpoint returns the endpoint with organization and id filled
  // in, or nullopt if absent.
  absl::StatusOr<std::optional<StoredWebhookEndpoint>> ReadWebhookEndpoint(
      std::string_view organization, std::string_view id) const;
  // PutWebhookEndpoint creates or replaces the endpoint named by its
  // organization and id.
  void PutWebhookEndpoint(Batch& batch,
                          const StoredWebhookEndpoint& stored) const;
  void DeleteWebhookEndpoint(Batch& batch, std::string_view organization,
                             std::string_view id) const;
  // ScanWebhookEndpoints visits the organization's endpoints in id order.
  absl::Status ScanWebhookEndpoints(
      std::string_view organization,
      absl::FunctionRef<absl::StatusOr<ScanControl>(
          const StoredWebhookEndpoint&)>
          visit) const;

  // ScanAllWebhookEndpoints visits every organization's endpoints, in
  // (organization, id) key order.
  absl::Status ScanAllWebhookEndpoints(
      absl::FunctionRef<absl::StatusOr<ScanControl>(
          const StoredWebhookEndpoint&)>
          visit) const;

  // ----- webhook delivery state (default CF, the webhook_delivery/ range)

  // ReadWebhookDeliveryState returns the endpoint's delivery state, or
  // nullopt if none was written.
  absl::StatusOr<std::optional<WebhookDeliveryState>> ReadWebhookDeliveryState(
      std::string_view organization, std::string_view id) const;
  void PutWebhookDeliveryState(Batch& batch, std::string_view organization,
                               std::string_view id,
                               const WebhookDeliveryState& state) const;
  void DeleteWebhookDeliveryState(Batch& batch, std::string_view organization,
                                  std::string_view id) const;

  // ContainsDigest reports whether a token with `digest` is stored (the
  // digests CF is the unique key of tokens).
  absl::StatusOr<bool> ContainsDigest(const Digest& digest) const;

 private:
  explicit Tables(std::unique_ptr<Database> db) : db_(std::move(db)) {}

  // Scan runs Database::Scan with a visitor that may fail.
  absl::Status Scan(
      Family family, std::string_view prefix, std::string_view start_after,
      absl::FunctionRef<absl::StatusOr<ScanControl>(std::string_view key,
                                                    std::string_view value)>
          visit) const;

  std::unique_ptr<Database> db_;
};

}  // namespace keygate::storage

#endif  // KEYGATE_LIB_STORAGE_TABLES_H_

// lib/store/follower.cc: a follower's catch-up: applying the primary's
// change log (lib/storage/change_record.h) to the in-memory state.
//
// A follower reads a RocksDB secondary instance: its view of the tables is
// fixed between two CatchUpWithPrimary calls, and both the tables and the
// change log in it are as of one primary commit (a change record is in its
// batch). So applying the records after the follower's position means:
// re-read every row they name, as the view holds it now, and publish it
// (the verify index, account states, last-used); forget the tokens they
// name as deleted. A row changed again by a later record is simply read in
// its latest state, once. The active-token index is not kept: only writers
// ask it, and a follower never writes.
//
// A store of a fleet (several processes writing one PostgreSQL database,
// Options::postgres_connection) applies the other processes' records the
// same way, with two differences: its reads are always current (no view to
// catch up), so a row may already be newer than the records read so far
// (harmless: the later record re-reads it); and it is a writer, so it also
// keeps what writes check: the active-token index (re-read per account
// named, or whole after a purge or a rebuild) and the change log's
// positions (ChangeLog::Applied), and reloads the event outbox's positions.
// Before each of its writes it applies every committed record under the
// fleet write lock (SyncWithFleet), so positions stay dense and in commit
// order; between writes a WriteListener applies them as they come.
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "lib/storage/keys.h"
#include "lib/store/store_impl.h"

namespace keygate::store {

absl::Status StoreImpl::CatchUp() {
  if (!follower_ && fleet_ == nullptr) {
    ReadGuard guard(this);
    return guard.status();
  }
  absl::MutexLock write_lock(&write_mu_);
  absl::ReaderMutexLock db_lock(&db_mu_);
  if (tables_ == nullptr) return StoreClosedError();
  if (follower_) {
    if (absl::Status s = tables_->CatchUpWithPrimary(); !s.ok()) return s;
  }
  absl::Status status = ApplyChanges();
  RetireEndedGraces();
  return status;
}

absl::Status StoreImpl::SyncWithFleet() {
  if (absl::Status s = ApplyChanges(); !s.ok()) return s;
  // Another process may have appended or acknowledged events: positions
  // and the cursor as stored now (none to read unless events are kept).
  if (options_.record_events) return events_.Load(*tables_);
  return absl::OkStatus();
}

absl::Status StoreImpl::ReindexActiveTokens(
    const std::vector<std::pair<std::string, std::string>>& accounts,
    bool everything) {
  if (everything) {
    active_tokens_.Clear();
    return tables_->ScanTokens(
        storage::TokenRange::All(),
        [&](const storage::StoredToken& token) ABSL_NO_THREAD_SAFETY_ANALYSIS
        -> absl::StatusOr<storage::ScanControl> {
          active_tokens_.Add(token.metadata);
          return storage::ScanControl::kContinue;
        });
  }
  for (const auto& [organization, service_account] : accounts) {
    active_tokens_.ForgetAccount(organization, service_account);
    absl::Status status = tables_->ScanTokens(
        storage::TokenRange::OfAccount(organization, service_account),
        [&](const storage::StoredToken& token) ABSL_NO_THREAD_SAFETY_ANALYSIS
        -> absl::StatusOr<storage::ScanControl> {
          active_tokens_.Add(token.metadata);
          return storage::ScanControl::kContinue;
        });
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

void StoreImpl::StartCatchUpThread() {
  if (fleet_ != nullptr) {
    // Woken by every write of the fleet, and polling as a fallback.
    const absl::Duration poll =
        options_.follower_catch_up_interval > absl::ZeroDuration()
            ? options_.follower_catch_up_interval
            : absl::Seconds(1);
    fleet_listener_ = std::make_unique<postgres::WriteListener>(
        options_.postgres_connection, poll,
        [this] { return CatchUp().ok(); });
    return;
  }
  if (options_.follower_catch_up_interval <= absl::ZeroDuration()) return;
  // A failed catch-up leaves the follower consistent; the next one retries.
  catch_up_thread_ = std::make_unique<LastUsedFlusher>(
      options_.follower_catch_up_interval, [this] { (void)CatchUp(); });
}

void StoreImpl::FollowAccount(const ServiceAccount& account) {
  followed_accounts_[storage::AccountKey(account.organization, account.slug)] =
      account.created_at;
}

absl::Status StoreImpl::ApplyChanges() {
  bool rows_missing = false;
  for (int pass = 0; pass < kMaxApplyPasses; ++pass) {
    const uint64_t before = applied_position_;
    const bool missing_before = rows_missing;
    rows_missing = false;
    if (absl::Status s = ApplyChangesOnce(&rows_missing); !s.ok()) return s;
    // A row was gone but no later record says why (deleted outside the
    // change log): only a full scan tells what is stored.
    if (missing_before && applied_position_ == before) break;
    if (!rows_missing) {
      SetChangePosition(applied_position_);
      return absl::OkStatus();
    }
  }
  // Writes keep deleting what the records name faster than they are read,
  // or rows went missing without a record.
  if (absl::Status s = Rebuild(); !s.ok()) return s;
  SetChangePosition(applied_position_);
  return absl::OkStatus();
}

absl::Status StoreImpl::ApplyChangesOnce(bool* rows_missing) {
  if (needs_rebuild_) return Rebuild();

  // What the new records name, deduplicated.
  struct AccountName {
    std::string organization;
    std::string slug;
    bool recreated = false;  // created or deleted: a new identity
  };
  absl::flat_hash_map<std::string, AccountName> accounts;
  absl::flat_hash_set<std::string> token_keys;
  std::vector<std::pair<std::string, std::string>> token_accounts;
  std::vector<std::string> token_slugs;
  std::vector<Digest> deleted;
  // A writer (fleet) only: the accounts whose active tokens to re-read (all
  // of them after a purge, which names none), and the records' positions.
  absl::flat_hash_set<std::string> active_keys;
  std::vector<std::pair<std::string, std::string>> active_accounts;
  bool reindex_everything = false;
  bool purged = false;
  std::vector<std::pair<uint64_t, absl::Time>> applied;
  uint64_t last = applied_position_;
  bool gap = false;
  absl::Status status = tables_->ScanChanges(
      applied_position_,
      [&](uint64_t position, const storage::ChangeRecord& change)
          -> absl::StatusOr<storage::ScanControl> {
        if (position != last + 1) {
          // The records between were trimmed: too far behind to apply.
          gap = true;
          return storage::ScanControl::kStop;
        }
        last = position;
        applied.emplace_back(position, change.written_at);
        if (change.kind == storage::ChangeKind::kTokensPurged ||
            change.service_account.empty()) {
          reindex_everything = true;
        } else if (active_keys
                       .insert(storage::AccountKey(change.organization,
                                                   change.service_account))
                       .second) {
          active_accounts.emplace_back(change.organization,
                                       change.service_account);
        }
        switch (change.kind) {
          case storage::ChangeKind::kAccountCreated:
          case storage::ChangeKind::kAccountUpdated:
          case storage::ChangeKind::kAccountDeleted: {
            AccountName& name = accounts[storage::AccountKey(
                change.organization, change.service_account)];
            name.organization = change.organization;
            name.slug = change.service_account;
            if (change.kind != storage::ChangeKind::kAccountUpdated) {
              name.recreated = true;
            }
            break;
          }
          case storage::ChangeKind::kTokenCreated:
          case storage::ChangeKind::kTokenRevoked:
          case storage::ChangeKind::kTokenRotated:
            if (token_keys
                    .insert(storage::TokenKey(change.organization,
                                              change.service_account,
                                              change.token_slug))
                    .second) {
              token_accounts.emplace_back(change.organization,
                                          change.service_account);
              token_slugs.push_back(change.token_slug);
            }
            break;
          case storage::ChangeKind::kTokensPurged:
            purged = true;
            break;
        }
        deleted.insert(deleted.end(), change.deleted_digests.begin(),
                       change.deleted_digests.end());
        return storage::ScanControl::kContinue;
      });
  // A record that cannot be decoded (DataLoss: a newer primary's kind, or
  // damage) leaves unknown what changed: rebuild from the tables rather
  // than stay behind it, serving what it may have revoked, forever.
  if (status.code() == absl::StatusCode::kDataLoss) return Rebuild();
  if (!status.ok()) return status;
  if (gap) return Rebuild();
  if (last == applied_position_) return absl::OkStatus();

  // From here on a failure leaves memory half applied: rebuild next time.
  needs_rebuild_ = true;
  // Deleted tokens first (digests are never reused), then accounts (a
  // re-created one gets a fresh state before its tokens are published),
  // then tokens. A token stored now has its account stored now.
  ForgetTokens(deleted);
  for (auto& [key, name] : accounts) {
    absl::StatusOr<std::optional<ServiceAccount>> account =
        tables_->ReadAccount(name.organization, name.slug);
    if (!account.ok()) return account.status();
    // Gone with no deletion among these records: deleted by a record
    // after `last` (PostgreSQL reads live).
    if (!account->has_value() && !name.recreated) *rows_missing = true;
    if (name.recreated || !account->has_value()) {
      ForgetAccount(name.organization, name.slug);
      followed_accounts_.erase(key);
      if (account->has_value()) NewAccount(**account);
    } else {
      PublishAccount(**account);
    }
    if (account->has_value()) FollowAccount(**account);
  }
  for (size_t i = 0; i < token_slugs.size(); ++i) {
    absl::StatusOr<std::optional<storage::StoredToken>> token =
        tables_->ReadToken(token_accounts[i].first, token_accounts[i].second,
                           token_slugs[i]);
    if (!token.ok()) return token.status();
    if (!token->has_value()) {
      // Deleted since: by a purge or its account's deletion among these
      // records (then named in `deleted`), or else (PostgreSQL reads live)
      // by a record after `last`, which the next pass applies.
      const auto account = accounts.find(storage::AccountKey(
          token_accounts[i].first, token_accounts[i].second));
      const bool explained =
          purged || (account != accounts.end() && account->second.recreated);
      if (!explained) *rows_missing = true;
      continue;
    }
    if (absl::Status s = PublishToken(**token); !s.ok()) return s;
    // A rotated-out token's record names its successor, written in the
    // same batch (kTokenRotated names only the old token).
    const std::string& successor = (*token)->metadata.rotated_to;
    if (successor.empty() ||
        token_keys.contains(storage::TokenKey(token_accounts[i].first,
                                              token_accounts[i].second,
                                              successor))) {
      continue;
    }
    absl::StatusOr<std::optional<storage::StoredToken>> next =
        tables_->ReadToken(token_accounts[i].first, token_accounts[i].second,
                           successor);
    if (!next.ok()) return next.status();
    if (!next->has_value()) continue;
    if (absl::Status s = PublishToken(**next); !s.ok()) return s;
  }
  if (!follower_) {
    if (absl::Status s =
            ReindexActiveTokens(active_accounts, reindex_everything);
        !s.ok()) {
      return s;
    }
    for (const auto& [position, written_at] : applied) {
      if (absl::Status s = change_log_.Applied(position, written_at);
          !s.ok()) {
        return s;
      }
    }
  }
  applied_position_ = last;
  needs_rebuild_ = false;
  return absl::OkStatus();
}

absl::Status StoreImpl::Rebuild() {
  rebuilds_.fetch_add(1, std::memory_order_relaxed);
  needs_rebuild_ = true;
  // The position the view is at: the newest record in it (keys only: a
  // record this follower cannot decode is why it may be rebuilding).
  absl::StatusOr<uint64_t> newest = tables_->LastChangePosition();
  if (!newest.ok()) return newest.status();
  const uint64_t last = *newest;
  absl::Status status;

  // Accounts: an unchanged identity keeps its state (its tokens go on
  // verifying throughout); a new one, or a re-created one, gets a fresh
  // state; one no longer stored is forgotten.
  absl::flat_hash_set<std::string> stored_accounts;
  status = tables_->ScanEveryAccount(
      [&](const ServiceAccount& account) ABSL_NO_THREAD_SAFETY_ANALYSIS {
        std::string key =
            storage::AccountKey(account.organization, account.slug);
        auto followed = followed_accounts_.find(key);
        if (followed != followed_accounts_.end() &&
            followed->second == account.created_at && accounts_.contains(key)) {
          PublishAccount(account);
        } else {
          ForgetAccount(account.organization, account.slug);
          NewAccount(account);
        }
        FollowAccount(account);
        stored_accounts.insert(std::move(key));
        return storage::ScanControl::kContinue;
      });
  if (!status.ok()) return status;
  std::vector<std::string> gone;
  for (const auto& [key, state] : accounts_) {
    if (!stored_accounts.contains(key)) gone.push_back(key);
  }
  for (const std::string& key : gone) {
    std::string_view organization, slug;
    if (storage::DecodeAccountKey(key, &organization, &slug)) {
      ForgetAccount(std::string(organization), std::string(slug));
    }
    followed_accounts_.erase(key);
  }

  // Tokens: publish every stored one, forget every other.
  absl::flat_hash_set<Digest> stored_digests;
  status = tables_->ScanTokens(
      storage::TokenRange::All(),
      [&](const storage::StoredToken& token) ABSL_NO_THREAD_SAFETY_ANALYSIS
      -> absl::StatusOr<storage::ScanControl> {
        if (absl::Status s = PublishToken(token); !s.ok()) return s;
        stored_digests.insert(token.digest);
        return storage::ScanControl::kContinue;
      });
  if (!status.ok()) return status;
  std::vector<Digest> forgotten;
  for (const Digest& digest : index_.Digests()) {
    if (!stored_digests.contains(digest)) forgotten.push_back(digest);
  }
  for (const Digest& digest : revoked_.Digests()) {
    if (!stored_digests.contains(digest)) forgotten.push_back(digest);
  }
  ForgetTokens(forgotten);
  if (!follower_) {
    // A writer of a fleet: what its writes check, from the same tables.
    if (status = ReindexActiveTokens({}, /*everything=*/true); !status.ok()) {
      return status;
    }
    if (status = change_log_.Load(*tables_); !status.ok()) return status;
  }
  applied_position_ = last;
  needs_rebuild_ = false;
  return absl::OkStatus();
}

}  // namespace keygate::store

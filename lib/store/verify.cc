// lib/store/verify.cc: Verify, and the upkeep of the verify index it reads.
//
// Writers change the index only after their batch is durable and before
// they return, under write_mu_; Verify reads it without any store lock.
#include <optional>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/types/optional.h"
#include "keygate/errors.h"
#include "lib/errors/payloads.h"
#include "lib/index/grace_period.h"
#include "lib/index/grant_group.h"
#include "lib/storage/keys.h"
#include "lib/store/store_impl.h"

namespace keygate::store {
namespace {

// ThreadFailureStatuses are the calling thread's own copies of the
// prebuilt verify-failure statuses. Copies of an absl::Status share one
// reference-counted rep, so returning the process-wide prebuilt status would
// make every failed verify two atomic read-modify-writes on one cache line
// that every verifying thread shares; a rep per thread keeps them on the
// thread's own line. Made (allocating) on the thread's first failure.
class ThreadFailureStatuses {
 public:
  ThreadFailureStatuses() {
    for (VerifyFailure failure :
         {VerifyFailure::kMalformed, VerifyFailure::kUnknown,
          VerifyFailure::kRevoked, VerifyFailure::kExpired,
          VerifyFailure::kAccountDisabled, VerifyFailure::kFleetLeaseLapsed}) {
      absl::Status& status = statuses_[static_cast<int>(failure)];
      status = internal::VerifyError(failure);
      // Rewriting the payload unshares the rep (copy-on-write).
      absl::optional<absl::Cord> payload =
          status.GetPayload(internal::kVerifyFailureTypeUrl);
      if (payload.has_value()) {
        status.SetPayload(internal::kVerifyFailureTypeUrl, *payload);
      }
    }
  }

  // Get returns the status of `failure`. REQUIRES: a failure Verify
  // returns prebuilt (not kNone, not kInsufficientScope).
  const absl::Status& Get(VerifyFailure failure) const {
    return statuses_[static_cast<int>(failure)];
  }

 private:
  absl::Status statuses_[static_cast<int>(VerifyFailure::kFleetLeaseLapsed) + 1];
};

const absl::Status& Failure(VerifyFailure failure) {
  thread_local const ThreadFailureStatuses statuses;
  return statuses.Get(failure);
}

// GraceEndsFirst reports whether a token stops verifying at its rotation
// grace end rather than at its own expiry (the index's rotated flag).
bool GraceEndsFirst(const TokenMetadata& m) {
  return m.grace_ends_at && (!m.expires_at || *m.grace_ends_at < *m.expires_at);
}

// VerifiesAsRevoked reports whether `m` fails as revoked from `now` on:
// revoked, or rotated out with its grace (ending before its own expiry)
// over. Such a token belongs in the revoked set, not the verify index.
bool VerifiesAsRevoked(const TokenMetadata& m, absl::Time now) {
  return m.revoked_at.has_value() ||
         (GraceEndsFirst(m) && *m.grace_ends_at <= now);
}

}  // namespace

absl::StatusOr<Principal> StoreImpl::Verify(
    std::string_view token, std::string_view required_scope) const {
  std::optional<scope::RequiredScope> required;
  if (!required_scope.empty()) {
    required = catalog_->Parse(required_scope);
    if (!required) {
      return ValidationError(
          {{"scope", "not a valid scope", SafeValue(required_scope)}});
    }
  }
  if (closed_.load(std::memory_order_acquire)) return StoreClosedError();
  const int pepper_id = codec_.ParsePepperId(token);
  if (pepper_id == 0) return Failure(VerifyFailure::kMalformed);
  Digest digest;
  if (!digester_->Compute(pepper_id, token, &digest)) {
    return Failure(VerifyFailure::kUnknown);
  }
  // One read section for every lock-free read below: the ones the index
  // and the last-used table open nest in it for free (no fence each).
  // Nothing below waits for a writer (Clock::Now must not write a store).
  index::GracePeriod::ReadSection section;
  // At 1M tokens the last-used slot and the index's home slot are cache
  // misses whose addresses need only the digest: start both now, so they
  // overlap each other and the record's miss in Find instead of following
  // one another. Hints only: they read no token state.
  last_used_.Prefetch(digest);
  index_.Prefetch(digest);
  // A copy out of the index: no lock, no reference count, no allocation.
  index::TokenEntry entry;
  if (!index_.Find(digest, &entry)) {
    // Revoked tokens are not in index_: every miss, revoked or unknown,
    // does this same constant-work probe, and the answer only selects which
    // prebuilt status to return (no branch on it).
    const int revoked = revoked_.Contains(digest) ? 1 : 0;
    return Failure(static_cast<VerifyFailure>(
        static_cast<int>(VerifyFailure::kUnknown) +
        revoked * (static_cast<int>(VerifyFailure::kRevoked) -
                   static_cast<int>(VerifyFailure::kUnknown))));
  }
  // A process of a fleet answers only while it holds its lease: it has
  // heard from the database within the lease and applied what it heard
  // (docs/fleet-revocation.md). One coarse clock read and one atomic load.
  if (lease_ != nullptr && !lease_->LeaseHeld()) {
    return Failure(VerifyFailure::kFleetLeaseLapsed);
  }
  const internal::GrantGroup& group = *entry.group;
  if (group.account->deleted.load(std::memory_order_acquire)) {
    return Failure(VerifyFailure::kUnknown);
  }
  if (group.account->disabled.load(std::memory_order_acquire)) {
    return Failure(VerifyFailure::kAccountDisabled);
  }
  if (entry.expires_at && *entry.expires_at <= Now()) {
    // Past a rotation's grace the token counts as revoked (same 401 to the
    // outside; VerifyFailureOf tells the reason).
    return Failure(entry.rotated ? VerifyFailure::kRevoked
                                 : VerifyFailure::kExpired);
  }
  if (required && !catalog_->Grants(group.scope_mask, *required)) {
    return internal::VerifyError(VerifyFailure::kInsufficientScope,
                                 required_scope);
  }
  last_used_.Touch(digest, clock_->Now());  // lock-free, usually a read
  return internal::PrincipalFactory::Make(entry);
}

absl::Status StoreImpl::PublishToken(const storage::StoredToken& token) {
  const TokenMetadata& m = token.metadata;
  last_used_.Add(token.digest);  // a new token; no effect on a revoked one
  return IndexToken(token,
                    AccountStateFor(m.organization, m.service_account));
}

void StoreImpl::ForgetTokens(const std::vector<Digest>& digests) {
  index_.Erase(digests);
  revoked_.Erase(digests);
  last_used_.Erase(digests);
}

void StoreImpl::PublishAccount(const ServiceAccount& account) {
  AccountStateFor(account.organization, account.slug)
      ->disabled.store(account.disabled, std::memory_order_release);
}

void StoreImpl::NewAccount(const ServiceAccount& account) {
  auto state = std::make_shared<index::AccountState>();
  state->disabled.store(account.disabled, std::memory_order_relaxed);
  accounts_[storage::AccountKey(account.organization, account.slug)] =
      std::move(state);
}

void StoreImpl::ForgetAccount(std::string_view organization,
                              std::string_view slug) {
  auto it = accounts_.find(storage::AccountKey(organization, slug));
  if (it == accounts_.end()) return;
  it->second->deleted.store(true, std::memory_order_release);
  accounts_.erase(it);
}

absl::Status StoreImpl::LoadToken(const storage::StoredToken& token,
                                  LoadedGroup& last) {
  const TokenMetadata& m = token.metadata;
  if (!last.valid || last.organization != m.organization ||
      last.service_account != m.service_account || last.scopes != m.scopes) {
    auto it =
        accounts_.find(storage::AccountKey(m.organization, m.service_account));
    std::shared_ptr<index::AccountState> state;
    if (it == accounts_.end()) {
      // A token without its account cannot verify.
      state = std::make_shared<index::AccountState>();
      state->deleted.store(true);
    } else {
      state = it->second;
    }
    last.number = index_.InternGroup(m.organization, m.service_account,
                                     m.scopes, catalog_.get(),
                                     std::move(state));
    last.organization = m.organization;
    last.service_account = m.service_account;
    last.scopes = m.scopes;
    last.valid = true;
  }
  last_used_.Add(token.digest);
  if (VerifiesAsRevoked(m, Now())) {
    revoked_.Insert(token.digest);
    return absl::OkStatus();
  }
  if (GraceEndsFirst(m)) grace_ends_.emplace(*m.grace_ends_at, token.digest);
  return index_.Put(token.digest, last.number, /*revoked=*/false,
                    m.effective_expiry(), m.slug, GraceEndsFirst(m));
}

std::shared_ptr<index::AccountState> StoreImpl::AccountStateFor(
    std::string_view organization, std::string_view slug) {
  auto [it, inserted] =
      accounts_.try_emplace(storage::AccountKey(organization, slug));
  if (inserted) it->second = std::make_shared<index::AccountState>();
  return it->second;
}

absl::Status StoreImpl::IndexToken(
    const storage::StoredToken& token,
    std::shared_ptr<index::AccountState> account) {
  const TokenMetadata& m = token.metadata;
  if (VerifiesAsRevoked(m, Now())) {
    // Into the revoked set first: no Verify in between answers kUnknown
    // for a token that was stored all along.
    revoked_.Insert(token.digest);
    index_.Erase(token.digest);  // no effect (no wait) if absent
    return absl::OkStatus();
  }
  const uint32_t group =
      index_.InternGroup(m.organization, m.service_account, m.scopes,
                         catalog_.get(), std::move(account));
  // Not in revoked_: storage never un-revokes a token.
  if (GraceEndsFirst(m)) grace_ends_.emplace(*m.grace_ends_at, token.digest);
  return index_.Put(token.digest, group, /*revoked=*/false,
                    m.effective_expiry(), m.slug, GraceEndsFirst(m));
}

void StoreImpl::RetireEndedGraces() {
  const absl::Time now = Now();
  std::vector<Digest> ended;
  while (!grace_ends_.empty() && grace_ends_.begin()->first <= now) {
    const Digest digest = grace_ends_.begin()->second;
    grace_ends_.erase(grace_ends_.begin());
    // Not in the index: revoked, purged or deleted since.
    if (index_.Contains(digest)) ended.push_back(digest);
  }
  if (ended.empty()) return;
  // Into the set first: a Verify in between finds the token in one of the
  // two (and fails it as revoked in both).
  for (const Digest& digest : ended) revoked_.Insert(digest);
  index_.Erase(ended);
}

}  // namespace keygate::store

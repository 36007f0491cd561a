// lib/store/verify.cc: Verify, and the upkeep of the verify index it reads.
//
// Writers change the index only after their batch is durable and before
// they return, under write_mu_; Verify reads it without any store lock.
#include <optional>
#include <utility>

#include "keygate/errors.h"
#include "lib/errors/payloads.h"
#include "lib/index/grant_group.h"
#include "lib/storage/keys.h"
#include "lib/store/store_impl.h"

namespace keygate::store {

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
  if (pepper_id == 0) return internal::VerifyError(VerifyFailure::kMalformed);
  Digest digest;
  if (!digester_->Compute(pepper_id, token, &digest)) {
    return internal::VerifyError(VerifyFailure::kUnknown);
  }
  // A copy out of the index: no lock, no reference count, no allocation.
  index::TokenEntry entry;
  if (!index_.Find(digest, &entry)) {
    return internal::VerifyError(VerifyFailure::kUnknown);
  }
  if (entry.revoked) return internal::VerifyError(VerifyFailure::kRevoked);
  const internal::GrantGroup& group = *entry.group;
  if (group.account->deleted.load(std::memory_order_acquire)) {
    return internal::VerifyError(VerifyFailure::kUnknown);
  }
  if (group.account->disabled.load(std::memory_order_acquire)) {
    return internal::VerifyError(VerifyFailure::kAccountDisabled);
  }
  if (entry.expires_at && *entry.expires_at <= Now()) {
    return internal::VerifyError(VerifyFailure::kExpired);
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

absl::Status StoreImpl::LoadToken(const storage::StoredToken& token) {
  const TokenMetadata& m = token.metadata;
  auto it = accounts_.find(storage::AccountKey(m.organization, m.service_account));
  std::shared_ptr<index::AccountState> state;
  if (it == accounts_.end()) {
    // A token without its account cannot verify.
    state = std::make_shared<index::AccountState>();
    state->deleted.store(true);
  } else {
    state = it->second;
  }
  last_used_.Add(token.digest);
  return IndexToken(token, std::move(state));
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
  const uint32_t group =
      index_.InternGroup(m.organization, m.service_account, m.scopes,
                         catalog_.get(), std::move(account));
  return index_.Put(token.digest, group, m.revoked_at.has_value(),
                    m.expires_at, m.slug);
}

}  // namespace keygate::store

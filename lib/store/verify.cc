// lib/store/verify.cc: Verify, and the upkeep of the verify index it reads.
//
// Writers change the index only after their batch is durable and before
// they return, under write_mu_; Verify reads it without any store lock.
#include <optional>
#include <utility>

#include "keygate/errors.h"
#include "lib/errors/payloads.h"
#include "lib/index/token_grant.h"
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
  index::GrantPtr grant = index_.Find(digest);
  if (grant == nullptr) return internal::VerifyError(VerifyFailure::kUnknown);
  if (grant->revoked) return internal::VerifyError(VerifyFailure::kRevoked);
  if (grant->account->deleted.load(std::memory_order_acquire)) {
    return internal::VerifyError(VerifyFailure::kUnknown);
  }
  if (grant->account->disabled.load(std::memory_order_acquire)) {
    return internal::VerifyError(VerifyFailure::kAccountDisabled);
  }
  if (grant->expires_at && *grant->expires_at <= Now()) {
    return internal::VerifyError(VerifyFailure::kExpired);
  }
  if (required && !catalog_->Grants(grant->scope_mask, *required)) {
    return internal::VerifyError(VerifyFailure::kInsufficientScope,
                                 required_scope);
  }
  return internal::PrincipalFactory::Make(std::move(grant));
}

void StoreImpl::PublishToken(const storage::StoredToken& token) {
  const TokenMetadata& m = token.metadata;
  index_.Put(token.digest,
             MakeGrant(m, AccountStateFor(m.organization, m.service_account)));
}

void StoreImpl::ForgetTokens(const std::vector<Digest>& digests) {
  for (const Digest& digest : digests) index_.Erase(digest);
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

void StoreImpl::LoadToken(const storage::StoredToken& token) {
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
  index_.Put(token.digest, MakeGrant(m, std::move(state)));
}

std::shared_ptr<index::AccountState> StoreImpl::AccountStateFor(
    std::string_view organization, std::string_view slug) {
  auto [it, inserted] =
      accounts_.try_emplace(storage::AccountKey(organization, slug));
  if (inserted) it->second = std::make_shared<index::AccountState>();
  return it->second;
}

index::GrantPtr StoreImpl::MakeGrant(
    const TokenMetadata& metadata,
    std::shared_ptr<index::AccountState> account) const {
  auto grant = std::make_shared<internal::TokenGrant>();
  grant->organization = metadata.organization;
  grant->service_account = metadata.service_account;
  grant->token_slug = metadata.slug;
  grant->scopes = metadata.scopes;
  grant->scope_mask = catalog_->Compile(metadata.scopes);
  grant->catalog = catalog_;
  grant->expires_at = metadata.expires_at;
  grant->revoked = metadata.revoked_at.has_value();
  grant->account = std::move(account);
  return grant;
}

}  // namespace keygate::store

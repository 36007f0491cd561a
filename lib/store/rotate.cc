// lib/store/rotate.cc: rotating a token (Store::RotateToken): a successor
// with the old token's name and scopes, and a grace for the old token.
//
// One atomic batch writes the old record (rotated_to, grace_ends_at) and the
// successor (with its digest record); after it commits, the name and quota
// index moves the name to the successor, and the verify index gets the
// successor and the old token's effective expiry (the earlier of its expiry
// and its grace end, flagged so a verify past it reads as a revocation).
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "keygate/errors.h"
#include "lib/store/new_token.h"
#include "lib/store/slugs.h"
#include "lib/store/store_impl.h"
#include "lib/store/validation.h"

namespace keygate::store {

absl::StatusOr<CreatedToken> StoreImpl::RotateToken(
    std::string_view organization, std::string_view service_account,
    std::string_view token_slug, absl::Duration grace, std::string_view actor,
    absl::FunctionRef<absl::Status(const TokenSpec& successor)> authorize) {
  std::vector<FieldError> errors;
  CheckIdentity("organization", organization, errors);
  CheckSlug("serviceAccountSlug", service_account, errors);
  CheckSlug("tokenSlug", token_slug, errors);
  CheckIdentity("actor", actor, errors);
  if (grace < absl::ZeroDuration()) {
    errors.push_back({"gracePeriod", "must not be negative",
                      absl::FormatDuration(grace)});
  } else if (grace > kMaxRotationGrace) {
    errors.push_back({"gracePeriod", "must be at most 30 days (720h)",
                      absl::FormatDuration(grace)});
  }
  if (!errors.empty()) return ValidationError(std::move(errors));

  WriteGuard guard(this);
  if (!guard.status().ok()) return guard.status();
  const absl::Time now = Now();
  absl::StatusOr<ServiceAccount> account =
      ReadAccount(organization, service_account);
  if (!account.ok()) return account.status();
  absl::StatusOr<std::optional<storage::StoredToken>> token =
      tables_->ReadToken(organization, service_account, token_slug);
  if (!token.ok()) return token.status();
  // Unknown, another organization's, revoked, or already rotated (in its
  // grace or past it): one answer, as for RevokeToken.
  if (!token->has_value() || (*token)->metadata.revoked() ||
      (*token)->metadata.rotated_out()) {
    return TokenNotFoundError();
  }
  storage::StoredToken& old = **token;
  if (old.metadata.expires_at && *old.metadata.expires_at <= now) {
    return absl::FailedPreconditionError(
        "the token has expired; create a new token instead of rotating it");
  }
  if (account->disabled) {
    return absl::FailedPreconditionError(
        "the service account is disabled; enable it before rotating tokens");
  }

  // The successor: same name and scopes, a fresh slug, the old lifetime
  // from now.
  TokenSpec successor;
  successor.name = old.metadata.name;
  successor.scopes = old.metadata.scopes;
  if (old.metadata.expires_at) {
    successor.expires_at = StoredTime(
        now + (*old.metadata.expires_at - old.metadata.created_at));
  }
  const storage::Tables& tables = *tables_;
  absl::StatusOr<std::string> slug = ChooseTokenSlug(
      successor.name, std::nullopt,
      [&](std::string_view candidate) -> absl::StatusOr<bool> {
        absl::StatusOr<std::optional<storage::StoredToken>> existing =
            tables.ReadToken(organization, service_account, candidate);
        if (!existing.ok()) return existing.status();
        return existing->has_value();
      });
  if (!slug.ok()) return slug.status();
  successor.slug = *slug;
  if (absl::Status allowed = authorize(successor); !allowed.ok()) {
    return allowed;
  }

  // The old token is replaced, not added to: allowed up to the quota
  // counting it, never past one over (it counts until its grace ends).
  if (options_.max_active_tokens_per_organization > 0 &&
      active_tokens_.CountActive(organization, now) >
          options_.max_active_tokens_per_organization) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the organization is over its quota of ",
        options_.max_active_tokens_per_organization,
        " active tokens while an earlier rotation's grace lasts"));
  }
  // The successor, and a second record while the old token's entry is
  // replaced (lib/index/verify_index.h).
  if (!index_.HasRoomFor(2)) {
    return absl::ResourceExhaustedError(
        "the store holds the most tokens its verify index can address");
  }

  CreatedToken created;
  storage::StoredToken next;
  if (absl::Status s = NewTokenValue(created, next); !s.ok()) return s;
  TokenMetadata& m = next.metadata;
  FillNewToken(organization, service_account, *std::move(slug), successor,
               now, actor, m);
  m.rotated_from = old.metadata.slug;

  const TokenMetadata before = old.metadata;
  old.metadata.rotated_to = m.slug;
  old.metadata.grace_ends_at = StoredTime(now + grace);

  storage::Batch batch;
  tables_->UpdateToken(batch, old);
  tables_->PutNewToken(batch, next);
  storage::ChangeRecord change;
  change.kind = storage::ChangeKind::kTokenRotated;
  change.organization = old.metadata.organization;
  change.service_account = old.metadata.service_account;
  change.token_slug = old.metadata.slug;
  // token.rotated (the old token), then token.created (the successor).
  if (absl::Status s =
          Commit(batch, std::move(change),
                 {TokenEvent(EventType::kTokenRotated, old.metadata, actor),
                  TokenEvent(EventType::kTokenCreated, m, actor)});
      !s.ok()) {
    return s;
  }
  guard.AwaitFleetOnRelease();
  active_tokens_.Remove(before);
  active_tokens_.Add(old.metadata);
  active_tokens_.Add(m);
  if (absl::Status s = PublishToken(next); !s.ok()) return s;
  if (absl::Status s = PublishToken(old); !s.ok()) return s;
  created.metadata = std::move(m);
  return created;
}

}  // namespace keygate::store

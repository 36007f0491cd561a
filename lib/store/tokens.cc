// lib/store/tokens.cc: creating, listing, revoking and purging tokens.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "keygate/errors.h"
#include "lib/store/cursor.h"
#include "lib/store/new_token.h"
#include "lib/store/slugs.h"
#include "lib/store/store_impl.h"
#include "lib/store/validation.h"

namespace keygate::store {

namespace {

constexpr size_t kMaxScopesPerToken = 64;
// Expiries further out than this are a caller bug, not a policy.
constexpr absl::Duration kMaxTokenLifetime = absl::Hours(24 * 366 * 100);
// A token listing position is be64(~created micros) + slug.
constexpr size_t kTimePositionSize = 8;
// PurgeRetired commits its deletions in batches of at most this many tokens.
constexpr size_t kPurgeChunkTokens = 1000;

// CheckScopes validates a token's requested scopes; appends to errors.
void CheckScopes(const scope::ScopeCatalog& catalog,
                 const std::vector<std::string>& scopes,
                 std::vector<FieldError>& errors) {
  if (scopes.empty()) {
    errors.push_back({"scopes", "at least one scope is required", ""});
    return;
  }
  if (scopes.size() > kMaxScopesPerToken) {
    errors.push_back({"scopes",
                      absl::StrCat("at most ", kMaxScopesPerToken,
                                   " scopes are allowed"),
                      ""});
    return;
  }
  for (size_t i = 0; i < scopes.size(); ++i) {
    if (!catalog.Parse(scopes[i])) {
      errors.push_back(
          {absl::StrCat("scopes[", i, "]"),
           absl::StrCat("unknown scope: expected read:<module>, "
                        "write:<module>, delete:<module>, read:* or "
                        "write:*, with <module> one of ",
                        absl::StrJoin(catalog.modules(), ", ")),
           SafeValue(scopes[i])});
    }
  }
}

// CheckExpiry validates a requested expiry (already at stored precision)
// against `now`; appends to errors.
void CheckExpiry(absl::Time requested, absl::Time expires_at, absl::Time now,
                 std::vector<FieldError>& errors) {
  if (expires_at <= now) {
    errors.push_back({"expiresAt", "must be in the future",
                      absl::FormatTime(absl::RFC3339_sec, requested,
                                       absl::UTCTimeZone())});
  } else if (expires_at - now > kMaxTokenLifetime) {
    errors.push_back({"expiresAt", "must be within 100 years",
                      absl::FormatTime(absl::RFC3339_sec, requested,
                                       absl::UTCTimeZone())});
  }
}

// TokenChange is the change record of a write to one token.
storage::ChangeRecord TokenChange(storage::ChangeKind kind,
                                  const TokenMetadata& m) {
  storage::ChangeRecord change;
  change.kind = kind;
  change.organization = m.organization;
  change.service_account = m.service_account;
  change.token_slug = m.slug;
  return change;
}

}  // namespace

absl::StatusOr<CreatedToken> StoreImpl::CreateToken(
    std::string_view organization, std::string_view service_account,
    const TokenSpec& spec, std::string_view actor) {
  std::vector<FieldError> errors;
  CheckIdentity("organization", organization, errors);
  CheckSlug("serviceAccountSlug", service_account, errors);
  CheckIdentity("actor", actor, errors);
  CheckName("name", spec.name, errors);
  if (spec.slug) CheckSlug("slug", *spec.slug, errors);
  CheckScopes(*catalog_, spec.scopes, errors);
  const absl::Time now = Now();
  std::optional<absl::Time> expires_at;
  if (spec.expires_at) {
    expires_at = StoredTime(*spec.expires_at);
    CheckExpiry(*spec.expires_at, *expires_at, now, errors);
  }
  if (!errors.empty()) return ValidationError(std::move(errors));

  WriteGuard guard(this);
  if (!guard.status().ok()) return guard.status();
  absl::StatusOr<ServiceAccount> account =
      ReadAccount(organization, service_account);
  if (!account.ok()) return account.status();
  if (account->disabled) {
    return absl::FailedPreconditionError(
        "the service account is disabled; enable it before creating tokens");
  }

  // The name is unique among the account's active tokens; the quota counts
  // the organization's. Both from active_tokens_, not scans.
  if (active_tokens_.NameTaken(organization, service_account, spec.name,
                               now)) {
    return ConflictError({"name",
                          "an active token with this name already exists",
                          SafeValue(spec.name)});
  }
  const storage::Tables& tables = *tables_;
  absl::StatusOr<std::string> slug = ChooseTokenSlug(
      spec.name, spec.slug,
      [&](std::string_view candidate) -> absl::StatusOr<bool> {
        absl::StatusOr<std::optional<storage::StoredToken>> existing =
            tables.ReadToken(organization, service_account, candidate);
        if (!existing.ok()) return existing.status();
        return existing->has_value();
      });
  if (!slug.ok()) return slug.status();

  if (options_.max_active_tokens_per_organization > 0 &&
      active_tokens_.CountActive(organization, now) >=
          options_.max_active_tokens_per_organization) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the organization has reached its quota of ",
        options_.max_active_tokens_per_organization, " active tokens"));
  }

  CreatedToken created;
  storage::StoredToken stored;
  if (absl::Status s = NewTokenValue(created, stored); !s.ok()) return s;
  TokenMetadata& m = stored.metadata;
  FillNewToken(organization, service_account, *std::move(slug), spec, now,
               actor, m);

  // The verify index is bounded; refuse before writing rather than store a
  // token that could not verify. Writers are serialized, so the room stays.
  if (!index_.HasRoomFor(1)) {
    return absl::ResourceExhaustedError(
        "the store holds the most tokens its verify index can address");
  }
  storage::Batch batch;
  tables_->PutNewToken(batch, stored);
  if (absl::Status s =
          Commit(batch, TokenChange(storage::ChangeKind::kTokenCreated, m),
                 {TokenEvent(EventType::kTokenCreated, m, actor)});
      !s.ok()) {
    return s;
  }
  active_tokens_.Add(m);
  if (absl::Status s = PublishToken(stored); !s.ok()) return s;
  created.metadata = std::move(m);
  return created;
}

absl::Status StoreImpl::NewTokenValue(CreatedToken& created,
                                      storage::StoredToken& stored) const {
  const int pepper_id = digester_->active_id();
  for (int attempt = 0;; ++attempt) {
    created.value = codec_.Generate(pepper_id);
    if (created.value.empty() ||
        !digester_->Compute(pepper_id, created.value.view(), &stored.digest)) {
      return absl::InternalError("could not generate a token");
    }
    // 256 random bits never collide in practice; the digest is the unique
    // key of tokens all the same (the digests table), so check rather than
    // assume.
    absl::StatusOr<bool> collision = tables_->ContainsDigest(stored.digest);
    if (!collision.ok()) return collision.status();
    if (!*collision) break;
    if (attempt == 3) return absl::InternalError("token digest collision");
  }
  stored.metadata.pepper_id = pepper_id;
  return absl::OkStatus();
}

absl::StatusOr<Page<TokenMetadata>> StoreImpl::ListTokens(
    std::string_view organization, std::string_view service_account,
    const PageRequest& page) {
  std::vector<FieldError> errors;
  CheckIdentity("organization", organization, errors);
  CheckSlug("serviceAccountSlug", service_account, errors);
  CheckPage(page, errors);
  std::string start_after;
  if (!page.cursor.empty()) {
    std::optional<std::string> position =
        DecodeCursor(CursorKind::kTokens, page.cursor);
    if (!position || position->size() <= kTimePositionSize ||
        !IsValidSlug(std::string_view(*position).substr(kTimePositionSize))) {
      errors.push_back({"cursor", "is not a cursor of this list",
                        SafeValue(page.cursor)});
    } else {
      start_after = *std::move(position);
    }
  }
  if (!errors.empty()) return ValidationError(std::move(errors));

  // Without write_mu_: a token purged or deleted with its account while
  // this lists is simply left out.
  ReadGuard guard(this);
  if (!guard.status().ok()) return guard.status();
  absl::StatusOr<ServiceAccount> account =
      ReadAccount(organization, service_account);
  if (!account.ok()) return account.status();

  const absl::Time now = Now();
  Page<TokenMetadata> result;
  std::string last_position;
  bool more = false;
  absl::Status status = tables_->ScanTokensNewestFirst(
      organization, service_account, start_after,
      [&](const storage::StoredToken& token, std::string_view position) {
        if (result.items.size() == page.limit) {
          more = true;
          return storage::ScanControl::kStop;
        }
        result.items.push_back(token.metadata);
        TokenMetadata& listed = result.items.back();
        listed.last_used_at = last_used_.Get(token.digest);
        // Past its grace a rotated-out token counts as revoked.
        if (!listed.revoked_at && listed.grace_ends_at &&
            *listed.grace_ends_at <= now) {
          listed.revoked_at = listed.grace_ends_at;
          listed.revoked_by = kRevokedByRotation;
        }
        last_position = std::string(position);
        return storage::ScanControl::kContinue;
      });
  if (!status.ok()) return status;
  if (more) result.next_cursor = EncodeCursor(CursorKind::kTokens, last_position);
  return result;
}

absl::Status StoreImpl::RevokeToken(std::string_view organization,
                                    std::string_view service_account,
                                    std::string_view token_slug,
                                    std::string_view actor) {
  std::vector<FieldError> errors;
  CheckIdentity("organization", organization, errors);
  CheckSlug("serviceAccountSlug", service_account, errors);
  CheckSlug("tokenSlug", token_slug, errors);
  CheckIdentity("actor", actor, errors);
  if (!errors.empty()) return ValidationError(std::move(errors));

  WriteGuard guard(this);
  if (!guard.status().ok()) return guard.status();
  absl::StatusOr<std::optional<storage::StoredToken>> token =
      tables_->ReadToken(organization, service_account, token_slug);
  if (!token.ok()) return token.status();
  // Unknown, another organization's, already revoked, or rotated out and
  // past its grace (which counts as revoked): one answer.
  const absl::Time now = Now();
  if (!token->has_value()) return TokenNotFoundError();
  if ((*token)->metadata.revoked() ||
      ((*token)->metadata.grace_ends_at &&
       *(*token)->metadata.grace_ends_at <= now)) {
    // Revoked already, perhaps by a call still waiting for the fleet (or
    // whose answer was lost): "no live token" only once the fleet agrees.
    guard.AwaitFleetOnRelease();
    return TokenNotFoundError();
  }
  storage::StoredToken& stored = **token;
  const TokenMetadata unrevoked = stored.metadata;
  stored.metadata.revoked_at = now;
  stored.metadata.revoked_by = std::string(actor);

  storage::Batch batch;
  tables_->UpdateToken(batch, stored);
  std::vector<Event> events = {
      TokenEvent(EventType::kTokenRevoked, stored.metadata, actor)};
  if (actor == kRevokedByLeak) {
    events.push_back(TokenEvent(EventType::kTokenLeaked, stored.metadata, actor));
  }
  if (absl::Status s = Commit(
          batch, TokenChange(storage::ChangeKind::kTokenRevoked, unrevoked),
          std::move(events));
      !s.ok()) {
    return s;
  }
  guard.AwaitFleetOnRelease();
  active_tokens_.Remove(unrevoked);
  // Updates the present entry in place: cannot fail.
  return PublishToken(stored);
}

absl::StatusOr<PurgeResult> StoreImpl::PurgeRetired() {
  WriteGuard guard(this);
  if (!guard.status().ok()) return guard.status();
  // Strict, as Store::PurgeRetired states: a token retired exactly
  // `retention` ago is kept; one retired a microsecond earlier goes.
  const absl::Time cutoff = Now() - options_.retention;

  // Chunks of at most kPurgeChunkTokens tokens, each one atomic batch
  // followed by its index updates: a crash or an error between chunks
  // leaves the earlier chunks purged and every token whole. The scan goes
  // on over the deletions (a RocksDB iterator keeps its own view).
  PurgeResult result;
  storage::Batch batch;
  std::vector<Digest> digests;
  std::vector<TokenMetadata> unrevoked;
  std::vector<Event> events;
  const storage::Tables& tables = *tables_;
  absl::Status status = tables.ScanTokens(
      storage::TokenRange::All(),
      [&](const storage::StoredToken& token) ABSL_NO_THREAD_SAFETY_ANALYSIS
      -> absl::StatusOr<storage::ScanControl> {
        const TokenMetadata& m = token.metadata;
        // Retired at its revocation, else at its expiry or rotation grace
        // end, whichever came first.
        const std::optional<absl::Time> ends = m.effective_expiry();
        const bool retired = (m.revoked_at && *m.revoked_at < cutoff) ||
                             (!m.revoked_at && ends && *ends < cutoff);
        if (!retired) return storage::ScanControl::kContinue;
        tables.DeleteToken(batch, token);
        digests.push_back(token.digest);
        if (!m.revoked()) unrevoked.push_back(m);
        if (options_.record_events) {
          events.push_back(
              TokenEvent(EventType::kTokenPurged, m, kPurgeEventActor));
        }
        if (digests.size() == kPurgeChunkTokens) {
          result.tokens_purged += digests.size();
          if (absl::Status s = PurgeChunk(batch, digests, unrevoked, events);
              !s.ok()) {
            return s;
          }
        }
        return storage::ScanControl::kContinue;
      });
  if (!status.ok()) return status;
  result.tokens_purged += digests.size();
  if (absl::Status s = PurgeChunk(batch, digests, unrevoked, events);
      !s.ok()) {
    return s;
  }
  return result;
}

absl::Status StoreImpl::PurgeChunk(storage::Batch& batch,
                                   std::vector<Digest>& digests,
                                   std::vector<TokenMetadata>& unrevoked,
                                   std::vector<Event>& events) {
  if (digests.empty()) return absl::OkStatus();
  storage::ChangeRecord change;
  change.kind = storage::ChangeKind::kTokensPurged;
  change.deleted_digests = digests;
  if (absl::Status s = Commit(batch, std::move(change), std::move(events));
      !s.ok()) {
    return s;
  }
  ForgetTokens(digests);
  for (const TokenMetadata& m : unrevoked) active_tokens_.Remove(m);
  batch = storage::Batch();
  digests.clear();
  unrevoked.clear();
  events.clear();
  return absl::OkStatus();
}

absl::Status StoreImpl::DeleteTokens(
    const storage::TokenRange& range,
    absl::FunctionRef<bool(const TokenMetadata&)> select,
    storage::Batch& batch, std::vector<Digest>& digests) const {
  const storage::Tables& tables = *tables_;
  return tables.ScanTokens(range, [&](const storage::StoredToken& token) {
    if (select(token.metadata)) {
      tables.DeleteToken(batch, token);
      digests.push_back(token.digest);
    }
    return storage::ScanControl::kContinue;
  });
}

}  // namespace keygate::store

// lib/store/accounts.cc: the service-account calls of the store.
#include <string>
#include <utility>
#include <vector>

#include "keygate/errors.h"
#include "lib/store/cursor.h"
#include "lib/store/slugs.h"
#include "lib/store/store_impl.h"
#include "lib/store/validation.h"

namespace keygate::store {

namespace {

// AccountChange is the change record of a write to one account.
storage::ChangeRecord AccountChange(storage::ChangeKind kind,
                                    std::string_view organization,
                                    std::string_view slug) {
  storage::ChangeRecord change;
  change.kind = kind;
  change.organization = std::string(organization);
  change.service_account = std::string(slug);
  return change;
}

}  // namespace

absl::StatusOr<ServiceAccount> StoreImpl::CreateServiceAccount(
    std::string_view organization, const ServiceAccountSpec& spec,
    std::string_view actor) {
  std::vector<FieldError> errors;
  CheckIdentity("organization", organization, errors);
  CheckIdentity("actor", actor, errors);
  CheckName("name", spec.name, errors);
  if (spec.slug) CheckSlug("slug", *spec.slug, errors);
  if (!errors.empty()) return ValidationError(std::move(errors));

  WriteGuard guard(this);
  if (!guard.status().ok()) return guard.status();
  const storage::Tables& tables = *tables_;
  absl::StatusOr<std::string> slug = ChooseAccountSlug(
      spec.name, spec.slug,
      [&](std::string_view candidate) -> absl::StatusOr<bool> {
        absl::StatusOr<std::optional<ServiceAccount>> existing =
            tables.ReadAccount(organization, candidate);
        if (!existing.ok()) return existing.status();
        return existing->has_value();
      });
  if (!slug.ok()) return slug.status();

  ServiceAccount account;
  account.organization = std::string(organization);
  account.slug = *std::move(slug);
  account.name = spec.name;
  account.created_at = account.updated_at = Now();
  account.created_by = account.updated_by = std::string(actor);

  storage::Batch batch;
  tables_->PutAccount(batch, account);
  if (absl::Status s = Commit(
          batch,
          AccountChange(storage::ChangeKind::kAccountCreated, organization,
                        account.slug),
          {AccountEvent(EventType::kServiceAccountCreated, account, actor)});
      !s.ok()) {
    return s;
  }
  NewAccount(account);
  return account;
}

absl::StatusOr<ServiceAccount> StoreImpl::GetServiceAccount(
    std::string_view organization, std::string_view slug) {
  std::vector<FieldError> errors;
  CheckIdentity("organization", organization, errors);
  CheckSlug("serviceAccountSlug", slug, errors);
  if (!errors.empty()) return ValidationError(std::move(errors));
  ReadGuard guard(this);
  if (!guard.status().ok()) return guard.status();
  return ReadAccount(organization, slug);
}

absl::StatusOr<Page<ServiceAccount>> StoreImpl::ListServiceAccounts(
    std::string_view organization, const PageRequest& page) {
  std::vector<FieldError> errors;
  CheckIdentity("organization", organization, errors);
  CheckPage(page, errors);
  std::string start_after;
  if (!page.cursor.empty()) {
    std::optional<std::string> position =
        DecodeCursor(CursorKind::kServiceAccounts, page.cursor);
    if (!position || !IsValidSlug(*position)) {
      errors.push_back({"cursor", "is not a cursor of this list",
                        SafeValue(page.cursor)});
    } else {
      start_after = *std::move(position);
    }
  }
  if (!errors.empty()) return ValidationError(std::move(errors));

  ReadGuard guard(this);
  if (!guard.status().ok()) return guard.status();
  Page<ServiceAccount> result;
  bool more = false;
  absl::Status status = tables_->ScanAccounts(
      organization, start_after, [&](const ServiceAccount& account) {
        if (result.items.size() == page.limit) {
          more = true;
          return storage::ScanControl::kStop;
        }
        result.items.push_back(account);
        return storage::ScanControl::kContinue;
      });
  if (!status.ok()) return status;
  if (more) {
    result.next_cursor =
        EncodeCursor(CursorKind::kServiceAccounts, result.items.back().slug);
  }
  return result;
}

absl::StatusOr<ServiceAccount> StoreImpl::UpdateServiceAccount(
    std::string_view organization, std::string_view slug,
    const ServiceAccountPatch& patch, std::string_view actor) {
  std::vector<FieldError> errors;
  CheckIdentity("organization", organization, errors);
  CheckSlug("serviceAccountSlug", slug, errors);
  if (patch.name) CheckName("name", *patch.name, errors);
  CheckIdentity("actor", actor, errors);
  if (!errors.empty()) return ValidationError(std::move(errors));
  return ApplyPatch(organization, slug, patch, actor);
}

absl::StatusOr<ServiceAccount> StoreImpl::RenameServiceAccount(
    std::string_view organization, std::string_view slug,
    std::string_view new_name, std::string_view actor) {
  ServiceAccountPatch patch;
  patch.name = std::string(new_name);
  return UpdateServiceAccount(organization, slug, patch, actor);
}

absl::StatusOr<ServiceAccount> StoreImpl::SetServiceAccountDisabled(
    std::string_view organization, std::string_view slug, bool disabled,
    std::string_view actor) {
  ServiceAccountPatch patch;
  patch.disabled = disabled;
  return UpdateServiceAccount(organization, slug, patch, actor);
}

absl::StatusOr<ServiceAccount> StoreImpl::ApplyPatch(
    std::string_view organization, std::string_view slug,
    const ServiceAccountPatch& patch, std::string_view actor) {
  WriteGuard guard(this);
  if (!guard.status().ok()) return guard.status();
  absl::StatusOr<ServiceAccount> account = ReadAccount(organization, slug);
  if (!account.ok() || patch.empty()) return account;
  const ServiceAccount before = *account;
  if (patch.name) account->name = *patch.name;
  if (patch.disabled) account->disabled = *patch.disabled;
  account->updated_at = Now();
  account->updated_by = std::string(actor);
  storage::Batch batch;
  tables_->PutAccount(batch, *account);
  // One event per visible change, rename first (keygate/store.h).
  std::vector<Event> events;
  if (account->name != before.name) {
    events.push_back(
        AccountEvent(EventType::kServiceAccountUpdated, *account, actor));
  }
  if (account->disabled != before.disabled) {
    events.push_back(AccountEvent(account->disabled
                                      ? EventType::kServiceAccountDisabled
                                      : EventType::kServiceAccountEnabled,
                                  *account, actor));
  }
  if (absl::Status s = Commit(batch,
                              AccountChange(storage::ChangeKind::kAccountUpdated,
                                            organization, slug),
                              std::move(events));
      !s.ok()) {
    return s;
  }
  guard.AwaitFleetOnRelease();
  PublishAccount(*account);
  return account;
}

absl::Status StoreImpl::DeleteServiceAccount(std::string_view organization,
                                             std::string_view slug,
                                             std::string_view actor) {
  std::vector<FieldError> errors;
  CheckIdentity("organization", organization, errors);
  CheckSlug("serviceAccountSlug", slug, errors);
  CheckIdentity("actor", actor, errors);
  if (!errors.empty()) return ValidationError(std::move(errors));

  WriteGuard guard(this);
  if (!guard.status().ok()) return guard.status();
  absl::StatusOr<ServiceAccount> account = ReadAccount(organization, slug);
  if (!account.ok()) return account.status();

  // O(tokens of this account): they must all be deleted; the scan covers
  // this account's key range only, and no other account is visited.
  storage::Batch batch;
  std::vector<Digest> digests;
  if (absl::Status s = DeleteTokens(
          storage::TokenRange::OfAccount(organization, slug),
          [](const TokenMetadata&) { return true; }, batch, digests);
      !s.ok()) {
    return s;
  }
  tables_->DeleteAccount(batch, organization, slug);
  storage::ChangeRecord change = AccountChange(
      storage::ChangeKind::kAccountDeleted, organization, slug);
  change.deleted_digests = digests;
  if (absl::Status s = Commit(batch, std::move(change),
                              {AccountEvent(EventType::kServiceAccountDeleted,
                                            *account, actor)});
      !s.ok()) {
    return s;
  }
  guard.AwaitFleetOnRelease();
  ForgetAccount(organization, slug);
  ForgetTokens(digests);
  active_tokens_.ForgetAccount(organization, slug);
  return absl::OkStatus();
}

}  // namespace keygate::store

#include "lib/store/store_impl.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "keygate/errors.h"
#include "lib/base/absl_view.h"
#include "lib/crypto/sodium.h"
#include "lib/index/token_grant.h"
#include "lib/storage/keys.h"
#include "lib/store/cursor.h"
#include "lib/store/validation.h"

namespace keygate {

absl::StatusOr<std::unique_ptr<Store>> Store::Open(Options options) {
  return store::StoreImpl::Open(std::move(options));
}

namespace store {

namespace {

constexpr size_t kMaxScopesPerToken = 64;
constexpr size_t kSlugSuffixSize = 6;
constexpr std::string_view kSchemaVersionKey = "schema_version";
constexpr std::string_view kSchemaVersion = "1";
constexpr std::string_view kPepperKeyPrefix = "pepper/";
// Expiries further out than this are a caller bug, not a policy.
constexpr absl::Duration kMaxTokenLifetime = absl::Hours(24 * 366 * 100);

absl::Status ClosedError() {
  return absl::FailedPreconditionError("the keygate store is closed");
}
absl::Status AccountNotFound() {
  return absl::NotFoundError("service account not found");
}
absl::Status TokenNotFound() { return absl::NotFoundError("token not found"); }

absl::Status Invalid(std::vector<FieldError> errors) {
  return ValidationError(std::move(errors));
}

// StoredTime truncates `t` to the microseconds storage keeps (toward the
// past, as storage::EncodeTime does).
absl::Time StoredTime(absl::Time t) {
  return storage::DecodeTime(storage::EncodeTime(t));
}

std::string RandomSlugSuffix() {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string suffix(kSlugSuffixSize, '0');
  for (char& c : suffix) c = kAlphabet[crypto::RandomUniform(36)];
  return suffix;
}

std::string PepperKey(int id) { return absl::StrCat(AbslView(kPepperKeyPrefix), id); }

// CheckPage validates a page request; appends to errors.
void CheckPage(const PageRequest& page, std::vector<FieldError>& errors) {
  if (page.limit < 1 || page.limit > PageRequest::kMaxLimit) {
    errors.push_back({"limit",
                      absl::StrCat("must be between 1 and ",
                                   PageRequest::kMaxLimit),
                      absl::StrCat(page.limit)});
  }
}

absl::Status CheckOptions(const Options& options) {
  std::vector<FieldError> errors;
  if (options.path.empty()) {
    errors.push_back({"path", "the store path must not be empty", ""});
  }
  if (options.keyring == nullptr) {
    errors.push_back(
        {"keyring",
         "a pepper keyring is required (Keyring::Load); keygate never uses a "
         "built-in key",
         ""});
  }
  if (!token::IsValidPrefix(options.token_prefix)) {
    errors.push_back({"tokenPrefix",
                      "must be 1-16 characters of a-z and 0-9 followed by '_'",
                      SafeValue(options.token_prefix)});
  }
  if (options.scope_modules.empty() ||
      options.scope_modules.size() > scope::kMaxModules) {
    errors.push_back({"scopeModules",
                      absl::StrCat("must name 1 to ", scope::kMaxModules,
                                   " modules"),
                      ""});
  }
  absl::flat_hash_set<std::string> seen;
  for (size_t i = 0; i < options.scope_modules.size(); ++i) {
    const std::string& module = options.scope_modules[i];
    if (!scope::IsValidModuleName(module) || !seen.insert(module).second) {
      errors.push_back({absl::StrCat("scopeModules[", i, "]"),
                        "must be a unique name of a-z, 0-9 and '_' starting "
                        "with a letter",
                        SafeValue(module)});
    }
  }
  if (options.retention < absl::ZeroDuration()) {
    errors.push_back({"retention", "must not be negative", ""});
  }
  if (!errors.empty()) return Invalid(std::move(errors));
  return absl::OkStatus();
}

}  // namespace

// ---------------------------------------------------------------- lifecycle

StoreImpl::StoreImpl(Options options, std::unique_ptr<storage::Database> db,
                     std::unique_ptr<crypto::TokenDigester> digester,
                     std::shared_ptr<const scope::ScopeCatalog> catalog)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : SystemClock()),
      codec_(options_.token_prefix),
      digester_(std::move(digester)),
      catalog_(std::move(catalog)),
      db_(std::move(db)) {}

StoreImpl::~StoreImpl() { (void)Close(); }

absl::Time StoreImpl::Now() const { return StoredTime(clock_->Now()); }

absl::StatusOr<std::unique_ptr<Store>> StoreImpl::Open(Options options) {
  if (absl::Status s = CheckOptions(options); !s.ok()) return s;
  if (absl::Status s = crypto::InitSodium(); !s.ok()) return s;
  absl::StatusOr<std::unique_ptr<crypto::TokenDigester>> digester =
      crypto::TokenDigester::Create(options.keyring);
  if (!digester.ok()) return digester.status();
  absl::StatusOr<std::unique_ptr<storage::Database>> db =
      storage::Database::Open(options.path, options.create_if_missing);
  if (!db.ok()) return db.status();
  auto catalog = std::make_shared<const scope::ScopeCatalog>(options.scope_modules);
  std::unique_ptr<StoreImpl> store(new StoreImpl(
      std::move(options), *std::move(db), *std::move(digester), std::move(catalog)));
  absl::Status load_status;
  {
    absl::MutexLock lock(&store->write_mu_);
    load_status = store->Load();
  }
  // Close takes write_mu_ itself: calling it under the lock above would
  // self-deadlock (absl aborts on it).
  if (!load_status.ok()) {
    (void)store->Close();
    return load_status;
  }
  return std::unique_ptr<Store>(std::move(store));
}

absl::Status StoreImpl::Load() {
  absl::ReaderMutexLock db_lock(&db_mu_);
  storage::Batch batch;

  // Schema version.
  absl::StatusOr<std::optional<std::string>> version =
      db_->Get(storage::Family::kMeta, kSchemaVersionKey);
  if (!version.ok()) return version.status();
  if (!version->has_value()) {
    // A new store has no keys at all; anything else is not ours to convert.
    bool empty = true;
    for (storage::Family family :
         {storage::Family::kMeta, storage::Family::kAccounts,
          storage::Family::kTokens}) {
      absl::Status s = db_->Scan(family, "", "",
                                 [&](std::string_view, std::string_view) {
                                   empty = false;
                                   return false;
                                 });
      if (!s.ok()) return s;
    }
    if (!empty) {
      return absl::FailedPreconditionError(absl::StrCat(
          options_.path, " holds a RocksDB database that is not a keygate store"));
    }
    batch.Put(storage::Family::kMeta, kSchemaVersionKey, kSchemaVersion);
  } else if (**version != kSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "store at ", options_.path, " has schema version ", SafeValue(**version),
        "; this keygate reads version ", AbslView(kSchemaVersion)));
  }

  // Pepper fingerprints: the same id must always mean the same key.
  for (int id : digester_->keyring().ids()) {
    const crypto::Digest fingerprint = digester_->Fingerprint(id);
    const std::string_view fp(reinterpret_cast<const char*>(fingerprint.data()),
                              fingerprint.size());
    absl::StatusOr<std::optional<std::string>> stored =
        db_->Get(storage::Family::kMeta, PepperKey(id));
    if (!stored.ok()) return stored.status();
    if (!stored->has_value()) {
      batch.Put(storage::Family::kMeta, PepperKey(id), fp);
    } else if (stored->value().size() != fp.size() ||
               !crypto::DigestEqual(
                   *reinterpret_cast<const crypto::Digest*>(stored->value().data()),
                   fingerprint)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "pepper ", id, " in the keyring is not the pepper ", id,
          " this store was created with: wrong pepper file?"));
    }
  }

  // Accounts.
  absl::Status scan_status;
  absl::Status status = db_->Scan(
      storage::Family::kAccounts, "", "",
      [&](std::string_view key, std::string_view value) {
        ServiceAccount account;
        scan_status = storage::DecodeAccount(value, &account);
        if (!scan_status.ok()) return false;
        auto state = AccountStateFor(std::string(key));
        state->disabled.store(account.disabled, std::memory_order_relaxed);
        return true;
      });
  if (!status.ok()) return status;
  if (!scan_status.ok()) return scan_status;

  // Tokens.
  status = db_->Scan(
      storage::Family::kTokens, "", "",
      [&](std::string_view key, std::string_view value) {
        std::string_view org, account, slug;
        storage::StoredToken token;
        if (!storage::DecodeTokenKey(key, &org, &account, &slug)) {
          scan_status = absl::DataLossError("corrupt token key");
          return false;
        }
        scan_status = storage::DecodeToken(value, &token);
        if (!scan_status.ok()) return false;
        token.metadata.organization = std::string(org);
        token.metadata.service_account = std::string(account);
        token.metadata.slug = std::string(slug);
        if (digester_->keyring().key(token.metadata.pepper_id) == nullptr) {
          scan_status = absl::FailedPreconditionError(absl::StrCat(
              "the store holds tokens digested with pepper ",
              token.metadata.pepper_id,
              ", which the keyring lacks: wrong or incomplete pepper file?"));
          return false;
        }
        const std::string account_key = storage::AccountKey(org, account);
        auto it = accounts_.find(account_key);
        std::shared_ptr<index::AccountState> state;
        if (it == accounts_.end()) {
          // A token without its account cannot verify.
          state = std::make_shared<index::AccountState>();
          state->deleted.store(true);
        } else {
          state = it->second;
        }
        index_.Put(token.digest, MakeGrant(token.metadata, std::move(state)));
        return true;
      });
  if (!status.ok()) return status;
  if (!scan_status.ok()) return scan_status;

  if (batch.size() > 0) return db_->Write(batch, /*sync=*/true);
  return absl::OkStatus();
}

absl::Status StoreImpl::Close() {
  absl::MutexLock write_lock(&write_mu_);
  absl::MutexLock db_lock(&db_mu_);
  closed_.store(true, std::memory_order_release);
  if (db_ == nullptr) return absl::OkStatus();
  absl::Status status = db_->Close();
  db_.reset();
  return status;
}

absl::Status StoreImpl::CheckOpen() const {
  if (db_ == nullptr) return ClosedError();
  return absl::OkStatus();
}

absl::Status StoreImpl::Commit(storage::Batch& batch) {
  return db_->Write(batch, options_.sync_writes);
}

std::shared_ptr<index::AccountState> StoreImpl::AccountStateFor(
    const std::string& key) {
  auto [it, inserted] = accounts_.try_emplace(key);
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

// ------------------------------------------------------------------ reading

absl::StatusOr<ServiceAccount> StoreImpl::ReadAccount(
    std::string_view organization, std::string_view slug) const {
  absl::StatusOr<std::optional<std::string>> value = db_->Get(
      storage::Family::kAccounts, storage::AccountKey(organization, slug));
  if (!value.ok()) return value.status();
  if (!value->has_value()) return AccountNotFound();
  ServiceAccount account;
  if (absl::Status s = storage::DecodeAccount(**value, &account); !s.ok()) {
    return s;
  }
  account.organization = std::string(organization);
  account.slug = std::string(slug);
  return account;
}

absl::StatusOr<std::optional<storage::StoredToken>> StoreImpl::ReadToken(
    std::string_view organization, std::string_view account,
    std::string_view slug) const {
  absl::StatusOr<std::optional<std::string>> value = db_->Get(
      storage::Family::kTokens, storage::TokenKey(organization, account, slug));
  if (!value.ok()) return value.status();
  if (!value->has_value()) return std::optional<storage::StoredToken>();
  storage::StoredToken token;
  if (absl::Status s = storage::DecodeToken(**value, &token); !s.ok()) return s;
  token.metadata.organization = std::string(organization);
  token.metadata.service_account = std::string(account);
  token.metadata.slug = std::string(slug);
  return std::optional<storage::StoredToken>(std::move(token));
}

absl::StatusOr<uint64_t> StoreImpl::CountActiveTokens(
    std::string_view organization, absl::Time now) const {
  uint64_t count = 0;
  absl::Status decode_status;
  absl::Status status = db_->Scan(
      storage::Family::kTokens, storage::OrganizationPrefix(organization), "",
      [&](std::string_view, std::string_view value) {
        storage::StoredToken token;
        decode_status = storage::DecodeToken(value, &token);
        if (!decode_status.ok()) return false;
        if (token.metadata.active(now)) ++count;
        return true;
      });
  if (!status.ok()) return status;
  if (!decode_status.ok()) return decode_status;
  return count;
}

absl::Status StoreImpl::DeleteTokens(
    std::string_view prefix,
    const std::function<bool(const TokenMetadata&)>& select,
    storage::Batch& batch, std::vector<crypto::Digest>& digests) const {
  absl::Status decode_status;
  absl::Status status = db_->Scan(
      storage::Family::kTokens, prefix, "",
      [&](std::string_view key, std::string_view value) {
        std::string_view org, account, slug;
        storage::StoredToken token;
        if (!storage::DecodeTokenKey(key, &org, &account, &slug)) {
          decode_status = absl::DataLossError("corrupt token key");
          return false;
        }
        decode_status = storage::DecodeToken(value, &token);
        if (!decode_status.ok()) return false;
        if (!select(token.metadata)) return true;
        batch.Delete(storage::Family::kTokens, key);
        batch.Delete(storage::Family::kTokenTimes,
                     storage::TokenTimeKey(org, account,
                                           token.metadata.created_at, slug));
        batch.Delete(storage::Family::kDigests,
                     std::string_view(
                         reinterpret_cast<const char*>(token.digest.data()),
                         token.digest.size()));
        digests.push_back(token.digest);
        return true;
      });
  if (!status.ok()) return status;
  return decode_status;
}

// --------------------------------------------------------- service accounts

absl::StatusOr<ServiceAccount> StoreImpl::CreateServiceAccount(
    std::string_view organization, const ServiceAccountSpec& spec,
    std::string_view actor) {
  std::vector<FieldError> errors;
  CheckIdentity("organization", organization, errors);
  CheckIdentity("actor", actor, errors);
  CheckName("name", spec.name, errors);
  if (spec.slug) CheckSlug("slug", *spec.slug, errors);
  if (!errors.empty()) return Invalid(std::move(errors));

  absl::MutexLock write_lock(&write_mu_);
  absl::ReaderMutexLock db_lock(&db_mu_);
  if (absl::Status s = CheckOpen(); !s.ok()) return s;

  std::string slug;
  if (spec.slug) {
    slug = *spec.slug;
    absl::StatusOr<ServiceAccount> existing = ReadAccount(organization, slug);
    if (existing.ok()) {
      return ConflictError(
          {"slug", "a service account with this slug already exists", slug});
    }
    if (!absl::IsNotFound(existing.status())) return existing.status();
  } else {
    const std::string stem = Slugify(
        spec.name, kMaxSlugSize - kSlugSuffixSize - 1, "service-account");
    for (int attempt = 0;; ++attempt) {
      slug = absl::StrCat(stem, "-", RandomSlugSuffix());
      absl::StatusOr<ServiceAccount> existing = ReadAccount(organization, slug);
      if (absl::IsNotFound(existing.status())) break;
      if (!existing.ok()) return existing.status();
      if (attempt == 8) {
        return absl::InternalError("could not find a free service account slug");
      }
    }
  }

  ServiceAccount account;
  account.organization = std::string(organization);
  account.slug = slug;
  account.name = spec.name;
  account.created_at = account.updated_at = Now();
  account.created_by = account.updated_by = std::string(actor);

  storage::Batch batch;
  const std::string key = storage::AccountKey(organization, slug);
  batch.Put(storage::Family::kAccounts, key, storage::EncodeAccount(account));
  if (absl::Status s = Commit(batch); !s.ok()) return s;
  // A fresh state: no grant of an earlier account with this slug survives.
  auto state = std::make_shared<index::AccountState>();
  accounts_[key] = std::move(state);
  return account;
}

absl::StatusOr<ServiceAccount> StoreImpl::GetServiceAccount(
    std::string_view organization, std::string_view slug) {
  std::vector<FieldError> errors;
  CheckIdentity("organization", organization, errors);
  CheckSlug("serviceAccountSlug", slug, errors);
  if (!errors.empty()) return Invalid(std::move(errors));
  absl::ReaderMutexLock db_lock(&db_mu_);
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
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
  if (!errors.empty()) return Invalid(std::move(errors));

  absl::ReaderMutexLock db_lock(&db_mu_);
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  Page<ServiceAccount> result;
  bool more = false;
  absl::Status decode_status;
  const std::string prefix = storage::AccountPrefix(organization);
  absl::Status status = db_->Scan(
      storage::Family::kAccounts, prefix, start_after,
      [&](std::string_view key, std::string_view value) {
        if (result.items.size() == page.limit) {
          more = true;
          return false;
        }
        ServiceAccount account;
        decode_status = storage::DecodeAccount(value, &account);
        if (!decode_status.ok()) return false;
        account.organization = std::string(organization);
        account.slug = std::string(key.substr(prefix.size()));
        result.items.push_back(std::move(account));
        return true;
      });
  if (!status.ok()) return status;
  if (!decode_status.ok()) return decode_status;
  if (more) {
    result.next_cursor =
        EncodeCursor(CursorKind::kServiceAccounts, result.items.back().slug);
  }
  return result;
}

absl::StatusOr<ServiceAccount> StoreImpl::UpdateAccount(
    std::string_view organization, std::string_view slug,
    std::string_view actor,
    const std::function<void(ServiceAccount&)>& mutate) {
  absl::MutexLock write_lock(&write_mu_);
  absl::ReaderMutexLock db_lock(&db_mu_);
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  absl::StatusOr<ServiceAccount> account = ReadAccount(organization, slug);
  if (!account.ok()) return account.status();
  mutate(*account);
  account->updated_at = Now();
  account->updated_by = std::string(actor);
  storage::Batch batch;
  const std::string key = storage::AccountKey(organization, slug);
  batch.Put(storage::Family::kAccounts, key, storage::EncodeAccount(*account));
  if (absl::Status s = Commit(batch); !s.ok()) return s;
  AccountStateFor(key)->disabled.store(account->disabled,
                                       std::memory_order_release);
  return account;
}

absl::StatusOr<ServiceAccount> StoreImpl::RenameServiceAccount(
    std::string_view organization, std::string_view slug,
    std::string_view new_name, std::string_view actor) {
  std::vector<FieldError> errors;
  CheckIdentity("organization", organization, errors);
  CheckSlug("serviceAccountSlug", slug, errors);
  CheckName("name", new_name, errors);
  CheckIdentity("actor", actor, errors);
  if (!errors.empty()) return Invalid(std::move(errors));
  return UpdateAccount(organization, slug, actor, [&](ServiceAccount& account) {
    account.name = std::string(new_name);
  });
}

absl::StatusOr<ServiceAccount> StoreImpl::SetServiceAccountDisabled(
    std::string_view organization, std::string_view slug, bool disabled,
    std::string_view actor) {
  std::vector<FieldError> errors;
  CheckIdentity("organization", organization, errors);
  CheckSlug("serviceAccountSlug", slug, errors);
  CheckIdentity("actor", actor, errors);
  if (!errors.empty()) return Invalid(std::move(errors));
  return UpdateAccount(organization, slug, actor, [&](ServiceAccount& account) {
    account.disabled = disabled;
  });
}

absl::Status StoreImpl::DeleteServiceAccount(std::string_view organization,
                                             std::string_view slug,
                                             std::string_view actor) {
  std::vector<FieldError> errors;
  CheckIdentity("organization", organization, errors);
  CheckSlug("serviceAccountSlug", slug, errors);
  CheckIdentity("actor", actor, errors);
  if (!errors.empty()) return Invalid(std::move(errors));

  absl::MutexLock write_lock(&write_mu_);
  absl::ReaderMutexLock db_lock(&db_mu_);
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  absl::StatusOr<ServiceAccount> account = ReadAccount(organization, slug);
  if (!account.ok()) return account.status();

  storage::Batch batch;
  std::vector<crypto::Digest> digests;
  if (absl::Status s = DeleteTokens(storage::TokenPrefix(organization, slug),
                                    [](const TokenMetadata&) { return true; },
                                    batch, digests);
      !s.ok()) {
    return s;
  }
  const std::string key = storage::AccountKey(organization, slug);
  batch.Delete(storage::Family::kAccounts, key);
  if (absl::Status s = Commit(batch); !s.ok()) return s;

  if (auto it = accounts_.find(key); it != accounts_.end()) {
    it->second->deleted.store(true, std::memory_order_release);
    accounts_.erase(it);
  }
  for (const crypto::Digest& digest : digests) index_.Erase(digest);
  return absl::OkStatus();
}

// ------------------------------------------------------------------ tokens

absl::StatusOr<CreatedToken> StoreImpl::CreateToken(
    std::string_view organization, std::string_view service_account,
    const TokenSpec& spec, std::string_view actor) {
  std::vector<FieldError> errors;
  CheckIdentity("organization", organization, errors);
  CheckSlug("serviceAccountSlug", service_account, errors);
  CheckIdentity("actor", actor, errors);
  CheckName("name", spec.name, errors);
  if (spec.slug) CheckSlug("slug", *spec.slug, errors);
  if (spec.scopes.empty()) {
    errors.push_back({"scopes", "at least one scope is required", ""});
  } else if (spec.scopes.size() > kMaxScopesPerToken) {
    errors.push_back({"scopes",
                      absl::StrCat("at most ", kMaxScopesPerToken,
                                   " scopes are allowed"),
                      ""});
  } else {
    for (size_t i = 0; i < spec.scopes.size(); ++i) {
      if (!catalog_->Parse(spec.scopes[i])) {
        errors.push_back(
            {absl::StrCat("scopes[", i, "]"),
             absl::StrCat("unknown scope: expected read:<module>, "
                          "write:<module>, delete:<module>, read:* or "
                          "write:*, with <module> one of ",
                          absl::StrJoin(catalog_->modules(), ", ")),
             SafeValue(spec.scopes[i])});
      }
    }
  }
  const absl::Time now = Now();
  std::optional<absl::Time> expires_at;
  if (spec.expires_at) expires_at = StoredTime(*spec.expires_at);
  if (expires_at) {
    if (*expires_at <= now) {
      errors.push_back({"expiresAt", "must be in the future",
                        absl::FormatTime(absl::RFC3339_sec, *spec.expires_at,
                                         absl::UTCTimeZone())});
    } else if (*expires_at - now > kMaxTokenLifetime) {
      errors.push_back({"expiresAt", "must be within 100 years",
                        absl::FormatTime(absl::RFC3339_sec, *spec.expires_at,
                                         absl::UTCTimeZone())});
    }
  }
  if (!errors.empty()) return Invalid(std::move(errors));

  std::vector<std::string> scopes = spec.scopes;
  std::sort(scopes.begin(), scopes.end());
  scopes.erase(std::unique(scopes.begin(), scopes.end()), scopes.end());

  absl::MutexLock write_lock(&write_mu_);
  absl::ReaderMutexLock db_lock(&db_mu_);
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  absl::StatusOr<ServiceAccount> account =
      ReadAccount(organization, service_account);
  if (!account.ok()) return account.status();
  if (account->disabled) {
    return absl::FailedPreconditionError(
        "the service account is disabled; enable it before creating tokens");
  }

  // Name unique among the account's active tokens; collect taken slugs.
  absl::flat_hash_set<std::string> slugs;
  bool name_taken = false;
  absl::Status decode_status;
  const std::string prefix = storage::TokenPrefix(organization, service_account);
  absl::Status status = db_->Scan(
      storage::Family::kTokens, prefix, "",
      [&](std::string_view key, std::string_view value) {
        storage::StoredToken token;
        decode_status = storage::DecodeToken(value, &token);
        if (!decode_status.ok()) return false;
        slugs.insert(std::string(key.substr(prefix.size())));
        if (token.metadata.name == spec.name && token.metadata.active(now)) {
          name_taken = true;
        }
        return true;
      });
  if (!status.ok()) return status;
  if (!decode_status.ok()) return decode_status;
  if (name_taken) {
    return ConflictError({"name",
                          "an active token with this name already exists",
                          SafeValue(spec.name)});
  }
  std::string slug;
  if (spec.slug) {
    slug = *spec.slug;
    if (slugs.contains(slug)) {
      return ConflictError(
          {"slug", "a token with this slug already exists", slug});
    }
  } else {
    slug = Slugify(spec.name, kMaxSlugSize - kSlugSuffixSize - 1, "token");
    for (int attempt = 0; slugs.contains(slug); ++attempt) {
      if (attempt == 8) {
        return absl::InternalError("could not find a free token slug");
      }
      slug = absl::StrCat(
          Slugify(spec.name, kMaxSlugSize - kSlugSuffixSize - 1, "token"), "-",
          RandomSlugSuffix());
    }
  }

  if (options_.max_active_tokens_per_organization > 0) {
    absl::StatusOr<uint64_t> active = CountActiveTokens(organization, now);
    if (!active.ok()) return active.status();
    if (*active >= options_.max_active_tokens_per_organization) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "the organization has reached its quota of ",
          options_.max_active_tokens_per_organization, " active tokens"));
    }
  }

  CreatedToken created;
  storage::StoredToken stored;
  const int pepper_id = digester_->active_id();
  for (int attempt = 0;; ++attempt) {
    created.value = codec_.Generate(pepper_id);
    if (created.value.empty() ||
        !digester_->Compute(pepper_id, created.value.view(), &stored.digest)) {
      return absl::InternalError("could not generate a token");
    }
    // 256 random bits never collide in practice; the digest is the primary
    // key all the same, so check rather than assume.
    if (!index_.Contains(stored.digest)) break;
    if (attempt == 3) return absl::InternalError("token digest collision");
  }
  TokenMetadata& m = stored.metadata;
  m.organization = std::string(organization);
  m.service_account = std::string(service_account);
  m.slug = slug;
  m.name = spec.name;
  m.scopes = std::move(scopes);
  m.created_at = now;
  m.created_by = std::string(actor);
  m.expires_at = expires_at;
  m.pepper_id = pepper_id;

  const std::string token_key =
      storage::TokenKey(organization, service_account, slug);
  storage::Batch batch;
  batch.Put(storage::Family::kTokens, token_key, storage::EncodeToken(stored));
  batch.Put(storage::Family::kTokenTimes,
            storage::TokenTimeKey(organization, service_account, now, slug), "");
  batch.Put(storage::Family::kDigests,
            std::string_view(reinterpret_cast<const char*>(stored.digest.data()),
                             stored.digest.size()),
            storage::EncodeDigestRecord(token_key));
  if (absl::Status s = Commit(batch); !s.ok()) return s;

  index_.Put(stored.digest,
             MakeGrant(m, AccountStateFor(
                              storage::AccountKey(organization, service_account))));
  created.metadata = std::move(m);
  return created;
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
    if (!position || position->size() <= 8 ||
        !IsValidSlug(std::string_view(*position).substr(8))) {
      errors.push_back({"cursor", "is not a cursor of this list",
                        SafeValue(page.cursor)});
    } else {
      start_after = *std::move(position);
    }
  }
  if (!errors.empty()) return Invalid(std::move(errors));

  absl::ReaderMutexLock db_lock(&db_mu_);
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  absl::StatusOr<ServiceAccount> account =
      ReadAccount(organization, service_account);
  if (!account.ok()) return account.status();

  Page<TokenMetadata> result;
  std::string last_position;
  bool more = false;
  absl::Status read_status;
  const std::string prefix = storage::TokenPrefix(organization, service_account);
  absl::Status status = db_->Scan(
      storage::Family::kTokenTimes, prefix, start_after,
      [&](std::string_view key, std::string_view) {
        if (result.items.size() == page.limit) {
          more = true;
          return false;
        }
        const std::string_view position = key.substr(prefix.size());
        if (position.size() <= 8) {
          read_status = absl::DataLossError("corrupt token time key");
          return false;
        }
        absl::StatusOr<std::optional<storage::StoredToken>> token =
            ReadToken(organization, service_account, position.substr(8));
        if (!token.ok()) {
          read_status = token.status();
          return false;
        }
        // The scan reads a snapshot taken when it began, the Get the latest
        // state, and this call does not hold write_mu_: a token purged or
        // deleted with its account since the scan began is simply gone.
        if (!token->has_value()) return true;
        result.items.push_back(std::move((*token)->metadata));
        last_position = std::string(position);
        return true;
      });
  if (!status.ok()) return status;
  if (!read_status.ok()) return read_status;
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
  if (!errors.empty()) return Invalid(std::move(errors));

  absl::MutexLock write_lock(&write_mu_);
  absl::ReaderMutexLock db_lock(&db_mu_);
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  absl::StatusOr<std::optional<storage::StoredToken>> token =
      ReadToken(organization, service_account, token_slug);
  if (!token.ok()) return token.status();
  // Unknown, another organization's, or already revoked: one answer.
  if (!token->has_value() || (*token)->metadata.revoked()) return TokenNotFound();
  storage::StoredToken& stored = **token;
  stored.metadata.revoked_at = Now();
  stored.metadata.revoked_by = std::string(actor);

  storage::Batch batch;
  batch.Put(storage::Family::kTokens,
            storage::TokenKey(organization, service_account, token_slug),
            storage::EncodeToken(stored));
  if (absl::Status s = Commit(batch); !s.ok()) return s;
  index_.Put(stored.digest,
             MakeGrant(stored.metadata,
                       AccountStateFor(
                           storage::AccountKey(organization, service_account))));
  return absl::OkStatus();
}

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
  if (closed_.load(std::memory_order_acquire)) return ClosedError();
  const int pepper_id = codec_.ParsePepperId(token);
  if (pepper_id == 0) return internal::VerifyError(VerifyFailure::kMalformed);
  crypto::Digest digest;
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
  return Principal(std::move(grant));
}

absl::StatusOr<PurgeResult> StoreImpl::PurgeRetired() {
  absl::MutexLock write_lock(&write_mu_);
  absl::ReaderMutexLock db_lock(&db_mu_);
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  const absl::Time cutoff = Now() - options_.retention;

  storage::Batch batch;
  std::vector<crypto::Digest> digests;
  absl::Status status = DeleteTokens(
      "",
      [cutoff](const TokenMetadata& m) {
        return (m.revoked_at && *m.revoked_at <= cutoff) ||
               (!m.revoked_at && m.expires_at && *m.expires_at <= cutoff);
      },
      batch, digests);
  if (!status.ok()) return status;
  PurgeResult result;
  if (digests.empty()) return result;
  if (absl::Status s = Commit(batch); !s.ok()) return s;
  for (const crypto::Digest& digest : digests) index_.Erase(digest);
  result.tokens_purged = digests.size();
  return result;
}

}  // namespace store
}  // namespace keygate

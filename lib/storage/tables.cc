// lib/storage/tables.cc: the store's tables over the column families.
#include "lib/storage/tables.h"

#include <utility>

#include "lib/storage/keys.h"

namespace keygate::storage {

namespace {

// DecodeFullToken decodes a tokens-CF entry into a token with its identity.
absl::Status DecodeFullToken(std::string_view key, std::string_view value,
                             StoredToken* token) {
  std::string_view org, account, slug;
  if (!DecodeTokenKey(key, &org, &account, &slug)) return absl::DataLossError("corrupt token key");
  if (absl::Status s = DecodeToken(value, token); !s.ok()) return s;
  token->metadata.organization = std::string(org);
  token->metadata.service_account = std::string(account);
  token->metadata.slug = std::string(slug);
  return absl::OkStatus();
}

absl::Status DecodeFullAccount(std::string_view key, std::string_view value,
                               ServiceAccount* account) {
  std::string_view org, slug;
  if (!DecodeAccountKey(key, &org, &slug)) return absl::DataLossError("corrupt account key");
  if (absl::Status s = DecodeAccount(value, account); !s.ok()) return s;
  account->organization = std::string(org);
  account->slug = std::string(slug);
  return absl::OkStatus();
}

}  // namespace

TokenRange TokenRange::OfOrganization(std::string_view organization) {
  return TokenRange(OrganizationPrefix(organization));
}

TokenRange TokenRange::OfAccount(std::string_view organization,
                                 std::string_view service_account) {
  return TokenRange(TokenPrefix(organization, service_account));
}

absl::StatusOr<std::unique_ptr<Tables>> Tables::Open(
    const std::string& path, bool create_if_missing,
    std::shared_ptr<rocksdb::FileSystem> base_file_system) {
  absl::StatusOr<std::unique_ptr<Database>> db =
      Database::Open(path, create_if_missing, std::move(base_file_system));
  if (!db.ok()) return db.status();
  return std::unique_ptr<Tables>(new Tables(*std::move(db)));
}

absl::StatusOr<std::unique_ptr<Tables>> Tables::OpenFollower(
    const std::string& path, const std::string& secondary_path) {
  absl::StatusOr<std::unique_ptr<Database>> db =
      Database::OpenFollower(path, secondary_path);
  if (!db.ok()) return db.status();
  return std::unique_ptr<Tables>(new Tables(*std::move(db)));
}

std::unique_ptr<Tables> Tables::OnDatabase(std::unique_ptr<Database> db) {
  return std::unique_ptr<Tables>(new Tables(std::move(db)));
}

absl::Status Tables::Close() { return db_->Close(); }

absl::Status Tables::Write(Batch& batch, bool sync) {
  return db_->Write(batch, sync);
}

uint64_t Tables::EstimateTokenCount() const {
  return db_->EstimateKeyCount(Family::kDigests);
}

absl::Status Tables::Scan(
    Family family, std::string_view prefix, std::string_view start_after,
    absl::FunctionRef<absl::StatusOr<ScanControl>(std::string_view,
                                                  std::string_view)>
        visit) const {
  absl::Status visit_status;
  absl::Status status = db_->Scan(
      family, prefix, start_after,
      [&](std::string_view key, std::string_view value) {
        absl::StatusOr<ScanControl> control = visit(key, value);
        if (!control.ok()) {
          visit_status = control.status();
          return false;
        }
        return *control == ScanControl::kContinue;
      });
  if (!status.ok()) return status;
  return visit_status;
}

// ---------------------------------------------------------------- meta

absl::StatusOr<std::optional<std::string>> Tables::ReadSchemaVersion() const {
  return db_->Get(Family::kMeta, kSchemaVersionKey);
}

void Tables::PutSchemaVersion(Batch& batch) const {
  batch.Put(Family::kMeta, kSchemaVersionKey, kSchemaVersion);
}

absl::StatusOr<bool> Tables::IsEmpty() const {
  bool empty = true;
  for (Family family : {Family::kMeta, Family::kAccounts, Family::kTokens}) {
    absl::Status s = Scan(family, "", "", [&](std::string_view, std::string_view) {
      empty = false;
      return ScanControl::kStop;
    });
    if (!s.ok()) return s;
  }
  return empty;
}

absl::StatusOr<std::optional<std::string>> Tables::ReadPepperFingerprint(
    int pepper_id) const {
  return db_->Get(Family::kMeta, PepperFingerprintKey(pepper_id));
}

void Tables::PutPepperFingerprint(Batch& batch, int pepper_id,
                                  const Digest& fingerprint) const {
  batch.Put(Family::kMeta, PepperFingerprintKey(pepper_id),
            DigestBytes(fingerprint));
}

// ---------------------------------------------------------------- accounts

absl::StatusOr<std::optional<ServiceAccount>> Tables::ReadAccount(
    std::string_view organization, std::string_view slug) const {
  absl::StatusOr<std::optional<std::string>> value =
      db_->Get(Family::kAccounts, AccountKey(organization, slug));
  if (!value.ok()) return value.status();
  if (!value->has_value()) return std::optional<ServiceAccount>();
  ServiceAccount account;
  if (absl::Status s = DecodeAccount(**value, &account); !s.ok()) return s;
  account.organization = std::string(organization);
  account.slug = std::string(slug);
  return std::optional<ServiceAccount>(std::move(account));
}

void Tables::PutAccount(Batch& batch, const ServiceAccount& account) const {
  batch.Put(Family::kAccounts, AccountKey(account.organization, account.slug),
            EncodeAccount(account));
}

void Tables::DeleteAccount(Batch& batch, std::string_view organization,
                           std::string_view slug) const {
  batch.Delete(Family::kAccounts, AccountKey(organization, slug));
}

absl::Status Tables::ScanAccounts(std::string_view organization,
                                  std::string_view start_after,
                                  AccountVisitor visit) const {
  return Scan(Family::kAccounts, AccountPrefix(organization), start_after,
              [&](std::string_view key,
                  std::string_view value) -> absl::StatusOr<ScanControl> {
                ServiceAccount account;
                if (absl::Status s = DecodeFullAccount(key, value, &account);
                    !s.ok()) {
                  return s;
                }
                return visit(account);
              });
}

absl::Status Tables::ScanEveryAccount(AccountVisitor visit) const {
  return Scan(Family::kAccounts, "", "",
              [&](std::string_view key,
                  std::string_view value) -> absl::StatusOr<ScanControl> {
                ServiceAccount account;
                if (absl::Status s = DecodeFullAccount(key, value, &account);
                    !s.ok()) {
                  return s;
                }
                return visit(account);
              });
}

// ---------------------------------------------------------------- tokens

absl::StatusOr<std::optional<StoredToken>> Tables::ReadToken(
    std::string_view organization, std::string_view service_account,
    std::string_view slug) const {
  absl::StatusOr<std::optional<std::string>> value = db_->Get(
      Family::kTokens, TokenKey(organization, service_account, slug));
  if (!value.ok()) return value.status();
  if (!value->has_value()) return std::optional<StoredToken>();
  StoredToken token;
  if (absl::Status s = DecodeToken(**value, &token); !s.ok()) return s;
  token.metadata.organization = std::string(organization);
  token.metadata.service_account = std::string(service_account);
  token.metadata.slug = std::string(slug);
  return std::optional<StoredToken>(std::move(token));
}

void Tables::PutNewToken(Batch& batch, const StoredToken& token) const {
  const TokenMetadata& m = token.metadata;
  const std::string token_key = TokenKey(m.organization, m.service_account, m.slug);
  batch.Put(Family::kTokens, token_key, EncodeToken(token));
  batch.Put(Family::kTokenTimes,
            TokenTimeKey(m.organization, m.service_account, m.created_at, m.slug),
            "");
  batch.Put(Family::kDigests, DigestBytes(token.digest),
            EncodeDigestRecord(token_key));
}

void Tables::UpdateToken(Batch& batch, const StoredToken& token) const {
  const TokenMetadata& m = token.metadata;
  batch.Put(Family::kTokens, TokenKey(m.organization, m.service_account, m.slug),
            EncodeToken(token));
}

void Tables::DeleteToken(Batch& batch, const StoredToken& token) const {
  const TokenMetadata& m = token.metadata;
  batch.Delete(Family::kTokens,
               TokenKey(m.organization, m.service_account, m.slug));
  batch.Delete(Family::kTokenTimes, TokenTimeKey(m.organization,
                                                 m.service_account,
                                                 m.created_at, m.slug));
  batch.Delete(Family::kDigests, DigestBytes(token.digest));
  batch.Delete(Family::kMeta, LastUsedRecordKey(LastUsedKey(token.digest)));
}

void Tables::PutLastUsed(Batch& batch, uint64_t last_used_key,
                         absl::Time last_used) const {
  batch.Put(Family::kMeta, LastUsedRecordKey(last_used_key),
            EncodeLastUsed(last_used));
}

absl::Status Tables::ScanLastUsed(
    absl::FunctionRef<absl::StatusOr<ScanControl>(uint64_t, absl::Time)>
        visit) const {
  return Scan(Family::kMeta, kLastUsedPrefix, "",
              [&](std::string_view key,
                  std::string_view value) -> absl::StatusOr<ScanControl> {
                uint64_t last_used_key;
                if (!DecodeLastUsedRecordKey(key, &last_used_key)) {
                  return absl::DataLossError("corrupt last-used key");
                }
                absl::Time last_used;
                if (absl::Status s = DecodeLastUsed(value, &last_used);
                    !s.ok()) {
                  return s;
                }
                return visit(last_used_key, last_used);
              });
}

void Tables::PutChange(Batch& batch, uint64_t position,
                       const ChangeRecord& change) const {
  batch.Put(Family::kMeta, ChangeKey(position), EncodeChange(change));
}

void Tables::DeleteChange(Batch& batch, uint64_t position) const {
  batch.Delete(Family::kMeta, ChangeKey(position));
}

absl::Status Tables::ScanChanges(
    uint64_t after,
    absl::FunctionRef<absl::StatusOr<ScanControl>(uint64_t,
                                                  const ChangeRecord&)>
        visit) const {
  // start_after is the part of the key after the prefix: be64(after).
  std::string start_after = ChangeKey(after).substr(kChangePrefix.size());
  return Scan(Family::kMeta, kChangePrefix, start_after,
              [&](std::string_view key,
                  std::string_view value) -> absl::StatusOr<ScanControl> {
                uint64_t position;
                if (!DecodeChangeKey(key, &position)) {
                  return absl::DataLossError("corrupt change key");
                }
                ChangeRecord change;
                if (absl::Status s = DecodeChange(value, &change); !s.ok()) {
                  return s;
                }
                return visit(position, change);
                });
}

absl::StatusOr<uint64_t> Tables::LastChangePosition() const {
  uint64_t last = 0;
  absl::Status status = Scan(
      Family::kMeta, kChangePrefix, "",
      [&](std::string_view key,
          std::string_view) -> absl::StatusOr<ScanControl> {
        uint64_t position;
        if (!DecodeChangeKey(key, &position)) {
          return absl::DataLossError("corrupt change key");
        }
        last = position;
        return ScanControl::kContinue;
      });
  if (!status.ok()) return status;
  return last;
}

void Tables::PutEvent(Batch& batch, uint64_t position,
                      const Event& event) const {
  batch.Put(Family::kMeta, EventKey(position), EncodeEvent(event));
}

void Tables::DeleteEvent(Batch& batch, uint64_t position) const {
  batch.Delete(Family::kMeta, EventKey(position));
}

absl::Status Tables::ScanEvents(
    uint64_t after,
    absl::FunctionRef<absl::StatusOr<ScanControl>(const Event&)> visit) const {
  // start_after is the part of the key after the prefix: be64(after).
  std::string start_after = EventKey(after).substr(kEventPrefix.size());
  return Scan(Family::kMeta, kEventPrefix, start_after,
              [&](std::string_view key,
                  std::string_view value) -> absl::StatusOr<ScanControl> {
                Event event;
                if (!DecodeEventKey(key, &event.position)) {
                  return absl::DataLossError("corrupt event key");
                }
                if (absl::Status s = DecodeEvent(value, &event); !s.ok()) {
                  return s;
                }
                return visit(event);
              });
}

absl::StatusOr<std::optional<EventCursor>> Tables::ReadEventCursor() const {
  absl::StatusOr<std::optional<std::string>> value =
      db_->Get(Family::kMeta, kEventCursorKey);
  if (!value.ok()) return value.status();
  if (!value->has_value()) return std::nullopt;
  EventCursor cursor;
  if (absl::Status s = DecodeEventCursor(**value, &cursor); !s.ok()) return s;
  return cursor;
}

void Tables::PutEventCursor(Batch& batch, const EventCursor& cursor) const {
  batch.Put(Family::kMeta, kEventCursorKey, EncodeEventCursor(cursor));
}

absl::StatusOr<std::optional<StoredWebhookEndpoint>>
Tables::ReadWebhookEndpoint(std::string_view organization,
                            std::string_view id) const {
  absl::StatusOr<std::optional<std::string>> value =
      db_->Get(Family::kMeta, WebhookKey(organization, id));
  if (!value.ok()) return value.status();
  if (!value->has_value()) return std::optional<StoredWebhookEndpoint>();
  StoredWebhookEndpoint stored;
  if (absl::Status s = DecodeWebhookEndpoint(**value, &stored); !s.ok()) {
    return s;
  }
  stored.endpoint.organization = std::string(organization);
  stored.endpoint.id = std::string(id);
  return std::optional<StoredWebhookEndpoint>(std::move(stored));
}

void Tables::PutWebhookEndpoint(Batch& batch,
                                const StoredWebhookEndpoint& stored) const {
  batch.Put(Family::kMeta,
            WebhookKey(stored.endpoint.organization, stored.endpoint.id),
            EncodeWebhookEndpoint(stored));
}

void Tables::DeleteWebhookEndpoint(Batch& batch, std::string_view organization,
                                   std::string_view id) const {
  batch.Delete(Family::kMeta, WebhookKey(organization, id));
}

namespace {

// DecodeWebhookRow decodes one row of the webhook endpoint range: its key
// names the organization and id, its value the rest.
absl::StatusOr<StoredWebhookEndpoint> DecodeWebhookRow(std::string_view key,
                                                       std::string_view value) {
  std::string_view org, id;
  if (!DecodeWebhookKey(key, &org, &id)) {
    return absl::DataLossError("corrupt webhook key");
  }
  StoredWebhookEndpoint stored;
  if (absl::Status s = DecodeWebhookEndpoint(value, &stored); !s.ok()) {
    return s;
  }
  stored.endpoint.organization = std::string(org);
  stored.endpoint.id = std::string(id);
  return stored;
}

}  // namespace

absl::Status Tables::ScanWebhookEndpoints(
    std::string_view organization,
    absl::FunctionRef<absl::StatusOr<ScanControl>(
        const StoredWebhookEndpoint&)>
        visit) const {
  return Scan(Family::kMeta, WebhookPrefix(organization), "",
              [&](std::string_view key,
                  std::string_view value) -> absl::StatusOr<ScanControl> {
                absl::StatusOr<StoredWebhookEndpoint> stored =
                    DecodeWebhookRow(key, value);
                if (!stored.ok()) return stored.status();
                return visit(*stored);
              });
}

absl::Status Tables::ScanAllWebhookEndpoints(
    absl::FunctionRef<absl::StatusOr<ScanControl>(
        const StoredWebhookEndpoint&)>
        visit) const {
  return Scan(Family::kMeta, kWebhookPrefix, "",
              [&](std::string_view key,
                  std::string_view value) -> absl::StatusOr<ScanControl> {
                absl::StatusOr<StoredWebhookEndpoint> stored =
                    DecodeWebhookRow(key, value);
                if (!stored.ok()) return stored.status();
                return visit(*stored);
              });
}

absl::StatusOr<std::optional<WebhookDeliveryState>>
Tables::ReadWebhookDeliveryState(std::string_view organization,
                                 std::string_view id) const {
  absl::StatusOr<std::optional<std::string>> value =
      db_->Get(Family::kMeta, WebhookDeliveryKey(organization, id));
  if (!value.ok()) return value.status();
  if (!value->has_value()) return std::optional<WebhookDeliveryState>();
  WebhookDeliveryState state;
  if (absl::Status s = DecodeWebhookDeliveryState(**value, &state); !s.ok()) {
    return s;
  }
  return std::optional<WebhookDeliveryState>(std::move(state));
}

void Tables::PutWebhookDeliveryState(Batch& batch,
                                     std::string_view organization,
                                     std::string_view id,
                                     const WebhookDeliveryState& state) const {
  batch.Put(Family::kMeta, WebhookDeliveryKey(organization, id),
            EncodeWebhookDeliveryState(state));
}

void Tables::DeleteWebhookDeliveryState(Batch& batch,
                                        std::string_view organization,
                                        std::string_view id) const {
  batch.Delete(Family::kMeta, WebhookDeliveryKey(organization, id));
}

absl::Status Tables::ScanTokens(const TokenRange& range,
                                TokenVisitor visit) const {
  return Scan(Family::kTokens, range.prefix(), "",
              [&](std::string_view key,
                  std::string_view value) -> absl::StatusOr<ScanControl> {
                StoredToken token;
                if (absl::Status s = DecodeFullToken(key, value, &token);
                    !s.ok()) {
                  return s;
                }
                return visit(token);
              });
}

absl::Status Tables::ScanTokensNewestFirst(
    std::string_view organization, std::string_view service_account,
    std::string_view start_after,
    absl::FunctionRef<absl::StatusOr<ScanControl>(const StoredToken&,
                                                  std::string_view)>
        visit) const {
  const std::string prefix = TokenPrefix(organization, service_account);
  return Scan(
      Family::kTokenTimes, prefix, start_after,
      [&](std::string_view key,
          std::string_view) -> absl::StatusOr<ScanControl> {
        // position = be64(~created micros) + slug.
        const std::string_view position = key.substr(prefix.size());
        if (position.size() <= 8) return absl::DataLossError("corrupt token time key");
        absl::StatusOr<std::optional<StoredToken>> token =
            ReadToken(organization, service_account, position.substr(8));
        if (!token.ok()) return token.status();
        // Purged, or deleted with its account, since the scan began.
        if (!token->has_value()) return ScanControl::kContinue;
        return visit(**token, position);
      });
}

absl::StatusOr<bool> Tables::FindActiveTokenName(
    std::string_view organization, std::string_view service_account,
    std::string_view name, absl::Time now) const {
  bool found = false;
  absl::Status status = ScanTokens(
      TokenRange::OfAccount(organization, service_account),
      [&](const StoredToken& token) {
        if (token.metadata.name == name && token.metadata.active(now) &&
            !token.metadata.rotated_out()) {
          found = true;
          return ScanControl::kStop;
        }
        return ScanControl::kContinue;
      });
  if (!status.ok()) return status;
  return found;
}

absl::StatusOr<uint64_t> Tables::CountActiveTokens(
    std::string_view organization, absl::Time now) const {
  uint64_t count = 0;
  absl::Status status = ScanTokens(TokenRange::OfOrganization(organization),
                                   [&](const StoredToken& token) {
                                     if (token.metadata.active(now)) ++count;
                                     return ScanControl::kContinue;
                                   });
  if (!status.ok()) return status;
  return count;
}

absl::StatusOr<bool> Tables::ContainsDigest(const Digest& digest) const {
  absl::StatusOr<std::optional<std::string>> value =
      db_->Get(Family::kDigests, DigestBytes(digest));
  if (!value.ok()) return value.status();
  if (!value->has_value()) return false;
  std::string_view token_key;
  if (absl::Status s = DecodeDigestRecord(**value, &token_key); !s.ok()) {
    return s;
  }
  return true;
}

}  // namespace keygate::storage

// lib/store/webhooks.cc: the webhook endpoint calls of the store.
//
// Endpoints live in the default CF's webhooks/ range (docs/storage-schema.md)
// and are read from storage on every call: they are few per organization
// and never on the verify path. The signing secret is sealed under the
// keyring's active pepper (lib/webhooks/secret_box.h), bound to the
// endpoint's key, and leaves the store only from create, rotate and
// WebhookSigningSecret.
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "keygate/errors.h"
#include "lib/crypto/sodium.h"
#include "lib/storage/keys.h"
#include "lib/store/store_impl.h"
#include "lib/store/validation.h"
#include "lib/webhooks/secret_box.h"
#include "lib/webhooks/signature.h"
#include "lib/webhooks/target_url.h"

namespace keygate::store {
namespace {

absl::Status WebhookNotFoundError() {
  return absl::NotFoundError("webhook endpoint not found");
}

// ReadEndpoint reads the organization's endpoint `id`, or NotFound.
absl::StatusOr<storage::StoredWebhookEndpoint> ReadEndpoint(
    const storage::Tables& tables, std::string_view organization,
    std::string_view id) {
  absl::StatusOr<std::optional<storage::StoredWebhookEndpoint>> read =
      tables.ReadWebhookEndpoint(organization, id);
  if (!read.ok()) return read.status();
  if (!read->has_value()) return WebhookNotFoundError();
  return **std::move(read);
}

void CheckWebhookId(std::string_view id, std::vector<FieldError>& errors) {
  if (!IsValidWebhookId(id)) {
    errors.push_back({"webhookId",
                      "must be wh_ followed by 26 characters of a-z and 2-7",
                      SafeValue(id)});
  }
}

void CheckUrl(std::string_view url, const WebhookTargetPolicy& policy,
              std::vector<FieldError>& errors) {
  absl::StatusOr<webhooks::WebhookUrl> checked =
      webhooks::CheckWebhookUrl(url, policy, "url");
  if (checked.ok()) return;
  for (FieldError& e : FieldErrorsOf(checked.status())) {
    errors.push_back(std::move(e));
  }
}

void CheckEventNames(const std::vector<std::string>& names,
                     std::vector<FieldError>& errors) {
  if (names.empty()) {
    errors.push_back({"eventNames", "must name at least one event", ""});
    return;
  }
  if (names.size() > WebhookEventNames().size()) {
    errors.push_back({"eventNames",
                      absl::StrCat("must name at most ",
                                   WebhookEventNames().size(), " events"),
                      ""});
    return;
  }
  absl::flat_hash_set<std::string_view> seen;
  for (size_t i = 0; i < names.size(); ++i) {
    std::string field = absl::StrCat("eventNames[", i, "]");
    if (!IsWebhookEventName(names[i])) {
      errors.push_back({field,
                        "is not a known event name (service_account.*, token.* "
                        "or webhook_endpoint.*, see the API reference)",
                        SafeValue(names[i])});
    } else if (!seen.insert(names[i]).second) {
      errors.push_back({field, "repeats an event name", SafeValue(names[i])});
    }
  }
}

void CheckDescription(std::string_view description,
                      std::vector<FieldError>& errors) {
  if (description.size() > kMaxWebhookDescriptionSize) {
    errors.push_back({"description",
                      absl::StrCat("must be at most ",
                                   kMaxWebhookDescriptionSize, " bytes"),
                      SafeValue(description)});
  } else if (!IsValidUtf8(description) || HasControlCharacter(description)) {
    errors.push_back({"description",
                      "must be valid UTF-8 without control characters",
                      SafeValue(description)});
  }
}

// NewWebhookId returns "wh_" + 26 base32 characters of 16 random bytes.
std::string NewWebhookId() {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
  uint8_t bytes[17] = {};
  crypto::RandomBytes(bytes, 16);
  std::string id = "wh_";
  uint32_t buffer = 0;
  int bits = 0;
  for (int i = 0; i < 17 && id.size() < 29; ++i) {
    buffer = (buffer << 8) | bytes[i];
    bits += 8;
    while (bits >= 5 && id.size() < 29) {
      id.push_back(kAlphabet[(buffer >> (bits - 5)) & 31]);
      bits -= 5;
    }
  }
  return id;
}

}  // namespace

absl::StatusOr<SecretString> StoreImpl::SealNewSecret(
    storage::StoredWebhookEndpoint& stored) const {
  absl::StatusOr<SecretString> secret = webhooks::GenerateSigningSecret();
  if (!secret.ok()) return secret.status();
  const int pepper_id = options_.keyring->active_id();
  absl::StatusOr<std::string> sealed = webhooks::SealSecret(
      *options_.keyring, pepper_id,
      storage::WebhookKey(stored.endpoint.organization, stored.endpoint.id),
      secret->view());
  if (!sealed.ok()) return sealed.status();
  stored.secret_pepper_id = pepper_id;
  stored.sealed_secret = *std::move(sealed);
  return secret;
}

absl::StatusOr<EndpointWithSecret> StoreImpl::CreateWebhookEndpoint(
    std::string_view organization, const WebhookEndpointSpec& spec,
    std::string_view actor) {
  std::vector<FieldError> errors;
  CheckIdentity("organization", organization, errors);
  CheckIdentity("actor", actor, errors);
  CheckUrl(spec.url, options_.webhook_targets, errors);
  CheckEventNames(spec.event_names, errors);
  CheckDescription(spec.description, errors);
  if (!errors.empty()) return ValidationError(std::move(errors));

  WriteGuard guard(this);
  if (!guard.status().ok()) return guard.status();
  size_t count = 0;
  absl::Status scanned = tables_->ScanWebhookEndpoints(
      organization,
      [&](const storage::StoredWebhookEndpoint&) -> absl::StatusOr<
                                                     storage::ScanControl> {
        ++count;
        return storage::ScanControl::kContinue;
      });
  if (!scanned.ok()) return scanned;
  if (count >= options_.max_webhook_endpoints_per_organization) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the organization has the maximum of ",
                     options_.max_webhook_endpoints_per_organization,
                     " webhook endpoints"));
  }
  storage::StoredWebhookEndpoint stored;
  WebhookEndpoint& endpoint = stored.endpoint;
  endpoint.organization = std::string(organization);
  for (int attempt = 0;; ++attempt) {
    endpoint.id = NewWebhookId();
    absl::StatusOr<std::optional<storage::StoredWebhookEndpoint>> existing =
        tables_->ReadWebhookEndpoint(organization, endpoint.id);
    if (!existing.ok()) return existing.status();
    if (!existing->has_value()) break;
    if (attempt == 3) return absl::InternalError("webhook id collisions");
  }
  endpoint.url = spec.url;
  endpoint.event_names = spec.event_names;
  endpoint.description = spec.description;
  endpoint.created_at = endpoint.updated_at = endpoint.secret_created_at =
      Now();
  endpoint.created_by = endpoint.updated_by = std::string(actor);
  absl::StatusOr<SecretString> secret = SealNewSecret(stored);
  if (!secret.ok()) return secret.status();

  storage::Batch batch;
  tables_->PutWebhookEndpoint(batch, stored);
  // A new endpoint gets the events recorded after it exists.
  WebhookDeliveryState delivery;
  delivery.cursor = events_.last_position();
  tables_->PutWebhookDeliveryState(batch, organization, endpoint.id, delivery);
  if (absl::Status s = CommitUnlogged(batch); !s.ok()) return s;
  return EndpointWithSecret{std::move(endpoint), *std::move(secret)};
}

absl::StatusOr<WebhookEndpoint> StoreImpl::GetWebhookEndpoint(
    std::string_view organization, std::string_view id) {
  std::vector<FieldError> errors;
  CheckIdentity("organization", organization, errors);
  CheckWebhookId(id, errors);
  if (!errors.empty()) return ValidationError(std::move(errors));
  ReadGuard guard(this);
  if (!guard.status().ok()) return guard.status();
  absl::StatusOr<storage::StoredWebhookEndpoint> stored =
      ReadEndpoint(*tables_, organization, id);
  if (!stored.ok()) return stored.status();
  return std::move(stored->endpoint);
}

absl::StatusOr<std::vector<WebhookEndpoint>> StoreImpl::ListWebhookEndpoints(
    std::string_view organization) {
  std::vector<FieldError> errors;
  CheckIdentity("organization", organization, errors);
  if (!errors.empty()) return ValidationError(std::move(errors));
  ReadGuard guard(this);
  if (!guard.status().ok()) return guard.status();
  std::vector<WebhookEndpoint> out;
  absl::Status status = tables_->ScanWebhookEndpoints(
      organization,
      [&](const storage::StoredWebhookEndpoint& stored)
          -> absl::StatusOr<storage::ScanControl> {
        out.push_back(stored.endpoint);
        return storage::ScanControl::kContinue;
      });
  if (!status.ok()) return status;
  return out;
}

absl::StatusOr<WebhookEndpoint> StoreImpl::UpdateWebhookEndpoint(
    std::string_view organization, std::string_view id,
    const WebhookEndpointPatch& patch, std::string_view actor) {
  std::vector<FieldError> errors;
  CheckIdentity("organization", organization, errors);
  CheckWebhookId(id, errors);
  CheckIdentity("actor", actor, errors);
  if (patch.url) CheckUrl(*patch.url, options_.webhook_targets, errors);
  if (patch.event_names) CheckEventNames(*patch.event_names, errors);
  if (patch.description) CheckDescription(*patch.description, errors);
  if (!errors.empty()) return ValidationError(std::move(errors));

  WriteGuard guard(this);
  if (!guard.status().ok()) return guard.status();
  absl::StatusOr<storage::StoredWebhookEndpoint> read =
      ReadEndpoint(*tables_, organization, id);
  if (!read.ok()) return read.status();
  storage::StoredWebhookEndpoint stored = *std::move(read);
  if (!patch.url && !patch.event_names && !patch.description &&
      !patch.disabled) {
    return std::move(stored.endpoint);
  }
  WebhookEndpoint& endpoint = stored.endpoint;
  if (patch.url) endpoint.url = *patch.url;
  if (patch.event_names) endpoint.event_names = *patch.event_names;
  if (patch.description) endpoint.description = *patch.description;
  const bool reenabled =
      patch.disabled && !*patch.disabled && endpoint.disabled;
  if (patch.disabled) endpoint.disabled = *patch.disabled;
  endpoint.updated_at = Now();
  endpoint.updated_by = std::string(actor);
  storage::Batch batch;
  tables_->PutWebhookEndpoint(batch, stored);
  if (reenabled) {
    // A re-enabled endpoint gets a full failure allowance again.
    absl::StatusOr<std::optional<WebhookDeliveryState>> delivery =
        tables_->ReadWebhookDeliveryState(organization, id);
    if (!delivery.ok()) return delivery.status();
    if (delivery->has_value() && (*delivery)->failure_streak != 0) {
      (*delivery)->failure_streak = 0;
      tables_->PutWebhookDeliveryState(batch, organization, id, **delivery);
    }
  }
  if (absl::Status s = CommitUnlogged(batch); !s.ok()) return s;
  return std::move(stored.endpoint);
}

absl::Status StoreImpl::DeleteWebhookEndpoint(std::string_view organization,
                                              std::string_view id,
                                              std::string_view actor) {
  std::vector<FieldError> errors;
  CheckIdentity("organization", organization, errors);
  CheckWebhookId(id, errors);
  CheckIdentity("actor", actor, errors);
  if (!errors.empty()) return ValidationError(std::move(errors));
  WriteGuard guard(this);
  if (!guard.status().ok()) return guard.status();
  absl::StatusOr<storage::StoredWebhookEndpoint> read =
      ReadEndpoint(*tables_, organization, id);
  if (!read.ok()) return read.status();
  storage::Batch batch;
  tables_->DeleteWebhookEndpoint(batch, organization, id);
  tables_->DeleteWebhookDeliveryState(batch, organization, id);
  return CommitUnlogged(batch);
}

absl::StatusOr<EndpointWithSecret> StoreImpl::RotateWebhookSecret(
    std::string_view organization, std::string_view id,
    std::string_view actor) {
  std::vector<FieldError> errors;
  CheckIdentity("organization", organization, errors);
  CheckWebhookId(id, errors);
  CheckIdentity("actor", actor, errors);
  if (!errors.empty()) return ValidationError(std::move(errors));
  WriteGuard guard(this);
  if (!guard.status().ok()) return guard.status();
  absl::StatusOr<storage::StoredWebhookEndpoint> read =
      ReadEndpoint(*tables_, organization, id);
  if (!read.ok()) return read.status();
  storage::StoredWebhookEndpoint stored = *std::move(read);
  absl::StatusOr<SecretString> secret = SealNewSecret(stored);
  if (!secret.ok()) return secret.status();
  stored.endpoint.secret_created_at = stored.endpoint.updated_at = Now();
  stored.endpoint.updated_by = std::string(actor);
  storage::Batch batch;
  tables_->PutWebhookEndpoint(batch, stored);
  if (absl::Status s = CommitUnlogged(batch); !s.ok()) return s;
  return EndpointWithSecret{std::move(stored.endpoint), *std::move(secret)};
}

absl::StatusOr<SecretString> StoreImpl::WebhookSigningSecret(
    std::string_view organization, std::string_view id) {
  std::vector<FieldError> errors;
  CheckIdentity("organization", organization, errors);
  CheckWebhookId(id, errors);
  if (!errors.empty()) return ValidationError(std::move(errors));
  ReadGuard guard(this);
  if (!guard.status().ok()) return guard.status();
  absl::StatusOr<storage::StoredWebhookEndpoint> stored =
      ReadEndpoint(*tables_, organization, id);
  if (!stored.ok()) return stored.status();
  return webhooks::OpenSecret(*options_.keyring, stored->secret_pepper_id,
                              storage::WebhookKey(organization, id),
                              stored->sealed_secret);
}

}  // namespace keygate::store

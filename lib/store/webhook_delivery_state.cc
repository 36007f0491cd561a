// lib/store/webhook_delivery_state.cc: the store calls that keep each
// webhook endpoint's delivery state (keygate/webhook_delivery.h): the
// cursor, the failure streak and the ring of recent attempts, in the
// webhook_delivery/ range of the default CF (docs/storage-schema.md). The
// writes are unlogged like the endpoints themselves: followers never
// deliver.
#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "keygate/webhook_delivery.h"
#include "lib/store/store_impl.h"
#include "lib/store/validation.h"

namespace keygate {

std::string_view WebhookDeliveryErrorName(WebhookDeliveryError error) {
  switch (error) {
    case WebhookDeliveryError::kNone:
      return "";
    case WebhookDeliveryError::kTimeout:
      return "timeout";
    case WebhookDeliveryError::kConnection:
      return "connection";
    case WebhookDeliveryError::kRefusedTarget:
      return "refused_target";
    case WebhookDeliveryError::kProtocol:
      return "protocol";
    case WebhookDeliveryError::kUnsupported:
      return "unsupported";
    case WebhookDeliveryError::kInternal:
      return "internal";
    case WebhookDeliveryError::kTls:
      return "tls";
  }
  return "unknown";
}

namespace store {
namespace {

absl::Status CheckEndpointName(std::string_view organization,
                               std::string_view id) {
  std::vector<FieldError> errors;
  CheckIdentity("organization", organization, errors);
  if (!IsValidWebhookId(id)) {
    errors.push_back({"webhookId",
                      "must be wh_ followed by 26 characters of a-z and 2-7",
                      SafeValue(id)});
  }
  if (!errors.empty()) return ValidationError(std::move(errors));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<WebhookEndpoint>>
StoreImpl::ListAllWebhookEndpoints() {
  ReadGuard guard(this);
  if (!guard.status().ok()) return guard.status();
  std::vector<WebhookEndpoint> out;
  absl::Status status = tables_->ScanAllWebhookEndpoints(
      [&](const storage::StoredWebhookEndpoint& stored)
          -> absl::StatusOr<storage::ScanControl> {
        out.push_back(stored.endpoint);
        return storage::ScanControl::kContinue;
      });
  if (!status.ok()) return status;
  return out;
}

absl::StatusOr<WebhookDeliveryState> StoreImpl::GetWebhookDeliveryState(
    std::string_view organization, std::string_view id) {
  if (absl::Status s = CheckEndpointName(organization, id); !s.ok()) return s;
  ReadGuard guard(this);
  if (!guard.status().ok()) return guard.status();
  absl::StatusOr<std::optional<storage::StoredWebhookEndpoint>> endpoint =
      tables_->ReadWebhookEndpoint(organization, id);
  if (!endpoint.ok()) return endpoint.status();
  if (!endpoint->has_value()) {
    return absl::NotFoundError("webhook endpoint not found");
  }
  absl::StatusOr<std::optional<WebhookDeliveryState>> state =
      tables_->ReadWebhookDeliveryState(organization, id);
  if (!state.ok()) return state.status();
  return state->value_or(WebhookDeliveryState());
}

absl::StatusOr<WebhookDeliveryState> StoreImpl::RecordWebhookDelivery(
    std::string_view organization, std::string_view id,
    const WebhookDeliveryUpdate& update) {
  if (absl::Status s = CheckEndpointName(organization, id); !s.ok()) return s;
  WriteGuard guard(this);
  if (!guard.status().ok()) return guard.status();
  absl::StatusOr<std::optional<storage::StoredWebhookEndpoint>> read =
      tables_->ReadWebhookEndpoint(organization, id);
  if (!read.ok()) return read.status();
  if (!read->has_value()) {
    return absl::NotFoundError("webhook endpoint not found");
  }
  storage::StoredWebhookEndpoint stored = **std::move(read);
  absl::StatusOr<std::optional<WebhookDeliveryState>> old =
      tables_->ReadWebhookDeliveryState(organization, id);
  if (!old.ok()) return old.status();
  WebhookDeliveryState state = old->value_or(WebhookDeliveryState());

  state.cursor = std::max(state.cursor, update.cursor);
  bool open_circuit = false;
  if (update.attempt) {
    if (update.attempt->succeeded()) {
      state.failure_streak = 0;
    } else {
      ++state.failure_streak;
      open_circuit = update.failure_streak_limit > 0 &&
                     state.failure_streak >= update.failure_streak_limit &&
                     !stored.endpoint.disabled;
    }
    state.recent_attempts.insert(state.recent_attempts.begin(),
                                 *update.attempt);
    if (state.recent_attempts.size() > kMaxWebhookDeliveryAttemptsKept) {
      state.recent_attempts.resize(kMaxWebhookDeliveryAttemptsKept);
    }
  }

  storage::Batch batch;
  tables_->PutWebhookDeliveryState(batch, organization, id, state);
  std::optional<EventOutbox::Appended> appended;
  if (open_circuit) {
    stored.endpoint.disabled = true;
    stored.endpoint.updated_at = Now();
    stored.endpoint.updated_by = kWebhookDeliveryActor;
    tables_->PutWebhookEndpoint(batch, stored);
    if (options_.record_events) {
      Event event;
      event.type = EventType::kWebhookEndpointDisabled;
      event.organization = std::string(organization);
      event.actor = kWebhookDeliveryActor;
      event.webhook_endpoint = stored.endpoint;
      event.webhook_endpoint->event_names.clear();
      std::vector<Event> events{std::move(event)};
      appended = events_.Append(*tables_, batch, events, Now());
    }
  }
  if (absl::Status s = CommitUnlogged(batch); !s.ok()) return s;
  if (appended) events_.Committed(*appended);
  return state;
}

}  // namespace store
}  // namespace keygate

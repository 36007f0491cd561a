// keygate/event.h: the event outbox's record of one lifecycle change
// (Store::ReadEvents, Store::AckEvents; docs/storage-schema.md, "Events").
#ifndef KEYGATE_EVENT_H_
#define KEYGATE_EVENT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "keygate/service_account.h"
#include "keygate/token.h"
#include "keygate/webhook.h"

namespace keygate {

// EventType is what happened. Each has the name a webhook endpoint
// subscribes to (EventTypeName; the same strings, in the same order, as
// WebhookEventNames() in keygate/webhook.h). Values are stored: never
// renumber.
enum class EventType : uint8_t {
  kServiceAccountCreated = 1,   // "service_account.created"
  kServiceAccountUpdated = 2,   // "service_account.updated" (rename)
  kServiceAccountDisabled = 3,  // "service_account.disabled"
  kServiceAccountEnabled = 4,   // "service_account.enabled"
  kServiceAccountDeleted = 5,   // "service_account.deleted"
  kTokenCreated = 6,            // "token.created"
  kTokenRotated = 7,            // "token.rotated"
  kTokenRevoked = 8,            // "token.revoked"
  kTokenExpired = 9,            // "token.expired"
  kTokenPurged = 10,            // "token.purged"
  kTokenLeaked = 11,            // "token.leaked" (after the token.revoked
                                // of a revocation by kRevokedByLeak)
  kTokenExpiring = 12,          // "token.expiring"
  kWebhookEndpointDisabled = 13,  // "webhook_endpoint.disabled" (the
                                  // delivery circuit opened; actor
                                  // kWebhookDeliveryActor)
};

// EventTypeName returns the event's webhook name, e.g. "token.created".
std::string_view EventTypeName(EventType type);

// kPurgeEventActor is the actor of the token.purged events PurgeRetired
// records (the retention policy, not a caller, deletes them).
inline constexpr char kPurgeEventActor[] = "retention";
// kExpiryEventActor is the actor of token.expired and token.expiring
// (Store::EmitDueEvents).
inline constexpr char kExpiryEventActor[] = "scheduler";

// Event is one lifecycle change, recorded in the same atomic write as the
// change itself: an event exists if and only if its change was committed.
// It carries the resource's metadata as the change left it, never a token
// value and never a digest.
struct Event {
  // Where the event sits in the outbox: positions start at 1, strictly
  // increase in commit order across all organizations, and are never
  // reused by the store (acknowledged or trimmed positions included).
  uint64_t position = 0;
  // A random id ("evt_" + 32 lowercase hex digits), unique across stores,
  // fixed when the event is recorded: use it as the Standard Webhooks
  // `webhook-id` so receivers can drop redeliveries.
  std::string id;
  std::string organization;
  EventType type = EventType::kServiceAccountUpdated;
  // When the change committed (stored, microsecond precision).
  absl::Time time = absl::UnixEpoch();
  // Who made the change: the actor of the call (kPurgeEventActor for
  // token.purged, kExpiryEventActor for token.expired and token.expiring).
  std::string actor;
  // The resource: exactly one is set. service_account.* events carry the
  // account (for service_account.deleted, as it was just before the
  // delete); token.* events carry the token's metadata (last_used_at is
  // never set: it is not part of a change); webhook_endpoint.disabled
  // carries the endpoint's organization, id, url, description, disabled,
  // updated_at and updated_by (no event names, never its secret).
  std::optional<ServiceAccount> service_account;
  std::optional<TokenMetadata> token;
  std::optional<WebhookEndpoint> webhook_endpoint;
};

}  // namespace keygate

#endif  // KEYGATE_EVENT_H_

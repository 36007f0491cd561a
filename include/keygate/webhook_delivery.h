// keygate/webhook_delivery.h: the durable delivery state of one webhook
// endpoint: how far through the event outbox it has been served, its
// current streak of failed attempts, and its most recent attempts
// (Store::GetWebhookDeliveryState, Store::RecordWebhookDelivery; the engine
// that fills it is keygate/webhook_deliverer.h).
#ifndef KEYGATE_WEBHOOK_DELIVERY_H_
#define KEYGATE_WEBHOOK_DELIVERY_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "keygate/event.h"

namespace keygate {

// kMaxWebhookDeliveryAttemptsKept is how many of an endpoint's most recent
// attempts its state keeps (older ones are dropped, oldest first).
inline constexpr size_t kMaxWebhookDeliveryAttemptsKept = 20;

// WebhookDeliveryError is why an attempt got no HTTP status.
enum class WebhookDeliveryError : uint8_t {
  kNone = 0,            // an HTTP response arrived (see http_status)
  kTimeout = 1,         // connect, write or read took too long
  kConnection = 2,      // DNS failure, refused or reset connection
  kRefusedTarget = 3,   // a resolved address is refused by the policy
  kProtocol = 4,        // the response was not valid HTTP/1.1 (or too big)
  kUnsupported = 5,     // e.g. an https:// URL with a transport without TLS
  kInternal = 6,        // keygate could not sign or build the request
  kTls = 7,             // TLS handshake or certificate verification failed
};
// The stored byte of each value above is fixed (docs/storage-schema.md); a
// state read back may hold a byte a newer keygate wrote that this one does
// not name (WebhookDeliveryErrorName then says "unknown").

// WebhookDeliveryErrorName returns "timeout", "connection",
// "refused_target", "protocol", "unsupported", "internal" or "tls" ("" for
// kNone, "unknown" for a value not listed above).
std::string_view WebhookDeliveryErrorName(WebhookDeliveryError error);

// WebhookDeliveryAttempt is one POST of one event to one endpoint.
struct WebhookDeliveryAttempt {
  std::string event_id;  // Event::id, the webhook-id header
  EventType event_type = EventType::kServiceAccountCreated;
  uint64_t event_position = 0;
  uint32_t attempt = 1;  // 1 for the first try of this event
  absl::Time time = absl::UnixEpoch();  // when it started
  // The response's status, 0 if none (then `error` says why).
  int http_status = 0;
  WebhookDeliveryError error = WebhookDeliveryError::kNone;
  absl::Duration latency = absl::ZeroDuration();
  // succeeded: a 2xx response.
  bool succeeded() const { return http_status >= 200 && http_status < 300; }
};

// WebhookDeliveryState is an endpoint's delivery progress.
struct WebhookDeliveryState {
  // Every outbox event at or below this position is finished for the
  // endpoint (delivered, permanently refused, or not its business). A new
  // endpoint starts at the newest position when it is created.
  uint64_t cursor = 0;
  // Consecutive failed attempts since the last success (or since the
  // endpoint was re-enabled).
  uint32_t failure_streak = 0;
  // The last kMaxWebhookDeliveryAttemptsKept attempts, newest first.
  std::vector<WebhookDeliveryAttempt> recent_attempts;
};

// WebhookDeliveryUpdate is what Store::RecordWebhookDelivery writes.
struct WebhookDeliveryUpdate {
  // The attempt to add to the state, if any (none: only the cursor moves,
  // past events the endpoint does not subscribe to).
  std::optional<WebhookDeliveryAttempt> attempt;
  // The new cursor; a value below the stored one leaves it as it is.
  uint64_t cursor = 0;
  // With a failed attempt that brings failure_streak to this value or
  // more, the endpoint is disabled in the same write (actor
  // kWebhookDeliveryActor) and a webhook_endpoint.disabled event recorded
  // (with Options::record_events). 0 never disables.
  uint32_t failure_streak_limit = 0;
};

// kWebhookDeliveryActor is the actor of the endpoint updates and events the
// delivery engine makes (the circuit disabling an endpoint).
inline constexpr char kWebhookDeliveryActor[] = "webhook-delivery";

}  // namespace keygate

#endif  // KEYGATE_WEBHOOK_DELIVERY_H_

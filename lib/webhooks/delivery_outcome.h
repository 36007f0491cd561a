// lib/webhooks/delivery_outcome.h: what the delivery engine does after an
// attempt, from the transport's answer.
#ifndef KEYGATE_LIB_WEBHOOKS_DELIVERY_OUTCOME_H_
#define KEYGATE_LIB_WEBHOOKS_DELIVERY_OUTCOME_H_

#include "keygate/webhook_transport.h"

namespace keygate::webhooks {

enum class DeliveryOutcome {
  kDelivered,         // 2xx: the event is done
  kPermanentFailure,  // 4xx other than 408/429: the event is done, failed
  kRetry,             // anything else: try the same event again later
};

// ClassifyDelivery maps a response to its outcome: 2xx delivered; 4xx
// except 408 (Request Timeout) and 429 (Too Many Requests) permanent;
// timeouts, connection errors, refused targets, 1xx/3xx (redirects are not
// followed), 408, 429 and 5xx retried. Pure, thread-safe.
DeliveryOutcome ClassifyDelivery(const WebhookResponse& response);

}  // namespace keygate::webhooks

#endif  // KEYGATE_LIB_WEBHOOKS_DELIVERY_OUTCOME_H_

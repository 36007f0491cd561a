// lib/webhooks/delivery_payload.h: the JSON body of a webhook delivery.
//
// Standard Webhooks convention: {"type": <event name>, "timestamp": <RFC
// 3339 time of the event>, "data": {...}}. `data` carries the event's id,
// position, organization and actor and the resource's metadata with the
// same member names as the management API (serviceAccount / token /
// webhookEndpoint); never a token value, a digest or a signing secret.
#ifndef KEYGATE_LIB_WEBHOOKS_DELIVERY_PAYLOAD_H_
#define KEYGATE_LIB_WEBHOOKS_DELIVERY_PAYLOAD_H_

#include <string>

#include "keygate/event.h"

namespace keygate::webhooks {

// DeliveryPayload returns the JSON body for `event`. Thread-safe, pure.
std::string DeliveryPayload(const Event& event);

}  // namespace keygate::webhooks

#endif  // KEYGATE_LIB_WEBHOOKS_DELIVERY_PAYLOAD_H_

#include "lib/webhooks/delivery_outcome.h"

namespace keygate::webhooks {

DeliveryOutcome ClassifyDelivery(const WebhookResponse& response) {
  const int status = response.http_status;
  if (response.error != WebhookDeliveryError::kNone || status == 0) {
    return DeliveryOutcome::kRetry;
  }
  if (status >= 200 && status < 300) return DeliveryOutcome::kDelivered;
  if (status >= 400 && status < 500 && status != 408 && status != 429) {
    return DeliveryOutcome::kPermanentFailure;
  }
  return DeliveryOutcome::kRetry;
}

}  // namespace keygate::webhooks

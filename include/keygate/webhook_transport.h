// keygate/webhook_transport.h: the one HTTP call the webhook delivery
// engine makes (keygate/webhook_deliverer.h), behind an interface so that a
// host can bring its own HTTP client and tests can inject failures.
#ifndef KEYGATE_WEBHOOK_TRANSPORT_H_
#define KEYGATE_WEBHOOK_TRANSPORT_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "keygate/webhook.h"
#include "keygate/webhook_delivery.h"

namespace keygate {

// WebhookRequest is one signed POST of an event to an endpoint.
struct WebhookRequest {
  // The endpoint's URL as stored (http or https, checked when stored).
  std::string url;
  // The endpoint's organization and id (for a transport's own logs; never
  // a secret).
  std::string organization;
  std::string endpoint_id;
  // Headers to send as they are: content-type, webhook-id,
  // webhook-timestamp, webhook-signature, user-agent.
  std::vector<std::pair<std::string, std::string>> headers;
  // The JSON body.
  std::string body;
  // The policy every resolved address must pass before connecting.
  WebhookTargetPolicy target_policy;
  // Budget of the whole exchange (resolve, connect, write, read).
  absl::Duration timeout = absl::Seconds(10);
};

// WebhookResponse is what came back: a status, or why there was none.
struct WebhookResponse {
  // The HTTP status, 0 if no response (then error says why).
  int http_status = 0;
  WebhookDeliveryError error = WebhookDeliveryError::kNone;
};

// WebhookTransport sends WebhookRequests. Implementations must be safe for
// concurrent use (the engine calls Post from several threads, one request
// per endpoint at a time), must return within about request.timeout, must
// not follow redirects, and must refuse to connect when any address the
// URL's host resolves to is refused by request.target_policy (then
// kRefusedTarget), connecting only to the addresses it checked.
class WebhookTransport {
 public:
  virtual ~WebhookTransport() = default;
  virtual WebhookResponse Post(const WebhookRequest& request) = 0;
};

}  // namespace keygate

#endif  // KEYGATE_WEBHOOK_TRANSPORT_H_

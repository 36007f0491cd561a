// keygate/webhook.h: an organization's webhook endpoints: where keygate
// sends signed event notifications, which events, and the signing secret.
//
// Endpoints are managed through Store (keygate/store.h); delivery itself is
// not part of this header. The signing secret follows Standard Webhooks
// (https://www.standardwebhooks.com): "whsec_" followed by the base64 of 32
// random bytes, shown once when created or rotated.
#ifndef KEYGATE_WEBHOOK_H_
#define KEYGATE_WEBHOOK_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "keygate/secret_string.h"

namespace keygate {

// kMaxWebhookUrlSize bounds an endpoint URL, in bytes.
inline constexpr size_t kMaxWebhookUrlSize = 2048;
// kMaxWebhookDescriptionSize bounds an endpoint description, in bytes.
inline constexpr size_t kMaxWebhookDescriptionSize = 500;
// kWebhookSecretPrefix starts every signing secret.
inline constexpr std::string_view kWebhookSecretPrefix = "whsec_";

// WebhookEventNames lists every event an endpoint may subscribe to
// ("service_account.created", ..., "token.expiring",
// "webhook_endpoint.disabled"), in a fixed order (EventType order).
const std::vector<std::string_view>& WebhookEventNames();

// IsWebhookEventName reports whether `name` is one of WebhookEventNames().
bool IsWebhookEventName(std::string_view name);

// WebhookTargetPolicy decides which URLs an endpoint may point at, so that a
// tenant cannot aim the host's deliveries at the host's own network. The
// URL must be http or https, with no user info and no fragment. Host names
// are compared lowercase, without a trailing dot.
struct WebhookTargetPolicy {
  // Allow loopback, private, link-local and other non-public addresses and
  // names (localhost, *.local, *.internal, single-label names). For local
  // testing only: a tenant could then reach the host's internal network.
  // Default: false.
  bool allow_private_targets = false;
  // Allow plain http:// URLs (https:// is always allowed). Default: true.
  bool allow_http = true;
  // If not empty, the only hosts allowed: an entry "example.com" matches
  // that host exactly, ".example.com" every host under it (not the domain
  // itself). Non-public addresses stay refused unless
  // allow_private_targets. Default: empty (any public host).
  std::vector<std::string> allowed_hosts;
  // Hosts always refused, same matching as allowed_hosts. Default: empty.
  std::vector<std::string> denied_hosts;
};

// WebhookEndpointSpec is what CreateWebhookEndpoint needs.
struct WebhookEndpointSpec {
  // Absolute http(s) URL, at most kMaxWebhookUrlSize bytes of printable
  // ASCII (international names in punycode), accepted by the store's
  // WebhookTargetPolicy.
  std::string url;
  // One or more names from WebhookEventNames(), without repeats.
  std::vector<std::string> event_names;
  // Free text for people, up to kMaxWebhookDescriptionSize bytes of valid
  // UTF-8 without control characters; may be empty.
  std::string description;
};

// WebhookEndpointPatch changes an endpoint; unset fields stay as they are.
struct WebhookEndpointPatch {
  std::optional<std::string> url;
  std::optional<std::vector<std::string>> event_names;
  std::optional<std::string> description;
  // A disabled endpoint is kept but receives nothing.
  std::optional<bool> disabled;
};

// WebhookEndpoint is an endpoint as stored, without its secret.
struct WebhookEndpoint {
  std::string organization;
  // "wh_" followed by 26 lowercase base32 characters (128 random bits).
  std::string id;
  std::string url;
  std::vector<std::string> event_names;
  std::string description;
  bool disabled = false;
  absl::Time created_at = absl::InfinitePast();
  std::string created_by;
  absl::Time updated_at = absl::InfinitePast();
  std::string updated_by;
  // When the current signing secret was made (creation or last rotation).
  absl::Time secret_created_at = absl::InfinitePast();
};

// EndpointWithSecret is an endpoint together with its signing secret
// ("whsec_..."), returned by create and rotate, the only calls that show
// it. The secret is wiped when this is destroyed.
struct EndpointWithSecret {
  WebhookEndpoint endpoint;
  SecretString signing_secret;
};

// IsValidWebhookId reports whether `id` has the form of an endpoint id.
bool IsValidWebhookId(std::string_view id);

}  // namespace keygate

#endif  // KEYGATE_WEBHOOK_H_

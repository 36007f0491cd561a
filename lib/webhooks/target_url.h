// lib/webhooks/target_url.h: parsing a webhook URL and checking it against
// a WebhookTargetPolicy.
//
// The parser is deliberately narrower than RFC 3986 and WHATWG: it accepts
// only what a delivery client and every URL library read the same way, so
// no "userinfo@host", backslash or percent-encoded-host trick can make the
// checked host differ from the host a client connects to.
#ifndef KEYGATE_LIB_WEBHOOKS_TARGET_URL_H_
#define KEYGATE_LIB_WEBHOOKS_TARGET_URL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "keygate/webhook.h"
#include "lib/webhooks/target_address.h"

namespace keygate::webhooks {

// WebhookUrl is a parsed webhook URL.
struct WebhookUrl {
  bool https = false;
  // Lowercase; without brackets for IPv6; without a trailing dot.
  std::string host;
  uint16_t port = 0;  // explicit or the scheme's default
  std::string path_and_query;  // "/" if the URL had none
  // Set when the host is an address literal (IPv4 in any inet_aton form,
  // or IPv6), as the address a client would connect to.
  std::optional<uint32_t> ipv4;
  std::optional<Ipv6Bytes> ipv6;
};

// ParseWebhookUrl parses `url`. On failure returns InvalidArgument whose
// message says why (safe to show: it never repeats the URL).
absl::StatusOr<WebhookUrl> ParseWebhookUrl(std::string_view url);

// CheckWebhookUrl parses `url` and applies `policy`: the URL's scheme, its
// host list entries, and for an address literal its AddressClass; a
// non-literal host is refused if it is a local name (localhost,
// *.localhost, *.local, *.internal, *.home.arpa, *.localdomain, or a single
// label). Returns the parsed URL, or InvalidArgument with a FieldError on
// `field` saying why. A name that passes must be checked again after DNS
// resolution, at delivery (ClassifyIpv4/ClassifyIpv6 on each address).
absl::StatusOr<WebhookUrl> CheckWebhookUrl(std::string_view url,
                                           const WebhookTargetPolicy& policy,
                                           std::string_view field);

}  // namespace keygate::webhooks

#endif  // KEYGATE_LIB_WEBHOOKS_TARGET_URL_H_

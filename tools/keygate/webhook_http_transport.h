// tools/keygate/webhook_http_transport.h: the WebhookTransport of `keygate
// serve` (keygate/webhook_transport.h), on Boost.Beast.
//
// Plain HTTP/1.1 only: an https:// endpoint gets kUnsupported (TLS is not
// built yet). Each Post: checks the URL against the request's policy,
// resolves the host once, refuses (kRefusedTarget) if ANY resolved address
// is not allowed by the policy, connects only to those checked addresses
// (never resolving again), sends the request with "Connection: close",
// reads the response header only (the body is discarded unread) within a
// bound of 16 KiB, and follows no redirect. The whole exchange runs under
// request.timeout (kTimeout), except name resolution, which is the
// system resolver's own (blocking getaddrinfo). Thread-safe: every Post
// has its own io_context and socket.
#ifndef KEYGATE_TOOLS_KEYGATE_WEBHOOK_HTTP_TRANSPORT_H_
#define KEYGATE_TOOLS_KEYGATE_WEBHOOK_HTTP_TRANSPORT_H_

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "keygate/webhook_transport.h"

namespace keygate::tool {

class WebhookHttpTransport final : public WebhookTransport {
 public:
  // HostResolver returns the addresses (IPv4 or IPv6 text) `host` resolves
  // to, empty if it does not resolve. Tests inject one to model DNS
  // answers; the default is the system resolver.
  using HostResolver =
      std::function<std::vector<std::string>(const std::string& host)>;

  explicit WebhookHttpTransport(HostResolver resolver = nullptr)
      : resolver_(std::move(resolver)) {}

  WebhookResponse Post(const WebhookRequest& request) override;

 private:
  const HostResolver resolver_;
};

}  // namespace keygate::tool

#endif  // KEYGATE_TOOLS_KEYGATE_WEBHOOK_HTTP_TRANSPORT_H_

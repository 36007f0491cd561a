// tools/keygate/webhook_http_transport.h: the WebhookTransport of `keygate
// serve` (keygate/webhook_transport.h), on Boost.Beast, with TLS from
// Boost.Asio ssl over OpenSSL.
//
// Each Post: checks the URL against the request's policy, resolves the
// host once (webhook_host_lookup.h: under the attempt's deadline, a capped
// number of lookups in flight), refuses (kRefusedTarget) if ANY resolved
// address is not allowed by the policy, connects only to those checked
// addresses (never resolving again); for https:// runs a TLS handshake
// that verifies the receiver's certificate chain and its subjectAltName
// against the URL's host (webhook_tls_context.h; any handshake or
// verification failure, or a TLS alert or error later on the connection
// such as a TLS 1.3 receiver refusing the client after its Finished:
// kTls); sends the request with "Connection: close",
// reads the response header only (the body is discarded unread) within a
// bound of 16 KiB, and follows no redirect. Everything, name resolution
// and handshake included, runs under request.timeout (kTimeout; clamped
// to 24 h, so an infinite timeout is a long one). Nothing throws out of
// Post. Thread-safe: every Post has its own io_context,
// socket and SSL object; the TLS context and the lookup are shared.
#ifndef KEYGATE_TOOLS_KEYGATE_WEBHOOK_HTTP_TRANSPORT_H_
#define KEYGATE_TOOLS_KEYGATE_WEBHOOK_HTTP_TRANSPORT_H_

#include <memory>

#include "keygate/webhook_transport.h"
#include "tools/keygate/webhook_host_lookup.h"
#include "tools/keygate/webhook_tls_context.h"

namespace keygate::tool {

// WebhookHttpTransportOptions configures a WebhookHttpTransport.
struct WebhookHttpTransportOptions {
  // How host names are resolved; tests inject one to model DNS answers.
  // Default: SystemHostResolver (getaddrinfo).
  HostResolver resolver;
  // The TLS client configuration of https:// endpoints.
  // Default: WebhookTlsContext::Create("") (the system trust store); if
  // that cannot be built, https:// deliveries fail with kInternal.
  std::shared_ptr<WebhookTlsContext> tls;
  // Runs the resolver under each attempt's deadline.
  // Default: a WebhookHostLookup of its own (64 lookups in flight).
  std::shared_ptr<WebhookHostLookup> lookup;
};

class WebhookHttpTransport final : public WebhookTransport {
 public:
  using HostResolver = tool::HostResolver;

  // A transport with the system resolver (or `resolver`) and the system
  // trust store.
  explicit WebhookHttpTransport(HostResolver resolver = nullptr);
  explicit WebhookHttpTransport(WebhookHttpTransportOptions options);

  WebhookResponse Post(const WebhookRequest& request) override;

 private:
  WebhookResponse PostOrThrow(const WebhookRequest& request);

  const HostResolver resolver_;
  const std::shared_ptr<WebhookTlsContext> tls_;  // null: https fails
  const std::shared_ptr<WebhookHostLookup> lookup_;
};

}  // namespace keygate::tool

#endif  // KEYGATE_TOOLS_KEYGATE_WEBHOOK_HTTP_TRANSPORT_H_

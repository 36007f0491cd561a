// tools/keygate/webhook_tls_context.h: the TLS client configuration of
// webhook delivery over https (tools/keygate/webhook_http_transport.h).
//
// One OpenSSL context, built once per transport: the receiver's
// certificate chain must verify against the system trust store (Debian's
// /etc/ssl/certs), or against only the PEM CA file given instead (serve's
// --webhook-ca-file); TLS 1.2 at least; for TLS 1.2 only ECDHE key exchange
// with AEAD ciphers (AES-GCM, ChaCha20-Poly1305); key-exchange groups
// X25519, P-256, P-384; no compression, no renegotiation, no session
// tickets. Each connection (ConfigureConnection) then checks the URL's
// host against the leaf certificate's subjectAltName only: a DNS name (no
// fallback to the subject CN, no partial wildcards) or, for an IP literal,
// an IP address entry; SNI is sent for names only.
#ifndef KEYGATE_TOOLS_KEYGATE_WEBHOOK_TLS_CONTEXT_H_
#define KEYGATE_TOOLS_KEYGATE_WEBHOOK_TLS_CONTEXT_H_

#include <memory>
#include <string>

#include <boost/asio/ssl/context.hpp>
#include <openssl/ssl.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace keygate::tool {

// WebhookTlsContext owns the ssl::context every https delivery of one
// transport uses. Immutable once built: safe for concurrent use without
// external synchronization (each connection has its own SSL object).
class WebhookTlsContext {
 public:
  // Create builds the context. `ca_file` empty: verify against the system
  // trust store; else only against the certificates of that PEM file
  // (InvalidArgument if it cannot be read or holds none). Internal if
  // OpenSSL refuses the configuration. Error messages name the file,
  // never its contents.
  static absl::StatusOr<std::unique_ptr<WebhookTlsContext>> Create(
      const std::string& ca_file);

  WebhookTlsContext(const WebhookTlsContext&) = delete;
  WebhookTlsContext& operator=(const WebhookTlsContext&) = delete;

  // context returns the context to build ssl::streams on; lives as long as
  // this object.
  boost::asio::ssl::context& context() { return context_; }

  // ConfigureConnection sets on `ssl` (a fresh client SSL of context()) the
  // identity the peer's certificate must prove: `host` is a DNS name, or,
  // when `ip_literal`, an IPv4 or IPv6 address in text without brackets.
  // Sends SNI for a name. InvalidArgument if OpenSSL refuses the host.
  static absl::Status ConfigureConnection(SSL* ssl, const std::string& host,
                                          bool ip_literal);

 private:
  WebhookTlsContext();
  boost::asio::ssl::context context_;
};

}  // namespace keygate::tool

#endif  // KEYGATE_TOOLS_KEYGATE_WEBHOOK_TLS_CONTEXT_H_

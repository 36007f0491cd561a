#include "tools/keygate/webhook_tls_context.h"

#include <exception>

#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "absl/strings/str_cat.h"

namespace keygate::tool {
namespace {

namespace ssl = boost::asio::ssl;

// TLS 1.2 suites: ECDHE (forward secrecy) with an AEAD only. TLS 1.3's own
// suites are all AEAD with (EC)DHE and keep OpenSSL's default.
constexpr char kTls12Ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr char kGroups[] = "X25519:P-256:P-384";
// Generous for real chains (leaf, intermediates, root), bounded anyway.
constexpr int kMaxChainDepth = 8;

}  // namespace

WebhookTlsContext::WebhookTlsContext() : context_(ssl::context::tls_client) {}

absl::StatusOr<std::unique_ptr<WebhookTlsContext>> WebhookTlsContext::Create(
    const std::string& ca_file) {
  std::unique_ptr<WebhookTlsContext> tls;
  try {
    tls.reset(new WebhookTlsContext());
  } catch (const std::exception&) {
    ERR_clear_error();
    return absl::InternalError("webhook TLS: cannot create an OpenSSL context");
  }
  SSL_CTX* ctx = tls->context_.native_handle();
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1 ||
      SSL_CTX_set1_groups_list(ctx, kGroups) != 1) {
    ERR_clear_error();
    return absl::InternalError(
        "webhook TLS: OpenSSL refused the protocol, cipher or group settings");
  }
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_NO_TICKET);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_verify_depth(ctx, kMaxChainDepth);
  if (ca_file.empty()) {
    if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
      ERR_clear_error();
      return absl::InternalError(
          "webhook TLS: cannot use the system trust store");
    }
  } else if (SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr) !=
             1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat("--webhook-ca-file: cannot read PEM CA certificates "
                     "from ",
                     ca_file));
  }
  return tls;
}

absl::Status WebhookTlsContext::ConfigureConnection(SSL* ssl,
                                                    const std::string& host,
                                                    bool ip_literal) {
  // An empty name would clear the host check instead of setting one.
  if (host.empty()) {
    return absl::InvalidArgumentError("webhook TLS: empty host name");
  }
  SSL_set_verify(ssl, SSL_VERIFY_PEER, nullptr);
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  // subjectAltName only: a certificate without a matching SAN fails, even
  // if its subject CN names the host.
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT |
                                             X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  bool ok = false;
  if (ip_literal) {
    ok = X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) == 1;
  } else {
    ok = X509_VERIFY_PARAM_set1_host(param, host.data(), host.size()) == 1 &&
         SSL_set_tlsext_host_name(ssl, host.c_str()) == 1;
  }
  if (!ok) {
    ERR_clear_error();
    return absl::InvalidArgumentError("webhook TLS: unusable host name");
  }
  return absl::OkStatus();
}

}  // namespace keygate::tool

#include "tools/keygate/webhook_http_transport.h"

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <exception>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/system/system_error.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "lib/webhooks/target_address.h"
#include "lib/webhooks/target_url.h"

namespace keygate::tool {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

constexpr size_t kMaxResponseHeaderBytes = 16 * 1024;
constexpr absl::Duration kMaxBudget = absl::Hours(24);

WebhookResponse Failed(WebhookDeliveryError error) {
  WebhookResponse response;
  response.error = error;
  return response;
}

// Allowed reports whether `address` may be connected to under `policy`.
bool Allowed(const asio::ip::address& address,
             const WebhookTargetPolicy& policy) {
  if (policy.allow_private_targets) return true;
  webhooks::AddressClass c;
  if (address.is_v4()) {
    c = webhooks::ClassifyIpv4(address.to_v4().to_uint());
  } else {
    const asio::ip::address_v6::bytes_type bytes = address.to_v6().to_bytes();
    webhooks::Ipv6Bytes v6;
    std::copy(bytes.begin(), bytes.end(), v6.begin());
    c = webhooks::ClassifyIpv6(v6);
  }
  return c == webhooks::AddressClass::kPublic;
}

std::string HostHeader(const webhooks::WebhookUrl& url) {
  std::string host = url.ipv6 ? absl::StrCat("[", url.host, "]") : url.host;
  const uint16_t default_port = url.https ? 443 : 80;
  if (url.port != default_port) absl::StrAppend(&host, ":", url.port);
  return host;
}

enum class Phase { kConnect, kHandshake, kWrite, kRead, kDone };

// Exchange is one request/response on a connected (and for https,
// handshaken) stream: write the request, read the response header only.
// Sets `phase` as it goes and `result` to the error that stopped it.
template <typename Stream>
void Exchange(Stream& stream, http::request<http::string_body>& message,
              beast::flat_buffer& buffer,
              http::response_parser<http::empty_body>& parser, Phase& phase,
              beast::error_code& result) {
  phase = Phase::kWrite;
  http::async_write(stream, message, [&](beast::error_code ec, size_t) {
    if (ec) {
      result = ec;
      return;
    }
    phase = Phase::kRead;
    http::async_read_header(stream, buffer, parser,
                            [&](beast::error_code ec, size_t) {
                              result = ec;
                              if (!ec) phase = Phase::kDone;
                            });
  });
}

// A connection that ended before a whole response header: closed, reset
// or (TLS) closed without close_notify. Anything else while reading is a
// broken response.
bool ClosedEarly(const beast::error_code& ec) {
  return ec == http::error::end_of_stream ||
         ec == asio::error::connection_reset || ec == asio::error::eof ||
         ec == asio::ssl::error::stream_truncated;
}

}  // namespace

WebhookHttpTransport::WebhookHttpTransport(HostResolver resolver)
    : WebhookHttpTransport(WebhookHttpTransportOptions{std::move(resolver),
                                                       nullptr, nullptr}) {}

WebhookHttpTransport::WebhookHttpTransport(WebhookHttpTransportOptions options)
    : resolver_(options.resolver ? std::move(options.resolver)
                                 : HostResolver(SystemHostResolver)),
      tls_([&]() -> std::shared_ptr<WebhookTlsContext> {
        if (options.tls) return std::move(options.tls);
        absl::StatusOr<std::unique_ptr<WebhookTlsContext>> made =
            WebhookTlsContext::Create("");
        if (!made.ok()) return nullptr;
        return std::shared_ptr<WebhookTlsContext>(std::move(*made));
      }()),
      lookup_(options.lookup ? std::move(options.lookup)
                             : std::make_shared<WebhookHostLookup>()) {}

WebhookResponse WebhookHttpTransport::Post(const WebhookRequest& request) {
  try {
    return PostOrThrow(request);
  } catch (const boost::system::system_error&) {
    // Asio's throwing calls report sockets and OpenSSL failing us.
    return Failed(WebhookDeliveryError::kConnection);
  } catch (const std::exception&) {
    return Failed(WebhookDeliveryError::kInternal);
  } catch (...) {
    return Failed(WebhookDeliveryError::kInternal);
  }
}

WebhookResponse WebhookHttpTransport::PostOrThrow(
    const WebhookRequest& request) {
  absl::StatusOr<webhooks::WebhookUrl> url =
      webhooks::CheckWebhookUrl(request.url, request.target_policy, "url");
  if (!url.ok()) return Failed(WebhookDeliveryError::kRefusedTarget);
  if (url->https && tls_ == nullptr) {
    return Failed(WebhookDeliveryError::kInternal);
  }
  // Clamped: an infinite or huge budget must not overflow the clock.
  const absl::Duration budget =
      std::clamp(request.timeout, absl::ZeroDuration(), kMaxBudget);
  const auto deadline =
      std::chrono::steady_clock::now() +
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          absl::ToChronoMilliseconds(budget));

  std::vector<tcp::endpoint> targets;
  const bool ip_literal = url->ipv4.has_value() || url->ipv6.has_value();
  if (url->ipv4) {
    targets.emplace_back(asio::ip::address_v4(*url->ipv4), url->port);
  } else if (url->ipv6) {
    asio::ip::address_v6::bytes_type bytes;
    std::copy(url->ipv6->begin(), url->ipv6->end(), bytes.begin());
    targets.emplace_back(asio::ip::address_v6(bytes), url->port);
  } else {
    HostLookupResult found = lookup_->Lookup(resolver_, url->host, deadline);
    if (found.error != WebhookDeliveryError::kNone) {
      return Failed(found.error);
    }
    for (const std::string& text : found.addresses) {
      beast::error_code ec;
      const asio::ip::address address = asio::ip::make_address(text, ec);
      if (ec) return Failed(WebhookDeliveryError::kConnection);
      targets.emplace_back(address, url->port);
    }
  }
  if (targets.empty()) return Failed(WebhookDeliveryError::kConnection);
  // Every address, not just the first: a name must not be able to pick
  // which one the connect lands on.
  for (const tcp::endpoint& target : targets) {
    if (!Allowed(target.address(), request.target_policy)) {
      return Failed(WebhookDeliveryError::kRefusedTarget);
    }
  }
  if (std::chrono::steady_clock::now() >= deadline) {
    return Failed(WebhookDeliveryError::kTimeout);
  }

  http::request<http::string_body> message{http::verb::post,
                                           url->path_and_query, 11};
  message.set(http::field::host, HostHeader(*url));
  for (const auto& [name, value] : request.headers) message.set(name, value);
  message.set(http::field::connection, "close");
  message.body() = request.body;
  message.prepare_payload();

  asio::io_context ioc;
  beast::flat_buffer buffer;
  http::response_parser<http::empty_body> parser;
  parser.header_limit(kMaxResponseHeaderBytes);
  beast::error_code result;
  Phase phase = Phase::kConnect;
  if (url->https) {
    beast::ssl_stream<beast::tcp_stream> stream(ioc, tls_->context());
    // The identity to verify: the literal's canonical text (an IPv4
    // literal may have been written in another inet_aton form), else the
    // name as the URL gave it.
    const std::string identity =
        ip_literal ? targets.front().address().to_string() : url->host;
    if (!WebhookTlsContext::ConfigureConnection(stream.native_handle(),
                                                identity, ip_literal)
             .ok()) {
      return Failed(WebhookDeliveryError::kTls);
    }
    beast::get_lowest_layer(stream).expires_at(deadline);
    beast::get_lowest_layer(stream).async_connect(
        targets, [&](beast::error_code ec, const tcp::endpoint&) {
          if (ec) {
            result = ec;
            return;
          }
          phase = Phase::kHandshake;
          stream.async_handshake(
              asio::ssl::stream_base::client, [&](beast::error_code ec) {
                if (ec) {
                  result = ec;
                  return;
                }
                Exchange(stream, message, buffer, parser, phase, result);
              });
        });
    ioc.run();
    beast::error_code ignored;
    beast::get_lowest_layer(stream).socket().shutdown(
        tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(stream).socket().close(ignored);
  } else {
    beast::tcp_stream stream(ioc);
    stream.expires_at(deadline);
    stream.async_connect(targets,
                         [&](beast::error_code ec, const tcp::endpoint&) {
                           if (ec) {
                             result = ec;
                             return;
                           }
                           Exchange(stream, message, buffer, parser, phase,
                                    result);
                         });
    ioc.run();
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream.socket().close(ignored);
  }

  if (phase == Phase::kDone) {
    WebhookResponse response;
    response.http_status = static_cast<int>(parser.get().result_int());
    return response;
  }
  if (result == beast::error::timeout) {
    return Failed(WebhookDeliveryError::kTimeout);
  }
  // Any failed handshake, the peer's certificate refused included: no
  // request was sent.
  if (phase == Phase::kHandshake) return Failed(WebhookDeliveryError::kTls);
  // A TLS alert or error after the handshake seemed done: under TLS 1.3 a
  // receiver refuses the client's part of the handshake (e.g. it demands a
  // client certificate) only once the client has sent its Finished and
  // moved on to the request.
  if (result.category() == asio::error::get_ssl_category()) {
    return Failed(WebhookDeliveryError::kTls);
  }
  if (phase == Phase::kRead && !ClosedEarly(result)) {
    return Failed(WebhookDeliveryError::kProtocol);
  }
  return Failed(WebhookDeliveryError::kConnection);
}

}  // namespace keygate::tool

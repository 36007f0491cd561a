#include "tools/keygate/webhook_http_transport.h"

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

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

enum class Phase { kConnect, kWrite, kRead, kDone };

}  // namespace

WebhookResponse WebhookHttpTransport::Post(const WebhookRequest& request) {
  absl::StatusOr<webhooks::WebhookUrl> url =
      webhooks::CheckWebhookUrl(request.url, request.target_policy, "url");
  if (!url.ok()) return Failed(WebhookDeliveryError::kRefusedTarget);
  if (url->https) return Failed(WebhookDeliveryError::kUnsupported);
  const auto deadline =
      std::chrono::steady_clock::now() +
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          absl::ToChronoMilliseconds(request.timeout));

  asio::io_context ioc;
  std::vector<tcp::endpoint> targets;
  if (url->ipv4) {
    targets.emplace_back(asio::ip::address_v4(*url->ipv4), url->port);
  } else if (url->ipv6) {
    asio::ip::address_v6::bytes_type bytes;
    std::copy(url->ipv6->begin(), url->ipv6->end(), bytes.begin());
    targets.emplace_back(asio::ip::address_v6(bytes), url->port);
  } else if (resolver_) {
    for (const std::string& text : resolver_(url->host)) {
      beast::error_code ec;
      const asio::ip::address address = asio::ip::make_address(text, ec);
      if (ec) return Failed(WebhookDeliveryError::kConnection);
      targets.emplace_back(address, url->port);
    }
  } else {
    tcp::resolver resolver(ioc);
    beast::error_code ec;
    tcp::resolver::results_type results =
        resolver.resolve(url->host, std::to_string(url->port), ec);
    if (ec) return Failed(WebhookDeliveryError::kConnection);
    for (const auto& entry : results) targets.push_back(entry.endpoint());
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

  beast::tcp_stream stream(ioc);
  stream.expires_at(deadline);
  beast::flat_buffer buffer;
  http::response_parser<http::empty_body> parser;
  parser.header_limit(kMaxResponseHeaderBytes);
  beast::error_code result;
  Phase phase = Phase::kConnect;
  stream.async_connect(targets, [&](beast::error_code ec,
                                    const tcp::endpoint&) {
    if (ec) {
      result = ec;
      return;
    }
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
  });
  ioc.run();
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);

  if (phase == Phase::kDone) {
    WebhookResponse response;
    response.http_status = static_cast<int>(parser.get().result_int());
    return response;
  }
  if (result == beast::error::timeout) {
    return Failed(WebhookDeliveryError::kTimeout);
  }
  if (phase == Phase::kRead && result != http::error::end_of_stream &&
      result != asio::error::connection_reset && result != asio::error::eof) {
    return Failed(WebhookDeliveryError::kProtocol);
  }
  return Failed(WebhookDeliveryError::kConnection);
}

}  // namespace keygate::tool

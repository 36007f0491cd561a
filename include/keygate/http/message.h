// keygate/http/message.h: framework-neutral HTTP request and response values.
//
// The host adapter (keygate::http) never touches a socket: a host's HTTP
// server turns each request it has fully read into a Request, hands it to
// the adapter, and writes the Response it gets back. These types carry
// exactly what the adapter needs and nothing tied to an HTTP library.
#ifndef KEYGATE_HTTP_MESSAGE_H_
#define KEYGATE_HTTP_MESSAGE_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace keygate::http {

// Header is one header field as received or to be sent.
struct Header {
  std::string name;  // as sent; compared case-insensitively
  std::string value;
};

// Request is one HTTP request, read whole by the host's server.
struct Request {
  // The method token exactly as sent ("GET", "POST", ...).
  std::string method;
  // The raw request-target (origin-form): path plus an optional "?query",
  // NOT percent-decoded. The adapter routes on the raw path, so an encoded
  // "/" (%2F) inside a segment is never a separator.
  std::string target;
  // Every header field in the order received; a name may repeat.
  std::vector<Header> headers;
  // The body, already de-chunked. The host's server bounds its size.
  std::string body;

  // HeaderCount returns how many fields are named `name` (any case).
  size_t HeaderCount(std::string_view name) const;
  // FindHeader returns the value of the first field named `name` (any case),
  // or nullopt. The view lives as long as this Request is not modified.
  std::optional<std::string_view> FindHeader(std::string_view name) const;
};

// Response is the adapter's answer. The host sends status, headers and body
// as they are (it adds only framing headers such as Content-Length).
class Response {
 public:
  Response() = default;
  Response(Response&& other) noexcept;
  Response& operator=(Response&& other) noexcept;
  Response(const Response&) = delete;
  Response& operator=(const Response&) = delete;
  // Wipes the body first if it is sensitive.
  ~Response();

  int status = 200;
  std::vector<Header> headers;
  // The body. When `sensitive` is set (the 201 that carries a new token's
  // value), it holds a secret: a host that copies it must wipe its copy once
  // sent (sodium_memzero), and this Response wipes its own buffer when
  // destroyed or overwritten.
  std::string body;
  bool sensitive = false;

  // FindHeader returns the value of the first header named `name` (any
  // case), or nullopt.
  std::optional<std::string_view> FindHeader(std::string_view name) const;
  // SetHeader replaces every header named `name` (any case) with one field.
  void SetHeader(std::string_view name, std::string_view value);

  // WipeBody overwrites the body's bytes with zeros and clears it.
  void WipeBody();
};

// EqualsIgnoreCase compares two header names ASCII-case-insensitively.
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

}  // namespace keygate::http

#endif  // KEYGATE_HTTP_MESSAGE_H_

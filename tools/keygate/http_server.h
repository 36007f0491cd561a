// tools/keygate/http_server.h: the HTTP host of `keygate serve`.
//
// HttpServer serves the reference product's service-account token API on a
// keygate Store with cpp-httplib. Routes (see docs/openapi.json):
//
//   POST   /service-accounts                  write:service_accounts
//   GET    /service-accounts                  read:service_accounts
//   GET    /service-accounts/{sa}             read:service_accounts
//   PATCH  /service-accounts/{sa}             write:service_accounts
//   DELETE /service-accounts/{sa}             delete:service_accounts
//   POST   /service-accounts/{sa}/tokens      write:tokens
//   GET    /service-accounts/{sa}/tokens      read:tokens
//   DELETE /service-accounts/{sa}/tokens/{t}  write:tokens
//   ({sa} is {serviceAccountSlug}, {t} is {tokenSlug})
//   GET    /whoami         a keygate token: who it speaks for
//   GET    /auth/check     a keygate token, optional required scope (?scope=
//                          or X-Keygate-Required-Scope; the query wins)
//   GET    /openapi.json   the OpenAPI 3.1 document
//   GET    /healthz        {"status":"ok"}
//
// Management routes accept a JWT (the organization's administrators: every
// scope) or a keygate token holding the scope listed above. Every error is an
// RFC 9457 application/problem+json body built by keygate/problem.h; no bad
// input yields a 5xx. One log line per request goes to the log sink: method,
// route pattern, status and duration, never a header, query or body.
#ifndef KEYGATE_TOOLS_KEYGATE_HTTP_SERVER_H_
#define KEYGATE_TOOLS_KEYGATE_HTTP_SERVER_H_

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "keygate/clock.h"
#include "keygate/store.h"
#include "lib/http/authenticator.h"
#include "keygate/http/jwt.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace keygate::tool {
using namespace keygate::http;  // TEMP until the ManagementApi lands

// HttpServerOptions configures an HttpServer.
struct HttpServerOptions {
  // Largest accepted request body; larger ones get a 413 problem.
  // Default: 64 KiB.
  size_t max_body_bytes = 64 * 1024;
  // Worker threads. Default: 0, meaning std::thread::hardware_concurrency()
  // (at least 1).
  int threads = 0;
  // The store's token prefix: bearer credentials starting with it are keygate
  // tokens, others are JWTs. Default: "kg_" (Options::token_prefix).
  std::string token_prefix = "kg_";
  // Time source for JWT exp/nbf checks. Default: nullptr, SystemClock().
  const Clock* clock = nullptr;
  // Receives one line per request and error causes (no trailing newline).
  // Default: empty, meaning stderr.
  std::function<void(std::string_view)> log;
};

// HttpServer is the reference HTTP host. Construct, Bind, then Run on one
// thread; Stop may be called from any thread at any time. `store` and
// `verifier` must outlive the server.
class HttpServer {
 public:
  HttpServer(Store* store, const JwtVerifier* verifier,
             HttpServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Bind binds the listening socket to `host`:`port`; port 0 picks a free
  // port. Returns the bound port, or Unavailable if binding failed.
  absl::StatusOr<int> Bind(const std::string& host, int port);

  // Run serves requests until Stop() is called, then returns once every
  // accepted request has been answered. REQUIRES: Bind succeeded.
  absl::Status Run();

  // Stop makes Run stop accepting connections and return after in-flight
  // requests finish. Thread-safe and idempotent; a Stop before Run makes Run
  // return at once. Does not block on Run.
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace keygate::tool

#endif  // KEYGATE_TOOLS_KEYGATE_HTTP_SERVER_H_

// keygate/http/management_api.h: the service-account token API as a
// framework-neutral request handler.
//
// ManagementApi serves the reference product's routes on a keygate Store.
// A host's HTTP server reads each request whole (bounding its size and
// time), builds a Request, calls Handle and sends the Response:
//
//   POST   /service-accounts                  write:service_accounts
//   GET    /service-accounts                  read:service_accounts
//   GET    /service-accounts/{sa}             read:service_accounts
//   PATCH  /service-accounts/{sa}             write:service_accounts
//   DELETE /service-accounts/{sa}             delete:service_accounts
//   POST   /service-accounts/{sa}/tokens      write:tokens
//   GET    /service-accounts/{sa}/tokens      read:tokens
//   DELETE /service-accounts/{sa}/tokens/{t}  write:tokens
//   GET    /whoami         a keygate token: who it speaks for
//   GET    /auth/check     a keygate token, with the operator's required scope
//   GET    /openapi.json   the OpenAPI 3.1 document (docs/openapi.json)
//   GET    /healthz        {"status":"ok"}
//   POST   /secret-scanning/report  a secret scanner's signed leak report
//                          (only with options.secret_scanning; else 404)
//
// The organization always comes from the CallerResolver. A caller holding a
// keygate token is bound by the delegation rules (keygate/delegation.h): it
// never grants more than it holds nor reaches beyond its own service account
// without the matching *:service_accounts scope. Every error is an RFC 9457
// application/problem+json Response; no bad input yields a 5xx.
#ifndef KEYGATE_HTTP_MANAGEMENT_API_H_
#define KEYGATE_HTTP_MANAGEMENT_API_H_

#include <cstddef>
#include <string>

#include "keygate/http/caller.h"
#include "keygate/http/message.h"
#include "keygate/http/problem.h"
#include "keygate/store.h"

namespace keygate::http {

class SecretScanningReceiver;  // keygate/http/secret_scanning.h

// AuthCheckScope says where GET /auth/check takes the scope it requires.
// Never from the client: the query parameter `scope` is refused.
struct AuthCheckScope {
  enum class Source {
    // No scope: any valid token passes. A request that carries the
    // X-Keygate-Required-Scope header is refused (400), so a proxy that
    // sets it against a server not configured to read it fails closed.
    kNone,
    // Always `fixed`.
    kFixed,
    // The X-Keygate-Required-Scope header, which the operator's proxy must
    // set (overwriting any client value; see docs/serve.md). Absent, empty
    // or repeated: 400.
    kHeader,
  };
  Source source = Source::kNone;
  std::string fixed;  // REQUIRES: a valid scope when source == kFixed
};

// ManagementApiOptions configures a ManagementApi.
struct ManagementApiOptions {
  // Prefix every route is served under, e.g. "/api" (no trailing slash).
  // Default: "" (routes at the root).
  std::string path_prefix;
  // Largest request body Handle accepts; larger ones get a 413 problem. The
  // host's server should refuse them before reading. Default: 64 KiB.
  size_t max_body_bytes = 64 * 1024;
  // Where GET /auth/check takes its required scope. Default: kNone.
  AuthCheckScope auth_check_scope;
  // Base URI of keygate's problem types in this host's answers (see
  // WithTypeBase). Default: kDefaultProblemTypeBase.
  std::string problem_type_base = std::string(kDefaultProblemTypeBase);
  // The leaked-token report receiver serving POST /secret-scanning/report
  // (keygate/http/secret_scanning.h). It acts across organizations on a
  // scanner's signature, so it is off unless the host sets it; null, the
  // route answers exactly like an unknown path (404). Must outlive the
  // ManagementApi. Default: nullptr.
  const SecretScanningReceiver* secret_scanning = nullptr;
};

// ManagementApi handles the management routes. Handle is const and safe for
// concurrent use; `store` and `callers` must outlive the ManagementApi.
class ManagementApi {
 public:
  ManagementApi(Store* store, const CallerResolver* callers,
                ManagementApiOptions options);

  // Handle answers `request`. HEAD is served like GET (the host drops the
  // body). A request outside path_prefix gets a 404 problem. If `log_fields`
  // is not null, Handle appends " route=<pattern>" and, for a refused
  // credential, " auth_failure=\"<fixed reason>\"": never a credential,
  // header value, query or body. A Response carrying a new token is marked
  // `sensitive`.
  Response Handle(const Request& request,
                  std::string* log_fields = nullptr) const;

 private:
  struct Context;
  Response Dispatch(Context& context) const;

  Store* store_;
  const CallerResolver* callers_;
  ManagementApiOptions options_;
};

}  // namespace keygate::http

#endif  // KEYGATE_HTTP_MANAGEMENT_API_H_

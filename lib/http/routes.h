// lib/http/routes.h: the management API's routes, matched on the raw path.
//
// Routing happens on the request-target exactly as sent: literal segments
// must match byte for byte, so an encoded "/" (%2F) can never act as a
// separator ("/service-accounts%2Fci-bot" is no route). Parameter segments
// are not decoded either: slugs never need an escape, so a parameter holding
// one ("%62ot") is simply not a slug, never an alias of "bot"; one holding
// an encoded "/" matches no route.
#ifndef KEYGATE_LIB_HTTP_ROUTES_H_
#define KEYGATE_LIB_HTTP_ROUTES_H_

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace keygate::http::internal {

enum class Operation {
  kCreateServiceAccount,
  kListServiceAccounts,
  kGetServiceAccount,
  kPatchServiceAccount,
  kDeleteServiceAccount,
  kCreateToken,
  kListTokens,
  kRevokeToken,
  kRotateToken,
  kListWebhooks,
  kCreateWebhook,
  kGetWebhook,
  kPatchWebhook,
  kDeleteWebhook,
  kRotateWebhookSecret,
  kListWebhookDeliveries,
  kWhoami,
  kAuthCheck,
  kOpenApi,
  kHealthz,
  kSecretScanningReport,
};

struct MethodOperation {
  std::string_view method;
  Operation operation;
  // The scope a caller needs; empty for routes that take no management
  // caller (whoami, auth/check, openapi, healthz, secret-scanning/report).
  std::string_view scope;
};

struct Route {
  std::string_view pattern;  // for logs; "{x}" segments are parameters
  std::vector<std::string_view> segments;
  std::vector<MethodOperation> methods;
};

// Routes returns the route table (static, immutable).
const std::vector<Route>& Routes();

// SplitTarget splits a raw origin-form target into path and query (without
// the '?'); a fragment is not part of a request-target and is left in.
std::pair<std::string_view, std::string_view> SplitTarget(
    std::string_view target);

// MatchRoute finds the route whose template matches the raw `path` and
// fills `params` with its decoded parameters in order; nullptr if none.
const Route* MatchRoute(std::string_view path,
                        std::vector<std::string>& params);

// AllowHeader lists the route's methods (GET implies HEAD).
std::string AllowHeader(const Route& route);

// PercentDecode decodes %XX escapes (and '+' as space when `plus_is_space`);
// nullopt for a malformed escape.
std::optional<std::string> PercentDecode(std::string_view in,
                                         bool plus_is_space);

// QueryParameters is a decoded query string in order; a name may repeat.
using QueryParameters = std::vector<std::pair<std::string, std::string>>;

// ParseQuery decodes `query` ("a=1&b=2"); nullopt for a malformed escape.
std::optional<QueryParameters> ParseQuery(std::string_view query);

}  // namespace keygate::http::internal

#endif  // KEYGATE_LIB_HTTP_ROUTES_H_

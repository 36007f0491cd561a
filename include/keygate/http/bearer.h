// keygate/http/bearer.h: bearer-token verification for a host's own routes.
//
// A host that only needs "is this request's token valid, and whose is it?"
// calls VerifyBearer with the request's Authorization header values and the
// scope its route requires, and sends ProblemResponse(problem) on failure:
//
//   std::variant<keygate::Principal, keygate::Problem> who =
//       keygate::http::VerifyBearer(*store, request, "read:orders");
//   if (auto* problem = std::get_if<keygate::Problem>(&who)) {
//     return keygate::http::ProblemResponse(*problem);  // 401 / 403
//   }
#ifndef KEYGATE_HTTP_BEARER_H_
#define KEYGATE_HTTP_BEARER_H_

#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "keygate/http/message.h"
#include "keygate/principal.h"
#include "keygate/http/problem.h"
#include "keygate/store.h"

namespace keygate::http {

// BearerCredential is what a request's Authorization header carries.
struct BearerCredential {
  enum class Kind {
    kNone,     // no Authorization header, or an empty one
    kInvalid,  // several headers, another scheme, or a malformed credential
    kBearer,   // one `Bearer <token68>` credential
  };
  Kind kind = Kind::kNone;
  // The credential when kind == kBearer; a view into the request.
  std::string_view value;
  // A short fixed reason when kind == kInvalid, for the host's log.
  std::string_view why;
};

// ExtractBearer reads the request's Authorization header: exactly one field
// with the case-insensitive scheme "Bearer" and a credential without inner
// whitespace. Several Authorization fields are kInvalid: a request is never
// authenticated by picking one of several credentials. The returned view
// lives as long as `request`.
BearerCredential ExtractBearer(const Request& request);

// CredentialProblem returns the Problem for a request that carries no usable
// bearer credential (kNone: 401 MissingCredentialsProblem; kInvalid: 401
// InvalidTokenProblem) and notes the reason in `why` (if not null); nullopt
// for kBearer. For CallerResolver implementations.
std::optional<Problem> CredentialProblem(const BearerCredential& credential,
                                         std::string* why);

// VerifyBearer verifies the keygate token in the request's Authorization
// header and, if `required_scope` is not empty, that it grants the scope.
// Returns the Principal, or the Problem to send: 401 MissingCredentialsProblem
// without credentials, 401 InvalidTokenProblem for every other failure
// (identical whatever the reason), 403 InsufficientScopeProblem for a valid
// token without the scope, 422 for a malformed `required_scope` (a host
// bug). On failure `why`, if not null, receives a short fixed reason for the
// log ("revoked", "malformed", ...), never the credential. Thread-safe;
// never touches disk.
std::variant<Principal, Problem> VerifyBearer(const Store& store,
                                              const Request& request,
                                              std::string_view required_scope,
                                              std::string* why = nullptr);

// ProblemResponse renders `problem` as a Response: its status, its headers
// (Content-Type: application/problem+json first; WWW-Authenticate per RFC
// 6750 for 401/403) and ProblemToJson(problem) as the body, with keygate's
// problem types on `type_base` (see WithTypeBase).
Response ProblemResponse(
    const Problem& problem,
    std::string_view type_base = kDefaultProblemTypeBase);

}  // namespace keygate::http

#endif  // KEYGATE_HTTP_BEARER_H_

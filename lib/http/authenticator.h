// lib/http/authenticator.h: who is calling `keygate serve`.
#ifndef KEYGATE_LIB_HTTP_AUTHENTICATOR_H_
#define KEYGATE_LIB_HTTP_AUTHENTICATOR_H_

#include <string>
#include <string_view>
#include <variant>

#include "keygate/principal.h"
#include "keygate/problem.h"
#include "keygate/store.h"
#include "keygate/http/jwt.h"

namespace keygate::http {

// Caller is an authenticated caller of a management route.
struct Caller {
  // The organization every store call is scoped to: the JWT's organization
  // claim, or the verified keygate token's organization.
  std::string organization;
  // Who acts, as recorded in createdBy/updatedBy/revokedBy: the JWT's `sub`,
  // or "token:<serviceAccount>/<tokenSlug>" for a keygate token.
  std::string actor;
  // Set when the caller presented a keygate token.
  Principal principal;
};

// Authenticator turns an Authorization header into a Caller or the problem
// the client must see. Every failure other than "no credentials" and "missing
// scope" is the one InvalidTokenProblem, whatever the reason. Safe for
// concurrent use; `store` and `verifier` must outlive it.
class Authenticator {
 public:
  // `token_prefix` is the store's token prefix ("kg_"): a bearer credential
  // starting with it is a keygate token, anything else is a JWT.
  Authenticator(const Store* store, const JwtVerifier* verifier,
                std::string token_prefix);

  // Authenticate checks the request's Authorization header values
  // (`header_count` of them, `header` the first). For a keygate token,
  // `required_scope` must be granted (JWT callers are the organization's
  // administrators and hold every scope). Returns the Caller or the Problem.
  // On failure `why`, if not null, receives a short fixed reason for the
  // host's log ("revoked", "jwt: expired", ...), never the credential.
  std::variant<Caller, Problem> Authenticate(size_t header_count,
                                             std::string_view header,
                                             std::string_view required_scope,
                                             absl::Time now,
                                             std::string* why = nullptr) const;

  // VerifyKeygateToken authenticates a request that must carry a keygate
  // token (GET /whoami, GET /auth/check); a JWT is an invalid token there.
  // An empty `required_scope` checks none; a malformed one is a 422 at
  // `scope`, located through `context`. `why` as for Authenticate.
  std::variant<Principal, Problem> VerifyKeygateToken(
      size_t header_count, std::string_view header,
      std::string_view required_scope, const ProblemContext& context = {},
      std::string* why = nullptr) const;

 private:
  // Credential extracts the bearer credential; empty means "none given".
  // Sets `invalid` for a header that is present but not a bearer credential.
  static std::string_view Credential(size_t header_count,
                                     std::string_view header, bool& invalid,
                                     std::string* why);

  std::variant<Principal, Problem> VerifyToken(std::string_view token,
                                               std::string_view required_scope,
                                               const ProblemContext& context,
                                               std::string* why) const;

  const Store* store_;
  const JwtVerifier* verifier_;
  std::string token_prefix_;
};

// IsValidIdentity reports whether `s` can be an organization or actor: 1-256
// bytes of valid UTF-8 without control characters.
bool IsValidIdentity(std::string_view s);

}  // namespace keygate::http

#endif  // KEYGATE_LIB_HTTP_AUTHENTICATOR_H_

// keygate/http/caller.h: who is calling a management route.
//
// The management API never takes the organization from the URL or body: a
// CallerResolver derives it from the request's credentials. Two resolvers
// ship (keygate tokens, HS256 JWTs) and BearerCallerResolver picks between
// them by the token prefix; a host plugs in its own identity (a session
// cookie, mTLS, its IdP) by implementing CallerResolver.
#ifndef KEYGATE_HTTP_CALLER_H_
#define KEYGATE_HTTP_CALLER_H_

#include <string>
#include <string_view>
#include <variant>

#include "keygate/clock.h"
#include "keygate/http/jwt.h"
#include "keygate/http/message.h"
#include "keygate/principal.h"
#include "keygate/http/problem.h"
#include "keygate/store.h"

namespace keygate::http {

// The actor prefix reserved for keygate-token callers: "token:<account>/<slug>".
// A host identity whose actor starts with it is refused, so a record's
// createdBy/revokedBy can always tell a token from a person.
inline constexpr std::string_view kTokenActorPrefix = "token:";

// Caller is an authenticated management caller.
struct Caller {
  // The organization every store call is scoped to.
  std::string organization;
  // Who acts, as recorded in createdBy/updatedBy/revokedBy.
  std::string actor;
  // Valid when the caller presented a keygate token: its grants. Such a
  // caller is bound by the delegation rules (keygate/delegation.h): it can
  // never grant more than it holds. Invalid for the host's own identity,
  // which holds every scope of its organization.
  Principal token;
};

// CallerResolver turns a request's credentials into a Caller. Implementations
// must be safe for concurrent use without external synchronization.
class CallerResolver {
 public:
  virtual ~CallerResolver() = default;

  // Resolve authenticates `request` for a management route that requires
  // `required_scope` ("write:tokens", ...). Returns the Caller, or the
  // Problem to send: 401 MissingCredentialsProblem without credentials, 401
  // InvalidTokenProblem for any bad credential (one answer whatever the
  // reason), 403 InsufficientScopeProblem for a caller without the scope.
  // On failure `why`, if not null, receives a short fixed reason for the
  // host's log, never the credential.
  virtual std::variant<Caller, Problem> Resolve(
      const Request& request, std::string_view required_scope,
      std::string* why) const = 0;
};

// TokenCallerResolver accepts keygate tokens of `store` as management
// credentials: the token must hold `required_scope`; the caller's
// organization is the token's, its actor "token:<account>/<slug>".
// `store` must outlive the resolver.
class TokenCallerResolver : public CallerResolver {
 public:
  explicit TokenCallerResolver(const Store* store) : store_(store) {}
  std::variant<Caller, Problem> Resolve(const Request& request,
                                        std::string_view required_scope,
                                        std::string* why) const override;

 private:
  const Store* store_;
};

// JwtCallerResolver accepts HS256 JWTs checked by `verifier` at `clock`'s
// time: the organization claim names the organization and `sub` the actor,
// both 1-256 bytes of valid UTF-8 without control characters, and `sub` must
// not start with kTokenActorPrefix nor equal a system actor keygate records
// itself (kRevokedByRotation, kRevokedByLeak). A JWT caller is the organization's
// administrator: it holds every scope. `verifier` and `clock` must outlive
// the resolver; a null `clock` means SystemClock().
class JwtCallerResolver : public CallerResolver {
 public:
  JwtCallerResolver(const JwtVerifier* verifier, const Clock* clock = nullptr);
  std::variant<Caller, Problem> Resolve(const Request& request,
                                        std::string_view required_scope,
                                        std::string* why) const override;

 private:
  const JwtVerifier* verifier_;
  const Clock* clock_;
};

// BearerCallerResolver sends a bearer credential that starts with
// `token_prefix` (the store's, "kg_") to `tokens` and any other credential
// to `others` (e.g. a JwtCallerResolver); a null resolver refuses its kind
// with InvalidTokenProblem. Both must outlive it.
class BearerCallerResolver : public CallerResolver {
 public:
  BearerCallerResolver(std::string token_prefix, const CallerResolver* tokens,
                       const CallerResolver* others)
      : token_prefix_(std::move(token_prefix)),
        tokens_(tokens),
        others_(others) {}
  std::variant<Caller, Problem> Resolve(const Request& request,
                                        std::string_view required_scope,
                                        std::string* why) const override;

 private:
  std::string token_prefix_;
  const CallerResolver* tokens_;
  const CallerResolver* others_;
};

}  // namespace keygate::http

#endif  // KEYGATE_HTTP_CALLER_H_

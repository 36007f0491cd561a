// lib/http/caller.cc: who is calling a management route.
#include "keygate/http/caller.h"

#include <string>
#include <utility>

#include "keygate/errors.h"
#include "keygate/http/bearer.h"
#include "keygate/token.h"
#include "keygate/validation.h"

namespace keygate::http {
namespace {

void Note(std::string* why, std::string_view reason) {
  if (why != nullptr) why->assign(reason.data(), reason.size());
}

// IsReservedActor says whether a host identity would read, in a record's
// createdBy/updatedBy/revokedBy, as a keygate token or as keygate itself.
bool IsReservedActor(std::string_view actor) {
  return actor.substr(0, kTokenActorPrefix.size()) == kTokenActorPrefix ||
         actor == kRevokedByRotation || actor == kRevokedByLeak;
}

}  // namespace

std::variant<Caller, Problem> TokenCallerResolver::Resolve(
    const Request& request, std::string_view required_scope,
    std::string* why) const {
  std::variant<Principal, Problem> verified =
      VerifyBearer(*store_, request, required_scope, why);
  if (auto* problem = std::get_if<Problem>(&verified)) {
    return std::move(*problem);
  }
  Caller caller;
  caller.token = std::get<Principal>(std::move(verified));
  caller.organization = std::string(caller.token.organization());
  caller.actor = std::string(kTokenActorPrefix) +
                 std::string(caller.token.service_account()) + "/" +
                 std::string(caller.token.token_slug());
  return caller;
}

JwtCallerResolver::JwtCallerResolver(const JwtVerifier* verifier,
                                     const Clock* clock)
    : verifier_(verifier), clock_(clock != nullptr ? clock : SystemClock()) {}

std::variant<Caller, Problem> JwtCallerResolver::Resolve(
    const Request& request, std::string_view required_scope,
    std::string* why) const {
  BearerCredential credential = ExtractBearer(request);
  if (std::optional<Problem> problem = CredentialProblem(credential, why)) {
    return *std::move(problem);
  }
  absl::StatusOr<JwtClaims> claims =
      verifier_->Verify(credential.value, clock_->Now());
  if (!claims.ok()) {
    // The verifier's messages are fixed reasons ("jwt: expired"); bound and
    // escape anyway, since they end up in a log line.
    absl::string_view message = claims.status().message();
    Note(why, SafeValue(std::string_view(message.data(), message.size())));
    return InvalidTokenProblem();
  }
  if (!IsValidIdentity(claims->organization) ||
      !IsValidIdentity(claims->subject)) {
    Note(why, "jwt: organization or sub unusable");
    return InvalidTokenProblem();
  }
  if (IsReservedActor(claims->subject)) {
    Note(why, "jwt: sub is a reserved actor");
    return InvalidTokenProblem();
  }
  Caller caller;
  caller.organization = std::move(claims->organization);
  caller.actor = std::move(claims->subject);
  return caller;
}

std::variant<Caller, Problem> BearerCallerResolver::Resolve(
    const Request& request, std::string_view required_scope,
    std::string* why) const {
  BearerCredential credential = ExtractBearer(request);
  const CallerResolver* resolver = others_;
  if (credential.kind == BearerCredential::Kind::kBearer &&
      credential.value.substr(0, token_prefix_.size()) == token_prefix_) {
    resolver = tokens_;
  }
  if (credential.kind == BearerCredential::Kind::kBearer &&
      resolver == nullptr) {
    Note(why, "credential kind not accepted");
    return InvalidTokenProblem();
  }
  if (resolver == nullptr) resolver = tokens_ != nullptr ? tokens_ : others_;
  if (resolver == nullptr) {
    Note(why, "no caller resolver");
    return InvalidTokenProblem();
  }
  return resolver->Resolve(request, required_scope, why);
}

}  // namespace keygate::http

// lib/http/authenticator.cc: who is calling `keygate serve`.
#include "lib/http/authenticator.h"

#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "keygate/errors.h"
#include "lib/base/utf8.h"

namespace keygate::http {
namespace {

void Note(std::string* why, std::string_view reason) {
  if (why != nullptr) why->assign(reason.data(), reason.size());
}

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

}  // namespace

bool IsValidIdentity(std::string_view s) {
  // The store's rule for organization and actor ids (lib/store/validation.h),
  // checked here so a bad claim is a 401, not a 422 about a header.
  return !s.empty() && s.size() <= 256 && utf8::IsValid(s) &&
         !utf8::HasUnsafeCodePoint(s);
}

Authenticator::Authenticator(const Store* store, const JwtVerifier* verifier,
                             std::string token_prefix)
    : store_(store),
      verifier_(verifier),
      token_prefix_(std::move(token_prefix)) {}

std::string_view Authenticator::Credential(size_t header_count,
                                           std::string_view header,
                                           bool& invalid, std::string* why) {
  invalid = false;
  if (header_count == 0) return {};
  if (header_count > 1) {
    invalid = true;  // ambiguous: never pick one of several credentials
    Note(why, "several authorization headers");
    return {};
  }
  std::string_view value = Trim(header);
  if (value.empty()) return {};
  size_t space = value.find_first_of(" \t");
  std::string_view scheme = value.substr(0, space);
  if (!EqualsIgnoreCase(scheme, "bearer")) {
    invalid = true;
    Note(why, "not a bearer credential");
    return {};
  }
  if (space == std::string_view::npos) return {};
  std::string_view credential = Trim(value.substr(space));
  // A token68 credential has no inner whitespace.
  if (credential.find_first_of(" \t") != std::string_view::npos) {
    invalid = true;
    Note(why, "malformed bearer credential");
    return {};
  }
  return credential;
}

std::variant<Principal, Problem> Authenticator::VerifyToken(
    std::string_view token, std::string_view required_scope,
    const ProblemContext& context, std::string* why) const {
  absl::StatusOr<Principal> principal = store_->Verify(token, required_scope);
  if (principal.ok()) return *std::move(principal);
  VerifyFailure failure = VerifyFailureOf(principal.status());
  Note(why, failure == VerifyFailure::kNone ? std::string_view("verify error")
                                            : VerifyFailureName(failure));
  switch (principal.status().code()) {
    case absl::StatusCode::kUnauthenticated:
      return InvalidTokenProblem();
    case absl::StatusCode::kPermissionDenied:
      return InsufficientScopeProblem(required_scope);
    default:
      return ProblemFromStatus(principal.status(), context);
  }
}

std::variant<Caller, Problem> Authenticator::Authenticate(
    size_t header_count, std::string_view header,
    std::string_view required_scope, absl::Time now, std::string* why) const {
  bool invalid = false;
  std::string_view credential = Credential(header_count, header, invalid, why);
  if (invalid) return InvalidTokenProblem();
  if (credential.empty()) return MissingCredentialsProblem();

  if (credential.substr(0, token_prefix_.size()) == token_prefix_) {
    std::variant<Principal, Problem> verified =
        VerifyToken(credential, required_scope, ProblemContext{}, why);
    if (auto* problem = std::get_if<Problem>(&verified)) {
      return std::move(*problem);
    }
    Caller caller;
    caller.principal = std::get<Principal>(std::move(verified));
    caller.organization = std::string(caller.principal.organization());
    caller.actor = "token:" + std::string(caller.principal.service_account()) +
                   "/" + std::string(caller.principal.token_slug());
    return caller;
  }

  absl::StatusOr<JwtClaims> claims = verifier_->Verify(credential, now);
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
  Caller caller;
  caller.organization = std::move(claims->organization);
  caller.actor = std::move(claims->subject);
  return caller;
}

std::variant<Principal, Problem> Authenticator::VerifyKeygateToken(
    size_t header_count, std::string_view header,
    std::string_view required_scope, const ProblemContext& context,
    std::string* why) const {
  bool invalid = false;
  std::string_view credential = Credential(header_count, header, invalid, why);
  if (invalid) return InvalidTokenProblem();
  if (credential.empty()) return MissingCredentialsProblem();
  if (credential.substr(0, token_prefix_.size()) != token_prefix_) {
    Note(why, "not a keygate token");
    return InvalidTokenProblem();
  }
  return VerifyToken(credential, required_scope, context, why);
}

}  // namespace keygate::http

// tools/keygate/http_auth.cc: who is calling `keygate serve`.
#include "tools/keygate/http_auth.h"

#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "keygate/errors.h"

namespace keygate::tool {
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

// Utf8Length returns the length of the valid UTF-8 sequence starting at
// s[i], or 0 if it is invalid (overlong, surrogate, > U+10FFFF, truncated).
size_t Utf8Length(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  uint8_t b0 = byte(i);
  if (b0 < 0x80) return 1;
  size_t n;
  uint32_t cp;
  if ((b0 & 0xE0) == 0xC0) {
    n = 2;
    cp = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    n = 3;
    cp = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    n = 4;
    cp = b0 & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    return 0;
  }
  return n;
}

}  // namespace

bool IsValidIdentity(std::string_view s) {
  if (s.empty() || s.size() > 256) return false;
  for (size_t i = 0; i < s.size();) {
    size_t n = Utf8Length(s, i);
    if (n == 0) return false;
    if (n == 1) {
      auto c = static_cast<uint8_t>(s[i]);
      if (c < 0x20 || c == 0x7F) return false;
    } else if (n == 2 && static_cast<uint8_t>(s[i]) == 0xC2 &&
               static_cast<uint8_t>(s[i + 1]) < 0xA0) {
      return false;  // C1 control characters U+0080..U+009F
    }
    i += n;
  }
  return true;
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

}  // namespace keygate::tool

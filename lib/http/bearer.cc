// lib/http/bearer.cc: bearer-token verification for a host's own routes.
#include "keygate/http/bearer.h"

#include <string>
#include <utility>

#include "keygate/errors.h"

namespace keygate::http {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

void Note(std::string* why, std::string_view reason) {
  if (why != nullptr) why->assign(reason.data(), reason.size());
}

}  // namespace

BearerCredential ExtractBearer(const Request& request) {
  BearerCredential out;
  size_t count = request.HeaderCount("Authorization");
  if (count == 0) return out;
  if (count > 1) {
    out.kind = BearerCredential::Kind::kInvalid;
    out.why = "several authorization headers";
    return out;
  }
  std::string_view value = Trim(*request.FindHeader("Authorization"));
  if (value.empty()) return out;
  size_t space = value.find_first_of(" \t");
  if (!EqualsIgnoreCase(value.substr(0, space), "bearer")) {
    out.kind = BearerCredential::Kind::kInvalid;
    out.why = "not a bearer credential";
    return out;
  }
  if (space == std::string_view::npos) return out;
  std::string_view credential = Trim(value.substr(space));
  if (credential.empty()) return out;
  // A token68 credential has no inner whitespace.
  if (credential.find_first_of(" \t") != std::string_view::npos) {
    out.kind = BearerCredential::Kind::kInvalid;
    out.why = "malformed bearer credential";
    return out;
  }
  out.kind = BearerCredential::Kind::kBearer;
  out.value = credential;
  return out;
}

std::optional<Problem> CredentialProblem(const BearerCredential& credential,
                                         std::string* why) {
  switch (credential.kind) {
    case BearerCredential::Kind::kNone:
      Note(why, "no credentials");
      return MissingCredentialsProblem();
    case BearerCredential::Kind::kInvalid:
      Note(why, credential.why);
      return InvalidTokenProblem();
    case BearerCredential::Kind::kBearer:
      break;
  }
  return std::nullopt;
}

std::variant<Principal, Problem> VerifyBearer(const Store& store,
                                              const Request& request,
                                              std::string_view required_scope,
                                              std::string* why) {
  BearerCredential credential = ExtractBearer(request);
  if (std::optional<Problem> problem = CredentialProblem(credential, why)) {
    return *std::move(problem);
  }
  absl::StatusOr<Principal> principal =
      store.Verify(credential.value, required_scope);
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
      return ProblemFromStatus(principal.status());
  }
}

Response ProblemResponse(const Problem& original, std::string_view type_base) {
  Problem problem = WithTypeBase(original, type_base);
  Response response;
  response.status = problem.status;
  response.headers.push_back(
      {"Content-Type", std::string(kProblemContentType)});
  for (const auto& [name, value] : problem.headers) {
    if (EqualsIgnoreCase(name, "Content-Type")) continue;
    response.headers.push_back({name, value});
  }
  response.body = ProblemToJson(problem);
  return response;
}

}  // namespace keygate::http

// lib/http/problem.cc: keygate outcome -> RFC 9457 problem -> JSON.
//
// kStatusTable below is the one place that decides which HTTP answer each
// absl::StatusCode gets; docs/problem-details.md documents it. Type URIs
// mark the problems a client can act on in a keygate-specific way; problems
// the HTTP status alone describes use about:blank (an empty `type`).
#include "keygate/http/problem.h"

#include <cstddef>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "keygate/delegation.h"
#include "keygate/errors.h"
#include "lib/errors/payloads.h"
#include "nlohmann/json.hpp"

namespace keygate::http {
namespace {

constexpr std::string_view kTypeValidation =
    "https://keygate.dev/problems/validation";
constexpr std::string_view kTypeInvalidToken =
    "https://keygate.dev/problems/invalid-token";
constexpr std::string_view kTypeInsufficientScope =
    "https://keygate.dev/problems/insufficient-scope";
constexpr std::string_view kTypeConflict =
    "https://keygate.dev/problems/conflict";
constexpr std::string_view kTypeStateConflict =
    "https://keygate.dev/problems/state-conflict";
constexpr std::string_view kTypeQuotaExceeded =
    "https://keygate.dev/problems/quota-exceeded";
constexpr std::string_view kTypeDelegationDenied =
    "https://keygate.dev/problems/delegation-denied";

constexpr std::string_view kChallengeRealm = "Bearer realm=\"keygate\"";
constexpr std::string_view kChallengeInvalidToken =
    "Bearer realm=\"keygate\", error=\"invalid_token\"";
constexpr std::string_view kChallengeInsufficientScope =
    "Bearer realm=\"keygate\", error=\"insufficient_scope\"";

// Longest detail/message text copied into a problem; longer text is cut at a
// UTF-8 boundary.
constexpr size_t kMaxTextBytes = 1024;
// Longest scope echoed in a WWW-Authenticate header.
constexpr size_t kMaxScopeBytes = 256;

// One row of the mapping table. `detail` is fixed: a status message never
// reaches the client (it may name another tenant's resource or a file path).
struct StatusMapping {
  absl::StatusCode code;
  int http_status;
  std::string_view type;  // empty = about:blank
  std::string_view detail;
};

constexpr StatusMapping kStatusTable[] = {
    {absl::StatusCode::kInvalidArgument, 422, kTypeValidation,
     "validation failed"},
    {absl::StatusCode::kUnauthenticated, 401, kTypeInvalidToken,
     "invalid token"},
    {absl::StatusCode::kPermissionDenied, 403, kTypeInsufficientScope,
     "insufficient scope"},
    {absl::StatusCode::kNotFound, 404, "", "not found"},
    {absl::StatusCode::kAlreadyExists, 409, kTypeConflict, "conflict"},
    {absl::StatusCode::kResourceExhausted, 429, kTypeQuotaExceeded,
     "active token quota reached for this organization"},
    // In a serving host this is the resource's state refusing the request
    // (CreateToken on a disabled service account); the store's open-time
    // causes (locked, wrong pepper) never reach a request.
    {absl::StatusCode::kFailedPrecondition, 409, kTypeStateConflict,
     "the resource's current state does not allow this request"},
    {absl::StatusCode::kUnavailable, 503, "", "service unavailable"},
};

// Everything not in the table (Internal, DataLoss, Unknown, OK, ...).
constexpr StatusMapping kDefaultMapping = {absl::StatusCode::kInternal, 500,
                                           "", "internal error"};

const StatusMapping& MappingFor(absl::StatusCode code) {
  for (const StatusMapping& row : kStatusTable) {
    if (row.code == code) return row;
  }
  return kDefaultMapping;
}

// Cuts `text` to kMaxTextBytes without splitting a UTF-8 sequence. Invalid
// UTF-8 is left for ProblemToJson to replace.
std::string BoundedText(std::string_view text) {
  if (text.size() <= kMaxTextBytes) return std::string(text);
  size_t end = kMaxTextBytes;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xc0) == 0x80) {
    --end;
  }
  return std::string(text.substr(0, end));
}

// True if `scope` can be echoed in a quoted WWW-Authenticate parameter:
// RFC 6750 scope = scope-token *( SP scope-token ), scope-token =
// 1*( %x21 / %x23-5B / %x5D-7E ).
bool IsHeaderSafeScope(std::string_view scope) {
  if (scope.empty() || scope.size() > kMaxScopeBytes) return false;
  if (scope.front() == ' ' || scope.back() == ' ') return false;
  char prev = 0;
  for (char c : scope) {
    const auto u = static_cast<unsigned char>(c);
    if (c == ' ') {
      if (prev == ' ') return false;
    } else if (u < 0x21 || u > 0x7e || c == '"' || c == '\\') {
      return false;
    }
    prev = c;
  }
  return true;
}

// DelegationDetail is the fixed, client-safe detail of a delegation refusal
// (keygate/delegation.h): one sentence per rule, plus the scope where the
// status carries a well-formed one (DelegationScopeOf validates it).
std::string DelegationDetail(DelegationRule rule, const std::string& scope) {
  switch (rule) {
    case DelegationRule::kScopeNotHeld:
      if (scope.empty()) {
        return "delegation: a token cannot grant a scope it does not hold";
      }
      return "delegation: a token cannot grant scope \"" + scope +
             "\", which it does not hold";
    case DelegationRule::kExpiryBeyondCaller:
      return "delegation: a token cannot create a token that expires later "
             "than itself, or never";
    case DelegationRule::kOtherServiceAccount:
      if (scope.empty()) {
        return "delegation: a token acts on its own service account only";
      }
      return "delegation: a token acts on its own service account only; "
             "another account requires scope \"" +
             scope + "\"";
    case DelegationRule::kReenableAccount:
      return "delegation: a token cannot re-enable a service account";
    case DelegationRule::kNone:
      break;
  }
  return "delegation: not allowed";
}

// Builds the skeleton every problem shares: status, title, type, detail and
// the Content-Type header.
Problem BaseProblem(int http_status, std::string_view type,
                    std::string_view detail) {
  if (http_status < 100 || http_status > 599) http_status = 500;
  Problem problem;
  problem.type = std::string(type);
  problem.title = std::string(HttpStatusTitle(http_status));
  problem.status = http_status;
  problem.detail = BoundedText(detail);
  problem.headers.emplace_back("Content-Type",
                               std::string(kProblemContentType));
  return problem;
}

// Adds the headers a bare status calls for (used where no more specific
// problem builder applies).
void AddStatusHeaders(Problem& problem) {
  if (problem.status == 401) {
    problem.headers.emplace_back("WWW-Authenticate",
                                 std::string(kChallengeRealm));
  } else if (problem.status == 503) {
    problem.headers.emplace_back("Retry-After", "1");
  }
}

std::string_view BaseFieldName(std::string_view field) {
  return field.substr(0, field.find('['));
}

bool Contains(const std::vector<std::string>& names, std::string_view name) {
  for (const std::string& n : names) {
    if (n == name) return true;
  }
  return false;
}

// Where a FieldError's field came from in the HTTP request.
std::string LocationOf(std::string_view field, const ProblemContext& context) {
  const std::string safe_field = SafeValue(field);
  if (safe_field.empty()) return "body";
  const std::string_view base = BaseFieldName(safe_field);
  // The host derives organization and actor from the caller's credential
  // (the JWT), never from the request's path, query or body.
  if (base == "organization" || base == "actor") {
    return "header.Authorization";
  }
  if (Contains(context.path_fields, base)) return "path." + safe_field;
  if (Contains(context.query_fields, base)) return "query." + safe_field;
  return "body." + safe_field;
}

ProblemError ToProblemError(const FieldError& error,
                            const ProblemContext& context) {
  ProblemError out;
  out.location = LocationOf(error.field, context);
  out.message = BoundedText(error.message);
  // A token is a secret: its value is never echoed, whatever the producer
  // put in the FieldError.
  if (!error.value.empty() && BaseFieldName(error.field) != "token") {
    out.value = SafeValue(error.value);
  }
  return out;
}

}  // namespace

Problem ProblemFromStatus(const absl::Status& status,
                          const ProblemContext& context) {
  const StatusMapping& row = MappingFor(status.code());
  Problem problem;
  switch (status.code()) {
    case absl::StatusCode::kUnauthenticated:
      problem = InvalidTokenProblem();
      break;
    case absl::StatusCode::kPermissionDenied: {
      // A delegation refusal is not a missing route scope: its own type and
      // detail, and no insufficient_scope challenge (the token may well hold
      // the route's scope; what it asked for exceeds what it holds).
      const DelegationRule rule = DelegationRuleOf(status);
      if (rule != DelegationRule::kNone) {
        problem = BaseProblem(403, kTypeDelegationDenied,
                              DelegationDetail(rule, DelegationScopeOf(status)));
        break;
      }
      problem = InsufficientScopeProblem(
          internal::RequiredScopeOf(status).value_or(std::string()));
      break;
    }
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kFailedPrecondition: {
      problem = BaseProblem(row.http_status, row.type, row.detail);
      const std::vector<FieldError> fields = FieldErrorsOf(status);
      for (const FieldError& e : fields) {
        problem.errors.push_back(ToProblemError(e, context));
      }
      if (status.code() == absl::StatusCode::kAlreadyExists &&
          !fields.empty()) {
        problem.detail =
            "conflict: " + SafeValue(fields.front().field) + " already in use";
      }
      break;
    }
    default:
      problem = BaseProblem(row.http_status, row.type, row.detail);
      if (status.code() == absl::StatusCode::kUnavailable) {
        problem.headers.emplace_back("Retry-After", "1");
      }
      break;
  }
  problem.instance = BoundedText(context.instance);
  return problem;
}

Problem MissingCredentialsProblem() {
  Problem problem = BaseProblem(401, "", "authentication required");
  problem.headers.emplace_back("WWW-Authenticate",
                               std::string(kChallengeRealm));
  return problem;
}

Problem InvalidTokenProblem() {
  Problem problem = BaseProblem(401, kTypeInvalidToken, "invalid token");
  problem.headers.emplace_back("WWW-Authenticate",
                               std::string(kChallengeInvalidToken));
  return problem;
}

Problem InsufficientScopeProblem(std::string_view scope) {
  if (!IsHeaderSafeScope(scope)) {
    Problem problem =
        BaseProblem(403, kTypeInsufficientScope, "insufficient scope");
    problem.headers.emplace_back("WWW-Authenticate",
                                 std::string(kChallengeInsufficientScope));
    return problem;
  }
  const std::string scope_text(scope);
  Problem problem = BaseProblem(403, kTypeInsufficientScope,
                                "insufficient scope: requires " + scope_text);
  problem.headers.emplace_back(
      "WWW-Authenticate", std::string(kChallengeInsufficientScope) +
                              ", scope=\"" + scope_text + "\"");
  return problem;
}

Problem MalformedBodyProblem(std::string_view detail) {
  const std::string_view text =
      detail.empty() ? std::string_view("malformed request body") : detail;
  Problem problem = BaseProblem(400, "", text);
  problem.errors.push_back(
      ProblemError{"body", BoundedText(text), std::nullopt});
  return problem;
}

Problem HttpProblem(int http_status, std::string_view detail) {
  Problem problem = BaseProblem(http_status, "", detail);
  AddStatusHeaders(problem);
  return problem;
}

Problem WithTypeBase(Problem problem, std::string_view type_base) {
  std::string_view type = problem.type;
  if (type_base != kDefaultProblemTypeBase &&
      type.substr(0, kDefaultProblemTypeBase.size()) ==
          kDefaultProblemTypeBase) {
    problem.type = std::string(type_base) +
                   std::string(type.substr(kDefaultProblemTypeBase.size()));
  }
  return problem;
}

std::string ProblemToJson(const Problem& problem) {
  using Json = nlohmann::ordered_json;
  try {
    Json j = Json::object();
    if (!problem.type.empty()) j["type"] = problem.type;
    if (!problem.title.empty()) j["title"] = problem.title;
    if (problem.status != 0) j["status"] = problem.status;
    if (!problem.detail.empty()) j["detail"] = problem.detail;
    if (!problem.instance.empty()) j["instance"] = problem.instance;
    if (!problem.errors.empty()) {
      Json errors = Json::array();
      for (const ProblemError& e : problem.errors) {
        Json entry = Json::object();
        if (!e.location.empty()) entry["location"] = e.location;
        if (!e.message.empty()) entry["message"] = e.message;
        if (e.value.has_value() && !e.value->empty()) entry["value"] = *e.value;
        errors.push_back(std::move(entry));
      }
      j["errors"] = std::move(errors);
    }
    for (const auto& [name, value] : problem.extensions) {
      // An extension never overrides a standard member or an earlier one.
      if (name.empty() || value.empty() || j.contains(name)) continue;
      j[name] = value;
    }
    // `replace` turns invalid UTF-8 into U+FFFD, so the output is always
    // valid UTF-8 (RFC 8259 section 8.1) whatever the strings hold.
    return j.dump(-1, ' ', false, Json::error_handler_t::replace);
  } catch (const std::exception&) {
    // Only allocation failure can get here; answer with a fixed body.
    return R"({"title":"Internal Server Error","status":500})";
  }
}

// The phrases are Go's net/http StatusText, which the reference product's
// (Huma) error bodies carry, so clients of either see the same titles.
std::string_view HttpStatusTitle(int http_status) {
  switch (http_status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Request Entity Too Large";
    case 414: return "Request URI Too Long";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Error";
  }
}

}  // namespace keygate::http

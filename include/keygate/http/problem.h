// keygate/http/problem.h: RFC 9457 problem details for keygate outcomes.
//
// A host turns any keygate status into the HTTP answer its client should see
// with ProblemFromStatus, then sends problem.status, problem.headers and
// ProblemToJson(problem) as the body. The mapping lives in one table in
// lib/http/problem.cc; docs/problem-details.md lists it. In short:
//   InvalidArgument 422 (errors[]), Unauthenticated 401 (one body for every
//   reason), PermissionDenied 403 (insufficient scope, or a delegation
//   refusal: keygate/delegation.h), NotFound 404 (fixed body), AlreadyExists
//   409 (errors[]), ResourceExhausted 429 (quota), FailedPrecondition 409
//   (resource state, e.g. disabled account), Unavailable 503 +
//   Retry-After: 1, anything else 500 "internal error".
// A status message never reaches the client; log the status instead.
// Every function here is thread-safe and never fails.
#ifndef KEYGATE_HTTP_PROBLEM_H_
#define KEYGATE_HTTP_PROBLEM_H_

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace keygate::http {

inline constexpr std::string_view kProblemContentType =
    "application/problem+json";

// The base of keygate's own problem types ("<base>validation", ...). A host
// publishes its own with WithTypeBase / ProblemResponse /
// ManagementApiOptions::problem_type_base.
inline constexpr std::string_view kDefaultProblemTypeBase =
    "https://keygate.dev/problems/";

// ProblemError is one entry of a problem's `errors` member.
struct ProblemError {
  std::string location;  // e.g. "path.serviceAccountSlug", "body.scopes[1]"
  std::string message;
  std::optional<std::string> value;  // omitted when absent; never a secret
};

// Problem is an RFC 9457 problem-details record plus the response headers
// that go with it. Empty members are omitted from the JSON.
struct Problem {
  // URI; empty means about:blank (omitted). keygate-specific problems use
  // https://keygate.dev/problems/<name>; plain HTTP errors use about:blank.
  std::string type;
  std::string title;  // the HTTP status phrase (HttpStatusTitle)
  int status = 500;
  std::string detail;
  std::string instance;
  std::vector<ProblemError> errors;
  // Extension members, string-valued, e.g. {"quota", "100"}.
  std::vector<std::pair<std::string, std::string>> extensions;
  // Response headers: always Content-Type: application/problem+json (first);
  // WWW-Authenticate for 401 and insufficient-scope 403 (not for delegation
  // refusals); Retry-After for retryable 503s. For 405 the
  // host appends Allow itself (HttpProblem cannot know the route's methods).
  std::vector<std::pair<std::string, std::string>> headers;
};

// ProblemContext tells the adapter where request fields live, so a
// FieldError's field becomes "path.<field>", "query.<field>" or
// "body.<field>". A field's base name (before any "[index]") is matched, so
// "scopes[1]" matches "scopes". The fields "organization" and "actor" come
// from the caller's credential, so they map to "header.Authorization"; an
// empty field maps to "body".
struct ProblemContext {
  // Default: {"serviceAccountSlug", "tokenSlug"}.
  std::vector<std::string> path_fields = {"serviceAccountSlug", "tokenSlug"};
  // Default: {"limit", "cursor"}.
  std::vector<std::string> query_fields = {"limit", "cursor"};
  // Copied to Problem::instance. Default: empty.
  std::string instance;
};

// ProblemFromStatus maps a keygate status to its problem. REQUIRES:
// !status.ok() (an OK status yields the generic 500). Details are fixed per
// code, except 403 (names the required scope; a delegation refusal instead
// gets type delegation-denied, a fixed detail per DelegationRule naming the
// scope where safe, and no WWW-Authenticate) and 409 (names the
// conflicting field); the status message never reaches the client, so the
// host should log `status` itself. Field-error values are passed through
// SafeValue again, and a field named "token" never has its value echoed.
Problem ProblemFromStatus(const absl::Status& status,
                          const ProblemContext& context = {});

// MissingCredentialsProblem is the 401 for a request with no credentials:
// about:blank, detail "authentication required",
// `WWW-Authenticate: Bearer realm="keygate"`.
Problem MissingCredentialsProblem();

// InvalidTokenProblem is the one 401 every verification failure gets (also
// what ProblemFromStatus gives any Unauthenticated status): detail "invalid
// token", `WWW-Authenticate: Bearer realm="keygate", error="invalid_token"`.
// A host should use it for a rejected JWT too.
Problem InvalidTokenProblem();

// InsufficientScopeProblem is the 403 for a token without `scope`: detail
// "insufficient scope: requires <scope>", `WWW-Authenticate: Bearer
// realm="keygate", error="insufficient_scope", scope="<scope>"`. A scope that
// is empty or not a valid RFC 6750 scope (printable ASCII without '"' and
// '\', single spaces between tokens, at most 256 bytes) is not echoed:
// detail "insufficient scope" and no scope parameter.
Problem InsufficientScopeProblem(std::string_view scope);

// MalformedBodyProblem is the 400 for a body that is not valid JSON (or not
// an object), with one error at location "body" whose message is `detail`
// (empty: "malformed request body"). about:blank. `detail` is cut to 1 KiB.
Problem MalformedBodyProblem(std::string_view detail);

// HttpProblem builds a plain about:blank problem for `http_status` (e.g. 404
// unknown route, 405, 413, 415) with `detail` (cut to 1 KiB; never put an
// internal cause in it). Adds `WWW-Authenticate: Bearer realm="keygate"`
// for 401 and `Retry-After: 1` for 503. A status outside 100-599 becomes
// 500. HttpProblem(404, "not found") is byte-identical to the NotFound
// problem, so an unknown route reads like a missing resource.
Problem HttpProblem(int http_status, std::string_view detail);

// ProblemToJson serializes `problem` as compact JSON: members in the order
// type, title, status, detail, instance, errors, then extensions; empty
// members (and a 0 status) omitted; an extension named like a standard or
// earlier member, or with an empty name or value, is skipped. Invalid UTF-8
// in any string becomes U+FFFD, so the output is always valid UTF-8.
std::string ProblemToJson(const Problem& problem);

// WithTypeBase returns `problem` with a keygate problem type (one that starts
// with kDefaultProblemTypeBase) moved onto `type_base`, e.g.
// "https://api.example.com/problems/" or "urn:example:problem:". Other types
// (about:blank, a host's own) are left as they are.
Problem WithTypeBase(Problem problem, std::string_view type_base);

// HttpStatusTitle returns the reason phrase of `http_status` ("Not Found"),
// as Go's net/http spells it (the reference product's titles), or "Error"
// for a code it does not know.
std::string_view HttpStatusTitle(int http_status);

}  // namespace keygate::http

#endif  // KEYGATE_HTTP_PROBLEM_H_

// keygate/problem.h: RFC 9457 problem details for keygate outcomes.
//
// A host turns any keygate status into the HTTP answer its client should see
// with ProblemFromStatus, then sends problem.status, problem.headers and
// ProblemToJson(problem) as the body. The mapping lives in one table in
// lib/problem/; see docs/problem-details.md.
#ifndef KEYGATE_PROBLEM_H_
#define KEYGATE_PROBLEM_H_

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace keygate {

inline constexpr std::string_view kProblemContentType =
    "application/problem+json";

// ProblemError is one entry of a problem's `errors` member.
struct ProblemError {
  std::string location;  // e.g. "path.serviceAccountSlug", "body.scopes[1]"
  std::string message;
  std::optional<std::string> value;  // omitted when absent; never a secret
};

// Problem is an RFC 9457 problem-details record plus the response headers
// that go with it. Empty members are omitted from the JSON.
struct Problem {
  std::string type;  // URI; empty means about:blank (omitted)
  std::string title;  // the HTTP status phrase
  int status = 500;
  std::string detail;
  std::string instance;
  std::vector<ProblemError> errors;
  // Extension members, string-valued, e.g. {"quota", "100"}.
  std::vector<std::pair<std::string, std::string>> extensions;
  // Response headers: always Content-Type; WWW-Authenticate for 401/403;
  // Retry-After for 503; Allow for 405.
  std::vector<std::pair<std::string, std::string>> headers;
};

// ProblemContext tells the adapter where request fields live, so a
// FieldError's field becomes "path.<field>", "query.<field>" or
// "body.<field>".
struct ProblemContext {
  // Default: {"serviceAccountSlug", "tokenSlug"}.
  std::vector<std::string> path_fields = {"serviceAccountSlug", "tokenSlug"};
  // Default: {"limit", "cursor"}.
  std::vector<std::string> query_fields = {"limit", "cursor"};
  // Copied to Problem::instance. Default: empty.
  std::string instance;
};

// ProblemFromStatus maps a keygate status to its problem. REQUIRES:
// !status.ok(). Internal causes never reach `detail`; the host should log
// `status` itself.
Problem ProblemFromStatus(const absl::Status& status,
                          const ProblemContext& context = {});

// MissingCredentialsProblem is the 401 for a request with no credentials:
// `WWW-Authenticate: Bearer realm="keygate"`.
Problem MissingCredentialsProblem();

// InvalidTokenProblem is the one 401 every verification failure gets.
Problem InvalidTokenProblem();

// InsufficientScopeProblem is the 403 for a token without `scope`.
Problem InsufficientScopeProblem(std::string_view scope);

// MalformedBodyProblem is the 400 for a body that is not valid JSON (or not
// an object), with one error at location "body".
Problem MalformedBodyProblem(std::string_view detail);

// HttpProblem builds a plain problem for `http_status` (e.g. 404 unknown
// route, 405, 413, 415) with `detail`.
Problem HttpProblem(int http_status, std::string_view detail);

// ProblemToJson serializes `problem` (members in RFC order, empty ones
// omitted, valid UTF-8 guaranteed).
std::string ProblemToJson(const Problem& problem);

// HttpStatusTitle returns the reason phrase of `http_status` ("Not Found").
std::string_view HttpStatusTitle(int http_status);

}  // namespace keygate

#endif  // KEYGATE_PROBLEM_H_

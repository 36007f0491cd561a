// tests/problem_test.cc: the problem-details adapter (keygate/http/problem.h).
#include "keygate/http/problem.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "keygate/errors.h"
#include "lib/errors/payloads.h"
#include "nlohmann/json.hpp"

namespace keygate::http {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;

using Headers = std::vector<std::pair<std::string, std::string>>;

const std::pair<std::string, std::string> kContentType = {
    "Content-Type", "application/problem+json"};

// True if `s` parses as JSON (nlohmann's parser rejects invalid UTF-8).
bool IsValidJson(const std::string& s) {
  return !nlohmann::json::parse(s, nullptr, false).is_discarded();
}

struct TableRow {
  absl::Status status;
  int http_status;
  Headers headers;
  std::string json;
};

// The whole mapping table: one row per status code, with the exact body.
// Every status carries a message that must not reach the client.
std::vector<TableRow> MappingTable() {
  return {
      {absl::InvalidArgumentError("secret internal text"), 422,
       {kContentType},
       R"({"type":"https://keygate.dev/problems/validation",)"
       R"("title":"Unprocessable Entity","status":422,)"
       R"("detail":"validation failed"})"},
      {internal::VerifyError(VerifyFailure::kRevoked), 401,
       {kContentType,
        {"WWW-Authenticate",
         R"(Bearer realm="keygate", error="invalid_token")"}},
       R"({"type":"https://keygate.dev/problems/invalid-token",)"
       R"("title":"Unauthorized","status":401,"detail":"invalid token"})"},
      {internal::VerifyError(VerifyFailure::kInsufficientScope,
                             "write:tokens"),
       403,
       {kContentType,
        {"WWW-Authenticate",
         R"(Bearer realm="keygate", error="insufficient_scope", )"
         R"(scope="write:tokens")"}},
       R"({"type":"https://keygate.dev/problems/insufficient-scope",)"
       R"("title":"Forbidden","status":403,)"
       R"("detail":"insufficient scope: requires write:tokens"})"},
      {absl::NotFoundError("token acme/bot/t1 not found"), 404,
       {kContentType},
       R"({"title":"Not Found","status":404,"detail":"not found"})"},
      {ConflictError({"slug", "already in use", "deploy-bot"}), 409,
       {kContentType},
       R"({"type":"https://keygate.dev/problems/conflict",)"
       R"("title":"Conflict","status":409,)"
       R"("detail":"conflict: slug already in use",)"
       R"("errors":[{"location":"body.slug","message":"already in use",)"
       R"("value":"deploy-bot"}]})"},
      {absl::ResourceExhaustedError("org acme has 100 tokens"), 429,
       {kContentType},
       R"({"type":"https://keygate.dev/problems/quota-exceeded",)"
       R"("title":"Too Many Requests","status":429,)"
       R"("detail":"active token quota reached for this organization"})"},
      {absl::FailedPreconditionError("the service account is disabled"), 409,
       {kContentType},
       R"({"type":"https://keygate.dev/problems/state-conflict",)"
       R"("title":"Conflict","status":409,)"
       R"("detail":"the resource's current state does not allow this request"})"},
      {absl::UnavailableError("rocksdb: IO error /var/lib/x"), 503,
       {kContentType, {"Retry-After", "1"}},
       R"({"title":"Service Unavailable","status":503,)"
       R"("detail":"service unavailable"})"},
      {absl::InternalError("rocksdb: Corruption: /var/lib/x/000012.sst"), 500,
       {kContentType},
       R"({"title":"Internal Server Error","status":500,)"
       R"("detail":"internal error"})"},
  };
}

TEST(ProblemFromStatusTest, MappingTable) {
  for (const TableRow& row : MappingTable()) {
    SCOPED_TRACE(row.status.ToString());
    const Problem p = ProblemFromStatus(row.status);
    EXPECT_EQ(p.status, row.http_status);
    EXPECT_EQ(p.headers, row.headers);
    EXPECT_EQ(ProblemToJson(p), row.json);
  }
}

TEST(ProblemFromStatusTest, EveryOtherCodeIsAGeneric500) {
  const absl::StatusCode codes[] = {
      absl::StatusCode::kCancelled,       absl::StatusCode::kUnknown,
      absl::StatusCode::kDeadlineExceeded, absl::StatusCode::kAborted,
      absl::StatusCode::kOutOfRange,      absl::StatusCode::kUnimplemented,
      absl::StatusCode::kInternal,        absl::StatusCode::kDataLoss,
      absl::StatusCode::kOk,  // a caller bug, still no crash
  };
  for (absl::StatusCode code : codes) {
    const Problem p = ProblemFromStatus(absl::Status(code, "LEAK /etc/x"));
    EXPECT_EQ(p.status, 500);
    EXPECT_EQ(p.headers, Headers{kContentType});
    EXPECT_EQ(ProblemToJson(p),
              R"({"title":"Internal Server Error","status":500,)"
              R"("detail":"internal error"})");
  }
}

TEST(ProblemFromStatusTest, NoStatusMessageEverLeaks) {
  for (int code = 1; code <= 16; ++code) {
    absl::Status s(static_cast<absl::StatusCode>(code), "LEAKED-MESSAGE");
    const Problem p = ProblemFromStatus(s);
    EXPECT_THAT(ProblemToJson(p), Not(HasSubstr("LEAKED")));
    for (const auto& [name, value] : p.headers) {
      EXPECT_THAT(value, Not(HasSubstr("LEAKED")));
    }
  }
}

TEST(ProblemFromStatusTest, NotFoundBodiesAreByteIdentical) {
  ProblemContext context;
  context.instance = "/service-accounts/bot/tokens/t1";
  const std::string miss = ProblemToJson(
      ProblemFromStatus(absl::NotFoundError("no such token"), context));
  const std::string other_org = ProblemToJson(ProblemFromStatus(
      absl::NotFoundError("token t1 belongs to organization globex"),
      context));
  EXPECT_EQ(miss, other_org);
  const Problem p = ProblemFromStatus(absl::NotFoundError("x"), context);
  EXPECT_EQ(ProblemToJson(p), ProblemToJson([] {
              Problem q = HttpProblem(404, "not found");
              q.instance = "/service-accounts/bot/tokens/t1";
              return q;
            }()));
}

TEST(ProblemFromStatusTest, EveryVerifyFailureGetsTheSame401) {
  const std::string expected = ProblemToJson(InvalidTokenProblem());
  const VerifyFailure reasons[] = {
      VerifyFailure::kMalformed, VerifyFailure::kUnknown,
      VerifyFailure::kRevoked, VerifyFailure::kExpired,
      VerifyFailure::kAccountDisabled};
  for (VerifyFailure reason : reasons) {
    const Problem p = ProblemFromStatus(internal::VerifyError(reason));
    EXPECT_EQ(ProblemToJson(p), expected);
    EXPECT_EQ(p.headers, InvalidTokenProblem().headers);
  }
  // Any Unauthenticated, whatever its message, reads the same.
  EXPECT_EQ(ProblemToJson(ProblemFromStatus(
                absl::UnauthenticatedError("jwt: expired"))),
            expected);
}

TEST(ProblemFromStatusTest, ValidationErrorsGetLocations) {
  absl::Status s = ValidationError({
      {"serviceAccountSlug", "bad slug", "Bad Slug"},
      {"tokenSlug", "bad slug", ""},
      {"limit", "must be 1-1000", "0"},
      {"cursor", "malformed cursor", "zz"},
      {"name", "must not be empty", ""},
      {"scopes[1]", "unknown scope", "fly:*"},
      {"expiresAt", "in the past", "2001-01-01T00:00:00Z"},
      {"organization", "too long", "o"},
      {"actor", "control characters", "a?b"},
      {"", "body must be an object", ""},
  });
  ProblemContext context;
  context.instance = "/service-accounts/x/tokens";
  const Problem p = ProblemFromStatus(s, context);
  EXPECT_EQ(p.status, 422);
  EXPECT_EQ(
      ProblemToJson(p),
      R"({"type":"https://keygate.dev/problems/validation",)"
      R"("title":"Unprocessable Entity","status":422,)"
      R"("detail":"validation failed","instance":"/service-accounts/x/tokens",)"
      R"("errors":[)"
      R"({"location":"path.serviceAccountSlug","message":"bad slug","value":"Bad Slug"},)"
      R"({"location":"path.tokenSlug","message":"bad slug"},)"
      R"({"location":"query.limit","message":"must be 1-1000","value":"0"},)"
      R"({"location":"query.cursor","message":"malformed cursor","value":"zz"},)"
      R"({"location":"body.name","message":"must not be empty"},)"
      R"({"location":"body.scopes[1]","message":"unknown scope","value":"fly:*"},)"
      R"({"location":"body.expiresAt","message":"in the past","value":"2001-01-01T00:00:00Z"},)"
      R"({"location":"header.Authorization","message":"too long","value":"o"},)"
      R"({"location":"header.Authorization","message":"control characters","value":"a?b"},)"
      R"({"location":"body","message":"body must be an object"}]})");
}

TEST(ProblemFromStatusTest, ContextChoosesPathAndQueryFields) {
  ProblemContext context;
  context.path_fields = {"scopes"};
  context.query_fields = {"scope"};
  const Problem p = ProblemFromStatus(
      ValidationError({{"scopes[3]", "m", ""},
                       {"scope", "m", ""},
                       {"serviceAccountSlug", "m", ""}}),
      context);
  ASSERT_EQ(p.errors.size(), 3u);
  EXPECT_EQ(p.errors[0].location, "path.scopes[3]");
  EXPECT_EQ(p.errors[1].location, "query.scope");
  EXPECT_EQ(p.errors[2].location, "body.serviceAccountSlug");
}

TEST(ProblemFromStatusTest, TokenValuesAreNeverEchoed) {
  const Problem p = ProblemFromStatus(
      ValidationError({{"token", "malformed", "kg_SECRETSECRETSECRET"}}));
  ASSERT_EQ(p.errors.size(), 1u);
  EXPECT_FALSE(p.errors[0].value.has_value());
  EXPECT_THAT(ProblemToJson(p), Not(HasSubstr("SECRET")));
}

TEST(ProblemFromStatusTest, ValuesAreTruncatedAndSanitized) {
  const std::string huge(1 << 20, 'v');
  const Problem p = ProblemFromStatus(ValidationError(
      {{"name", "too long", huge},
       {"slug", "bad", std::string("a\0b\xff\xc0\xaf\xed\xa0\x80z", 10)}}));
  ASSERT_EQ(p.errors.size(), 2u);
  EXPECT_EQ(p.errors[0].value, std::string(64, 'v'));
  EXPECT_EQ(p.errors[1].value, "a?b??????z");
  EXPECT_TRUE(IsValidJson(ProblemToJson(p)));
}

TEST(ProblemFromStatusTest, ConflictWithoutFieldErrors) {
  const Problem p = ProblemFromStatus(absl::AlreadyExistsError("dup"));
  EXPECT_EQ(ProblemToJson(p),
            R"({"type":"https://keygate.dev/problems/conflict",)"
            R"("title":"Conflict","status":409,"detail":"conflict"})");
}

TEST(ProblemFromStatusTest, PermissionDeniedWithoutScope) {
  const Problem p = ProblemFromStatus(absl::PermissionDeniedError("nope"));
  EXPECT_EQ(p.status, 403);
  EXPECT_THAT(p.headers,
              ElementsAre(kContentType,
                          Pair("WWW-Authenticate",
                               R"(Bearer realm="keygate", )"
                               R"(error="insufficient_scope")")));
  EXPECT_EQ(p.detail, "insufficient scope");
}

TEST(InsufficientScopeProblemTest, UnsafeScopeIsNotEchoed) {
  const std::string bad[] = {
      "read:tokens\"", "read:tokens\\", std::string("a\0b", 3), "a\r\nX: y",
      " read:tokens", "read:tokens ", "a  b", "caf\xc3\xa9", "",
      std::string(300, 'a')};
  for (const std::string& scope : bad) {
    const Problem p = InsufficientScopeProblem(scope);
    EXPECT_EQ(p.status, 403);
    EXPECT_EQ(p.detail, "insufficient scope");
    EXPECT_EQ(p.headers.back().second,
              R"(Bearer realm="keygate", error="insufficient_scope")");
  }
  EXPECT_EQ(InsufficientScopeProblem("read:tokens write:tokens").headers.back()
                .second,
            R"(Bearer realm="keygate", error="insufficient_scope", )"
            R"(scope="read:tokens write:tokens")");
}

TEST(BuildersTest, MissingCredentials) {
  const Problem p = MissingCredentialsProblem();
  EXPECT_EQ(p.status, 401);
  EXPECT_THAT(p.headers, ElementsAre(kContentType,
                                     Pair("WWW-Authenticate",
                                          R"(Bearer realm="keygate")")));
  EXPECT_EQ(ProblemToJson(p), R"({"title":"Unauthorized","status":401,)"
                              R"("detail":"authentication required"})");
}

TEST(BuildersTest, MalformedBody) {
  const Problem p = MalformedBodyProblem("body is not valid JSON");
  EXPECT_EQ(p.headers, Headers{kContentType});
  EXPECT_EQ(ProblemToJson(p),
            R"({"title":"Bad Request","status":400,)"
            R"("detail":"body is not valid JSON",)"
            R"("errors":[{"location":"body","message":"body is not valid JSON"}]})");
  EXPECT_EQ(MalformedBodyProblem("").detail, "malformed request body");
}

TEST(BuildersTest, HttpProblems) {
  EXPECT_EQ(ProblemToJson(HttpProblem(405, "method not allowed")),
            R"({"title":"Method Not Allowed","status":405,)"
            R"("detail":"method not allowed"})");
  EXPECT_EQ(HttpProblem(413, "x").title, "Request Entity Too Large");
  EXPECT_EQ(HttpProblem(415, "x").title, "Unsupported Media Type");
  EXPECT_EQ(HttpProblem(503, "x").headers,
            (Headers{kContentType, {"Retry-After", "1"}}));
  EXPECT_EQ(HttpProblem(401, "x").headers,
            (Headers{kContentType,
                     {"WWW-Authenticate", R"(Bearer realm="keygate")"}}));
  EXPECT_EQ(HttpProblem(404, "").headers, Headers{kContentType});
  EXPECT_EQ(ProblemToJson(HttpProblem(404, "")),
            R"({"title":"Not Found","status":404})");
  // Out-of-range statuses become 500.
  EXPECT_EQ(HttpProblem(42, "x").status, 500);
  EXPECT_EQ(HttpProblem(1000, "x").status, 500);
}

TEST(ProblemToJsonTest, OmitsEmptyMembersAndKeepsOrder) {
  Problem p;
  p.status = 418;
  EXPECT_EQ(ProblemToJson(p), R"({"status":418})");
  p.type = "t";
  p.title = "T";
  p.detail = "d";
  p.instance = "/i";
  p.errors.push_back({"body.x", "m", std::nullopt});
  p.errors.push_back({"body.y", "", std::string("")});
  p.extensions = {{"quota", "100"}, {"status", "999"}, {"", "x"},
                  {"quota", "again"}, {"empty", ""}};
  EXPECT_EQ(ProblemToJson(p),
            R"({"type":"t","title":"T","status":418,"detail":"d",)"
            R"("instance":"/i","errors":[{"location":"body.x","message":"m"},)"
            R"({"location":"body.y"}],"quota":"100"})");
}

TEST(ProblemToJsonTest, InvalidUtf8AlwaysYieldsValidJson) {
  Problem p = HttpProblem(400, std::string("bad \xff\xfe \xc0\xaf \0 end", 15));
  p.instance = "/x/\xed\xa0\x80";
  p.errors.push_back({"body.\x80", "m\xe2\x82", std::string("\xf8\x88")});
  p.extensions.push_back({"k\xff", "v\xff"});
  const std::string json = ProblemToJson(p);
  EXPECT_TRUE(IsValidJson(json)) << json;
  EXPECT_THAT(json, HasSubstr("\\u0000"));  // NUL escaped, not raw
  EXPECT_THAT(json, Not(HasSubstr(std::string(1, '\0'))));
}

TEST(ProblemToJsonTest, LongDetailIsBounded) {
  const std::string json = ProblemToJson(
      MalformedBodyProblem(std::string(1 << 20, 'x') + "\xe2\x82\xac"));
  EXPECT_LT(json.size(), 4096u);
  EXPECT_TRUE(IsValidJson(json));
}

TEST(HttpStatusTitleTest, CommonCodes) {
  EXPECT_EQ(HttpStatusTitle(400), "Bad Request");
  EXPECT_EQ(HttpStatusTitle(401), "Unauthorized");
  EXPECT_EQ(HttpStatusTitle(403), "Forbidden");
  EXPECT_EQ(HttpStatusTitle(404), "Not Found");
  EXPECT_EQ(HttpStatusTitle(405), "Method Not Allowed");
  EXPECT_EQ(HttpStatusTitle(409), "Conflict");
  EXPECT_EQ(HttpStatusTitle(413), "Request Entity Too Large");
  EXPECT_EQ(HttpStatusTitle(415), "Unsupported Media Type");
  EXPECT_EQ(HttpStatusTitle(422), "Unprocessable Entity");
  EXPECT_EQ(HttpStatusTitle(429), "Too Many Requests");
  EXPECT_EQ(HttpStatusTitle(500), "Internal Server Error");
  EXPECT_EQ(HttpStatusTitle(503), "Service Unavailable");
  EXPECT_EQ(HttpStatusTitle(599), "Error");
  EXPECT_EQ(HttpStatusTitle(-1), "Error");
}

}  // namespace
}  // namespace keygate::http

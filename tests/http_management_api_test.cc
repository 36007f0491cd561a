// tests/http_management_api_test.cc: the management API in process
// (keygate/http/management_api.h), attacked as a hostile caller would.
//
// Each test drives ManagementApi::Handle on a real Store in a temp dir with
// JWT and keygate-token callers. What the host's socket layer does (limits,
// deadlines) is tested in http_listener_test and serve_test.
#include "keygate/http/management_api.h"

#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "keygate/http/bearer.h"
#include "keygate/http/caller.h"
#include "keygate/http/jwt.h"
#include "lib/http/json_codec.h"
#include "nlohmann/json.hpp"
#include "tests/store_test_util.h"

namespace keygate::http {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

constexpr char kJwtKey[] = "management-api-test-key-0123456789abcdef";

// Every scope the test catalog ("service_accounts", "tokens") can express.
const std::vector<std::string>& AllScopes() {
  static const auto* all = new std::vector<std::string>{
      "read:service_accounts",  "write:service_accounts",
      "delete:service_accounts", "read:tokens",
      "write:tokens",           "delete:tokens",
      "read:*",                 "write:*"};
  return *all;
}

// Grants reports whether `held` grants `required`, per the documented rules
// (write implies read, read:*/write:* cover every module, no delete:*).
// Written independently of the library, as the oracle.
bool Grants(const std::string& held, const std::string& required) {
  if (held == required) return true;
  auto action = [](const std::string& s) { return s.substr(0, s.find(':')); };
  auto module = [](const std::string& s) { return s.substr(s.find(':') + 1); };
  std::string ra = action(required), rm = module(required);
  std::string ha = action(held), hm = module(held);
  bool module_ok = hm == rm || hm == "*";
  if (!module_ok) return false;
  if (ra == "read") return ha == "read" || ha == "write";
  if (ra == "write") return ha == "write";
  return false;  // delete: exact only
}

class ManagementApiTest : public test::StoreTest {
 protected:
  void SetUp() override {
    test::StoreTest::SetUp();
    auto verifier = JwtVerifier::FromKey(kJwtKey);
    ASSERT_TRUE(verifier.ok()) << verifier.status();
    verifier_.emplace(*std::move(verifier));
    token_callers_.emplace(store_.get());
    jwt_callers_.emplace(&*verifier_, &clock_);
    callers_.emplace("kg_", &*token_callers_, &*jwt_callers_);
    MakeApi({});
  }

  void MakeApi(ManagementApiOptions options) {
    api_.emplace(store_.get(), &*callers_, std::move(options));
  }

  std::string Jwt(std::string_view org = kOrg,
                  std::string_view sub = "alice") {
    auto jwt = MintJwt(kJwtKey, "org", org, sub, clock_.Now(), absl::Hours(1));
    EXPECT_TRUE(jwt.ok()) << jwt.status();
    return jwt.ok() ? *jwt : std::string();
  }

  // Token creates a token on `account` directly in the store and returns its
  // value (never printed).
  std::string Token(std::string_view account, std::vector<std::string> scopes,
                    std::optional<absl::Time> expires_at = std::nullopt) {
    static int counter = 0;
    auto created =
        CreateToken(account, absl::StrCat("t", ++counter), std::move(scopes),
                    std::nullopt, expires_at);
    EXPECT_TRUE(created.ok()) << created.status();
    return created.ok() ? std::string(created->value.view()) : std::string();
  }

  Response Call(std::string method, std::string target,
                std::string_view credential, std::string body = {},
                std::vector<Header> extra = {}) {
    Request request;
    request.method = std::move(method);
    request.target = std::move(target);
    if (!credential.empty()) {
      request.headers.push_back(
          {"Authorization", "Bearer " + std::string(credential)});
    }
    if (!body.empty()) {
      request.headers.push_back({"Content-Type", "application/json"});
    }
    for (Header& h : extra) request.headers.push_back(std::move(h));
    request.body = std::move(body);
    return api_->Handle(request);
  }

  // Snapshot is everything a caller could have changed in the org.
  std::string Snapshot() {
    std::string out;
    auto accounts = AllAccounts();
    EXPECT_TRUE(accounts.ok());
    if (!accounts.ok()) return out;
    for (const ServiceAccount& a : *accounts) {
      absl::StrAppend(&out, a.slug, "|", a.name, "|", a.disabled, "\n");
      auto tokens = AllTokens(a.slug);
      EXPECT_TRUE(tokens.ok());
      if (!tokens.ok()) continue;
      for (const TokenMetadata& t : *tokens) {
        absl::StrAppend(&out, "  ", t.slug, "|", t.revoked(), "|",
                        t.rotated_to, "\n");
      }
    }
    return out;
  }

  static json Body(const Response& response) {
    return json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  }

  std::optional<JwtVerifier> verifier_;
  std::optional<TokenCallerResolver> token_callers_;
  std::optional<JwtCallerResolver> jwt_callers_;
  std::optional<BearerCallerResolver> callers_;
  std::optional<ManagementApi> api_;
};

struct RouteCase {
  std::string method;
  std::string target;
  std::string body;
  std::string scope;  // what the route must require (the test's own table)
};

// The route -> scope table, written down independently of lib/http/routes.cc:
// a route that asks for the wrong scope fails here.
std::vector<RouteCase> RouteCases() {
  return {
      {"POST", "/service-accounts", R"({"name":"New","slug":"new-one"})",
       "write:service_accounts"},
      {"GET", "/service-accounts", "", "read:service_accounts"},
      {"GET", "/service-accounts/bot", "", "read:service_accounts"},
      {"HEAD", "/service-accounts/bot", "", "read:service_accounts"},
      {"PATCH", "/service-accounts/bot", R"({"name":"Renamed"})",
       "write:service_accounts"},
      {"DELETE", "/service-accounts/other", "", "delete:service_accounts"},
      {"POST", "/service-accounts/bot/tokens",
       R"({"name":"minted","scopes":["read:tokens"]})", "write:tokens"},
      {"GET", "/service-accounts/bot/tokens", "", "read:tokens"},
      {"DELETE", "/service-accounts/bot/tokens/victim", "", "write:tokens"},
      {"POST", "/service-accounts/bot/tokens/victim/rotate",
       R"({"gracePeriod":"1h"})", "write:tokens"},
  };
}

TEST_F(ManagementApiTest, EveryRouteRefusesACallerWithoutItsScope) {
  KG_ASSERT_OK(CreateAccount("bot"));
  KG_ASSERT_OK(CreateAccount("other"));
  KG_ASSERT_OK(CreateToken("bot", "victim", {"read:tokens"}, "victim"));
  for (const RouteCase& route : RouteCases()) {
    SCOPED_TRACE(route.method + " " + route.target);
    // Every scope that does not grant the route's scope.
    std::vector<std::string> held;
    for (const std::string& s : AllScopes()) {
      if (!Grants(s, route.scope)) held.push_back(s);
    }
    ASSERT_FALSE(held.empty());
    std::string token = Token("bot", held);
    std::string before = Snapshot();
    Response response = Call(route.method, route.target, token, route.body);
    EXPECT_EQ(response.status, 403) << response.body;
    EXPECT_EQ(response.FindHeader("WWW-Authenticate").value_or(""),
              absl::StrCat("Bearer realm=\"keygate\", error=\"insufficient_"
                           "scope\", scope=\"",
                           route.scope, "\""));
    // The token itself is listed in the snapshot: take it after minting.
    EXPECT_EQ(Snapshot(), before);
  }
}

TEST_F(ManagementApiTest, EveryRouteServesACallerWithExactlyItsScope) {
  for (const RouteCase& route : RouteCases()) {
    SCOPED_TRACE(route.method + " " + route.target);
    // Fresh resources for each case (some routes delete or rename).
    (void)store_->DeleteServiceAccount(kOrg, "bot", "t");
    (void)store_->DeleteServiceAccount(kOrg, "other", "t");
    (void)store_->DeleteServiceAccount(kOrg, "new-one", "t");
    KG_ASSERT_OK(CreateAccount("bot"));
    KG_ASSERT_OK(CreateAccount("other"));
    KG_ASSERT_OK(CreateToken("bot", "victim", {"read:tokens"}, "victim"));
    std::vector<std::string> scopes = {route.scope};
    // Reach: deleting another account is an account route; nothing else
    // leaves the token's own account.
    std::string token = Token("bot", scopes);
    Response response = Call(route.method, route.target, token, route.body);
    EXPECT_GE(response.status, 200) << response.body;
    EXPECT_LT(response.status, 300) << response.body;
  }
}

TEST_F(ManagementApiTest, TokenCannotMintScopesItDoesNotHold) {
  KG_ASSERT_OK(CreateAccount("bot"));
  std::string writer = Token("bot", {"write:tokens"});
  std::string before = Snapshot();
  for (const char* scope :
       {"write:*", "read:*", "delete:service_accounts", "write:service_accounts",
        "read:service_accounts", "delete:tokens"}) {
    SCOPED_TRACE(scope);
    Response response = Call(
        "POST", "/service-accounts/bot/tokens", writer,
        json{{"name", "escalated"}, {"scopes", {"read:tokens", scope}}}.dump());
    EXPECT_EQ(response.status, 403) << response.body;
    EXPECT_FALSE(response.FindHeader("WWW-Authenticate").has_value());
    EXPECT_THAT(Body(response).value("detail", ""), HasSubstr(scope));
    EXPECT_FALSE(response.sensitive);
  }
  EXPECT_EQ(Snapshot(), before);
}

TEST_F(ManagementApiTest, TokenCanMintANarrowerShorterLivedTokenOnItsAccount) {
  KG_ASSERT_OK(CreateAccount("bot"));
  absl::Time expiry = clock_.Now() + absl::Hours(2);
  std::string writer = Token("bot", {"write:tokens"}, expiry);
  Response response =
      Call("POST", "/service-accounts/bot/tokens", writer,
           json{{"name", "rotated"},
                {"scopes", {"read:tokens"}},
                {"expiresAt", "2100-01-01T00:00:00Z"}}
               .dump());
  EXPECT_EQ(response.status, 403) << "expiry beyond the caller's";
  response = Call("POST", "/service-accounts/bot/tokens", writer,
                  json{{"name", "rotated"}, {"scopes", {"read:tokens"}}}.dump());
  EXPECT_EQ(response.status, 403) << "never-expiring from an expiring token";

  std::string at = absl::FormatTime(absl::RFC3339_full,
                                    clock_.Now() + absl::Hours(1),
                                    absl::UTCTimeZone());
  response = Call("POST", "/service-accounts/bot/tokens", writer,
                  json{{"name", "rotated"},
                       {"scopes", {"write:tokens"}},
                       {"expiresAt", at}}
                      .dump());
  ASSERT_EQ(response.status, 201) << response.body;
  EXPECT_TRUE(response.sensitive);
  std::string minted = Body(response).value("token", "");
  auto principal = store_->Verify(minted, "write:tokens");
  EXPECT_TRUE(principal.ok());
}

TEST_F(ManagementApiTest, RotateReturnsTheSuccessorOnceAndListLinksBoth) {
  KG_ASSERT_OK(CreateAccount("bot"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken old,
                          CreateToken("bot", "deploy", {"read:tokens"},
                                      std::string("deploy")));
  Response response = Call("POST", "/service-accounts/bot/tokens/deploy/rotate",
                           Jwt(), R"({"gracePeriod":"90m"})");
  ASSERT_EQ(response.status, 201) << response.body;
  EXPECT_TRUE(response.sensitive);
  json body = Body(response);
  const std::string slug = body.value("slug", "");
  EXPECT_NE(slug, "deploy");
  EXPECT_EQ(body["name"], "deploy");
  EXPECT_EQ(body["rotatedFrom"], "deploy");
  EXPECT_TRUE(body["rotatedTo"].is_null());
  EXPECT_EQ(response.FindHeader("Location").value_or(""),
            "/service-accounts/bot/tokens/" + slug);
  const std::string minted = body.value("token", "");
  KG_EXPECT_OK(store_->Verify(minted));
  KG_EXPECT_OK(store_->Verify(old.value.view()));

  Response list = Call("GET", "/service-accounts/bot/tokens", Jwt());
  ASSERT_EQ(list.status, 200) << list.body;
  bool saw_old = false;
  const json listed = Body(list);
  for (const json& item : listed["items"]) {
    if (item["slug"] == "deploy") {
      saw_old = true;
      EXPECT_EQ(item["rotatedTo"], slug);
      EXPECT_EQ(item["graceEndsAt"],
                FormatRfc3339(clock_.Now() + absl::Minutes(90)));
      EXPECT_TRUE(item["revokedAt"].is_null());
    }
  }
  EXPECT_TRUE(saw_old);
  clock_.Advance(absl::Minutes(90));
  EXPECT_FALSE(store_->Verify(old.value.view()).ok());
  list = Call("GET", "/service-accounts/bot/tokens", Jwt());
  const json relisted = Body(list);
  for (const json& item : relisted["items"]) {
    if (item["slug"] == "deploy") EXPECT_EQ(item["revokedBy"], "rotation");
  }
}

TEST_F(ManagementApiTest, RotateBadGraceIs422AtBodyGracePeriod) {
  KG_ASSERT_OK(CreateAccount("bot"));
  KG_ASSERT_OK(CreateToken("bot", "deploy", {"read:tokens"},
                           std::string("deploy")));
  std::string before = Snapshot();
  for (const std::string& body :
       {std::string(R"({"gracePeriod":""})"), std::string(R"({"gracePeriod":"soon"})"),
        std::string(R"({"gracePeriod":"-1h"})"), std::string(R"({"gracePeriod":"31d"})"),
        std::string(R"({"gracePeriod":"721h"})"), std::string(R"({"gracePeriod":"inf"})"),
        std::string(R"({"gracePeriod":"1h\u0000"})"), std::string(R"({"gracePeriod":3600})"),
        std::string(R"({"gracePeriod":null})"), std::string(R"({})"),
        std::string(R"({"gracePeriod":"1d","extra":1})")}) {
    SCOPED_TRACE(body);
    Response response = Call(
        "POST", "/service-accounts/bot/tokens/deploy/rotate", Jwt(), body);
    EXPECT_EQ(response.status, 422) << response.body;
    bool located = false;
    const json problem = Body(response);
    for (const json& e : problem["errors"]) {
      if (e.value("location", "") == "body.gracePeriod") located = true;
    }
    if (body.find("extra") == std::string::npos) {
      EXPECT_TRUE(located) << response.body;
    }
  }
  EXPECT_EQ(Snapshot(), before);
  for (const char* good : {"0s", "90m", "24h", "7d", "30d", "1h30m"}) {
    SCOPED_TRACE(good);
    const std::string slug = absl::StrCat("g-", good);
    KG_ASSERT_OK(CreateToken("bot", slug, {"read:tokens"}, slug));
    Response response =
        Call("POST", "/service-accounts/bot/tokens/" + slug + "/rotate", Jwt(),
             json{{"gracePeriod", good}}.dump());
    EXPECT_EQ(response.status, 201) << response.body;
  }
}

// Attack on the grace text: whitespace, signs, exponents, overflow and
// non-ASCII digits are all 422 at body.gracePeriod and change nothing. The
// "<n>d" form took whatever absl::SimpleAtoi accepts, which strips ASCII
// whitespace: "1 d" and "1\nd" were a day.
TEST_F(ManagementApiTest, RotateGraceTextIsStrict) {
  KG_ASSERT_OK(CreateAccount("bot"));
  KG_ASSERT_OK(CreateToken("bot", "deploy", {"read:tokens"},
                           std::string("deploy")));
  const std::string before = Snapshot();
  for (const std::string& grace :
       {std::string("1 d"), std::string("1\td"), std::string("1\nd"),
        std::string("1\rd"), std::string("1\vd"), std::string("1\fd"),
        std::string("1\xc2\xa0" "d"), std::string(" 1d"), std::string("1d "),
        std::string("+1d"), std::string("-0d"), std::string("-1d"),
        std::string("1e9d"), std::string("1e9h"), std::string("1.5d"),
        std::string("0x1d"), std::string("1D"), std::string("1d1h"),
        std::string("99999999999999999999d"),
        std::string("9223372036854775807d"), std::string("2562047h"),
        std::string("720h1ns"), std::string("\xd9\xa1" "d"),
        std::string("\xef\xbc\x91" "d"), std::string("d")}) {
    SCOPED_TRACE(absl::CEscape(grace));
    Response response =
        Call("POST", "/service-accounts/bot/tokens/deploy/rotate", Jwt(),
             json{{"gracePeriod", grace}}.dump());
    // ASSERT: a rotation that went through changes what the next case sees.
    ASSERT_EQ(response.status, 422) << response.body;
    bool located = false;
    const json problem = Body(response);
    for (const json& e : problem["errors"]) {
      if (e.value("location", "") == "body.gracePeriod") located = true;
    }
    EXPECT_TRUE(located) << response.body;
  }
  EXPECT_EQ(Snapshot(), before);
}

TEST_F(ManagementApiTest, RotateUnknownRevokedOrOtherOrgIs404AndChangesNothing) {
  KG_ASSERT_OK(CreateAccount("bot"));
  KG_ASSERT_OK(CreateToken("bot", "live", {"read:tokens"}, std::string("live")));
  KG_ASSERT_OK(CreateToken("bot", "gone", {"read:tokens"}, std::string("gone")));
  KG_ASSERT_OK(store_->RevokeToken(kOrg, "bot", "gone", "t"));
  std::string before = Snapshot();
  const std::string grace = R"({"gracePeriod":"1h"})";
  EXPECT_EQ(Call("POST", "/service-accounts/bot/tokens/nope/rotate", Jwt(),
                 grace).status, 404);
  EXPECT_EQ(Call("POST", "/service-accounts/bot/tokens/gone/rotate", Jwt(),
                 grace).status, 404);
  EXPECT_EQ(Call("POST", "/service-accounts/bot/tokens/live/rotate",
                 Jwt("org-elsewhere"), grace).status, 404);
  EXPECT_EQ(Snapshot(), before);
  // Rotated once, it is 404 too (its successor holds the name).
  ASSERT_EQ(Call("POST", "/service-accounts/bot/tokens/live/rotate", Jwt(),
                 grace).status, 201);
  EXPECT_EQ(Call("POST", "/service-accounts/bot/tokens/live/rotate", Jwt(),
                 grace).status, 404);
}

TEST_F(ManagementApiTest, RotateCannotEscalateScopesExpiryOrReach) {
  KG_ASSERT_OK(CreateAccount("bot"));
  KG_ASSERT_OK(CreateAccount("other"));
  KG_ASSERT_OK(CreateToken("bot", "admin", {"delete:tokens", "write:tokens"},
                           std::string("admin")));
  KG_ASSERT_OK(CreateToken("bot", "forever", {"read:tokens"},
                           std::string("forever")));
  KG_ASSERT_OK(CreateToken("other", "victim", {"read:tokens"},
                           std::string("victim")));
  const std::string grace = R"({"gracePeriod":"0s"})";
  std::string writer = Token("bot", {"write:tokens"});
  std::string expiring =
      Token("bot", {"write:tokens"}, clock_.Now() + absl::Hours(2));
  std::string before = Snapshot();
  // Scopes the caller does not hold (delete:tokens): it could revoke this
  // token but not create its successor.
  Response response = Call(
      "POST", "/service-accounts/bot/tokens/admin/rotate", writer, grace);
  EXPECT_EQ(response.status, 403) << response.body;
  EXPECT_THAT(Body(response).value("detail", ""), HasSubstr("delete:tokens"));
  EXPECT_FALSE(response.sensitive);
  // A successor that never expires, from a caller that does.
  response = Call("POST", "/service-accounts/bot/tokens/forever/rotate",
                  expiring, grace);
  EXPECT_EQ(response.status, 403) << response.body;
  // Another account without write:service_accounts.
  response = Call("POST", "/service-accounts/other/tokens/victim/rotate",
                  writer, grace);
  EXPECT_EQ(response.status, 403) << response.body;
  EXPECT_EQ(Snapshot(), before);
  // What it holds, on its account: allowed.
  response = Call("POST", "/service-accounts/bot/tokens/forever/rotate",
                  writer, grace);
  EXPECT_EQ(response.status, 201) << response.body;
}

TEST_F(ManagementApiTest, TokenReachIsItsOwnServiceAccount) {
  KG_ASSERT_OK(CreateAccount("bot"));
  KG_ASSERT_OK(CreateAccount("other"));
  KG_ASSERT_OK(CreateToken("other", "victim", {"read:tokens"}, "victim"));
  std::string token = Token("bot", {"write:tokens"});
  std::string before = Snapshot();
  EXPECT_EQ(Call("POST", "/service-accounts/other/tokens", token,
                 R"({"name":"x","scopes":["read:tokens"]})")
                .status,
            403);
  EXPECT_EQ(Call("DELETE", "/service-accounts/other/tokens/victim", token)
                .status,
            403);
  EXPECT_EQ(Call("GET", "/service-accounts/other/tokens", token).status, 403);
  EXPECT_EQ(Snapshot(), before);

  // The matching *:service_accounts scope extends the reach.
  std::string wide = Token("bot", {"write:tokens", "write:service_accounts"});
  EXPECT_EQ(Call("GET", "/service-accounts/other/tokens", wide).status, 200);
  EXPECT_EQ(Call("DELETE", "/service-accounts/other/tokens/victim", wide)
                .status,
            204);
}

TEST_F(ManagementApiTest, TokenCannotReenableAnAccount) {
  KG_ASSERT_OK(CreateAccount("bot"));
  KG_ASSERT_OK(CreateAccount("admin"));
  KG_ASSERT_OK(store_->SetServiceAccountDisabled(kOrg, "admin", true, "t"));
  std::string token = Token("bot", {"write:service_accounts"});
  std::string before = Snapshot();
  Response response = Call("PATCH", "/service-accounts/admin", token,
                           R"({"disabled":false})");
  EXPECT_EQ(response.status, 403) << response.body;
  response = Call("PATCH", "/service-accounts/admin", token,
                  R"({"name":"Renamed","disabled":false})");
  EXPECT_EQ(response.status, 403) << response.body;
  EXPECT_EQ(Snapshot(), before);
  // A JWT administrator may.
  EXPECT_EQ(Call("PATCH", "/service-accounts/admin", Jwt(),
                 R"({"disabled":false})")
                .status,
            200);
}

TEST_F(ManagementApiTest, JwtSubjectCannotPoseAsAToken) {
  EXPECT_EQ(Call("GET", "/service-accounts", Jwt(kOrg, "token:bot/wt")).status,
            401);
  EXPECT_EQ(Call("GET", "/service-accounts", Jwt(kOrg, "tokens-team")).status,
            200);
}

// The store records a system actor in revokedBy ("rotation" when a grace
// ends, "secret-scanning" when a scanner reports a leak) and readers take it
// as the reason: a person named like one could forge a rotation or a leak.
TEST_F(ManagementApiTest, JwtSubjectCannotPoseAsASystemActor) {
  EXPECT_EQ(
      Call("GET", "/service-accounts", Jwt(kOrg, kRevokedByRotation)).status,
      401);
  EXPECT_EQ(Call("GET", "/service-accounts", Jwt(kOrg, kRevokedByLeak)).status,
            401);
  EXPECT_EQ(Call("GET", "/service-accounts", Jwt(kOrg, "rotation-bot")).status,
            200);
}

TEST_F(ManagementApiTest, EncodedSlashIsNeverASeparator) {
  KG_ASSERT_OK(CreateAccount("ci-bot"));
  std::string jwt = Jwt();
  EXPECT_EQ(Call("GET", "/service-accounts/ci-bot", jwt).status, 200);
  EXPECT_EQ(Call("GET", "/service-accounts%2Fci-bot", jwt).status, 404);
  EXPECT_EQ(Call("GET", "/service-accounts%2fci-bot", jwt).status, 404);
  // Parameters are not decoded: an escape is never an alias of a slug, so a
  // proxy rule on the raw path "/service-accounts/ci-bot" cannot be bypassed.
  EXPECT_EQ(Call("GET", "/service-accounts/ci-bot%2Ftokens", jwt).status, 404);
  EXPECT_EQ(Call("GET", "/service-accounts/ci%2Dbot", jwt).status, 422);
  EXPECT_EQ(Call("GET", "/service-accounts/%63i-bot", jwt).status, 422);
  EXPECT_EQ(Call("GET", "/service-accounts/ci-bot/tokens%2F", jwt).status, 404);
}

TEST_F(ManagementApiTest, AuthCheckNeverTakesTheScopeFromTheClient) {
  KG_ASSERT_OK(CreateAccount("bot"));
  std::string reader = Token("bot", {"read:tokens"});
  // Default: no scope source; a client's query or header is refused.
  EXPECT_EQ(Call("GET", "/auth/check", reader).status, 200);
  EXPECT_EQ(Call("GET", "/auth/check?scope=", reader).status, 422);
  EXPECT_EQ(Call("GET", "/auth/check?scope=read:tokens", reader).status, 422);
  EXPECT_EQ(Call("GET", "/auth/check", reader, "",
                 {{"X-Keygate-Required-Scope", "read:tokens"}})
                .status,
            400);

  ManagementApiOptions fixed;
  fixed.auth_check_scope.source = AuthCheckScope::Source::kFixed;
  fixed.auth_check_scope.fixed = "write:tokens";
  MakeApi(fixed);
  EXPECT_EQ(Call("GET", "/auth/check", reader).status, 403);
  EXPECT_EQ(Call("GET", "/auth/check?scope=read:tokens", reader).status, 422);
  EXPECT_EQ(Call("GET", "/auth/check?scope=", reader).status, 422);

  ManagementApiOptions header;
  header.auth_check_scope.source = AuthCheckScope::Source::kHeader;
  MakeApi(header);
  EXPECT_EQ(Call("GET", "/auth/check", reader).status, 400);
  EXPECT_EQ(Call("GET", "/auth/check", reader, "",
                 {{"X-Keygate-Required-Scope", ""}})
                .status,
            400);
  EXPECT_EQ(Call("GET", "/auth/check", reader, "",
                 {{"X-Keygate-Required-Scope", "write:tokens"},
                  {"X-Keygate-Required-Scope", "read:tokens"}})
                .status,
            400);
  EXPECT_EQ(Call("GET", "/auth/check", reader, "",
                 {{"X-Keygate-Required-Scope", "write:tokens"}})
                .status,
            403);
  Response ok = Call("GET", "/auth/check", reader, "",
                     {{"X-Keygate-Required-Scope", "read:tokens"}});
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.FindHeader("X-Keygate-Service-Account").value_or(""), "bot");
}

TEST_F(ManagementApiTest, DeepJsonIsRefusedWithoutRecursion) {
  ManagementApiOptions big;
  big.max_body_bytes = 4 << 20;
  MakeApi(big);
  KG_ASSERT_OK(CreateAccount("bot"));
  std::string jwt = Jwt();
  std::string before = Snapshot();
  for (const char* member : {"scopes", "name"}) {
    SCOPED_TRACE(member);
    std::string body = absl::StrCat(R"({"name":"x","scopes":["read:tokens"],")",
                                    member == std::string("name") ? "slug" : "extra",
                                    R"(":)");
    body.append(300000, '[');
    body.append(300000, ']');
    body.push_back('}');
    ASSERT_LE(body.size(), size_t{4} << 20);
    Response response = Call("POST", "/service-accounts/bot/tokens", jwt, body);
    EXPECT_EQ(response.status, 400) << response.body.substr(0, 200);
  }
  // Moderate nesting in a typed member: refused without echoing the value.
  Response response = Call("POST", "/service-accounts/bot/tokens", jwt,
                           R"({"name":[[["x"]]],"scopes":{"a":["b"]}})");
  EXPECT_EQ(response.status, 422) << response.body;
  json problem = Body(response);
  for (const json& e : problem["errors"]) EXPECT_FALSE(e.contains("value"));
  EXPECT_EQ(Snapshot(), before);
}

TEST_F(ManagementApiTest, BodiesMustBeUtf8JsonWithoutBom) {
  KG_ASSERT_OK(CreateAccount("bot"));
  std::string jwt = Jwt();
  std::string body = R"({"name":"x","scopes":["read:tokens"]})";
  auto with_type = [&](std::string type, std::string payload) {
    Request request;
    request.method = "POST";
    request.target = "/service-accounts/bot/tokens";
    request.headers = {{"Authorization", "Bearer " + jwt},
                       {"Content-Type", std::move(type)}};
    request.body = std::move(payload);
    return api_->Handle(request).status;
  };
  EXPECT_EQ(with_type("application/json", "\xEF\xBB\xBF" + body), 400);
  EXPECT_EQ(with_type("application/json; charset=latin1", body), 415);
  EXPECT_EQ(with_type("application/json; charset=utf-16", body), 415);
  EXPECT_EQ(with_type("application/json; foo=bar", body), 415);
  EXPECT_EQ(with_type("text/plain", body), 415);
  EXPECT_EQ(with_type("application/json; charset=\"UTF-8\"", body), 201);
}

TEST_F(ManagementApiTest, PathPrefixMountsEveryRoute) {
  ManagementApiOptions prefixed;
  prefixed.path_prefix = "/api/";
  MakeApi(prefixed);
  std::string jwt = Jwt();
  EXPECT_EQ(Call("GET", "/service-accounts", jwt).status, 404);
  Response created = Call("POST", "/api/service-accounts", jwt,
                          R"({"name":"Bot","slug":"bot"})");
  EXPECT_EQ(created.status, 201);
  EXPECT_EQ(created.FindHeader("Location").value_or(""),
            "/api/service-accounts/bot");
  EXPECT_EQ(Call("GET", "/api/healthz", "").status, 200);
}

TEST_F(ManagementApiTest, TokenListShowsLastUsedAt) {
  KG_ASSERT_OK(CreateAccount("bot"));
  KG_ASSERT_OK(CreateToken("bot", "idle", {"read:tokens"}, "idle"));
  // A token caller is verified by the call itself: that is a use.
  const std::string reader = Token("bot", {"read:tokens"});
  clock_.Advance(absl::Seconds(7));
  Response response = Call("GET", "/service-accounts/bot/tokens", reader);
  ASSERT_EQ(response.status, 200) << response.body;
  json body = Body(response);
  ASSERT_TRUE(body["items"].is_array()) << response.body;
  int seen = 0;
  for (const json& item : body["items"]) {
    ASSERT_TRUE(item.contains("lastUsedAt")) << item.dump();
    if (item["slug"] == "idle") {
      EXPECT_TRUE(item["lastUsedAt"].is_null()) << item.dump();
      ++seen;
    } else {
      EXPECT_EQ(item["lastUsedAt"], FormatRfc3339(clock_.Now()));
      ++seen;
    }
  }
  EXPECT_EQ(seen, 2);
}

TEST_F(ManagementApiTest, ProblemTypesUseTheHostsBase) {
  std::string jwt = Jwt();
  Response bad = Call("POST", "/service-accounts", jwt, R"({"name":""})");
  ASSERT_EQ(bad.status, 422);
  EXPECT_EQ(Body(bad).value("type", ""),
            "https://keygate.dev/problems/validation");
  ManagementApiOptions rebased;
  rebased.problem_type_base = "urn:example:problem:";
  MakeApi(rebased);
  bad = Call("POST", "/service-accounts", jwt, R"({"name":""})");
  EXPECT_EQ(Body(bad).value("type", ""), "urn:example:problem:validation");
  Response slug = Call("GET", "/service-accounts/Not_A_Slug", jwt);
  EXPECT_EQ(Body(slug).value("type", ""), "urn:example:problem:validation");
  // about:blank problems stay about:blank (no type member).
  Response missing = Call("GET", "/nowhere", jwt);
  EXPECT_FALSE(Body(missing).contains("type"));
}

TEST_F(ManagementApiTest, LogFieldsNameTheRouteNeverTheCredential) {
  KG_ASSERT_OK(CreateAccount("bot"));
  std::string token = Token("bot", {"read:tokens"});
  Request request;
  request.method = "GET";
  request.target = "/service-accounts/bot/tokens?cursor=secret-query";
  request.headers = {{"Authorization", "Bearer " + token + "x"}};
  std::string fields;
  Response response = api_->Handle(request, &fields);
  EXPECT_EQ(response.status, 401);
  EXPECT_THAT(fields,
              HasSubstr("route=/service-accounts/{serviceAccountSlug}/tokens"));
  EXPECT_THAT(fields, HasSubstr("auth_failure=\"malformed\""));
  EXPECT_EQ(fields.find(token), std::string::npos);
  EXPECT_EQ(fields.find("secret-query"), std::string::npos);
}

// A token value pasted where a slug, cursor, scope or date belongs is a
// secret all the same: a problem body never echoes it (proxies and clients
// log problem bodies), in errors[].value or anywhere else.
TEST_F(ManagementApiTest, TokenValueIsNeverEchoedInAProblem) {
  KG_ASSERT_OK(CreateAccount("bot"));
  std::string jwt = Jwt();
  std::string secret = Token("bot", {"read:tokens"});
  ASSERT_FALSE(secret.empty());
  const std::string quoted = json(secret).dump();
  const std::vector<std::tuple<std::string, std::string, std::string>> cases = {
      {"GET", "/service-accounts/" + secret, ""},
      {"GET", "/service-accounts/" + secret + "/tokens", ""},
      {"DELETE", "/service-accounts/bot/tokens/" + secret, ""},
      {"GET", "/service-accounts/bot/tokens?cursor=" + secret, ""},
      {"GET", "/service-accounts?cursor=" + secret, ""},
      {"GET", "/service-accounts?limit=" + secret, ""},
      {"POST", "/service-accounts", R"({"name":"x","slug":)" + quoted + "}"},
      {"POST", "/service-accounts/bot/tokens",
       R"({"name":"x","scopes":["read:tokens"],"slug":)" + quoted + "}"},
      {"POST", "/service-accounts/bot/tokens",
       R"({"name":"x","scopes":[)" + quoted + "]}"},
      {"POST", "/service-accounts/bot/tokens",
       R"({"name":"x","scopes":[],"expiresAt":)" + quoted + "}"},
      {"PATCH", "/service-accounts/bot", R"({"disabled":)" + quoted + "}"},
      {"PATCH", "/service-accounts/bot", "{" + quoted + ":true}"},
      {"POST", "/service-accounts/bot/tokens/x/rotate",
       R"({"gracePeriod":)" + quoted + "}"},
  };
  std::string before = Snapshot();
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& [method, target, body] = cases[i];
    SCOPED_TRACE(absl::StrCat("case ", i, ": ", method));  // never the token
    Response response = Call(method, target, jwt, body);
    EXPECT_GE(response.status, 400);
    EXPECT_LT(response.status, 500);
    // Neither the token nor its secret part (after "kg_" and the pepper id).
    EXPECT_EQ(response.body.find(secret), std::string::npos);
    EXPECT_EQ(response.body.find(secret.substr(4, 20)), std::string::npos);
  }
  EXPECT_EQ(Snapshot(), before);
  // Other bad values are still echoed, to help the client.
  Response response = Call("GET", "/service-accounts/Not_A_Slug", jwt);
  EXPECT_EQ(response.status, 422);
  EXPECT_THAT(response.body, HasSubstr("Not_A_Slug"));
}

}  // namespace
}  // namespace keygate::http

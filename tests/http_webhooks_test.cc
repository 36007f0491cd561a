// tests/http_webhooks_test.cc: the webhook endpoint routes of the
// management API (/webhooks...), attacked as a hostile tenant would: other
// organizations' ids, missing scopes, URLs aimed at the host's network,
// bad event names, oversized bodies; and the secret shown exactly once.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "keygate/http/caller.h"
#include "keygate/http/jwt.h"
#include "keygate/http/management_api.h"
#include "lib/http/openapi_document.h"
#include "lib/http/routes.h"
#include "nlohmann/json.hpp"
#include "tests/store_test_util.h"

namespace keygate::http {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

constexpr char kJwtKey[] = "webhooks-api-test-key-0123456789abcdef";
constexpr char kAbsentId[] = "wh_aaaaaaaaaaaaaaaaaaaaaaaaaa";

class WebhooksApiTest : public test::StoreTest {
 protected:
  void SetUp() override {
    test::StoreTest::SetUp();
    auto verifier = JwtVerifier::FromKey(kJwtKey);
    ASSERT_TRUE(verifier.ok()) << verifier.status();
    verifier_.emplace(*std::move(verifier));
    token_callers_.emplace(store_.get());
    jwt_callers_.emplace(&*verifier_, &clock_);
    callers_.emplace("kg_", &*token_callers_, &*jwt_callers_);
    api_.emplace(store_.get(), &*callers_, ManagementApiOptions{});
  }

  std::string Jwt(std::string_view org = kOrg) {
    auto jwt = MintJwt(kJwtKey, "org", org, "alice", clock_.Now(),
                       absl::Hours(1));
    EXPECT_TRUE(jwt.ok()) << jwt.status();
    return jwt.ok() ? *jwt : std::string();
  }

  std::string Token(std::vector<std::string> scopes) {
    static int counter = 0;
    if (!store_->GetServiceAccount(kOrg, "bot").ok()) {
      EXPECT_TRUE(CreateAccount("bot").ok());
    }
    auto created =
        CreateToken("bot", absl::StrCat("t", ++counter), std::move(scopes));
    EXPECT_TRUE(created.ok()) << created.status();
    return created.ok() ? std::string(created->value.view()) : std::string();
  }

  Response Call(std::string method, std::string target,
                std::string_view credential, std::string body = {}) {
    Request request;
    request.method = std::move(method);
    request.target = std::move(target);
    request.headers.push_back(
        {"Authorization", "Bearer " + std::string(credential)});
    if (!body.empty()) {
      request.headers.push_back({"Content-Type", "application/json"});
    }
    request.body = std::move(body);
    return api_->Handle(request);
  }

  static json Body(const Response& response) {
    return json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  }

  static std::string CreateBody(std::string url = "https://hooks.example.com/k") {
    return json{{"url", url},
                {"eventNames", {"token.created", "token.revoked"}},
                {"description", "audit"}}
        .dump();
  }

  // CreateEndpoint creates one through the API and returns its id.
  std::string CreateEndpoint(std::string_view org = kOrg) {
    Response r = Call("POST", "/webhooks", Jwt(org), CreateBody());
    EXPECT_EQ(r.status, 201) << r.body;
    return Body(r).value("id", "");
  }

  std::optional<JwtVerifier> verifier_;
  std::optional<TokenCallerResolver> token_callers_;
  std::optional<JwtCallerResolver> jwt_callers_;
  std::optional<BearerCallerResolver> callers_;
  std::optional<ManagementApi> api_;
};

TEST_F(WebhooksApiTest, CrudAndTheSecretIsShownOnlyByCreateAndRotate) {
  std::string jwt = Jwt();
  Response created = Call("POST", "/webhooks", jwt, CreateBody());
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_TRUE(created.sensitive);
  EXPECT_EQ(created.FindHeader("Cache-Control").value_or(""), "no-store");
  json endpoint = Body(created);
  std::string id = endpoint.value("id", "");
  EXPECT_EQ(created.FindHeader("Location").value_or(""), "/webhooks/" + id);
  std::string secret = endpoint.value("secret", "");
  EXPECT_EQ(secret.rfind("whsec_", 0), 0u) << "secret missing";
  EXPECT_EQ(endpoint["url"], "https://hooks.example.com/k");
  EXPECT_EQ(endpoint["eventNames"], json({"token.created", "token.revoked"}));
  EXPECT_EQ(endpoint["description"], "audit");
  EXPECT_EQ(endpoint["disabled"], false);
  EXPECT_EQ(endpoint["createdBy"], "alice");
  EXPECT_EQ(endpoint.size(), 11u) << "no undocumented member";

  Response got = Call("GET", "/webhooks/" + id, jwt);
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_FALSE(Body(got).contains("secret"));
  EXPECT_EQ(got.body.find(secret.substr(6)), std::string::npos);
  Response list = Call("GET", "/webhooks", jwt);
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(Body(list)["items"].size(), 1u);
  EXPECT_EQ(Body(list)["items"][0], Body(got));
  EXPECT_EQ(list.body.find(secret.substr(6)), std::string::npos);

  Response patched =
      Call("PATCH", "/webhooks/" + id, jwt,
           json{{"eventNames", {"service_account.deleted"}},
                {"disabled", true},
                {"description", nullptr}}
               .dump());
  ASSERT_EQ(patched.status, 200) << patched.body;
  EXPECT_EQ(Body(patched)["eventNames"], json({"service_account.deleted"}));
  EXPECT_EQ(Body(patched)["disabled"], true);
  EXPECT_EQ(Body(patched)["description"], "audit");
  EXPECT_FALSE(Body(patched).contains("secret"));

  Response rotated = Call("POST", "/webhooks/" + id + "/rotate-secret", jwt);
  ASSERT_EQ(rotated.status, 200) << rotated.body;
  EXPECT_TRUE(rotated.sensitive);
  std::string new_secret = Body(rotated).value("secret", "");
  EXPECT_EQ(new_secret.rfind("whsec_", 0), 0u);
  EXPECT_NE(new_secret, secret);
  auto signing = store_->WebhookSigningSecret(kOrg, id);
  ASSERT_TRUE(signing.ok());
  EXPECT_EQ(signing->view(), new_secret);

  Response deleted = Call("DELETE", "/webhooks/" + id, jwt);
  EXPECT_EQ(deleted.status, 204);
  EXPECT_TRUE(deleted.body.empty());
  EXPECT_EQ(Call("GET", "/webhooks/" + id, jwt).status, 404);
  EXPECT_EQ(Call("DELETE", "/webhooks/" + id, jwt).status, 404);
}

TEST_F(WebhooksApiTest, AnotherOrganizationsIdIsAnswer404LikeAnAbsentOne) {
  std::string id = CreateEndpoint(kOrg);
  std::string intruder = Jwt("org-intruder");
  struct Case {
    const char* method;
    std::string suffix;
    std::string body;
  };
  for (const Case& c : std::vector<Case>{
           {"GET", "", ""},
           {"PATCH", "", R"({"url":"https://evil.example.net/"})"},
           {"DELETE", "", ""},
           {"POST", "/rotate-secret", ""},
           {"GET", "/deliveries", ""}}) {
    SCOPED_TRACE(std::string(c.method) + c.suffix);
    Response theirs = Call(c.method, "/webhooks/" + id + c.suffix, intruder,
                           c.body);
    Response absent = Call(c.method, std::string("/webhooks/") + kAbsentId +
                                         c.suffix,
                           intruder, c.body);
    EXPECT_EQ(theirs.status, 404) << theirs.body;
    EXPECT_EQ(theirs.body, absent.body);
    EXPECT_EQ(theirs.body.find(id), std::string::npos);
  }
  Response list = Call("GET", "/webhooks", intruder);
  EXPECT_EQ(Body(list)["items"], json::array());
  // Untouched for its owner.
  Response mine = Call("GET", "/webhooks/" + id, Jwt());
  ASSERT_EQ(mine.status, 200);
  EXPECT_EQ(Body(mine)["url"], "https://hooks.example.com/k");
}

struct ScopeCase {
  std::string method;
  std::string target;  // {id} is replaced
  std::string body;
  std::string scope;
};

// The route -> scope table, written independently of lib/http/routes.cc.
std::vector<ScopeCase> ScopeCases() {
  return {
      {"GET", "/webhooks", "", "read:webhooks"},
      {"POST", "/webhooks",
       R"({"url":"https://a.example.com/","eventNames":["token.created"]})",
       "write:webhooks"},
      {"GET", "/webhooks/{id}", "", "read:webhooks"},
      {"PATCH", "/webhooks/{id}", R"({"description":"x"})", "write:webhooks"},
      {"POST", "/webhooks/{id}/rotate-secret", "", "write:webhooks"},
      {"DELETE", "/webhooks/{id}", "", "delete:webhooks"},
      {"GET", "/webhooks/{id}/deliveries", "", "read:webhooks"},
  };
}

std::string WithId(std::string target, const std::string& id) {
  size_t at = target.find("{id}");
  if (at != std::string::npos) target.replace(at, 4, id);
  return target;
}

TEST_F(WebhooksApiTest, ScopesAreEnforcedForTokenCallers) {
  const std::vector<std::string> all = {
      "read:webhooks", "write:webhooks", "delete:webhooks", "read:*",
      "write:*",       "write:tokens",   "delete:tokens",   "write:service_accounts"};
  auto grants = [](const std::string& held, const std::string& need) {
    if (held == need) return true;
    std::string ha = held.substr(0, held.find(':'));
    std::string hm = held.substr(held.find(':') + 1);
    std::string na = need.substr(0, need.find(':'));
    std::string nm = need.substr(need.find(':') + 1);
    if (hm != nm && hm != "*") return false;
    if (na == "read") return ha == "read" || ha == "write";
    if (na == "write") return ha == "write";
    return false;
  };
  for (const ScopeCase& c : ScopeCases()) {
    SCOPED_TRACE(c.method + " " + c.target);
    std::string id = CreateEndpoint();
    std::vector<std::string> held;
    for (const std::string& s : all) {
      if (!grants(s, c.scope)) held.push_back(s);
    }
    Response refused = Call(c.method, WithId(c.target, id), Token(held), c.body);
    EXPECT_EQ(refused.status, 403) << refused.body;
    EXPECT_THAT(std::string(refused.FindHeader("WWW-Authenticate").value_or("")),
                HasSubstr("scope=\"" + c.scope + "\""));
    EXPECT_FALSE(refused.sensitive);
    Response served =
        Call(c.method, WithId(c.target, id), Token({c.scope}), c.body);
    EXPECT_GE(served.status, 200) << served.body;
    EXPECT_LT(served.status, 300) << served.body;
  }
}

TEST_F(WebhooksApiTest, RefusesUrlsAimedAtTheHostsNetwork) {
  std::string jwt = Jwt();
  for (const char* url : {
           "http://127.0.0.1/hook",
           "http://0x7f.1/hook",
           "http://2130706433/hook",
           "http://0177.0.0.1/hook",
           "http://[::1]/hook",
           "http://[::ffff:127.0.0.1]/hook",
           "http://169.254.169.254/latest/meta-data/",
           "http://10.0.0.1/",
           "http://172.16.5.4/",
           "http://192.168.0.10/",
           "http://[fc00::1]/",
           "http://[fd00::53]/",
           "http://[fe80::1]/",
           "http://localhost:8080/",
           "http://localhost./",
           "ftp://example.com/",
           "file:///etc/passwd",
           "https://hooks.example.com@127.0.0.1/",
           "https://user:pass@hooks.example.com/",
           "https://hooks.example.com#@127.0.0.1/",
           "http://127.0.0.1\\@hooks.example.com/",
           "http://%31%32%37.0.0.1/",
       }) {
    SCOPED_TRACE(url);
    Response r = Call("POST", "/webhooks", jwt, CreateBody(url));
    ASSERT_EQ(r.status, 422) << r.body;
    json problem = Body(r);
    ASSERT_EQ(problem["errors"].size(), 1u) << r.body;
    EXPECT_EQ(problem["errors"][0]["location"], "body.url");
    EXPECT_FALSE(problem["errors"][0].contains("value")) << "URL echoed";
    EXPECT_EQ(r.body.find("pass@"), std::string::npos);
    EXPECT_FALSE(r.sensitive);
  }
  // The same guard on PATCH.
  std::string id = CreateEndpoint();
  Response r = Call("PATCH", "/webhooks/" + id, jwt,
                    R"({"url":"http://169.254.169.254/"})");
  ASSERT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(Body(r)["errors"][0]["location"], "body.url");
  EXPECT_EQ(Body(Call("GET", "/webhooks", jwt))["items"].size(), 1u);
}

TEST_F(WebhooksApiTest, BadEventNamesAre422WithLocations) {
  std::string jwt = Jwt();
  Response r = Call("POST", "/webhooks", jwt,
                    json{{"url", "https://hooks.example.com/"},
                         {"eventNames",
                          {"token.created", "token.exploded", 7,
                           "token.created"}}}
                        .dump());
  ASSERT_EQ(r.status, 422) << r.body;
  std::vector<std::string> locations;
  json problem = Body(r);
  for (const json& e : problem["errors"]) {
    locations.push_back(e["location"].get<std::string>());
  }
  EXPECT_THAT(locations, ::testing::Contains("body.eventNames[2]"));
  r = Call("POST", "/webhooks", jwt,
           json{{"url", "https://hooks.example.com/"},
                {"eventNames", {"token.created", "token.exploded",
                                "token.created"}}}
               .dump());
  ASSERT_EQ(r.status, 422) << r.body;
  locations.clear();
  problem = Body(r);
  for (const json& e : problem["errors"]) {
    locations.push_back(e["location"].get<std::string>());
  }
  EXPECT_EQ(locations, (std::vector<std::string>{"body.eventNames[1]",
                                                 "body.eventNames[2]"}));
  r = Call("POST", "/webhooks", jwt,
           json{{"url", "https://hooks.example.com/"}, {"eventNames", json::array()}}
               .dump());
  ASSERT_EQ(r.status, 422);
  EXPECT_EQ(Body(r)["errors"][0]["location"], "body.eventNames");
  r = Call("POST", "/webhooks", jwt, R"({"eventNames":["token.created"]})");
  ASSERT_EQ(r.status, 422);
  EXPECT_EQ(Body(r)["errors"][0]["location"], "body.url");
  r = Call("POST", "/webhooks", jwt,
           R"({"url":"https://a.example.com/","eventNames":["token.created"],"secret":"whsec_mine"})");
  ASSERT_EQ(r.status, 422);
  EXPECT_EQ(Body(r)["errors"][0]["location"], "body.secret");
  EXPECT_EQ(Body(Call("GET", "/webhooks", jwt))["items"], json::array());
}

TEST_F(WebhooksApiTest, BodySizeAndPathIdAreBounded) {
  std::string jwt = Jwt();
  std::string huge = CreateBody("https://hooks.example.com/" +
                                std::string(70 * 1024, 'a'));
  EXPECT_EQ(Call("POST", "/webhooks", jwt, huge).status, 413);
  Response long_url = Call("POST", "/webhooks", jwt,
                           CreateBody("https://hooks.example.com/" +
                                      std::string(3000, 'a')));
  ASSERT_EQ(long_url.status, 422);
  EXPECT_EQ(Body(long_url)["errors"][0]["location"], "body.url");
  Response bad_id = Call("GET", "/webhooks/not-an-id", jwt);
  ASSERT_EQ(bad_id.status, 422) << bad_id.body;
  EXPECT_EQ(Body(bad_id)["errors"][0]["location"], "path.webhookId");
}

TEST_F(WebhooksApiTest, PerOrganizationLimitIs429) {
  Options options = DefaultOptions();
  options.max_webhook_endpoints_per_organization = 2;
  api_.reset();
  callers_.reset();
  token_callers_.reset();
  KG_ASSERT_OK(Reopen(options));
  token_callers_.emplace(store_.get());
  callers_.emplace("kg_", &*token_callers_, &*jwt_callers_);
  api_.emplace(store_.get(), &*callers_, ManagementApiOptions{});
  CreateEndpoint();
  CreateEndpoint();
  Response r = Call("POST", "/webhooks", Jwt(), CreateBody());
  EXPECT_EQ(r.status, 429) << r.body;
  EXPECT_THAT(Body(r).value("detail", ""), HasSubstr("webhook"));
  EXPECT_FALSE(r.sensitive);
}

// Every route of lib/http/routes.cc is in docs/openapi.json with exactly
// its methods, and each operation's keygateToken security names the
// route's scope.
TEST(WebhooksOpenApiTest, DocumentMatchesTheRouteTable) {
  json doc = json::parse(std::string(OpenApiDocument()));
  size_t operations = 0;
  for (const internal::Route& route : internal::Routes()) {
    SCOPED_TRACE(std::string(route.pattern));
    ASSERT_TRUE(doc["paths"].contains(std::string(route.pattern)));
    const json& item = doc["paths"][std::string(route.pattern)];
    std::vector<std::string> documented;
    for (const auto& [method, op] : item.items()) {
      if (method != "parameters") documented.push_back(method);
    }
    std::vector<std::string> routed;
    for (const internal::MethodOperation& m : route.methods) {
      std::string lower(m.method);
      for (char& c : lower) c = static_cast<char>(std::tolower(c));
      routed.push_back(lower);
      ASSERT_TRUE(item.contains(lower)) << lower;
      ++operations;
      if (m.scope.empty()) continue;
      bool found = false;
      for (const json& requirement : item[lower].value("security", json::array())) {
        if (requirement.contains("keygateToken")) {
          EXPECT_EQ(requirement["keygateToken"], json({std::string(m.scope)}))
              << lower;
          found = true;
        }
      }
      EXPECT_TRUE(found) << lower << " documents no keygateToken scope";
    }
    std::sort(documented.begin(), documented.end());
    std::sort(routed.begin(), routed.end());
    EXPECT_EQ(documented, routed);
  }
  EXPECT_EQ(doc["paths"].size(), internal::Routes().size());
  EXPECT_GE(operations, 6u);
}

// The deliveries listing: the state the delivery engine recorded, newest
// attempt first, no bodies; a new endpoint starts with none.
TEST_F(WebhooksApiTest, DeliveriesListTheRecordedAttempts) {
  std::string id = CreateEndpoint(kOrg);
  Response empty = Call("GET", "/webhooks/" + id + "/deliveries", Jwt());
  ASSERT_EQ(empty.status, 200) << empty.body;
  EXPECT_EQ(Body(empty)["items"], json::array());
  EXPECT_EQ(Body(empty)["failureStreak"], 0);

  WebhookDeliveryUpdate update;
  WebhookDeliveryAttempt attempt;
  attempt.event_id = "evt_0123456789abcdef0123456789abcdef";
  attempt.event_type = EventType::kTokenCreated;
  attempt.event_position = 7;
  attempt.time = clock_.Now();
  attempt.error = WebhookDeliveryError::kTimeout;
  attempt.latency = absl::Milliseconds(1500);
  update.attempt = attempt;
  update.cursor = 6;
  ASSERT_TRUE(store_->RecordWebhookDelivery(kOrg, id, update).ok());
  attempt.attempt = 2;
  attempt.error = WebhookDeliveryError::kNone;
  attempt.http_status = 204;
  attempt.latency = absl::Milliseconds(12);
  update.attempt = attempt;
  update.cursor = 7;
  ASSERT_TRUE(store_->RecordWebhookDelivery(kOrg, id, update).ok());

  Response r = Call("GET", "/webhooks/" + id + "/deliveries", Jwt());
  ASSERT_EQ(r.status, 200) << r.body;
  json body = Body(r);
  EXPECT_EQ(body["cursor"], 7);
  EXPECT_EQ(body["failureStreak"], 0);
  ASSERT_EQ(body["items"].size(), 2u);
  EXPECT_EQ(body["items"][0]["attempt"], 2);
  EXPECT_EQ(body["items"][0]["httpStatus"], 204);
  EXPECT_EQ(body["items"][0]["error"], nullptr);
  EXPECT_EQ(body["items"][0]["succeeded"], true);
  EXPECT_EQ(body["items"][0]["eventType"], "token.created");
  EXPECT_EQ(body["items"][1]["httpStatus"], nullptr);
  EXPECT_EQ(body["items"][1]["error"], "timeout");
  EXPECT_EQ(body["items"][1]["latencyMs"], 1500.0);
  EXPECT_EQ(body["items"][1]["eventId"], attempt.event_id);
}

// The event names the API accepts are the OpenAPI enum, in order.
TEST(WebhooksOpenApiTest, EventNameEnumIsWebhookEventNames) {
  json doc = json::parse(std::string(OpenApiDocument()));
  std::vector<std::string> names;
  for (std::string_view n : WebhookEventNames()) names.emplace_back(n);
  EXPECT_EQ(doc["components"]["schemas"]["WebhookEventName"]["enum"],
            json(names));
  EXPECT_EQ(names.back(), "webhook_endpoint.disabled");
}

}  // namespace
}  // namespace keygate::http

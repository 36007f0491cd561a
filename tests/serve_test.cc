// tests/serve_test.cc: HTTP-level tests of `keygate serve`.
//
// Every test starts the real binary (KEYGATE_BINARY) on a free loopback port
// in a fresh temp dir and talks to it with cpp-httplib's client.
#include "tests/serve_test_util.h"

namespace keygate::tool {
namespace {

using namespace ::keygate::tool::test;  // NOLINT: the shared HTTP test kit
using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

class ServeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GE(sodium_init(), 0);
    server_.Start();
    cli_ = server_.Client();
    jwt_ = server_.Jwt("acme");
  }

  httplib::Result Post(const std::string& path, const std::string& body,
                       const std::string& credential) {
    return cli_->Post(path.c_str(), Bearer(credential), body,
                      "application/json");
  }
  httplib::Result Patch(const std::string& path, const std::string& body,
                        const std::string& credential) {
    return cli_->Patch(path.c_str(), Bearer(credential), body,
                       "application/json");
  }
  httplib::Result Get(const std::string& path, const std::string& credential) {
    return cli_->Get(path.c_str(), Bearer(credential));
  }
  httplib::Result Delete(const std::string& path,
                         const std::string& credential) {
    return cli_->Delete(path.c_str(), Bearer(credential));
  }

  void CreateAccount(const std::string& slug, const std::string& jwt) {
    auto res =
        Post("/service-accounts",
             json{{"name", "Account " + slug}, {"slug", slug}}.dump(), jwt);
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 201) << res->body;
  }

  // CreateToken returns the created token's value.
  std::string CreateToken(const std::string& account, const std::string& slug,
                          const json& scopes, const std::string& jwt,
                          std::optional<std::string> expires_at = {}) {
    json body{{"name", "token " + slug}, {"slug", slug}, {"scopes", scopes}};
    if (expires_at) body["expiresAt"] = *expires_at;
    auto res =
        Post("/service-accounts/" + account + "/tokens", body.dump(), jwt);
    EXPECT_TRUE(res);
    if (!res) return "";
    EXPECT_EQ(res->status, 201) << res->body;
    json out = Json(res);
    if (!out.contains("token")) return "";
    std::string token = out["token"];
    created_tokens_.push_back(token);
    return token;
  }

  ServerProcess server_;
  std::unique_ptr<httplib::Client> cli_;
  std::string jwt_;
  std::vector<std::string> created_tokens_;
};

// ----- success paths
// ----------------------------------------------------------

TEST_F(ServeTest, HealthzAndOpenApiDocument) {
  auto health = cli_->Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->body, R"({"status":"ok"})");

  auto head = cli_->Head("/healthz");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_TRUE(head->body.empty());

  auto doc = cli_->Get("/openapi.json");
  ASSERT_TRUE(doc);
  EXPECT_EQ(doc->status, 200);
  EXPECT_EQ(doc->get_header_value("Content-Type"), "application/json");
  // KEYGATE_TESTDATA_DIR is <source>/tests/testdata (it may not exist).
  std::string root = KEYGATE_TESTDATA_DIR;
  root = root.substr(0, root.rfind("/tests/testdata"));
  std::string source = ReadFile(root + "/docs/openapi.json");
  ASSERT_FALSE(source.empty());
  EXPECT_EQ(doc->body, source) << "docs/openapi.json is the served document";
  json parsed = Json(doc);
  ASSERT_TRUE(parsed.is_object());
  EXPECT_EQ(parsed["openapi"], "3.1.0");
  for (const char* path :
       {"/service-accounts", "/service-accounts/{serviceAccountSlug}",
        "/service-accounts/{serviceAccountSlug}/tokens",
        "/service-accounts/{serviceAccountSlug}/tokens/{tokenSlug}",
        "/service-accounts/{serviceAccountSlug}/tokens/{tokenSlug}/rotate",
        "/whoami",
        "/auth/check", "/openapi.json"}) {
    EXPECT_TRUE(parsed["paths"].contains(path)) << path;
  }
  EXPECT_TRUE(parsed["components"]["schemas"].contains("ProblemDetails"));
}

TEST_F(ServeTest, ServiceAccountLifecycle) {
  auto created =
      Post("/service-accounts", R"({"name":"CI bot","slug":"ci-bot"})", jwt_);
  ASSERT_TRUE(created);
  ASSERT_EQ(created->status, 201) << created->body;
  EXPECT_EQ(created->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(created->get_header_value("Location"), "/service-accounts/ci-bot");
  json sa = Json(created);
  EXPECT_EQ(sa["slug"], "ci-bot");
  EXPECT_EQ(sa["name"], "CI bot");
  EXPECT_EQ(sa["disabled"], false);
  EXPECT_EQ(sa["createdBy"], "alice");
  EXPECT_EQ(sa["updatedBy"], "alice");
  EXPECT_TRUE(sa["createdAt"].is_string());
  EXPECT_TRUE(sa["updatedAt"].is_string());
  EXPECT_EQ(sa.size(), 7u) << sa.dump();

  // Slug derived from the name when absent.
  auto derived = Post("/service-accounts", R"({"name":"Nightly Job"})", jwt_);
  ASSERT_TRUE(derived);
  EXPECT_EQ(derived->status, 201) << derived->body;

  auto got = Get("/service-accounts/ci-bot", jwt_);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, 200);
  EXPECT_EQ(Json(got), sa);

  auto list = Get("/service-accounts", jwt_);
  ASSERT_TRUE(list);
  EXPECT_EQ(list->status, 200);
  json page = Json(list);
  ASSERT_TRUE(page["items"].is_array());
  EXPECT_EQ(page["items"].size(), 2u);
  EXPECT_TRUE(page["nextCursor"].is_null());

  auto renamed = Patch("/service-accounts/ci-bot",
                       R"({"name":"CI robot","disabled":true})",
                       server_.Jwt("acme", "bob"));
  ASSERT_TRUE(renamed);
  ASSERT_EQ(renamed->status, 200) << renamed->body;
  json after = Json(renamed);
  EXPECT_EQ(after["name"], "CI robot");
  EXPECT_EQ(after["disabled"], true);
  EXPECT_EQ(after["updatedBy"], "bob");
  EXPECT_EQ(after["createdBy"], "alice");

  auto empty_patch = Patch("/service-accounts/ci-bot", "{}", jwt_);
  ASSERT_TRUE(empty_patch);
  EXPECT_EQ(empty_patch->status, 200);
  EXPECT_EQ(Json(empty_patch)["name"], "CI robot");

  auto deleted = Delete("/service-accounts/ci-bot", jwt_);
  ASSERT_TRUE(deleted);
  EXPECT_EQ(deleted->status, 204);
  EXPECT_TRUE(deleted->body.empty());

  ExpectProblem(Get("/service-accounts/ci-bot", jwt_), 404);
  ExpectProblem(Delete("/service-accounts/ci-bot", jwt_), 404);
}

TEST_F(ServeTest, TokenLifecycle) {
  CreateAccount("deployer", jwt_);
  auto created = Post("/service-accounts/deployer/tokens",
                      R"({"name":"Deploy","scopes":["read:tokens"]})", jwt_);
  ASSERT_TRUE(created);
  ASSERT_EQ(created->status, 201) << created->body;
  EXPECT_EQ(created->get_header_value("Location"),
            "/service-accounts/deployer/tokens/deploy");
  json token = Json(created);
  ASSERT_TRUE(token["token"].is_string());
  std::string value = token["token"];
  created_tokens_.push_back(value);
  EXPECT_EQ(value.rfind("kg_", 0), 0u);
  EXPECT_EQ(token["name"], "Deploy");
  EXPECT_EQ(token["slug"], "deploy");
  EXPECT_EQ(token["scopes"], json::array({"read:tokens"}));
  EXPECT_TRUE(token["expiresAt"].is_null());
  EXPECT_TRUE(token["revokedAt"].is_null());
  EXPECT_TRUE(token["revokedBy"].is_null());
  EXPECT_EQ(token["createdBy"], "alice");
  EXPECT_TRUE(token["createdAt"].is_string());
  EXPECT_TRUE(token["lastUsedAt"].is_null());
  EXPECT_TRUE(token["rotatedTo"].is_null());
  EXPECT_TRUE(token["rotatedFrom"].is_null());
  EXPECT_TRUE(token["graceEndsAt"].is_null());
  EXPECT_EQ(token.size(), 13u) << token.dump();

  auto list = Get("/service-accounts/deployer/tokens", jwt_);
  ASSERT_TRUE(list);
  ASSERT_EQ(list->status, 200) << list->body;
  json page = Json(list);
  ASSERT_EQ(page["items"].size(), 1u);
  json listed = page["items"][0];
  EXPECT_FALSE(listed.contains("token")) << "the value is shown only once";
  EXPECT_THAT(list->body, Not(HasSubstr(value)));
  json metadata = token;
  metadata.erase("token");
  EXPECT_EQ(listed, metadata);

  auto whoami = Get("/whoami", value);
  ASSERT_TRUE(whoami);
  ASSERT_EQ(whoami->status, 200) << whoami->body;
  EXPECT_EQ(Json(whoami), (json{{"organization", "acme"},
                                {"serviceAccount", "deployer"},
                                {"token", "deploy"},
                                {"scopes", {"read:tokens"}},
                                {"expiresAt", nullptr}}));

  auto check = Get("/auth/check", value);
  ASSERT_TRUE(check);
  EXPECT_EQ(check->status, 200) << check->body;
  EXPECT_EQ(check->get_header_value("X-Keygate-Organization"), "acme");
  EXPECT_EQ(check->get_header_value("X-Keygate-Service-Account"), "deployer");
  EXPECT_EQ(check->get_header_value("X-Keygate-Scopes"), "read:tokens");

  auto revoked = Delete("/service-accounts/deployer/tokens/deploy", jwt_);
  ASSERT_TRUE(revoked);
  EXPECT_EQ(revoked->status, 204);
  EXPECT_TRUE(revoked->body.empty());

  auto after = Get("/whoami", value);
  ExpectProblem(after, 401);
  EXPECT_EQ(after->get_header_value("WWW-Authenticate"),
            kInvalidTokenChallenge);

  auto list2 = Get("/service-accounts/deployer/tokens", jwt_);
  ASSERT_TRUE(list2);
  json revoked_meta = Json(list2)["items"][0];
  EXPECT_TRUE(revoked_meta["revokedAt"].is_string());
  EXPECT_EQ(revoked_meta["revokedBy"], "alice");
  // It verified (whoami, auth/check) before the revocation.
  EXPECT_TRUE(revoked_meta["lastUsedAt"].is_string()) << revoked_meta.dump();

  // Revoking again, or an unknown token, is 404.
  ExpectProblem(Delete("/service-accounts/deployer/tokens/deploy", jwt_), 404);
  ExpectProblem(Delete("/service-accounts/deployer/tokens/nope", jwt_), 404);
}

TEST_F(ServeTest, TokenWithExpiryAndPagination) {
  CreateAccount("pager", jwt_);
  std::string expiry = "2099-01-02T03:04:05Z";
  CreateToken("pager", "t-one", {"read:*"}, jwt_, expiry);
  CreateToken("pager", "t-two", {"write:tokens"}, jwt_);
  CreateToken("pager", "t-three", {"delete:service_accounts"}, jwt_);

  std::vector<std::string> slugs;
  std::string cursor;
  int pages = 0;
  do {
    std::string path = "/service-accounts/pager/tokens?limit=2";
    if (!cursor.empty()) {
      path += "&cursor=" + PercentEncode(cursor);
    }
    auto res = Get(path, jwt_);
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    json page = Json(res);
    EXPECT_LE(page["items"].size(), 2u);
    for (const json& item : page["items"]) {
      slugs.push_back(item["slug"]);
      if (item["slug"] == "t-one") {
        EXPECT_EQ(item["expiresAt"], expiry);
      }
    }
    cursor = page["nextCursor"].is_null() ? "" : page["nextCursor"];
    ++pages;
  } while (!cursor.empty() && pages < 10);
  EXPECT_EQ(pages, 2);
  std::sort(slugs.begin(), slugs.end());
  EXPECT_EQ(slugs, (std::vector<std::string>{"t-one", "t-three", "t-two"}));

  for (const char* bad : {"0", "1001", "abc", "-1", "", "1e2", "99999999999"}) {
    ExpectErrorAt(
        Get(std::string("/service-accounts/pager/tokens?limit=") + bad, jwt_),
        "query.limit");
  }
  ExpectErrorAt(Get("/service-accounts?limit=0", jwt_), "query.limit");
}

// ----- authentication
// -----------------------------------------------------------

TEST_F(ServeTest, MissingCredentials) {
  for (const httplib::Headers& headers :
       {httplib::Headers{}, httplib::Headers{{"Authorization", ""}},
        httplib::Headers{{"Authorization", "Bearer "}},
        httplib::Headers{{"Authorization", "Bearer"}}}) {
    for (const char* path : {"/service-accounts", "/whoami", "/auth/check"}) {
      auto res = cli_->Get(path, headers);
      ExpectProblem(res, 401);
      EXPECT_EQ(res->get_header_value("WWW-Authenticate"), kChallenge);
      json body = Json(res);
      EXPECT_FALSE(body.contains("errors"));
    }
  }
}

TEST_F(ServeTest, EveryInvalidCredentialGetsTheSameAnswer) {
  CreateAccount("victim", jwt_);
  std::string revoked = CreateToken("victim", "revoked", {"read:tokens"}, jwt_);
  ASSERT_EQ(Delete("/service-accounts/victim/tokens/revoked", jwt_)->status,
            204);
  std::string expiring =
      CreateToken("victim", "expiring", {"read:tokens"}, jwt_,
                  FormatTime(absl::RFC3339_full, absl::Now() + absl::Seconds(2),
                             absl::UTCTimeZone()));
  CreateAccount("disabled", jwt_);
  std::string disabled = CreateToken("disabled", "tok", {"read:tokens"}, jwt_);
  ASSERT_EQ(
      Patch("/service-accounts/disabled", R"({"disabled":true})", jwt_)->status,
      200);
  CreateAccount("gone", jwt_);
  std::string unknown = CreateToken("gone", "tok", {"read:tokens"}, jwt_);
  ASSERT_EQ(Delete("/service-accounts/gone", jwt_)->status, 204);
  ASSERT_FALSE(revoked.empty());
  ASSERT_FALSE(expiring.empty());

  std::string tampered = revoked;
  tampered[10] = tampered[10] == 'A' ? 'B' : 'A';
  const std::string& key = server_.jwt_key();
  int64_t now = UnixNow();
  std::string good_payload =
      absl::StrCat(R"({"org":"acme","sub":"alice","exp":)", now + 600, "}");
  std::string jwt_ok =
      SignHs256(R"({"alg":"HS256","typ":"JWT"})", good_payload, key);
  std::string jwt_tampered = jwt_ok;
  jwt_tampered[jwt_tampered.size() - 3] =
      jwt_tampered[jwt_tampered.size() - 3] == 'A' ? 'B' : 'A';
  std::string jwt_payload_swapped =
      jwt_ok.substr(0, jwt_ok.find('.') + 1) +
      B64Url(absl::StrCat(R"({"org":"other","sub":"alice","exp":)", now + 600,
                          "}")) +
      jwt_ok.substr(jwt_ok.rfind('.'));
  std::string jwt_none = B64Url(R"({"alg":"none","typ":"JWT"})") + "." +
                         B64Url(good_payload) + ".";
  std::string jwt_hs512 =
      SignHs256(R"({"alg":"HS512","typ":"JWT"})", good_payload, key);
  std::string jwt_expired = SignHs256(
      R"({"alg":"HS256","typ":"JWT"})",
      absl::StrCat(R"({"org":"acme","sub":"alice","exp":)", now - 10, "}"),
      key);
  std::string jwt_not_yet =
      SignHs256(R"({"alg":"HS256","typ":"JWT"})",
                absl::StrCat(R"({"org":"acme","sub":"alice","exp":)", now + 600,
                             R"(,"nbf":)", now + 300, "}"),
                key);
  std::string jwt_no_org =
      SignHs256(R"({"alg":"HS256","typ":"JWT"})",
                absl::StrCat(R"({"sub":"alice","exp":)", now + 600, "}"), key);
  std::string jwt_wrong_key =
      SignHs256(R"({"alg":"HS256","typ":"JWT"})", good_payload,
                "another-secret-that-is-long-enough-0123456789");
  std::string jwt_control_org =
      SignHs256(R"({"alg":"HS256","typ":"JWT"})",
                absl::StrCat(R"({"org":"ac\u0000me","sub":"alice","exp":)",
                             now + 600, "}"),
                key);

  // Sanity: the hand-made good JWT is accepted.
  auto ok = Get("/service-accounts", jwt_ok);
  ASSERT_TRUE(ok);
  ASSERT_EQ(ok->status, 200) << ok->body;

  std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // expiry

  std::vector<std::pair<std::string, httplib::Headers>> cases = {
      {"malformed", Bearer("kg_notatoken")},
      {"tampered", Bearer(tampered)},
      {"unknown", Bearer(unknown)},
      {"revoked", Bearer(revoked)},
      {"expired", Bearer(expiring)},
      {"disabled", Bearer(disabled)},
      {"jwt tampered", Bearer(jwt_tampered)},
      {"jwt payload swapped", Bearer(jwt_payload_swapped)},
      {"jwt alg none", Bearer(jwt_none)},
      {"jwt alg HS512", Bearer(jwt_hs512)},
      {"jwt expired", Bearer(jwt_expired)},
      {"jwt nbf future", Bearer(jwt_not_yet)},
      {"jwt no org", Bearer(jwt_no_org)},
      {"jwt wrong key", Bearer(jwt_wrong_key)},
      {"jwt control org", Bearer(jwt_control_org)},
      {"garbage", Bearer("abc")},
      {"huge", Bearer(std::string(7000, 'x'))},
      {"basic", {{"Authorization", "Basic YWxpY2U6c2VjcmV0"}}},
      {"two headers",
       {{"Authorization", "Bearer " + jwt_}, {"Authorization", "Bearer x"}}},
  };
  std::string reference_body;
  for (const auto& [name, headers] : cases) {
    SCOPED_TRACE(name);
    auto res = cli_->Get("/service-accounts/victim/tokens", headers);
    ExpectProblem(res, 401);
    EXPECT_EQ(res->get_header_value("WWW-Authenticate"),
              kInvalidTokenChallenge);
    if (reference_body.empty()) reference_body = res->body;
    EXPECT_EQ(res->body, reference_body);
    // /whoami answers every keygate-token failure the same way.
    if (name == "malformed" || name == "revoked" || name == "expired" ||
        name == "disabled" || name == "unknown") {
      auto who = cli_->Get("/whoami", headers);
      ExpectProblem(who, 401);
      EXPECT_EQ(who->body, reference_body);
    }
  }
  // A JWT is not a keygate token: /whoami refuses it identically.
  auto who_jwt = Get("/whoami", jwt_);
  ExpectProblem(who_jwt, 401);
  EXPECT_EQ(who_jwt->body, reference_body);
}

TEST_F(ServeTest, ScopesOfKeygateTokens) {
  CreateAccount("robot", jwt_);
  std::string reader = CreateToken("robot", "reader", {"read:tokens"}, jwt_);
  std::string admin = CreateToken(
      "robot", "admin", {"write:service_accounts", "write:tokens"}, jwt_);
  std::string sa_reader =
      CreateToken("robot", "sa-reader", {"read:service_accounts"}, jwt_);

  // read:tokens lists but cannot create or revoke.
  auto list = Get("/service-accounts/robot/tokens", reader);
  ASSERT_TRUE(list);
  EXPECT_EQ(list->status, 200) << list->body;
  auto refused = Post("/service-accounts/robot/tokens",
                      R"({"name":"x","scopes":["read:tokens"]})", reader);
  ExpectProblem(refused, 403);
  EXPECT_EQ(refused->get_header_value("WWW-Authenticate"),
            "Bearer realm=\"keygate\", error=\"insufficient_scope\", "
            "scope=\"write:tokens\"");
  EXPECT_THAT(refused->body, HasSubstr("write:tokens"));
  ExpectProblem(Delete("/service-accounts/robot/tokens/admin", reader), 403);
  ExpectProblem(Get("/service-accounts", reader), 403);

  // write:service_accounts + write:tokens manage within the organization,
  // acting as "token:<account>/<slug>".
  auto created = Post("/service-accounts",
                      R"({"name":"Made by token","slug":"by-token"})", admin);
  ASSERT_TRUE(created);
  ASSERT_EQ(created->status, 201) << created->body;
  EXPECT_EQ(Json(created)["createdBy"], "token:robot/admin");
  auto token = Post("/service-accounts/by-token/tokens",
                    R"({"name":"child","scopes":["read:tokens"]})", admin);
  ASSERT_TRUE(token);
  ASSERT_EQ(token->status, 201) << token->body;
  created_tokens_.push_back(Json(token)["token"]);
  EXPECT_EQ(Json(token)["createdBy"], "token:robot/admin");
  // write implies read.
  EXPECT_EQ(Get("/service-accounts/by-token", admin)->status, 200);
  // ...but not delete.
  auto del = Delete("/service-accounts/by-token", admin);
  ExpectProblem(del, 403);
  EXPECT_THAT(del->get_header_value("WWW-Authenticate"),
              HasSubstr("scope=\"delete:service_accounts\""));

  EXPECT_EQ(Get("/service-accounts", sa_reader)->status, 200);
  ExpectProblem(Post("/service-accounts", R"({"name":"no"})", sa_reader), 403);

  // The token's organization is the JWT's: another org's JWT cannot see it.
  auto listed = Get("/service-accounts", sa_reader);
  EXPECT_EQ(Json(listed)["items"].size(), 2u);

  // /auth/check never takes its scope from the client (the operator's
  // sources are tested in serve_hardening_test): a query scope is refused,
  // and so is the header on a server not configured to read it.
  EXPECT_EQ(Get("/auth/check", reader)->status, 200);
  ExpectErrorAt(Get("/auth/check?scope=read:tokens", reader), "query.scope");
  ExpectErrorAt(Get("/auth/check?scope=bogus", reader), "query.scope");
  httplib::Headers headers = Bearer(reader);
  headers.emplace("X-Keygate-Required-Scope", "read:tokens");
  ExpectProblem(cli_->Get("/auth/check", headers), 400);
}

TEST_F(ServeTest, TenantIsolation) {
  std::string other = server_.Jwt("globex", "mallory");
  CreateAccount("shared-name", jwt_);
  std::string token = CreateToken("shared-name", "tok", {"read:*"}, jwt_);

  // Another organization sees a miss, byte-identical to a genuine one.
  auto pairs = std::vector<std::pair<std::string, std::string>>{
      {"/service-accounts/shared-name", "/service-accounts/no-such-account"},
      {"/service-accounts/shared-name/tokens",
       "/service-accounts/no-such-account/tokens"},
  };
  for (const auto& [theirs, missing] : pairs) {
    auto a = Get(theirs, other);
    auto b = Get(missing, other);
    auto c = Get(missing, jwt_);
    ExpectProblem(a, 404);
    ExpectProblem(b, 404);
    EXPECT_EQ(a->body, b->body);
    EXPECT_EQ(a->body, c->body);
    EXPECT_EQ(a->headers.size(), b->headers.size());
  }
  auto revoke_theirs =
      Delete("/service-accounts/shared-name/tokens/tok", other);
  auto revoke_missing =
      Delete("/service-accounts/shared-name/tokens/nope", jwt_);
  ExpectProblem(revoke_theirs, 404);
  ExpectProblem(revoke_missing, 404);
  EXPECT_EQ(revoke_theirs->body, revoke_missing->body);
  auto delete_theirs = Delete("/service-accounts/shared-name", other);
  ExpectProblem(delete_theirs, 404);
  auto patch_theirs =
      Patch("/service-accounts/shared-name", R"({"disabled":true})", other);
  ExpectProblem(patch_theirs, 404);
  auto token_theirs = Post("/service-accounts/shared-name/tokens",
                           R"({"name":"x","scopes":["read:tokens"]})", other);
  ExpectProblem(token_theirs, 404);

  auto listed = Get("/service-accounts", other);
  ASSERT_TRUE(listed);
  EXPECT_EQ(Json(listed)["items"].size(), 0u);
  // The same slug is free in the other organization.
  CreateAccount("shared-name", other);
  // And the first organization's token still works, unaffected.
  auto who = Get("/whoami", token);
  ASSERT_TRUE(who);
  EXPECT_EQ(who->status, 200);
  EXPECT_EQ(Json(who)["organization"], "acme");
  // Each organization sees only its own account of that slug.
  auto mine = Get("/service-accounts/shared-name/tokens", jwt_);
  ASSERT_TRUE(mine);
  EXPECT_EQ(Json(mine)["items"].size(), 1u);
  auto theirs = Get("/service-accounts/shared-name/tokens", other);
  ASSERT_TRUE(theirs);
  EXPECT_EQ(theirs->status, 200);
  EXPECT_EQ(Json(theirs)["items"].size(), 0u);
}

// ----- the mapping table
// ----------------------------------------------------------

TEST_F(ServeTest, Conflicts) {
  CreateAccount("dup", jwt_);
  auto again = Post("/service-accounts", R"({"name":"x","slug":"dup"})", jwt_);
  ExpectErrorAt(again, "body.slug", 409);
  CreateToken("dup", "tok", {"read:tokens"}, jwt_);
  ExpectErrorAt(
      Post("/service-accounts/dup/tokens",
           R"({"name":"other","slug":"tok","scopes":["read:tokens"]})", jwt_),
      "body.slug", 409);
  ExpectErrorAt(Post("/service-accounts/dup/tokens",
                     R"({"name":"token tok","scopes":["read:tokens"]})", jwt_),
                "body.name", 409);
}

TEST_F(ServeTest, ValidationErrorsAreLocated) {
  CreateAccount("valid", jwt_);
  const std::string tokens = "/service-accounts/valid/tokens";
  ExpectErrorAt(Post("/service-accounts", R"({"name":42})", jwt_), "body.name");
  ExpectErrorAt(Post("/service-accounts", R"({"slug":"abc"})", jwt_),
                "body.name");
  ExpectErrorAt(Post("/service-accounts", R"({"name":"a","extra":1})", jwt_),
                "body.extra");
  ExpectErrorAt(
      Post("/service-accounts", R"({"name":"a","slug":"Not_A_Slug"})", jwt_),
      "body.slug");
  ExpectErrorAt(Post("/service-accounts", R"({"name":""})", jwt_), "body.name");
  ExpectErrorAt(
      Post(tokens, R"({"name":"t","scopes":["read:tokens",7]})", jwt_),
      "body.scopes[1]");
  ExpectErrorAt(
      Post(tokens, R"({"name":"t","scopes":["read:tokens","admin:all"]})",
           jwt_),
      "body.scopes[1]");
  ExpectErrorAt(Post(tokens, R"({"name":"t","scopes":"read:tokens"})", jwt_),
                "body.scopes");
  ExpectErrorAt(Post(tokens, R"({"name":"t"})", jwt_), "body.scopes");
  ExpectErrorAt(Post(tokens,
                     R"({"name":"t","scopes":["read:tokens"],)"
                     R"("expiresAt":"tomorrow"})",
                     jwt_),
                "body.expiresAt");
  ExpectErrorAt(Post(tokens,
                     R"({"name":"t","scopes":["read:tokens"],)"
                     R"("expiresAt":"2001-01-01T00:00:00Z"})",
                     jwt_),
                "body.expiresAt");
  ExpectErrorAt(
      Post(tokens, R"({"name":"t","scopes":["read:tokens"],"expiresAt":5})",
           jwt_),
      "body.expiresAt");
  ExpectErrorAt(Patch("/service-accounts/valid", R"({"disabled":"yes"})", jwt_),
                "body.disabled");
  ExpectErrorAt(Get("/service-accounts/Bad_Slug", jwt_),
                "path.serviceAccountSlug");
  ExpectErrorAt(Get("/service-accounts/x/tokens", jwt_),
                "path.serviceAccountSlug");
  ExpectErrorAt(Delete("/service-accounts/valid/tokens/-bad-", jwt_),
                "path.tokenSlug");
  ExpectErrorAt(Get("/service-accounts/" + std::string(101, 'a'), jwt_),
                "path.serviceAccountSlug");

  // Several failures are all reported, each with its location.
  auto many = Post(tokens, R"({"name":5,"scopes":[1,"read:tokens",2]})", jwt_);
  ExpectErrorAt(many, "body.name");
  ExpectErrorAt(many, "body.scopes[0]");
  ExpectErrorAt(many, "body.scopes[2]");
}

TEST_F(ServeTest, MalformedBodies) {
  for (const std::string& body :
       {std::string("{"), std::string("not json"), std::string(""),
        std::string("[1,2]"), std::string("\"name\""), std::string("null"),
        std::string("{\"name\":\"\xff\xfe\"}"),  // invalid UTF-8
        std::string("{\"name\":\"a\0b\"}", 14),  // raw NUL
        std::string("{\"name\":\"a\"} trailing"),
        std::string(R"({"name":"x","name":"y"})"),
        std::string(R"({"name":"x","slug":"s","slug":"t"})")}) {
    SCOPED_TRACE(body);
    auto res = Post("/service-accounts", body, jwt_);
    ExpectProblem(res, 400);
    json problem = Json(res);
    ASSERT_TRUE(problem["errors"].is_array());
    EXPECT_EQ(problem["errors"][0]["location"], "body");
  }
}

TEST_F(ServeTest, ContentTypeAndSizeLimits) {
  auto text = cli_->Post("/service-accounts", Bearer(jwt_), R"({"name":"a"})",
                         "text/plain");
  ExpectProblem(text, 415);
  auto form = cli_->Post("/service-accounts", Bearer(jwt_), "name=a",
                         "application/x-www-form-urlencoded");
  ExpectProblem(form, 415);
  auto charset =
      cli_->Post("/service-accounts", Bearer(jwt_), R"({"name":"Charset ok"})",
                 "Application/JSON; charset=utf-8");
  ASSERT_TRUE(charset);
  EXPECT_EQ(charset->status, 201) << charset->body;

  // Just over the 64 KiB default, and far over.
  for (size_t size : {size_t{64 * 1024 + 1}, size_t{1} << 20}) {
    std::string body = R"({"name":")" + std::string(size, 'a') + "\"}";
    auto res = Post("/service-accounts", body, jwt_);
    ExpectProblem(res, 413);
  }
  // Under the limit but too long for a name: a located 422, value truncated.
  auto long_name = Post("/service-accounts",
                        R"({"name":")" + std::string(60000, 'n') + "\"}", jwt_);
  ExpectErrorAt(long_name, "body.name");
  EXPECT_LT(long_name->body.size(), 2000u);
}

TEST_F(ServeTest, MethodNotAllowedAndUnknownRoutes) {
  auto put =
      cli_->Put("/service-accounts", Bearer(jwt_), "{}", "application/json");
  ExpectProblem(put, 405);
  EXPECT_EQ(put->get_header_value("Allow"), "GET, HEAD, POST");
  auto del = cli_->Delete("/whoami", Bearer(jwt_));
  ExpectProblem(del, 405);
  EXPECT_EQ(del->get_header_value("Allow"), "GET, HEAD");
  auto get_token = cli_->Get("/service-accounts/a1/tokens/t1", Bearer(jwt_));
  ExpectProblem(get_token, 405);
  EXPECT_EQ(get_token->get_header_value("Allow"), "DELETE");

  for (const char* path :
       {"/", "/nope", "/service-accounts/", "/service-accounts/a1/tokens/t1/x",
        "/service-accounts//tokens", "/service-accounts/..%2f..",
        "/service-accounts/..%2F..%2Fetc%2Fpasswd/tokens", "/SERVICE-ACCOUNTS",
        "/whoami/"}) {
    SCOPED_TRACE(path);
    auto res = cli_->Get(path, Bearer(jwt_));
    ExpectProblem(res, 404);
  }
}

TEST_F(ServeTest, HostileInputNeverYieldsA5xx) {
  CreateAccount("target", jwt_);
  std::string deep = R"({"name":"x","a":)" + std::string(20000, '[') +
                     std::string(20000, ']') + "}";
  std::vector<std::pair<std::string, std::string>> posts = {
      {"/service-accounts", deep},
      {"/service-accounts", R"({"name":"a\u0000b"})"},
      {"/service-accounts", R"({"name":"\ud800"})"},
      {"/service-accounts", R"({"name":"ok","slug":"a\u0000b"})"},
      {"/service-accounts", R"({"name":{"nested":true}})"},
      {"/service-accounts", R"({"name":1e999})"},
      {"/service-accounts/target/tokens",
       R"({"name":"n","scopes":[")" + std::string(50000, 's') + "\"]}"},
      {"/service-accounts/target/tokens",
       R"({"name":"n","scopes":["read:tokens"],"expiresAt":"9999-99-99T99:99:99Z"})"},
      {"/service-accounts/target/tokens",
       R"({"name":"n","scopes":["read:tokens"],"expiresAt":"2030-01-01T00:00:00\u0000Z"})"},
      {"/service-accounts/target/tokens",
       R"({"name":"n","scopes":[],"slug":"ok-slug"})"},
      {"/service-accounts/target/tokens",
       R"({"name":"\u202e\u0007","scopes":["read:tokens"]})"},
      {"/service-accounts/%00/tokens",
       R"({"name":"n","scopes":["read:tokens"]})"},
      {"/service-accounts/%ff%fe/tokens",
       R"({"name":"n","scopes":["read:tokens"]})"},
  };
  for (const auto& [path, body] : posts) {
    SCOPED_TRACE(path + " " + body.substr(0, 80));
    auto res = Post(path, body, jwt_);
    ASSERT_TRUE(res);
    EXPECT_GE(res->status, 400);
    EXPECT_LT(res->status, 500);
    EXPECT_EQ(res->get_header_value("Content-Type"), kProblemType);
    EXPECT_TRUE(json::accept(res->body)) << "problem JSON must be valid";
  }
  for (const char* path :
       {"/service-accounts/%00", "/service-accounts/%ff",
        "/service-accounts/a%0d%0aX-Injected:%20yes",
        "/service-accounts?limit=%00", "/service-accounts?cursor=%ff%00",
        "/service-accounts/target/tokens?cursor=garbage",
        "/auth/check?scope=%00"}) {
    SCOPED_TRACE(path);
    auto res = Get(path, jwt_);
    ASSERT_TRUE(res);
    EXPECT_LT(res->status, 500) << res->body;
    EXPECT_FALSE(res->has_header("X-Injected"));
  }
  // The server is still healthy.
  EXPECT_EQ(cli_->Get("/healthz")->status, 200);
}

TEST_F(ServeTest, MalformedHttpGetsA4xxAndTheServerStaysUp) {
  const std::string host = "Host: 127.0.0.1\r\n";
  std::vector<std::pair<std::string, std::string>> cases = {
      {"binary garbage", std::string("\x00\x01\x02\xff\r\n\r\n", 8)},
      {"unknown method", "BREW /service-accounts HTTP/1.1\r\n" + host + "\r\n"},
      {"long uri",
       "GET /" + std::string(20000, 'a') + " HTTP/1.1\r\n" + host + "\r\n"},
      {"huge content-length", "POST /service-accounts HTTP/1.1\r\n" + host +
                                  "Content-Type: application/json\r\n"
                                  "Content-Length: 99999999999\r\n\r\n{}"},
      {"bad chunk",
       "POST /service-accounts HTTP/1.1\r\n" + host +
           "Content-Type: application/json\r\n"
           "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"},
      {"nul in path",
       std::string("GET /who\0ami HTTP/1.1\r\n", 23) + host + "\r\n"},
  };
  for (const auto& [name, request] : cases) {
    SCOPED_TRACE(name);
    std::string response = RawExchange(server_.port(), request);
    if (response.empty()) continue;  // closing the connection is fine too
    ASSERT_GE(response.size(), 12u) << response;
    EXPECT_EQ(response.substr(0, 10), "HTTP/1.1 4") << response;
    EXPECT_THAT(response, HasSubstr("application/problem+json"));
  }
  auto health = cli_->Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

// ----- process lifecycle
// ------------------------------------------------------------

TEST_F(ServeTest, RestartKeepsStateAndSigtermExitsZero) {
  CreateAccount("durable", jwt_);
  std::string token = CreateToken("durable", "tok", {"read:tokens"}, jwt_);
  CreateToken("durable", "gone", {"read:tokens"}, jwt_);
  ASSERT_EQ(Delete("/service-accounts/durable/tokens/gone", jwt_)->status, 204);
  EXPECT_EQ(server_.Stop(SIGTERM), 0) << server_.log();
  EXPECT_THAT(server_.log(), HasSubstr("stopped"));

  server_.Start();
  cli_ = server_.Client();
  auto who = Get("/whoami", token);
  ASSERT_TRUE(who);
  EXPECT_EQ(who->status, 200) << who->body;
  auto list = Get("/service-accounts/durable/tokens", jwt_);
  ASSERT_TRUE(list);
  json items = Json(list)["items"];
  ASSERT_EQ(items.size(), 2u);
  for (const json& item : items) {
    if (item["slug"] == "gone") {
      EXPECT_TRUE(item["revokedAt"].is_string());
    } else {
      EXPECT_TRUE(item["revokedAt"].is_null());
    }
  }
  EXPECT_EQ(server_.Stop(SIGINT), 0) << server_.log();
}

TEST_F(ServeTest, SigtermRightAfterStartExitsZero) {
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(server_.Stop(SIGTERM), 0) << server_.log();
    server_.Start();
  }
  EXPECT_EQ(server_.Stop(SIGINT), 0) << server_.log();
}

TEST_F(ServeTest, SigtermFinishesInFlightRequests) {
  CreateAccount("inflight", jwt_);
  // Several clients keep issuing requests while the server is told to stop;
  // every response that arrives must be complete and successful.
  std::atomic<bool> go{true};
  std::atomic<int> ok{0}, bad{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 3; ++i) {
    clients.emplace_back([&] {
      auto cli = server_.Client();
      while (go.load()) {
        auto res = cli->Get("/service-accounts/inflight", Bearer(jwt_));
        if (!res) continue;  // refused once the listener closed
        if (res->status == 200 && json::accept(res->body)) {
          ++ok;
        } else {
          ++bad;
        }
      }
    });
  }
  while (ok.load() < 20)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  int code = server_.Stop(SIGTERM);
  go.store(false);
  for (auto& t : clients) t.join();
  EXPECT_EQ(code, 0) << server_.log();
  EXPECT_EQ(bad.load(), 0);
}

TEST_F(ServeTest, LogNeverContainsSecrets) {
  CreateAccount("logged", jwt_);
  std::string token =
      CreateToken("logged", "tok", {"read:tokens", "write:tokens"}, jwt_);
  ASSERT_EQ(Get("/whoami", token)->status, 200);
  ASSERT_EQ(Get("/auth/check", token)->status, 200);
  ExpectProblem(Get("/service-accounts", "kg_" + token.substr(3, 10)), 401);
  auto cursor = Get("/service-accounts/logged/tokens?cursor=" + token, jwt_);
  ASSERT_TRUE(cursor);
  EXPECT_LT(cursor->status, 500);
  ASSERT_EQ(Delete("/service-accounts/logged/tokens/tok", jwt_)->status, 204);
  ExpectProblem(Get("/whoami", token), 401);
  ASSERT_EQ(server_.Stop(SIGTERM), 0);

  std::string log = server_.log();
  EXPECT_THAT(log, ::testing::ContainsRegex(
                       "status=200 duration_us=[0-9]+ route=/whoami"));
  EXPECT_THAT(log, ::testing::ContainsRegex(
                       "status=201 duration_us=[0-9]+ "
                       "route=/service-accounts/\\{serviceAccountSlug\\}/tokens"));
  EXPECT_THAT(log, HasSubstr("duration_us="));
  // The operator sees why a credential failed; the client never does.
  EXPECT_THAT(log, HasSubstr("status=401 duration_us="));
  EXPECT_THAT(log, HasSubstr("auth_failure=\"malformed\""));
  EXPECT_THAT(log, HasSubstr("auth_failure=\"revoked\""));
  ASSERT_FALSE(created_tokens_.empty());
  for (const std::string& t : created_tokens_) {
    EXPECT_THAT(log, Not(HasSubstr(t)));
    EXPECT_THAT(log, Not(HasSubstr(t.substr(3, 20))));
  }
  EXPECT_THAT(log, Not(HasSubstr(jwt_)));
  EXPECT_THAT(log, Not(HasSubstr(jwt_.substr(jwt_.rfind('.') + 1))));
  EXPECT_THAT(log, Not(HasSubstr("Authorization")));
  EXPECT_THAT(log, Not(HasSubstr("cursor=")));
}

// With --record-events, serve runs the due-event scheduler: a token that
// expires while it serves gets exactly one token.expired event, read back
// with `events tail` once serve has stopped.
TEST(ServeCommandTest, RecordsDueEventsWhileServing) {
  ASSERT_GE(sodium_init(), 0);
  ServerProcess server;
  server.Start({"--record-events", "--due-events-interval", "200ms"});
  auto cli = server.Client();
  const std::string jwt = server.Jwt("acme");
  auto account = cli->Post("/service-accounts", Bearer(jwt),
                           R"({"name":"Expiring","slug":"expiring"})",
                           "application/json");
  ASSERT_TRUE(account);
  ASSERT_EQ(account->status, 201) << account->body;
  // Past the scheduler's first call (which covers nothing before it).
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const std::string expires_at = absl::FormatTime(
      "%Y-%m-%dT%H:%M:%SZ", absl::Now() + absl::Seconds(2), absl::UTCTimeZone());
  auto token = cli->Post(
      "/service-accounts/expiring/tokens", Bearer(jwt),
      json{{"name", "short"}, {"slug", "short"}, {"scopes", {"read:tokens"}},
           {"expiresAt", expires_at}}
          .dump(),
      "application/json");
  ASSERT_TRUE(token);
  ASSERT_EQ(token->status, 201) << token->body;
  const std::string value = Json(token)["token"];
  // Liveness bound only: the scheduler runs every 200 ms.
  for (int i = 0; i < 300 && server.log().find("recorded 1 due token events") ==
                                 std::string::npos;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_THAT(server.log(), HasSubstr("recorded 1 due token events"));
  ASSERT_EQ(server.Stop(), 0) << server.log();

  const std::string out = server.dir() + "/events.out";
  const std::string tail =
      absl::StrCat("'", KEYGATE_BINARY, "' --data-dir '", server.dir(),
                   "/data' events tail >'", out, "' 2>&1");
  ASSERT_EQ(std::system(tail.c_str()), 0) << ReadFile(out);
  const std::string events = ReadFile(out);
  EXPECT_THAT(events, HasSubstr("\"token.created\""));
  size_t expired = 0;
  for (size_t at = events.find("\"token.expired\""); at != std::string::npos;
       at = events.find("\"token.expired\"", at + 1)) {
    ++expired;
  }
  EXPECT_EQ(expired, 1u) << events;
  EXPECT_THAT(events, Not(HasSubstr("token.expiring"))) << events;
  EXPECT_THAT(events, Not(HasSubstr(value)));
}

TEST(ServeCommandTest, RefusesToStartWithoutJwtSecret) {
  ServerProcess server;
  // --jwt-secret-file points to a missing file: exit non-zero, no port file.
  std::string cmd =
      absl::StrCat("'", KEYGATE_BINARY, "' --data-dir '", server.dir(),
                   "/data' serve --listen 127.0.0.1:0 --jwt-secret-file '",
                   server.dir(), "/missing' >/dev/null 2>&1");
  int rc = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(rc));
  EXPECT_NE(WEXITSTATUS(rc), 0);
  std::string bad_listen =
      absl::StrCat("'", KEYGATE_BINARY, "' --data-dir '", server.dir(),
                   "/data' serve --listen nonsense --jwt-secret-file '",
                   server.dir(), "/jwt-secret' >/dev/null 2>&1");
  rc = std::system(bad_listen.c_str());
  ASSERT_TRUE(WIFEXITED(rc));
  EXPECT_NE(WEXITSTATUS(rc), 0);
}

}  // namespace
}  // namespace keygate::tool

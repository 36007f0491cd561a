// tests/problem_store_test.cc: real Store outcomes through the problem
// adapter, end to end (the statuses a host actually gets).
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "keygate/keygate.h"
#include "keygate/http/problem.h"

namespace keygate::http {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;

class ProblemStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(::testing::TempDir(), "/problem_store_test_",
                        getpid(), "_",
                        ::testing::UnitTest::GetInstance()
                            ->current_test_info()
                            ->name());
    std::filesystem::remove_all(dir_);
    auto keyring = Keyring::Parse(
        "1 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n");
    ASSERT_TRUE(keyring.ok()) << keyring.status();
    Options options;
    options.path = dir_;
    options.keyring = *keyring;
    options.sync_writes = false;
    options.max_active_tokens_per_organization = 2;
    auto store = Store::Open(options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    ASSERT_TRUE(store_->CreateServiceAccount("acme", {"Bot", "bot"}, "alice")
                    .ok());
    ASSERT_TRUE(store_->CreateServiceAccount("globex", {"Bot", "bot"}, "gina")
                    .ok());
  }
  void TearDown() override {
    if (store_) (void)store_->Close();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  CreatedToken MakeToken(std::string_view org, std::string_view slug,
                         std::vector<std::string> scopes = {"read:tokens"}) {
    TokenSpec spec;
    spec.name = std::string(slug);
    spec.slug = std::string(slug);
    spec.scopes = std::move(scopes);
    auto token = store_->CreateToken(org, "bot", spec, "alice");
    EXPECT_TRUE(token.ok()) << token.status();
    return std::move(*token);
  }

  static std::string Json(const absl::Status& s, std::string instance = "") {
    ProblemContext context;
    context.instance = std::move(instance);
    return ProblemToJson(ProblemFromStatus(s, context));
  }

  std::string dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(ProblemStoreTest, ValidationLocations) {
  TokenSpec spec;
  spec.name = "t";
  spec.scopes = {"read:tokens", "fly:tokens"};
  absl::Status s = store_->CreateToken("acme", "Not A Slug", spec, "").status();
  const Problem p = ProblemFromStatus(s);
  EXPECT_EQ(p.status, 422);
  std::vector<std::string> locations;
  for (const ProblemError& e : p.errors) locations.push_back(e.location);
  EXPECT_THAT(locations, Contains("path.serviceAccountSlug"));
  EXPECT_THAT(locations, Contains("body.scopes[1]"));
  EXPECT_THAT(locations, Contains("header.Authorization"));  // empty actor
}

TEST_F(ProblemStoreTest, ConflictNamesTheField) {
  absl::Status s =
      store_->CreateServiceAccount("acme", {"Other", "bot"}, "alice").status();
  const Problem p = ProblemFromStatus(s);
  EXPECT_EQ(p.status, 409);
  EXPECT_EQ(p.detail, "conflict: slug already in use");
  ASSERT_EQ(p.errors.size(), 1u);
  EXPECT_EQ(p.errors[0].location, "body.slug");
  EXPECT_EQ(p.errors[0].value, "bot");
}

TEST_F(ProblemStoreTest, OtherOrganizationIsByteIdenticalToAMiss) {
  CreatedToken token = MakeToken("globex", "t1");
  const std::string instance = "/service-accounts/bot/tokens/t1";
  const std::string other_org =
      Json(store_->RevokeToken("acme", "bot", "t1", "alice"), instance);
  const std::string miss =
      Json(store_->RevokeToken("acme", "bot", "t9", "alice"), instance);
  const std::string no_account =
      Json(store_->RevokeToken("acme", "nobody", "t1", "alice"), instance);
  EXPECT_EQ(other_org, miss);
  EXPECT_EQ(other_org, no_account);
  EXPECT_THAT(other_org, HasSubstr(R"("status":404)"));
  EXPECT_EQ(Json(store_->GetServiceAccount("acme", "nobody").status()),
            Json(store_->GetServiceAccount("initech", "bot").status()));
}

TEST_F(ProblemStoreTest, EveryVerifyFailureIsTheSame401) {
  CreatedToken revoked = MakeToken("acme", "revoked");
  ASSERT_TRUE(store_->RevokeToken("acme", "bot", "revoked", "alice").ok());
  CreatedToken disabled = MakeToken("globex", "disabled");
  ASSERT_TRUE(store_->SetServiceAccountDisabled("globex", "bot", true, "gina")
                  .ok());
  std::string unknown(revoked.value.view());
  unknown[5] = unknown[5] == 'a' ? 'b' : 'a';  // checksum now fails

  const std::string expected = ProblemToJson(InvalidTokenProblem());
  for (std::string_view token :
       {std::string_view("garbage"), std::string_view(),
        std::string_view(unknown), revoked.value.view(),
        disabled.value.view()}) {
    absl::Status s = store_->Verify(token).status();
    const Problem p = ProblemFromStatus(s);
    EXPECT_EQ(ProblemToJson(p), expected)
        << VerifyFailureName(VerifyFailureOf(s));
    EXPECT_THAT(p.headers, Contains(Pair("WWW-Authenticate",
                                         R"(Bearer realm="keygate", )"
                                         R"(error="invalid_token")")));
    if (!token.empty()) {
      EXPECT_THAT(ProblemToJson(p), Not(HasSubstr(std::string(token))));
    }
  }
}

TEST_F(ProblemStoreTest, MissingScopeIs403WithScope) {
  CreatedToken token = MakeToken("acme", "reader");
  const Problem p =
      ProblemFromStatus(store_->Verify(token.value.view(), "write:tokens")
                            .status());
  EXPECT_EQ(p.status, 403);
  EXPECT_EQ(p.detail, "insufficient scope: requires write:tokens");
  EXPECT_THAT(p.headers,
              Contains(Pair("WWW-Authenticate",
                            R"(Bearer realm="keygate", )"
                            R"(error="insufficient_scope", )"
                            R"(scope="write:tokens")")));
}

TEST_F(ProblemStoreTest, QuotaIs429) {
  MakeToken("acme", "q1");
  MakeToken("acme", "q2");
  TokenSpec spec;
  spec.name = "q3";
  spec.scopes = {"read:tokens"};
  const Problem p =
      ProblemFromStatus(store_->CreateToken("acme", "bot", spec, "alice")
                            .status());
  EXPECT_EQ(p.status, 429);
  EXPECT_EQ(p.type, "https://keygate.dev/problems/quota-exceeded");
}

TEST_F(ProblemStoreTest, DisabledAccountIs409StateConflict) {
  ASSERT_TRUE(store_->SetServiceAccountDisabled("acme", "bot", true, "alice")
                  .ok());
  TokenSpec spec;
  spec.name = "t";
  spec.scopes = {"read:tokens"};
  const Problem p =
      ProblemFromStatus(store_->CreateToken("acme", "bot", spec, "alice")
                            .status());
  EXPECT_EQ(p.status, 409);
  EXPECT_EQ(p.type, "https://keygate.dev/problems/state-conflict");
}

}  // namespace
}  // namespace keygate::http

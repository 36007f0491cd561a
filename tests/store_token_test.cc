// Tests of the token half of keygate::Store: create (value shown once),
// metadata, name/slug uniqueness, the scope grammar, expiry, listing with
// keyset pagination, revoke, Verify's failure reasons, the per-organization
// quota and retention purging.
//
// Token values are never printed: failures name the token by index.
#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "keygate/keygate.h"
#include "tests/store_test_util.h"

namespace keygate {
namespace {

using test::HasFieldError;
using test::IsValidSlug;

// Length of a token with the default "kg_" prefix:
// prefix + pepper id (1) + secret (43) + checksum (6).
constexpr size_t kDefaultTokenSize = 3 + 1 + 43 + 6;

class TokenTest : public test::StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    if (HasFatalFailure()) return;
    KG_ASSERT_OK(CreateAccount("svc"));
  }

  // ExpectVerifyFailure expects Verify(token) to fail with `reason`.
  void ExpectVerifyFailure(std::string_view token, VerifyFailure reason,
                           const std::string& label,
                           std::string_view scope = {}) {
    auto v = store_->Verify(token, scope);
    ASSERT_FALSE(v.ok()) << label << ": verify succeeded";
    EXPECT_EQ(VerifyFailureOf(v.status()), reason)
        << label << ": got " << VerifyFailureName(VerifyFailureOf(v.status()))
        << " want " << VerifyFailureName(reason);
    if (reason == VerifyFailure::kInsufficientScope) {
      EXPECT_EQ(v.status().code(), absl::StatusCode::kPermissionDenied)
          << label;
    } else {
      EXPECT_EQ(v.status().code(), absl::StatusCode::kUnauthenticated) << label;
    }
  }
};

TEST_F(TokenTest, CreateReturnsValueOnceAndItVerifies) {
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken t,
                          CreateToken("svc", "CI deploy", {"write:tokens"},
                                      std::string("ci-deploy")));
  const std::string_view value = t.value.view();
  EXPECT_TRUE(value.starts_with("kg_")) << "value lacks the kg_ prefix";
  EXPECT_EQ(value.size(), kDefaultTokenSize);

  KG_ASSERT_OK_AND_ASSIGN(Principal p, store_->Verify(value));
  ASSERT_TRUE(p.valid());
  EXPECT_EQ(p.organization(), kOrg);
  EXPECT_EQ(p.service_account(), "svc");
  EXPECT_EQ(p.token_slug(), "ci-deploy");
  EXPECT_EQ(p.scopes(), std::vector<std::string>({"write:tokens"}));
  EXPECT_EQ(p.expires_at(), std::nullopt);
  EXPECT_TRUE(p.HasScope("write:tokens"));
  EXPECT_TRUE(p.HasScope("read:tokens"));
  EXPECT_FALSE(p.HasScope("delete:tokens"));
  EXPECT_FALSE(p.HasScope("read:service_accounts"));
  EXPECT_FALSE(p.HasScope("not a scope"));

  // The metadata in the list carries no value; listing twice is stable.
  KG_ASSERT_OK_AND_ASSIGN(auto listed, AllTokens("svc"));
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].slug, "ci-deploy");
}

TEST_F(TokenTest, MetadataFields) {
  const absl::Time expiry = clock_.Now() + absl::Hours(48);
  KG_ASSERT_OK_AND_ASSIGN(
      CreatedToken t,
      CreateToken("svc", "Deploy Key",
                  {"write:tokens", "read:tokens", "write:tokens",
                   "delete:service_accounts", "read:tokens"},
                  std::nullopt, expiry));
  const TokenMetadata& m = t.metadata;
  EXPECT_EQ(m.organization, kOrg);
  EXPECT_EQ(m.service_account, "svc");
  EXPECT_EQ(m.name, "Deploy Key");
  EXPECT_TRUE(IsValidSlug(m.slug)) << m.slug;
  EXPECT_TRUE(m.slug.starts_with("deploy-key")) << m.slug;
  EXPECT_EQ(m.scopes,
            std::vector<std::string>(
                {"delete:service_accounts", "read:tokens", "write:tokens"}));
  EXPECT_EQ(m.created_at, clock_.Now());
  EXPECT_EQ(m.created_by, kActor);
  EXPECT_EQ(m.expires_at, expiry);
  EXPECT_EQ(m.revoked_at, std::nullopt);
  EXPECT_EQ(m.revoked_by, "");
  EXPECT_EQ(m.pepper_id, 1);
  EXPECT_TRUE(m.active(clock_.Now()));

  // The stored metadata matches what create returned.
  clock_.Advance(absl::Minutes(1));
  KG_ASSERT_OK_AND_ASSIGN(auto listed, AllTokens("svc"));
  ASSERT_EQ(listed.size(), 1u);
  const TokenMetadata& l = listed[0];
  EXPECT_EQ(l.organization, m.organization);
  EXPECT_EQ(l.service_account, m.service_account);
  EXPECT_EQ(l.slug, m.slug);
  EXPECT_EQ(l.name, m.name);
  EXPECT_EQ(l.scopes, m.scopes);
  EXPECT_EQ(l.created_at, m.created_at);
  EXPECT_EQ(l.created_by, m.created_by);
  EXPECT_EQ(l.expires_at, m.expires_at);
  EXPECT_EQ(l.revoked_at, std::nullopt);
  EXPECT_EQ(l.pepper_id, 1);

  KG_ASSERT_OK_AND_ASSIGN(Principal p, store_->Verify(t.value.view()));
  EXPECT_EQ(p.token_slug(), m.slug);
  EXPECT_EQ(p.scopes(), m.scopes);
  EXPECT_EQ(p.expires_at(), expiry);
}

TEST_F(TokenTest, ValuesAreDistinct) {
  std::set<std::string> values;
  for (int i = 0; i < 50; ++i) {
    KG_ASSERT_OK_AND_ASSIGN(CreatedToken t,
                            CreateToken("svc", "t" + std::to_string(i)));
    EXPECT_TRUE(values.insert(std::string(t.value.view())).second)
        << "token #" << i << " repeats an earlier value";
  }
}

TEST_F(TokenTest, CreateOnUnknownAccountIsNotFound) {
  auto t = CreateToken("no-such-account", "x");
  EXPECT_EQ(t.status().code(), absl::StatusCode::kNotFound) << t.status();
  EXPECT_EQ(AllTokens("no-such-account").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(TokenTest, NameUniqueAmongActiveTokens) {
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken first, CreateToken("svc", "ci"));
  auto dup = CreateToken("svc", "ci", {"read:tokens"}, std::string("ci-two"));
  EXPECT_EQ(dup.status().code(), absl::StatusCode::kAlreadyExists)
      << dup.status();
  EXPECT_TRUE(HasFieldError(dup.status(), "name"))
      << test::DescribeFieldErrors(dup.status());

  // Another account may use the same name.
  KG_ASSERT_OK(CreateAccount("svc2"));
  KG_EXPECT_OK(CreateToken("svc2", "ci"));

  // After revoking, the name is free again (with a fresh explicit slug).
  KG_ASSERT_OK(store_->RevokeToken(kOrg, "svc", first.metadata.slug, kActor));
  KG_ASSERT_OK_AND_ASSIGN(
      CreatedToken second,
      CreateToken("svc", "ci", {"read:tokens"}, std::string("ci-two")));
  EXPECT_EQ(second.metadata.name, "ci");
  KG_EXPECT_OK(store_->Verify(second.value.view()));
  // ...and taken again while `second` is active.
  EXPECT_EQ(CreateToken("svc", "ci", {"read:tokens"}, std::string("ci-three"))
                .status()
                .code(),
            absl::StatusCode::kAlreadyExists);
}

// Reusing a revoked token's name WITHOUT giving a slug: the slug derived from
// the name must not collide with the revoked token's (which stays reserved).
TEST_F(TokenTest, NameReuseAfterRevokeWithDerivedSlug) {
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken first, CreateToken("svc", "nightly"));
  KG_ASSERT_OK(store_->RevokeToken(kOrg, "svc", first.metadata.slug, kActor));
  auto second = CreateToken("svc", "nightly");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_NE(second->metadata.slug, first.metadata.slug);
  EXPECT_TRUE(IsValidSlug(second->metadata.slug));
}

TEST_F(TokenTest, ExpiredTokenNameCanBeReused) {
  KG_ASSERT_OK(CreateToken("svc", "short", {"read:tokens"},
                           std::string("short-1"),
                           clock_.Now() + absl::Minutes(1)));
  clock_.Advance(absl::Minutes(2));
  KG_EXPECT_OK(
      CreateToken("svc", "short", {"read:tokens"}, std::string("short-2")));
}

TEST_F(TokenTest, SlugUniquePerAccountEvenAfterRevoke) {
  KG_ASSERT_OK_AND_ASSIGN(
      CreatedToken t,
      CreateToken("svc", "one", {"read:tokens"}, std::string("fixed")));
  auto dup = CreateToken("svc", "two", {"read:tokens"}, std::string("fixed"));
  EXPECT_EQ(dup.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_TRUE(HasFieldError(dup.status(), "slug"))
      << test::DescribeFieldErrors(dup.status());

  KG_ASSERT_OK(store_->RevokeToken(kOrg, "svc", "fixed", kActor));
  auto after =
      CreateToken("svc", "three", {"read:tokens"}, std::string("fixed"));
  EXPECT_EQ(after.status().code(), absl::StatusCode::kAlreadyExists)
      << after.status();
  EXPECT_TRUE(HasFieldError(after.status(), "slug"))
      << test::DescribeFieldErrors(after.status());

  // Same slug on another account is fine.
  KG_ASSERT_OK(CreateAccount("svc2"));
  KG_EXPECT_OK(
      CreateToken("svc2", "one", {"read:tokens"}, std::string("fixed")));
}

TEST_F(TokenTest, InvalidTokenSlugsRejectedNamingSlug) {
  const std::vector<std::string> slugs = {"",    "a",   std::string(101, 'a'),
                                          "Abc", "-ab", "ab-",
                                          "a_b", "a b", "\xc3\xa4-b"};
  for (size_t i = 0; i < slugs.size(); ++i) {
    auto t =
        CreateToken("svc", "n" + std::to_string(i), {"read:tokens"}, slugs[i]);
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument)
        << "slug #" << i << ": " << t.status();
    EXPECT_TRUE(HasFieldError(t.status(), "slug"))
        << "slug #" << i << ": " << test::DescribeFieldErrors(t.status());
  }
  KG_ASSERT_OK_AND_ASSIGN(auto listed, AllTokens("svc"));
  EXPECT_TRUE(listed.empty());
}

TEST_F(TokenTest, ScopeGrammarNamesEveryOffendingEntry) {
  const std::vector<std::string> scopes = {
      "read:tokens",    // 0 ok
      "read:billing",   // 1 unknown module
      "admin:tokens",   // 2 unknown action
      "read:",          // 3 empty module
      "",               // 4 empty
      "READ:tokens",    // 5 case
      "delete:*",       // 6 not allowed
      "write:tokens",   // 7 ok
      " read:tokens",   // 8 whitespace
      "read:tokens:x",  // 9 extra part
      "read:*x",        // 10 not a module
      "read",           // 11 no module
      "write:*",        // 12 ok
  };
  auto t = CreateToken("svc", "bad scopes", scopes);
  ASSERT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument)
      << t.status();
  std::vector<std::string> names = test::FieldNames(t.status());
  std::sort(names.begin(), names.end());
  std::vector<std::string> want;
  for (int i : {1, 2, 3, 4, 5, 6, 8, 9, 10, 11}) {
    want.push_back("scopes[" + std::to_string(i) + "]");
  }
  std::sort(want.begin(), want.end());
  EXPECT_EQ(names, want);
  KG_ASSERT_OK_AND_ASSIGN(auto listed, AllTokens("svc"));
  EXPECT_TRUE(listed.empty());
}

TEST_F(TokenTest, ValidScopesAccepted) {
  for (const std::string& scope :
       {"read:tokens", "write:tokens", "delete:tokens", "read:service_accounts",
        "write:service_accounts", "delete:service_accounts", "read:*",
        "write:*"}) {
    auto t = CreateToken("svc", "scope " + scope, {scope});
    ASSERT_TRUE(t.ok()) << scope << ": " << t.status();
    EXPECT_EQ(t->metadata.scopes, std::vector<std::string>({scope}));
  }
}

TEST_F(TokenTest, EmptyScopesRejected) {
  auto t = CreateToken("svc", "no scopes", {});
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasFieldError(t.status(), "scopes"))
      << test::DescribeFieldErrors(t.status());
}

TEST_F(TokenTest, WriteImpliesRead) {
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken t,
                          CreateToken("svc", "writer", {"write:tokens"}));
  KG_EXPECT_OK(store_->Verify(t.value.view(), "read:tokens"));
  KG_EXPECT_OK(store_->Verify(t.value.view(), "write:tokens"));
  ExpectVerifyFailure(t.value.view(), VerifyFailure::kInsufficientScope,
                      "delete:tokens", "delete:tokens");
  ExpectVerifyFailure(t.value.view(), VerifyFailure::kInsufficientScope,
                      "read:service_accounts", "read:service_accounts");

  KG_ASSERT_OK_AND_ASSIGN(CreatedToken r,
                          CreateToken("svc", "reader", {"read:tokens"}));
  KG_EXPECT_OK(store_->Verify(r.value.view(), "read:tokens"));
  ExpectVerifyFailure(r.value.view(), VerifyFailure::kInsufficientScope,
                      "reader write:tokens", "write:tokens");
}

TEST_F(TokenTest, InsufficientScopeStatusNamesTheScope) {
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken r,
                          CreateToken("svc", "reader", {"read:tokens"}));
  auto v = store_->Verify(r.value.view(), "delete:service_accounts");
  ASSERT_EQ(v.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(v.status().message().find("delete:service_accounts"),
            absl::string_view::npos)
      << v.status();
}

TEST_F(TokenTest, WildcardScopes) {
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken r,
                          CreateToken("svc", "read-all", {"read:*"}));
  KG_EXPECT_OK(store_->Verify(r.value.view(), "read:tokens"));
  KG_EXPECT_OK(store_->Verify(r.value.view(), "read:service_accounts"));
  ExpectVerifyFailure(r.value.view(), VerifyFailure::kInsufficientScope,
                      "read:* write", "write:tokens");

  KG_ASSERT_OK_AND_ASSIGN(CreatedToken w,
                          CreateToken("svc", "write-all", {"write:*"}));
  KG_EXPECT_OK(store_->Verify(w.value.view(), "write:service_accounts"));
  KG_EXPECT_OK(store_->Verify(w.value.view(), "read:tokens"));
  ExpectVerifyFailure(w.value.view(), VerifyFailure::kInsufficientScope,
                      "write:* delete", "delete:tokens");
}

TEST_F(TokenTest, ConfiguredModulesDecideTheVocabulary) {
  Options options = DefaultOptions();
  options.scope_modules = {"billing", "tokens"};
  KG_ASSERT_OK(Reopen(options));
  auto bad = CreateToken("svc", "sa", {"read:service_accounts"});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasFieldError(bad.status(), "scopes[0]"))
      << test::DescribeFieldErrors(bad.status());

  KG_ASSERT_OK_AND_ASSIGN(CreatedToken t,
                          CreateToken("svc", "bill", {"read:*"}));
  KG_EXPECT_OK(store_->Verify(t.value.view(), "read:billing"));
  KG_EXPECT_OK(store_->Verify(t.value.view(), "read:tokens"));
  ExpectVerifyFailure(t.value.view(), VerifyFailure::kInsufficientScope,
                      "write:billing", "write:billing");
}

TEST_F(TokenTest, MalformedRequiredScopeIsInvalidArgument) {
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken t, CreateToken("svc", "t", {"write:*"}));
  const std::vector<std::string> scopes = {"read",
                                           "read:",
                                           ":tokens",
                                           "foo:tokens",
                                           "READ:tokens",
                                           "read:tokens\n",
                                           std::string("read:tok\0ens", 12),
                                           "\xff",
                                           std::string(1 << 20, 'r')};
  for (size_t i = 0; i < scopes.size(); ++i) {
    auto v = store_->Verify(t.value.view(), scopes[i]);
    EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument)
        << "scope #" << i << ": " << v.status();
    EXPECT_TRUE(HasFieldError(v.status(), "scope"))
        << "scope #" << i << ": " << test::DescribeFieldErrors(v.status());
  }
}

TEST_F(TokenTest, ExpiryMustBeInTheFuture) {
  for (absl::Time when : {clock_.Now() - absl::Seconds(1), clock_.Now(),
                          absl::UnixEpoch(), absl::InfinitePast()}) {
    auto t = CreateToken("svc", "exp", {"read:tokens"}, std::nullopt, when);
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument)
        << absl::FormatTime(when) << ": " << t.status();
    EXPECT_TRUE(HasFieldError(t.status(), "expiresAt"))
        << test::DescribeFieldErrors(t.status());
  }
  KG_ASSERT_OK_AND_ASSIGN(auto listed, AllTokens("svc"));
  EXPECT_TRUE(listed.empty());
  KG_EXPECT_OK(CreateToken("svc", "far", {"read:tokens"}, std::nullopt,
                           clock_.Now() + absl::Hours(24 * 365 * 10)));
}

TEST_F(TokenTest, ExpiredTokenFailsVerify) {
  const absl::Time expiry = clock_.Now() + absl::Hours(1);
  KG_ASSERT_OK_AND_ASSIGN(
      CreatedToken t,
      CreateToken("svc", "exp", {"read:tokens"}, std::nullopt, expiry));
  clock_.Advance(absl::Hours(1) - absl::Seconds(1));
  KG_EXPECT_OK(store_->Verify(t.value.view()));
  // TokenMetadata::active: a token is active while expires_at > now.
  clock_.Advance(absl::Seconds(1));
  ExpectVerifyFailure(t.value.view(), VerifyFailure::kExpired, "at expiry");
  clock_.Advance(absl::Hours(100));
  ExpectVerifyFailure(t.value.view(), VerifyFailure::kExpired, "long after");
  // Expired tokens are still listed (until purged), not marked revoked.
  KG_ASSERT_OK_AND_ASSIGN(auto listed, AllTokens("svc"));
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_FALSE(listed[0].revoked());
  EXPECT_FALSE(listed[0].active(clock_.Now()));
}

TEST_F(TokenTest, ListNewestFirstWithKeysetPagination) {
  std::set<std::string> created;
  for (int i = 0; i < 25; ++i) {
    KG_ASSERT_OK_AND_ASSIGN(CreatedToken t,
                            CreateToken("svc", "tok " + std::to_string(i)));
    created.insert(t.metadata.slug);
    clock_.Advance(absl::Seconds(1));
  }
  // Five more with the very same timestamp.
  for (int i = 0; i < 5; ++i) {
    KG_ASSERT_OK_AND_ASSIGN(CreatedToken t,
                            CreateToken("svc", "same " + std::to_string(i)));
    created.insert(t.metadata.slug);
  }
  ASSERT_EQ(created.size(), 30u);

  // Revoke three, at known times, by a known actor.
  const std::vector<std::string> revoked_names = {"tok 3", "tok 17", "same 2"};
  std::vector<std::string> revoked_slugs;
  std::vector<absl::Time> revoked_times;
  {
    KG_ASSERT_OK_AND_ASSIGN(auto all, AllTokens("svc"));
    for (const std::string& name : revoked_names) {
      auto it = std::find_if(all.begin(), all.end(),
                             [&](const auto& m) { return m.name == name; });
      ASSERT_NE(it, all.end()) << name;
      clock_.Advance(absl::Seconds(3));
      KG_ASSERT_OK(store_->RevokeToken(kOrg, "svc", it->slug, "user:revoker"));
      revoked_slugs.push_back(it->slug);
      revoked_times.push_back(clock_.Now());
    }
  }

  PageRequest page;
  page.limit = 7;
  std::vector<TokenMetadata> seen;
  int pages = 0;
  for (; pages < 100; ++pages) {
    KG_ASSERT_OK_AND_ASSIGN(Page<TokenMetadata> p,
                            store_->ListTokens(kOrg, "svc", page));
    EXPECT_LE(p.items.size(), 7u);
    if (!p.next_cursor.empty()) EXPECT_EQ(p.items.size(), 7u);
    for (auto& m : p.items) seen.push_back(std::move(m));
    if (p.next_cursor.empty()) break;
    page.cursor = p.next_cursor;
  }
  EXPECT_EQ(pages + 1, 5);  // 7+7+7+7+2
  ASSERT_EQ(seen.size(), 30u);
  std::set<std::string> seen_slugs;
  for (const TokenMetadata& m : seen) {
    EXPECT_TRUE(seen_slugs.insert(m.slug).second) << "duplicate " << m.slug;
    EXPECT_EQ(m.service_account, "svc");
    EXPECT_EQ(m.organization, kOrg);
  }
  EXPECT_EQ(seen_slugs, created);
  for (size_t i = 1; i < seen.size(); ++i) {
    EXPECT_GE(seen[i - 1].created_at, seen[i].created_at)
        << "not newest first at " << i;
  }
  // The five same-timestamp tokens come first.
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_TRUE(seen[i].name.starts_with("same ")) << seen[i].name;
  }
  EXPECT_EQ(seen[5].name, "tok 24");
  EXPECT_EQ(seen.back().name, "tok 0");

  for (size_t r = 0; r < revoked_slugs.size(); ++r) {
    auto it = std::find_if(seen.begin(), seen.end(), [&](const auto& m) {
      return m.slug == revoked_slugs[r];
    });
    ASSERT_NE(it, seen.end());
    EXPECT_TRUE(it->revoked());
    EXPECT_EQ(it->revoked_at, revoked_times[r]);
    EXPECT_EQ(it->revoked_by, "user:revoker");
  }
  size_t revoked_count = std::count_if(
      seen.begin(), seen.end(), [](const auto& m) { return m.revoked(); });
  EXPECT_EQ(revoked_count, 3u);
}

TEST_F(TokenTest, ListRejectsGarbageCursorAndBadLimit) {
  KG_ASSERT_OK(CreateToken("svc", "t"));
  PageRequest page;
  page.cursor = "not-a-cursor";
  auto p = store_->ListTokens(kOrg, "svc", page);
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasFieldError(p.status(), "cursor"));
  for (size_t limit : {size_t{0}, PageRequest::kMaxLimit + 1}) {
    PageRequest bad;
    bad.limit = limit;
    auto q = store_->ListTokens(kOrg, "svc", bad);
    EXPECT_EQ(q.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(HasFieldError(q.status(), "limit"));
  }
}

TEST_F(TokenTest, RevokeThenVerifyFailsAndNotFoundIsIndistinguishable) {
  // The same (account, token slug) is asked for in all three NotFound cases,
  // so even a message that echoes the slugs must match exactly.
  constexpr std::string_view kOtherOrg = "org-other";
  KG_ASSERT_OK(CreateAccount("svc", kOtherOrg));

  // 1. Unknown: no token "tok" anywhere yet.
  absl::Status unknown = store_->RevokeToken(kOrg, "svc", "tok", kActor);
  EXPECT_EQ(unknown.code(), absl::StatusCode::kNotFound) << unknown;

  // 2. Another organization's token.
  KG_ASSERT_OK_AND_ASSIGN(
      CreatedToken theirs,
      CreateToken("svc", "theirs", {"read:tokens"}, std::string("tok"),
                  std::nullopt, kOtherOrg));
  absl::Status other_org = store_->RevokeToken(kOrg, "svc", "tok", kActor);
  EXPECT_EQ(other_org.code(), absl::StatusCode::kNotFound) << other_org;
  KG_EXPECT_OK(store_->Verify(theirs.value.view()));  // untouched

  // 3. Already revoked.
  KG_ASSERT_OK_AND_ASSIGN(
      CreatedToken mine,
      CreateToken("svc", "mine", {"read:tokens"}, std::string("tok")));
  KG_ASSERT_OK(store_->RevokeToken(kOrg, "svc", "tok", kActor));
  ExpectVerifyFailure(mine.value.view(), VerifyFailure::kRevoked, "revoked");
  absl::Status again = store_->RevokeToken(kOrg, "svc", "tok", kActor);
  EXPECT_EQ(again.code(), absl::StatusCode::kNotFound) << again;

  EXPECT_EQ(unknown, other_org);
  EXPECT_EQ(unknown, again);
  EXPECT_EQ(unknown.message(), other_org.message());
  EXPECT_EQ(unknown.message(), again.message());

  // The other organization's token is still alive.
  KG_EXPECT_OK(store_->Verify(theirs.value.view()));
}

TEST_F(TokenTest, RevokeUnknownAccountIsNotFound) {
  EXPECT_EQ(store_->RevokeToken(kOrg, "no-account", "tok", kActor).code(),
            absl::StatusCode::kNotFound);
}

TEST_F(TokenTest, PrincipalOutlivesRevocation) {
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken t, CreateToken("svc", "p"));
  KG_ASSERT_OK_AND_ASSIGN(Principal p, store_->Verify(t.value.view()));
  KG_ASSERT_OK(store_->RevokeToken(kOrg, "svc", t.metadata.slug, kActor));
  ASSERT_TRUE(p.valid());
  EXPECT_EQ(p.token_slug(), t.metadata.slug);
  EXPECT_EQ(p.service_account(), "svc");
  ExpectVerifyFailure(t.value.view(), VerifyFailure::kRevoked, "revoked");
}

TEST_F(TokenTest, MalformedTokensRejected) {
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken t, CreateToken("svc", "good"));
  const std::string good(t.value.view());
  ASSERT_EQ(good.size(), kDefaultTokenSize);

  std::vector<std::pair<std::string, std::string>> cases = {
      {"empty", ""},
      {"prefix only", "kg_"},
      {"truncated", good.substr(0, good.size() - 1)},
      {"extra char", good + "A"},
      {"trailing newline", good + "\n"},
      {"leading space", " " + good},
      {"bearer", "Bearer " + good},
      {"1 MiB", std::string(1 << 20, 'a')},
      {"1 MiB with prefix", "kg_" + std::string((1 << 20) - 3, 'a')},
      {"NUL appended", good + std::string(1, '\0')},
      {"NUL inside",
       good.substr(0, 10) + std::string(1, '\0') + good.substr(11)},
      {"all NUL", std::string(good.size(), '\0')},
      {"invalid UTF-8 ff", good.substr(0, 20) + "\xff" + good.substr(21)},
      {"invalid UTF-8 c328", good.substr(0, 20) + "\xc3\x28" + good.substr(22)},
      {"overlong", good.substr(0, 20) + "\xc0\xaf" + good.substr(22)},
      {"wrong prefix", "gh_" + good.substr(3)},
      {"uppercase prefix", "KG_" + good.substr(3)},
  };
  // Every single-character substitution (each position, to another char of
  // the alphabet) is caught by the prefix check or the checksum.
  for (size_t i = 0; i < good.size(); ++i) {
    std::string changed = good;
    changed[i] = (good[i] == 'A') ? 'B' : 'A';
    cases.emplace_back("char " + std::to_string(i) + " changed", changed);
    std::string swapped = good;
    if (i + 1 < good.size() && good[i] != good[i + 1]) {
      std::swap(swapped[i], swapped[i + 1]);
      cases.emplace_back("chars " + std::to_string(i) + "," +
                             std::to_string(i + 1) + " swapped",
                         swapped);
    }
  }
  for (const auto& [label, token] : cases) {
    ExpectVerifyFailure(token, VerifyFailure::kMalformed, label);
    // With a required scope the answer is the same.
    ExpectVerifyFailure(token, VerifyFailure::kMalformed, label + " +scope",
                        "read:tokens");
  }
  KG_EXPECT_OK(store_->Verify(good));
}

TEST_F(TokenTest, WellFormedButUnknownToken) {
  // A token from another store: same prefix and pepper id, different pepper.
  test::ScopedTempDir other_dir;
  Options other = DefaultOptions();
  other.path = other_dir.Sub("store");
  other.postgres_connection.clear();  // another store: RocksDB
  other.keyring = test::ParseKeyringOrDie({{1, test::kOtherPepperHex1}});
  KG_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> other_store,
                          Store::Open(other));
  ServiceAccountSpec spec;
  spec.name = "svc";
  spec.slug = "svc";
  KG_ASSERT_OK(other_store->CreateServiceAccount(kOrg, spec, kActor));
  TokenSpec tspec;
  tspec.name = "foreign";
  tspec.scopes = {"read:tokens"};
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken foreign,
                          other_store->CreateToken(kOrg, "svc", tspec, kActor));
  // Same pepper as ours, but never created here.
  test::ScopedTempDir twin_dir;
  Options twin = DefaultOptions();
  twin.path = twin_dir.Sub("store");
  twin.postgres_connection.clear();  // another store: RocksDB
  KG_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> twin_store, Store::Open(twin));
  KG_ASSERT_OK(twin_store->CreateServiceAccount(kOrg, spec, kActor));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken stranger,
                          twin_store->CreateToken(kOrg, "svc", tspec, kActor));
  KG_EXPECT_OK(other_store->Verify(foreign.value.view()));
  KG_EXPECT_OK(twin_store->Verify(stranger.value.view()));
  KG_EXPECT_OK(other_store->Close());
  KG_EXPECT_OK(twin_store->Close());

  ExpectVerifyFailure(foreign.value.view(), VerifyFailure::kUnknown,
                      "other pepper");
  ExpectVerifyFailure(stranger.value.view(), VerifyFailure::kUnknown,
                      "other store");
}

TEST_F(TokenTest, TokenWithAnotherPrefixIsMalformed) {
  test::ScopedTempDir other_dir;
  Options other = DefaultOptions();
  other.path = other_dir.Sub("store");
  other.postgres_connection.clear();  // another store: RocksDB
  other.token_prefix = "zz9_";
  KG_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> other_store,
                          Store::Open(other));
  ServiceAccountSpec spec;
  spec.name = "svc";
  spec.slug = "svc";
  KG_ASSERT_OK(other_store->CreateServiceAccount(kOrg, spec, kActor));
  TokenSpec tspec;
  tspec.name = "zz";
  tspec.scopes = {"read:tokens"};
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken zz,
                          other_store->CreateToken(kOrg, "svc", tspec, kActor));
  EXPECT_TRUE(zz.value.view().starts_with("zz9_"));
  KG_EXPECT_OK(other_store->Verify(zz.value.view()));
  KG_EXPECT_OK(other_store->Close());
  ExpectVerifyFailure(zz.value.view(), VerifyFailure::kMalformed,
                      "foreign prefix");
}

// token_prefix tells a host the prefix of the store's tokens, before and
// after Close.
TEST_F(TokenTest, TokenPrefixIsTheOptionsPrefix) {
  EXPECT_EQ(store_->token_prefix(), "kg_");
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken t, CreateToken("svc", "p"));
  EXPECT_TRUE(t.value.view().starts_with(store_->token_prefix()));

  test::ScopedTempDir other_dir;
  Options other = DefaultOptions();
  other.path = other_dir.Sub("store");
  other.postgres_connection.clear();  // another store: RocksDB
  other.token_prefix = "zz9_";
  KG_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> other_store,
                          Store::Open(other));
  EXPECT_EQ(other_store->token_prefix(), "zz9_");
  KG_EXPECT_OK(other_store->Close());
  EXPECT_EQ(other_store->token_prefix(), "zz9_");
}

// Every verification failure but scope looks the same to a client.
TEST_F(TokenTest, AllVerifyFailuresShareOneAnswer) {
  KG_ASSERT_OK(CreateAccount("dis"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken revoked, CreateToken("svc", "r"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken expiring,
                          CreateToken("svc", "e", {"read:tokens"}, std::nullopt,
                                      clock_.Now() + absl::Seconds(5)));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken disabled, CreateToken("dis", "d"));
  KG_ASSERT_OK(store_->RevokeToken(kOrg, "svc", revoked.metadata.slug, kActor));
  KG_ASSERT_OK(store_->SetServiceAccountDisabled(kOrg, "dis", true, kActor));
  clock_.Advance(absl::Seconds(10));

  std::vector<std::pair<VerifyFailure, absl::Status>> results;
  auto add = [&](std::string_view token, VerifyFailure want) {
    auto v = store_->Verify(token);
    ASSERT_FALSE(v.ok());
    EXPECT_EQ(VerifyFailureOf(v.status()), want)
        << VerifyFailureName(want) << " got "
        << VerifyFailureName(VerifyFailureOf(v.status()));
    results.emplace_back(want, v.status());
  };
  add("kg_garbage", VerifyFailure::kMalformed);
  add(revoked.value.view(), VerifyFailure::kRevoked);
  add(expiring.value.view(), VerifyFailure::kExpired);
  add(disabled.value.view(), VerifyFailure::kAccountDisabled);
  ASSERT_EQ(results.size(), 4u);
  for (const auto& [reason, status] : results) {
    EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated)
        << VerifyFailureName(reason);
    EXPECT_EQ(status.message(), results[0].second.message())
        << VerifyFailureName(reason) << " differs: " << status;
  }
  EXPECT_EQ(VerifyFailureName(VerifyFailure::kRevoked), "revoked");
}

TEST_F(TokenTest, QuotaPerOrganization) {
  constexpr std::string_view kOtherOrg = "org-quota-other";
  Options options = DefaultOptions();
  options.max_active_tokens_per_organization = 3;
  KG_ASSERT_OK(Reopen(options));
  KG_ASSERT_OK(CreateAccount("svc2"));
  KG_ASSERT_OK(CreateAccount("svc", kOtherOrg));

  KG_ASSERT_OK_AND_ASSIGN(CreatedToken t1, CreateToken("svc", "t1"));
  KG_ASSERT_OK(CreateToken("svc", "t2"));
  KG_ASSERT_OK(CreateToken("svc2", "t3"));  // same org, other account
  auto fourth = CreateToken("svc2", "t4");
  EXPECT_EQ(fourth.status().code(), absl::StatusCode::kResourceExhausted)
      << fourth.status();
  {
    KG_ASSERT_OK_AND_ASSIGN(auto listed, AllTokens("svc2"));
    EXPECT_EQ(listed.size(), 1u) << "a refused create must write nothing";
  }

  // Another organization has its own quota.
  for (int i = 0; i < 3; ++i) {
    KG_EXPECT_OK(CreateToken("svc", "o" + std::to_string(i), {"read:tokens"},
                             std::nullopt, std::nullopt, kOtherOrg));
  }
  EXPECT_EQ(CreateToken("svc", "o3", {"read:tokens"}, std::nullopt,
                        std::nullopt, kOtherOrg)
                .status()
                .code(),
            absl::StatusCode::kResourceExhausted);

  // Revoking frees a slot.
  KG_ASSERT_OK(store_->RevokeToken(kOrg, "svc", t1.metadata.slug, kActor));
  KG_ASSERT_OK(CreateToken("svc2", "t4", {"read:tokens"}, std::nullopt,
                           clock_.Now() + absl::Minutes(1)));
  EXPECT_EQ(CreateToken("svc2", "t5").status().code(),
            absl::StatusCode::kResourceExhausted);
  // Expiry frees a slot too: only active tokens count.
  clock_.Advance(absl::Minutes(2));
  KG_EXPECT_OK(CreateToken("svc2", "t5"));
  EXPECT_EQ(CreateToken("svc2", "t6").status().code(),
            absl::StatusCode::kResourceExhausted);
}

TEST_F(TokenTest, PurgeRetiredHonoursRetention) {
  Options options = DefaultOptions();
  options.retention = absl::Hours(1);
  KG_ASSERT_OK(Reopen(options));
  const absl::Time t0 = clock_.Now();

  KG_ASSERT_OK_AND_ASSIGN(CreatedToken active, CreateToken("svc", "active"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken b, CreateToken("svc", "b-revoked"));
  KG_ASSERT_OK(CreateToken("svc", "c-expiring", {"read:tokens"}, std::nullopt,
                           t0 + absl::Minutes(10)));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken d, CreateToken("svc", "d-revoked"));
  KG_ASSERT_OK(CreateToken("svc", "e-expiring", {"read:tokens"}, std::nullopt,
                           t0 + absl::Minutes(50)));
  KG_ASSERT_OK(store_->RevokeToken(kOrg, "svc", b.metadata.slug, kActor));
  clock_.Advance(absl::Minutes(30));
  KG_ASSERT_OK(store_->RevokeToken(kOrg, "svc", d.metadata.slug, kActor));

  // Nothing is old enough yet.
  {
    KG_ASSERT_OK_AND_ASSIGN(PurgeResult r, store_->PurgeRetired());
    EXPECT_EQ(r.tokens_purged, 0u);
  }

  // t0+75m: b (revoked 75m ago) and c (expired 65m ago) go; d (revoked 45m
  // ago) and e (expired 25m ago) stay; the active one always stays.
  clock_.Set(t0 + absl::Minutes(75));
  {
    KG_ASSERT_OK_AND_ASSIGN(PurgeResult r, store_->PurgeRetired());
    EXPECT_EQ(r.tokens_purged, 2u);
    KG_ASSERT_OK_AND_ASSIGN(auto listed, AllTokens("svc"));
    std::set<std::string> names;
    for (const auto& m : listed) names.insert(m.name);
    EXPECT_EQ(names,
              std::set<std::string>({"active", "d-revoked", "e-expiring"}));
  }
  // A purged revoked token still does not verify (its record is gone, so
  // the reason is "unknown"; a kept tombstone would say "revoked").
  {
    auto v = store_->Verify(b.value.view());
    EXPECT_EQ(v.status().code(), absl::StatusCode::kUnauthenticated);
    EXPECT_TRUE(VerifyFailureOf(v.status()) == VerifyFailure::kUnknown ||
                VerifyFailureOf(v.status()) == VerifyFailure::kRevoked)
        << VerifyFailureName(VerifyFailureOf(v.status()));
  }
  ExpectVerifyFailure(d.value.view(), VerifyFailure::kRevoked, "kept");

  // Much later: everything retired goes, the active token never does.
  clock_.Set(t0 + absl::Hours(24 * 365));
  {
    KG_ASSERT_OK_AND_ASSIGN(PurgeResult r, store_->PurgeRetired());
    EXPECT_EQ(r.tokens_purged, 2u);
    KG_ASSERT_OK_AND_ASSIGN(auto listed, AllTokens("svc"));
    ASSERT_EQ(listed.size(), 1u);
    EXPECT_EQ(listed[0].name, "active");
  }
  {
    KG_ASSERT_OK_AND_ASSIGN(PurgeResult r, store_->PurgeRetired());
    EXPECT_EQ(r.tokens_purged, 0u);
  }
  KG_EXPECT_OK(store_->Verify(active.value.view()));

  // The purge is persistent.
  KG_ASSERT_OK(Reopen(options));
  KG_ASSERT_OK_AND_ASSIGN(auto listed, AllTokens("svc"));
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].name, "active");
  KG_EXPECT_OK(store_->Verify(active.value.view()));
  EXPECT_FALSE(store_->Verify(d.value.view()).ok());
  KG_ASSERT_OK_AND_ASSIGN(PurgeResult r, store_->PurgeRetired());
  EXPECT_EQ(r.tokens_purged, 0u);
}

// What CreateToken returns is what is stored: with a clock that has
// sub-microsecond precision (absl::Now() does), the returned created_at and
// expires_at must equal the listed ones and survive a reopen unchanged.
TEST_F(TokenTest, TimestampsRoundTripExactly) {
  clock_.Set(test::ManualClock::DefaultStart() + absl::Nanoseconds(123456789));
  const absl::Time expiry =
      clock_.Now() + absl::Hours(1) + absl::Nanoseconds(987);
  KG_ASSERT_OK_AND_ASSIGN(
      CreatedToken t,
      CreateToken("svc", "precise", {"read:tokens"}, std::nullopt, expiry));
  KG_ASSERT_OK_AND_ASSIGN(auto listed, AllTokens("svc"));
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].created_at, t.metadata.created_at)
      << absl::FormatTime(listed[0].created_at) << " vs "
      << absl::FormatTime(t.metadata.created_at);
  EXPECT_EQ(listed[0].expires_at, t.metadata.expires_at);
  KG_ASSERT_OK_AND_ASSIGN(Principal before, store_->Verify(t.value.view()));
  KG_ASSERT_OK(Reopen());
  KG_ASSERT_OK_AND_ASSIGN(Principal after, store_->Verify(t.value.view()));
  EXPECT_EQ(before.expires_at(), after.expires_at());
}

// errors.h: FailedPrecondition when "the resource's state refuses the call
// (CreateToken on a disabled service account)". Nothing is written, and once
// the account is enabled the same create succeeds.
TEST_F(TokenTest, CreateTokenOnDisabledAccountIsFailedPrecondition) {
  KG_ASSERT_OK(store_->SetServiceAccountDisabled(kOrg, "svc", true, kActor));
  auto t = CreateToken("svc", "while disabled", {"read:tokens"},
                       std::string("while-disabled"));
  EXPECT_EQ(t.status().code(), absl::StatusCode::kFailedPrecondition)
      << t.status();
  KG_ASSERT_OK_AND_ASSIGN(auto listed, AllTokens("svc"));
  EXPECT_TRUE(listed.empty());
  KG_ASSERT_OK(store_->SetServiceAccountDisabled(kOrg, "svc", false, kActor));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken created,
                          CreateToken("svc", "while disabled", {"read:tokens"},
                                      std::string("while-disabled")));
  KG_EXPECT_OK(store_->Verify(created.value.view()));
}

// Boundaries the docs state, pinned with the manual clock (times are at
// stored, microsecond precision; the clock starts on a whole second).

// Store::Verify: a token is expired from its expiry instant on.
TEST_F(TokenTest, VerifyExpiryBoundaryIsTheExpiryInstant) {
  const absl::Time expiry = clock_.Now() + absl::Minutes(5);
  KG_ASSERT_OK_AND_ASSIGN(
      CreatedToken t,
      CreateToken("svc", "edge", {"read:tokens"}, std::nullopt, expiry));
  clock_.Set(expiry - absl::Microseconds(1));
  KG_EXPECT_OK(store_->Verify(t.value.view()));
  KG_EXPECT_OK(store_->Verify(t.value.view(), "read:tokens"));
  clock_.Set(expiry);
  ExpectVerifyFailure(t.value.view(), VerifyFailure::kExpired,
                      "exactly at expiry");
  ExpectVerifyFailure(t.value.view(), VerifyFailure::kExpired,
                      "exactly at expiry, with a scope", "read:tokens");
}

// The quota counts active tokens: one expiring exactly now no longer counts.
TEST_F(TokenTest, QuotaStopsCountingATokenAtItsExpiryInstant) {
  Options options = DefaultOptions();
  options.max_active_tokens_per_organization = 1;
  KG_ASSERT_OK(Reopen(options));
  const absl::Time expiry = clock_.Now() + absl::Minutes(5);
  KG_ASSERT_OK(
      CreateToken("svc", "first", {"read:tokens"}, std::nullopt, expiry));
  clock_.Set(expiry - absl::Microseconds(1));
  EXPECT_EQ(CreateToken("svc", "second").status().code(),
            absl::StatusCode::kResourceExhausted)
      << "a token one microsecond before its expiry is still active";
  clock_.Set(expiry);
  KG_EXPECT_OK(CreateToken("svc", "second"));
}

// Names are unique among active tokens: the name of a token expiring exactly
// now is free again.
TEST_F(TokenTest, NameIsFreeAgainAtTheExpiryInstant) {
  const absl::Time expiry = clock_.Now() + absl::Minutes(5);
  KG_ASSERT_OK(CreateToken("svc", "deploy", {"read:tokens"},
                           std::string("deploy-1"), expiry));
  clock_.Set(expiry - absl::Microseconds(1));
  EXPECT_EQ(CreateToken("svc", "deploy", {"read:tokens"},
                        std::string("deploy-2"))
                .status()
                .code(),
            absl::StatusCode::kAlreadyExists);
  clock_.Set(expiry);
  KG_EXPECT_OK(CreateToken("svc", "deploy", {"read:tokens"},
                           std::string("deploy-2")));
  KG_ASSERT_OK_AND_ASSIGN(auto listed, AllTokens("svc"));
  ASSERT_EQ(listed.size(), 2u);
  size_t active = 0;
  for (const TokenMetadata& m : listed) active += m.active(clock_.Now()) ? 1 : 0;
  EXPECT_EQ(active, 1u);
}

// Store::PurgeRetired: "longer ago than Options::retention" is strict. A
// token revoked (or expired) exactly `retention` ago stays; a microsecond
// later it goes.
TEST_F(TokenTest, PurgeRetiredBoundaryIsStrict) {
  Options options = DefaultOptions();
  options.retention = absl::Hours(1);
  KG_ASSERT_OK(Reopen(options));
  const absl::Time t0 = clock_.Now();
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken revoked, CreateToken("svc", "revoked"));
  KG_ASSERT_OK(store_->RevokeToken(kOrg, "svc", revoked.metadata.slug, kActor));
  const absl::Time expiry = t0 + absl::Minutes(10);
  KG_ASSERT_OK(
      CreateToken("svc", "expiring", {"read:tokens"}, std::nullopt, expiry));
  auto names = [&]() {
    std::set<std::string> out;
    absl::StatusOr<std::vector<TokenMetadata>> listed = AllTokens("svc");
    EXPECT_TRUE(listed.ok()) << listed.status();
    if (listed.ok()) {
      for (const TokenMetadata& m : *listed) out.insert(m.name);
    }
    return out;
  };

  clock_.Set(t0 + options.retention);  // revoked exactly `retention` ago
  {
    KG_ASSERT_OK_AND_ASSIGN(PurgeResult r, store_->PurgeRetired());
    EXPECT_EQ(r.tokens_purged, 0u);
    EXPECT_EQ(names(), std::set<std::string>({"revoked", "expiring"}));
  }
  clock_.Set(t0 + options.retention + absl::Microseconds(1));
  {
    KG_ASSERT_OK_AND_ASSIGN(PurgeResult r, store_->PurgeRetired());
    EXPECT_EQ(r.tokens_purged, 1u);
    EXPECT_EQ(names(), std::set<std::string>({"expiring"}));
  }
  clock_.Set(expiry + options.retention);  // expired exactly `retention` ago
  {
    KG_ASSERT_OK_AND_ASSIGN(PurgeResult r, store_->PurgeRetired());
    EXPECT_EQ(r.tokens_purged, 0u);
    EXPECT_EQ(names(), std::set<std::string>({"expiring"}));
  }
  clock_.Set(expiry + options.retention + absl::Microseconds(1));
  {
    KG_ASSERT_OK_AND_ASSIGN(PurgeResult r, store_->PurgeRetired());
    EXPECT_EQ(r.tokens_purged, 1u);
    EXPECT_TRUE(names().empty());
  }
}

// A zero retention purges every retired token at once, but never one that
// retires exactly now (an expiry equal to now is "expired 0 ago").
TEST_F(TokenTest, PurgeWithZeroRetentionKeepsTokensRetiringThisInstant) {
  Options options = DefaultOptions();
  options.retention = absl::ZeroDuration();
  KG_ASSERT_OK(Reopen(options));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken t, CreateToken("svc", "now"));
  KG_ASSERT_OK(store_->RevokeToken(kOrg, "svc", t.metadata.slug, kActor));
  {
    KG_ASSERT_OK_AND_ASSIGN(PurgeResult r, store_->PurgeRetired());
    EXPECT_EQ(r.tokens_purged, 0u);
  }
  clock_.Advance(absl::Microseconds(1));
  KG_ASSERT_OK_AND_ASSIGN(PurgeResult r, store_->PurgeRetired());
  EXPECT_EQ(r.tokens_purged, 1u);
}

}  // namespace
}  // namespace keygate

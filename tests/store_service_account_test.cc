// Tests of the service-account half of keygate::Store: create (given and
// derived slugs), slug and name rules, get, list with pagination, rename,
// disable/enable and delete, including their effect on Verify.
#include <algorithm>
#include <limits>
#include <set>
#include <string>
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

class ServiceAccountTest : public test::StoreTest {};

TEST_F(ServiceAccountTest, CreateWithGivenSlugReturnsStoredAccount) {
  ServiceAccountSpec spec;
  spec.name = "Deploy Bot";
  spec.slug = "deploy-bot";
  KG_ASSERT_OK_AND_ASSIGN(ServiceAccount account,
                          store_->CreateServiceAccount(kOrg, spec, kActor));
  EXPECT_EQ(account.organization, kOrg);
  EXPECT_EQ(account.slug, "deploy-bot");
  EXPECT_EQ(account.name, "Deploy Bot");
  EXPECT_FALSE(account.disabled);
  EXPECT_EQ(account.created_at, clock_.Now());
  EXPECT_EQ(account.created_by, kActor);

  clock_.Advance(absl::Minutes(5));
  KG_ASSERT_OK_AND_ASSIGN(ServiceAccount got,
                          store_->GetServiceAccount(kOrg, "deploy-bot"));
  EXPECT_EQ(got.organization, kOrg);
  EXPECT_EQ(got.slug, "deploy-bot");
  EXPECT_EQ(got.name, "Deploy Bot");
  EXPECT_FALSE(got.disabled);
  EXPECT_EQ(got.created_at, account.created_at);
  EXPECT_EQ(got.created_by, kActor);
}

// A new account has not been updated yet: updated_at/by equal created_at/by.
// (Not spelled out by the header; see the report's ambiguities.)
TEST_F(ServiceAccountTest, NewAccountUpdatedFieldsEqualCreated) {
  KG_ASSERT_OK_AND_ASSIGN(ServiceAccount account, CreateAccount("fresh"));
  EXPECT_EQ(account.updated_at, account.created_at);
  EXPECT_EQ(account.updated_by, account.created_by);
}

TEST_F(ServiceAccountTest, DerivedSlugIsSlugifiedNamePlusSuffix) {
  ServiceAccountSpec spec;
  spec.name = "My Deploy Bot";
  KG_ASSERT_OK_AND_ASSIGN(ServiceAccount a,
                          store_->CreateServiceAccount(kOrg, spec, kActor));
  KG_ASSERT_OK_AND_ASSIGN(ServiceAccount b,
                          store_->CreateServiceAccount(kOrg, spec, kActor));
  for (const ServiceAccount* acc : {&a, &b}) {
    EXPECT_TRUE(IsValidSlug(acc->slug)) << acc->slug;
    EXPECT_TRUE(acc->slug.starts_with("my-deploy-bot-")) << acc->slug;
    // A short suffix, not a second copy of the name.
    EXPECT_GT(acc->slug.size(), std::string("my-deploy-bot-").size());
    EXPECT_LE(acc->slug.size(), std::string("my-deploy-bot-").size() + 16)
        << acc->slug;
    EXPECT_EQ(acc->name, "My Deploy Bot");
  }
  EXPECT_NE(a.slug, b.slug) << "same name must still give distinct slugs";
  KG_EXPECT_OK(store_->GetServiceAccount(kOrg, a.slug));
  KG_EXPECT_OK(store_->GetServiceAccount(kOrg, b.slug));
}

TEST_F(ServiceAccountTest, DerivedSlugIsValidForAwkwardNames) {
  const std::vector<std::string> names = {
      "日本語のボット",              // no ASCII letters at all
      "!!!",                        // only punctuation
      "  --Leading and trailing--  ",
      "UPPER_case.with.dots",
      std::string(200, 'x'),        // longest name: slug must stay <= 100
      "a",
  };
  for (const std::string& name : names) {
    ServiceAccountSpec spec;
    spec.name = name;
    auto account = store_->CreateServiceAccount(kOrg, spec, kActor);
    ASSERT_TRUE(account.ok()) << name << ": " << account.status();
    EXPECT_TRUE(IsValidSlug(account->slug))
        << "name " << name << " -> slug " << account->slug;
    EXPECT_EQ(account->name, name);
  }
}

TEST_F(ServiceAccountTest, ValidSlugEdgeCasesAccepted) {
  const std::vector<std::string> slugs = {
      "ab", "a1", "0-9", "a--b", std::string(100, 'z'),
      "x" + std::string(98, '-') + "y"};
  for (const std::string& slug : slugs) {
    auto account = CreateAccount(slug);
    ASSERT_TRUE(account.ok()) << slug << ": " << account.status();
    EXPECT_EQ(account->slug, slug);
    KG_EXPECT_OK(store_->GetServiceAccount(kOrg, slug));
  }
}

TEST_F(ServiceAccountTest, InvalidSlugsRejectedNamingSlug) {
  const std::vector<std::string> slugs = {
      "",
      "a",                         // 1 char
      std::string(101, 'a'),       // 101 chars
      "Abc",                       // uppercase
      "ABC",
      "-ab",                       // leading '-'
      "ab-",                       // trailing '-'
      "-",
      "--",
      "a_b",                       // '_'
      "a b",
      "a.b",
      "\xc3\xa4-b",                // unicode (a-umlaut)
      "ab\n",
      std::string("a\0b", 3),
  };
  for (size_t i = 0; i < slugs.size(); ++i) {
    ServiceAccountSpec spec;
    spec.name = "Bad slug";
    spec.slug = slugs[i];
    auto account = store_->CreateServiceAccount(kOrg, spec, kActor);
    ASSERT_FALSE(account.ok()) << "slug #" << i << " accepted";
    EXPECT_EQ(account.status().code(), absl::StatusCode::kInvalidArgument)
        << "slug #" << i << ": " << account.status();
    EXPECT_TRUE(HasFieldError(account.status(), "slug"))
        << "slug #" << i << ": " << test::DescribeFieldErrors(account.status());
  }
  KG_ASSERT_OK_AND_ASSIGN(auto all, AllAccounts());
  EXPECT_TRUE(all.empty()) << "invalid creates must write nothing";
}

TEST_F(ServiceAccountTest, PathStyleSlugArgumentsNamedServiceAccountSlug) {
  KG_ASSERT_OK(CreateAccount("real"));
  for (const std::string& bad : {std::string("A"), std::string("-x-"),
                                 std::string(101, 'a'), std::string("a_b")}) {
    auto get = store_->GetServiceAccount(kOrg, bad);
    EXPECT_EQ(get.status().code(), absl::StatusCode::kInvalidArgument)
        << bad << ": " << get.status();
    EXPECT_TRUE(HasFieldError(get.status(), "serviceAccountSlug"))
        << bad << ": " << test::DescribeFieldErrors(get.status());

    auto rename = store_->RenameServiceAccount(kOrg, bad, "n", kActor);
    EXPECT_EQ(rename.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(HasFieldError(rename.status(), "serviceAccountSlug"));

    auto disable =
        store_->SetServiceAccountDisabled(kOrg, bad, true, kActor);
    EXPECT_EQ(disable.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(HasFieldError(disable.status(), "serviceAccountSlug"));

    absl::Status del = store_->DeleteServiceAccount(kOrg, bad, kActor);
    EXPECT_EQ(del.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(HasFieldError(del, "serviceAccountSlug"));
  }
}

TEST_F(ServiceAccountTest, NameRules) {
  for (const std::string& bad :
       {std::string(), std::string(201, 'n'), std::string("tab\there"),
        std::string("nul\0byte", 8), std::string("\xff\xfe")}) {
    ServiceAccountSpec spec;
    spec.name = bad;
    spec.slug = "name-rules";
    auto account = store_->CreateServiceAccount(kOrg, spec, kActor);
    EXPECT_EQ(account.status().code(), absl::StatusCode::kInvalidArgument)
        << account.status();
    EXPECT_TRUE(HasFieldError(account.status(), "name"))
        << test::DescribeFieldErrors(account.status());
  }
  // Boundaries that are valid: 1 byte, 200 bytes, non-ASCII UTF-8.
  ServiceAccountSpec spec;
  spec.name = std::string(200, 'n');
  spec.slug = "name-200";
  KG_EXPECT_OK(store_->CreateServiceAccount(kOrg, spec, kActor));
  spec.name = "n";
  spec.slug = "name-1";
  KG_EXPECT_OK(store_->CreateServiceAccount(kOrg, spec, kActor));
  spec.name = "Café bot 🤖";
  spec.slug = "name-utf8";
  KG_ASSERT_OK_AND_ASSIGN(ServiceAccount a,
                          store_->CreateServiceAccount(kOrg, spec, kActor));
  EXPECT_EQ(a.name, "Café bot 🤖");
}

TEST_F(ServiceAccountTest, DuplicateSlugIsAlreadyExistsNamingSlug) {
  KG_ASSERT_OK(CreateAccount("dup"));
  ServiceAccountSpec spec;
  spec.name = "Another name";
  spec.slug = "dup";
  auto second = store_->CreateServiceAccount(kOrg, spec, kActor);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kAlreadyExists)
      << second.status();
  EXPECT_TRUE(HasFieldError(second.status(), "slug"))
      << test::DescribeFieldErrors(second.status());
  // The first account is unchanged.
  KG_ASSERT_OK_AND_ASSIGN(ServiceAccount got,
                          store_->GetServiceAccount(kOrg, "dup"));
  EXPECT_EQ(got.name, "Account dup");
}

TEST_F(ServiceAccountTest, GetUnknownIsNotFound) {
  auto got = store_->GetServiceAccount(kOrg, "nope");
  EXPECT_EQ(got.status().code(), absl::StatusCode::kNotFound) << got.status();
}

TEST_F(ServiceAccountTest, ListOrderedBySlugAcrossPages) {
  // Insert in a scrambled order.
  std::vector<std::string> slugs;
  for (int i = 0; i < 23; ++i) {
    slugs.push_back("acct-" + std::to_string((i * 7) % 23 + 10));
  }
  for (const std::string& s : slugs) KG_ASSERT_OK(CreateAccount(s));
  std::vector<std::string> expected = slugs;
  std::sort(expected.begin(), expected.end());

  PageRequest page;
  page.limit = 5;
  std::vector<std::string> seen;
  int pages = 0;
  for (; pages < 100; ++pages) {
    KG_ASSERT_OK_AND_ASSIGN(Page<ServiceAccount> p,
                            store_->ListServiceAccounts(kOrg, page));
    EXPECT_LE(p.items.size(), 5u);
    for (const ServiceAccount& a : p.items) {
      EXPECT_EQ(a.organization, kOrg);
      seen.push_back(a.slug);
    }
    if (p.next_cursor.empty()) break;
    page.cursor = p.next_cursor;
  }
  EXPECT_EQ(seen, expected);  // sorted, no duplicates, nothing missing
  EXPECT_EQ(pages + 1, 5);    // 5+5+5+5+3

  // One page with everything.
  PageRequest all;
  all.limit = PageRequest::kMaxLimit;
  KG_ASSERT_OK_AND_ASSIGN(Page<ServiceAccount> p,
                          store_->ListServiceAccounts(kOrg, all));
  EXPECT_EQ(p.items.size(), expected.size());
  EXPECT_TRUE(p.next_cursor.empty());
}

TEST_F(ServiceAccountTest, ListEmptyOrganization) {
  KG_ASSERT_OK_AND_ASSIGN(Page<ServiceAccount> p,
                          store_->ListServiceAccounts(kOrg, PageRequest{}));
  EXPECT_TRUE(p.items.empty());
  EXPECT_TRUE(p.next_cursor.empty());
}

TEST_F(ServiceAccountTest, ListLimitOneWalksEverything) {
  for (const char* s : {"c1", "a1", "b1"}) KG_ASSERT_OK(CreateAccount(s));
  KG_ASSERT_OK_AND_ASSIGN(auto all, AllAccounts(kOrg, 1));
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].slug, "a1");
  EXPECT_EQ(all[1].slug, "b1");
  EXPECT_EQ(all[2].slug, "c1");
}

TEST_F(ServiceAccountTest, ListRejectsGarbageCursor) {
  KG_ASSERT_OK(CreateAccount("one"));
  for (const std::string& cursor :
       {std::string("garbage"), std::string("\xff\x00\x01", 3),
        std::string(1 << 20, 'c'), std::string("====")}) {
    PageRequest page;
    page.cursor = cursor;
    auto p = store_->ListServiceAccounts(kOrg, page);
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument)
        << p.status();
    EXPECT_TRUE(HasFieldError(p.status(), "cursor"))
        << test::DescribeFieldErrors(p.status());
  }
}

TEST_F(ServiceAccountTest, ListRejectsBadLimit) {
  for (size_t limit : {size_t{0}, PageRequest::kMaxLimit + 1,
                       std::numeric_limits<size_t>::max()}) {
    PageRequest page;
    page.limit = limit;
    auto p = store_->ListServiceAccounts(kOrg, page);
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument)
        << "limit " << limit << ": " << p.status();
    EXPECT_TRUE(HasFieldError(p.status(), "limit"))
        << test::DescribeFieldErrors(p.status());
  }
}

TEST_F(ServiceAccountTest, Rename) {
  KG_ASSERT_OK(CreateAccount("renamed"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken token,
                          CreateToken("renamed", "tok"));
  clock_.Advance(absl::Hours(1));
  KG_ASSERT_OK_AND_ASSIGN(
      ServiceAccount a,
      store_->RenameServiceAccount(kOrg, "renamed", "New Name", "user:bob"));
  EXPECT_EQ(a.slug, "renamed");
  EXPECT_EQ(a.name, "New Name");
  EXPECT_EQ(a.updated_at, clock_.Now());
  EXPECT_EQ(a.updated_by, "user:bob");
  EXPECT_EQ(a.created_by, kActor);
  EXPECT_LT(a.created_at, a.updated_at);

  KG_ASSERT_OK_AND_ASSIGN(ServiceAccount got,
                          store_->GetServiceAccount(kOrg, "renamed"));
  EXPECT_EQ(got.name, "New Name");
  EXPECT_EQ(got.updated_by, "user:bob");
  // Tokens are unaffected.
  KG_EXPECT_OK(store_->Verify(token.value.view()));

  auto bad = store_->RenameServiceAccount(kOrg, "renamed", "", kActor);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasFieldError(bad.status(), "name"));
  KG_ASSERT_OK_AND_ASSIGN(got, store_->GetServiceAccount(kOrg, "renamed"));
  EXPECT_EQ(got.name, "New Name");

  auto missing = store_->RenameServiceAccount(kOrg, "missing", "x", kActor);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ServiceAccountTest, DisableFailsAllTokensEnableRestores) {
  KG_ASSERT_OK(CreateAccount("svc"));
  KG_ASSERT_OK(CreateAccount("other"));
  std::vector<CreatedToken> tokens;
  for (int i = 0; i < 3; ++i) {
    KG_ASSERT_OK_AND_ASSIGN(CreatedToken t,
                            CreateToken("svc", "t" + std::to_string(i)));
    tokens.push_back(std::move(t));
  }
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken other, CreateToken("other", "t0"));

  clock_.Advance(absl::Seconds(10));
  KG_ASSERT_OK_AND_ASSIGN(
      ServiceAccount a,
      store_->SetServiceAccountDisabled(kOrg, "svc", true, "user:bob"));
  EXPECT_TRUE(a.disabled);
  EXPECT_EQ(a.updated_by, "user:bob");
  EXPECT_EQ(a.updated_at, clock_.Now());
  KG_ASSERT_OK_AND_ASSIGN(ServiceAccount got,
                          store_->GetServiceAccount(kOrg, "svc"));
  EXPECT_TRUE(got.disabled);

  for (size_t i = 0; i < tokens.size(); ++i) {
    auto v = store_->Verify(tokens[i].value.view());
    EXPECT_EQ(v.status().code(), absl::StatusCode::kUnauthenticated)
        << "token #" << i << ": " << v.status();
    EXPECT_EQ(VerifyFailureOf(v.status()), VerifyFailure::kAccountDisabled)
        << "token #" << i;
    // With a scope the answer is still "invalid token", not a scope error.
    auto vs = store_->Verify(tokens[i].value.view(), "read:tokens");
    EXPECT_EQ(VerifyFailureOf(vs.status()), VerifyFailure::kAccountDisabled);
  }
  // Another account of the same organization is unaffected.
  KG_EXPECT_OK(store_->Verify(other.value.view()));
  // Disabling does not revoke: the tokens are still listed as not revoked.
  KG_ASSERT_OK_AND_ASSIGN(auto listed, AllTokens("svc"));
  ASSERT_EQ(listed.size(), 3u);
  for (const TokenMetadata& m : listed) EXPECT_FALSE(m.revoked());

  KG_ASSERT_OK_AND_ASSIGN(
      a, store_->SetServiceAccountDisabled(kOrg, "svc", false, kActor));
  EXPECT_FALSE(a.disabled);
  for (size_t i = 0; i < tokens.size(); ++i) {
    auto v = store_->Verify(tokens[i].value.view());
    EXPECT_TRUE(v.ok()) << "token #" << i << ": " << v.status();
  }

  auto missing = store_->SetServiceAccountDisabled(kOrg, "missing", true,
                                                   kActor);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ServiceAccountTest, DeleteStopsTokensAndRemovesAccount) {
  KG_ASSERT_OK(CreateAccount("doomed"));
  KG_ASSERT_OK(CreateAccount("keeper"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken t1, CreateToken("doomed", "t1"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken t2,
                          CreateToken("doomed", "t2", {"write:*"}));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken keep, CreateToken("keeper", "t1"));
  KG_ASSERT_OK(store_->RevokeToken(kOrg, "doomed", t2.metadata.slug, kActor));

  KG_ASSERT_OK(store_->DeleteServiceAccount(kOrg, "doomed", kActor));

  for (const CreatedToken* t : {&t1, &t2}) {
    auto v = store_->Verify(t->value.view());
    EXPECT_EQ(v.status().code(), absl::StatusCode::kUnauthenticated);
    // Deleted tokens no longer exist at all.
    EXPECT_EQ(VerifyFailureOf(v.status()), VerifyFailure::kUnknown)
        << VerifyFailureName(VerifyFailureOf(v.status()));
  }
  KG_EXPECT_OK(store_->Verify(keep.value.view()));

  EXPECT_EQ(store_->GetServiceAccount(kOrg, "doomed").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(AllTokens("doomed").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->DeleteServiceAccount(kOrg, "doomed", kActor).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(CreateToken("doomed", "t3").status().code(),
            absl::StatusCode::kNotFound);
  KG_ASSERT_OK_AND_ASSIGN(auto all, AllAccounts());
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].slug, "keeper");

  // The slug can be reused; the old tokens stay dead and the new account
  // starts with no tokens.
  KG_ASSERT_OK(CreateAccount("doomed"));
  KG_ASSERT_OK_AND_ASSIGN(auto tokens, AllTokens("doomed"));
  EXPECT_TRUE(tokens.empty());
  EXPECT_FALSE(store_->Verify(t1.value.view()).ok());
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken again, CreateToken("doomed", "t1"));
  KG_EXPECT_OK(store_->Verify(again.value.view()));
  EXPECT_FALSE(store_->Verify(t1.value.view()).ok());
}

TEST_F(ServiceAccountTest, DeleteUnknownIsNotFound) {
  EXPECT_EQ(store_->DeleteServiceAccount(kOrg, "ghost", kActor).code(),
            absl::StatusCode::kNotFound);
}

// What CreateServiceAccount/Rename return is what Get returns, even with a
// clock of sub-microsecond precision (absl::Now() has one).
TEST_F(ServiceAccountTest, TimestampsRoundTripExactly) {
  clock_.Set(test::ManualClock::DefaultStart() + absl::Nanoseconds(123456789));
  KG_ASSERT_OK_AND_ASSIGN(ServiceAccount created, CreateAccount("precise"));
  KG_ASSERT_OK_AND_ASSIGN(ServiceAccount got,
                          store_->GetServiceAccount(kOrg, "precise"));
  EXPECT_EQ(got.created_at, created.created_at)
      << absl::FormatTime(got.created_at) << " vs "
      << absl::FormatTime(created.created_at);
  EXPECT_EQ(got.updated_at, created.updated_at);
}

}  // namespace
}  // namespace keygate

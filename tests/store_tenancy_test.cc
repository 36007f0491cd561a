// Tests of tenant isolation in keygate::Store: every management call is
// scoped by the caller's organization, and another organization's resources
// answer exactly (code and message) like resources that do not exist.
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

constexpr std::string_view kOrgA = "org-a";
constexpr std::string_view kOrgB = "org-b";

class TenancyTest : public test::StoreTest {
 protected:
  // Outcomes records the status of every call org A makes against the
  // account slug `account` / token slug `token`.
  struct Outcomes {
    absl::Status get, rename, disable, enable, list_tokens, create_token,
        revoke, del;
  };

  Outcomes Probe(std::string_view account, std::string_view token) {
    Outcomes o;
    o.get = store_->GetServiceAccount(kOrgA, account).status();
    o.rename =
        store_->RenameServiceAccount(kOrgA, account, "Hijacked", "user:mallory")
            .status();
    o.disable = store_->SetServiceAccountDisabled(kOrgA, account, true,
                                                  "user:mallory")
                    .status();
    o.enable = store_->SetServiceAccountDisabled(kOrgA, account, false,
                                                 "user:mallory")
                   .status();
    o.list_tokens = store_->ListTokens(kOrgA, account, PageRequest{}).status();
    TokenSpec spec;
    spec.name = "planted";
    spec.scopes = {"write:*"};
    o.create_token =
        store_->CreateToken(kOrgA, account, spec, "user:mallory").status();
    o.revoke =
        store_->RevokeToken(kOrgA, account, token, "user:mallory");
    o.del = store_->DeleteServiceAccount(kOrgA, account, "user:mallory");
    return o;
  }

  static void ExpectSame(const Outcomes& absent, const Outcomes& foreign) {
    const std::vector<std::pair<const char*,
                                std::pair<absl::Status, absl::Status>>>
        pairs = {{"get", {absent.get, foreign.get}},
                 {"rename", {absent.rename, foreign.rename}},
                 {"disable", {absent.disable, foreign.disable}},
                 {"enable", {absent.enable, foreign.enable}},
                 {"list_tokens", {absent.list_tokens, foreign.list_tokens}},
                 {"create_token", {absent.create_token, foreign.create_token}},
                 {"revoke", {absent.revoke, foreign.revoke}},
                 {"delete", {absent.del, foreign.del}}};
    for (const auto& [name, statuses] : pairs) {
      const auto& [a, f] = statuses;
      EXPECT_EQ(a.code(), absl::StatusCode::kNotFound) << name << ": " << a;
      EXPECT_EQ(a.code(), f.code()) << name << ": " << a << " vs " << f;
      EXPECT_EQ(a.message(), f.message()) << name << ": " << a << " vs " << f;
      EXPECT_EQ(a, f) << name;  // payloads (field errors) too
    }
  }
};

TEST_F(TenancyTest, OtherOrganizationsResourcesReadAsAbsent) {
  // Baseline: nothing called "shared" exists anywhere yet.
  const Outcomes absent = Probe("shared", "tok");

  // Org B creates the account and a token; org A owns something else.
  KG_ASSERT_OK(CreateAccount("shared", kOrgB));
  KG_ASSERT_OK_AND_ASSIGN(
      CreatedToken b_token,
      CreateToken("shared", "B token", {"read:tokens"}, std::string("tok"),
                  std::nullopt, kOrgB));
  KG_ASSERT_OK(CreateAccount("mine", kOrgA));

  const Outcomes foreign = Probe("shared", "tok");
  ExpectSame(absent, foreign);

  // Nothing of org B changed.
  KG_ASSERT_OK_AND_ASSIGN(ServiceAccount b,
                          store_->GetServiceAccount(kOrgB, "shared"));
  EXPECT_EQ(b.name, "Account shared");
  EXPECT_FALSE(b.disabled);
  EXPECT_EQ(b.updated_by, kActor);
  KG_ASSERT_OK_AND_ASSIGN(auto b_tokens, AllTokens("shared", kOrgB));
  ASSERT_EQ(b_tokens.size(), 1u);
  EXPECT_FALSE(b_tokens[0].revoked());
  KG_ASSERT_OK_AND_ASSIGN(Principal p, store_->Verify(b_token.value.view()));
  EXPECT_EQ(p.organization(), kOrgB);

  // Org A's list shows only its own account; org B's only its own.
  KG_ASSERT_OK_AND_ASSIGN(auto a_accounts, AllAccounts(kOrgA));
  ASSERT_EQ(a_accounts.size(), 1u);
  EXPECT_EQ(a_accounts[0].slug, "mine");
  KG_ASSERT_OK_AND_ASSIGN(auto b_accounts, AllAccounts(kOrgB));
  ASSERT_EQ(b_accounts.size(), 1u);
  EXPECT_EQ(b_accounts[0].slug, "shared");
}

TEST_F(TenancyTest, SameSlugsInTwoOrganizationsAreIndependent) {
  KG_ASSERT_OK(CreateAccount("svc", kOrgA));
  KG_ASSERT_OK(CreateAccount("svc", kOrgB));
  KG_ASSERT_OK_AND_ASSIGN(
      CreatedToken a, CreateToken("svc", "same", {"read:tokens"},
                                  std::string("tok"), std::nullopt, kOrgA));
  KG_ASSERT_OK_AND_ASSIGN(
      CreatedToken b, CreateToken("svc", "same", {"write:tokens"},
                                  std::string("tok"), std::nullopt, kOrgB));

  KG_ASSERT_OK_AND_ASSIGN(Principal pa, store_->Verify(a.value.view()));
  KG_ASSERT_OK_AND_ASSIGN(Principal pb, store_->Verify(b.value.view()));
  EXPECT_EQ(pa.organization(), kOrgA);
  EXPECT_EQ(pb.organization(), kOrgB);
  EXPECT_EQ(pa.scopes(), std::vector<std::string>({"read:tokens"}));
  EXPECT_EQ(pb.scopes(), std::vector<std::string>({"write:tokens"}));

  // Revoking in A leaves B's token alive.
  KG_ASSERT_OK(store_->RevokeToken(kOrgA, "svc", "tok", kActor));
  EXPECT_FALSE(store_->Verify(a.value.view()).ok());
  KG_EXPECT_OK(store_->Verify(b.value.view()));
  KG_ASSERT_OK_AND_ASSIGN(auto b_tokens, AllTokens("svc", kOrgB));
  ASSERT_EQ(b_tokens.size(), 1u);
  EXPECT_FALSE(b_tokens[0].revoked());

  // Disabling in A leaves B alone; renaming too.
  KG_ASSERT_OK_AND_ASSIGN(
      CreatedToken a2, CreateToken("svc", "second", {"read:tokens"},
                                   std::nullopt, std::nullopt, kOrgA));
  KG_ASSERT_OK(store_->SetServiceAccountDisabled(kOrgA, "svc", true, kActor));
  KG_ASSERT_OK(store_->RenameServiceAccount(kOrgA, "svc", "A's", kActor));
  EXPECT_EQ(VerifyFailureOf(store_->Verify(a2.value.view()).status()),
            VerifyFailure::kAccountDisabled);
  KG_EXPECT_OK(store_->Verify(b.value.view()));
  KG_ASSERT_OK_AND_ASSIGN(ServiceAccount sb,
                          store_->GetServiceAccount(kOrgB, "svc"));
  EXPECT_FALSE(sb.disabled);
  EXPECT_EQ(sb.name, "Account svc");

  // Deleting A's account leaves B's.
  KG_ASSERT_OK(store_->DeleteServiceAccount(kOrgA, "svc", kActor));
  KG_EXPECT_OK(store_->Verify(b.value.view()));
  KG_EXPECT_OK(store_->GetServiceAccount(kOrgB, "svc"));
  KG_ASSERT_OK_AND_ASSIGN(b_tokens, AllTokens("svc", kOrgB));
  EXPECT_EQ(b_tokens.size(), 1u);
}

// Organizations whose ids are prefixes of each other must not collide, in
// any of the concatenations a separator-joined key would confuse.
TEST_F(TenancyTest, PrefixOrganizationsDoNotCollide) {
  // "a" + "bcd" and "ab" + "cd" spell the same bytes without a length prefix.
  KG_ASSERT_OK(CreateAccount("bcd", "a"));
  KG_ASSERT_OK(CreateAccount("cd", "ab"));
  KG_ASSERT_OK(CreateAccount("cd-x", "abc"));
  KG_ASSERT_OK_AND_ASSIGN(
      CreatedToken t_a, CreateToken("bcd", "ta", {"read:tokens"},
                                    std::string("ef"), std::nullopt, "a"));
  KG_ASSERT_OK_AND_ASSIGN(
      CreatedToken t_ab, CreateToken("cd", "tab", {"read:tokens"},
                                     std::string("ef"), std::nullopt, "ab"));

  KG_ASSERT_OK_AND_ASSIGN(auto in_a, AllAccounts("a"));
  ASSERT_EQ(in_a.size(), 1u);
  EXPECT_EQ(in_a[0].slug, "bcd");
  EXPECT_EQ(in_a[0].organization, "a");
  KG_ASSERT_OK_AND_ASSIGN(auto in_ab, AllAccounts("ab"));
  ASSERT_EQ(in_ab.size(), 1u);
  EXPECT_EQ(in_ab[0].slug, "cd");
  KG_ASSERT_OK_AND_ASSIGN(auto in_abc, AllAccounts("abc"));
  ASSERT_EQ(in_abc.size(), 1u);
  EXPECT_EQ(in_abc[0].slug, "cd-x");

  EXPECT_EQ(store_->GetServiceAccount("a", "cd").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetServiceAccount("ab", "bcd").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetServiceAccount("a", "bcd-x").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->RevokeToken("ab", "bcd", "ef", kActor).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->RevokeToken("a", "cd", "ef", kActor).code(),
            absl::StatusCode::kNotFound);

  KG_ASSERT_OK_AND_ASSIGN(auto tokens_a, AllTokens("bcd", "a"));
  ASSERT_EQ(tokens_a.size(), 1u);
  EXPECT_EQ(tokens_a[0].name, "ta");
  KG_ASSERT_OK_AND_ASSIGN(auto tokens_ab, AllTokens("cd", "ab"));
  ASSERT_EQ(tokens_ab.size(), 1u);
  EXPECT_EQ(tokens_ab[0].name, "tab");

  // Deleting org "a"'s account touches nothing of "ab"/"abc".
  KG_ASSERT_OK(store_->DeleteServiceAccount("a", "bcd", kActor));
  KG_EXPECT_OK(store_->Verify(t_ab.value.view()));
  EXPECT_FALSE(store_->Verify(t_a.value.view()).ok());
  KG_ASSERT_OK_AND_ASSIGN(in_ab, AllAccounts("ab"));
  EXPECT_EQ(in_ab.size(), 1u);
  KG_ASSERT_OK_AND_ASSIGN(in_abc, AllAccounts("abc"));
  EXPECT_EQ(in_abc.size(), 1u);
}

TEST_F(TenancyTest, PrefixOrganizationsHaveSeparateQuotas) {
  Options options = DefaultOptions();
  options.max_active_tokens_per_organization = 1;
  KG_ASSERT_OK(Reopen(options));
  KG_ASSERT_OK(CreateAccount("svc", "a"));
  KG_ASSERT_OK(CreateAccount("svc", "ab"));
  KG_ASSERT_OK(CreateToken("svc", "t", {"read:tokens"}, std::nullopt,
                           std::nullopt, "ab"));
  KG_EXPECT_OK(CreateToken("svc", "t", {"read:tokens"}, std::nullopt,
                           std::nullopt, "a"));
}

TEST_F(TenancyTest, SeparatorLikeCharactersInOrganizationsAreRejected) {
  for (const std::string& org :
       {std::string("a\x01" "b"), std::string("a\0b", 3), std::string("a\x1f"),
        std::string("a\nb")}) {
    auto r = CreateAccount("svc", org);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument)
        << r.status();
    EXPECT_TRUE(HasFieldError(r.status(), "organization"))
        << test::DescribeFieldErrors(r.status());
  }
}

TEST_F(TenancyTest, PunctuationInOrganizationsIsOpaque) {
  // Printable punctuation is allowed and does not alias.
  const std::vector<std::string> orgs = {"a/b", "a", "a:b", "a b", "A",
                                         "ä", "a/b/"};
  for (size_t i = 0; i < orgs.size(); ++i) {
    auto r = CreateAccount("acct-" + std::to_string(i), orgs[i]);
    ASSERT_TRUE(r.ok()) << orgs[i] << ": " << r.status();
  }
  for (size_t i = 0; i < orgs.size(); ++i) {
    KG_ASSERT_OK_AND_ASSIGN(auto accounts, AllAccounts(orgs[i]));
    ASSERT_EQ(accounts.size(), 1u) << orgs[i];
    EXPECT_EQ(accounts[0].slug, "acct-" + std::to_string(i));
    EXPECT_EQ(accounts[0].organization, orgs[i]);
  }
}

TEST_F(TenancyTest, ListCursorFromAnotherOrganizationLeaksNothing) {
  for (const char* s : {"b1", "b2", "b3"}) KG_ASSERT_OK(CreateAccount(s, kOrgB));
  PageRequest page;
  page.limit = 1;
  KG_ASSERT_OK_AND_ASSIGN(Page<ServiceAccount> first,
                          store_->ListServiceAccounts(kOrgB, page));
  ASSERT_FALSE(first.next_cursor.empty());
  page.cursor = first.next_cursor;
  auto in_a = store_->ListServiceAccounts(kOrgA, page);
  if (in_a.ok()) {
    EXPECT_TRUE(in_a->items.empty());
  } else {
    EXPECT_EQ(in_a.status().code(), absl::StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace keygate

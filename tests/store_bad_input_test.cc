// Bad input on every public Store function: each string parameter set to
// empty, 1 MiB, NUL bytes, invalid UTF-8 or control characters must give
// InvalidArgument naming the parameter (as the reference API spells it),
// carry a safe, bounded error, and change nothing.
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "keygate/keygate.h"
#include "tests/store_test_util.h"

namespace keygate {
namespace {

using test::HasFieldError;

struct BadValue {
  std::string label;
  std::string value;
};

// Values that are invalid for every identity, name and slug parameter.
std::vector<BadValue> BadValues() {
  return {
      {"empty", ""},
      {"one_MiB", std::string(1 << 20, 'a')},
      {"one_MiB_utf8",
       [] {
         std::string s;
         while (s.size() < (1 << 20)) s += "\xc3\xa9";  // é
         return s;
       }()},
      {"nul_inside", std::string("ab\0cd", 5)},
      {"nul_only", std::string(1, '\0')},
      {"nul_trailing", std::string("abcd\0", 5)},
      {"byte_ff", "ab\xff"},
      {"bad_continuation", "\xc3\x28"},
      {"overlong_slash", "a\xc0\xaf"},
      {"truncated_sequence", "ab\xe2\x82"},
      {"surrogate", "a\xed\xa0\x80"},
      {"above_max_code_point", "a\xf4\x90\x80\x80"},
      {"control_soh",
       "a\x01"
       "b"},
      {"newline", "a\nb"},
      {"tab", "a\tb"},
      {"carriage_return", "ab\r"},
      {"escape", "\x1b[31mab"},
      {"del", "ab\x7f"},
  };
}

// A call of one Store function with one parameter replaced by `bad`.
struct Case {
  std::string name;   // test-name-safe
  std::string field;  // the FieldError::field the store must report
  std::function<absl::Status(Store&, const std::string& bad,
                             std::string_view valid_token)>
      call;
  // The empty string is a valid value of this parameter (an empty cursor
  // asks for the first page), so it is skipped.
  bool empty_is_valid = false;
};

constexpr std::string_view kOrg = "org-test";
constexpr std::string_view kActor = "user:alice";

ServiceAccountSpec AccountSpec(std::string name, std::string slug) {
  ServiceAccountSpec spec;
  spec.name = std::move(name);
  spec.slug = std::move(slug);
  return spec;
}

TokenSpec TokSpec(std::string name, std::optional<std::string> slug) {
  TokenSpec spec;
  spec.name = std::move(name);
  spec.slug = std::move(slug);
  spec.scopes = {"write:*"};
  return spec;
}

std::vector<Case> Cases() {
  using S = const std::string&;
  return {
      // CreateServiceAccount(organization, spec{name, slug}, actor)
      {"CreateServiceAccount_organization", "organization",
       [](Store& s, S bad, std::string_view token) {
         return s
             .CreateServiceAccount(bad, AccountSpec("n", "new-acct"), kActor)
             .status();
       }},
      {"CreateServiceAccount_actor", "actor",
       [](Store& s, S bad, std::string_view token) {
         return s.CreateServiceAccount(kOrg, AccountSpec("n", "new-acct"), bad)
             .status();
       }},
      {"CreateServiceAccount_name", "name",
       [](Store& s, S bad, std::string_view token) {
         return s
             .CreateServiceAccount(kOrg, AccountSpec(bad, "new-acct"), kActor)
             .status();
       }},
      {"CreateServiceAccount_slug", "slug",
       [](Store& s, S bad, std::string_view token) {
         return s.CreateServiceAccount(kOrg, AccountSpec("n", bad), kActor)
             .status();
       }},
      // GetServiceAccount(organization, slug)
      {"GetServiceAccount_organization", "organization",
       [](Store& s, S bad, std::string_view token) {
         return s.GetServiceAccount(bad, "svc").status();
       }},
      {"GetServiceAccount_serviceAccountSlug", "serviceAccountSlug",
       [](Store& s, S bad, std::string_view token) {
         return s.GetServiceAccount(kOrg, bad).status();
       }},
      // ListServiceAccounts(organization, page)
      {"ListServiceAccounts_organization", "organization",
       [](Store& s, S bad, std::string_view token) {
         return s.ListServiceAccounts(bad, PageRequest{}).status();
       }},
      {"ListServiceAccounts_cursor", "cursor",
       [](Store& s, S bad, std::string_view token) {
         PageRequest page;
         page.cursor = bad;
         return s.ListServiceAccounts(kOrg, page).status();
       },
       /*empty_is_valid=*/true},
      // RenameServiceAccount(organization, slug, new_name, actor)
      {"RenameServiceAccount_organization", "organization",
       [](Store& s, S bad, std::string_view token) {
         return s.RenameServiceAccount(bad, "svc", "Renamed", kActor).status();
       }},
      {"RenameServiceAccount_serviceAccountSlug", "serviceAccountSlug",
       [](Store& s, S bad, std::string_view token) {
         return s.RenameServiceAccount(kOrg, bad, "Renamed", kActor).status();
       }},
      {"RenameServiceAccount_name", "name",
       [](Store& s, S bad, std::string_view token) {
         return s.RenameServiceAccount(kOrg, "svc", bad, kActor).status();
       }},
      {"RenameServiceAccount_actor", "actor",
       [](Store& s, S bad, std::string_view token) {
         return s.RenameServiceAccount(kOrg, "svc", "Renamed", bad).status();
       }},
      // SetServiceAccountDisabled(organization, slug, disabled, actor)
      {"SetServiceAccountDisabled_organization", "organization",
       [](Store& s, S bad, std::string_view token) {
         return s.SetServiceAccountDisabled(bad, "svc", true, kActor).status();
       }},
      {"SetServiceAccountDisabled_serviceAccountSlug", "serviceAccountSlug",
       [](Store& s, S bad, std::string_view token) {
         return s.SetServiceAccountDisabled(kOrg, bad, true, kActor).status();
       }},
      {"SetServiceAccountDisabled_actor", "actor",
       [](Store& s, S bad, std::string_view token) {
         return s.SetServiceAccountDisabled(kOrg, "svc", true, bad).status();
       }},
      // DeleteServiceAccount(organization, slug, actor)
      {"DeleteServiceAccount_organization", "organization",
       [](Store& s, S bad, std::string_view token) {
         return s.DeleteServiceAccount(bad, "svc", kActor);
       }},
      {"DeleteServiceAccount_serviceAccountSlug", "serviceAccountSlug",
       [](Store& s, S bad, std::string_view token) {
         return s.DeleteServiceAccount(kOrg, bad, kActor);
       }},
      {"DeleteServiceAccount_actor", "actor",
       [](Store& s, S bad, std::string_view token) {
         return s.DeleteServiceAccount(kOrg, "svc", bad);
       }},
      // CreateToken(organization, account, spec{name, slug}, actor)
      {"CreateToken_organization", "organization",
       [](Store& s, S bad, std::string_view token) {
         return s.CreateToken(bad, "svc", TokSpec("new", "new-tok"), kActor)
             .status();
       }},
      {"CreateToken_serviceAccountSlug", "serviceAccountSlug",
       [](Store& s, S bad, std::string_view token) {
         return s.CreateToken(kOrg, bad, TokSpec("new", "new-tok"), kActor)
             .status();
       }},
      {"CreateToken_name", "name",
       [](Store& s, S bad, std::string_view token) {
         return s.CreateToken(kOrg, "svc", TokSpec(bad, "new-tok"), kActor)
             .status();
       }},
      {"CreateToken_name_derived_slug", "name",
       [](Store& s, S bad, std::string_view token) {
         return s.CreateToken(kOrg, "svc", TokSpec(bad, std::nullopt), kActor)
             .status();
       }},
      {"CreateToken_slug", "slug",
       [](Store& s, S bad, std::string_view token) {
         return s.CreateToken(kOrg, "svc", TokSpec("new", bad), kActor)
             .status();
       }},
      {"CreateToken_actor", "actor",
       [](Store& s, S bad, std::string_view token) {
         return s.CreateToken(kOrg, "svc", TokSpec("new", "new-tok"), bad)
             .status();
       }},
      {"CreateToken_scope", "scopes[1]",
       [](Store& s, S bad, std::string_view token) {
         TokenSpec spec = TokSpec("new", "new-tok");
         spec.scopes = {"read:tokens", bad};
         return s.CreateToken(kOrg, "svc", spec, kActor).status();
       }},
      // ListTokens(organization, account, page)
      {"ListTokens_organization", "organization",
       [](Store& s, S bad, std::string_view token) {
         return s.ListTokens(bad, "svc", PageRequest{}).status();
       }},
      {"ListTokens_serviceAccountSlug", "serviceAccountSlug",
       [](Store& s, S bad, std::string_view token) {
         return s.ListTokens(kOrg, bad, PageRequest{}).status();
       }},
      {"ListTokens_cursor", "cursor",
       [](Store& s, S bad, std::string_view token) {
         PageRequest page;
         page.cursor = bad;
         return s.ListTokens(kOrg, "svc", page).status();
       },
       /*empty_is_valid=*/true},
      // RevokeToken(organization, account, token_slug, actor)
      {"RevokeToken_organization", "organization",
       [](Store& s, S bad, std::string_view token) {
         return s.RevokeToken(bad, "svc", "tok", kActor);
       }},
      {"RevokeToken_serviceAccountSlug", "serviceAccountSlug",
       [](Store& s, S bad, std::string_view token) {
         return s.RevokeToken(kOrg, bad, "tok", kActor);
       }},
      {"RevokeToken_tokenSlug", "tokenSlug",
       [](Store& s, S bad, std::string_view token) {
         return s.RevokeToken(kOrg, "svc", bad, kActor);
       }},
      {"RevokeToken_actor", "actor",
       [](Store& s, S bad, std::string_view token) {
         return s.RevokeToken(kOrg, "svc", "tok", bad);
       }},
      // RotateToken(organization, account, token_slug, grace, actor)
      {"RotateToken_organization", "organization",
       [](Store& s, S bad, std::string_view token) {
         return s.RotateToken(bad, "svc", "tok", absl::Hours(1), kActor)
             .status();
       }},
      {"RotateToken_serviceAccountSlug", "serviceAccountSlug",
       [](Store& s, S bad, std::string_view token) {
         return s.RotateToken(kOrg, bad, "tok", absl::Hours(1), kActor)
             .status();
       }},
      {"RotateToken_tokenSlug", "tokenSlug",
       [](Store& s, S bad, std::string_view token) {
         return s.RotateToken(kOrg, "svc", bad, absl::Hours(1), kActor)
             .status();
       }},
      {"RotateToken_actor", "actor",
       [](Store& s, S bad, std::string_view token) {
         return s.RotateToken(kOrg, "svc", "tok", absl::Hours(1), bad)
             .status();
       }},
      // Verify(token, required_scope): a bad scope is InvalidArgument.
      {"Verify_scope", "scope",
       [](Store& s, S bad, std::string_view token) {
         // A valid token, so only the scope can be wrong. (Empty means "no
         // scope required"; use a lone control char instead.)
         return s.Verify(token, bad.empty() ? "\x01" : bad).status();
       }},
  };
}

// Snapshot renders everything the fixture's organization holds.
class BadInputTest : public test::StoreTest,
                     public ::testing::WithParamInterface<size_t> {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    if (HasFatalFailure()) return;
    KG_ASSERT_OK(CreateAccount("svc"));
    KG_ASSERT_OK(CreateAccount("other"));
    KG_ASSERT_OK_AND_ASSIGN(
        token_, CreateToken("svc", "tok", {"read:tokens"}, std::string("tok")));
    KG_ASSERT_OK(CreateToken("other", "tok2"));
  }

  absl::StatusOr<std::string> Snapshot() {
    std::string out;
    absl::StatusOr<std::vector<ServiceAccount>> accounts = AllAccounts();
    if (!accounts.ok()) return accounts.status();
    for (const ServiceAccount& a : *accounts) {
      absl::StrAppend(&out, "account ", a.slug, " name=", a.name,
                      " disabled=", a.disabled, " by=", a.updated_by,
                      " at=", absl::FormatTime(a.updated_at), "\n");
      absl::StatusOr<std::vector<TokenMetadata>> tokens = AllTokens(a.slug);
      if (!tokens.ok()) return tokens.status();
      for (const TokenMetadata& t : *tokens) {
        absl::StrAppend(&out, "  token ", t.slug, " name=", t.name,
                        " revoked=", t.revoked(), " scopes=", t.scopes.size(),
                        " rotated_to=", t.rotated_to, "\n");
      }
    }
    return out;
  }

  CreatedToken token_;
};

TEST_P(BadInputTest, RejectedNamingTheFieldAndNothingChanges) {
  const std::vector<Case> cases = Cases();
  const Case& c = cases[GetParam()];
  KG_ASSERT_OK_AND_ASSIGN(const std::string before, Snapshot());
  for (const BadValue& bad : BadValues()) {
    SCOPED_TRACE(c.name + " with " + bad.label);
    clock_.Advance(absl::Seconds(1));  // so an accidental update shows
    if (bad.value.empty() && c.empty_is_valid) continue;
    const absl::Status status = c.call(*store_, bad.value, token_.value.view());
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    EXPECT_TRUE(HasFieldError(status, c.field))
        << "want field " << c.field << ", got "
        << test::DescribeFieldErrors(status);
    // The error is bounded and safe to log or return to a client.
    EXPECT_LE(status.message().size(), 1024u);
    for (const FieldError& e : FieldErrorsOf(status)) {
      EXPECT_LE(e.value.size(), 256u) << e.field;
      EXPECT_LE(e.message.size(), 1024u) << e.field;
      EXPECT_TRUE(test::IsValidUtf8(e.value)) << e.field;
      EXPECT_FALSE(test::HasControlChars(e.value)) << e.field;
      EXPECT_TRUE(test::IsValidUtf8(e.message)) << e.field;
    }
    KG_ASSERT_OK_AND_ASSIGN(const std::string after, Snapshot());
    EXPECT_EQ(before, after);
  }
  // The fixture's token still works and the account is still enabled.
  KG_EXPECT_OK(store_->Verify(token_.value.view(), "read:tokens"));
}

INSTANTIATE_TEST_SUITE_P(AllFunctions, BadInputTest,
                         ::testing::Range(size_t{0}, Cases().size()),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           return Cases()[info.param].name;
                         });

// Verify takes any bytes as the token: they are malformed, never a crash and
// never InvalidArgument (the one 401 every failure shares).
class VerifyBadTokenTest : public test::StoreTest {};

TEST_F(VerifyBadTokenTest, EveryBadValueIsMalformed) {
  for (const BadValue& bad : BadValues()) {
    SCOPED_TRACE(bad.label);
    for (std::string_view scope :
         {std::string_view(), std::string_view("read:tokens")}) {
      auto v = store_->Verify(bad.value, scope);
      ASSERT_FALSE(v.ok());
      EXPECT_EQ(v.status().code(), absl::StatusCode::kUnauthenticated)
          << v.status();
      EXPECT_EQ(VerifyFailureOf(v.status()), VerifyFailure::kMalformed);
    }
  }
}

// Length limits at their exact boundaries (store.h: organization and actor
// 1-256 bytes; service_account.h/token.h: names 1-200 bytes).
class LengthBoundaryTest : public test::StoreTest {};

TEST_F(LengthBoundaryTest, OrganizationActorAndNameLimits) {
  const std::string org256(256, 'o');
  const std::string org257(257, 'o');
  const std::string actor256(256, 'u');
  const std::string actor257(257, 'u');
  KG_ASSERT_OK(
      store_->CreateServiceAccount(org256, AccountSpec("n", "edge"), actor256));
  KG_EXPECT_OK(store_->GetServiceAccount(org256, "edge"));
  auto long_org =
      store_->CreateServiceAccount(org257, AccountSpec("n", "edge"), kActor);
  EXPECT_EQ(long_org.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasFieldError(long_org.status(), "organization"));
  auto long_actor =
      store_->CreateServiceAccount(kOrg, AccountSpec("n", "edge"), actor257);
  EXPECT_EQ(long_actor.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasFieldError(long_actor.status(), "actor"));
  // Multi-byte UTF-8 counts bytes: 128 x "é" is 256 bytes, 129 is 258.
  std::string e128, e129;
  for (int i = 0; i < 128; ++i) e128 += "\xc3\xa9";
  e129 = e128 + "\xc3\xa9";
  KG_EXPECT_OK(
      store_->CreateServiceAccount(e128, AccountSpec("n", "edge"), kActor));
  EXPECT_EQ(store_->CreateServiceAccount(e129, AccountSpec("n", "edge"), kActor)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);

  // Token names: 200 bytes fine, 201 not.
  KG_ASSERT_OK(CreateAccount("svc"));
  KG_EXPECT_OK(CreateToken("svc", std::string(200, 't')));
  auto long_name = CreateToken("svc", std::string(201, 't'));
  EXPECT_EQ(long_name.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasFieldError(long_name.status(), "name"));
}

// Unicode C1 controls (U+0080..U+009F, general category Cc) are control
// characters too; "without control characters" covers them. errors.h's
// SafeValue also counts U+2028/2029 and bidi overrides/isolates as control
// characters, so the store's own rules should not accept what its error
// values must mask.
class C1ControlTest : public test::StoreTest {};

TEST_F(C1ControlTest, C1ControlCharactersRejected) {
  const std::string nel =
      "a\xc2\x85"
      "b";  // U+0085 NEXT LINE
  const std::string csi =
      "\xc2\x9b"
      "31m";  // U+009B CONTROL SEQUENCE INTRO
  const std::string line_separator =
      "a\xe2\x80\xa8"
      "b";  // U+2028
  const std::string bidi_override =
      "\xe2\x80\xae"
      "abc";  // U+202E RLO
  const std::vector<std::string> bads = {nel, csi, line_separator,
                                         bidi_override};
  for (size_t i = 0; i < bads.size(); ++i) {
    const std::string& bad = bads[i];
    const std::string n = std::to_string(i);
    auto org = store_->CreateServiceAccount(
        bad, AccountSpec("n", "c1-org-" + n), kActor);
    EXPECT_EQ(org.status().code(), absl::StatusCode::kInvalidArgument)
        << "organization #" << i << ": " << org.status();
    auto actor = store_->CreateServiceAccount(
        kOrg, AccountSpec("n", "c1-actor-" + n), bad);
    EXPECT_EQ(actor.status().code(), absl::StatusCode::kInvalidArgument)
        << "actor #" << i << ": " << actor.status();
    auto name = store_->CreateServiceAccount(
        kOrg, AccountSpec(bad, "c1-name-" + n), kActor);
    EXPECT_EQ(name.status().code(), absl::StatusCode::kInvalidArgument)
        << "name #" << i << ": " << name.status();
  }
}

}  // namespace
}  // namespace keygate

// tests/delegation_test.cc: a token can never grant more than it holds
// (keygate/delegation.h), and the 403 problems that name the rule.
//
// Callers are real Principals: tokens created in a Store (catalog pinned to
// {"service_accounts", "tokens"}, which the model below assumes) and
// verified. The scope rule is
// checked exhaustively against a model written from the rules in the header:
// every non-empty set of the 8 grantable scopes against every requested scope
// (grantable, "delete:*", unknown modules and malformed strings).
#include "keygate/delegation.h"

#include <cstddef>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "keygate/http/problem.h"
#include "lib/errors/payloads.h"
#include "tests/store_test_util.h"

namespace keygate {

// Failure messages print rules by name (gtest finds PrintTo by ADL).
void PrintTo(DelegationRule rule, std::ostream* os) {
  *os << DelegationRuleName(rule);
}

namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;
using http::Problem;
using http::ProblemContext;
using http::ProblemFromStatus;
using http::ProblemToJson;

constexpr std::string_view kOwn = "acct-own";
constexpr std::string_view kOther = "acct-other";

// Every scope a token can hold in the default catalog.
const std::vector<std::string>& GrantableScopes() {
  static const auto* scopes = new std::vector<std::string>{
      "read:tokens",           "write:tokens",
      "delete:tokens",         "read:service_accounts",
      "write:service_accounts", "delete:service_accounts",
      "read:*",                "write:*",
  };
  return *scopes;
}

// Requested scopes that no caller holds, whatever it holds: no "delete:*",
// modules outside the catalog, and strings that are not scopes at all.
const std::vector<std::string>& NeverHeldScopes() {
  static const auto* scopes = new std::vector<std::string>{
      "delete:*",
      "read:billing",
      "write:billing",
      "delete:billing",
      "READ:tokens",
      " read:tokens",
      "read:tokens ",
      "read:tokens\n",
      "read: tokens",
      "",
      "read:",
      ":tokens",
      "tokens",
      "read:*:*",
      "read:tokens,write:*",
      "admin:tokens",
      "write:Tokens",
      std::string("read:tokens\0x", 13),
  };
  return *scopes;
}

// ModelHolds is rule 1 written from the header, independently of the code:
// module scopes expand write=>read and wildcards, requested wildcards need a
// held wildcard, delete is never implied.
bool ModelHolds(const std::set<std::string>& held, std::string_view requested) {
  auto has = [&](const char* s) { return held.count(s) > 0; };
  if (requested == "read:*") return has("read:*") || has("write:*");
  if (requested == "write:*") return has("write:*");
  for (const char* module : {"tokens", "service_accounts"}) {
    if (requested == absl::StrCat("read:", module)) {
      return has("read:*") || has("write:*") ||
             held.count(absl::StrCat("read:", module)) > 0 ||
             held.count(absl::StrCat("write:", module)) > 0;
    }
    if (requested == absl::StrCat("write:", module)) {
      return has("write:*") || held.count(absl::StrCat("write:", module)) > 0;
    }
    if (requested == absl::StrCat("delete:", module)) {
      return held.count(absl::StrCat("delete:", module)) > 0;
    }
  }
  return false;
}

std::string Describe(const std::vector<std::string>& scopes) {
  std::string out = "{";
  for (const std::string& s : scopes) absl::StrAppend(&out, s, " ");
  return out + "}";
}

class DelegationTest : public test::StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    // The default catalog also holds "webhooks"; the model is of two
    // modules.
    Options options = DefaultOptions();
    options.scope_modules = {"service_accounts", "tokens"};
    KG_ASSERT_OK(Reopen(options));
    KG_ASSERT_OK(CreateAccount(kOwn));
    KG_ASSERT_OK(CreateAccount(kOther));
  }

  absl::Time Now() const { return clock_.Now(); }

  // Caller creates a token on `account` with `scopes` and `expires_at`, and
  // returns the Principal that verifying it yields (invalid on failure,
  // which is also reported).
  Principal Caller(std::vector<std::string> scopes,
                   std::optional<absl::Time> expires_at = std::nullopt,
                   std::string_view account = kOwn) {
    const std::string name = absl::StrCat("caller-", next_caller_++);
    absl::StatusOr<CreatedToken> created =
        CreateToken(account, name, std::move(scopes), std::nullopt, expires_at);
    if (!created.ok()) {
      ADD_FAILURE() << "CreateToken: " << created.status();
      return Principal();
    }
    absl::StatusOr<Principal> principal = store_->Verify(created->value.view());
    if (!principal.ok()) {
      ADD_FAILURE() << "Verify: " << principal.status();
      return Principal();
    }
    return *principal;
  }

  static TokenSpec Spec(std::vector<std::string> scopes,
                        std::optional<absl::Time> expires_at = std::nullopt) {
    TokenSpec spec;
    spec.name = "minted";
    spec.scopes = std::move(scopes);
    spec.expires_at = expires_at;
    return spec;
  }

  int next_caller_ = 0;
};

// ----- Rule 1: scopes ---------------------------------------------------------

TEST_F(DelegationTest, ScopeRuleMatchesModelForEveryHeldSetAndRequest) {
  const std::vector<std::string>& grantable = GrantableScopes();
  std::vector<std::string> requests = grantable;
  for (const std::string& s : NeverHeldScopes()) requests.push_back(s);

  size_t allowed = 0, refused = 0;
  for (unsigned bits = 1; bits < (1u << grantable.size()); ++bits) {
    std::vector<std::string> held_list;
    for (size_t i = 0; i < grantable.size(); ++i) {
      if (bits & (1u << i)) held_list.push_back(grantable[i]);
    }
    const std::set<std::string> held(held_list.begin(), held_list.end());
    const Principal caller = Caller(held_list);
    ASSERT_TRUE(caller.valid());
    for (const std::string& requested : requests) {
      const absl::Status status =
          CheckTokenDelegation(caller, Spec({requested}));
      const bool expected = ModelHolds(held, requested);
      ASSERT_EQ(status.ok(), expected)
          << "caller " << Describe(held_list) << " requesting \""
          << absl::CEscape(requested) << "\": " << status;
      if (expected) {
        ++allowed;
        continue;
      }
      ++refused;
      ASSERT_EQ(status.code(), absl::StatusCode::kPermissionDenied) << status;
      ASSERT_EQ(DelegationRuleOf(status), DelegationRule::kScopeNotHeld);
    }
  }
  // Both outcomes really occurred (the model is not trivially one-sided).
  EXPECT_GT(allowed, 500u);
  EXPECT_GT(refused, 500u);
}

TEST_F(DelegationTest, WriteImpliesReadButNeverDelete) {
  const Principal caller = Caller({"write:tokens"});
  KG_EXPECT_OK(CheckTokenDelegation(caller, Spec({"read:tokens"})));
  KG_EXPECT_OK(CheckTokenDelegation(caller, Spec({"write:tokens"})));
  EXPECT_EQ(DelegationRuleOf(
                CheckTokenDelegation(caller, Spec({"delete:tokens"}))),
            DelegationRule::kScopeNotHeld);
  const Principal all_write = Caller({"write:*"});
  KG_EXPECT_OK(CheckTokenDelegation(
      all_write, Spec({"read:*", "write:*", "read:tokens",
                       "write:service_accounts"})));
  EXPECT_EQ(DelegationRuleOf(CheckTokenDelegation(
                all_write, Spec({"delete:service_accounts"}))),
            DelegationRule::kScopeNotHeld);
  EXPECT_EQ(DelegationRuleOf(
                CheckTokenDelegation(all_write, Spec({"delete:*"}))),
            DelegationRule::kScopeNotHeld);
}

TEST_F(DelegationTest, WildcardNeedsAHeldWildcardNotEveryModule) {
  // Every module of today's catalog, one by one: a wildcard would also cover
  // modules added later, so it is not granted.
  const Principal every_module =
      Caller({"write:tokens", "write:service_accounts"});
  ASSERT_TRUE(every_module.HasScope("write:*"));  // the index's view
  EXPECT_EQ(DelegationRuleOf(
                CheckTokenDelegation(every_module, Spec({"read:*"}))),
            DelegationRule::kScopeNotHeld);
  EXPECT_EQ(DelegationRuleOf(
                CheckTokenDelegation(every_module, Spec({"write:*"}))),
            DelegationRule::kScopeNotHeld);
  const Principal read_all = Caller({"read:*"});
  KG_EXPECT_OK(CheckTokenDelegation(read_all, Spec({"read:*"})));
  EXPECT_FALSE(CheckTokenDelegation(read_all, Spec({"write:*"})).ok());
  EXPECT_FALSE(CheckTokenDelegation(read_all, Spec({"write:tokens"})).ok());
}

TEST_F(DelegationTest, FirstUnheldScopeIsNamed) {
  const Principal caller = Caller({"write:tokens"});
  const absl::Status status = CheckTokenDelegation(
      caller, Spec({"read:tokens", "delete:service_accounts", "write:*"}));
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(DelegationRuleOf(status), DelegationRule::kScopeNotHeld);
  EXPECT_EQ(DelegationScopeOf(status), "delete:service_accounts");
  EXPECT_EQ(status.message(),
            "delegation: a token cannot grant scope "
            "\"delete:service_accounts\", which it does not hold");
}

TEST_F(DelegationTest, MalformedScopeIsNotHeldAndNeverEchoed) {
  const Principal caller = Caller({"write:*"});
  for (const std::string& hostile :
       {std::string("read:tokens\"\r\nX-Evil: 1"), std::string("\xff\xfe"),
        std::string(5000, 'a'), std::string("read:tokens\0", 12)}) {
    const absl::Status status = CheckTokenDelegation(caller, Spec({hostile}));
    EXPECT_EQ(DelegationRuleOf(status), DelegationRule::kScopeNotHeld);
    EXPECT_EQ(DelegationScopeOf(status), "");
    EXPECT_EQ(status.message(),
              "delegation: a token cannot grant a scope it does not hold");
  }
}

TEST_F(DelegationTest, EmptyScopeListIsLeftToTheStore) {
  // Nothing is granted, so nothing is delegated; the store refuses it (422).
  const Principal caller = Caller({"read:tokens"});
  KG_EXPECT_OK(CheckTokenDelegation(caller, Spec({})));
}

// ----- Rule 2: expiry ---------------------------------------------------------

TEST_F(DelegationTest, ExpiryNeverBeyondTheCallers) {
  const absl::Time caller_expiry = Now() + absl::Hours(1);
  struct Case {
    std::optional<absl::Time> caller;
    std::optional<absl::Time> requested;
    bool allowed;
  };
  const std::optional<absl::Time> none;
  const Case cases[] = {
      // Caller without expiry: anything.
      {none, none, true},
      {none, caller_expiry - absl::Minutes(1), true},
      {none, caller_expiry, true},
      {none, caller_expiry + absl::Minutes(1), true},
      {none, absl::InfiniteFuture(), true},
      // Caller with expiry: no later than it, and not "never".
      {caller_expiry, none, false},
      {caller_expiry, caller_expiry - absl::Minutes(1), true},
      {caller_expiry, caller_expiry, true},
      {caller_expiry, caller_expiry + absl::Nanoseconds(1), false},
      {caller_expiry, caller_expiry + absl::Hours(24 * 365 * 100), false},
      {caller_expiry, absl::InfiniteFuture(), false},
  };
  for (const Case& c : cases) {
    const Principal caller = Caller({"write:tokens"}, c.caller);
    ASSERT_TRUE(caller.valid());
    ASSERT_EQ(caller.expires_at(), c.caller);
    const absl::Status status =
        CheckTokenDelegation(caller, Spec({"read:tokens"}, c.requested));
    const std::string where = absl::StrCat(
        "caller ", c.caller ? absl::FormatTime(*c.caller) : "never",
        ", requested ", c.requested ? absl::FormatTime(*c.requested) : "never");
    if (c.allowed) {
      EXPECT_TRUE(status.ok()) << where << ": " << status;
    } else {
      EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied) << where;
      EXPECT_EQ(DelegationRuleOf(status), DelegationRule::kExpiryBeyondCaller)
          << where << ": " << status;
      EXPECT_EQ(DelegationScopeOf(status), "") << where;
    }
  }
}

TEST_F(DelegationTest, ScopesAreCheckedBeforeExpiry) {
  const Principal caller = Caller({"read:tokens"}, Now() + absl::Hours(1));
  EXPECT_EQ(DelegationRuleOf(CheckTokenDelegation(
                caller, Spec({"write:tokens"}, std::nullopt))),
            DelegationRule::kScopeNotHeld);
}

// ----- Rule 3: reach ----------------------------------------------------------

TEST_F(DelegationTest, ReachOwnAccountAlwaysOtherOnlyWithMatchingScope) {
  struct Held {
    std::vector<std::string> scopes;
    bool read, write, del;  // reach on the other account per action
  };
  const Held helds[] = {
      {{"write:tokens"}, false, false, false},
      {{"read:tokens", "write:tokens", "delete:tokens"}, false, false, false},
      {{"read:service_accounts"}, true, false, false},
      {{"write:service_accounts"}, true, true, false},
      {{"delete:service_accounts"}, false, false, true},
      {{"read:*"}, true, false, false},
      {{"write:*"}, true, true, false},
      {{"write:*", "delete:service_accounts"}, true, true, true},
  };
  for (const Held& h : helds) {
    const Principal caller = Caller(h.scopes);
    ASSERT_TRUE(caller.valid());
    for (ScopeAction action :
         {ScopeAction::kRead, ScopeAction::kWrite, ScopeAction::kDelete}) {
      const std::string where =
          absl::StrCat(Describe(h.scopes), " action ", static_cast<int>(action));
      KG_EXPECT_OK(CheckServiceAccountReach(caller, kOwn, action));
      const bool expected = action == ScopeAction::kRead    ? h.read
                            : action == ScopeAction::kWrite ? h.write
                                                            : h.del;
      const absl::Status status =
          CheckServiceAccountReach(caller, kOther, action);
      EXPECT_EQ(status.ok(), expected) << where << ": " << status;
      if (!expected) {
        EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
        EXPECT_EQ(DelegationRuleOf(status),
                  DelegationRule::kOtherServiceAccount);
        const char* needed = action == ScopeAction::kRead
                                 ? "read:service_accounts"
                             : action == ScopeAction::kWrite
                                 ? "write:service_accounts"
                                 : "delete:service_accounts";
        EXPECT_EQ(DelegationScopeOf(status), needed) << where;
      }
    }
  }
}

TEST_F(DelegationTest, ReachComparesTheSlugExactly) {
  const Principal caller = Caller({"write:tokens"});
  for (std::string_view near :
       {"ACCT-OWN", "acct-own ", " acct-own", "acct-own/", "acct-ow", ""}) {
    EXPECT_EQ(DelegationRuleOf(
                  CheckServiceAccountReach(caller, near, ScopeAction::kWrite)),
              DelegationRule::kOtherServiceAccount)
        << absl::CEscape(std::string(near));
  }
  EXPECT_EQ(DelegationRuleOf(CheckServiceAccountReach(
                caller, std::string_view("acct-own\0", 9), ScopeAction::kRead)),
            DelegationRule::kOtherServiceAccount);
}

// ----- Rule 4: account updates ------------------------------------------------

TEST_F(DelegationTest, ReenableIsAlwaysRefused) {
  const Principal strongest =
      Caller({"write:*", "delete:service_accounts", "delete:tokens"});
  for (std::string_view account : {kOwn, kOther}) {
    const absl::Status status =
        CheckAccountUpdate(strongest, account, AccountUpdate::kEnable);
    EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
    EXPECT_EQ(DelegationRuleOf(status), DelegationRule::kReenableAccount);
    EXPECT_EQ(DelegationScopeOf(status), "");
  }
}

TEST_F(DelegationTest, DisableRenameDeleteFollowReach) {
  struct Case {
    std::vector<std::string> scopes;
    std::string_view account;
    AccountUpdate update;
    bool allowed;
  };
  const Case cases[] = {
      {{"write:tokens"}, kOwn, AccountUpdate::kDisable, true},
      {{"write:tokens"}, kOwn, AccountUpdate::kRename, true},
      {{"write:tokens"}, kOwn, AccountUpdate::kDelete, true},
      {{"write:tokens"}, kOther, AccountUpdate::kDisable, false},
      {{"write:tokens"}, kOther, AccountUpdate::kRename, false},
      {{"write:tokens"}, kOther, AccountUpdate::kDelete, false},
      {{"write:service_accounts"}, kOther, AccountUpdate::kDisable, true},
      {{"write:service_accounts"}, kOther, AccountUpdate::kRename, true},
      {{"write:service_accounts"}, kOther, AccountUpdate::kDelete, false},
      {{"read:service_accounts"}, kOther, AccountUpdate::kDisable, false},
      {{"delete:service_accounts"}, kOther, AccountUpdate::kDelete, true},
      {{"delete:service_accounts"}, kOther, AccountUpdate::kDisable, false},
      {{"write:*"}, kOther, AccountUpdate::kDisable, true},
      {{"write:*"}, kOther, AccountUpdate::kDelete, false},
  };
  for (const Case& c : cases) {
    const Principal caller = Caller(c.scopes);
    const absl::Status status = CheckAccountUpdate(caller, c.account, c.update);
    const std::string where =
        absl::StrCat(Describe(c.scopes), " on ", std::string(c.account),
                     " update ",
                     static_cast<int>(c.update));
    EXPECT_EQ(status.ok(), c.allowed) << where << ": " << status;
    if (!c.allowed) {
      EXPECT_EQ(DelegationRuleOf(status), DelegationRule::kOtherServiceAccount)
          << where;
    }
  }
}

// ----- Callers that are not tokens, out-of-range values ----------------------

TEST_F(DelegationTest, InvalidPrincipalFailsClosed) {
  const Principal none;
  const absl::Status checks[] = {
      CheckTokenDelegation(none, Spec({"read:tokens"})),
      CheckServiceAccountReach(none, kOwn, ScopeAction::kRead),
      CheckAccountUpdate(none, kOwn, AccountUpdate::kDisable),
  };
  for (const absl::Status& status : checks) {
    EXPECT_EQ(status.code(), absl::StatusCode::kInternal) << status;
    EXPECT_EQ(DelegationRuleOf(status), DelegationRule::kNone);
  }
}

TEST_F(DelegationTest, OutOfRangeEnumsFailClosed) {
  const Principal caller = Caller({"write:*"});
  EXPECT_EQ(DelegationRuleOf(CheckServiceAccountReach(
                caller, kOther, static_cast<ScopeAction>(7))),
            DelegationRule::kOtherServiceAccount);
  EXPECT_EQ(DelegationRuleOf(CheckAccountUpdate(
                caller, kOwn, static_cast<AccountUpdate>(9))),
            DelegationRule::kReenableAccount);
}

// ----- The reported attack, replayed through the store -----------------------

TEST_F(DelegationTest, ReportedAttackIsRefused) {
  // A token holding only write:tokens on its own account, expiring in 1 h.
  const Principal attacker = Caller({"write:tokens"}, Now() + absl::Hours(1));
  // Escalating its own account's scopes.
  EXPECT_EQ(DelegationRuleOf(CheckTokenDelegation(
                attacker, Spec({"write:*", "delete:service_accounts"},
                               Now() + absl::Minutes(30)))),
            DelegationRule::kScopeNotHeld);
  // Minting a token that never expires.
  EXPECT_EQ(DelegationRuleOf(
                CheckTokenDelegation(attacker, Spec({"read:tokens"}))),
            DelegationRule::kExpiryBeyondCaller);
  // Minting on, and revoking from, another account.
  EXPECT_EQ(DelegationRuleOf(
                CheckServiceAccountReach(attacker, kOther, ScopeAction::kWrite)),
            DelegationRule::kOtherServiceAccount);
  EXPECT_EQ(DelegationRuleOf(
                CheckServiceAccountReach(attacker, kOther, ScopeAction::kRead)),
            DelegationRule::kOtherServiceAccount);
}

TEST_F(DelegationTest, SelfServiceRotationStaysPossible) {
  const Principal caller =
      Caller({"write:tokens", "read:service_accounts"}, Now() + absl::Hours(1));
  const TokenSpec narrower = Spec({"read:tokens"}, Now() + absl::Minutes(30));
  KG_ASSERT_OK(CheckServiceAccountReach(caller, caller.service_account(),
                                        ScopeAction::kWrite));
  KG_ASSERT_OK(CheckTokenDelegation(caller, narrower));
  // Same scopes and expiry (a like-for-like replacement) is allowed too.
  KG_ASSERT_OK(CheckTokenDelegation(
      caller, Spec({"write:tokens"}, caller.expires_at())));
  // And the store accepts what delegation allowed; the new token works.
  KG_ASSERT_OK_AND_ASSIGN(
      CreatedToken minted,
      store_->CreateToken(caller.organization(), caller.service_account(),
                          narrower, "token:acct-own/caller"));
  KG_ASSERT_OK_AND_ASSIGN(Principal child,
                          store_->Verify(minted.value.view(), "read:tokens"));
  EXPECT_FALSE(child.HasScope("write:tokens"));
  // The narrower token cannot widen itself back.
  EXPECT_EQ(DelegationRuleOf(
                CheckTokenDelegation(child, Spec({"write:tokens"},
                                                 Now() + absl::Minutes(10)))),
            DelegationRule::kScopeNotHeld);
}

// ----- Status payloads --------------------------------------------------------

TEST(DelegationStatusTest, RuleOfIgnoresForgedOrForeignStatuses) {
  const char kRuleUrl[] = "type.keygate.dev/delegation-rule";
  EXPECT_EQ(DelegationRuleOf(absl::OkStatus()), DelegationRule::kNone);
  EXPECT_EQ(DelegationRuleOf(absl::PermissionDeniedError("x")),
            DelegationRule::kNone);
  EXPECT_EQ(DelegationRuleOf(internal::VerifyError(
                VerifyFailure::kInsufficientScope, "write:tokens")),
            DelegationRule::kNone);
  auto forged = [&](absl::StatusCode code, std::string payload) {
    absl::Status s(code, "forged");
    s.SetPayload(kRuleUrl, absl::Cord(payload));
    return DelegationRuleOf(s);
  };
  EXPECT_EQ(forged(absl::StatusCode::kPermissionDenied, std::string(1, '\1')),
            DelegationRule::kScopeNotHeld);
  // The code must agree; the byte must be in range; exactly one byte.
  EXPECT_EQ(forged(absl::StatusCode::kInvalidArgument, std::string(1, '\1')),
            DelegationRule::kNone);
  EXPECT_EQ(forged(absl::StatusCode::kPermissionDenied, std::string(1, '\0')),
            DelegationRule::kNone);
  EXPECT_EQ(forged(absl::StatusCode::kPermissionDenied, std::string(1, '\5')),
            DelegationRule::kNone);
  EXPECT_EQ(forged(absl::StatusCode::kPermissionDenied, std::string(1, '\xff')),
            DelegationRule::kNone);
  EXPECT_EQ(forged(absl::StatusCode::kPermissionDenied, "\1\1"),
            DelegationRule::kNone);
  EXPECT_EQ(forged(absl::StatusCode::kPermissionDenied, ""),
            DelegationRule::kNone);
}

TEST(DelegationStatusTest, RuleNamesAreStable) {
  EXPECT_EQ(DelegationRuleName(DelegationRule::kNone), "none");
  EXPECT_EQ(DelegationRuleName(DelegationRule::kScopeNotHeld),
            "scope_not_held");
  EXPECT_EQ(DelegationRuleName(DelegationRule::kExpiryBeyondCaller),
            "expiry_beyond_caller");
  EXPECT_EQ(DelegationRuleName(DelegationRule::kOtherServiceAccount),
            "other_service_account");
  EXPECT_EQ(DelegationRuleName(DelegationRule::kReenableAccount),
            "reenable_account");
  EXPECT_EQ(DelegationRuleName(static_cast<DelegationRule>(42)), "none");
}

// A forged delegation status: rule byte `rule`, scope payload `scope`.
absl::Status ForgedRefusal(DelegationRule rule, std::string scope) {
  absl::Status s = absl::PermissionDeniedError("forged; secret internal text");
  s.SetPayload("type.keygate.dev/delegation-rule",
               absl::Cord(std::string(1, static_cast<char>(rule))));
  s.SetPayload("type.keygate.dev/delegation-scope", absl::Cord(scope));
  return s;
}

TEST(DelegationStatusTest, ScopeOfEchoesOnlyWellFormedScopes) {
  EXPECT_EQ(DelegationScopeOf(
                ForgedRefusal(DelegationRule::kScopeNotHeld, "write:*")),
            "write:*");
  for (const std::string& bad :
       {std::string("write:tokens\", error=\"x"), std::string("delete:*"),
        std::string("read:Tokens"), std::string("read:tokens\r\n"),
        std::string("write:") + std::string(65, 'a'), std::string(1000, 'r'),
        std::string("")}) {
    EXPECT_EQ(DelegationScopeOf(
                  ForgedRefusal(DelegationRule::kScopeNotHeld, bad)),
              "")
        << absl::CEscape(bad);
  }
  // Only the two rules that name a scope ever return one.
  EXPECT_EQ(DelegationScopeOf(ForgedRefusal(DelegationRule::kReenableAccount,
                                            "write:tokens")),
            "");
  EXPECT_EQ(DelegationScopeOf(ForgedRefusal(
                DelegationRule::kExpiryBeyondCaller, "write:tokens")),
            "");
}

// ----- Problem details --------------------------------------------------------

const std::pair<std::string, std::string> kContentType = {
    "Content-Type", "application/problem+json"};

TEST_F(DelegationTest, EveryRuleIsA403DelegationProblemWithoutChallenge) {
  const Principal caller = Caller({"write:tokens"}, Now() + absl::Hours(1));
  struct Case {
    absl::Status status;
    std::string detail;
  };
  const Case cases[] = {
      {CheckTokenDelegation(caller, Spec({"delete:service_accounts"},
                                         Now() + absl::Minutes(1))),
       "delegation: a token cannot grant scope \"delete:service_accounts\", "
       "which it does not hold"},
      {CheckTokenDelegation(caller, Spec({"read:tokens\"\n"},
                                         Now() + absl::Minutes(1))),
       "delegation: a token cannot grant a scope it does not hold"},
      {CheckTokenDelegation(caller, Spec({"read:tokens"})),
       "delegation: a token cannot create a token that expires later than "
       "itself, or never"},
      {CheckTokenDelegation(caller, Spec({"read:tokens"},
                                         Now() + absl::Hours(2))),
       "delegation: a token cannot create a token that expires later than "
       "itself, or never"},
      {CheckServiceAccountReach(caller, kOther, ScopeAction::kWrite),
       "delegation: a token acts on its own service account only; another "
       "account requires scope \"write:service_accounts\""},
      {CheckServiceAccountReach(caller, kOther, ScopeAction::kRead),
       "delegation: a token acts on its own service account only; another "
       "account requires scope \"read:service_accounts\""},
      {CheckAccountUpdate(caller, kOther, AccountUpdate::kDelete),
       "delegation: a token acts on its own service account only; another "
       "account requires scope \"delete:service_accounts\""},
      {CheckAccountUpdate(caller, kOwn, AccountUpdate::kEnable),
       "delegation: a token cannot re-enable a service account"},
  };
  for (const Case& c : cases) {
    ASSERT_EQ(c.status.code(), absl::StatusCode::kPermissionDenied)
        << c.status;
    ProblemContext context;
    context.instance = "/service-accounts/acct-other/tokens";
    const Problem problem = ProblemFromStatus(c.status, context);
    EXPECT_EQ(problem.status, 403);
    EXPECT_EQ(problem.title, "Forbidden");
    EXPECT_EQ(problem.type, "https://keygate.dev/problems/delegation-denied");
    EXPECT_EQ(problem.detail, c.detail);
    EXPECT_EQ(problem.instance, context.instance);
    EXPECT_TRUE(problem.errors.empty());
    // No insufficient_scope (nor any) challenge: the route scope was held.
    EXPECT_THAT(problem.headers, ElementsAre(kContentType)) << c.detail;
  }
}

TEST(DelegationProblemTest, ExactJsonBody) {
  const Problem problem = ProblemFromStatus(
      ForgedRefusal(DelegationRule::kScopeNotHeld, "write:*"));
  EXPECT_EQ(ProblemToJson(problem),
            R"({"type":"https://keygate.dev/problems/delegation-denied",)"
            R"("title":"Forbidden","status":403,)"
            R"("detail":"delegation: a token cannot grant scope \"write:*\", )"
            R"(which it does not hold"})");
}

TEST(DelegationProblemTest, ForgedHostileScopeIsNeverEchoed) {
  for (DelegationRule rule :
       {DelegationRule::kScopeNotHeld, DelegationRule::kOtherServiceAccount}) {
    const Problem problem = ProblemFromStatus(
        ForgedRefusal(rule, "write:tokens\", error=\"x\r\nSet-Cookie: a=b"));
    EXPECT_EQ(problem.status, 403);
    EXPECT_THAT(problem.detail, Not(HasSubstr("Set-Cookie")));
    EXPECT_THAT(problem.detail, Not(HasSubstr("secret")));
    EXPECT_THAT(problem.headers, ElementsAre(kContentType));
  }
  EXPECT_EQ(ProblemFromStatus(ForgedRefusal(DelegationRule::kScopeNotHeld,
                                            "bad scope"))
                .detail,
            "delegation: a token cannot grant a scope it does not hold");
  EXPECT_EQ(ProblemFromStatus(ForgedRefusal(
                DelegationRule::kOtherServiceAccount, "bad scope"))
                .detail,
            "delegation: a token acts on its own service account only");
}

TEST(DelegationProblemTest, InsufficientScopeMappingIsUnchanged) {
  const Problem problem = ProblemFromStatus(internal::VerifyError(
      VerifyFailure::kInsufficientScope, "write:tokens"));
  EXPECT_EQ(problem.status, 403);
  EXPECT_EQ(problem.type, "https://keygate.dev/problems/insufficient-scope");
  EXPECT_EQ(problem.detail, "insufficient scope: requires write:tokens");
  EXPECT_THAT(problem.headers,
              ElementsAre(kContentType,
                          Pair("WWW-Authenticate",
                               "Bearer realm=\"keygate\", "
                               "error=\"insufficient_scope\", "
                               "scope=\"write:tokens\"")));
  // A PermissionDenied without any payload keeps the old answer too.
  const Problem bare =
      ProblemFromStatus(absl::PermissionDeniedError("no payload"));
  EXPECT_EQ(bare.type, "https://keygate.dev/problems/insufficient-scope");
  EXPECT_EQ(bare.detail, "insufficient scope");
  EXPECT_THAT(bare.headers,
              ElementsAre(kContentType,
                          Pair("WWW-Authenticate",
                               "Bearer realm=\"keygate\", "
                               "error=\"insufficient_scope\"")));
}

}  // namespace
}  // namespace keygate

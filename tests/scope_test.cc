// tests/scope_test.cc: the scope grammar and what a compiled mask grants.
#include "lib/scope/scope.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"

namespace keygate::scope {
namespace {

class ScopeTest : public ::testing::Test {
 protected:
  ScopeTest() : catalog_({"service_accounts", "tokens", "billing"}) {}

  // GrantsScope compiles `granted` and checks `required` against it.
  bool GrantsScope(const std::vector<std::string>& granted,
                   std::string_view required) const {
    std::optional<RequiredScope> parsed = catalog_.Parse(required);
    EXPECT_TRUE(parsed.has_value()) << required;
    if (!parsed) return false;
    return catalog_.Grants(catalog_.Compile(granted), *parsed);
  }

  ScopeCatalog catalog_;
};

TEST_F(ScopeTest, ParsesActionsAndModules) {
  std::optional<RequiredScope> s = catalog_.Parse("read:tokens");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->action, Action::kRead);
  EXPECT_EQ(s->module, 1);
  s = catalog_.Parse("write:service_accounts");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->action, Action::kWrite);
  EXPECT_EQ(s->module, 0);
  s = catalog_.Parse("delete:billing");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->action, Action::kDelete);
  EXPECT_EQ(s->module, 2);
}

TEST_F(ScopeTest, ParsesWildcards) {
  std::optional<RequiredScope> s = catalog_.Parse("read:*");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->action, Action::kRead);
  EXPECT_EQ(s->module, kAnyModule);
  s = catalog_.Parse("write:*");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->action, Action::kWrite);
  EXPECT_EQ(s->module, kAnyModule);
}

TEST_F(ScopeTest, RejectsMalformedScopes) {
  for (std::string_view bad : {
           "",
           "delete:*",
           "read:",
           ":x",
           ":",
           "read",
           "tokens",
           "READ:tokens",
           "Read:tokens",
           "read:Tokens",
           "read: tokens",
           " read:tokens",
           "read:tokens ",
           "read :tokens",
           "read:tokens\n",
           "read::tokens",
           "read:tokens:extra",
           "read:**",
           "read:*x",
           "admin:tokens",
           "read:unknown",
           "read:token",
           "read:tokens2",
           "execute:billing",
       }) {
    EXPECT_FALSE(catalog_.Parse(bad).has_value()) << "'" << bad << "'";
  }
  EXPECT_FALSE(catalog_.Parse(std::string_view("read:tokens\0", 12)));
  EXPECT_FALSE(catalog_.Parse(std::string_view("read\0:tokens", 12)));
  EXPECT_FALSE(catalog_.Parse("read:\xc3\xa9"));
  EXPECT_FALSE(catalog_.Parse(std::string(1 << 20, 'r')));
}

TEST(ModuleNameTest, Rules) {
  EXPECT_TRUE(IsValidModuleName("a"));
  EXPECT_TRUE(IsValidModuleName("tokens"));
  EXPECT_TRUE(IsValidModuleName("service_accounts"));
  EXPECT_TRUE(IsValidModuleName("v2_api"));
  EXPECT_TRUE(IsValidModuleName(std::string(64, 'm')));
  EXPECT_FALSE(IsValidModuleName(""));
  EXPECT_FALSE(IsValidModuleName(std::string(65, 'm')));
  EXPECT_FALSE(IsValidModuleName("2fa"));
  EXPECT_FALSE(IsValidModuleName("_x"));
  EXPECT_FALSE(IsValidModuleName("Tokens"));
  EXPECT_FALSE(IsValidModuleName("to-kens"));
  EXPECT_FALSE(IsValidModuleName("*"));
  EXPECT_FALSE(IsValidModuleName("a b"));
}

TEST_F(ScopeTest, ExactScopeGrantsItself) {
  EXPECT_TRUE(GrantsScope({"read:tokens"}, "read:tokens"));
  EXPECT_TRUE(GrantsScope({"delete:billing"}, "delete:billing"));
  EXPECT_FALSE(GrantsScope({"read:tokens"}, "read:billing"));
  EXPECT_FALSE(GrantsScope({}, "read:tokens"));
}

TEST_F(ScopeTest, WriteImpliesReadButNotDelete) {
  EXPECT_TRUE(GrantsScope({"write:tokens"}, "write:tokens"));
  EXPECT_TRUE(GrantsScope({"write:tokens"}, "read:tokens"));
  EXPECT_FALSE(GrantsScope({"write:tokens"}, "delete:tokens"));
  EXPECT_FALSE(GrantsScope({"write:tokens"}, "read:billing"));
  EXPECT_FALSE(GrantsScope({"read:tokens"}, "write:tokens"));
  EXPECT_FALSE(GrantsScope({"delete:tokens"}, "read:tokens"));
  EXPECT_FALSE(GrantsScope({"delete:tokens"}, "write:tokens"));
}

TEST_F(ScopeTest, WriteWildcardCoversReadAndWriteOfEveryModuleButNotDelete) {
  for (std::string_view module : {"service_accounts", "tokens", "billing"}) {
    const std::string m(module);
    EXPECT_TRUE(GrantsScope({"write:*"}, "read:" + m));
    EXPECT_TRUE(GrantsScope({"write:*"}, "write:" + m));
    EXPECT_FALSE(GrantsScope({"write:*"}, "delete:" + m));
    EXPECT_TRUE(GrantsScope({"read:*"}, "read:" + m));
    EXPECT_FALSE(GrantsScope({"read:*"}, "write:" + m));
  }
  EXPECT_TRUE(GrantsScope({"write:*"}, "read:*"));
  EXPECT_TRUE(GrantsScope({"write:*"}, "write:*"));
  EXPECT_TRUE(GrantsScope({"read:*"}, "read:*"));
  EXPECT_FALSE(GrantsScope({"read:*"}, "write:*"));
}

TEST_F(ScopeTest, WildcardRequirementNeedsFullCoverage) {
  EXPECT_FALSE(GrantsScope({"read:tokens", "read:billing"}, "read:*"));
  EXPECT_TRUE(GrantsScope({"read:tokens", "read:billing",
                           "read:service_accounts"},
                          "read:*"));
  EXPECT_TRUE(GrantsScope({"write:tokens", "write:billing",
                           "read:service_accounts"},
                          "read:*"));
  EXPECT_FALSE(GrantsScope({"write:tokens", "write:billing",
                            "read:service_accounts"},
                           "write:*"));
  EXPECT_TRUE(GrantsScope({"write:tokens", "write:billing",
                           "write:service_accounts"},
                          "write:*"));
  EXPECT_FALSE(GrantsScope({"delete:tokens", "delete:billing",
                            "delete:service_accounts"},
                           "read:*"));
}

TEST_F(ScopeTest, CompileIgnoresInvalidScopes) {
  const ScopeMask mask =
      catalog_.Compile({"delete:*", "read:unknown", "READ:tokens", ""});
  EXPECT_EQ(mask.read, 0u);
  EXPECT_EQ(mask.write, 0u);
  EXPECT_EQ(mask.del, 0u);
}

TEST_F(ScopeTest, CompileSetsOneBitPerModule) {
  const ScopeMask mask =
      catalog_.Compile({"write:billing", "read:service_accounts",
                        "delete:tokens"});
  EXPECT_EQ(mask.read, 0b101u);
  EXPECT_EQ(mask.write, 0b100u);
  EXPECT_EQ(mask.del, 0b010u);
}

TEST(ScopeCatalogTest, SixtyFourModulesUseEveryBit) {
  std::vector<std::string> modules;
  for (int i = 0; i < 64; ++i) modules.push_back("m" + std::to_string(i));
  const ScopeCatalog catalog(modules);
  std::vector<std::string> all_but_last;
  for (int i = 0; i < 63; ++i) all_but_last.push_back("read:m" + std::to_string(i));
  std::optional<RequiredScope> any = catalog.Parse("read:*");
  ASSERT_TRUE(any);
  EXPECT_FALSE(catalog.Grants(catalog.Compile(all_but_last), *any));
  all_but_last.push_back("read:m63");
  EXPECT_TRUE(catalog.Grants(catalog.Compile(all_but_last), *any));
  std::optional<RequiredScope> last = catalog.Parse("write:m63");
  ASSERT_TRUE(last);
  EXPECT_EQ(last->module, 63);
  EXPECT_TRUE(catalog.Grants(catalog.Compile({"write:*"}), *last));
  EXPECT_FALSE(catalog.Grants(catalog.Compile({"write:m62"}), *last));
}

TEST(ScopeCatalogTest, EmptyCatalogGrantsNoWildcard) {
  // With no modules there is nothing a wildcard could cover; an empty mask
  // must still not pass a "read:*" requirement.
  const ScopeCatalog catalog({});
  std::optional<RequiredScope> any = catalog.Parse("read:*");
  ASSERT_TRUE(any);
  EXPECT_FALSE(catalog.Grants(ScopeMask{}, *any));
  EXPECT_FALSE(catalog.Parse("read:tokens"));
}

}  // namespace
}  // namespace keygate::scope

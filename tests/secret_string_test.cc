// tests/secret_string_test.cc: SecretString ownership and content.
#include "keygate/secret_string.h"

#include <string>
#include <type_traits>
#include <utility>

#include "gtest/gtest.h"

namespace keygate {
namespace {

static_assert(!std::is_copy_constructible_v<SecretString>);
static_assert(!std::is_copy_assignable_v<SecretString>);
static_assert(std::is_nothrow_move_constructible_v<SecretString>);
static_assert(std::is_nothrow_move_assignable_v<SecretString>);

TEST(SecretStringTest, DefaultIsEmpty) {
  SecretString s;
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(s.size(), 0u);
  EXPECT_EQ(s.view(), "");
}

TEST(SecretStringTest, EmptyValue) {
  SecretString s{std::string_view()};
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(s.view(), "");
}

TEST(SecretStringTest, HoldsACopyOfTheValue) {
  std::string original = "kg_secret";
  SecretString s(original);
  original[0] = 'X';  // the caller's copy is independent
  EXPECT_EQ(s.view(), "kg_secret");
  EXPECT_EQ(s.size(), 9u);
  EXPECT_FALSE(s.empty());
  EXPECT_NE(static_cast<const void*>(s.view().data()),
            static_cast<const void*>(original.data()));
}

TEST(SecretStringTest, KeepsEmbeddedNulBytes) {
  const std::string value("a\0b", 3);
  SecretString s(value);
  EXPECT_EQ(s.size(), 3u);
  EXPECT_EQ(s.view(), value);
}

TEST(SecretStringTest, MoveConstructionTransfersAndEmptiesSource) {
  SecretString a(std::string_view("token-a"));
  const char* buffer = a.view().data();
  SecretString b(std::move(a));
  EXPECT_EQ(b.view(), "token-a");
  EXPECT_EQ(b.view().data(), buffer);  // no copy of the secret was made
  EXPECT_TRUE(a.empty());              // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(a.view(), "");             // NOLINT(bugprone-use-after-move)
}

TEST(SecretStringTest, MoveAssignmentReplacesAndEmptiesSource) {
  SecretString a(std::string_view("token-a"));
  SecretString b(std::string_view("longer-token-b"));
  b = std::move(a);
  EXPECT_EQ(b.view(), "token-a");
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move)
  b = SecretString();
  EXPECT_TRUE(b.empty());
}

TEST(SecretStringTest, SelfMoveAssignmentKeepsValue) {
  SecretString a(std::string_view("token-a"));
  SecretString& ref = a;
  a = std::move(ref);
  EXPECT_EQ(a.view(), "token-a");
}

TEST(SecretStringTest, LargeValue) {
  const std::string big(1 << 20, 'x');
  SecretString s(big);
  EXPECT_EQ(s.size(), big.size());
  EXPECT_EQ(s.view(), big);
}

}  // namespace
}  // namespace keygate

// tests/secret_string_test.cc: SecretString ownership, content, and the
// wiping of every buffer it gives back to the allocator.
#include "keygate/secret_string.h"

#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <type_traits>
#include <utility>

#include "gtest/gtest.h"

// The wipe is observed at the allocator: this binary replaces the array
// forms of operator new and delete (SecretString's buffer is a char[]), and
// operator delete[] copies the buffer being freed, if it is the watched one,
// before freeing it. So the tests see what the secret's memory held when it
// was returned, through SecretString's own destructor and assignments,
// without reading freed memory.
namespace {

constexpr size_t kMaxWatched = 256;
const void* g_watched = nullptr;
size_t g_watched_size = 0;
bool g_freed = false;
char g_freed_bytes[kMaxWatched];

void CaptureIfWatched(void* p) noexcept {
  if (p != nullptr && p == g_watched) {
    std::memcpy(g_freed_bytes, p, g_watched_size);
    g_freed = true;
    g_watched = nullptr;
  }
}

}  // namespace

void* operator new[](std::size_t size) {
  void* p = std::malloc(size == 0 ? 1 : size);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
void operator delete[](void* p) noexcept {
  CaptureIfWatched(p);
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  CaptureIfWatched(p);
  std::free(p);
}

namespace keygate {
namespace {

// Watch arms the allocator hook for the buffer behind `s`.
void Watch(const SecretString& s) {
  ASSERT_LE(s.size(), kMaxWatched);
  g_watched = s.view().data();
  g_watched_size = s.size();
  g_freed = false;
  std::memset(g_freed_bytes, 0x5a, sizeof(g_freed_bytes));
}

// FreedAllZero reports whether the watched buffer was freed, and all zero.
::testing::AssertionResult FreedAllZero() {
  if (!g_freed) return ::testing::AssertionFailure() << "buffer not freed";
  for (size_t i = 0; i < g_watched_size; ++i) {
    if (g_freed_bytes[i] != 0) {
      // The byte's position only: the content is the secret.
      return ::testing::AssertionFailure()
             << "byte " << i << " of " << g_watched_size
             << " still set when the buffer was freed";
    }
  }
  return ::testing::AssertionSuccess();
}

constexpr std::string_view kSecret =
    "kg_1abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ012345";

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

TEST(SecretStringWipeTest, HookSeesAnUnwipedBuffer) {
  // The hook itself works: a plain char[] freed unwiped is seen as such, so
  // the tests below cannot pass for want of looking.
  auto plain = std::make_unique<char[]>(kSecret.size());
  std::memcpy(plain.get(), kSecret.data(), kSecret.size());
  // The store must happen: the pointer escapes to the optimizer.
  asm volatile("" : : "r"(plain.get()) : "memory");
  g_watched = plain.get();
  g_watched_size = kSecret.size();
  g_freed = false;
  plain.reset();
  EXPECT_TRUE(g_freed);
  EXPECT_FALSE(FreedAllZero());
}

TEST(SecretStringWipeTest, DestructionWipesTheBuffer) {
  auto s = std::make_unique<SecretString>(kSecret);
  Watch(*s);
  s.reset();
  EXPECT_TRUE(FreedAllZero());
}

TEST(SecretStringWipeTest, MoveAssignmentWipesTheReplacedValue) {
  SecretString target(kSecret);
  SecretString source(std::string_view("replacement"));
  Watch(target);
  target = std::move(source);
  EXPECT_TRUE(FreedAllZero());
  EXPECT_EQ(target.view(), "replacement");
}

TEST(SecretStringWipeTest, ReassignmentFromATemporaryWipesTheOldValue) {
  SecretString s(kSecret);
  Watch(s);
  s = SecretString(std::string_view("second"));
  EXPECT_TRUE(FreedAllZero());
  EXPECT_EQ(s.view(), "second");
}

TEST(SecretStringWipeTest, ClearingByAssigningEmptyWipes) {
  SecretString s(kSecret);
  Watch(s);
  s = SecretString();
  EXPECT_TRUE(FreedAllZero());
  EXPECT_TRUE(s.empty());
}

TEST(SecretStringWipeTest, MovedFromOwnsNothingAndTheNewOwnerWipes) {
  auto source = std::make_unique<SecretString>(kSecret);
  Watch(*source);
  SecretString owner(std::move(*source));
  // The moved-from object gives back nothing when it dies: the one buffer
  // now belongs to `owner` (it was handed over, not copied).
  source.reset();
  EXPECT_FALSE(g_freed);
  {
    SecretString dying(std::move(owner));
    EXPECT_EQ(dying.view(), kSecret);
  }
  EXPECT_TRUE(FreedAllZero());
}

TEST(SecretStringWipeTest, MoveAssignedFromOwnsNothing) {
  SecretString source(kSecret);
  Watch(source);
  auto target = std::make_unique<SecretString>();
  *target = std::move(source);
  EXPECT_FALSE(g_freed);
  EXPECT_TRUE(source.empty());  // NOLINT(bugprone-use-after-move)
  target.reset();
  EXPECT_TRUE(FreedAllZero());
}

}  // namespace
}  // namespace keygate

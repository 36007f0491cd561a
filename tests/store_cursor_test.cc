// tests/store_cursor_test.cc: opaque keyset cursors round-trip, and only
// canonical cursors of the right list are accepted.
#include "lib/store/cursor.h"

#include <optional>
#include <random>
#include <string>
#include <string_view>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"

namespace keygate::store {
namespace {

std::string Base64(std::string_view raw) {
  return absl::WebSafeBase64Escape(absl::string_view(raw.data(), raw.size()));
}

TEST(CursorTest, RoundTripsBothKinds) {
  for (CursorKind kind : {CursorKind::kServiceAccounts, CursorKind::kTokens}) {
    for (const std::string position :
         {std::string("a"), std::string("my-account"),
          std::string("\x00\x01\xff\xfe" "12345678slug", 16),
          std::string(100, 'z')}) {
      const std::string cursor = EncodeCursor(kind, position);
      std::optional<std::string> decoded = DecodeCursor(kind, cursor);
      ASSERT_TRUE(decoded.has_value());
      EXPECT_EQ(*decoded, position);
    }
  }
}

TEST(CursorTest, IsUrlSafeAndOpaque) {
  const std::string cursor =
      EncodeCursor(CursorKind::kTokens, std::string("\xfb\xff\xfe\x3e", 4));
  EXPECT_EQ(cursor.find_first_not_of(
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                "0123456789-_"),
            std::string::npos)
      << cursor;
  EXPECT_EQ(EncodeCursor(CursorKind::kServiceAccounts, "acct").find("acct"),
            std::string::npos);
}

TEST(CursorTest, KindMismatchIsRefused) {
  const std::string accounts = EncodeCursor(CursorKind::kServiceAccounts, "sa");
  const std::string tokens = EncodeCursor(CursorKind::kTokens, "sa");
  EXPECT_FALSE(DecodeCursor(CursorKind::kTokens, accounts));
  EXPECT_FALSE(DecodeCursor(CursorKind::kServiceAccounts, tokens));
}

TEST(CursorTest, NonCanonicalBase64IsRefused) {
  const std::string cursor = EncodeCursor(CursorKind::kTokens, "abcde");
  ASSERT_TRUE(DecodeCursor(CursorKind::kTokens, cursor));
  // Padded form of the same bytes (7 raw bytes: 10 chars, 12 padded).
  std::string padded = cursor;
  while (padded.size() % 4 != 0) padded.push_back('=');
  ASSERT_NE(padded, cursor);
  EXPECT_FALSE(DecodeCursor(CursorKind::kTokens, padded));
  // Standard (non web-safe) alphabet.
  const std::string raw = std::string("\x01t", 2) + "\xfb\xff";
  const std::string web = Base64(raw);
  std::string standard = web;
  for (char& c : standard) {
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  ASSERT_TRUE(DecodeCursor(CursorKind::kTokens, web));
  if (standard != web) {
    EXPECT_FALSE(DecodeCursor(CursorKind::kTokens, standard));
  }
  // Non-zero trailing bits in the last character decode to the same bytes
  // in lenient decoders; only the canonical spelling is accepted.
  const std::string five_bytes = EncodeCursor(CursorKind::kTokens, "abc");
  ASSERT_EQ(five_bytes.size(), 7u);  // 40 bits in 42: two trailing zero bits
  std::string sloppy = five_bytes;
  char& last = sloppy.back();
  const std::string alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const size_t index = alphabet.find(last);
  ASSERT_NE(index, std::string::npos);
  last = alphabet[index ^ 1];
  EXPECT_FALSE(DecodeCursor(CursorKind::kTokens, sloppy)) << sloppy;
  // Whitespace around or inside.
  EXPECT_FALSE(DecodeCursor(CursorKind::kTokens, " " + cursor));
  EXPECT_FALSE(DecodeCursor(CursorKind::kTokens, cursor + "\n"));
  EXPECT_FALSE(DecodeCursor(CursorKind::kTokens,
                            cursor.substr(0, 2) + " " + cursor.substr(2)));
}

TEST(CursorTest, GarbageIsRefused) {
  for (std::string_view bad :
       {"", "!", "@@@@", "a", "====", "AQ", "not a cursor", "\xff\xfe"}) {
    EXPECT_FALSE(DecodeCursor(CursorKind::kTokens, bad)) << bad;
    EXPECT_FALSE(DecodeCursor(CursorKind::kServiceAccounts, bad)) << bad;
  }
  EXPECT_FALSE(DecodeCursor(CursorKind::kTokens, std::string_view("AXQA\0", 5)));
  // Valid base64 of too-short or wrong-version payloads.
  EXPECT_FALSE(DecodeCursor(CursorKind::kTokens, Base64(std::string("\x01t", 2))));
  EXPECT_FALSE(DecodeCursor(CursorKind::kTokens, Base64("\x02tabc")));
  EXPECT_FALSE(DecodeCursor(CursorKind::kTokens, Base64(std::string("\0tabc", 5))));
  EXPECT_FALSE(DecodeCursor(CursorKind::kTokens, Base64("\x01xabc")));
}

TEST(CursorTest, OversizeIsRefused) {
  // The longest acceptable encoding is accepted, one more char is not.
  const size_t raw_max = kMaxCursorSize / 4 * 3 - 2;  // 384 raw bytes -> 512
  const std::string fits =
      EncodeCursor(CursorKind::kTokens, std::string(raw_max, 'p'));
  ASSERT_LE(fits.size(), kMaxCursorSize);
  EXPECT_TRUE(DecodeCursor(CursorKind::kTokens, fits));
  const std::string too_big =
      EncodeCursor(CursorKind::kTokens, std::string(raw_max + 1, 'p'));
  ASSERT_GT(too_big.size(), kMaxCursorSize);
  EXPECT_FALSE(DecodeCursor(CursorKind::kTokens, too_big));
  EXPECT_FALSE(DecodeCursor(CursorKind::kTokens, std::string(1 << 20, 'A')));
}

TEST(CursorTest, RandomInputNeverCrashes) {
  std::mt19937 rng(99);
  const std::string alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/ \0";
  std::uniform_int_distribution<size_t> pick(0, alphabet.size() - 1);
  std::uniform_int_distribution<int> length(0, 64);
  for (int i = 0; i < 20000; ++i) {
    std::string cursor(length(rng), 'A');
    for (char& c : cursor) c = alphabet[pick(rng)];
    std::optional<std::string> position =
        DecodeCursor(CursorKind::kTokens, cursor);
    if (position) {
      // Anything accepted is the canonical encoding of what it decodes to.
      EXPECT_EQ(EncodeCursor(CursorKind::kTokens, *position), cursor);
    }
  }
}

}  // namespace
}  // namespace keygate::store

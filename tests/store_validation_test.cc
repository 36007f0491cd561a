// tests/store_validation_test.cc: UTF-8, slug and text rules of the store's
// inputs, and slug derivation from display names.
#include "lib/store/validation.h"
#include "lib/store/slugs.h"

#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"
#include "keygate/errors.h"
#include "keygate/validation.h"

namespace keygate::store {
namespace {

TEST(Utf8Test, AcceptsWellFormedSequences) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8(std::string_view("nul\0inside", 10)));
  EXPECT_TRUE(IsValidUtf8("\x7f"));
  EXPECT_TRUE(IsValidUtf8("\xc2\x80"));          // U+0080, smallest 2-byte
  EXPECT_TRUE(IsValidUtf8("\xc3\xa9"));          // é
  EXPECT_TRUE(IsValidUtf8("\xdf\xbf"));          // U+07FF
  EXPECT_TRUE(IsValidUtf8("\xe0\xa0\x80"));      // U+0800, smallest 3-byte
  EXPECT_TRUE(IsValidUtf8("\xe2\x82\xac"));      // €
  EXPECT_TRUE(IsValidUtf8("\xed\x9f\xbf"));      // U+D7FF, below surrogates
  EXPECT_TRUE(IsValidUtf8("\xee\x80\x80"));      // U+E000, above surrogates
  EXPECT_TRUE(IsValidUtf8("\xef\xbf\xbf"));      // U+FFFF
  EXPECT_TRUE(IsValidUtf8("\xf0\x90\x80\x80"));  // U+10000, smallest 4-byte
  EXPECT_TRUE(IsValidUtf8("\xf0\x9f\x94\x91"));  // 🔑
  EXPECT_TRUE(IsValidUtf8("\xf4\x8f\xbf\xbf"));  // U+10FFFF, the last
  EXPECT_TRUE(IsValidUtf8("a\xc3\xa9z\xf0\x9f\x94\x91!"));
}

TEST(Utf8Test, RejectsOverlongEncodings) {
  EXPECT_FALSE(IsValidUtf8("\xc0\x80"));          // NUL, overlong
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // '/', overlong
  EXPECT_FALSE(IsValidUtf8("\xc1\xbf"));
  EXPECT_FALSE(IsValidUtf8("\xe0\x80\x80"));
  EXPECT_FALSE(IsValidUtf8("\xe0\x9f\xbf"));      // U+07FF in 3 bytes
  EXPECT_FALSE(IsValidUtf8("\xf0\x80\x80\x80"));
  EXPECT_FALSE(IsValidUtf8("\xf0\x8f\xbf\xbf"));  // U+FFFF in 4 bytes
}

TEST(Utf8Test, RejectsSurrogates) {
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));  // U+D800
  EXPECT_FALSE(IsValidUtf8("\xed\xaf\xbf"));  // U+DBFF
  EXPECT_FALSE(IsValidUtf8("\xed\xb0\x80"));  // U+DC00
  EXPECT_FALSE(IsValidUtf8("\xed\xbf\xbf"));  // U+DFFF
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\xbd\xed\xb4\x91"));  // CESU-8 pair
}

TEST(Utf8Test, RejectsCodePointsPastTheLast) {
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // U+110000
  EXPECT_FALSE(IsValidUtf8("\xf7\xbf\xbf\xbf"));
  EXPECT_FALSE(IsValidUtf8("\xf8\x88\x80\x80\x80"));  // 5-byte form
  EXPECT_FALSE(IsValidUtf8("\xfc\x84\x80\x80\x80\x80"));
  EXPECT_FALSE(IsValidUtf8("\xfe"));
  EXPECT_FALSE(IsValidUtf8("\xff"));
}

TEST(Utf8Test, RejectsTruncatedAndBrokenSequences) {
  EXPECT_FALSE(IsValidUtf8("\xc3"));
  EXPECT_FALSE(IsValidUtf8("\xe2\x82"));
  EXPECT_FALSE(IsValidUtf8("\xf0\x9f\x94"));
  EXPECT_FALSE(IsValidUtf8("abc\xf0"));
  EXPECT_FALSE(IsValidUtf8("\x80"));              // lone continuation
  EXPECT_FALSE(IsValidUtf8("a\xbf" "b"));
  EXPECT_FALSE(IsValidUtf8("\xc3(" ));            // continuation missing
  EXPECT_FALSE(IsValidUtf8("\xe2\x28\xa1"));
  EXPECT_FALSE(IsValidUtf8("\xf0\x9f\x94z"));
  // Every strict prefix of a multi-byte character is refused.
  const std::string key = "\xf0\x9f\x94\x91";
  for (size_t n = 1; n < key.size(); ++n) {
    EXPECT_FALSE(IsValidUtf8(key.substr(0, n))) << n;
    EXPECT_FALSE(IsValidUtf8("x" + key.substr(0, n) + "y")) << n;
  }
}

TEST(Utf8Test, AgreesWithAReferenceDecoderOnRandomInput) {
  // A straightforward reference: decode per RFC 3629 table 3.
  auto reference = [](std::string_view s) {
    size_t i = 0;
    auto at = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    auto cont = [&](size_t k, unsigned lo, unsigned hi) {
      return k < s.size() && at(k) >= lo && at(k) <= hi;
    };
    while (i < s.size()) {
      const unsigned c = at(i);
      if (c <= 0x7f) {
        i += 1;
      } else if (c >= 0xc2 && c <= 0xdf && cont(i + 1, 0x80, 0xbf)) {
        i += 2;
      } else if (c == 0xe0 && cont(i + 1, 0xa0, 0xbf) &&
                 cont(i + 2, 0x80, 0xbf)) {
        i += 3;
      } else if (((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef) &&
                 cont(i + 1, 0x80, 0xbf) && cont(i + 2, 0x80, 0xbf)) {
        i += 3;
      } else if (c == 0xed && cont(i + 1, 0x80, 0x9f) &&
                 cont(i + 2, 0x80, 0xbf)) {
        i += 3;
      } else if (c == 0xf0 && cont(i + 1, 0x90, 0xbf) &&
                 cont(i + 2, 0x80, 0xbf) && cont(i + 3, 0x80, 0xbf)) {
        i += 4;
      } else if (c >= 0xf1 && c <= 0xf3 && cont(i + 1, 0x80, 0xbf) &&
                 cont(i + 2, 0x80, 0xbf) && cont(i + 3, 0x80, 0xbf)) {
        i += 4;
      } else if (c == 0xf4 && cont(i + 1, 0x80, 0x8f) &&
                 cont(i + 2, 0x80, 0xbf) && cont(i + 3, 0x80, 0xbf)) {
        i += 4;
      } else {
        return false;
      }
    }
    return true;
  };
  std::mt19937 rng(2024);
  // Bias towards bytes that start or continue sequences.
  const std::vector<unsigned char> interesting = {
      0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2,
      0xdf, 0xe0, 0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5,
      0xf7, 0xf8, 0xff};
  std::uniform_int_distribution<size_t> pick(0, interesting.size() - 1);
  std::uniform_int_distribution<int> length(0, 8);
  for (int i = 0; i < 200000; ++i) {
    std::string s(length(rng), '\0');
    for (char& c : s) c = static_cast<char>(interesting[pick(rng)]);
    ASSERT_EQ(IsValidUtf8(s), reference(s)) << testing::PrintToString(s);
  }
}

TEST(ControlCharacterTest, FindsC0AndDel) {
  EXPECT_FALSE(HasControlCharacter("hello world \xc3\xa9"));
  EXPECT_TRUE(HasControlCharacter(std::string_view("a\0b", 3)));
  EXPECT_TRUE(HasControlCharacter("tab\there"));
  EXPECT_TRUE(HasControlCharacter("nl\n"));
  EXPECT_TRUE(HasControlCharacter("\x1f"));
  EXPECT_TRUE(HasControlCharacter("\x7f"));
  EXPECT_FALSE(HasControlCharacter(" ~"));
}

TEST(SlugTest, AcceptsThePattern) {
  for (std::string_view ok : {"ab", "a1", "0z", "a-b", "a--b", "my-token-1",
                              "123", "a0-9z"}) {
    EXPECT_TRUE(IsValidSlug(ok)) << ok;
  }
  EXPECT_TRUE(IsValidSlug(std::string(100, 'a')));
}

TEST(SlugTest, RejectsEverythingElse) {
  for (std::string_view bad :
       {"", "a", "-", "--", "-a", "a-", "-ab-", "A1", "aB", "a_b", "a b",
        "a.b", "a/b", "\xc3\xa9t\xc3\xa9", " ab", "ab ", "ab\n"}) {
    EXPECT_FALSE(IsValidSlug(bad)) << "'" << bad << "'";
  }
  EXPECT_FALSE(IsValidSlug(std::string_view("ab\0", 3)));
  EXPECT_FALSE(IsValidSlug(std::string(101, 'a')));
  EXPECT_FALSE(IsValidSlug(std::string(1 << 20, 'a')));
}

TEST(SlugTest, CheckSlugReportsTheField) {
  std::vector<FieldError> errors;
  CheckSlug("tokenSlug", "good-slug", errors);
  EXPECT_TRUE(errors.empty());
  CheckSlug("tokenSlug", "Bad_Slug", errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].field, "tokenSlug");
  EXPECT_FALSE(errors[0].message.empty());
}

TEST(TextRulesTest, CheckIdentity) {
  std::vector<FieldError> errors;
  CheckIdentity("organization", "org-1", errors);
  CheckIdentity("organization", std::string(256, 'o'), errors);
  CheckIdentity("organization", "\xc3\xa9quipe", errors);
  EXPECT_TRUE(errors.empty());
  for (const std::string bad :
       {std::string(), std::string(257, 'o'), std::string("a\0b", 3),
        std::string("\xff"), std::string("a\nb"), std::string(1 << 20, 'x')}) {
    errors.clear();
    CheckIdentity("organization", bad, errors);
    ASSERT_EQ(errors.size(), 1u) << testing::PrintToString(bad.substr(0, 8));
    EXPECT_EQ(errors[0].field, "organization");
    // The echoed value is bounded and printable.
    EXPECT_LE(errors[0].value.size(), 64u);
    EXPECT_FALSE(HasControlCharacter(errors[0].value));
    EXPECT_TRUE(IsValidUtf8(errors[0].value));
  }
}

TEST(TextRulesTest, CheckName) {
  std::vector<FieldError> errors;
  CheckName("name", "CI deploy \xf0\x9f\x94\x91", errors);
  CheckName("name", std::string(200, 'n'), errors);
  CheckName("name", " padded ", errors);
  EXPECT_TRUE(errors.empty());
  for (const std::string bad :
       {std::string(), std::string(201, 'n'), std::string("   "),
        std::string("\xed\xa0\x80"), std::string("tab\t")}) {
    errors.clear();
    CheckName("name", bad, errors);
    EXPECT_EQ(errors.size(), 1u) << testing::PrintToString(bad);
  }
}

// The public predicates (keygate/validation.h) and the store's checks are
// one rule: a value passes the predicate exactly when the check adds no
// error.
TEST(PublicRulesTest, PredicatesAgreeWithTheStoreChecks) {
  const std::vector<std::string> inputs = {
      std::string(), "a", "ab", "org-1", "CI deploy", " padded ", "   ",
      std::string(1, ' '), "\xc3\xa9quipe", "\xf0\x9f\x94\x91",
      std::string(200, 'n'), std::string(201, 'n'), std::string(256, 'o'),
      std::string(257, 'o'), std::string("a\0b", 3), "\xff", "a\nb", "tab\t",
      "\xed\xa0\x80", "\xe2\x80\xae" "rtl", "Bad_Slug", "-lead", "trail-",
      "good-slug", std::string(100, 'a'), std::string(101, 'a')};
  for (const std::string& input : inputs) {
    const std::string label = testing::PrintToString(input.substr(0, 12));
    std::vector<FieldError> errors;
    CheckIdentity("organization", input, errors);
    EXPECT_EQ(IsValidIdentity(input), errors.empty()) << label;
    errors.clear();
    CheckName("name", input, errors);
    EXPECT_EQ(IsValidName(input), errors.empty()) << label;
    errors.clear();
    CheckSlug("slug", input, errors);
    EXPECT_EQ(IsValidSlug(input), errors.empty()) << label;
  }
  EXPECT_TRUE(IsValidIdentity(std::string(kMaxIdentitySize, 'o')));
  EXPECT_FALSE(IsValidIdentity(std::string(kMaxIdentitySize + 1, 'o')));
  EXPECT_TRUE(IsValidName(std::string(kMaxNameSize, 'n')));
  EXPECT_FALSE(IsValidName(std::string(kMaxNameSize + 1, 'n')));
  EXPECT_FALSE(IsValidName("  "));
  EXPECT_TRUE(IsValidIdentity("  "));  // identities may be spaces
}

TEST(SlugifyTest, DerivesSlugsFromNames) {
  EXPECT_EQ(Slugify("CI Deploy", 93, "token"), "ci-deploy");
  EXPECT_EQ(Slugify("  Hello,   World!  ", 93, "token"), "hello-world");
  EXPECT_EQ(Slugify("already-a-slug", 93, "token"), "already-a-slug");
  EXPECT_EQ(Slugify("a__b--c", 93, "token"), "a-b-c");
  EXPECT_EQ(Slugify("Version 2.0", 93, "token"), "version-2-0");
  EXPECT_EQ(Slugify("ABC123", 93, "token"), "abc123");
}

TEST(SlugifyTest, UnicodeNames) {
  // Non-ASCII letters are separators: only ASCII survives.
  EXPECT_EQ(Slugify("Caf\xc3\xa9 bot", 93, "token"), "caf-bot");
  EXPECT_EQ(Slugify("\xc3\x9c" "ber Token", 93, "token"), "ber-token");
  EXPECT_EQ(Slugify("\xe6\x97\xa5\xe6\x9c\xac", 93, "token"), "token");
  EXPECT_EQ(Slugify("\xf0\x9f\x94\x91 key", 93, "token"), "key");
}

TEST(SlugifyTest, FallsBackWhenTooLittleRemains) {
  EXPECT_EQ(Slugify("", 93, "token"), "token");
  EXPECT_EQ(Slugify("!!!", 93, "token"), "token");
  EXPECT_EQ(Slugify("--- *** ---", 93, "service-account"), "service-account");
  EXPECT_EQ(Slugify("a", 93, "token"), "token");
  EXPECT_EQ(Slugify("!a!", 93, "token"), "token");
  EXPECT_EQ(Slugify("ab", 93, "token"), "ab");
}

TEST(SlugifyTest, TruncationNeverEndsWithDash) {
  // A separator lands exactly on every possible cut point.
  for (size_t max = 2; max <= 20; ++max) {
    for (size_t word = 1; word <= 6; ++word) {
      std::string name;
      while (name.size() < 60) {
        name.append(word, 'w');
        name.push_back(' ');
      }
      const std::string slug = Slugify(name, max, "token");
      // The fallback is returned as given; anything else fits in max.
      if (slug != "token") EXPECT_LE(slug.size(), max) << name << " / " << max;
      EXPECT_TRUE(IsValidSlug(slug)) << "'" << slug << "' from max " << max;
    }
  }
  EXPECT_EQ(Slugify("abcdef", 3, "token"), "abc");
  EXPECT_EQ(Slugify("ab cd", 3, "token"), "ab");
  EXPECT_EQ(Slugify("ab cd", 4, "token"), "ab-c");
  EXPECT_EQ(Slugify(std::string(500, 'x'), 93, "token"), std::string(93, 'x'));
}

TEST(SlugifyTest, OutputIsAlwaysAValidSlugOrTheFallback) {
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> length(0, 150);
  for (int i = 0; i < 20000; ++i) {
    std::string name(length(rng), '\0');
    for (char& c : name) c = static_cast<char>(byte(rng));
    const std::string slug = Slugify(name, 93, "fallback");
    EXPECT_TRUE(IsValidSlug(slug)) << slug;
    EXPECT_LE(slug.size(), 93u);
  }
}

}  // namespace
}  // namespace keygate::store

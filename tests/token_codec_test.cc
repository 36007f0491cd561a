// tests/token_codec_test.cc: token generation and strict parsing.
#include "lib/token/codec.h"

#include <array>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "lib/crypto/sodium.h"
#include "lib/token/crc32c.h"

namespace keygate::token {
namespace {

constexpr std::string_view kAlphabet =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

int Base62(char c) {
  const size_t pos = kAlphabet.find(c);
  return pos == std::string_view::npos ? -1 : static_cast<int>(pos);
}

// Independent checksum encoder, for building tokens by hand.
std::string ChecksumOf(std::string_view body) {
  uint64_t v = Crc32c(body.data(), body.size());
  std::string out(kChecksumChars, '0');
  for (size_t i = kChecksumChars; i-- > 0;) {
    out[i] = kAlphabet[v % 62];
    v /= 62;
  }
  return out;
}

std::string WithChecksum(std::string body) { return body + ChecksumOf(body); }

class TokenCodecTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(crypto::InitSodium().ok()); }
  std::string NewToken(int pepper_id = 1) {
    return std::string(codec_.Generate(pepper_id).view());
  }
  TokenCodec codec_{"kg_"};
};

TEST_F(TokenCodecTest, RoundTripsEveryPepperId) {
  for (int id = 1; id <= 61; ++id) {
    SecretString token = codec_.Generate(id);
    ASSERT_EQ(token.size(), codec_.token_size());
    EXPECT_EQ(codec_.ParsePepperId(token.view()), id);
    EXPECT_EQ(token.view()[3], kAlphabet[id]);
  }
}

TEST_F(TokenCodecTest, KnownAnswerTokens) {
  // Checksums computed by an independent (Python, bitwise CRC-32C) encoder;
  // the same strings seed the fuzzer corpus.
  EXPECT_EQ(codec_.ParsePepperId(
                "kg_1Zx81fuzzSeedNotARealSecret0123456789abcdefg45ZCoi"),
            1);
  TokenCodec long_codec("abcdefghij012345_");
  EXPECT_EQ(long_codec.ParsePepperId("abcdefghij012345_zZx81fuzzSeedNotAReal"
                                     "Secret0123456789abcdefg0iPdSX"),
            61);
  EXPECT_EQ(codec_.ParsePepperId(
                "kg_1Zx81fuzzSeedNotARealSecret0123456789abcdefg45ZCoj"),
            0);
}

TEST_F(TokenCodecTest, LayoutAndSize) {
  EXPECT_EQ(codec_.token_size(), 3u + 1 + 43 + 6);
  EXPECT_EQ(codec_.prefix(), "kg_");
  const std::string token = NewToken(7);
  EXPECT_EQ(token.substr(0, 3), "kg_");
  for (size_t i = 3; i < token.size(); ++i) {
    EXPECT_GE(Base62(token[i]), 0) << "char " << i;
  }
  EXPECT_EQ(token.substr(token.size() - 6),
            ChecksumOf(std::string_view(token).substr(0, token.size() - 6)));
}

TEST_F(TokenCodecTest, LongestPrefix) {
  const std::string prefix = "abcdefghij012345_";
  ASSERT_EQ(prefix.size(), kMaxPrefixSize);
  TokenCodec codec(prefix);
  SecretString token = codec.Generate(61);
  EXPECT_EQ(token.size(), kMaxPrefixSize + 50);
  EXPECT_EQ(codec.ParsePepperId(token.view()), 61);
  EXPECT_EQ(codec_.ParsePepperId(token.view()), 0);
}

TEST_F(TokenCodecTest, GenerateRejectsOutOfRangePepperIds) {
  EXPECT_TRUE(codec_.Generate(0).empty());
  EXPECT_TRUE(codec_.Generate(-1).empty());
  EXPECT_TRUE(codec_.Generate(62).empty());
  EXPECT_TRUE(codec_.Generate(1000).empty());
}

TEST_F(TokenCodecTest, GenerateWithInvalidPrefixGivesEmpty) {
  TokenCodec bad("this_prefix_is_far_too_long_");
  EXPECT_TRUE(bad.Generate(1).empty());
  TokenCodec no_underscore("kg");
  EXPECT_TRUE(no_underscore.Generate(1).empty());
}

TEST_F(TokenCodecTest, EverySingleCharSubstitutionIsRejected) {
  const std::string token = NewToken(5);
  ASSERT_EQ(codec_.ParsePepperId(token), 5);
  int tried = 0;
  for (size_t i = 0; i < token.size(); ++i) {
    for (int c = 0; c < 256; ++c) {
      if (static_cast<char>(c) == token[i]) continue;
      std::string mutated = token;
      mutated[i] = static_cast<char>(c);
      ASSERT_EQ(codec_.ParsePepperId(mutated), 0)
          << "position " << i << " byte " << c;
      ++tried;
    }
  }
  EXPECT_EQ(tried, static_cast<int>(token.size()) * 255);
}

TEST_F(TokenCodecTest, AdjacentTranspositionsAreRejected) {
  const std::string token = NewToken(5);
  for (size_t i = 0; i + 1 < token.size(); ++i) {
    if (token[i] == token[i + 1]) continue;
    std::string swapped = token;
    std::swap(swapped[i], swapped[i + 1]);
    EXPECT_EQ(codec_.ParsePepperId(swapped), 0) << "position " << i;
  }
}

TEST_F(TokenCodecTest, TruncationAndExtensionAreRejected) {
  const std::string token = NewToken(2);
  for (size_t n = 0; n < token.size(); ++n) {
    EXPECT_EQ(codec_.ParsePepperId(std::string_view(token).substr(0, n)), 0)
        << "prefix of length " << n;
    EXPECT_EQ(codec_.ParsePepperId(std::string_view(token).substr(n + 1)), 0)
        << "suffix from " << n + 1;
  }
  EXPECT_EQ(codec_.ParsePepperId(token + "0"), 0);
  EXPECT_EQ(codec_.ParsePepperId("0" + token), 0);
  EXPECT_EQ(codec_.ParsePepperId(token + token), 0);
  EXPECT_EQ(codec_.ParsePepperId(" " + token), 0);
  EXPECT_EQ(codec_.ParsePepperId(token + "\n"), 0);
}

TEST_F(TokenCodecTest, EmptyAndGarbageAreRejected) {
  EXPECT_EQ(codec_.ParsePepperId(""), 0);
  EXPECT_EQ(codec_.ParsePepperId(std::string_view()), 0);
  EXPECT_EQ(codec_.ParsePepperId("kg_"), 0);
  EXPECT_EQ(codec_.ParsePepperId(std::string(codec_.token_size(), 'a')), 0);
  EXPECT_EQ(codec_.ParsePepperId(std::string(codec_.token_size(), '\0')), 0);
}

TEST_F(TokenCodecTest, NulBytesAreRejected) {
  const std::string token = NewToken(3);
  for (size_t i = 0; i < token.size(); ++i) {
    std::string with_nul = token;
    with_nul[i] = '\0';
    EXPECT_EQ(codec_.ParsePepperId(with_nul), 0) << "position " << i;
  }
  // A NUL-terminated copy must not be read past its view's length.
  std::string padded = token;
  padded.push_back('\0');
  EXPECT_EQ(codec_.ParsePepperId(padded), 0);
  EXPECT_EQ(codec_.ParsePepperId(std::string_view(padded).substr(
                0, token.size())),
            3);
}

TEST_F(TokenCodecTest, InvalidUtf8IsRejected) {
  const std::string token = NewToken(3);
  // Replace two secret chars with a stray continuation byte / lead byte, and
  // one with a 2-byte sequence that keeps the length.
  std::string a = token;
  a[10] = '\x80';
  EXPECT_EQ(codec_.ParsePepperId(a), 0);
  std::string b = token;
  b[10] = '\xc3';
  b[11] = '\xa9';  // "é": valid UTF-8, still not base62
  EXPECT_EQ(codec_.ParsePepperId(b), 0);
  std::string c = token;
  c[token.size() - 1] = '\xff';
  EXPECT_EQ(codec_.ParsePepperId(c), 0);
  EXPECT_EQ(codec_.ParsePepperId(std::string(codec_.token_size(), '\xff')), 0);
}

TEST_F(TokenCodecTest, OneMebibyteInputIsRejected) {
  std::string big(1 << 20, 'A');
  const std::string token = NewToken(4);
  big.replace(0, token.size(), token);
  EXPECT_EQ(codec_.ParsePepperId(big), 0);
}

TEST_F(TokenCodecTest, PepperIdZeroIsRejectedEvenWithAValidChecksum) {
  const std::string token = NewToken(1);
  std::string body = token.substr(0, token.size() - kChecksumChars);
  body[3] = '0';
  const std::string forged = WithChecksum(body);
  ASSERT_EQ(forged.size(), codec_.token_size());
  EXPECT_EQ(codec_.ParsePepperId(forged), 0);
  // Sanity: the same construction with a valid id is accepted.
  body[3] = 'Z';
  EXPECT_EQ(codec_.ParsePepperId(WithChecksum(body)), Base62('Z'));
}

TEST_F(TokenCodecTest, NonBase62PepperIdIsRejectedEvenWithAValidChecksum) {
  const std::string token = NewToken(1);
  std::string body = token.substr(0, token.size() - kChecksumChars);
  for (char c : std::string("_-+/=.~ !\x7f\x80\xff")) {
    body[3] = c;
    EXPECT_EQ(codec_.ParsePepperId(WithChecksum(body)), 0) << int(c);
  }
}

TEST_F(TokenCodecTest, NonBase62SecretIsRejectedEvenWithAValidChecksum) {
  const std::string token = NewToken(9);
  std::string body = token.substr(0, token.size() - kChecksumChars);
  for (size_t i = 4; i < body.size(); ++i) {
    std::string bad = body;
    bad[i] = '-';
    EXPECT_EQ(codec_.ParsePepperId(WithChecksum(bad)), 0) << "position " << i;
  }
}

TEST_F(TokenCodecTest, WrongPrefixIsRejectedEvenWithAValidChecksum) {
  const std::string token = NewToken(9);
  std::string body = token.substr(0, token.size() - kChecksumChars);
  body[0] = 'K';
  EXPECT_EQ(codec_.ParsePepperId(WithChecksum(body)), 0);
  body[0] = 'k';
  body[2] = '-';
  EXPECT_EQ(codec_.ParsePepperId(WithChecksum(body)), 0);
}

TEST_F(TokenCodecTest, ChecksumMustDecodeExactly) {
  const std::string token = NewToken(9);
  const std::string body = token.substr(0, token.size() - kChecksumChars);
  const uint64_t crc = Crc32c(body.data(), body.size());
  // crc + 2^32 is a different 6-digit base62 number (62^6 > 2^33) that agrees
  // with the CRC modulo 2^32: a parser that truncated to 32 bits would take
  // it.
  uint64_t v = crc + (uint64_t{1} << 32);
  ASSERT_LT(v, uint64_t{56800235584});  // 62^6
  std::string alias(kChecksumChars, '0');
  for (size_t i = kChecksumChars; i-- > 0;) {
    alias[i] = kAlphabet[v % 62];
    v /= 62;
  }
  EXPECT_EQ(codec_.ParsePepperId(body + ChecksumOf(body)), 9);
  EXPECT_EQ(codec_.ParsePepperId(body + alias), 0);
  // The largest 6-digit value is rejected as well.
  EXPECT_EQ(codec_.ParsePepperId(body + "zzzzzz"), 0);
}

TEST_F(TokenCodecTest, OtherPrefixCodecRejects) {
  TokenCodec other("ksh_");
  const std::string token = NewToken(1);
  EXPECT_EQ(other.ParsePepperId(token), 0);
  SecretString other_token = other.Generate(1);
  EXPECT_EQ(codec_.ParsePepperId(other_token.view()), 0);
  EXPECT_EQ(other.ParsePepperId(other_token.view()), 1);
}

TEST_F(TokenCodecTest, GeneratedTokensDiffer) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) seen.insert(NewToken(1));
  EXPECT_EQ(seen.size(), 1000u);
}

TEST_F(TokenCodecTest, SecretUsesTheWholeAlphabet) {
  std::array<int, 62> counts{};
  constexpr int kTokens = 1000;
  for (int i = 0; i < kTokens; ++i) {
    const std::string token = NewToken(1);
    for (size_t j = 4; j < 4 + kSecretChars; ++j) {
      const int v = Base62(token[j]);
      ASSERT_GE(v, 0);
      ++counts[v];
    }
  }
  // 43000 draws, expected ~693.5 per char, sd ~26: bounds at ~9 sd, so a
  // uniform source fails this with negligible probability while a missing
  // character or a grossly skewed mapping (e.g. a 36- or 64-char alphabet
  // folded into 62) is caught. Subtle bias is libsodium's to prevent.
  for (int v = 0; v < 62; ++v) {
    EXPECT_GT(counts[v], 450) << "char " << kAlphabet[v];
    EXPECT_LT(counts[v], 940) << "char " << kAlphabet[v];
  }
}

// The secret maps CSPRNG bytes onto the alphabet by rejection sampling:
// without the rejection (b % 62 over all 256 byte values) the first 8
// characters would be drawn 25% more often than the others.
TEST_F(TokenCodecTest, SecretHasNoModuloBias) {
  std::array<int, 62> counts{};
  constexpr int kTokens = 4000;
  for (int i = 0; i < kTokens; ++i) {
    const std::string token = NewToken(1);
    for (size_t j = 4; j < 4 + kSecretChars; ++j) ++counts[Base62(token[j])];
  }
  // 172000 draws: expected 2774 per char, sd ~52; +-12% is ~6.4 sd (a
  // uniform source fails with negligible probability), while a 25% bias is
  // ~13 sd away.
  long first8 = 0, rest = 0;
  for (int v = 0; v < 62; ++v) {
    EXPECT_GT(counts[v], 2441) << "char " << kAlphabet[v];
    EXPECT_LT(counts[v], 3107) << "char " << kAlphabet[v];
    (v < 8 ? first8 : rest) += counts[v];
  }
  // Mean of the first 8 against the other 54: within 6% (bias would be 25%).
  EXPECT_LT(static_cast<double>(first8) / 8, 1.06 * rest / 54.0);
}

TEST(IsValidPrefixTest, Accepts) {
  EXPECT_TRUE(IsValidPrefix("kg_"));
  EXPECT_TRUE(IsValidPrefix("a_"));
  EXPECT_TRUE(IsValidPrefix("0_"));
  EXPECT_TRUE(IsValidPrefix("ksh_"));
  EXPECT_TRUE(IsValidPrefix("abcdefghij012345_"));  // 16 + '_'
}

TEST(IsValidPrefixTest, Rejects) {
  EXPECT_FALSE(IsValidPrefix(""));
  EXPECT_FALSE(IsValidPrefix("_"));
  EXPECT_FALSE(IsValidPrefix("kg"));
  EXPECT_FALSE(IsValidPrefix("KG_"));
  EXPECT_FALSE(IsValidPrefix("k-g_"));
  EXPECT_FALSE(IsValidPrefix("k_g_"));
  EXPECT_FALSE(IsValidPrefix("kg__"));
  EXPECT_FALSE(IsValidPrefix(" kg_"));
  EXPECT_FALSE(IsValidPrefix("kg_ "));
  EXPECT_FALSE(IsValidPrefix("abcdefghij0123456_"));  // 17 + '_'
  EXPECT_FALSE(IsValidPrefix(std::string_view("k\0_", 3)));
  EXPECT_FALSE(IsValidPrefix("\xc3\xa9_"));
  EXPECT_FALSE(IsValidPrefix(std::string(1 << 20, 'a') + "_"));
}

}  // namespace
}  // namespace keygate::token

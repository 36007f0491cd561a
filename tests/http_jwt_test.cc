// tests/http_jwt_test.cc: strict HS256 JWT verification (keygate/http/jwt.h).
#include "keygate/http/jwt.h"

#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace keygate::http {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const std::string kKey = "0123456789abcdef0123456789abcdef-test-key";
const absl::Time kNow = absl::FromUnixSeconds(1800000000);

std::string B64(std::string_view bin) {
  constexpr int kVariant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
  std::string out(sodium_base64_ENCODED_LEN(bin.size(), kVariant), '\0');
  sodium_bin2base64(out.data(), out.size(),
                    reinterpret_cast<const unsigned char*>(bin.data()),
                    bin.size(), kVariant);
  out.resize(out.size() - 1);
  return out;
}

std::string Hmac(std::string_view key, std::string_view msg) {
  crypto_auth_hmacsha256_state st;
  unsigned char mac[32];
  crypto_auth_hmacsha256_init(
      &st, reinterpret_cast<const unsigned char*>(key.data()), key.size());
  crypto_auth_hmacsha256_update(
      &st, reinterpret_cast<const unsigned char*>(msg.data()), msg.size());
  crypto_auth_hmacsha256_final(&st, mac);
  return std::string(reinterpret_cast<char*>(mac), 32);
}

// Builds a JWT from raw header and payload JSON, signed with `key` whatever
// the header says.
std::string Sign(std::string_view header, std::string_view payload,
                 std::string_view key = kKey) {
  std::string input = absl::StrCat(B64(header), ".", B64(payload));
  return absl::StrCat(input, ".", B64(Hmac(key, input)));
}

constexpr char kHs256[] = R"({"alg":"HS256","typ":"JWT"})";

std::string Claims(int64_t exp_offset = 3600, std::string extra = "") {
  return absl::StrCat(R"({"org":"acme","sub":"alice@acme","exp":)",
                      absl::ToUnixSeconds(kNow) + exp_offset, extra, "}");
}

class JwtTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto v = JwtVerifier::FromKey(kKey);
    ASSERT_TRUE(v.ok()) << v.status();
    verifier_.emplace(std::move(*v));
  }

  absl::Status VerifyStatus(std::string_view jwt) const {
    return verifier_->Verify(jwt, kNow).status();
  }

  // Asserts `jwt` is refused with Unauthenticated whose message names
  // `reason` and never echoes the token.
  void ExpectRejected(std::string_view jwt, std::string_view reason) const {
    absl::Status s = VerifyStatus(jwt);
    EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated) << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr(std::string(reason)));
    if (jwt.size() > 8) {
      EXPECT_THAT(std::string(s.message()),
                  Not(HasSubstr(std::string(jwt.substr(0, 8)))));
    }
  }

  std::optional<JwtVerifier> verifier_;
};

TEST_F(JwtTest, ValidToken) {
  auto claims = verifier_->Verify(Sign(kHs256, Claims()), kNow);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->organization, "acme");
  EXPECT_EQ(claims->subject, "alice@acme");
  EXPECT_EQ(claims->expires_at, kNow + absl::Hours(1));
  EXPECT_FALSE(claims->not_before.has_value());
}

TEST_F(JwtTest, TypIsOptional) {
  EXPECT_TRUE(VerifyStatus(Sign(R"({"alg":"HS256"})", Claims())).ok());
}

TEST_F(JwtTest, MintedTokenVerifies) {
  auto jwt = MintJwt(kKey, "org", "acme", "bob", kNow, absl::Minutes(5));
  ASSERT_TRUE(jwt.ok()) << jwt.status();
  auto claims = verifier_->Verify(*jwt, kNow + absl::Minutes(4));
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->organization, "acme");
  EXPECT_EQ(claims->subject, "bob");
  EXPECT_EQ(claims->expires_at, kNow + absl::Minutes(5));
  EXPECT_EQ(verifier_->Verify(*jwt, kNow + absl::Minutes(5)).status().code(),
            absl::StatusCode::kUnauthenticated);  // exp == now: expired
  // The wrong key does not verify a minted token.
  auto other = JwtVerifier::FromKey(kKey + "2");
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(other->Verify(*jwt, kNow).ok());
}

TEST_F(JwtTest, MintRejectsBadInput) {
  EXPECT_FALSE(MintJwt(kKey, "", "acme", "bob", kNow, absl::Minutes(5)).ok());
  EXPECT_FALSE(MintJwt(kKey, "exp", "acme", "bob", kNow, absl::Minutes(5)).ok());
  EXPECT_FALSE(MintJwt(kKey, "org", "", "bob", kNow, absl::Minutes(5)).ok());
  EXPECT_FALSE(MintJwt(kKey, "org", "acme", "", kNow, absl::Minutes(5)).ok());
  EXPECT_FALSE(MintJwt(kKey, "org", "acme", "bob", kNow, absl::ZeroDuration())
                   .ok());
  EXPECT_EQ(MintJwt(kKey, "org", "ac\xffme", "bob", kNow, absl::Minutes(5))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(JwtTest, Expired) {
  ExpectRejected(Sign(kHs256, Claims(-1)), "expired");
  ExpectRejected(Sign(kHs256, Claims(0)), "expired");  // exp == now: no leeway
  EXPECT_TRUE(VerifyStatus(Sign(kHs256, Claims(1))).ok());
}

TEST_F(JwtTest, ExpMustBeANumber) {
  const std::string base = R"({"org":"acme","sub":"a")";
  ExpectRejected(Sign(kHs256, base + "}"), "missing exp");
  ExpectRejected(Sign(kHs256, base + R"(,"exp":"9999999999"})"), "bad exp");
  ExpectRejected(Sign(kHs256, base + R"(,"exp":true})"), "bad exp");
  ExpectRejected(Sign(kHs256, base + R"(,"exp":null})"), "bad exp");
  EXPECT_TRUE(
      VerifyStatus(Sign(kHs256, base + R"(,"exp":1800000000.5})")).ok());
  ExpectRejected(Sign(kHs256, base + R"(,"exp":-1e300})"), "bad exp");
  ExpectRejected(Sign(kHs256, base + R"(,"exp":1e300})"), "bad exp");
  ExpectRejected(Sign(kHs256, base + R"(,"exp":18446744073709551615})"),
                 "bad exp");
}

TEST_F(JwtTest, NotBefore) {
  const int64_t now = absl::ToUnixSeconds(kNow);
  ExpectRejected(
      Sign(kHs256, Claims(3600, absl::StrCat(R"(,"nbf":)", now + 1))),
      "not yet valid");
  auto claims = verifier_->Verify(
      Sign(kHs256, Claims(3600, absl::StrCat(R"(,"nbf":)", now))), kNow);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->not_before, kNow);
  ExpectRejected(Sign(kHs256, Claims(3600, R"(,"nbf":"0")")), "bad nbf");
}

TEST_F(JwtTest, AlgorithmIsNeverTakenOnTrust) {
  // Correctly signed with the right key, yet refused for the header's alg.
  for (const char* header :
       {R"({"alg":"none","typ":"JWT"})", R"({"alg":"HS512"})",
        R"({"alg":"hs256"})", R"({"alg":"HS256 "})", R"({"typ":"JWT"})",
        R"({"alg":null})", R"({"alg":["HS256"]})", R"({"alg":"RS256"})"}) {
    ExpectRejected(Sign(header, Claims()), "unsupported alg");
  }
  // The classic alg=none token: empty signature.
  ExpectRejected(absl::StrCat(B64(R"({"alg":"none"})"), ".", B64(Claims()),
                              "."),
                 "malformed");
}

TEST_F(JwtTest, TypMustBeJwt) {
  ExpectRejected(Sign(R"({"alg":"HS256","typ":"at+jwt"})", Claims()),
                 "bad typ");
  ExpectRejected(Sign(R"({"alg":"HS256","typ":1})", Claims()), "bad typ");
}

TEST_F(JwtTest, CritIsRefused) {
  ExpectRejected(Sign(R"({"alg":"HS256","crit":["exp"]})", Claims()),
                 "unsupported crit");
}

TEST_F(JwtTest, HeaderAndPayloadMustBeObjects) {
  ExpectRejected(Sign("[]", Claims()), "bad header");
  ExpectRejected(Sign("not json", Claims()), "bad header");
  ExpectRejected(Sign(kHs256, "[1]"), "bad payload");
  ExpectRejected(Sign(kHs256, R"("str")"), "bad payload");
  ExpectRejected(Sign(kHs256, Claims() + "x"), "bad payload");
}

TEST_F(JwtTest, TamperedPayload) {
  const std::string good = Sign(kHs256, Claims());
  const size_t dot1 = good.find('.'), dot2 = good.rfind('.');
  const std::string evil = absl::StrCat(
      good.substr(0, dot1), ".",
      B64(R"({"org":"globex","sub":"alice@acme","exp":1900000000})"),
      good.substr(dot2));
  ExpectRejected(evil, "bad signature");
}

TEST_F(JwtTest, TamperedSignature) {
  std::string jwt = Sign(kHs256, Claims());
  jwt[jwt.size() - 5] = jwt[jwt.size() - 5] == 'A' ? 'B' : 'A';
  ExpectRejected(jwt, "bad signature");
  // Truncated or extended signatures.
  const std::string good = Sign(kHs256, Claims());
  ExpectRejected(good.substr(0, good.size() - 4), "bad signature");
  ExpectRejected(good + "AAAA", "bad signature");
}

TEST_F(JwtTest, WrongKey) {
  ExpectRejected(Sign(kHs256, Claims(), kKey + "x"), "bad signature");
  auto other = JwtVerifier::FromKey(std::string(32, 'k'));
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->Verify(Sign(kHs256, Claims()), kNow).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(JwtTest, OrganizationClaim) {
  const int64_t exp = absl::ToUnixSeconds(kNow) + 60;
  ExpectRejected(Sign(kHs256, absl::StrCat(R"({"sub":"a","exp":)", exp, "}")),
                 "missing organization claim");
  ExpectRejected(
      Sign(kHs256, absl::StrCat(R"({"org":42,"sub":"a","exp":)", exp, "}")),
      "missing organization claim");
  ExpectRejected(
      Sign(kHs256, absl::StrCat(R"({"org":"","sub":"a","exp":)", exp, "}")),
      "missing organization claim");
  ExpectRejected(
      Sign(kHs256, absl::StrCat(R"({"org":["acme"],"sub":"a","exp":)", exp,
                                "}")),
      "missing organization claim");
}

TEST_F(JwtTest, ConfigurableOrganizationClaim) {
  auto v = JwtVerifier::FromKey(kKey, "tenant_id");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->org_claim(), "tenant_id");
  const int64_t exp = absl::ToUnixSeconds(kNow) + 60;
  auto claims = v->Verify(
      Sign(kHs256, absl::StrCat(R"({"org":"wrong","tenant_id":"t1",)",
                                R"("sub":"a","exp":)", exp, "}")),
      kNow);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->organization, "t1");
  EXPECT_FALSE(v->Verify(Sign(kHs256, Claims()), kNow).ok());  // no tenant_id
  EXPECT_FALSE(JwtVerifier::FromKey(kKey, "").ok());
  EXPECT_FALSE(JwtVerifier::FromKey(kKey, "sub").ok());
}

TEST_F(JwtTest, Subject) {
  const int64_t exp = absl::ToUnixSeconds(kNow) + 60;
  ExpectRejected(Sign(kHs256, absl::StrCat(R"({"org":"a","exp":)", exp, "}")),
                 "missing sub");
  ExpectRejected(
      Sign(kHs256, absl::StrCat(R"({"org":"a","sub":"","exp":)", exp, "}")),
      "missing sub");
  ExpectRejected(
      Sign(kHs256, absl::StrCat(R"({"org":"a","sub":7,"exp":)", exp, "}")),
      "missing sub");
}

TEST_F(JwtTest, SegmentCount) {
  const std::string good = Sign(kHs256, Claims());
  const std::string two = good.substr(0, good.rfind('.'));
  ExpectRejected(two, "malformed");
  ExpectRejected(good + ".AAAA", "malformed");
  ExpectRejected(good + ".", "malformed");
  ExpectRejected("", "malformed");
  ExpectRejected("..", "malformed");
  ExpectRejected("...", "malformed");
  ExpectRejected("a.b", "malformed");
}

TEST_F(JwtTest, StrictBase64Url) {
  const std::string good = Sign(kHs256, Claims());
  const size_t dot1 = good.find('.'), dot2 = good.rfind('.');
  const std::string h = good.substr(0, dot1);
  const std::string p = good.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string s = good.substr(dot2 + 1);
  ASSERT_TRUE(VerifyStatus(good).ok());
  // Padding (a 32-byte signature encodes to 43 chars; padded it is 44).
  ExpectRejected(absl::StrCat(h, ".", p, ".", s, "="), "malformed");
  // Whitespace anywhere, standard-alphabet chars, trailing garbage.
  ExpectRejected(absl::StrCat(" ", good), "malformed");
  ExpectRejected(absl::StrCat(good, " "), "malformed");
  ExpectRejected(absl::StrCat(good, "\n"), "malformed");
  ExpectRejected(absl::StrCat(h, ".", p.substr(0, 4), " ", p.substr(4), ".", s),
                 "malformed");
  std::string plus = good;
  plus[2] = '+';
  ExpectRejected(plus, "malformed");
  std::string slash = good;
  slash[2] = '/';
  ExpectRejected(slash, "malformed");
  // A non-canonical last character (the 2 unused low bits of a 32-byte
  // signature set) decodes to the same bytes in a lax decoder; refused.
  const std::string alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const size_t last = alphabet.find(good.back());
  ASSERT_EQ(last % 4, 0u);
  std::string noncanon = good;
  noncanon.back() = alphabet[last + 1];
  ExpectRejected(noncanon, "malformed");
}

TEST_F(JwtTest, HugeTokenRefusedBeforeDecoding) {
  ExpectRejected(std::string(kMaxJwtBytes + 1, 'A'), "too large");
  ExpectRejected(std::string(1 << 20, '.'), "too large");
  // A big but in-limit signed token still works.
  const std::string pad(5000, 'x');
  EXPECT_TRUE(VerifyStatus(Sign(kHs256, Claims(3600, absl::StrCat(
                                                      R"(,"pad":")", pad,
                                                      R"(")"))))
                  .ok());
}

TEST_F(JwtTest, InvalidUtf8AndNulBytes) {
  ExpectRejected(std::string("a\0b.c\0d.e\0f", 11), "malformed");
  ExpectRejected("\xff\xfe.\xff\xfe.\xff\xfe", "malformed");
  // Signed JSON with invalid UTF-8 inside a string: the parser refuses it.
  ExpectRejected(Sign(kHs256, absl::StrCat(R"({"org":"ac)", "\xff",
                                           R"(me","sub":"a","exp":1900000000})")),
                 "bad payload");
  ExpectRejected(Sign(std::string("{\"alg\":\"HS256\"\0}", 16), Claims()),
                 "bad header");
}

TEST_F(JwtTest, EverySingleCharacterChangeIsRejected) {
  const std::string good = Sign(kHs256, Claims());
  ASSERT_TRUE(VerifyStatus(good).ok());
  for (size_t i = 0; i < good.size(); ++i) {
    for (char c : {'A', 'f', '_', '.', '=', '\0', '\xff'}) {
      if (good[i] == c) continue;
      std::string bad = good;
      bad[i] = c;
      EXPECT_EQ(VerifyStatus(bad).code(), absl::StatusCode::kUnauthenticated)
          << "position " << i;
    }
  }
}

TEST_F(JwtTest, DeeplyNestedJsonDoesNotCrash) {
  std::string nested_array(3000, '[');
  nested_array += std::string(3000, ']');
  ExpectRejected(Sign(kHs256, nested_array), "json too deep");
  std::string nested_object;
  for (int i = 0; i < 1000; ++i) nested_object += R"({"a":)";
  nested_object += "1" + std::string(1000, '}');
  ExpectRejected(Sign(kHs256, nested_object), "json too deep");
  ExpectRejected(Sign(nested_object, Claims()), "json too deep");
}

// ----- attacker review findings (7): lifetime, dates, duplicate members ----

TEST_F(JwtTest, ExpACenturyAheadIsRefused) {
  const int64_t century = int64_t{100} * 365 * 24 * 3600;
  ExpectRejected(Sign(kHs256, Claims(century)), "lifetime too long");
}

TEST_F(JwtTest, AbsurdExpIsRefused) {
  const std::string base = R"({"org":"acme","sub":"a","exp":)";
  for (const char* exp : {"1e300", "18446744073709551615", "-1", "-1e300",
                          "1e999"}) {
    EXPECT_EQ(VerifyStatus(Sign(kHs256, absl::StrCat(base, exp, "}"))).code(),
              absl::StatusCode::kUnauthenticated)
        << exp;
  }
}

TEST_F(JwtTest, DuplicateOrgIsRefused) {
  // Parser differential: a lax verifier keeps the last "org"; another
  // component may read the first.
  ExpectRejected(
      Sign(kHs256, Claims(3600, R"(,"org":"globex")")), "duplicate member");
}

TEST_F(JwtTest, DuplicateAlgInHeaderIsRefused) {
  ExpectRejected(Sign(R"({"alg":"none","alg":"HS256"})", Claims()),
                 "duplicate member");
}

TEST_F(JwtTest, DuplicateMembersAreRefusedEverywhere) {
  const int64_t exp = absl::ToUnixSeconds(kNow) + 60;
  const std::string tail = absl::StrCat(R"("exp":)", exp, "}");
  // Payload: the organization, the actor, the expiry.
  ExpectRejected(Sign(kHs256, absl::StrCat(R"({"org":"globex","org":"acme",)",
                                           R"("sub":"a",)", tail)),
                 "duplicate member");
  ExpectRejected(Sign(kHs256, absl::StrCat(R"({"org":"acme","sub":"root",)",
                                           R"("sub":"a",)", tail)),
                 "duplicate member");
  ExpectRejected(
      Sign(kHs256, absl::StrCat(R"({"org":"acme","sub":"a","exp":1,)", tail)),
      "duplicate member");
  // The same name spelled with an escape is the same member.
  ExpectRejected(Sign(kHs256, absl::StrCat(R"({"org":"globex","o\u0072g":)",
                                           R"("acme","sub":"a",)", tail)),
                 "duplicate member");
  // Header: alg and typ.
  ExpectRejected(Sign(R"({"alg":"HS256","alg":"HS256"})", Claims()),
                 "duplicate member");
  ExpectRejected(Sign(R"({"alg":"HS256","typ":"JWT","typ":"JWT"})", Claims()),
                 "duplicate member");
  // Nested objects too.
  ExpectRejected(Sign(kHs256, Claims(3600, R"(,"x":{"a":1,"a":1})")),
                 "duplicate member");
  ExpectRejected(Sign(kHs256, Claims(3600, R"(,"x":[{"a":1,"a":1}])")),
                 "duplicate member");
  // One name in different objects is no duplicate.
  EXPECT_TRUE(VerifyStatus(Sign(kHs256, Claims(3600,
                                               R"(,"x":{"org":1,"a":{"org":2}},)"
                                               R"("y":[{"a":1},{"a":1}])")))
                  .ok());
}

TEST_F(JwtTest, JsonDepthIsBounded) {
  // The payload object is depth 1: 7 nested arrays inside make depth 8.
  const std::string deepest_ok =
      absl::StrCat(",\"x\":", std::string(kMaxJwtJsonDepth - 1, '['),
                   std::string(kMaxJwtJsonDepth - 1, ']'));
  EXPECT_TRUE(VerifyStatus(Sign(kHs256, Claims(3600, deepest_ok))).ok());
  const std::string too_deep =
      absl::StrCat(",\"x\":", std::string(kMaxJwtJsonDepth, '['),
                   std::string(kMaxJwtJsonDepth, ']'));
  ExpectRejected(Sign(kHs256, Claims(3600, too_deep)), "json too deep");
  ExpectRejected(Sign(R"({"alg":"HS256","x":[[[[[[[[]]]]]]]]})", Claims()),
                 "json too deep");
  // Unbalanced deep input is refused at the limit, not after reading it all.
  ExpectRejected(Sign(kHs256, std::string(6000, '[')), "json too deep");
}

TEST_F(JwtTest, NumericDatesMustBeSaneNumbers) {
  const std::string base = R"({"org":"acme","sub":"a","exp":)";
  for (const char* exp : {"1e300", "1e308", "18446744073709551615",
                          "253402300800", "-1", "-0.5", "-1e300",
                          "-9223372036854775808"}) {
    ExpectRejected(Sign(kHs256, absl::StrCat(base, exp, "}")), "bad exp");
  }
  for (const char* exp : {R"("1800000060")", "true", "null", "[1800000060]",
                          R"({"t":1800000060})"}) {
    ExpectRejected(Sign(kHs256, absl::StrCat(base, exp, "}")), "bad exp");
  }
  // Not JSON numbers at all: NaN, Infinity, and an overflowing literal.
  for (const char* exp : {"NaN", "nan", "Infinity", "-Infinity", "1e999"}) {
    ExpectRejected(Sign(kHs256, absl::StrCat(base, exp, "}")), "bad payload");
  }
  // Integers and decimals in range are NumericDates.
  EXPECT_TRUE(VerifyStatus(Sign(kHs256, base + "1800000060.25}")).ok());
  EXPECT_TRUE(VerifyStatus(Sign(kHs256, base + "1.80000006e9}")).ok());
  // nbf and iat follow the same rule.
  ExpectRejected(Sign(kHs256, Claims(3600, R"(,"nbf":-1)")), "bad nbf");
  ExpectRejected(Sign(kHs256, Claims(3600, R"(,"nbf":1e300)")), "bad nbf");
  ExpectRejected(Sign(kHs256, Claims(3600, R"(,"iat":1e300)")), "bad iat");
  ExpectRejected(Sign(kHs256, Claims(3600, R"(,"iat":-1)")), "bad iat");
  ExpectRejected(Sign(kHs256, Claims(3600, R"(,"iat":"garbage")")), "bad iat");
}

TEST_F(JwtTest, LifetimeIsBoundedByMaxLifetime) {
  const int64_t day = 24 * 3600;
  EXPECT_TRUE(VerifyStatus(Sign(kHs256, Claims(day))).ok());  // exactly 24 h
  ExpectRejected(Sign(kHs256, Claims(day + 1)), "lifetime too long");
  ExpectRejected(Sign(kHs256, Claims(int64_t{100} * 365 * day)),
                 "lifetime too long");

  JwtVerifierOptions options;
  options.max_lifetime = absl::Hours(1);
  auto v = JwtVerifier::FromKey(kKey, options);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE(v->Verify(Sign(kHs256, Claims(3600)), kNow).ok());
  EXPECT_EQ(v->Verify(Sign(kHs256, Claims(3601)), kNow).status().message(),
            "jwt: lifetime too long");
}

TEST_F(JwtTest, LifetimeFromIatIsBounded) {
  const int64_t now = absl::ToUnixSeconds(kNow);
  // Issued 2 h ago for 25 h: only 23 h left, but the token's lifetime is 25 h.
  ExpectRejected(
      Sign(kHs256, Claims(23 * 3600, absl::StrCat(R"(,"iat":)", now - 7200))),
      "lifetime too long");
  // Issued 1 h ago for exactly 24 h.
  auto claims = verifier_->Verify(
      Sign(kHs256, Claims(23 * 3600, absl::StrCat(R"(,"iat":)", now - 3600))),
      kNow);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->issued_at, kNow - absl::Hours(1));
}

TEST_F(JwtTest, IatInTheFutureIsRefused) {
  const int64_t now = absl::ToUnixSeconds(kNow);
  ExpectRejected(Sign(kHs256, Claims(3600, absl::StrCat(R"(,"iat":)", now + 1))),
                 "issued in the future");
  EXPECT_TRUE(
      VerifyStatus(Sign(kHs256, Claims(3600, absl::StrCat(R"(,"iat":)", now))))
          .ok());
}

TEST_F(JwtTest, LeewayAppliesToExpNbfAndIat) {
  const int64_t now = absl::ToUnixSeconds(kNow);
  JwtVerifierOptions options;
  options.leeway = absl::Seconds(60);
  auto v = JwtVerifier::FromKey(kKey, options);
  ASSERT_TRUE(v.ok()) << v.status();
  auto verify = [&](const std::string& payload) {
    return v->Verify(Sign(kHs256, payload), kNow).status();
  };
  // exp: valid while now < exp + leeway.
  EXPECT_TRUE(verify(Claims(-59)).ok());
  EXPECT_EQ(verify(Claims(-60)).message(), "jwt: expired");
  // nbf: valid once now + leeway >= nbf.
  EXPECT_TRUE(verify(Claims(3600, absl::StrCat(R"(,"nbf":)", now + 60))).ok());
  EXPECT_EQ(verify(Claims(3600, absl::StrCat(R"(,"nbf":)", now + 61)))
                .message(),
            "jwt: not yet valid");
  // iat: at most leeway in the future.
  EXPECT_TRUE(verify(Claims(3600, absl::StrCat(R"(,"iat":)", now + 60))).ok());
  EXPECT_EQ(verify(Claims(3600, absl::StrCat(R"(,"iat":)", now + 61)))
                .message(),
            "jwt: issued in the future");
  // A minter 60 s ahead may issue a full-lifetime token.
  EXPECT_TRUE(verify(Claims(24 * 3600 + 60,
                            absl::StrCat(R"(,"iat":)", now + 60)))
                  .ok());
  EXPECT_EQ(verify(Claims(24 * 3600 + 61)).message(),
            "jwt: lifetime too long");
  // Without leeway the same tokens are refused.
  ExpectRejected(Sign(kHs256, Claims(-1)), "expired");
  ExpectRejected(
      Sign(kHs256, Claims(3600, absl::StrCat(R"(,"nbf":)", now + 1))),
      "not yet valid");
}

TEST_F(JwtTest, Issuer) {
  JwtVerifierOptions options;
  options.issuer = "https://id.example.com";
  auto v = JwtVerifier::FromKey(kKey, options);
  ASSERT_TRUE(v.ok()) << v.status();
  auto verify = [&](std::string_view extra) {
    return v->Verify(Sign(kHs256, Claims(3600, std::string(extra))), kNow)
        .status();
  };
  EXPECT_TRUE(verify(R"(,"iss":"https://id.example.com")").ok());
  EXPECT_EQ(verify("").message(), "jwt: missing iss");
  EXPECT_EQ(verify(R"(,"iss":"https://evil.example.com")").message(),
            "jwt: issuer mismatch");
  EXPECT_EQ(verify(R"(,"iss":"https://id.example.com/")").message(),
            "jwt: issuer mismatch");
  EXPECT_EQ(verify(R"(,"iss":["https://id.example.com"])").message(),
            "jwt: issuer mismatch");
  EXPECT_EQ(verify(R"(,"iss":null)").message(), "jwt: issuer mismatch");
  EXPECT_EQ(verify(R"(,"iss":"a","iss":"https://id.example.com")").message(),
            "jwt: duplicate member");
  // Without an issuer option, iss is not looked at.
  EXPECT_TRUE(VerifyStatus(Sign(kHs256, Claims(3600, R"(,"iss":42)"))).ok());
}

TEST_F(JwtTest, Audience) {
  JwtVerifierOptions options;
  options.audience = "keygate";
  auto v = JwtVerifier::FromKey(kKey, options);
  ASSERT_TRUE(v.ok()) << v.status();
  auto verify = [&](std::string_view extra) {
    return v->Verify(Sign(kHs256, Claims(3600, std::string(extra))), kNow)
        .status();
  };
  EXPECT_TRUE(verify(R"(,"aud":"keygate")").ok());
  EXPECT_TRUE(verify(R"(,"aud":["billing","keygate"])").ok());
  EXPECT_TRUE(verify(R"(,"aud":["keygate"])").ok());
  EXPECT_EQ(verify("").message(), "jwt: missing aud");
  EXPECT_EQ(verify(R"(,"aud":"billing")").message(), "jwt: audience mismatch");
  EXPECT_EQ(verify(R"(,"aud":"Keygate")").message(), "jwt: audience mismatch");
  EXPECT_EQ(verify(R"(,"aud":["billing"])").message(),
            "jwt: audience mismatch");
  EXPECT_EQ(verify(R"(,"aud":[])").message(), "jwt: audience mismatch");
  EXPECT_EQ(verify(R"(,"aud":["keygate",1])").message(), "jwt: bad aud");
  EXPECT_EQ(verify(R"(,"aud":[["keygate"]])").message(), "jwt: bad aud");
  EXPECT_EQ(verify(R"(,"aud":{"keygate":true})").message(), "jwt: bad aud");
  EXPECT_EQ(verify(R"(,"aud":null)").message(), "jwt: bad aud");
  // A verifier without an audience refuses a JWT issued for one.
  ExpectRejected(Sign(kHs256, Claims(3600, R"(,"aud":"keygate")")),
                 "unexpected aud");
  ExpectRejected(Sign(kHs256, Claims(3600, R"(,"aud":[])")), "unexpected aud");
}

TEST_F(JwtTest, OptionsAreChecked) {
  auto code = [](const JwtVerifierOptions& options) {
    return JwtVerifier::FromKey(kKey, options).status().code();
  };
  const auto kBad = absl::StatusCode::kInvalidArgument;
  JwtVerifierOptions o;
  EXPECT_TRUE(JwtVerifier::FromKey(kKey, o).ok());
  o.leeway = -absl::Seconds(1);
  EXPECT_EQ(code(o), kBad);
  o.leeway = kMaxJwtLeeway + absl::Seconds(1);
  EXPECT_EQ(code(o), kBad);
  o.leeway = kMaxJwtLeeway;
  EXPECT_TRUE(JwtVerifier::FromKey(kKey, o).ok());
  o = {};
  for (absl::Duration d : {absl::ZeroDuration(), -absl::Hours(1),
                           absl::InfiniteDuration(),
                           kMaxJwtMaxLifetime + absl::Seconds(1)}) {
    o.max_lifetime = d;
    EXPECT_EQ(code(o), kBad) << d;
  }
  o = {};
  o.issuer = "";
  EXPECT_EQ(code(o), kBad);
  o = {};
  o.audience = "ke\xffgate";
  EXPECT_EQ(code(o), kBad);
  for (const char* name : {"", "iss", "aud", "iat", "nbf", "exp", "sub"}) {
    o = {};
    o.org_claim = name;
    EXPECT_EQ(code(o), kBad) << name;
  }
}

TEST_F(JwtTest, MintWithIssuerAndAudience) {
  MintJwtOptions mint;
  mint.org_claim = "tenant";
  mint.issuer = "https://id.example.com";
  mint.audience = "keygate";
  auto jwt = MintJwt(kKey, "acme", "bob", kNow, absl::Minutes(5), mint);
  ASSERT_TRUE(jwt.ok()) << jwt.status();

  JwtVerifierOptions options;
  options.org_claim = "tenant";
  options.issuer = "https://id.example.com";
  options.audience = "keygate";
  auto v = JwtVerifier::FromKey(kKey, options);
  ASSERT_TRUE(v.ok()) << v.status();
  auto claims = v->Verify(*jwt, kNow);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->organization, "acme");
  EXPECT_EQ(claims->issued_at, kNow);
  // The default verifier refuses it: it names an audience.
  EXPECT_EQ(verifier_->Verify(*jwt, kNow).status().message(),
            "jwt: unexpected aud");

  MintJwtOptions bad;
  bad.issuer = "";
  EXPECT_EQ(MintJwt(kKey, "acme", "bob", kNow, absl::Minutes(5), bad)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  bad = {};
  bad.audience = "\xff";
  EXPECT_EQ(MintJwt(kKey, "acme", "bob", kNow, absl::Minutes(5), bad)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

// ----- key files -----

class JwtKeyFileTest : public ::testing::Test {
 protected:
  // WriteFile writes `contents` to a fresh file of mode `mode` (set with
  // chmod, whatever the umask).
  std::string WriteFile(const std::string& contents, mode_t mode = 0600) {
    const std::string path = NewPath();
    std::ofstream(path, std::ios::binary) << contents;
    EXPECT_EQ(::chmod(path.c_str(), mode), 0);
    return path;
  }
  std::string NewPath() {
    std::string path = absl::StrCat(::testing::TempDir(), "/jwt_key_",
                                    getpid(), "_", counter_++);
    paths_.push_back(path);
    return path;
  }
  void TearDown() override {
    for (const std::string& p : paths_) ::unlink(p.c_str());
  }
  int counter_ = 0;
  std::vector<std::string> paths_;
};

TEST_F(JwtKeyFileTest, TrailingNewlineIsTrimmed) {
  const std::string jwt = Sign(kHs256, Claims());
  for (const std::string& suffix : {"", "\n", "\r\n"}) {
    auto v = JwtVerifier::FromSecretFile(WriteFile(kKey + suffix));
    ASSERT_TRUE(v.ok()) << v.status();
    EXPECT_TRUE(v->Verify(jwt, kNow).ok()) << "suffix size " << suffix.size();
  }
  // Only one line ending is trimmed; other whitespace is part of the key.
  for (const std::string& suffix : {" \n", "\n\n", "\r", "\n\r\n"}) {
    auto v = JwtVerifier::FromSecretFile(WriteFile(kKey + suffix));
    ASSERT_TRUE(v.ok());
    EXPECT_FALSE(v->Verify(jwt, kNow).ok()) << "suffix size " << suffix.size();
  }
}

TEST_F(JwtKeyFileTest, ShortOrEmptyKeyRefused) {
  for (const std::string& contents :
       {std::string(), std::string("\n"), std::string(31, 'k'),
        std::string(31, 'k') + "\n"}) {
    auto v = JwtVerifier::FromSecretFile(WriteFile(contents));
    EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_TRUE(JwtVerifier::FromSecretFile(WriteFile(std::string(32, 'k'))).ok());
  EXPECT_THAT(std::string(JwtVerifier::FromSecretFile(WriteFile("short"))
                              .status()
                              .message()),
              HasSubstr("at least 32"));
  EXPECT_EQ(JwtVerifier::FromSecretFile(WriteFile(std::string(1 << 20, 'k')))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(JwtKeyFileTest, MissingFile) {
  auto v = JwtVerifier::FromSecretFile("/nonexistent/keygate/jwt-secret");
  EXPECT_EQ(v.status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(JwtVerifier::FromSecretFile(::testing::TempDir()).ok());
}

TEST_F(JwtKeyFileTest, ErrorsNeverContainTheKey) {
  const std::string secret = "SHORT-SECRET";
  auto v = JwtVerifier::FromSecretFile(WriteFile(secret));
  ASSERT_FALSE(v.ok());
  EXPECT_THAT(std::string(v.status().message()), Not(HasSubstr(secret)));
}

TEST_F(JwtKeyFileTest, GroupOrOtherAccessibleSecretFileIsRefused) {
  for (mode_t mode : {0640, 0604, 0644, 0660, 0606, 0602, 0620, 0610, 0601,
                      0700 | 0004, 0777}) {
    const std::string path = WriteFile(kKey, mode);
    absl::StatusOr<JwtVerifier> v = JwtVerifier::FromSecretFile(path);
    EXPECT_EQ(v.status().code(), absl::StatusCode::kPermissionDenied)
        << std::oct << mode;
    const std::string message(v.status().message());
    EXPECT_THAT(message, HasSubstr(absl::StrFormat("mode %04o", mode)));
    EXPECT_THAT(message, HasSubstr("chmod 600"));
    EXPECT_THAT(message, HasSubstr(path));
    EXPECT_THAT(message, Not(HasSubstr(kKey)));
    // The one reader the CLI uses applies the same rule.
    EXPECT_EQ(ReadJwtSecretFile(path).status().code(),
              absl::StatusCode::kPermissionDenied);
  }
}

TEST_F(JwtKeyFileTest, OwnerOnlySecretFileIsAccepted) {
  const std::string jwt = Sign(kHs256, Claims());
  for (mode_t mode : {0600, 0400}) {
    auto v = JwtVerifier::FromSecretFile(WriteFile(kKey + "\n", mode));
    ASSERT_TRUE(v.ok()) << std::oct << mode << " " << v.status();
    EXPECT_TRUE(v->Verify(jwt, kNow).ok());
  }
}

TEST_F(JwtKeyFileTest, ModeIsCheckedOnTheFileNotTheLink) {
  // A 0777 symlink to a 0600 file is fine; a link to a 0644 file is not.
  const std::string good = WriteFile(kKey, 0600);
  const std::string bad = WriteFile(kKey, 0644);
  const std::string link_good = NewPath(), link_bad = NewPath();
  ASSERT_EQ(::symlink(good.c_str(), link_good.c_str()), 0);
  ASSERT_EQ(::symlink(bad.c_str(), link_bad.c_str()), 0);
  EXPECT_TRUE(JwtVerifier::FromSecretFile(link_good).ok());
  EXPECT_EQ(JwtVerifier::FromSecretFile(link_bad).status().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST_F(JwtKeyFileTest, NonRegularFileIsRefused) {
  EXPECT_EQ(JwtVerifier::FromSecretFile(::testing::TempDir()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(JwtVerifier::FromSecretFile("/dev/null").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(JwtVerifier::FromSecretFile("/dev/zero").status().code(),
            absl::StatusCode::kInvalidArgument);
  // A FIFO with no writer: refused at once instead of blocking in open().
  const std::string fifo = NewPath();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const absl::Time start = absl::Now();
  absl::StatusOr<SecretString> key = ReadJwtSecretFile(fifo);
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(key.status().message()),
              HasSubstr("not a regular file"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
}

TEST_F(JwtKeyFileTest, BadPathsRefused) {
  EXPECT_EQ(ReadJwtSecretFile("").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadJwtSecretFile(std::string("/tmp/a\0b", 8)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadJwtSecretFile(WriteFile(kKey) + "/child").status().code(),
            absl::StatusCode::kNotFound);  // ENOTDIR
}

TEST_F(JwtKeyFileTest, ReadJwtSecretFileReturnsTheTrimmedKey) {
  for (const std::string& suffix : {"", "\n", "\r\n"}) {
    absl::StatusOr<SecretString> key = ReadJwtSecretFile(WriteFile(kKey + suffix));
    ASSERT_TRUE(key.ok()) << key.status();
    EXPECT_EQ(key->view(), kKey);
  }
  const std::string longest(kMaxJwtKeyBytes, 'k');
  absl::StatusOr<SecretString> key = ReadJwtSecretFile(WriteFile(longest + "\r\n"));
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->view(), longest);
  EXPECT_EQ(ReadJwtSecretFile(WriteFile(longest + "k")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadJwtSecretFile(WriteFile(longest + "k\n")).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(JwtKeyFileTest, LegacyOrgClaimOverload) {
  auto v = JwtVerifier::FromSecretFile(WriteFile(kKey), "tenant_id");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->org_claim(), "tenant_id");
  EXPECT_EQ(v->options().max_lifetime, absl::Hours(24));
}

TEST_F(JwtKeyFileTest, BadOptionsRefusedBeforeTheFileIsRead) {
  JwtVerifierOptions options;
  options.leeway = absl::Hours(1);
  EXPECT_EQ(JwtVerifier::FromSecretFile("/nonexistent/keygate/jwt-secret",
                                        options)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace keygate::http

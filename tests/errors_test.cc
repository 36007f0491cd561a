// tests/errors_test.cc: keygate's status vocabulary (keygate/errors.h).
#include "keygate/errors.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/errors/payloads.h"

namespace keygate {
namespace {

using ::testing::ElementsAre;
using ::testing::FieldsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

// True if `s` is well-formed UTF-8 (a reference check for SafeValue, written
// independently of the implementation).
bool IsUtf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = s[i];
    int n;
    unsigned cp;
    if (c < 0x80) { ++i; continue; }
    if ((c >> 5) == 0x6) { n = 1; cp = c & 0x1f; }
    else if ((c >> 4) == 0xe) { n = 2; cp = c & 0x0f; }
    else if ((c >> 3) == 0x1e) { n = 3; cp = c & 0x07; }
    else return false;
    if (i + n >= s.size()) return false;  // needs bytes i+1 .. i+n
    for (int k = 1; k <= n; ++k) {
      const unsigned char d = s[i + k];
      if ((d & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3f);
    }
    static const unsigned kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

TEST(ValidationErrorTest, CarriesFieldErrorsInOrder) {
  absl::Status s = ValidationError({{"name", "must not be empty", ""},
                                    {"scopes[1]", "unknown scope", "bogus"}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(FieldErrorsOf(s),
              ElementsAre(FieldsAre("name", "must not be empty", ""),
                          FieldsAre("scopes[1]", "unknown scope", "bogus")));
}

TEST(ValidationErrorTest, MessageNamesFieldsButNotValues) {
  absl::Status s =
      ValidationError({{"slug", "bad pattern", "SECRETISH-VALUE"}});
  EXPECT_THAT(std::string(s.message()), HasSubstr("slug: bad pattern"));
  EXPECT_THAT(std::string(s.message()), Not(HasSubstr("SECRETISH-VALUE")));
}

TEST(ValidationErrorTest, RoundTripsArbitraryBytes) {
  std::string weird("a\0b\xff\xfe", 5);
  std::string big(1024, 'x');
  absl::Status s = ValidationError({{weird, big, weird}, {"", "", ""}});
  EXPECT_THAT(FieldErrorsOf(s), ElementsAre(FieldsAre(weird, big, weird),
                                            FieldsAre("", "", "")));
}

TEST(ValidationErrorTest, OversizedInputIsBoundedNotLost) {
  const std::string huge(1 << 20, 'v');
  const std::string big(4096, 'b');
  std::vector<FieldError> many(500, FieldError{big, big, big});
  many[0] = {"name", "too long", huge};
  absl::Status s = ValidationError(many);
  std::vector<FieldError> got = FieldErrorsOf(s);
  ASSERT_EQ(got.size(), 100u);
  EXPECT_EQ(got[0].field, "name");
  EXPECT_EQ(got[0].value, std::string(1024, 'v'));
  EXPECT_EQ(got[1].message.size(), 1024u);
  EXPECT_LT(s.message().size(), 8192u);
}

TEST(ValidationErrorTest, EmptyListStillInvalidArgument) {
  absl::Status s = ValidationError({});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(FieldErrorsOf(s), IsEmpty());
}

TEST(ConflictErrorTest, AlreadyExistsWithOneFieldError) {
  absl::Status s = ConflictError({"slug", "already in use", "deploy-bot"});
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(s.message(), "conflict: slug already in use");
  EXPECT_THAT(FieldErrorsOf(s),
              ElementsAre(FieldsAre("slug", "already in use", "deploy-bot")));
}

TEST(FieldErrorsOfTest, NoneForOkOrPlainStatus) {
  EXPECT_THAT(FieldErrorsOf(absl::OkStatus()), IsEmpty());
  EXPECT_THAT(FieldErrorsOf(absl::InvalidArgumentError("x")), IsEmpty());
}

TEST(FieldErrorsOfTest, CorruptPayloadsYieldEmptyNeverCrash) {
  const std::string valid = std::string(
      *ValidationError({{"name", "bad", "v"}}).GetPayload(
          internal::kFieldErrorsTypeUrl));
  std::vector<std::string> corrupt = {
      "",
      std::string(1, '\x02') + valid.substr(1),  // unknown version
      valid.substr(0, valid.size() - 1),         // truncated value
      valid + "\x01",                            // trailing garbage
      std::string("\x01\xff\xff\xff\xff", 5),    // length beyond end
      std::string("\x01\x00\x00\x00\x80", 5),    // 2 GiB length
      std::string(2 << 20, '\x01'),              // oversized payload
  };
  // Every truncation of a valid payload but the full one and the empty
  // list is corrupt.
  for (size_t n = 2; n < valid.size(); ++n) corrupt.push_back(valid.substr(0, n));
  for (const std::string& payload : corrupt) {
    absl::Status s = absl::InvalidArgumentError("x");
    s.SetPayload(internal::kFieldErrorsTypeUrl, absl::Cord(payload));
    EXPECT_THAT(FieldErrorsOf(s), IsEmpty()) << "payload size " << payload.size();
  }
}

TEST(FieldErrorsOfTest, RandomPayloadsNeverCrash) {
  uint32_t x = 99;
  for (int round = 0; round < 2000; ++round) {
    std::string payload(1, '\x01');
    const int len = round % 64;
    for (int i = 0; i < len; ++i) {
      x = x * 1103515245 + 12345;
      // Mostly small bytes, so lengths are often plausible.
      payload.push_back(static_cast<char>((x >> 16) & ((x >> 30) ? 0xff : 7)));
    }
    absl::Status s = absl::InvalidArgumentError("x");
    s.SetPayload(internal::kFieldErrorsTypeUrl, absl::Cord(payload));
    for (const FieldError& e : FieldErrorsOf(s)) {
      ASSERT_LE(e.field.size() + e.message.size() + e.value.size(),
                payload.size());
    }
  }
}

TEST(VerifyErrorTest, EveryReasonButScopeIsTheSameUnauthenticated) {
  const VerifyFailure reasons[] = {
      VerifyFailure::kMalformed, VerifyFailure::kUnknown,
      VerifyFailure::kRevoked, VerifyFailure::kExpired,
      VerifyFailure::kAccountDisabled, VerifyFailure::kFleetLeaseLapsed};
  for (VerifyFailure reason : reasons) {
    absl::Status s = internal::VerifyError(reason, "read:tokens");
    EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
    EXPECT_EQ(s.message(), "invalid token");
    EXPECT_EQ(VerifyFailureOf(s), reason);
    EXPECT_FALSE(internal::RequiredScopeOf(s).has_value());
  }
}

TEST(VerifyErrorTest, InsufficientScopeIsPermissionDeniedWithScope) {
  absl::Status s =
      internal::VerifyError(VerifyFailure::kInsufficientScope, "write:tokens");
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(s.message(), "insufficient scope: requires write:tokens");
  EXPECT_EQ(VerifyFailureOf(s), VerifyFailure::kInsufficientScope);
  EXPECT_EQ(internal::RequiredScopeOf(s), "write:tokens");
}

TEST(VerifyErrorTest, NoneFailsClosedWithoutReason) {
  absl::Status s = internal::VerifyError(VerifyFailure::kNone);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(VerifyFailureOf(s), VerifyFailure::kNone);
}

TEST(VerifyFailureOfTest, IgnoresForeignOrInconsistentPayloads) {
  EXPECT_EQ(VerifyFailureOf(absl::OkStatus()), VerifyFailure::kNone);
  EXPECT_EQ(VerifyFailureOf(absl::UnauthenticatedError("x")),
            VerifyFailure::kNone);
  // A revoked reason on a NotFound, a scope reason on Unauthenticated, a bad
  // byte, a two-byte payload: none count.
  struct Case {
    absl::StatusCode code;
    std::string payload;
  } cases[] = {
      {absl::StatusCode::kNotFound, "\x03"},
      {absl::StatusCode::kUnauthenticated, "\x06"},
      {absl::StatusCode::kUnauthenticated, "\x08"},
      {absl::StatusCode::kUnauthenticated, std::string(1, '\0')},
      {absl::StatusCode::kUnauthenticated, "\x03\x03"},
      {absl::StatusCode::kUnauthenticated, ""},
  };
  for (const Case& c : cases) {
    absl::Status s(c.code, "x");
    s.SetPayload(internal::kVerifyFailureTypeUrl, absl::Cord(c.payload));
    EXPECT_EQ(VerifyFailureOf(s), VerifyFailure::kNone);
  }
}

TEST(VerifyFailureNameTest, StableNames) {
  EXPECT_EQ(VerifyFailureName(VerifyFailure::kNone), "none");
  EXPECT_EQ(VerifyFailureName(VerifyFailure::kMalformed), "malformed");
  EXPECT_EQ(VerifyFailureName(VerifyFailure::kUnknown), "unknown");
  EXPECT_EQ(VerifyFailureName(VerifyFailure::kRevoked), "revoked");
  EXPECT_EQ(VerifyFailureName(VerifyFailure::kExpired), "expired");
  EXPECT_EQ(VerifyFailureName(VerifyFailure::kAccountDisabled),
            "account_disabled");
  EXPECT_EQ(VerifyFailureName(VerifyFailure::kInsufficientScope),
            "insufficient_scope");
  EXPECT_EQ(VerifyFailureName(VerifyFailure::kFleetLeaseLapsed),
            "fleet_lease_lapsed");
}

TEST(SafeValueTest, KeepsValidPrintableText) {
  EXPECT_EQ(SafeValue(""), "");
  EXPECT_EQ(SafeValue("deploy-bot"), "deploy-bot");
  EXPECT_EQ(SafeValue("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91"),
            "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91");
  EXPECT_EQ(SafeValue("\xf4\x8f\xbf\xbf"), "\xf4\x8f\xbf\xbf");  // U+10FFFF
}

TEST(SafeValueTest, ReplacesControlCharacters) {
  EXPECT_EQ(SafeValue(std::string("a\0b\nc\x7f" "d", 7)), "a?b?c?d");
  EXPECT_EQ(SafeValue("\xc2\x85x"), "?x");           // C1 NEL
  EXPECT_EQ(SafeValue("a\xe2\x80\xaeZ"), "a?Z");     // U+202E RLO
  EXPECT_EQ(SafeValue("a\xe2\x80\xa8Z"), "a?Z");     // U+2028
}

TEST(SafeValueTest, ReplacesEachInvalidByte) {
  EXPECT_EQ(SafeValue("a\xff" "b"), "a?b");
  EXPECT_EQ(SafeValue("\x80"), "?");                  // stray continuation
  EXPECT_EQ(SafeValue("\xc0\xaf"), "??");             // overlong '/'
  EXPECT_EQ(SafeValue("\xc1\xbf"), "??");             // overlong
  EXPECT_EQ(SafeValue("\xe0\x80\xaf"), "???");        // overlong 3-byte
  EXPECT_EQ(SafeValue("\xf0\x80\x80\xaf"), "????");   // overlong 4-byte
  EXPECT_EQ(SafeValue("\xed\xa0\x80"), "???");        // U+D800 surrogate
  EXPECT_EQ(SafeValue("\xed\xbf\xbf"), "???");        // U+DFFF surrogate
  EXPECT_EQ(SafeValue("\xf4\x90\x80\x80"), "????");   // U+110000
  EXPECT_EQ(SafeValue("\xf5\x80\x80\x80"), "????");
  EXPECT_EQ(SafeValue("ab\xe2\x82"), "ab??");         // truncated sequence
  EXPECT_EQ(SafeValue("\xe2\x82" "A"), "??A");
}

TEST(SafeValueTest, TruncatesTo64BytesAtCharacterBoundary) {
  EXPECT_EQ(SafeValue(std::string(64, 'a')), std::string(64, 'a'));
  EXPECT_EQ(SafeValue(std::string(1 << 20, 'a')), std::string(64, 'a'));
  // 63 ASCII bytes then a 2-byte character: the character does not fit.
  EXPECT_EQ(SafeValue(std::string(63, 'a') + "\xc3\xa9"), std::string(63, 'a'));
  // 21 three-byte characters = 63 bytes; the 22nd does not fit.
  std::string euros;
  for (int i = 0; i < 30; ++i) euros += "\xe2\x82\xac";
  EXPECT_EQ(SafeValue(euros), euros.substr(0, 63));
}

TEST(SafeValueTest, OutputAlwaysValidBoundedAndIdempotent) {
  // Deterministic pseudo-random byte strings, heavy on high bytes.
  uint32_t x = 12345;
  for (int round = 0; round < 5000; ++round) {
    std::string in;
    const int len = round % 200;
    for (int i = 0; i < len; ++i) {
      x = x * 1103515245 + 12345;
      in.push_back(static_cast<char>((x >> 16) & 0xff));
    }
    const std::string out = SafeValue(in);
    ASSERT_LE(out.size(), 64u);
    ASSERT_TRUE(IsUtf8(out)) << round;
    for (unsigned char c : out) ASSERT_GE(c, 0x20);
    ASSERT_EQ(SafeValue(out), out);
  }
}

}  // namespace
}  // namespace keygate

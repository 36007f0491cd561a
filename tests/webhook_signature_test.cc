// tests/webhook_signature_test.cc: Standard Webhooks signatures
// (lib/webhooks/signature.h) against the reference test vector, and a
// verifier that refuses every tampered part.
#include "lib/webhooks/signature.h"

#include <string>

#include "gtest/gtest.h"
#include "keygate/webhook.h"

namespace keygate::webhooks {
namespace {

// The reference vector of the Standard Webhooks / Svix libraries, quoted
// from svix/svix-webhooks, php/tests/WebhookTest.php (testSignFunctionWorks;
// the same values appear in the standard-webhooks libraries' tests):
//   $key = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
//   $msgId = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
//   $timestamp = 1614265330;
//   $payload = '{"test": 2432232314}';
//   $expected = 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=';
constexpr std::string_view kSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr std::string_view kMessageId = "msg_p5jXN8AQM9LWM0D4loKWxJek";
constexpr int64_t kTimestamp = 1614265330;
constexpr std::string_view kBody = R"({"test": 2432232314})";
constexpr std::string_view kExpected =
    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

const absl::Time kNow = absl::FromUnixSeconds(kTimestamp);

TEST(WebhookSignatureTest, ReproducesTheReferenceVector) {
  absl::StatusOr<std::string> signature =
      SignWebhook(kSecret, kMessageId, kTimestamp, kBody);
  ASSERT_TRUE(signature.ok()) << signature.status();
  EXPECT_EQ(*signature, kExpected);
  // The reference libraries accept the secret without its prefix too.
  signature = SignWebhook(kSecret.substr(6), kMessageId, kTimestamp, kBody);
  ASSERT_TRUE(signature.ok());
  EXPECT_EQ(*signature, kExpected);
}

TEST(WebhookSignatureTest, VerifiesTheReferenceVector) {
  EXPECT_TRUE(VerifyWebhook(kSecret, kMessageId, "1614265330", kBody,
                            kExpected, kNow)
                  .ok());
  // One of several space-separated signatures is enough (rotation).
  EXPECT_TRUE(VerifyWebhook(kSecret, kMessageId, "1614265330", kBody,
                            "v1,bm9wZQ== v2,abc " + std::string(kExpected),
                            kNow)
                  .ok());
}

TEST(WebhookSignatureTest, RefusesEveryTamperedPart) {
  auto verify = [](std::string_view secret, std::string_view id,
                   std::string_view ts, std::string_view body,
                   std::string_view sig, absl::Time now = kNow) {
    return VerifyWebhook(secret, id, ts, body, sig, now).code();
  };
  using absl::StatusCode;
  EXPECT_EQ(verify(kSecret, kMessageId, "1614265330", R"({"test": 2432232315})",
                   kExpected),
            StatusCode::kUnauthenticated);
  EXPECT_EQ(verify(kSecret, kMessageId, "1614265330", "", kExpected),
            StatusCode::kUnauthenticated);
  EXPECT_EQ(verify(kSecret, "msg_other", "1614265330", kBody, kExpected),
            StatusCode::kUnauthenticated);
  // A timestamp moved within the tolerance still breaks the signature.
  EXPECT_EQ(verify(kSecret, kMessageId, "1614265331", kBody, kExpected,
                   kNow + absl::Seconds(1)),
            StatusCode::kUnauthenticated);
  // Replayed too late or sent from the future.
  EXPECT_EQ(verify(kSecret, kMessageId, "1614265330", kBody, kExpected,
                   kNow + absl::Minutes(6)),
            StatusCode::kUnauthenticated);
  EXPECT_EQ(verify(kSecret, kMessageId, "1614265330", kBody, kExpected,
                   kNow - absl::Minutes(6)),
            StatusCode::kUnauthenticated);
  EXPECT_EQ(verify(kSecret, kMessageId, "1614265330.0", kBody, kExpected),
            StatusCode::kUnauthenticated);
  EXPECT_EQ(verify(kSecret, kMessageId, "-1614265330", kBody, kExpected),
            StatusCode::kUnauthenticated);
  // Another secret, a flipped signature byte, a wrong version tag.
  EXPECT_EQ(verify("whsec_" + std::string(32, 'A'), kMessageId, "1614265330",
                   kBody, kExpected),
            StatusCode::kUnauthenticated);
  std::string flipped(kExpected);
  flipped[5] = flipped[5] == 'A' ? 'B' : 'A';
  EXPECT_EQ(verify(kSecret, kMessageId, "1614265330", kBody, flipped),
            StatusCode::kUnauthenticated);
  EXPECT_EQ(verify(kSecret, kMessageId, "1614265330", kBody,
                   "v2," + std::string(kExpected.substr(3))),
            StatusCode::kUnauthenticated);
  EXPECT_EQ(verify(kSecret, kMessageId, "1614265330", kBody, ""),
            StatusCode::kUnauthenticated);
}

TEST(WebhookSignatureTest, RefusesMalformedSecretsWithoutEchoingThem) {
  for (std::string_view bad :
       {"", "whsec_", "whsec_!!!!", "whsec_AAAA", "whsec_" /* too short */}) {
    absl::StatusOr<std::string> s = SignWebhook(bad, "m", 1, "b");
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  absl::StatusOr<std::string> s =
      SignWebhook("whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=!", "m", 1, "b");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(std::string(s.status().message()).find("c2VjcmV0"),
            std::string::npos);
}

TEST(WebhookSignatureTest, GeneratedSecretsAreFreshAndUsable) {
  absl::StatusOr<SecretString> a = GenerateSigningSecret();
  absl::StatusOr<SecretString> b = GenerateSigningSecret();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->view().substr(0, 6), kWebhookSecretPrefix);
  EXPECT_EQ(a->size(), 6u + 44u);  // base64 of 32 bytes
  EXPECT_NE(a->view(), b->view());
  absl::StatusOr<SecretString> key = DecodeSigningSecret(a->view());
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key->size(), kSigningKeySize);
  absl::StatusOr<std::string> sig = SignWebhook(a->view(), "m", 5, "body");
  ASSERT_TRUE(sig.ok());
  EXPECT_TRUE(VerifyWebhook(a->view(), "m", "5", "body", *sig,
                            absl::FromUnixSeconds(5))
                  .ok());
  EXPECT_FALSE(VerifyWebhook(b->view(), "m", "5", "body", *sig,
                             absl::FromUnixSeconds(5))
                   .ok());
}

}  // namespace
}  // namespace keygate::webhooks

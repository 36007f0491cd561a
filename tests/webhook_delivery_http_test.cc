// Webhook delivery over real loopback HTTP: the engine
// (keygate/webhook_deliverer.h) with serve's Beast transport
// (tools/keygate/webhook_http_transport.h) and a socket receiver
// (tests/support/webhook_receiver.h): Standard Webhooks signatures check
// out, order per endpoint, everything arrives after a receiver that was
// down comes back, the transport refuses targets the policy refuses, and
// over https only a receiver whose certificate verifies gets anything (an
// unverifiable one records "tls" attempts).
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "keygate/keygate.h"
#include "lib/webhooks/signature.h"
#include "nlohmann/json.hpp"
#include "tests/store_test_util.h"
#include "tests/support/test_pki.h"
#include "tests/support/webhook_receiver.h"
#include "tools/keygate/webhook_http_transport.h"
#include "tools/keygate/webhook_tls_context.h"

namespace keygate {
namespace {

template <typename F>
bool WaitFor(F done, absl::Duration limit = absl::Seconds(20)) {
  const absl::Time end = absl::Now() + limit;
  while (absl::Now() < end) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return done();
}

class WebhookDeliveryHttpTest : public test::StoreTest {
 protected:
  void SetUp() override {
    test::StoreTest::SetUp();
    Options options = DefaultOptions();
    options.record_events = true;
    options.webhook_targets.allow_private_targets = true;  // loopback
    KG_ASSERT_OK(Reopen(options));
    ASSERT_GT(receiver_.Start(), 0);
  }
  void TearDown() override {
    if (deliverer_) deliverer_->Stop();
    receiver_.Stop();
    test::StoreTest::TearDown();
  }
  WebhookDelivererOptions EngineOptions(bool allow_private = true) {
    WebhookDelivererOptions o;
    o.target_policy.allow_private_targets = allow_private;
    o.poll_interval = absl::Milliseconds(20);
    o.retry_base = absl::Milliseconds(20);
    o.retry_cap = absl::Milliseconds(200);
    o.request_timeout = absl::Seconds(2);
    // Real time: the receiver checks timestamps against the wall clock.
    return o;
  }
  void StartEngine(WebhookDelivererOptions o,
                   std::shared_ptr<WebhookTransport> transport = nullptr) {
    if (!transport) transport = std::make_shared<tool::WebhookHttpTransport>();
    KG_ASSERT_OK_AND_ASSIGN(
        deliverer_,
        WebhookDeliverer::Start(store_.get(), std::move(transport),
                                std::move(o)));
  }
  EndpointWithSecret MakeEndpoint(const std::string& url) {
    WebhookEndpointSpec spec;
    spec.url = url;
    spec.event_names = {"service_account.created"};
    absl::StatusOr<EndpointWithSecret> made =
        store_->CreateWebhookEndpoint(kOrg, spec, kActor);
    EXPECT_TRUE(made.ok()) << made.status();
    return made.ok() ? *std::move(made) : EndpointWithSecret{};
  }
  // Slugs returns the account slug of each received delivery, in order,
  // after checking its signature under `secret`.
  std::vector<std::string> CheckedSlugs(const SecretString& secret) {
    std::vector<std::string> slugs;
    for (const test::ReceivedWebhook& r : receiver_.Received()) {
      EXPECT_EQ(r.method, "POST");
      EXPECT_EQ(r.target, "/hook?x=1");
      EXPECT_EQ(r.Header("content-type"), "application/json");
      KG_EXPECT_OK(webhooks::VerifyWebhook(
          secret.view(), r.Header("webhook-id"), r.Header("webhook-timestamp"),
          r.body, r.Header("webhook-signature"), absl::Now()));
      const auto body = nlohmann::json::parse(r.body);
      EXPECT_EQ(body["data"]["id"], r.Header("webhook-id"));
      slugs.push_back(body["data"]["serviceAccount"]["slug"]);
    }
    return slugs;
  }

  test::WebhookReceiver receiver_;
  std::unique_ptr<WebhookDeliverer> deliverer_;
};

TEST_F(WebhookDeliveryHttpTest, SignedDeliveriesArriveInOrder) {
  EndpointWithSecret e = MakeEndpoint(receiver_.Url("/hook?x=1"));
  StartEngine(EngineOptions());
  std::vector<std::string> expected;
  for (int i = 0; i < 10; ++i) {
    expected.push_back("acct-" + std::to_string(i));
    KG_ASSERT_OK(CreateAccount(expected.back()));
  }
  ASSERT_TRUE(WaitFor([&] { return receiver_.Count() >= 10; }));
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(CheckedSlugs(e.signing_secret), expected);
  ASSERT_TRUE(WaitFor([&] {
    absl::StatusOr<WebhookDeliveryState> s =
        store_->GetWebhookDeliveryState(kOrg, e.endpoint.id);
    return s.ok() && s->recent_attempts.size() == 10;
  }));
  absl::StatusOr<WebhookDeliveryState> s =
      store_->GetWebhookDeliveryState(kOrg, e.endpoint.id);
  ASSERT_TRUE(s.ok());
  for (const WebhookDeliveryAttempt& a : s->recent_attempts) {
    EXPECT_EQ(a.http_status, 200);
    EXPECT_GT(a.latency, absl::ZeroDuration());
  }
}

TEST_F(WebhookDeliveryHttpTest, ReceiverDownThenUpGetsEverything) {
  EndpointWithSecret e = MakeEndpoint(receiver_.Url("/hook?x=1"));
  const int port = receiver_.port();
  receiver_.Stop();  // connections refused from now on
  StartEngine(EngineOptions());
  std::vector<std::string> expected;
  for (int i = 0; i < 8; ++i) {
    expected.push_back("down-" + std::to_string(i));
    KG_ASSERT_OK(CreateAccount(expected.back()));
  }
  // Failed attempts are recorded while it is down.
  ASSERT_TRUE(WaitFor([&] {
    absl::StatusOr<WebhookDeliveryState> s =
        store_->GetWebhookDeliveryState(kOrg, e.endpoint.id);
    return s.ok() && s->failure_streak >= 3;
  }));
  absl::StatusOr<WebhookDeliveryState> s =
      store_->GetWebhookDeliveryState(kOrg, e.endpoint.id);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->recent_attempts[0].error, WebhookDeliveryError::kConnection);
  EXPECT_EQ(s->recent_attempts[0].http_status, 0);
  ASSERT_EQ(receiver_.Start(port), port);
  ASSERT_TRUE(WaitFor([&] { return receiver_.Count() >= expected.size(); }));
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_EQ(CheckedSlugs(e.signing_secret), expected);
}

TEST_F(WebhookDeliveryHttpTest, ServerErrorIsRetriedUntilAccepted) {
  EndpointWithSecret e = MakeEndpoint(receiver_.Url("/hook?x=1"));
  receiver_.SetStatus(503);
  StartEngine(EngineOptions());
  KG_ASSERT_OK(CreateAccount("retried"));
  ASSERT_TRUE(WaitFor([&] { return receiver_.Count() >= 3; }));
  receiver_.SetStatus(204);
  ASSERT_TRUE(WaitFor([&] {
    absl::StatusOr<WebhookDeliveryState> s =
        store_->GetWebhookDeliveryState(kOrg, e.endpoint.id);
    return s.ok() && !s->recent_attempts.empty() &&
           s->recent_attempts[0].http_status == 204;
  }));
  // Every attempt carried the same webhook-id (receivers deduplicate by it).
  std::set<std::string> ids;
  for (const test::ReceivedWebhook& r : receiver_.Received()) {
    ids.insert(r.Header("webhook-id"));
  }
  EXPECT_EQ(ids.size(), 1u);
}

TEST_F(WebhookDeliveryHttpTest, TransportRefusesTargetsThePolicyRefuses) {
  // Stored while the store's policy allowed loopback; delivered under a
  // policy that does not: refused before any connection.
  EndpointWithSecret e = MakeEndpoint(receiver_.Url("/hook?x=1"));
  StartEngine(EngineOptions(/*allow_private=*/false));
  KG_ASSERT_OK(CreateAccount("refused"));
  ASSERT_TRUE(WaitFor([&] {
    absl::StatusOr<WebhookDeliveryState> s =
        store_->GetWebhookDeliveryState(kOrg, e.endpoint.id);
    return s.ok() && !s->recent_attempts.empty();
  }));
  absl::StatusOr<WebhookDeliveryState> s =
      store_->GetWebhookDeliveryState(kOrg, e.endpoint.id);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->recent_attempts[0].error, WebhookDeliveryError::kRefusedTarget);
  EXPECT_EQ(receiver_.Count(), 0u);

  // The transport alone: a name resolving to loopback is refused too.
  tool::WebhookHttpTransport transport;
  WebhookRequest request;
  request.url = "http://localhost:" + std::to_string(receiver_.port()) + "/";
  request.target_policy.allow_private_targets = false;
  EXPECT_EQ(transport.Post(request).error,
            WebhookDeliveryError::kRefusedTarget);
  request.target_policy.allow_private_targets = true;
  EXPECT_EQ(transport.Post(request).http_status, 200);
}

// The engine over https (certificates made at run time): signed deliveries
// arrive at a receiver whose certificate verifies against the CA serve was
// given, and a receiver the transport cannot verify gets nothing while the
// attempts are recorded as "tls" and retried.
TEST_F(WebhookDeliveryHttpTest, SignedDeliveriesOverVerifiedTls) {
  const std::string dir = (std::filesystem::temp_directory_path() /
                           ("keygate_delivery_tls_" + std::to_string(::getpid())))
                              .string();
  absl::StatusOr<test::TestPki> pki = test::MakeTestPki(dir);
  ASSERT_TRUE(pki.ok()) << pki.status();
  absl::StatusOr<std::unique_ptr<tool::WebhookTlsContext>> tls =
      tool::WebhookTlsContext::Create(pki->ca_file);
  ASSERT_TRUE(tls.ok()) << tls.status();
  tool::WebhookHttpTransportOptions transport_options;
  transport_options.tls = std::move(*tls);
  auto transport =
      std::make_shared<tool::WebhookHttpTransport>(transport_options);

  test::WebhookReceiver verified, untrusted;
  ASSERT_GT(verified.StartTls(pki->localhost.cert_file,
                              pki->localhost.key_file),
            0);
  ASSERT_GT(untrusted.StartTls(pki->untrusted.cert_file,
                               pki->untrusted.key_file),
            0);
  EndpointWithSecret good = MakeEndpoint(verified.Url("/hook?x=1"));
  EndpointWithSecret bad = MakeEndpoint(untrusted.Url("/hook?x=1"));
  StartEngine(EngineOptions(), transport);
  KG_ASSERT_OK(CreateAccount("tls-0"));
  KG_ASSERT_OK(CreateAccount("tls-1"));
  ASSERT_TRUE(WaitFor([&] { return verified.Count() >= 2; }));
  ASSERT_TRUE(WaitFor([&] {
    absl::StatusOr<WebhookDeliveryState> s =
        store_->GetWebhookDeliveryState(kOrg, bad.endpoint.id);
    return s.ok() && s->recent_attempts.size() >= 2;
  }));
  deliverer_->Stop();
  std::vector<std::string> slugs;
  for (const test::ReceivedWebhook& r : verified.Received()) {
    EXPECT_EQ(r.target, "/hook?x=1");
    KG_EXPECT_OK(webhooks::VerifyWebhook(
        good.signing_secret.view(), r.Header("webhook-id"),
        r.Header("webhook-timestamp"), r.body, r.Header("webhook-signature"),
        absl::Now()));
    slugs.push_back(nlohmann::json::parse(r.body)["data"]["serviceAccount"]
                                                 ["slug"]);
  }
  EXPECT_EQ(slugs, (std::vector<std::string>{"tls-0", "tls-1"}));
  EXPECT_EQ(untrusted.Count(), 0u);
  absl::StatusOr<WebhookDeliveryState> s =
      store_->GetWebhookDeliveryState(kOrg, bad.endpoint.id);
  ASSERT_TRUE(s.ok());
  for (const WebhookDeliveryAttempt& a : s->recent_attempts) {
    EXPECT_EQ(a.error, WebhookDeliveryError::kTls);
    EXPECT_EQ(a.http_status, 0);
    // The first event is retried: it never got past.
    EXPECT_EQ(a.event_position, s->recent_attempts.back().event_position);
  }
  EXPECT_EQ(WebhookDeliveryErrorName(s->recent_attempts[0].error), "tls");
  verified.Stop();
  untrusted.Stop();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

// DNS is checked at delivery: a public name whose answer includes ANY
// non-public address is refused before connecting, and an allowed answer
// is connected to as resolved (the transport never resolves twice).
TEST_F(WebhookDeliveryHttpTest, EveryResolvedAddressIsCheckedBeforeConnecting) {
  int resolutions = 0;
  std::vector<std::string> answer;
  tool::WebhookHttpTransport transport([&](const std::string& host) {
    EXPECT_EQ(host, "hooks.example.com");
    ++resolutions;
    return answer;
  });
  WebhookRequest request;
  request.url = "http://hooks.example.com:" +
                std::to_string(receiver_.port()) + "/rebound";
  for (const std::vector<std::string>& refused :
       {std::vector<std::string>{"127.0.0.1"},
        std::vector<std::string>{"93.184.216.34", "127.0.0.1"},
        std::vector<std::string>{"93.184.216.34", "169.254.169.254"},
        std::vector<std::string>{"::1"},
        std::vector<std::string>{"::ffff:10.0.0.1"}}) {
    answer = refused;
    EXPECT_EQ(transport.Post(request).error,
              WebhookDeliveryError::kRefusedTarget)
        << refused.back();
  }
  EXPECT_EQ(receiver_.Count(), 0u);
  // Allowed (the policy admits private targets): one resolution, and the
  // connection goes to the checked address.
  request.target_policy.allow_private_targets = true;
  answer = {"127.0.0.1"};
  resolutions = 0;
  EXPECT_EQ(transport.Post(request).http_status, 200);
  EXPECT_EQ(resolutions, 1);
  ASSERT_EQ(receiver_.Count(), 1u);
  EXPECT_EQ(receiver_.Received()[0].target, "/rebound");
  EXPECT_EQ(receiver_.Received()[0].Header("host"),
            "hooks.example.com:" + std::to_string(receiver_.port()));
  // No answer: a connection error, nothing sent.
  answer = {};
  EXPECT_EQ(transport.Post(request).error, WebhookDeliveryError::kConnection);
}

TEST_F(WebhookDeliveryHttpTest, SilentReceiverTimesOut) {
  // A socket that accepts (backlog) but never answers.
  receiver_.SetDelay(std::chrono::milliseconds(3000));
  tool::WebhookHttpTransport transport;
  WebhookRequest request;
  request.url = receiver_.Url("/slow");
  request.target_policy.allow_private_targets = true;
  request.timeout = absl::Milliseconds(300);
  const absl::Time start = absl::Now();
  WebhookResponse response = transport.Post(request);
  EXPECT_EQ(response.error, WebhookDeliveryError::kTimeout);
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
}

}  // namespace
}  // namespace keygate

// Tests of the webhook delivery engine (keygate/webhook_deliverer.h) over a
// real store with an injected transport and clock: signatures, order per
// endpoint, tenant and subscription filtering, the retry classes, backoff
// bounds, the circuit, independence of endpoints, fairness across
// organizations, outbox acknowledgement.
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "keygate/keygate.h"
#include "lib/webhooks/delivery_outcome.h"
#include "lib/webhooks/signature.h"
#include "nlohmann/json.hpp"
#include "tests/store_test_util.h"

namespace keygate {
namespace {

// Received is one request the fake transport saw.
struct Received {
  WebhookRequest request;
  std::string Header(std::string_view name) const {
    for (const auto& [k, v] : request.headers) {
      if (k == name) return v;
    }
    return "";
  }
  std::string EventType() const {
    return nlohmann::json::parse(request.body)["type"].get<std::string>();
  }
};

// FakeTransport answers per URL from a script (then `otherwise`), can
// stall one URL to model a slow receiver, and can hold every URL under a
// prefix until released to model receivers that hang.
class FakeTransport : public WebhookTransport {
 public:
  WebhookResponse Post(const WebhookRequest& request) override {
    absl::Duration stall;
    WebhookResponse response;
    {
      absl::MutexLock lock(&mu_);
      received_.push_back({request});
      if (!held_prefix_.empty() && request.url.rfind(held_prefix_, 0) == 0) {
        // A hanging receiver: answers when released, or times out after
        // far longer than any test waits.
        ++held_;
        const bool answered = mu_.AwaitWithTimeout(
            absl::Condition(this, &FakeTransport::Released),
            absl::Seconds(120));
        --held_;
        if (!answered) return Error(WebhookDeliveryError::kTimeout);
        if (!release_all_) --permits_;
      }
      stall = stall_[request.url];
      std::vector<WebhookResponse>& script = script_[request.url];
      if (!script.empty()) {
        response = script.front();
        script.erase(script.begin());
      } else if (auto it = otherwise_.find(request.url);
                 it != otherwise_.end()) {
        response = it->second;
      } else {
        response = Status(200);
      }
    }
    if (stall > absl::ZeroDuration()) absl::SleepFor(stall);
    return response;
  }

  void Script(const std::string& url, std::vector<WebhookResponse> script,
              WebhookResponse otherwise = Status(200)) {
    absl::MutexLock lock(&mu_);
    script_[url] = std::move(script);
    otherwise_[url] = otherwise;
  }
  void Stall(const std::string& url, absl::Duration d) {
    absl::MutexLock lock(&mu_);
    stall_[url] = d;
  }
  // Hold makes every request to a URL starting with `prefix` hang until
  // released (ReleaseOne: the next one answers; ReleaseAll: all do).
  void Hold(const std::string& prefix) {
    absl::MutexLock lock(&mu_);
    held_prefix_ = prefix;
  }
  void ReleaseOne() {
    absl::MutexLock lock(&mu_);
    ++permits_;
  }
  void ReleaseAll() {
    absl::MutexLock lock(&mu_);
    release_all_ = true;
  }
  // Held is how many requests hang now.
  size_t Held() {
    absl::MutexLock lock(&mu_);
    return held_;
  }
  size_t CountPrefix(const std::string& prefix) {
    absl::MutexLock lock(&mu_);
    size_t n = 0;
    for (const Received& r : received_) {
      if (r.request.url.rfind(prefix, 0) == 0) ++n;
    }
    return n;
  }
  std::vector<Received> ReceivedBy(const std::string& url) {
    absl::MutexLock lock(&mu_);
    std::vector<Received> out;
    for (const Received& r : received_) {
      if (r.request.url == url) out.push_back(r);
    }
    return out;
  }
  size_t Count(const std::string& url) { return ReceivedBy(url).size(); }

  static WebhookResponse Status(int status) {
    WebhookResponse r;
    r.http_status = status;
    return r;
  }
  static WebhookResponse Error(WebhookDeliveryError e) {
    WebhookResponse r;
    r.error = e;
    return r;
  }

 private:
  bool Released() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return release_all_ || permits_ > 0;
  }

  absl::Mutex mu_;
  std::vector<Received> received_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::vector<WebhookResponse>> script_
      ABSL_GUARDED_BY(mu_);
  std::map<std::string, WebhookResponse> otherwise_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, absl::Duration> stall_ ABSL_GUARDED_BY(mu_);
  std::string held_prefix_ ABSL_GUARDED_BY(mu_);
  size_t held_ ABSL_GUARDED_BY(mu_) = 0;
  size_t permits_ ABSL_GUARDED_BY(mu_) = 0;
  bool release_all_ ABSL_GUARDED_BY(mu_) = false;
};

// WaitFor polls `done` for up to `limit` (real time).
template <typename F>
bool WaitFor(F done, absl::Duration limit = absl::Seconds(10)) {
  const absl::Time end = absl::Now() + limit;
  while (absl::Now() < end) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return done();
}

constexpr char kUrlA[] = "https://a.example.com/hook";
constexpr char kUrlB[] = "https://b.example.com/hook";

class WebhookDelivererTest : public test::StoreTest {
 protected:
  void SetUp() override {
    test::StoreTest::SetUp();
    Options options = DefaultOptions();
    options.record_events = true;
    KG_ASSERT_OK(Reopen(options));
    transport_ = std::make_shared<FakeTransport>();
  }
  void TearDown() override {
    transport_->ReleaseAll();  // Stop waits for the attempts in flight
    if (deliverer_) deliverer_->Stop();
    test::StoreTest::TearDown();
  }

  WebhookDelivererOptions EngineOptions() {
    WebhookDelivererOptions o;
    o.poll_interval = absl::Milliseconds(10);
    o.threads = 2;
    o.clock = [this] { return clock_.Now(); };
    o.random = [] { return 0.999; };
    o.retry_base = absl::Seconds(10);
    o.retry_cap = absl::Seconds(10);
    return o;
  }
  void StartEngine(WebhookDelivererOptions o) {
    KG_ASSERT_OK_AND_ASSIGN(deliverer_,
                            WebhookDeliverer::Start(store_.get(), transport_,
                                                    std::move(o)));
  }
  EndpointWithSecret MakeEndpoint(std::string url,
                                  std::vector<std::string> names,
                                  std::string_view org = kOrg) {
    WebhookEndpointSpec spec;
    spec.url = std::move(url);
    spec.event_names = std::move(names);
    absl::StatusOr<EndpointWithSecret> made =
        store_->CreateWebhookEndpoint(org, spec, kActor);
    EXPECT_TRUE(made.ok()) << made.status();
    return made.ok() ? *std::move(made) : EndpointWithSecret{};
  }
  WebhookDeliveryState State(const WebhookEndpoint& e) {
    absl::StatusOr<WebhookDeliveryState> s =
        store_->GetWebhookDeliveryState(e.organization, e.id);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *s : WebhookDeliveryState();
  }

  // See ANewlyDueTenantGetsTheNextFreeWorkerBeforeTheHog.
  void NewlyDueTenantGetsTheNextFreeWorker(size_t threads);

  std::shared_ptr<FakeTransport> transport_;
  std::unique_ptr<WebhookDeliverer> deliverer_;
};

TEST(RetryDelayTest, GrowsExponentiallyWithinJitterBoundsUpToTheCap) {
  const absl::Duration base = absl::Seconds(1), cap = absl::Hours(1);
  EXPECT_EQ(RetryDelay(1, base, cap, 1.0), absl::Seconds(1));
  EXPECT_EQ(RetryDelay(2, base, cap, 1.0), absl::Seconds(2));
  EXPECT_EQ(RetryDelay(5, base, cap, 1.0), absl::Seconds(16));
  EXPECT_EQ(RetryDelay(12, base, cap, 1.0), absl::Seconds(2048));
  EXPECT_EQ(RetryDelay(13, base, cap, 1.0), cap);  // 4096 s capped
  EXPECT_EQ(RetryDelay(4000000000u, base, cap, 1.0), cap);  // no overflow
  EXPECT_EQ(RetryDelay(5, base, cap, 0.0), absl::ZeroDuration());
  EXPECT_EQ(RetryDelay(5, base, cap, 0.5), absl::Seconds(8));
  for (uint32_t n = 1; n < 40; ++n) {
    for (double r : {0.0, 0.1, 0.5, 0.9, 0.999999}) {
      const absl::Duration d = RetryDelay(n, base, cap, r);
      EXPECT_GE(d, absl::ZeroDuration());
      EXPECT_LE(d, cap);
      EXPECT_LE(d, RetryDelay(n, base, cap, 1.0));
    }
  }
  // Out-of-range randoms are clamped, never beyond the ceiling.
  EXPECT_EQ(RetryDelay(3, base, cap, 7.0), absl::Seconds(4));
  EXPECT_EQ(RetryDelay(3, base, cap, -1.0), absl::ZeroDuration());
}

TEST(ClassifyDeliveryTest, RetriesOnlyTransientFailures) {
  using webhooks::ClassifyDelivery;
  using webhooks::DeliveryOutcome;
  for (int s : {200, 201, 202, 204, 299}) {
    EXPECT_EQ(ClassifyDelivery(FakeTransport::Status(s)),
              DeliveryOutcome::kDelivered)
        << s;
  }
  for (int s : {400, 401, 403, 404, 405, 410, 413, 422, 499}) {
    EXPECT_EQ(ClassifyDelivery(FakeTransport::Status(s)),
              DeliveryOutcome::kPermanentFailure)
        << s;
  }
  for (int s : {408, 429, 500, 502, 503, 504, 599, 301, 302, 307, 100}) {
    EXPECT_EQ(ClassifyDelivery(FakeTransport::Status(s)),
              DeliveryOutcome::kRetry)
        << s;
  }
  for (WebhookDeliveryError e :
       {WebhookDeliveryError::kTimeout, WebhookDeliveryError::kConnection,
        WebhookDeliveryError::kRefusedTarget,
        WebhookDeliveryError::kProtocol}) {
    EXPECT_EQ(ClassifyDelivery(FakeTransport::Error(e)),
              DeliveryOutcome::kRetry);
  }
}

// One process of a fleet delivers (serve elects it): the others run the
// engine with a may_deliver that says no, and send nothing until it says
// yes.
TEST_F(WebhookDelivererTest, SendsNothingWhileItMayNotDeliver) {
  EndpointWithSecret a = MakeEndpoint(kUrlA, {"service_account.created"});
  KG_ASSERT_OK(CreateAccount("acct"));
  auto may = std::make_shared<std::atomic<bool>>(false);
  WebhookDelivererOptions o = EngineOptions();
  o.may_deliver = [may] { return may->load(); };
  StartEngine(std::move(o));
  absl::SleepFor(absl::Milliseconds(300));  // 30 polls
  EXPECT_EQ(transport_->Count(kUrlA), 0);
  EXPECT_EQ(State(a.endpoint).cursor, 0u);
  may->store(true);
  EXPECT_TRUE(WaitFor([&] { return transport_->Count(kUrlA) == 1; }));
}

TEST_F(WebhookDelivererTest,
       DeliversSignedEventsInOrderOnlyOfItsOrganizationAndSubscription) {
  // An event before the endpoint exists is not its business.
  KG_ASSERT_OK(CreateAccount("before"));
  EndpointWithSecret a = MakeEndpoint(
      kUrlA, {"service_account.created", "service_account.updated"});
  EndpointWithSecret other_org = MakeEndpoint(
      kUrlB, {"service_account.created", "service_account.updated"},
      "org-other");
  for (int i = 0; i < 5; ++i) {
    KG_ASSERT_OK(CreateAccount("acct-" + std::to_string(i)));
  }
  KG_ASSERT_OK(CreateToken("acct-0", "not-subscribed"));  // token.created
  ServiceAccountPatch rename;
  rename.name = "Renamed";
  KG_ASSERT_OK(store_->UpdateServiceAccount(kOrg, "acct-1", rename, kActor));
  StartEngine(EngineOptions());

  ASSERT_TRUE(WaitFor([&] { return transport_->Count(kUrlA) >= 6; }));
  // Settle: nothing more may arrive.
  absl::SleepFor(absl::Milliseconds(200));
  std::vector<Received> got = transport_->ReceivedBy(kUrlA);
  ASSERT_EQ(got.size(), 6u);
  std::vector<std::string> types;
  std::set<std::string> ids;
  for (const Received& r : got) {
    types.push_back(r.EventType());
    ids.insert(r.Header("webhook-id"));
    EXPECT_EQ(r.Header("content-type"), "application/json");
    KG_EXPECT_OK(webhooks::VerifyWebhook(
        a.signing_secret.view(), r.Header("webhook-id"),
        r.Header("webhook-timestamp"), r.request.body,
        r.Header("webhook-signature"), clock_.Now()));
    // Signed with another endpoint's secret it would not verify.
    EXPECT_FALSE(webhooks::VerifyWebhook(other_org.signing_secret.view(),
                                         r.Header("webhook-id"),
                                         r.Header("webhook-timestamp"),
                                         r.request.body,
                                         r.Header("webhook-signature"),
                                         clock_.Now())
                     .ok());
    const auto body = nlohmann::json::parse(r.request.body);
    EXPECT_EQ(body["data"]["organization"], std::string(kOrg));
    EXPECT_EQ(body["data"]["id"], r.Header("webhook-id"));
    EXPECT_EQ(r.request.body.find("before"), std::string::npos);
  }
  EXPECT_EQ(ids.size(), 6u);
  EXPECT_EQ(types, (std::vector<std::string>{
                       "service_account.created", "service_account.created",
                       "service_account.created", "service_account.created",
                       "service_account.created", "service_account.updated"}));
  // In outbox order: the account slugs arrive 0..4.
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(nlohmann::json::parse(got[i].request.body)["data"]
                                   ["serviceAccount"]["slug"],
              "acct-" + std::to_string(i));
  }
  // The other organization's endpoint never saw org-test's events.
  EXPECT_EQ(transport_->Count(kUrlB), 0u);

  WebhookDeliveryState state = State(a.endpoint);
  EXPECT_EQ(state.failure_streak, 0u);
  ASSERT_EQ(state.recent_attempts.size(), 6u);
  EXPECT_EQ(state.recent_attempts[0].event_type,
            EventType::kServiceAccountUpdated);
  EXPECT_EQ(state.recent_attempts[0].http_status, 200);
  // The endpoint finished everything: the outbox is acknowledged up to the
  // lowest enabled cursor.
  ASSERT_TRUE(WaitFor([&] {
    absl::StatusOr<uint64_t> acked = store_->AckedEventPosition();
    return acked.ok() && *acked == std::min(state.cursor,
                                             State(other_org.endpoint).cursor);
  }));
}

TEST_F(WebhookDelivererTest, PermanentFailureIsNotRetriedAndDeliveryMovesOn) {
  for (int status : {400, 404, 410}) {
    SCOPED_TRACE(status);
    const std::string url =
        std::string(kUrlA) + "/" + std::to_string(status);
    EndpointWithSecret a = MakeEndpoint(url, {"service_account.created"});
    transport_->Script(url, {FakeTransport::Status(status)});
    KG_ASSERT_OK(CreateAccount("p-" + std::to_string(status)));
    KG_ASSERT_OK(CreateAccount("q-" + std::to_string(status)));
    if (!deliverer_) StartEngine(EngineOptions());
    ASSERT_TRUE(WaitFor([&] { return transport_->Count(url) >= 2; }));
    absl::SleepFor(absl::Milliseconds(100));
    // First event refused for good (one attempt), second delivered.
    std::vector<Received> got = transport_->ReceivedBy(url);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_NE(got[0].Header("webhook-id"), got[1].Header("webhook-id"));
    WebhookDeliveryState state = State(a.endpoint);
    ASSERT_EQ(state.recent_attempts.size(), 2u);
    EXPECT_EQ(state.recent_attempts[1].http_status, status);
    EXPECT_EQ(state.recent_attempts[1].attempt, 1u);
    EXPECT_EQ(state.recent_attempts[0].http_status, 200);
  }
}

TEST_F(WebhookDelivererTest, TransientFailuresAreRetriedAfterTheBackoff) {
  const std::vector<WebhookResponse> failures = {
      FakeTransport::Status(408), FakeTransport::Status(429),
      FakeTransport::Status(500), FakeTransport::Status(503),
      FakeTransport::Error(WebhookDeliveryError::kTimeout),
      FakeTransport::Error(WebhookDeliveryError::kConnection)};
  StartEngine(EngineOptions());  // retry delay 10 s * 0.999
  int n = 0;
  for (const WebhookResponse& failure : failures) {
    SCOPED_TRACE(n);
    const std::string url = std::string(kUrlA) + "/" + std::to_string(n++);
    EndpointWithSecret a = MakeEndpoint(url, {"service_account.created"});
    transport_->Script(url, {failure});
    KG_ASSERT_OK(CreateAccount("t-" + std::to_string(n)));
    ASSERT_TRUE(WaitFor([&] { return transport_->Count(url) >= 1; }));
    // Not before the backoff has passed (on the engine's clock).
    absl::SleepFor(absl::Milliseconds(100));
    EXPECT_EQ(transport_->Count(url), 1u);
    clock_.Advance(absl::Seconds(9));
    absl::SleepFor(absl::Milliseconds(100));
    EXPECT_EQ(transport_->Count(url), 1u);
    clock_.Advance(absl::Seconds(1));
    ASSERT_TRUE(WaitFor([&] { return transport_->Count(url) >= 2; }));
    std::vector<Received> got = transport_->ReceivedBy(url);
    EXPECT_EQ(got[0].Header("webhook-id"), got[1].Header("webhook-id"));
    ASSERT_TRUE(WaitFor([&] {
      return State(a.endpoint).recent_attempts.size() == 2;
    }));
    WebhookDeliveryState state = State(a.endpoint);
    EXPECT_EQ(state.recent_attempts[0].attempt, 2u);
    EXPECT_TRUE(state.recent_attempts[0].succeeded());
    EXPECT_EQ(state.recent_attempts[1].attempt, 1u);
    EXPECT_EQ(state.recent_attempts[1].http_status, failure.http_status);
    EXPECT_EQ(state.recent_attempts[1].error, failure.error);
    EXPECT_EQ(state.failure_streak, 0u);
  }
}

TEST_F(WebhookDelivererTest, CircuitDisablesTheEndpointAtTheStreakLimit) {
  EndpointWithSecret a = MakeEndpoint(kUrlA, {"service_account.created"});
  EndpointWithSecret watcher =
      MakeEndpoint(kUrlB, {"webhook_endpoint.disabled"});
  transport_->Script(kUrlA, {}, FakeTransport::Status(500));
  KG_ASSERT_OK(CreateAccount("doomed"));
  WebhookDelivererOptions o = EngineOptions();
  o.failure_streak_limit = 4;
  o.random = [] { return 0.0; };  // retry at once
  o.acknowledge_events = false;     // keep the event to read it back
  StartEngine(o);
  ASSERT_TRUE(WaitFor([&] {
    absl::StatusOr<WebhookEndpoint> e =
        store_->GetWebhookEndpoint(kOrg, a.endpoint.id);
    return e.ok() && e->disabled;
  }));
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_EQ(transport_->Count(kUrlA), 4u);  // no attempt once disabled
  absl::StatusOr<WebhookEndpoint> e =
      store_->GetWebhookEndpoint(kOrg, a.endpoint.id);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->updated_by, kWebhookDeliveryActor);
  EXPECT_EQ(State(a.endpoint).failure_streak, 4u);
  // The event says so, and a subscribed endpoint of the org receives it.
  absl::StatusOr<std::vector<Event>> events = store_->ReadEvents(0, 100);
  ASSERT_TRUE(events.ok());
  const Event* disabled = nullptr;
  for (const Event& ev : *events) {
    if (ev.type == EventType::kWebhookEndpointDisabled) disabled = &ev;
  }
  ASSERT_NE(disabled, nullptr);
  EXPECT_EQ(disabled->actor, kWebhookDeliveryActor);
  ASSERT_TRUE(disabled->webhook_endpoint.has_value());
  EXPECT_EQ(disabled->webhook_endpoint->id, a.endpoint.id);
  EXPECT_TRUE(disabled->webhook_endpoint->disabled);
  ASSERT_TRUE(WaitFor([&] { return transport_->Count(kUrlB) >= 1; }));
  std::vector<Received> got = transport_->ReceivedBy(kUrlB);
  EXPECT_EQ(got[0].EventType(), "webhook_endpoint.disabled");
  EXPECT_EQ(nlohmann::json::parse(got[0].request.body)["data"]
                                 ["webhookEndpoint"]["id"],
            a.endpoint.id);
  EXPECT_EQ(got[0].request.body.find("whsec_"), std::string::npos);

  // Re-enabled, it gets a full allowance and its event again.
  transport_->Script(kUrlA, {}, FakeTransport::Status(200));
  WebhookEndpointPatch enable;
  enable.disabled = false;
  KG_ASSERT_OK(store_->UpdateWebhookEndpoint(kOrg, a.endpoint.id, enable,
                                             kActor));
  EXPECT_EQ(State(a.endpoint).failure_streak, 0u);
  ASSERT_TRUE(WaitFor([&] { return transport_->Count(kUrlA) >= 5; }));
  ASSERT_TRUE(
      WaitFor([&] { return State(a.endpoint).recent_attempts[0].succeeded(); }));
}

TEST_F(WebhookDelivererTest, ASlowEndpointDoesNotDelayAnother) {
  EndpointWithSecret slow = MakeEndpoint(kUrlA, {"service_account.created"});
  EndpointWithSecret fast = MakeEndpoint(kUrlB, {"service_account.created"});
  transport_->Stall(kUrlA, absl::Seconds(4));
  KG_ASSERT_OK(CreateAccount("one"));
  StartEngine(EngineOptions());
  ASSERT_TRUE(WaitFor([&] { return transport_->Count(kUrlA) >= 1; },
                      absl::Seconds(2)));
  // The slow one is stalled for 4 s; the other is served meanwhile.
  KG_ASSERT_OK(CreateAccount("two"));
  const absl::Time start = absl::Now();
  ASSERT_TRUE(WaitFor([&] { return transport_->Count(kUrlB) >= 2; },
                      absl::Seconds(2)));
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_EQ(transport_->Count(kUrlA), 1u);
}

constexpr char kHogOrg[] = "org-a";  // listed before kOrg ("org-test")
constexpr char kHogUrl[] = "https://hog.example.com/";

// Noisy neighbour: one organization's 20 endpoints hang (until released,
// or minutes), another's one endpoint answers at once. Both are due when
// the engine starts, the hog listed first; the other's event must not wait
// for the hog's receivers.
TEST_F(WebhookDelivererTest, AHangingTenantDoesNotStarveAnother) {
  transport_->Hold(kHogUrl);
  for (int i = 0; i < 20; ++i) {
    MakeEndpoint(kHogUrl + std::to_string(i), {"service_account.created"},
                 kHogOrg);
  }
  MakeEndpoint(kUrlB, {"service_account.created"});
  KG_ASSERT_OK(CreateAccount("hog-event", kHogOrg));
  KG_ASSERT_OK(CreateAccount("victim-event"));
  WebhookDelivererOptions o = EngineOptions();
  o.threads = 4;
  StartEngine(o);
  // Far below the hog's hang (120 s), far above a poll (10 ms).
  EXPECT_TRUE(WaitFor([&] { return transport_->Count(kUrlB) >= 1; },
                      absl::Seconds(10)));
  // The hog still gets the workers nobody else wants.
  EXPECT_TRUE(WaitFor([&] { return transport_->Held() == 4; }));
}

// The hog holds every worker; then another organization becomes due. The
// next worker that comes free is its, not the hog's next queued endpoint:
// with several workers because the hog is above its share, with one
// because the newcomer was served less recently.
void WebhookDelivererTest::NewlyDueTenantGetsTheNextFreeWorker(
    size_t threads) {
  transport_->Hold(kHogUrl);
  for (int i = 0; i < 20; ++i) {
    MakeEndpoint(kHogUrl + std::to_string(i), {"service_account.created"},
                 kHogOrg);
  }
  KG_ASSERT_OK(CreateAccount("hog-event", kHogOrg));
  WebhookDelivererOptions o = EngineOptions();
  o.threads = threads;
  StartEngine(o);
  ASSERT_TRUE(WaitFor([&] { return transport_->Held() == threads; }));
  MakeEndpoint(kUrlB, {"service_account.created"});
  KG_ASSERT_OK(CreateAccount("victim-event"));
  deliverer_->Wake();
  // Plenty of polls for the dispatcher to queue the newcomer behind the
  // hog's queued endpoints.
  absl::SleepFor(absl::Seconds(1));
  EXPECT_EQ(transport_->Count(kUrlB), 0u);
  EXPECT_EQ(transport_->CountPrefix(kHogUrl), threads);
  transport_->ReleaseOne();
  EXPECT_TRUE(WaitFor([&] { return transport_->Count(kUrlB) >= 1; },
                      absl::Seconds(10)));
  // The freed worker served the newcomer first: the hog has made exactly
  // one more request (on the worker the newcomer left) and hangs again on
  // every worker.
  ASSERT_TRUE(WaitFor([&] { return transport_->Held() == threads; }));
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_EQ(transport_->CountPrefix(kHogUrl), threads + 1);
}

TEST_F(WebhookDelivererTest, ANewlyDueTenantGetsTheNextFreeWorkerBeforeTheHog) {
  NewlyDueTenantGetsTheNextFreeWorker(4);
}

TEST_F(WebhookDelivererTest, ANewlyDueTenantGetsTheOnlyWorkerNextBeforeTheHog) {
  NewlyDueTenantGetsTheNextFreeWorker(1);
}

// With max_in_flight_per_organization below threads, a hog never holds
// more workers than the cap: another organization that becomes due is
// served at once, without waiting for any hanging receiver.
TEST_F(WebhookDelivererTest, TheOrganizationCapKeepsWorkersFreeForOthers) {
  transport_->Hold(kHogUrl);
  for (int i = 0; i < 20; ++i) {
    MakeEndpoint(kHogUrl + std::to_string(i), {"service_account.created"},
                 kHogOrg);
  }
  KG_ASSERT_OK(CreateAccount("hog-event", kHogOrg));
  WebhookDelivererOptions o = EngineOptions();
  o.threads = 4;
  o.max_in_flight_per_organization = 2;
  StartEngine(o);
  ASSERT_TRUE(WaitFor([&] { return transport_->Held() == 2; }));
  absl::SleepFor(absl::Milliseconds(300));  // 30 polls
  EXPECT_EQ(transport_->CountPrefix(kHogUrl), 2u);
  MakeEndpoint(kUrlB, {"service_account.created"});
  KG_ASSERT_OK(CreateAccount("victim-event"));
  deliverer_->Wake();
  EXPECT_TRUE(WaitFor([&] { return transport_->Count(kUrlB) >= 1; },
                      absl::Seconds(10)));
  EXPECT_EQ(transport_->Held(), 2u);
  EXPECT_EQ(transport_->CountPrefix(kHogUrl), 2u);
  // A released hog request frees a slot of the hog's own.
  transport_->ReleaseOne();
  EXPECT_TRUE(WaitFor([&] { return transport_->CountPrefix(kHogUrl) == 3; }));
  ASSERT_TRUE(WaitFor([&] { return transport_->Held() == 2; }));
}

// A tenant with a backlog keeps the worker it got while the hog holds all
// the others: an endpoint with more to send at once goes straight back to
// its organization's queue (not via the next poll, by which time the
// worker would have taken the hog's next endpoint and hung on it), so the
// backlog drains on one freed worker, not one event per hog timeout.
TEST_F(WebhookDelivererTest, ATenantsBacklogDrainsOnTheWorkerFreedByTheHog) {
  transport_->Hold(kHogUrl);
  for (int i = 0; i < 20; ++i) {
    MakeEndpoint(kHogUrl + std::to_string(i), {"service_account.created"},
                 kHogOrg);
  }
  KG_ASSERT_OK(CreateAccount("hog-event", kHogOrg));
  WebhookDelivererOptions o = EngineOptions();
  o.threads = 2;
  StartEngine(o);
  ASSERT_TRUE(WaitFor([&] { return transport_->Held() == 2; }));
  MakeEndpoint(kUrlB, {"service_account.created"});
  constexpr size_t kBacklog = 5;
  for (size_t i = 0; i < kBacklog; ++i) {
    KG_ASSERT_OK(CreateAccount("victim-" + std::to_string(i)));
  }
  deliverer_->Wake();
  absl::SleepFor(absl::Seconds(1));  // 100 polls: queued behind the hog
  ASSERT_EQ(transport_->Count(kUrlB), 0u);
  transport_->ReleaseOne();
  EXPECT_TRUE(WaitFor([&] { return transport_->Count(kUrlB) == kBacklog; }))
      << transport_->Count(kUrlB) << " of " << kBacklog;
  // Then the freed worker goes back to the hog.
  EXPECT_TRUE(WaitFor([&] { return transport_->Held() == 2; }));
  EXPECT_EQ(transport_->CountPrefix(kHogUrl), 3u);
}

// An endpoint queued while the engine could deliver, still waiting for a
// worker when may_deliver turns false (leadership lost: another process
// delivers now), is not started until a round may deliver again; per-org
// queues can hold one for many request timeouts.
TEST_F(WebhookDelivererTest, AQueuedEndpointWaitsWhileItMayNotDeliver) {
  transport_->Hold(kHogUrl);
  const std::string first = std::string(kHogUrl) + "first";
  const std::string second = std::string(kHogUrl) + "second";
  MakeEndpoint(first, {"service_account.created"});
  MakeEndpoint(second, {"service_account.created"});
  KG_ASSERT_OK(CreateAccount("acct"));
  auto may = std::make_shared<std::atomic<bool>>(true);
  WebhookDelivererOptions o = EngineOptions();
  o.threads = 1;
  o.may_deliver = [may] { return may->load(); };
  StartEngine(std::move(o));
  // One worker: one endpoint hangs, the other waits in the queue.
  ASSERT_TRUE(WaitFor([&] { return transport_->Held() == 1; }));
  may->store(false);
  absl::SleepFor(absl::Milliseconds(500));  // 50 polls see it
  transport_->ReleaseOne();
  absl::SleepFor(absl::Milliseconds(500));
  EXPECT_EQ(transport_->CountPrefix(kHogUrl), 1u);
  may->store(true);
  EXPECT_TRUE(WaitFor([&] { return transport_->CountPrefix(kHogUrl) == 2; }));
  EXPECT_EQ(transport_->Count(first), 1u);
  EXPECT_EQ(transport_->Count(second), 1u);
}

// A queued copy of an endpoint waits for a worker; meanwhile the endpoint
// is changed or disabled. The step posts what the store says now.
TEST_F(WebhookDelivererTest, AStaleQueuedCopyOfAnEndpointIsNeverPosted) {
  for (const bool disable : {false, true}) {
    SCOPED_TRACE(disable);
    transport_ = std::make_shared<FakeTransport>();
    transport_->Hold(kHogUrl);
    const std::string first = std::string(kHogUrl) + "first";
    const std::string second = std::string(kHogUrl) + "second";
    EndpointWithSecret one = MakeEndpoint(first, {"service_account.created"});
    EndpointWithSecret two = MakeEndpoint(second, {"service_account.created"});
    KG_ASSERT_OK(CreateAccount(disable ? "event-1" : "event-0"));
    WebhookDelivererOptions o = EngineOptions();
    o.threads = 1;
    StartEngine(o);
    // One worker: one endpoint hangs, the other waits in the queue.
    ASSERT_TRUE(WaitFor([&] { return transport_->Held() == 1; }));
    absl::SleepFor(absl::Milliseconds(100));
    ASSERT_EQ(transport_->CountPrefix(kHogUrl), 1u);
    const bool first_hangs = transport_->Count(first) == 1;
    const EndpointWithSecret& queued = first_hangs ? two : one;
    const std::string stale_url = first_hangs ? second : first;
    const std::string new_url = std::string(kUrlB) + (disable ? "1" : "0");
    WebhookEndpointPatch patch;
    if (disable) {
      patch.disabled = true;
    } else {
      patch.url = new_url;
    }
    KG_ASSERT_OK(store_->UpdateWebhookEndpoint(kOrg, queued.endpoint.id,
                                               patch, kActor));
    transport_->ReleaseOne();
    if (!disable) {
      EXPECT_TRUE(WaitFor([&] { return transport_->Count(new_url) >= 1; }));
    }
    absl::SleepFor(absl::Milliseconds(300));
    EXPECT_EQ(transport_->Count(stale_url), 0u);
    transport_->ReleaseAll();
    deliverer_->Stop();
    deliverer_.reset();
    KG_ASSERT_OK(store_->DeleteWebhookEndpoint(kOrg, one.endpoint.id, kActor));
    KG_ASSERT_OK(store_->DeleteWebhookEndpoint(kOrg, two.endpoint.id, kActor));
  }
}

TEST_F(WebhookDelivererTest, StateSurvivesRestartAndDeletedEndpointIsDropped) {
  EndpointWithSecret a = MakeEndpoint(kUrlA, {"service_account.created"});
  KG_ASSERT_OK(CreateAccount("first"));
  StartEngine(EngineOptions());
  ASSERT_TRUE(WaitFor([&] { return State(a.endpoint).recent_attempts.size() == 1; }));
  deliverer_->Stop();
  deliverer_.reset();
  Options options = DefaultOptions();
  options.record_events = true;
  KG_ASSERT_OK(Reopen(options));
  KG_ASSERT_OK(CreateAccount("second"));
  StartEngine(EngineOptions());
  ASSERT_TRUE(WaitFor([&] { return transport_->Count(kUrlA) >= 2; }));
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(transport_->Count(kUrlA), 2u);  // "first" not sent again
  KG_ASSERT_OK(store_->DeleteWebhookEndpoint(kOrg, a.endpoint.id, kActor));
  EXPECT_TRUE(absl::IsNotFound(
      store_->GetWebhookDeliveryState(kOrg, a.endpoint.id).status()));
  KG_ASSERT_OK(CreateAccount("third"));
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(transport_->Count(kUrlA), 2u);
  // Another organization's id reads as absent.
  EndpointWithSecret b = MakeEndpoint(kUrlB, {"token.created"});
  EXPECT_TRUE(absl::IsNotFound(
      store_->GetWebhookDeliveryState("org-other", b.endpoint.id).status()));
}

TEST_F(WebhookDelivererTest, BadNamesAreRefusedAndChangeNothing) {
  EndpointWithSecret a = MakeEndpoint(kUrlA, {"token.created"});
  const WebhookDeliveryState before = State(a.endpoint);
  WebhookDeliveryUpdate update;
  update.cursor = 99;
  const std::string nul_org("org\0x", 5);
  for (const auto& [org, id] : std::vector<std::pair<std::string, std::string>>{
           {"", a.endpoint.id},
           {nul_org, a.endpoint.id},
           {std::string(kOrg), ""},
           {std::string(kOrg), "wh_short"},
           {std::string(kOrg), a.endpoint.id + "x"},
           {std::string(kOrg), std::string(10000, 'a')}}) {
    EXPECT_TRUE(absl::IsInvalidArgument(
        store_->GetWebhookDeliveryState(org, id).status()));
    EXPECT_TRUE(absl::IsInvalidArgument(
        store_->RecordWebhookDelivery(org, id, update).status()));
  }
  // Another organization's endpoint: NotFound, and nothing written.
  EXPECT_TRUE(absl::IsNotFound(
      store_->RecordWebhookDelivery("org-other", a.endpoint.id, update)
          .status()));
  EXPECT_EQ(State(a.endpoint).cursor, before.cursor);
  // The cursor never moves back.
  update.cursor = before.cursor + 5;
  KG_ASSERT_OK(store_->RecordWebhookDelivery(kOrg, a.endpoint.id, update));
  update.cursor = 1;
  KG_ASSERT_OK(store_->RecordWebhookDelivery(kOrg, a.endpoint.id, update));
  EXPECT_EQ(State(a.endpoint).cursor, before.cursor + 5);
}

TEST_F(WebhookDelivererTest, StartRefusesOptionsOutOfRange) {
  auto refused = [&](auto mutate) {
    WebhookDelivererOptions o = EngineOptions();
    mutate(o);
    return absl::IsInvalidArgument(
        WebhookDeliverer::Start(store_.get(), transport_, o).status());
  };
  EXPECT_TRUE(refused([](WebhookDelivererOptions& o) { o.threads = 0; }));
  EXPECT_TRUE(refused(
      [](WebhookDelivererOptions& o) { o.poll_interval = absl::ZeroDuration(); }));
  EXPECT_TRUE(refused([](WebhookDelivererOptions& o) {
    o.request_timeout = -absl::Seconds(1);
  }));
  EXPECT_TRUE(refused([](WebhookDelivererOptions& o) {
    o.retry_cap = o.retry_base / 2;
  }));
  EXPECT_TRUE(refused([](WebhookDelivererOptions& o) { o.read_batch = 0; }));
  EXPECT_TRUE(absl::IsInvalidArgument(
      WebhookDeliverer::Start(nullptr, transport_, EngineOptions()).status()));
}

// The payload carries the token's metadata, never its value.
TEST_F(WebhookDelivererTest, TokenPayloadNeverCarriesTheTokenValue) {
  EndpointWithSecret a = MakeEndpoint(kUrlA, {"token.created"});
  KG_ASSERT_OK(CreateAccount("bot"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken created,
                          CreateToken("bot", "ci", {"read:tokens"}));
  StartEngine(EngineOptions());
  ASSERT_TRUE(WaitFor([&] { return transport_->Count(kUrlA) >= 1; }));
  const Received got = transport_->ReceivedBy(kUrlA)[0];
  EXPECT_EQ(got.request.body.find(std::string(created.value.view())),
            std::string::npos);
  const auto body = nlohmann::json::parse(got.request.body);
  EXPECT_EQ(body["type"], "token.created");
  EXPECT_EQ(body["data"]["token"]["slug"], created.metadata.slug);
  EXPECT_EQ(body["data"]["token"]["serviceAccount"], "bot");
  EXPECT_EQ(body["data"]["token"]["scopes"], nlohmann::json({"read:tokens"}));
  EXPECT_EQ(body["data"]["token"]["revokedAt"], nullptr);
}

}  // namespace
}  // namespace keygate

// tests/postgres_webhook_fleet_test.cc: webhook delivery in a fleet. Two
// stores on one PostgreSQL database, each running a delivery engine, as two
// `keygate serve` of a fleet do: the engines elect one deliverer
// (postgres::LeaderLock through WebhookDelivererOptions::may_deliver), so
// every event reaches the receiver once, not once per process; when the
// deliverer stops, the other takes over and nothing is lost.
//
// Runs against a throwaway PostgreSQL server (tests/support/
// postgres_server.h), skipped when the binaries are absent.
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "keygate/keygate.h"
#include "lib/postgres/leader_lock.h"
#include "nlohmann/json.hpp"
#include "tests/store_test_util.h"
#include "tests/support/postgres_server.h"
#include "tests/support/webhook_receiver.h"
#include "tools/keygate/webhook_http_transport.h"

namespace keygate {
namespace {

using ::keygate::testing::PostgresEnvironment;

::testing::Environment* const kPostgres =
    ::testing::AddGlobalTestEnvironment(new PostgresEnvironment);

constexpr char kOrg[] = "org-fleet";
constexpr char kActor[] = "user:fleet";

template <typename F>
bool WaitFor(F done, absl::Duration limit = absl::Seconds(20)) {
  const absl::Time end = absl::Now() + limit;
  while (absl::Now() < end) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return done();
}

// Member is one process of the fleet: a store, its election and its engine.
struct Member {
  std::unique_ptr<Store> store;
  std::unique_ptr<postgres::LeaderLock> leader;
  std::unique_ptr<WebhookDeliverer> deliverer;
  void Stop() {
    if (deliverer) deliverer->Stop();
    if (leader) leader->Stop();
  }
};

class WebhookFleetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    KEYGATE_REQUIRE_POSTGRES();
    absl::StatusOr<std::string> schema =
        PostgresEnvironment::server()->CreateSchema();
    ASSERT_TRUE(schema.ok()) << schema.status();
    conninfo_ = *schema;
    keyring_ = test::ParseKeyringOrDie({{1, test::kPepperHex1}});
    ASSERT_GT(receiver_.Start(), 0);
  }
  void TearDown() override {
    for (Member& m : members_) m.Stop();
    for (Member& m : members_) {
      if (m.store) (void)m.store->Close();
    }
    receiver_.Stop();
  }

  Member& Join() {
    Member m;
    Options options;
    options.postgres_connection = conninfo_;
    options.keyring = keyring_;
    options.sync_writes = false;
    options.record_events = true;
    options.webhook_targets.allow_private_targets = true;  // loopback
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options);
    EXPECT_TRUE(store.ok()) << store.status();
    if (store.ok()) m.store = *std::move(store);
    m.leader = std::make_unique<postgres::LeaderLock>(
        conninfo_, postgres::kWebhookDeliveryLockKey, absl::Milliseconds(50));
    WebhookDelivererOptions o;
    o.target_policy.allow_private_targets = true;
    o.poll_interval = absl::Milliseconds(20);
    o.retry_base = absl::Milliseconds(20);
    o.retry_cap = absl::Milliseconds(200);
    o.request_timeout = absl::Seconds(2);
    postgres::LeaderLock* leader = m.leader.get();
    o.may_deliver = [leader] { return leader->held(); };
    if (m.store != nullptr) {
      absl::StatusOr<std::unique_ptr<WebhookDeliverer>> engine =
          WebhookDeliverer::Start(
              m.store.get(), std::make_shared<tool::WebhookHttpTransport>(),
              std::move(o));
      EXPECT_TRUE(engine.ok()) << engine.status();
      if (engine.ok()) m.deliverer = *std::move(engine);
    }
    members_.push_back(std::move(m));
    return members_.back();
  }

  // DeliveredIds is the webhook-id of every delivery received.
  std::vector<std::string> DeliveredIds() {
    std::vector<std::string> ids;
    for (const test::ReceivedWebhook& r : receiver_.Received()) {
      ids.push_back(r.Header("webhook-id"));
    }
    return ids;
  }

  std::string conninfo_;
  std::shared_ptr<const Keyring> keyring_;
  test::WebhookReceiver receiver_;
  std::vector<Member> members_;
};

TEST_F(WebhookFleetTest, EveryEventIsDeliveredOnceByOneProcessAndSurvivesItsStop) {
  // A slow receiver: two engines that both delivered would both be in the
  // middle of sending the same event.
  receiver_.SetDelay(std::chrono::milliseconds(100));
  members_.reserve(2);
  Member& a = Join();
  Member& b = Join();
  ASSERT_TRUE(a.store && b.store && a.deliverer && b.deliverer);
  WebhookEndpointSpec spec;
  spec.url = receiver_.Url("/hook");
  spec.event_names = {"service_account.created"};
  KG_ASSERT_OK(a.store->CreateWebhookEndpoint(kOrg, spec, kActor).status());
  for (int i = 0; i < 10; ++i) {
    ServiceAccountSpec account;
    account.name = "acct";
    account.slug = "acct-" + std::to_string(i);
    KG_ASSERT_OK((i % 2 == 0 ? a : b)
                     .store->CreateServiceAccount(kOrg, account, kActor)
                     .status());
  }
  ASSERT_TRUE(WaitFor([&] { return receiver_.Count() >= 10; }));
  absl::SleepFor(absl::Milliseconds(500));  // settle: no second copies
  std::vector<std::string> ids = DeliveredIds();
  EXPECT_EQ(ids.size(), 10u);
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 10u);

  // The deliverer stops (its process ends): the other takes over.
  Member& deliverer = a.leader->held() ? a : b;
  Member& other = a.leader->held() ? b : a;
  deliverer.Stop();
  for (int i = 10; i < 15; ++i) {
    ServiceAccountSpec account;
    account.name = "acct";
    account.slug = "acct-" + std::to_string(i);
    KG_ASSERT_OK(other.store->CreateServiceAccount(kOrg, account, kActor)
                     .status());
  }
  ASSERT_TRUE(WaitFor([&] { return receiver_.Count() >= 15; }));
  absl::SleepFor(absl::Milliseconds(300));
  ids = DeliveredIds();
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 15u);
  EXPECT_TRUE(other.leader->held());
}

}  // namespace
}  // namespace keygate

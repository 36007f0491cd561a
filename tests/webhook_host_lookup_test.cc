// tests/webhook_host_lookup_test.cc: name resolution under the attempt's
// deadline (tools/keygate/webhook_host_lookup.h): an answer in time is
// returned, a resolver that hangs costs about the deadline (kTimeout) and
// its worker is counted until it returns, and beyond the cap a lookup
// fails at once without starting another worker.
#include "tools/keygate/webhook_host_lookup.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace keygate::tool {
namespace {

std::chrono::steady_clock::time_point In(std::chrono::milliseconds d) {
  return std::chrono::steady_clock::now() + d;
}

template <typename F>
bool WaitFor(F done, absl::Duration limit = absl::Seconds(20)) {
  const absl::Time end = absl::Now() + limit;
  while (absl::Now() < end) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return done();
}

// A resolver that blocks until `release` (at most 30 s), counting calls.
struct Blocking {
  std::shared_ptr<absl::Notification> release =
      std::make_shared<absl::Notification>();
  std::shared_ptr<std::atomic<int>> calls = std::make_shared<std::atomic<int>>(0);
  HostResolver resolver() const {
    return [release = release, calls = calls](const std::string&) {
      calls->fetch_add(1);
      release->WaitForNotificationWithTimeout(absl::Seconds(30));
      return std::vector<std::string>{"192.0.2.1"};
    };
  }
};

TEST(WebhookHostLookupTest, ReturnsTheAnswerInTime) {
  WebhookHostLookup lookup;
  HostLookupResult r = lookup.Lookup(
      [](const std::string& host) {
        EXPECT_EQ(host, "hooks.example.com");
        return std::vector<std::string>{"93.184.216.34", "2001:db8::1"};
      },
      "hooks.example.com", In(std::chrono::seconds(20)));
  EXPECT_EQ(r.error, WebhookDeliveryError::kNone);
  EXPECT_EQ(r.addresses,
            (std::vector<std::string>{"93.184.216.34", "2001:db8::1"}));
  // No answer is an empty answer, not an error.
  r = lookup.Lookup([](const std::string&) { return std::vector<std::string>{}; },
                    "nx.example.com", In(std::chrono::seconds(20)));
  EXPECT_EQ(r.error, WebhookDeliveryError::kNone);
  EXPECT_TRUE(r.addresses.empty());
  EXPECT_TRUE(WaitFor([&] { return lookup.InFlight() == 0; }));
}

TEST(WebhookHostLookupTest, HangingResolverTimesOutAtTheDeadline) {
  WebhookHostLookup lookup;
  Blocking blocking;
  const absl::Time start = absl::Now();
  HostLookupResult r = lookup.Lookup(blocking.resolver(), "slow.example.com",
                                     In(std::chrono::milliseconds(300)));
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(r.error, WebhookDeliveryError::kTimeout);
  EXPECT_TRUE(r.addresses.empty());
  EXPECT_GE(took, absl::Milliseconds(250));
  EXPECT_LT(took, absl::Seconds(5));
  // The abandoned worker still holds its place until it returns.
  EXPECT_EQ(lookup.InFlight(), 1u);
  blocking.release->Notify();
  EXPECT_TRUE(WaitFor([&] { return lookup.InFlight() == 0; }));
}

TEST(WebhookHostLookupTest, BeyondTheCapFailsAtOnceWithoutAThread) {
  WebhookHostLookup lookup(/*max_in_flight=*/3);
  Blocking blocking;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(lookup
                  .Lookup(blocking.resolver(), "slow.example.com",
                          In(std::chrono::milliseconds(50)))
                  .error,
              WebhookDeliveryError::kTimeout);
  }
  ASSERT_TRUE(WaitFor([&] { return blocking.calls->load() == 3; }));
  EXPECT_EQ(lookup.InFlight(), 3u);
  // Full: a lookup with all the time in the world fails at once, and its
  // resolver is never called.
  const absl::Time start = absl::Now();
  std::atomic<bool> called{false};
  HostLookupResult r = lookup.Lookup(
      [&called](const std::string&) {
        called = true;
        return std::vector<std::string>{"192.0.2.1"};
      },
      "fast.example.com", In(std::chrono::seconds(30)));
  EXPECT_EQ(r.error, WebhookDeliveryError::kTimeout);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_EQ(blocking.calls->load(), 3);
  EXPECT_FALSE(called.load());
  // Once the stuck workers return, lookups run again.
  blocking.release->Notify();
  ASSERT_TRUE(WaitFor([&] { return lookup.InFlight() == 0; }));
  r = lookup.Lookup(
      [](const std::string&) { return std::vector<std::string>{"192.0.2.7"}; },
      "fast.example.com", In(std::chrono::seconds(20)));
  EXPECT_EQ(r.error, WebhookDeliveryError::kNone);
  EXPECT_EQ(r.addresses, std::vector<std::string>{"192.0.2.7"});
}

TEST(WebhookHostLookupTest, PastDeadlineDoesNotResolve) {
  WebhookHostLookup lookup;
  bool called = false;
  HostLookupResult r = lookup.Lookup(
      [&called](const std::string&) {
        called = true;
        return std::vector<std::string>{};
      },
      "x.example.com", std::chrono::steady_clock::now());
  EXPECT_EQ(r.error, WebhookDeliveryError::kTimeout);
  EXPECT_FALSE(called);
  EXPECT_EQ(lookup.InFlight(), 0u);
}

TEST(WebhookHostLookupTest, WorkersOutliveTheLookupObject) {
  Blocking blocking;
  {
    WebhookHostLookup lookup;
    EXPECT_EQ(lookup
                  .Lookup(blocking.resolver(), "slow.example.com",
                          In(std::chrono::milliseconds(20)))
                  .error,
              WebhookDeliveryError::kTimeout);
  }
  ASSERT_TRUE(WaitFor([&] { return blocking.calls->load() == 1; }));
  blocking.release->Notify();  // the worker finishes after its owner died
  absl::SleepFor(absl::Milliseconds(50));
}

TEST(WebhookHostLookupTest, SystemResolverAnswersLiteralsAndHostsFile) {
  EXPECT_EQ(SystemHostResolver("127.0.0.1"),
            std::vector<std::string>{"127.0.0.1"});
  EXPECT_EQ(SystemHostResolver("::1"), std::vector<std::string>{"::1"});
  const std::vector<std::string> local = SystemHostResolver("localhost");
  EXPECT_TRUE(std::find(local.begin(), local.end(), "127.0.0.1") !=
                  local.end() ||
              std::find(local.begin(), local.end(), "::1") != local.end());
}

}  // namespace
}  // namespace keygate::tool

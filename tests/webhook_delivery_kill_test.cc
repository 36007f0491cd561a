// `keygate serve --record-events` delivers webhooks; kill -9 of the host in
// the middle of a delivery run loses no event and invents none: every
// account creation the test made (the oracle) reaches its organization's
// endpoint at least once after a restart, nothing else arrives, signatures
// check out, first deliveries keep creation order per endpoint, and
// GET /webhooks/{id}/deliveries shows the attempts to the owner only.
#include <map>
#include <set>
#include <string>
#include <vector>

#include "lib/webhooks/signature.h"
#include "tests/serve_test_util.h"
#include "tests/support/webhook_receiver.h"

namespace keygate::tool {
namespace {

using namespace ::keygate::tool::test;  // NOLINT: the shared HTTP test kit

struct Endpoint {
  std::string id;
  std::string secret;
};

Endpoint CreateEndpoint(httplib::Client& cli, const std::string& jwt,
                        const std::string& url) {
  auto res = cli.Post(
      "/webhooks", Bearer(jwt),
      json{{"url", url}, {"eventNames", {"service_account.created"}}}.dump(),
      "application/json");
  EXPECT_TRUE(res);
  if (!res) return {};
  EXPECT_EQ(res->status, 201) << res->body;
  json body = json::parse(res->body, nullptr, false);
  if (!body.is_object() || !body.contains("secret")) return {};
  return {body["id"], body["secret"]};
}

bool CreateAccount(httplib::Client& cli, const std::string& jwt,
                   const std::string& slug) {
  auto res = cli.Post("/service-accounts", Bearer(jwt),
                      json{{"name", "Account " + slug}, {"slug", slug}}.dump(),
                      "application/json");
  return res && res->status == 201;
}

TEST(WebhookDeliveryKillTest, KillNineDuringDeliveryLosesNoEventInventsNone) {
  ASSERT_GE(sodium_init(), 0);
  keygate::test::WebhookReceiver receiver;
  ASSERT_GT(receiver.Start(), 0);
  // Each answer takes a while: the kill lands while deliveries are in
  // flight.
  receiver.SetDelay(std::chrono::milliseconds(15));
  const std::vector<std::string> flags = {
      "--record-events",      "--webhook-allow-private-targets",
      "--webhook-retry-base", "50ms",
      "--webhook-retry-cap",  "200ms"};
  ServerProcess server;
  server.Start(flags);
  auto cli = server.Client();
  const std::string acme = server.Jwt("acme");
  const std::string other = server.Jwt("other");
  const Endpoint acme_hook = CreateEndpoint(*cli, acme, receiver.Url("/acme"));
  const Endpoint other_hook =
      CreateEndpoint(*cli, other, receiver.Url("/other"));
  ASSERT_FALSE(acme_hook.id.empty());
  ASSERT_FALSE(other_hook.id.empty());

  // The oracle: the creations that succeeded, per organization, in order.
  std::map<std::string, std::vector<std::string>> oracle;
  for (int i = 0; i < 40; ++i) {
    const std::string slug = "acme-" + std::to_string(i);
    ASSERT_TRUE(CreateAccount(*cli, acme, slug));
    oracle["/acme"].push_back(slug);
    if (i % 8 == 0) {
      const std::string other_slug = "other-" + std::to_string(i);
      ASSERT_TRUE(CreateAccount(*cli, other, other_slug));
      oracle["/other"].push_back(other_slug);
    }
  }
  // Liveness bound: wait for deliveries to be under way, then kill -9.
  for (int i = 0; i < 400 && receiver.Count() < 10; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(server.Stop(SIGKILL), -SIGKILL);
  const size_t before_restart = receiver.Count();
  const size_t total = oracle["/acme"].size() + oracle["/other"].size();
  std::cerr << "delivered before kill -9: " << before_restart << " of "
            << total << "\n";

  server.Start(flags);
  cli = server.Client();
  for (int i = 40; i < 45; ++i) {
    const std::string slug = "acme-" + std::to_string(i);
    ASSERT_TRUE(CreateAccount(*cli, acme, slug));
    oracle["/acme"].push_back(slug);
  }

  // Delivered set per path (slug -> webhook-id), checked on arrival.
  auto delivered = [&] {
    std::map<std::string, std::set<std::string>> out;
    for (const auto& r : receiver.Received()) {
      json body = json::parse(r.body, nullptr, false);
      if (body.is_object()) {
        out[r.target].insert(
            body["data"]["serviceAccount"]["slug"].get<std::string>());
      }
    }
    return out;
  };
  auto complete = [&] {
    auto got = delivered();
    for (const auto& [path, slugs] : oracle) {
      for (const std::string& s : slugs) {
        if (!got[path].count(s)) return false;
      }
    }
    return true;
  };
  for (int i = 0; i < 3000 && !complete(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_TRUE(complete()) << server.log();

  // Nothing invented, ids stable across redeliveries, signatures valid,
  // first deliveries in creation order per endpoint.
  std::map<std::string, std::string> id_of_slug;
  std::map<std::string, std::vector<std::string>> first_order;
  std::map<std::string, std::set<std::string>> seen;
  size_t redelivered = 0;
  for (const auto& r : receiver.Received()) {
    ASSERT_TRUE(r.target == "/acme" || r.target == "/other") << r.target;
    const Endpoint& hook = r.target == "/acme" ? acme_hook : other_hook;
    EXPECT_TRUE(webhooks::VerifyWebhook(
                    hook.secret, r.Header("webhook-id"),
                    r.Header("webhook-timestamp"), r.body,
                    r.Header("webhook-signature"), absl::Now(),
                    absl::Minutes(5))
                    .ok());
    json body = json::parse(r.body);
    EXPECT_EQ(body["type"], "service_account.created");
    const std::string slug = body["data"]["serviceAccount"]["slug"];
    const auto& expected = oracle[r.target];
    EXPECT_NE(std::find(expected.begin(), expected.end(), slug),
              expected.end())
        << "invented or misrouted: " << slug << " at " << r.target;
    auto [it, inserted] = id_of_slug.emplace(slug, r.Header("webhook-id"));
    EXPECT_EQ(it->second, r.Header("webhook-id")) << slug;
    if (seen[r.target].insert(slug).second) {
      first_order[r.target].push_back(slug);
    } else {
      ++redelivered;
    }
  }
  EXPECT_EQ(first_order["/acme"], oracle["/acme"]);
  EXPECT_EQ(first_order["/other"], oracle["/other"]);
  std::cerr << "redelivered after kill -9: " << redelivered << "\n";

  // The deliveries listing: the owner sees attempts, another org a 404.
  auto listing = cli->Get("/webhooks/" + acme_hook.id + "/deliveries",
                          Bearer(acme));
  ASSERT_TRUE(listing);
  ASSERT_EQ(listing->status, 200) << listing->body;
  json state = json::parse(listing->body);
  ASSERT_FALSE(state["items"].empty());
  EXPECT_EQ(state["items"][0]["httpStatus"], 200);
  EXPECT_EQ(state["items"][0]["eventType"], "service_account.created");
  EXPECT_EQ(state["failureStreak"], 0);
  EXPECT_LE(state["items"].size(), 20u);
  EXPECT_EQ(listing->body.find("whsec_"), std::string::npos);
  auto foreign = cli->Get("/webhooks/" + acme_hook.id + "/deliveries",
                          Bearer(other));
  ASSERT_TRUE(foreign);
  EXPECT_EQ(foreign->status, 404);
  EXPECT_EQ(server.Stop(), 0) << server.log();
}

}  // namespace
}  // namespace keygate::tool

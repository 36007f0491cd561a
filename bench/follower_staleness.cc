// bench/follower_staleness.cc: how long a follower keeps accepting a token
// after the primary's RevokeToken returned, with the scheduled catch-up
// (docs/followers.md).
//
// One process holds the primary and a follower of the same store (RocksDB
// permits it; a follower in another process reads the same files the same
// way). Each round: create a token on the primary, wait until the follower
// verifies it, revoke it on the primary, then time from RevokeToken's return
// to the first Verify on the follower that refuses it, polling every 20 us.
// Prints p50 / p90 / p99 / max over the rounds. Not run by ctest.
//
// Usage: keygate_follower_staleness [rounds] (default 200)
//        [catch-up interval in ms] (default 100)
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "keygate/keygate.h"

namespace {

constexpr char kPepperText[] =
    "1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";

int Fail(const char* what, const absl::Status& status) {
  std::fprintf(stderr, "%s: %s\n", what, status.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::max(1, std::atoi(argv[1])) : 200;
  const int interval_ms = argc > 2 ? std::max(1, std::atoi(argv[2])) : 100;
  std::string dir =
      (std::filesystem::temp_directory_path() / "keygate_staleness_XXXXXX")
          .string();
  if (mkdtemp(dir.data()) == nullptr) return 1;

  absl::StatusOr<std::shared_ptr<const keygate::Keyring>> keyring =
      keygate::Keyring::Parse(kPepperText);
  if (!keyring.ok()) return Fail("keyring", keyring.status());
  keygate::Options options;
  options.path = dir + "/store";
  options.keyring = *keyring;
  absl::StatusOr<std::unique_ptr<keygate::Store>> primary =
      keygate::Store::Open(options);
  if (!primary.ok()) return Fail("open primary", primary.status());
  keygate::ServiceAccountSpec account;
  account.name = "bench";
  account.slug = "bench";
  if (auto s = (*primary)->CreateServiceAccount("org", account, "bench");
      !s.ok()) {
    return Fail("create account", s.status());
  }
  options.role = keygate::StoreRole::kFollower;
  options.follower_catch_up_interval = absl::Milliseconds(interval_ms);
  absl::StatusOr<std::unique_ptr<keygate::Store>> follower =
      keygate::Store::Open(options);
  if (!follower.ok()) return Fail("open follower", follower.status());

  std::vector<double> lags_ms;
  for (int i = 0; i < rounds; ++i) {
    keygate::TokenSpec spec;
    spec.name = "t" + std::to_string(i);
    spec.scopes = {"read:tokens"};
    absl::StatusOr<keygate::CreatedToken> token =
        (*primary)->CreateToken("org", "bench", spec, "bench");
    if (!token.ok()) return Fail("create token", token.status());
    const absl::Time give_up = absl::Now() + absl::Seconds(30);
    while (!(*follower)->Verify(token->value.view()).ok()) {
      if (absl::Now() > give_up) {
        return Fail("follower", absl::DeadlineExceededError("never verified"));
      }
      absl::SleepFor(absl::Microseconds(200));
    }
    // A random phase against the catch-up schedule.
    absl::SleepFor(absl::Microseconds(std::rand() % (interval_ms * 1000)));
    if (absl::Status s = (*primary)->RevokeToken("org", "bench",
                                                 token->metadata.slug, "bench");
        !s.ok()) {
      return Fail("revoke", s);
    }
    const absl::Time revoked = absl::Now();
    while ((*follower)->Verify(token->value.view()).ok()) {
      if (absl::Now() - revoked > absl::Seconds(30)) {
        return Fail("follower", absl::DeadlineExceededError("never refused"));
      }
      absl::SleepFor(absl::Microseconds(20));
    }
    lags_ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - revoked));
  }
  (void)(*follower)->Close();
  (void)(*primary)->Close();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);

  std::sort(lags_ms.begin(), lags_ms.end());
  auto at = [&](double q) {
    return lags_ms[std::min(lags_ms.size() - 1,
                            static_cast<size_t>(q * lags_ms.size()))];
  };
  std::printf(
      "follower staleness after revoke (catch-up every %d ms, %d rounds, "
      "synced writes): p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms\n",
      interval_ms, rounds, at(0.50), at(0.90), at(0.99), lags_ms.back());
  return 0;
}

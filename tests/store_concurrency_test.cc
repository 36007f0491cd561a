// Concurrency tests of keygate::Store: verifiers racing a revoker (no verify
// that starts after RevokeToken returned may succeed), the same for disable
// and delete, and concurrent creates (distinct names all succeed; the same
// name succeeds exactly once; the quota is never exceeded).
//
// Run time is bounded by work counts, never by wall-clock time: the writer
// waits for the verifiers to make progress between its writes, so the
// interleaving is real without any sleep or timer.
#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "keygate/keygate.h"
#include "tests/store_test_util.h"

namespace keygate {
namespace {

constexpr int kVerifiers = 4;
// Upper bound on verify calls per thread, so a stuck writer cannot make a
// verifier spin forever.
constexpr uint64_t kMaxVerifiesPerThread = 5'000'000;

class ConcurrencyTest : public test::StoreTest {
 protected:
  // Tracks, per token, whether the write that must disable it has returned.
  struct Race {
    explicit Race(size_t n) : done(new std::atomic<bool>[n]), size(n) {
      for (size_t i = 0; i < n; ++i) done[i].store(false);
    }
    std::unique_ptr<std::atomic<bool>[]> done;
    size_t size;
    std::atomic<bool> writer_finished{false};
    std::atomic<uint64_t> verifies{0};
    std::atomic<uint64_t> violations{0};       // succeeded after the write
    std::atomic<uint64_t> wrong_reason{0};     // failed for another reason
    std::atomic<uint64_t> succeeded{0};
    std::atomic<uint64_t> refused{0};
  };

  // RunVerifiers verifies `values` in a loop on kVerifiers threads until the
  // writer finishes; `want` is the failure expected once done[i] is set.
  std::vector<std::thread> StartVerifiers(const std::vector<std::string>& values,
                                          Race& race, VerifyFailure want) {
    std::vector<std::thread> threads;
    for (int t = 0; t < kVerifiers; ++t) {
      threads.emplace_back([this, &values, &race, want, t] {
        for (uint64_t n = 0; n < kMaxVerifiesPerThread; ++n) {
          const size_t i = (n * 7 + t * 13) % values.size();
          // Read the flag BEFORE the verify starts.
          const bool written = race.done[i].load(std::memory_order_acquire);
          const bool finished =
              race.writer_finished.load(std::memory_order_acquire);
          auto v = store_->Verify(values[i], (n % 2) ? "read:tokens" : "");
          race.verifies.fetch_add(1, std::memory_order_release);
          if (v.ok()) {
            race.succeeded.fetch_add(1, std::memory_order_relaxed);
            if (written) race.violations.fetch_add(1);
          } else {
            race.refused.fetch_add(1, std::memory_order_relaxed);
            // Before the write only `want` can appear (the write may be in
            // flight); any other reason is a bug.
            if (VerifyFailureOf(v.status()) != want) race.wrong_reason.fetch_add(1);
          }
          if (finished) break;
        }
      });
    }
    return threads;
  }

  // WaitForProgress spins until the verifiers did `count` more verifies (or
  // all have exited, which only happens at the iteration cap).
  static void WaitForProgress(Race& race, uint64_t count) {
    const uint64_t target = race.verifies.load() + count;
    for (uint64_t spins = 0; race.verifies.load() < target; ++spins) {
      std::this_thread::yield();
      if (spins > 50'000'000) break;  // verifiers gone; don't hang
    }
  }

  static void Report(const Race& race) {
    EXPECT_EQ(race.violations.load(), 0u)
        << "verifies that started after the write returned succeeded";
    EXPECT_EQ(race.wrong_reason.load(), 0u);
    // The verifiers really raced the writer: both outcomes were seen.
    EXPECT_GT(race.succeeded.load(), 0u);
    EXPECT_GT(race.refused.load(), 0u);
  }
};

TEST_F(ConcurrencyTest, NoVerifySucceedsAfterRevokeReturned) {
  constexpr int kTokens = 64;
  KG_ASSERT_OK(CreateAccount("svc"));
  std::vector<std::string> values;
  std::vector<std::string> slugs;
  for (int i = 0; i < kTokens; ++i) {
    KG_ASSERT_OK_AND_ASSIGN(CreatedToken t,
                            CreateToken("svc", "t" + std::to_string(i),
                                        {"write:tokens"}));
    values.emplace_back(t.value.view());
    slugs.push_back(t.metadata.slug);
  }
  Race race(kTokens);
  std::vector<std::thread> verifiers =
      StartVerifiers(values, race, VerifyFailure::kRevoked);
  for (int i = 0; i < kTokens; ++i) {
    WaitForProgress(race, 32);
    absl::Status s = store_->RevokeToken(kOrg, "svc", slugs[i], kActor);
    race.done[i].store(true, std::memory_order_release);
    EXPECT_TRUE(s.ok()) << "revoke #" << i << ": " << s;
  }
  WaitForProgress(race, 256);
  race.writer_finished.store(true, std::memory_order_release);
  for (auto& t : verifiers) t.join();
  Report(race);
  for (int i = 0; i < kTokens; ++i) {
    EXPECT_EQ(VerifyFailureOf(store_->Verify(values[i]).status()),
              VerifyFailure::kRevoked)
        << "token #" << i;
  }
}

TEST_F(ConcurrencyTest, NoVerifySucceedsAfterDisableReturned) {
  constexpr int kAccounts = 24;
  std::vector<std::string> values;
  for (int i = 0; i < kAccounts; ++i) {
    const std::string account = "acct-" + std::to_string(i);
    KG_ASSERT_OK(CreateAccount(account));
    KG_ASSERT_OK_AND_ASSIGN(CreatedToken t,
                            CreateToken(account, "t", {"read:*"}));
    values.emplace_back(t.value.view());
  }
  Race race(kAccounts);
  std::vector<std::thread> verifiers =
      StartVerifiers(values, race, VerifyFailure::kAccountDisabled);
  for (int i = 0; i < kAccounts; ++i) {
    WaitForProgress(race, 32);
    auto s = store_->SetServiceAccountDisabled(
        kOrg, "acct-" + std::to_string(i), true, kActor);
    race.done[i].store(true, std::memory_order_release);
    EXPECT_TRUE(s.ok()) << "disable #" << i << ": " << s.status();
  }
  WaitForProgress(race, 256);
  race.writer_finished.store(true, std::memory_order_release);
  for (auto& t : verifiers) t.join();
  Report(race);
}

TEST_F(ConcurrencyTest, NoVerifySucceedsAfterDeleteReturned) {
  constexpr int kAccounts = 24;
  std::vector<std::string> values;
  for (int i = 0; i < kAccounts; ++i) {
    const std::string account = "acct-" + std::to_string(i);
    KG_ASSERT_OK(CreateAccount(account));
    KG_ASSERT_OK_AND_ASSIGN(CreatedToken t,
                            CreateToken(account, "t", {"read:*"}));
    values.emplace_back(t.value.view());
  }
  Race race(kAccounts);
  std::vector<std::thread> verifiers =
      StartVerifiers(values, race, VerifyFailure::kUnknown);
  for (int i = 0; i < kAccounts; ++i) {
    WaitForProgress(race, 32);
    absl::Status s =
        store_->DeleteServiceAccount(kOrg, "acct-" + std::to_string(i), kActor);
    race.done[i].store(true, std::memory_order_release);
    EXPECT_TRUE(s.ok()) << "delete #" << i << ": " << s;
  }
  WaitForProgress(race, 256);
  race.writer_finished.store(true, std::memory_order_release);
  for (auto& t : verifiers) t.join();
  Report(race);
}

TEST_F(ConcurrencyTest, ConcurrentCreatesWithDistinctNamesAllSucceed) {
  constexpr int kThreads = 2;
  constexpr int kPerThread = 50;
  KG_ASSERT_OK(CreateAccount("svc"));
  std::vector<std::vector<std::string>> values(kThreads);
  std::vector<std::vector<absl::Status>> statuses(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        TokenSpec spec;
        spec.name = "thread " + std::to_string(t) + " token " +
                    std::to_string(i);
        spec.scopes = {"read:tokens"};
        auto created = store_->CreateToken(kOrg, "svc", spec, kActor);
        statuses[t].push_back(created.status());
        if (created.ok()) values[t].emplace_back(created->value.view());
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i) {
      EXPECT_TRUE(statuses[t][i].ok())
          << "thread " << t << " #" << i << ": " << statuses[t][i];
    }
    for (size_t i = 0; i < values[t].size(); ++i) {
      auto v = store_->Verify(values[t][i]);
      EXPECT_TRUE(v.ok()) << "thread " << t << " token #" << i << ": "
                          << v.status();
    }
  }
  KG_ASSERT_OK_AND_ASSIGN(auto listed, AllTokens("svc"));
  EXPECT_EQ(listed.size(), size_t{kThreads * kPerThread});
  std::set<std::string> slugs;
  for (const auto& m : listed) slugs.insert(m.slug);
  EXPECT_EQ(slugs.size(), listed.size());
}

TEST_F(ConcurrencyTest, ConcurrentCreatesWithTheSameNameSucceedOnce) {
  constexpr int kThreads = 3;
  constexpr int kNames = 40;
  KG_ASSERT_OK(CreateAccount("svc"));
  std::vector<std::vector<absl::StatusCode>> codes(
      kThreads, std::vector<absl::StatusCode>(kNames));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kNames; ++i) {
        TokenSpec spec;
        spec.name = "shared " + std::to_string(i);
        spec.scopes = {"read:tokens"};
        codes[t][i] = store_->CreateToken(kOrg, "svc", spec, kActor)
                          .status()
                          .code();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kNames; ++i) {
    int ok = 0;
    for (int t = 0; t < kThreads; ++t) {
      if (codes[t][i] == absl::StatusCode::kOk) {
        ++ok;
      } else {
        EXPECT_EQ(codes[t][i], absl::StatusCode::kAlreadyExists)
            << "name #" << i << " thread " << t;
      }
    }
    EXPECT_EQ(ok, 1) << "name #" << i;
  }
  KG_ASSERT_OK_AND_ASSIGN(auto listed, AllTokens("svc"));
  EXPECT_EQ(listed.size(), size_t{kNames});
}

TEST_F(ConcurrencyTest, QuotaHoldsUnderConcurrentCreates) {
  constexpr uint32_t kQuota = 10;
  constexpr int kThreads = 4;
  Options options = DefaultOptions();
  options.max_active_tokens_per_organization = kQuota;
  KG_ASSERT_OK(Reopen(options));
  KG_ASSERT_OK(CreateAccount("svc"));
  std::atomic<int> created{0};
  std::atomic<int> exhausted{0};
  std::atomic<int> other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 8; ++i) {
        TokenSpec spec;
        spec.name = "t" + std::to_string(t) + "-" + std::to_string(i);
        spec.scopes = {"read:tokens"};
        const absl::StatusCode code =
            store_->CreateToken(kOrg, "svc", spec, kActor).status().code();
        if (code == absl::StatusCode::kOk) {
          created.fetch_add(1);
        } else if (code == absl::StatusCode::kResourceExhausted) {
          exhausted.fetch_add(1);
        } else {
          other.fetch_add(1);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(created.load(), static_cast<int>(kQuota));
  EXPECT_EQ(exhausted.load(), kThreads * 8 - static_cast<int>(kQuota));
  EXPECT_EQ(other.load(), 0);
  KG_ASSERT_OK_AND_ASSIGN(auto listed, AllTokens("svc"));
  EXPECT_EQ(listed.size(), size_t{kQuota});
}

}  // namespace
}  // namespace keygate

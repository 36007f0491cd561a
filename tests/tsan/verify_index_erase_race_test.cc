// tests/tsan/verify_index_erase_race_test.cc: lock-free Finds racing the verify
// index's backward-shift Erase (lib/index/verify_index.h, "erase deletes by
// backward shift"). A shift moves later slots of a cluster back into the
// hole, so a reader walking the cluster can pass a slot's new place before
// the copy and reach its old place after it was overwritten: without the
// erase sequence word it would report a digest that was present throughout
// as absent (Verify would then answer "unknown" for a valid token, or, worse
// for the revoke argument, nothing at all would tell the miss apart).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "lib/index/verify_index.h"
#include "lib/scope/scope.h"

namespace keygate::index {
namespace {

// ClusteredDigest makes distinct digests that all have home slot 0 at any
// capacity (bytes 0-7, the home word, are tiny) and the same tag (byte 8):
// every one of them lands in one cluster from slot 0 and compares its full
// digest. `n` goes into bytes 9-16, the rest is SplitMix64 noise.
Digest ClusteredDigest(uint64_t n) {
  Digest d{};
  uint64_t x = n * 0x9e3779b97f4a7c15ULL + 1;
  for (size_t i = 0; i < d.size(); i += 8) {
    uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    std::memcpy(d.data() + i, &z, 8);
  }
  const uint64_t home_word = 1;  // (1 * capacity) >> 64 == 0
  std::memcpy(d.data(), &home_word, 8);
  d[8] = 0x5a;
  std::memcpy(d.data() + 9, &n, 8);
  return d;
}

class VerifyIndexEraseRaceTest : public ::testing::Test {
 protected:
  uint32_t Group() {
    return index_.InternGroup("org", "sa", {"read:tokens"}, &catalog_,
                              state_);
  }

  scope::ScopeCatalog catalog_{
      std::vector<std::string>{"service_accounts", "tokens"}};
  std::shared_ptr<AccountState> state_ = std::make_shared<AccountState>();
  VerifyIndex index_;
};

// Episodes: the writer puts kAhead digests, then the target, all homed at
// slot 0 (the target sits kAhead slots past its home), publishes "the
// target is present" (even phase), erases the kAhead digests one at a time
// (each erase shifts the target back by one slot), then announces "about to
// erase" (odd phase) and erases the target. A reader that read the same
// even phase before and after its Find raced only with the shifts: it must
// find the target. Readers also look up a never-inserted digest with the
// same home and tag: it must miss (no false hit from a moved or freed
// slot), and every lookup must answer (liveness, generous bound).
TEST_F(VerifyIndexEraseRaceTest, DigestPresentThroughoutIsFoundWhileShiftsMoveIt) {
  constexpr uint64_t kAhead = 10;  // 11 of 16 slots: no growth, no shrink
  constexpr int kEpisodes = 6000;
  constexpr int kReaders = 2;
  const uint32_t group = Group();
  const Digest absent = ClusteredDigest(uint64_t{1} << 62);

  std::atomic<uint64_t> phase{1};  // odd: no target promised
  std::atomic<bool> done{false};
  std::atomic<uint64_t> misses{0}, false_hits{0}, checked{0}, slow{0};

  std::vector<std::thread> readers;
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&] {
      TokenEntry entry;
      while (!done.load(std::memory_order_acquire)) {
        const uint64_t before = phase.load(std::memory_order_acquire);
        const auto start = std::chrono::steady_clock::now();
        const bool found =
            index_.Find(ClusteredDigest(before / 2 * 1000), &entry);
        const bool absent_found = index_.Find(absent, &entry);
        if (std::chrono::steady_clock::now() - start > std::chrono::seconds(2)) {
          slow.fetch_add(1);
        }
        const uint64_t after = phase.load(std::memory_order_acquire);
        if (absent_found) false_hits.fetch_add(1);
        if (before % 2 == 0 && before == after) {
          checked.fetch_add(1, std::memory_order_relaxed);
          if (!found) misses.fetch_add(1);
        }
      }
    });
  }

  for (int episode = 1; episode <= kEpisodes; ++episode) {
    const uint64_t target = static_cast<uint64_t>(episode) * 1000;
    for (uint64_t i = 1; i <= kAhead; ++i) {
      ASSERT_TRUE(index_.Put(ClusteredDigest(target + i), group, false,
                             std::nullopt, "ahead").ok());
    }
    ASSERT_TRUE(
        index_.Put(ClusteredDigest(target), group, false, std::nullopt, "t")
            .ok());
    phase.store(2 * static_cast<uint64_t>(episode), std::memory_order_release);
    for (uint64_t i = 1; i <= kAhead; ++i) {
      index_.Erase(ClusteredDigest(target + i));
    }
    phase.store(2 * static_cast<uint64_t>(episode) + 1,
                std::memory_order_release);
    index_.Erase(ClusteredDigest(target));
  }
  done.store(true, std::memory_order_release);
  for (std::thread& t : readers) t.join();

  EXPECT_EQ(misses.load(), 0u) << "of " << checked.load()
                               << " lookups of a digest present throughout";
  EXPECT_EQ(false_hits.load(), 0u);
  EXPECT_EQ(slow.load(), 0u);
  EXPECT_GT(checked.load(), 0u);
  EXPECT_EQ(index_.size(), 0u);
  EXPECT_EQ(index_.table_capacity(), 16u);  // the cluster never grew it
}

// A miss under a steady stream of erases still answers: the erase that
// follows a reader's retry waits for that reader's read section (a grace
// period) before another erase can change the sequence word, so the
// re-probes are bounded. Generous liveness bound: each miss within 2 s.
TEST_F(VerifyIndexEraseRaceTest, MissesAnswerUnderASteadyStreamOfErases) {
  const uint32_t group = Group();
  const Digest absent = ClusteredDigest(uint64_t{1} << 61);
  std::atomic<bool> done{false};
  std::atomic<uint64_t> answered{0}, slow{0}, wrong{0};
  std::thread reader([&] {
    TokenEntry entry;
    while (!done.load(std::memory_order_acquire)) {
      const auto start = std::chrono::steady_clock::now();
      if (index_.Find(absent, &entry)) wrong.fetch_add(1);
      if (std::chrono::steady_clock::now() - start > std::chrono::seconds(2)) {
        slow.fetch_add(1);
      }
      answered.fetch_add(1, std::memory_order_relaxed);
    }
  });
  for (uint64_t n = 1; n <= 40000; ++n) {
    ASSERT_TRUE(index_.Put(ClusteredDigest(n), group, false, std::nullopt,
                           "churn").ok());
    if (n > 8) index_.Erase(ClusteredDigest(n - 8));  // a cluster of 8-9
  }
  // The reader keeps answering after the erases too.
  const uint64_t at_end = answered.load();
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (answered.load() == at_end &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  done.store(true, std::memory_order_release);
  reader.join();
  EXPECT_GT(answered.load(), at_end);
  EXPECT_EQ(slow.load(), 0u);
  EXPECT_EQ(wrong.load(), 0u);
}

}  // namespace
}  // namespace keygate::index

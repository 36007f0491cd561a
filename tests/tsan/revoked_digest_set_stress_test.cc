// tests/tsan/revoked_digest_set_stress_test.cc: readers probing the revoked
// digest set while writers insert, erase, grow and shrink it.
//
// Built by the normal build (ctest: revoked_digest_set_stress_test.*) and by
// the tsan stage (scripts/ci-stages.sh tsan), where ThreadSanitizer checks
// the reader's loads of slot words against the writers' stores through the
// set's atomics and grace periods. As in verify_index_stress_test.cc, the
// writers also hold a std::mutex (TSan cannot see Debian's absl::Mutex).
//
// Beyond TSan, every Contains is checked against the writers' published
// state with a per-key sequence word (a seqlock): if the word was stable and
// not busy across a probe, the probe must agree with it; a stable key is
// always found; a never-inserted key is never found.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "lib/index/revoked_digest_set.h"

namespace keygate::index {
namespace {

using Clock = std::chrono::steady_clock;

constexpr uint32_t kKeys = 4096;
constexpr uint32_t kStableKeys = 128;  // even: writers split the rest by parity
constexpr uint32_t kNeverBase = 1u << 30;
constexpr int kWriters = 2;
constexpr int kReaders = 3;
// A liveness bound for slow sanitizer builds, not a performance assertion.
constexpr auto kBudget = std::chrono::milliseconds(2500);

Digest DigestOf(uint32_t n) {
  Digest d{};
  uint64_t x = n;
  for (size_t i = 0; i < d.size(); i += 8) {
    x += 0x9e3779b97f4a7c15ULL;
    uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    std::memcpy(d.data() + i, &z, 8);
  }
  return d;
}

// The per-key sequence word: (version << 2) | busy << 1 | present.
constexpr uint64_t kPresent = 1;
constexpr uint64_t kBusy = 2;

class RevokedDigestSetStressTest : public ::testing::Test {
 protected:
  RevokedDigestSetStressTest() : words_(kKeys) {
    for (auto& w : words_) w.store(0, std::memory_order_relaxed);
  }

  // Publish runs `change` for `keys` bracketed by their sequence words.
  template <typename Change>
  void Publish(const std::vector<uint32_t>& keys, bool present,
               Change change) {
    std::lock_guard<std::mutex> lock(write_mu_);
    for (uint32_t k : keys) {
      const uint64_t w = words_[k].load(std::memory_order_relaxed);
      words_[k].store(w | kBusy, std::memory_order_seq_cst);
    }
    change();
    for (uint32_t k : keys) {
      const uint64_t w = words_[k].load(std::memory_order_relaxed);
      words_[k].store((((w >> 2) + 1) << 2) | (present ? kPresent : 0),
                      std::memory_order_release);
    }
  }

  void InsertKey(uint32_t k) {
    Publish({k}, true, [&] { set_.Insert(DigestOf(k)); });
  }
  void EraseKeys(const std::vector<uint32_t>& keys) {
    std::vector<Digest> digests;
    for (uint32_t k : keys) digests.push_back(DigestOf(k));
    Publish(keys, false, [&] { set_.Erase(digests); });
  }

  void CheckContains(uint32_t k, std::atomic<uint64_t>* errors) {
    if (k >= kNeverBase) {
      if (set_.Contains(DigestOf(k))) errors->fetch_add(1);
      return;
    }
    const uint64_t before = words_[k].load(std::memory_order_acquire);
    const bool found = set_.Contains(DigestOf(k));
    const uint64_t after = words_[k].load(std::memory_order_acquire);
    if (k < kStableKeys && !found) errors->fetch_add(1);
    if (before == after && (before & kBusy) == 0 &&
        found != ((before & kPresent) != 0)) {
      errors->fetch_add(1);
    }
  }

  RevokedDigestSet set_;
  std::mutex write_mu_;
  std::vector<std::atomic<uint64_t>> words_;
};

// Two writers insert and erase (one by one and in batches large enough to
// shrink the table, then grow it again) while readers probe stable,
// churning and never-inserted keys.
TEST_F(RevokedDigestSetStressTest, ReadersAgreeWithWriters) {
  for (uint32_t k = 0; k < kStableKeys; ++k) InsertKey(k);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> errors{0};
  std::atomic<uint64_t> probes{0};
  std::atomic<uint64_t> capacity_changes{0};

  std::vector<std::thread> readers;
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&, r] {
      std::mt19937 rng(1000 + r);
      uint64_t n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        const uint32_t pick = rng() % 16;
        uint32_t k;
        if (pick == 0) {
          k = kNeverBase + rng() % 1024;
        } else if (pick < 4) {
          k = rng() % kStableKeys;
        } else {
          k = kStableKeys + rng() % (kKeys - kStableKeys);
        }
        CheckContains(k, &errors);
        ++n;
      }
      probes.fetch_add(n);
    });
  }

  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      std::mt19937 rng(2000 + w);
      std::vector<uint32_t> mine;
      for (uint32_t k = kStableKeys + w; k < kKeys; k += kWriters) {
        mine.push_back(k);
      }
      const auto deadline = Clock::now() + kBudget;
      uint64_t n = 0;
      size_t last_capacity = 0;
      while (n < 3000 || (Clock::now() < deadline && n < 200000)) {
        const uint32_t op = rng() % 100;
        const uint32_t k = mine[rng() % mine.size()];
        if (op < 55) {
          InsertKey(k);
        } else if (op < 90) {
          EraseKeys({k});
        } else if (op < 98) {
          std::vector<uint32_t> batch;
          for (int i = 0; i < 8; ++i) {
            const uint32_t b = mine[rng() % mine.size()];
            bool dup = false;
            for (uint32_t x : batch) dup = dup || x == b;
            if (!dup) batch.push_back(b);
          }
          EraseKeys(batch);
        } else {
          EraseKeys(mine);  // most of the set: a shrinking rehash
        }
        // Under write_mu_ like every writer call: TSan cannot see the set's
        // absl::Mutex order this read after another writer's rehash.
        size_t capacity;
        {
          std::lock_guard<std::mutex> lock(write_mu_);
          capacity = set_.slot_capacity();
        }
        if (capacity != last_capacity) capacity_changes.fetch_add(1);
        last_capacity = capacity;
        ++n;
      }
    });
  }
  for (std::thread& t : writers) t.join();
  stop.store(true);
  for (std::thread& t : readers) t.join();

  EXPECT_EQ(errors.load(), 0u) << "of " << probes.load() << " probes";
  EXPECT_GT(probes.load(), 0u);
  EXPECT_GT(capacity_changes.load(), 2u);
  size_t present = 0;
  for (uint32_t k = 0; k < kKeys; ++k) {
    const bool expected = (words_[k].load() & kPresent) != 0;
    EXPECT_EQ(set_.Contains(DigestOf(k)), expected) << k;
    present += expected;
  }
  EXPECT_EQ(set_.size(), present);
  std::printf("probes %llu, capacity changes %llu\n",
              static_cast<unsigned long long>(probes.load()),
              static_cast<unsigned long long>(capacity_changes.load()));
}

}  // namespace
}  // namespace keygate::index

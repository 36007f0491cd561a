// tests/tsan/verify_index_stress_test.cc: readers verifying while writers
// put, revoke, regroup, erase and rehash the lock-free verify index.
//
// Built by the normal build (ctest: verify_index_stress_test.*, under ASan in
// the asan stage too) and by the tsan stage (scripts/ci-stages.sh tsan), which
// compiles lib/index, lib/scope and lib/crypto with -fsanitize=thread and runs
// only this binary: there ThreadSanitizer checks every plain read a reader
// makes of what a writer wrote (records, slugs, groups, tables) for a
// happens-before edge through the index's atomics and grace periods.
//
// What TSan cannot see here, and how the test copes:
//  - absl::Mutex lives in Debian's uninstrumented libabsl_synchronization, so
//    TSan cannot see it order two writers. Writers therefore also hold a
//    std::mutex (intercepted by TSan) around every mutating call; the index's
//    own writer mutex stays in place. What TSan checks is the lock-free
//    reader/writer protocol, which is where a race would hide.
//  - DigestEqual is libsodium's crypto_verify_32 (uninstrumented): the
//    reader's read of a record's digest is not checked by TSan; the checks
//    below (the slug and expiry that go with the digest) catch a torn or
//    recycled record instead.
//
// Beyond TSan, every Find is checked against the writers' published state
// with a per-key sequence word (a seqlock): if the word was stable and not
// busy across a Find, the Find must agree with it (present, revoked); a
// stable key is always found; a never-inserted key is never found.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "lib/index/grant_group.h"
#include "lib/index/verify_index.h"
#include "lib/scope/scope.h"

namespace keygate::index {
namespace {

using Clock = std::chrono::steady_clock;

// Keys [0, kStableKeys) are put before the readers start and never erased
// (only revoked, restored and regrouped); keys [kStableKeys, kKeys) churn;
// keys from kNeverBase are never inserted.
constexpr uint32_t kKeys = 2048;
constexpr uint32_t kStableKeys = 128;  // even: writers split the rest by parity
constexpr uint32_t kNeverBase = 1u << 30;
constexpr int kWriters = 2;
constexpr int kReaders = 3;
// Each test runs at least its minimum amount of work and stops at this
// wall-clock budget (a liveness bound for slow sanitizer builds, not a
// performance assertion).
constexpr auto kBudget = std::chrono::milliseconds(2500);

// DigestOf makes a distinct, uniform-looking digest for `n` (real digests
// are keyed PRF outputs): SplitMix64 words.
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

// What never changes for a key: its slug, expiry and account, so a reader
// that sees another key's record (torn or recycled) notices.
std::string SlugOf(uint32_t n) {
  // Lengths 2..41 so that slugs of different sizes share the arena.
  return absl::StrCat("t", n, std::string(n % 40, 'x'));
}
std::optional<absl::Time> ExpiryOf(uint32_t n) {
  if (n % 3 == 0) return std::nullopt;
  return absl::FromUnixSeconds(1'700'000'000 + n);
}
std::string AccountOf(uint32_t n) { return absl::StrCat("sa", n % 5); }

// The per-key sequence word: (version << 3) | busy << 2 | state.
enum State : uint64_t { kAbsent = 0, kLive = 1, kRevoked = 2 };
constexpr uint64_t kBusy = 4;

class VerifyIndexStressTest : public ::testing::Test {
 protected:
  VerifyIndexStressTest() : words_(kKeys) {
    for (auto& w : words_) w.store(kAbsent, std::memory_order_relaxed);
    for (int a = 0; a < 5; ++a) {
      for (int v = 0; v < 2; ++v) {
        states_.push_back(std::make_shared<AccountState>());
      }
    }
  }

  // Group returns one of a few groups of the key's account (variant picks
  // the scopes and the account state object), interning it on first use.
  // Writers only; REQUIRES: write_mu_ held.
  uint32_t Group(uint32_t n, int variant) {
    const int account = static_cast<int>(n % 5);
    std::vector<std::string> scopes =
        variant % 2 == 0 ? std::vector<std::string>{"read:tokens"}
                         : std::vector<std::string>{"read:tokens",
                                                    "write:service_accounts"};
    return index_.InternGroup("org", AccountOf(n), scopes, &catalog_,
                              states_[account * 2 + (variant / 2) % 2]);
  }

  // Publish runs `change` (which modifies the index for `keys`) bracketed by
  // the keys' sequence words, ending in `state`. REQUIRES: write_mu_ held.
  template <typename Change>
  void Publish(const std::vector<uint32_t>& keys, State state, Change change) {
    for (uint32_t k : keys) {
      const uint64_t w = words_[k].load(std::memory_order_relaxed);
      words_[k].store(w | kBusy, std::memory_order_seq_cst);
    }
    change();
    for (uint32_t k : keys) {
      const uint64_t w = words_[k].load(std::memory_order_relaxed);
      words_[k].store((((w >> 3) + 1) << 3) | state, std::memory_order_release);
    }
  }

  void PutKey(uint32_t k, bool revoked, int variant) {
    std::lock_guard<std::mutex> lock(write_mu_);
    const uint32_t group = Group(k, variant);
    Publish({k}, revoked ? kRevoked : kLive, [&] {
      const absl::Status s =
          index_.Put(DigestOf(k), group, revoked, ExpiryOf(k), SlugOf(k));
      if (!s.ok()) {
        writer_errors_.fetch_add(1);
        ADD_FAILURE() << s;
      }
    });
  }

  void EraseKeys(const std::vector<uint32_t>& keys) {
    std::lock_guard<std::mutex> lock(write_mu_);
    std::vector<Digest> digests;
    for (uint32_t k : keys) digests.push_back(DigestOf(k));
    Publish(keys, kAbsent, [&] { index_.Erase(digests); });
  }

  // CheckFind looks `k` up once and counts every disagreement with what the
  // writers published.
  void CheckFind(uint32_t k, std::atomic<uint64_t>* errors) {
    const bool never = k >= kNeverBase;
    const uint64_t before =
        never ? 0 : words_[k].load(std::memory_order_acquire);
    TokenEntry e;
    const bool found = index_.Find(DigestOf(k), &e);
    const uint64_t after =
        never ? 0 : words_[k].load(std::memory_order_acquire);
    if (never) {
      if (found) errors->fetch_add(1);
      return;
    }
    if (found) {
      const std::string_view slug(e.slug, e.slug_size);
      if (slug != SlugOf(k) || e.expires_at != ExpiryOf(k) ||
          e.group == nullptr || e.group->service_account != AccountOf(k) ||
          e.group->organization != "org" || e.group->account == nullptr) {
        errors->fetch_add(1);
      } else {
        // Reads the account's live flags as Verify does.
        (void)e.group->account->disabled.load(std::memory_order_acquire);
      }
    }
    if (k < kStableKeys && !found) errors->fetch_add(1);
    if (before == after && (before & kBusy) == 0) {
      const uint64_t state = before & 3;
      if (found != (state != kAbsent)) errors->fetch_add(1);
      if (found && e.revoked != (state == kRevoked)) errors->fetch_add(1);
    }
  }

  scope::ScopeCatalog catalog_{
      std::vector<std::string>{"service_accounts", "tokens"}};
  std::vector<std::shared_ptr<AccountState>> states_;
  VerifyIndex index_;
  std::mutex write_mu_;
  std::vector<std::atomic<uint64_t>> words_;
  std::atomic<int> writer_errors_{0};
};

// Readers verify stable, churning and never-inserted keys while two writers
// insert, revoke, restore, regroup, erase (one by one and in batches), grow
// and shrink the table, and flip account states.
TEST_F(VerifyIndexStressTest, ReadersAgreeWithWritersThroughEveryKindOfWrite) {
  for (uint32_t k = 0; k < kStableKeys; ++k) PutKey(k, false, 0);

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> errors{0};
  std::atomic<uint64_t> finds{0};
  std::atomic<uint64_t> writes{0};
  std::atomic<uint64_t> rehashes{0};

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
        CheckFind(k, &errors);
        ++n;
      }
      finds.fetch_add(n);
    });
  }

  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      std::mt19937 rng(2000 + w);
      // Writer w owns the churning keys k with k % kWriters == w.
      auto own = [&] {
        return kStableKeys + static_cast<uint32_t>(w) +
               kWriters * static_cast<uint32_t>(
                              rng() % ((kKeys - kStableKeys) / kWriters));
      };
      const auto deadline = Clock::now() + kBudget;
      uint64_t n = 0;
      while (n < 3000 || (Clock::now() < deadline && n < 400000)) {
        const uint32_t op = rng() % 100;
        if (op < 40) {
          PutKey(own(), false, static_cast<int>(rng() % 4));
        } else if (op < 55) {
          PutKey(own(), true, static_cast<int>(rng() % 4));
        } else if (op < 75) {
          EraseKeys({own()});
        } else if (op < 85) {
          std::vector<uint32_t> batch;
          for (int i = 0; i < 8; ++i) {
            const uint32_t k = own();
            bool dup = false;
            for (uint32_t b : batch) dup = dup || b == k;
            if (!dup) batch.push_back(k);
          }
          EraseKeys(batch);
        } else if (op < 93) {
          // A stable key: revoke, restore or move to another group.
          const uint32_t k = static_cast<uint32_t>(rng() % kStableKeys);
          PutKey(k, rng() % 2 == 0, static_cast<int>(rng() % 4));
        } else if (op < 97) {
          std::lock_guard<std::mutex> lock(write_mu_);
          const size_t before = index_.table_capacity();
          index_.Reserve(index_.size() * 4 + 64);  // forces a rehash
          if (index_.table_capacity() != before) rehashes.fetch_add(1);
        } else {
          const auto& state = states_[rng() % states_.size()];
          state->disabled.store(!state->disabled.load(), std::memory_order_release);
        }
        ++n;
      }
      writes.fetch_add(n);
    });
  }
  for (std::thread& t : writers) t.join();
  stop.store(true);
  for (std::thread& t : readers) t.join();

  EXPECT_EQ(writer_errors_.load(), 0);
  EXPECT_EQ(errors.load(), 0u) << "of " << finds.load() << " finds";
  EXPECT_GT(finds.load(), 0u);
  EXPECT_GT(rehashes.load(), 0u);
  // Everything the writers left is exactly what the index holds.
  size_t present = 0;
  for (uint32_t k = 0; k < kKeys; ++k) {
    const uint64_t state = words_[k].load() & 3;
    TokenEntry e;
    const bool found = index_.Find(DigestOf(k), &e);
    EXPECT_EQ(found, state != kAbsent) << k;
    if (found) {
      EXPECT_EQ(e.revoked, state == kRevoked) << k;
    }
    present += state != kAbsent;
  }
  EXPECT_EQ(index_.size(), present);
  std::printf("finds %llu, writes %llu, forced rehashes %llu\n",
              static_cast<unsigned long long>(finds.load()),
              static_cast<unsigned long long>(writes.load()),
              static_cast<unsigned long long>(rehashes.load()));
}

// Short-lived reader threads come and go (each claims a reader slot that a
// later thread reuses) while a writer erases and rehashes, which waits for
// every open read section: no wait on an exited thread's slot, no race on a
// reused one.
TEST_F(VerifyIndexStressTest, ReaderSlotsOfExitedThreadsAreReused) {
  for (uint32_t k = 0; k < kStableKeys; ++k) PutKey(k, false, 0);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> errors{0};
  std::thread writer([&] {
    std::mt19937 rng(7);
    uint32_t next = kStableKeys;
    while (!stop.load(std::memory_order_relaxed)) {
      PutKey(next, false, 0);
      if (rng() % 2 == 0) EraseKeys({next});
      if (++next == kKeys) {
        std::vector<uint32_t> all;
        for (uint32_t k = kStableKeys; k < kKeys; ++k) all.push_back(k);
        EraseKeys(all);  // shrinks the table: a rehash
        next = kStableKeys;
      }
    }
  });
  const auto deadline = Clock::now() + kBudget;
  int generations = 0;
  while (generations < 50 || (Clock::now() < deadline && generations < 2000)) {
    std::vector<std::thread> readers;
    for (int r = 0; r < 2; ++r) {
      readers.emplace_back([&, r] {
        std::mt19937 rng(generations * 2 + r);
        for (int i = 0; i < 200; ++i) {
          CheckFind(rng() % 4 == 0 ? kNeverBase + i : rng() % kKeys, &errors);
        }
      });
    }
    for (std::thread& t : readers) t.join();
    ++generations;
  }
  stop.store(true);
  writer.join();
  EXPECT_EQ(writer_errors_.load(), 0);
  EXPECT_EQ(errors.load(), 0u);
}

}  // namespace
}  // namespace keygate::index

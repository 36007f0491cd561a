// tests/revoked_digest_set_test.cc: the constant-work set of revoked
// digests Verify probes on every miss of the verify index.
#include "lib/index/revoked_digest_set.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace keygate::index {
namespace {

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

TEST(RevokedDigestSetTest, EmptySetContainsNothing) {
  RevokedDigestSet set;
  EXPECT_EQ(set.size(), 0u);
  EXPECT_FALSE(set.Contains(DigestOf(1)));
  // The all-zero digest would equal an empty slot: never a member.
  EXPECT_FALSE(set.Contains(Digest{}));
  set.Insert(Digest{});
  EXPECT_EQ(set.size(), 0u);
  EXPECT_FALSE(set.Contains(Digest{}));
}

TEST(RevokedDigestSetTest, InsertFindErase) {
  RevokedDigestSet set;
  set.Insert(DigestOf(1));
  set.Insert(DigestOf(2));
  set.Insert(DigestOf(1));  // again: no effect
  EXPECT_EQ(set.size(), 2u);
  EXPECT_TRUE(set.Contains(DigestOf(1)));
  EXPECT_TRUE(set.Contains(DigestOf(2)));
  EXPECT_FALSE(set.Contains(DigestOf(3)));
  // One bit off is a different digest.
  Digest near = DigestOf(1);
  near[31] ^= 1;
  EXPECT_FALSE(set.Contains(near));
  near = DigestOf(1);
  near[0] ^= 0x80;
  EXPECT_FALSE(set.Contains(near));

  set.Erase(DigestOf(1));
  EXPECT_FALSE(set.Contains(DigestOf(1)));
  EXPECT_TRUE(set.Contains(DigestOf(2)));
  EXPECT_EQ(set.size(), 1u);
  set.Erase(std::vector<Digest>{DigestOf(1), DigestOf(3)});  // absent: no-op
  EXPECT_EQ(set.size(), 1u);
  set.Insert(DigestOf(1));  // back in after an erase
  EXPECT_TRUE(set.Contains(DigestOf(1)));
}

TEST(RevokedDigestSetTest, GrowsAndShrinksKeepingEveryDigest) {
  RevokedDigestSet set;
  const size_t initial = set.slot_capacity();
  constexpr uint32_t kN = 50000;
  for (uint32_t i = 0; i < kN; ++i) set.Insert(DigestOf(i));
  EXPECT_EQ(set.size(), kN);
  EXPECT_GT(set.slot_capacity(), initial);
  // At most half full after growth, so about 2-4 slots a digest.
  EXPECT_GE(set.slot_capacity(), 2 * size_t{kN});
  EXPECT_LE(set.slot_capacity(), 8 * size_t{kN});
  for (uint32_t i = 0; i < kN; ++i) {
    ASSERT_TRUE(set.Contains(DigestOf(i))) << i;
  }
  for (uint32_t i = kN; i < 2 * kN; ++i) {
    ASSERT_FALSE(set.Contains(DigestOf(i))) << i;
  }
  std::vector<Digest> digests = set.Digests();
  EXPECT_EQ(digests.size(), kN);

  // Erase all but 100: the table shrinks to its own count.
  const size_t grown = set.slot_capacity();
  std::vector<Digest> erase;
  for (uint32_t i = 100; i < kN; ++i) erase.push_back(DigestOf(i));
  set.Erase(erase);
  EXPECT_EQ(set.size(), 100u);
  EXPECT_LT(set.slot_capacity(), grown / 16);
  for (uint32_t i = 0; i < 100; ++i) EXPECT_TRUE(set.Contains(DigestOf(i)));
  for (uint32_t i = 100; i < 200; ++i) EXPECT_FALSE(set.Contains(DigestOf(i)));
}

// The timing property itself: a probe reads and compares the same number of
// words and slots whether the digest is present (in its first or second
// bucket, alone or among others) or absent, in an empty, sparse or full set.
TEST(RevokedDigestSetTest, ContainsDoesTheSameWorkPresentOrAbsent) {
  RevokedDigestSet set;
  const RevokedDigestSet::ProbeCounts expected{
      RevokedDigestSet::kSlotsPerProbe * (kDigestSize / 8),
      RevokedDigestSet::kSlotsPerProbe};
  auto counted = [&set](const Digest& digest, bool* found) {
    RevokedDigestSet::ProbeCounts counts;
    *found = set.ContainsCounting(digest, &counts);
    return counts;
  };
  bool found = true;
  RevokedDigestSet::ProbeCounts c = counted(DigestOf(7), &found);
  EXPECT_FALSE(found);
  EXPECT_EQ(c.word_reads, expected.word_reads);
  EXPECT_EQ(c.slot_compares, expected.slot_compares);
  for (uint32_t i = 0; i < 1000; ++i) set.Insert(DigestOf(i));
  for (uint32_t i = 0; i < 2000; ++i) {
    c = counted(DigestOf(i), &found);
    EXPECT_EQ(found, i < 1000) << i;
    EXPECT_EQ(c.word_reads, expected.word_reads) << i;
    EXPECT_EQ(c.slot_compares, expected.slot_compares) << i;
    EXPECT_EQ(found, set.Contains(DigestOf(i))) << i;
  }
  c = counted(Digest{}, &found);
  EXPECT_FALSE(found);
  EXPECT_EQ(c.slot_compares, expected.slot_compares);
}

// Digests whose two buckets collide in a tiny table overflow a bucket: the
// set grows instead of losing one.
TEST(RevokedDigestSetTest, OverflowingBucketGrowsTheTable) {
  RevokedDigestSet set;
  std::vector<Digest> digests;
  for (uint32_t i = 0; i < 3 * RevokedDigestSet::kSlotsPerBucket; ++i) {
    Digest d = DigestOf(i);
    // Same high bytes of words 0 and 2: the same two buckets at any size
    // below 2^56 buckets.
    d[7] = 0;
    d[23] = 0xff;
    digests.push_back(d);
    set.Insert(d);
  }
  EXPECT_EQ(set.size(), digests.size());
  for (const Digest& d : digests) EXPECT_TRUE(set.Contains(d));
}

// Readers see stable members throughout while a writer inserts, erases and
// rehashes (the TSan stress test does this under -fsanitize=thread).
TEST(RevokedDigestSetTest, ReadersSeeStableMembersDuringChurn) {
  RevokedDigestSet set;
  constexpr uint32_t kStable = 64;
  constexpr uint32_t kNever = 1u << 30;
  for (uint32_t i = 0; i < kStable; ++i) set.Insert(DigestOf(i));
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> wrong{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&, r] {
      for (uint32_t n = 0; !stop.load(std::memory_order_relaxed); ++n) {
        if (!set.Contains(DigestOf(n % kStable))) wrong.fetch_add(1);
        if (set.Contains(DigestOf(kNever + (n + r) % 1000))) wrong.fetch_add(1);
      }
    });
  }
  for (int round = 0; round < 20; ++round) {
    std::vector<Digest> churn;
    for (uint32_t i = 0; i < 2000; ++i) {
      churn.push_back(DigestOf(1000 + i));
      set.Insert(churn.back());
    }
    set.Erase(churn);
  }
  stop.store(true);
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(wrong.load(), 0u);
  EXPECT_EQ(set.size(), kStable);
}

}  // namespace
}  // namespace keygate::index

// tests/verify_index_test.cc: the digest -> grant map behind Verify.
#include "lib/index/verify_index.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace keygate::index {
namespace {

crypto::Digest DigestOf(uint32_t n) {
  crypto::Digest d{};
  // Spread n over the hashed first 8 bytes and the tail, so digests that
  // share a hash prefix are also exercised (see SameHashPrefix below).
  for (size_t i = 0; i < d.size(); ++i) {
    d[i] = static_cast<uint8_t>((n >> ((i % 4) * 8)) ^ (i * 31));
  }
  return d;
}

GrantPtr Grant(std::string slug, bool revoked = false) {
  auto grant = std::make_shared<internal::TokenGrant>();
  grant->organization = "org";
  grant->service_account = "sa";
  grant->token_slug = std::move(slug);
  grant->revoked = revoked;
  grant->account = std::make_shared<AccountState>();
  return grant;
}

TEST(VerifyIndexTest, EmptyIndexFindsNothing) {
  VerifyIndex index;
  EXPECT_EQ(index.size(), 0u);
  EXPECT_EQ(index.Find(DigestOf(1)), nullptr);
  EXPECT_FALSE(index.Contains(DigestOf(1)));
  index.Erase(DigestOf(1));  // erasing an absent digest is a no-op
  EXPECT_EQ(index.size(), 0u);
}

TEST(VerifyIndexTest, PutFindErase) {
  VerifyIndex index;
  index.Put(DigestOf(1), Grant("one"));
  index.Put(DigestOf(2), Grant("two"));
  EXPECT_EQ(index.size(), 2u);
  ASSERT_NE(index.Find(DigestOf(1)), nullptr);
  EXPECT_EQ(index.Find(DigestOf(1))->token_slug, "one");
  EXPECT_EQ(index.Find(DigestOf(2))->token_slug, "two");
  EXPECT_TRUE(index.Contains(DigestOf(2)));
  EXPECT_EQ(index.Find(DigestOf(3)), nullptr);

  index.Erase(DigestOf(1));
  EXPECT_EQ(index.Find(DigestOf(1)), nullptr);
  EXPECT_FALSE(index.Contains(DigestOf(1)));
  EXPECT_EQ(index.Find(DigestOf(2))->token_slug, "two");
  EXPECT_EQ(index.size(), 1u);
}

TEST(VerifyIndexTest, PutReplacesAndOldGrantStaysValidForHolders) {
  VerifyIndex index;
  index.Put(DigestOf(7), Grant("tok"));
  GrantPtr before = index.Find(DigestOf(7));
  ASSERT_NE(before, nullptr);
  EXPECT_FALSE(before->revoked);

  index.Put(DigestOf(7), Grant("tok", /*revoked=*/true));
  EXPECT_EQ(index.size(), 1u);
  GrantPtr after = index.Find(DigestOf(7));
  ASSERT_NE(after, nullptr);
  EXPECT_TRUE(after->revoked);
  // A reader that found the grant earlier keeps an intact snapshot.
  EXPECT_FALSE(before->revoked);
  EXPECT_EQ(before->token_slug, "tok");
  // The index no longer owns the old grant.
  EXPECT_EQ(before.use_count(), 1);

  index.Erase(DigestOf(7));
  EXPECT_EQ(after.use_count(), 1);
}

TEST(VerifyIndexTest, DigestsDifferingOnlyAfterTheHashPrefixAreDistinct) {
  VerifyIndex index;
  crypto::Digest a{}, b{};
  a.fill(0xab);
  b.fill(0xab);
  b[31] ^= 1;  // same first 8 bytes -> same hash bucket
  index.Put(a, Grant("a"));
  EXPECT_EQ(index.Find(b), nullptr);
  index.Put(b, Grant("b"));
  EXPECT_EQ(index.Find(a)->token_slug, "a");
  EXPECT_EQ(index.Find(b)->token_slug, "b");
  index.Erase(a);
  EXPECT_EQ(index.Find(a), nullptr);
  EXPECT_EQ(index.Find(b)->token_slug, "b");
}

TEST(VerifyIndexTest, ManyEntries) {
  VerifyIndex index;
  constexpr uint32_t kCount = 20000;
  for (uint32_t i = 0; i < kCount; ++i) {
    index.Put(DigestOf(i), Grant(std::to_string(i)));
  }
  EXPECT_EQ(index.size(), kCount);
  for (uint32_t i = 0; i < kCount; i += 2) index.Erase(DigestOf(i));
  EXPECT_EQ(index.size(), kCount / 2);
  for (uint32_t i = 0; i < kCount; ++i) {
    GrantPtr g = index.Find(DigestOf(i));
    if (i % 2 == 0) {
      EXPECT_EQ(g, nullptr) << i;
    } else {
      ASSERT_NE(g, nullptr) << i;
      EXPECT_EQ(g->token_slug, std::to_string(i));
    }
  }
}

// Three readers and one writer. The writer cycles a set of digests through
// put, replace (revoked copy) and erase while readers look them up; every
// grant a reader sees must be a whole, consistent snapshot of one the writer
// put for that digest. A stable set of digests is never touched and must
// always be found. Bounded iterations, no timing assertions.
TEST(VerifyIndexTest, ConcurrentReadersWithOneWriter) {
  VerifyIndex index;
  constexpr uint32_t kStable = 64;
  constexpr uint32_t kChurn = 64;
  constexpr int kWriterRounds = 300;
  constexpr int kReaders = 3;
  for (uint32_t i = 0; i < kStable; ++i) {
    index.Put(DigestOf(i), Grant("stable-" + std::to_string(i)));
  }

  std::atomic<bool> writer_done{false};
  std::atomic<int> failures{0};
  std::atomic<uint64_t> churn_hits{0};

  std::thread writer([&] {
    for (int round = 0; round < kWriterRounds; ++round) {
      for (uint32_t i = 0; i < kChurn; ++i) {
        index.Put(DigestOf(kStable + i), Grant("churn-" + std::to_string(i)));
      }
      for (uint32_t i = 0; i < kChurn; ++i) {
        index.Put(DigestOf(kStable + i),
                  Grant("churn-" + std::to_string(i), /*revoked=*/true));
      }
      for (uint32_t i = 0; i < kChurn; ++i) index.Erase(DigestOf(kStable + i));
    }
    writer_done.store(true);
  });

  std::vector<std::thread> readers;
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&, r] {
      // Keep reading while the writer runs, with a hard cap on iterations.
      for (int iteration = 0; iteration < 2000 && !writer_done.load();
           ++iteration) {
        for (uint32_t i = 0; i < kStable; ++i) {
          GrantPtr g = index.Find(DigestOf(i));
          if (g == nullptr || g->token_slug != "stable-" + std::to_string(i) ||
              g->revoked) {
            failures.fetch_add(1);
          }
        }
        for (uint32_t i = 0; i < kChurn; ++i) {
          GrantPtr g = index.Find(DigestOf(kStable + i));
          if (g == nullptr) continue;
          churn_hits.fetch_add(1, std::memory_order_relaxed);
          if (g->token_slug != "churn-" + std::to_string(i) ||
              g->organization != "org" || g->account == nullptr) {
            failures.fetch_add(1);
          }
        }
        (void)index.size();
        (void)r;
      }
    });
  }
  writer.join();
  for (std::thread& t : readers) t.join();

  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(index.size(), kStable);
  for (uint32_t i = 0; i < kChurn; ++i) {
    EXPECT_FALSE(index.Contains(DigestOf(kStable + i)));
  }
}

}  // namespace
}  // namespace keygate::index

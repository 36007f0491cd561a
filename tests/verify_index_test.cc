// tests/verify_index_test.cc: the lock-free digest -> token index behind
// Verify.
#include "lib/index/verify_index.h"

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "lib/scope/scope.h"

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

std::string Slug(const TokenEntry& e) { return std::string(e.slug, e.slug_size); }

class VerifyIndexTest : public ::testing::Test {
 protected:
  uint32_t Group(const std::string& account = "sa",
                 std::vector<std::string> scopes = {"read:tokens"}) {
    return index_.InternGroup("org", account, scopes, &catalog_, state_);
  }
  bool Put(uint32_t n, const std::string& slug, bool revoked = false) {
    return index_.Put(DigestOf(n), Group(), revoked, std::nullopt, slug).ok();
  }
  std::optional<TokenEntry> Find(uint32_t n) {
    TokenEntry e;
    if (!index_.Find(DigestOf(n), &e)) return std::nullopt;
    return e;
  }

  scope::ScopeCatalog catalog_{
      std::vector<std::string>{"service_accounts", "tokens"}};
  std::shared_ptr<AccountState> state_ = std::make_shared<AccountState>();
  VerifyIndex index_;
};

TEST_F(VerifyIndexTest, EmptyIndexFindsNothing) {
  EXPECT_EQ(index_.size(), 0u);
  EXPECT_FALSE(Find(1).has_value());
  EXPECT_FALSE(index_.Contains(DigestOf(1)));
  index_.Erase(DigestOf(1));  // erasing an absent digest is a no-op
  EXPECT_EQ(index_.size(), 0u);
}

TEST_F(VerifyIndexTest, PutFindErase) {
  ASSERT_TRUE(Put(1, "one"));
  ASSERT_TRUE(Put(2, "two"));
  EXPECT_EQ(index_.size(), 2u);
  ASSERT_TRUE(Find(1).has_value());
  EXPECT_EQ(Slug(*Find(1)), "one");
  EXPECT_EQ(Slug(*Find(2)), "two");
  EXPECT_EQ(Find(1)->group->organization, "org");
  EXPECT_EQ(Find(1)->group->service_account, "sa");
  EXPECT_TRUE(index_.Contains(DigestOf(2)));
  EXPECT_FALSE(Find(3).has_value());

  index_.Erase(DigestOf(1));
  EXPECT_FALSE(Find(1).has_value());
  EXPECT_EQ(Slug(*Find(2)), "two");
  EXPECT_EQ(index_.size(), 1u);
}

TEST_F(VerifyIndexTest, PutOfAPresentDigestUpdatesRevokedAndKeepsTheSnapshot) {
  ASSERT_TRUE(Put(7, "tok"));
  const TokenEntry before = *Find(7);
  EXPECT_FALSE(before.revoked);
  ASSERT_TRUE(Put(7, "tok", /*revoked=*/true));
  EXPECT_EQ(index_.size(), 1u);
  EXPECT_TRUE(Find(7)->revoked);
  // What a reader copied earlier is its own.
  EXPECT_FALSE(before.revoked);
  EXPECT_EQ(Slug(before), "tok");
}

// A rotation shortens a present token's expiry to its grace end: the entry
// is replaced whole, and a reader never misses the token meanwhile.
TEST_F(VerifyIndexTest, PutWithANewExpiryReplacesTheEntryWithoutAGap) {
  const absl::Time grace_end = absl::FromUnixSeconds(1800003600);
  const uint32_t group = Group();
  ASSERT_TRUE(Put(7, "tok"));
  ASSERT_TRUE(Put(8, "a-slug-longer-than-eleven"));
  ASSERT_TRUE(index_.Put(DigestOf(7), group, false, grace_end, "tok",
                         /*rotated=*/true).ok());
  ASSERT_TRUE(index_.Put(DigestOf(8), group, false, grace_end,
                         "a-slug-longer-than-eleven", /*rotated=*/true).ok());
  EXPECT_EQ(index_.size(), 2u);
  for (uint32_t n : {7u, 8u}) {
    std::optional<TokenEntry> e = Find(n);
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->expires_at, grace_end);
    EXPECT_TRUE(e->rotated);
    EXPECT_FALSE(e->revoked);
  }
  EXPECT_EQ(Slug(*Find(7)), "tok");
  EXPECT_EQ(Slug(*Find(8)), "a-slug-longer-than-eleven");
  // Revoked in its grace: the flag only, same expiry.
  ASSERT_TRUE(index_.Put(DigestOf(7), group, true, grace_end, "tok", true).ok());
  EXPECT_TRUE(Find(7)->revoked);
  EXPECT_EQ(Find(7)->expires_at, grace_end);

  // Readers while a writer keeps swapping one entry's expiry: always found,
  // always whole.
  ASSERT_TRUE(Put(9, "swapped"));
  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  std::thread reader([&] {
    TokenEntry e;
    while (!done.load()) {
      if (!index_.Find(DigestOf(9), &e) || Slug(e) != "swapped") {
        failures.fetch_add(1);
      }
    }
  });
  for (int i = 0; i < 500; ++i) {
    std::optional<absl::Time> expiry;
    if (i % 2 == 0) expiry = absl::FromUnixSeconds(1800000000 + i);
    ASSERT_TRUE(
        index_.Put(DigestOf(9), group, false, expiry, "swapped", i % 2 == 0)
            .ok());
  }
  done.store(true);
  reader.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(index_.size(), 3u);
}

TEST_F(VerifyIndexTest, ExpiryAndMaximumSlugRoundTrip) {
  const std::string long_slug(kMaxSlugSize, 'z');
  const absl::Time t = absl::FromUnixMicros(1800000000123456);
  ASSERT_TRUE(index_.Put(DigestOf(1), Group(), false, t, long_slug).ok());
  EXPECT_EQ(Slug(*Find(1)), long_slug);
  EXPECT_EQ(Find(1)->expires_at, t);
  EXPECT_EQ(index_.Put(DigestOf(2), Group(), false, std::nullopt,
                       long_slug + "z").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(index_.Put(DigestOf(2), 999, false, std::nullopt, "x").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(Find(2).has_value());
}

// Slug entries carry the expiry only when there is one; a freed entry is
// reused only by an entry of the same size, so a token never inherits
// another's expiry or slug bytes.
TEST_F(VerifyIndexTest, ReusedSlugEntriesKeepTheirOwnExpiry) {
  const absl::Time t = absl::FromUnixMicros(1800000000123456);
  // "abcdefghi" without expiry and "a" with expiry are both 10 bytes.
  ASSERT_TRUE(index_.Put(DigestOf(1), Group(), false, t, "a").ok());
  ASSERT_TRUE(index_.Put(DigestOf(2), Group(), false, std::nullopt,
                         "abcdefghi").ok());
  index_.Erase(std::vector<Digest>{DigestOf(1), DigestOf(2)});
  ASSERT_TRUE(index_.Put(DigestOf(3), Group(), false, std::nullopt, "b").ok());
  ASSERT_TRUE(index_.Put(DigestOf(4), Group(), false, t, "xyz").ok());
  ASSERT_TRUE(index_.Put(DigestOf(5), Group(), false, std::nullopt,
                         "123456789").ok());
  ASSERT_TRUE(index_.Put(DigestOf(6), Group(), false, t, "z").ok());
  EXPECT_EQ(Slug(*Find(3)), "b");
  EXPECT_FALSE(Find(3)->expires_at.has_value());
  EXPECT_EQ(Slug(*Find(4)), "xyz");
  EXPECT_EQ(Find(4)->expires_at, t);
  EXPECT_EQ(Slug(*Find(5)), "123456789");
  EXPECT_FALSE(Find(5)->expires_at.has_value());
  EXPECT_EQ(Slug(*Find(6)), "z");
  EXPECT_EQ(Find(6)->expires_at, t);
  // Revoking keeps the expiry (it lives with the slug, not the state).
  ASSERT_TRUE(index_.Put(DigestOf(6), Group(), true, t, "z").ok());
  EXPECT_TRUE(Find(6)->revoked);
  EXPECT_EQ(Find(6)->expires_at, t);
}

// Slugs of up to 11 bytes of tokens without expiry live in the record, the
// others in the arena: both sides of the boundary, with and without expiry,
// across erase and reuse of the records.
TEST_F(VerifyIndexTest, InlineAndArenaSlugsAcrossTheBoundary) {
  const absl::Time t = absl::FromUnixMicros(1700000000000001);
  const std::string s11(11, 'k'), s12(12, 'm');
  for (int round = 0; round < 2; ++round) {
    const uint32_t base = 100 * round;
    ASSERT_TRUE(index_.Put(DigestOf(base + 1), Group(), false, std::nullopt, s11).ok());
    ASSERT_TRUE(index_.Put(DigestOf(base + 2), Group(), false, std::nullopt, s12).ok());
    ASSERT_TRUE(index_.Put(DigestOf(base + 3), Group(), false, t, s11).ok());
    ASSERT_TRUE(index_.Put(DigestOf(base + 4), Group(), false, t, "ab").ok());
    EXPECT_EQ(Slug(*Find(base + 1)), s11);
    EXPECT_FALSE(Find(base + 1)->expires_at.has_value());
    EXPECT_EQ(Slug(*Find(base + 2)), s12);
    EXPECT_FALSE(Find(base + 2)->expires_at.has_value());
    EXPECT_EQ(Slug(*Find(base + 3)), s11);
    EXPECT_EQ(Find(base + 3)->expires_at, t);
    EXPECT_EQ(Slug(*Find(base + 4)), "ab");
    EXPECT_EQ(Find(base + 4)->expires_at, t);
    // Free the records (and arena entries) for the next round to reuse.
    index_.Erase(std::vector<Digest>{DigestOf(base + 1), DigestOf(base + 2),
                                     DigestOf(base + 3), DigestOf(base + 4)});
    EXPECT_EQ(index_.size(), 0u);
  }
}

TEST_F(VerifyIndexTest, GroupsAreInternedPerAccountStateAndScopes) {
  EXPECT_EQ(Group(), Group());
  EXPECT_NE(Group("sa"), Group("other"));
  EXPECT_NE(Group("sa", {"read:tokens"}), Group("sa", {"write:tokens"}));
  const uint32_t before = Group();
  state_ = std::make_shared<AccountState>();  // a re-created account
  EXPECT_NE(Group(), before);
}

TEST_F(VerifyIndexTest, DigestsDifferingOnlyAfterTheHashPrefixAreDistinct) {
  Digest a{}, b{}, c{};
  a.fill(0xab);
  b.fill(0xab);
  c.fill(0xab);
  b[31] ^= 1;  // same home slot and tag
  c[20] ^= 1;
  ASSERT_TRUE(index_.Put(a, Group(), false, std::nullopt, "a").ok());
  TokenEntry e;
  EXPECT_FALSE(index_.Find(b, &e));
  ASSERT_TRUE(index_.Put(b, Group(), false, std::nullopt, "b").ok());
  ASSERT_TRUE(index_.Put(c, Group(), false, std::nullopt, "c").ok());
  ASSERT_TRUE(index_.Find(a, &e));
  EXPECT_EQ(Slug(e), "a");
  ASSERT_TRUE(index_.Find(b, &e));
  EXPECT_EQ(Slug(e), "b");
  index_.Erase(a);
  EXPECT_FALSE(index_.Find(a, &e));
  // Found past a tombstone.
  ASSERT_TRUE(index_.Find(b, &e));
  EXPECT_EQ(Slug(e), "b");
  ASSERT_TRUE(index_.Find(c, &e));
  EXPECT_EQ(Slug(e), "c");
}

TEST_F(VerifyIndexTest, ManyEntriesGrowReuseAndShrink) {
  constexpr uint32_t kCount = 20000;
  for (uint32_t i = 0; i < kCount; ++i) {
    ASSERT_TRUE(Put(i, "t" + std::to_string(i)));
  }
  EXPECT_EQ(index_.size(), kCount);
  // At most 70% full.
  EXPECT_GE(index_.table_capacity() * 7, kCount * 10);
  std::vector<Digest> even;
  for (uint32_t i = 0; i < kCount; i += 2) even.push_back(DigestOf(i));
  index_.Erase(even);
  EXPECT_EQ(index_.size(), kCount / 2);
  for (uint32_t i = 0; i < kCount; ++i) {
    std::optional<TokenEntry> e = Find(i);
    if (i % 2 == 0) {
      EXPECT_FALSE(e.has_value()) << i;
    } else {
      ASSERT_TRUE(e.has_value()) << i;
      EXPECT_EQ(Slug(*e), "t" + std::to_string(i));
    }
  }
  // Freed records and slugs are reused by new tokens; old ones stay intact.
  for (uint32_t i = 0; i < kCount; i += 2) {
    ASSERT_TRUE(Put(kCount + i, "n" + std::to_string(i)));
  }
  for (uint32_t i = 1; i < kCount; i += 2) {
    ASSERT_EQ(Slug(*Find(i)), "t" + std::to_string(i));
  }
  for (uint32_t i = 0; i < kCount; i += 2) {
    ASSERT_EQ(Slug(*Find(kCount + i)), "n" + std::to_string(i));
    ASSERT_FALSE(Find(i).has_value());
  }
  // Erasing everything shrinks the table back.
  std::vector<Digest> all;
  for (uint32_t i = 0; i < 2 * kCount; ++i) all.push_back(DigestOf(i));
  index_.Erase(all);
  EXPECT_EQ(index_.size(), 0u);
  EXPECT_LT(index_.table_capacity(), 1000u);
  EXPECT_FALSE(Find(1).has_value());
}

TEST_F(VerifyIndexTest, ReserveSizesTheTableOnce) {
  index_.Reserve(100000);
  const size_t capacity = index_.table_capacity();
  EXPECT_GE(capacity * 7, size_t{100000} * 10);
  for (uint32_t i = 0; i < 100000; ++i) ASSERT_TRUE(Put(i, "s"));
  EXPECT_EQ(index_.table_capacity(), capacity);
}

// Readers during rehashes, tombstones, record and slug reuse. The writer
// grows the index from empty (every growth is a rehash and a table swap),
// revokes, erases in batches (tombstones, then a shrinking rehash) and
// reinserts with different slugs (recycled records); readers must always
// find every stable digest intact, and every churn entry they see must be a
// whole entry of the right digest. Bounded iterations, no timing.
TEST_F(VerifyIndexTest, ReadersDuringRehashAndReuseSeeOnlyWholeEntries) {
  constexpr uint32_t kStable = 256;
  constexpr uint32_t kChurn = 3000;
  constexpr int kRounds = 12;
  constexpr int kReaders = 3;
  for (uint32_t i = 0; i < kStable; ++i) {
    ASSERT_TRUE(Put(i, "stable-" + std::to_string(i)));
  }
  const uint32_t churn_group = Group("churn");

  std::atomic<bool> writer_done{false};
  std::atomic<int> failures{0};
  std::atomic<uint64_t> churn_hits{0};
  std::atomic<int> rehashes{0};

  std::thread writer([&] {
    for (int round = 0; round < kRounds; ++round) {
      size_t capacity = index_.table_capacity();
      const std::string tag = "r" + std::to_string(round % 2) + "-";
      for (uint32_t i = 0; i < kChurn; ++i) {
        if (!index_.Put(DigestOf(kStable + i), churn_group, false,
                        std::nullopt, tag + std::to_string(i)).ok()) {
          failures.fetch_add(1);
        }
        if (index_.table_capacity() != capacity) {
          capacity = index_.table_capacity();
          rehashes.fetch_add(1);
        }
      }
      for (uint32_t i = 0; i < kChurn; i += 3) {
        (void)index_.Put(DigestOf(kStable + i), churn_group, true,
                         std::nullopt, tag + std::to_string(i));
      }
      std::vector<Digest> batch;
      for (uint32_t i = 0; i < kChurn; ++i) {
        batch.push_back(DigestOf(kStable + i));
        if (batch.size() == 500) {
          index_.Erase(batch);
          batch.clear();
        }
      }
      index_.Erase(batch);
    }
    writer_done.store(true);
  });

  std::vector<std::thread> readers;
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&] {
      for (int iteration = 0; iteration < 20000 && !writer_done.load();
           ++iteration) {
        TokenEntry e;
        for (uint32_t i = 0; i < kStable; i += 7) {
          if (!index_.Find(DigestOf(i), &e) ||
              Slug(e) != "stable-" + std::to_string(i) || e.revoked ||
              e.group->service_account != "sa") {
            failures.fetch_add(1);
          }
        }
        for (uint32_t i = iteration % 13; i < kChurn; i += 13) {
          if (!index_.Find(DigestOf(kStable + i), &e)) continue;
          churn_hits.fetch_add(1, std::memory_order_relaxed);
          const std::string slug = Slug(e);
          if ((slug != "r0-" + std::to_string(i) &&
               slug != "r1-" + std::to_string(i)) ||
              e.group->service_account != "churn" ||
              (e.revoked && i % 3 != 0)) {
            failures.fetch_add(1);
          }
        }
      }
    });
  }
  writer.join();
  for (std::thread& t : readers) t.join();

  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(rehashes.load(), 0);
  EXPECT_EQ(index_.size(), kStable);
  for (uint32_t i = 0; i < kChurn; ++i) {
    EXPECT_FALSE(index_.Contains(DigestOf(kStable + i)));
  }
}

}  // namespace
}  // namespace keygate::index

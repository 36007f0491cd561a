// tests/hit_path_presize_test.cc: the verify hot path's prefetch hints and
// the pre-sizing of the in-memory tables at open (VerifyIndex::Reserve,
// LastUsedTable::Reserve, Database::EstimateKeyCount and the bulk scan).
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "lib/index/verify_index.h"
#include "lib/scope/scope.h"
#include "lib/storage/database.h"
#include "lib/store/last_used_table.h"

namespace keygate {
namespace {

namespace fs = std::filesystem;

// DigestOf makes a distinct, uniform-looking digest for `n` (SplitMix64).
Digest DigestOf(uint64_t n) {
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

TEST(LastUsedTableReserveTest, KeepsTimesAndFlushStateAndNeverShrinks) {
  store::LastUsedTable table(absl::Seconds(1));
  const absl::Time t0 = absl::FromUnixSeconds(1800000000);
  for (uint64_t n = 0; n < 50; ++n) table.Add(DigestOf(n));
  table.Touch(DigestOf(1), t0);
  table.Touch(DigestOf(2), t0);
  table.MarkFlushed({{0, t0}});  // unknown key: no effect
  std::vector<store::LastUsedTable::Pending> pending = table.CollectPending();
  ASSERT_EQ(pending.size(), 2u);
  table.MarkFlushed({pending[0]});

  table.Reserve(100000);
  EXPECT_EQ(table.size(), 50u);
  EXPECT_EQ(table.Get(DigestOf(1)), t0);
  EXPECT_EQ(table.Get(DigestOf(2)), t0);
  EXPECT_EQ(table.Get(DigestOf(3)), std::nullopt);
  EXPECT_EQ(table.CollectPending().size(), 1u);  // the flushed one stays so

  table.Reserve(10);  // below what it holds: nothing lost
  for (uint64_t n = 50; n < 20000; ++n) table.Add(DigestOf(n));
  EXPECT_EQ(table.size(), 20000u);
  table.Touch(DigestOf(19999), t0);
  EXPECT_EQ(table.Get(DigestOf(19999)), t0);
  EXPECT_EQ(table.Get(DigestOf(1)), t0);
}

TEST(VerifyIndexReserveTest, OneRehashThenPutsDoNotGrowTheTable) {
  scope::ScopeCatalog catalog(
      std::vector<std::string>{"service_accounts", "tokens"});
  index::VerifyIndex index;
  const uint32_t group = index.InternGroup(
      "org", "sa", {"read:tokens"}, &catalog,
      std::make_shared<index::AccountState>());
  index.Reserve(10000);
  const size_t capacity = index.table_capacity();
  EXPECT_GE(capacity * 7, size_t{10000} * 10);
  for (uint32_t n = 0; n < 10000; ++n) {
    ASSERT_TRUE(
        index.Put(DigestOf(n), group, false, std::nullopt, "t").ok());
  }
  EXPECT_EQ(index.table_capacity(), capacity);
  index::TokenEntry entry;
  for (uint32_t n = 0; n < 10000; n += 97) {
    EXPECT_TRUE(index.Find(DigestOf(n), &entry)) << n;
  }
}

// Prefetch reads the current table; it must stay safe while writers
// replace and free tables (run it under ASan/TSan to see a use after free).
TEST(PrefetchTest, SafeWhileTablesAreReplaced) {
  scope::ScopeCatalog catalog(
      std::vector<std::string>{"service_accounts", "tokens"});
  index::VerifyIndex index;
  store::LastUsedTable table(absl::Seconds(1));
  const uint32_t group = index.InternGroup(
      "org", "sa", {"read:tokens"}, &catalog,
      std::make_shared<index::AccountState>());
  ASSERT_TRUE(index.Put(DigestOf(7), group, false, std::nullopt, "t").ok());
  table.Add(DigestOf(7));
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> found{0};
  std::thread reader([&] {
    uint64_t n = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      const Digest d = DigestOf(++n % 8);
      index.Prefetch(d);
      table.Prefetch(d);
      index::TokenEntry entry;
      if (index.Find(DigestOf(7), &entry)) found.fetch_add(1);
    }
  });
  for (uint64_t n = 100; n < 30000; ++n) {
    ASSERT_TRUE(index.Put(DigestOf(n), group, false, std::nullopt, "t").ok());
    table.Add(DigestOf(n));
  }
  std::vector<Digest> erase;
  for (uint64_t n = 100; n < 29000; ++n) erase.push_back(DigestOf(n));
  index.Erase(erase);
  table.Erase(erase);
  stop.store(true);
  reader.join();
  EXPECT_GT(found.load(), 0u);
  EXPECT_EQ(index.size(), 1u + 1000u);
  EXPECT_EQ(table.size(), 1u + 1000u);
}

TEST(DatabaseEstimateTest, CountsKeysOfOneFamilyAndBulkScanSeesThemAll) {
  const fs::path dir =
      fs::temp_directory_path() /
      ("keygate_hit_path_presize_test_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  {
    auto db = storage::Database::Open((dir / "db").string(), true);
    ASSERT_TRUE(db.ok()) << db.status();
    EXPECT_EQ((*db)->EstimateKeyCount(storage::Family::kDigests), 0u);
    storage::Batch batch;
    for (int i = 0; i < 3000; ++i) {
      batch.Put(storage::Family::kDigests, "d" + std::to_string(i), "v");
    }
    batch.Put(storage::Family::kTokens, "t", "v");
    ASSERT_TRUE((*db)->Write(batch, false).ok());
    const uint64_t estimate =
        (*db)->EstimateKeyCount(storage::Family::kDigests);
    EXPECT_GE(estimate, 1500u);
    EXPECT_LE(estimate, 6000u);
    // A whole-family scan (the bulk path) visits every key.
    int visited = 0;
    ASSERT_TRUE((*db)->Scan(storage::Family::kDigests, "", "",
                            [&](std::string_view, std::string_view) {
                              ++visited;
                              return true;
                            })
                    .ok());
    EXPECT_EQ(visited, 3000);
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace
}  // namespace keygate

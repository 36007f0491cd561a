// Tests of each token's last-used time: Verify keeps it in memory (to the
// second, refreshed at most once per granularity), flushes write only what
// changed (one record per token per flush), Close writes the rest, a
// reopened store keeps it, a store written before the times existed opens
// without them and gains them, purge and delete remove the records, and a
// flush racing revoke or purge never brings a token back.
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "keygate/keygate.h"
#include "lib/storage/keys.h"
#include "lib/storage/records.h"
#include "lib/store/last_used.h"
#include "lib/store/last_used_table.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "tests/store_test_util.h"

namespace keygate {
namespace {

using store::internal::FlushLastUsed;
using store::internal::LastUsedRecordsWritten;

// LastUsedRecordKeys returns the keys of every last-used record of the
// store at `path` (closed), read with RocksDB directly.
std::vector<std::string> LastUsedRecordKeys(const std::string& path) {
  std::vector<std::string> keys;
  std::vector<std::string> names;
  rocksdb::Status s =
      rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path, &names);
  EXPECT_TRUE(s.ok()) << s.ToString();
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const std::string& name : names) {
    families.emplace_back(name, rocksdb::ColumnFamilyOptions());
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  s = rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), path, families,
                                   &handles, &db);
  EXPECT_TRUE(s.ok()) << s.ToString();
  if (!s.ok()) return keys;
  for (size_t i = 0; i < handles.size(); ++i) {
    std::unique_ptr<rocksdb::Iterator> it(
        db->NewIterator(rocksdb::ReadOptions(), handles[i]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const std::string key = it->key().ToString();
      if (key.rfind(storage::kLastUsedPrefix, 0) == 0) {
        EXPECT_EQ(names[i], "default") << "last-used record outside meta";
        keys.push_back(key);
      }
    }
  }
  for (rocksdb::ColumnFamilyHandle* handle : handles) {
    (void)db->DestroyColumnFamilyHandle(handle);
  }
  delete db;
  return keys;
}

class LastUsedTest : public test::StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    if (HasFatalFailure()) return;
    KG_ASSERT_OK(CreateAccount("svc"));
  }

  // LastUsedOf lists account "svc" and returns the last_used_at of token
  // `slug` (nullopt also when absent; `found` says which).
  std::optional<absl::Time> LastUsedOf(std::string_view slug,
                                       bool* found = nullptr) {
    PageRequest page;
    page.limit = 100;
    absl::StatusOr<Page<TokenMetadata>> listed =
        store_->ListTokens(kOrg, "svc", page);
    EXPECT_TRUE(listed.ok()) << listed.status();
    if (found != nullptr) *found = false;
    if (!listed.ok()) return std::nullopt;
    for (const TokenMetadata& m : listed->items) {
      if (m.slug == slug) {
        if (found != nullptr) *found = true;
        return m.last_used_at;
      }
    }
    return std::nullopt;
  }

  // CloseStore closes store_ and keeps it closed (for raw reads).
  void CloseStore() {
    KG_EXPECT_OK(store_->Close());
    store_.reset();
  }
};

TEST_F(LastUsedTest, VerifyShowsInListAndSurvivesReopen) {
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken t, CreateToken("svc", "one", {"read:tokens"}, "one"));
  EXPECT_FALSE(t.metadata.last_used_at.has_value());
  EXPECT_EQ(LastUsedOf("one"), std::nullopt);

  clock_.Advance(absl::Milliseconds(1500));
  const absl::Time used = clock_.Now();
  KG_ASSERT_OK(store_->Verify(t.value.view(), ""));
  // Listed at once from memory, to the whole second.
  EXPECT_EQ(LastUsedOf("one"),
            absl::FromUnixSeconds(absl::ToUnixSeconds(used)));

  // Failed verifies are not uses.
  KG_ASSERT_OK(store_->RevokeToken(kOrg, "svc", "one", kActor));
  clock_.Advance(absl::Hours(1));
  EXPECT_FALSE(store_->Verify(t.value.view(), "").ok());
  EXPECT_EQ(LastUsedOf("one"),
            absl::FromUnixSeconds(absl::ToUnixSeconds(used)));

  // Close writes it (no flush before), reopening reads it.
  KG_ASSERT_OK(Reopen());
  EXPECT_EQ(LastUsedOf("one"),
            absl::FromUnixSeconds(absl::ToUnixSeconds(used)));
}

TEST_F(LastUsedTest, FlushCoalescesToOneRecordPerTokenPerInterval) {
  std::vector<CreatedToken> tokens;
  for (int i = 0; i < 3; ++i) {
    KG_ASSERT_OK_AND_ASSIGN(CreatedToken t,
                            CreateToken("svc", "t" + std::to_string(i)));
    tokens.push_back(std::move(t));
  }
  const uint64_t before = LastUsedRecordsWritten(*store_);
  // 300 verifies of 3 tokens over 30 s of the injected clock.
  for (int round = 0; round < 100; ++round) {
    for (const CreatedToken& t : tokens) {
      ASSERT_TRUE(store_->Verify(t.value.view(), "").ok()) << round;
    }
    clock_.Advance(absl::Milliseconds(300));
  }
  EXPECT_EQ(LastUsedRecordsWritten(*store_), before) << "verify wrote";
  KG_ASSERT_OK(FlushLastUsed(*store_));
  EXPECT_EQ(LastUsedRecordsWritten(*store_), before + 3);
  // Nothing changed since: nothing written.
  KG_ASSERT_OK(FlushLastUsed(*store_));
  EXPECT_EQ(LastUsedRecordsWritten(*store_), before + 3);
  // One token used again in a later second: one record.
  clock_.Advance(absl::Seconds(5));
  KG_ASSERT_OK(store_->Verify(tokens[1].value.view(), ""));
  KG_ASSERT_OK(FlushLastUsed(*store_));
  EXPECT_EQ(LastUsedRecordsWritten(*store_), before + 4);
}

TEST_F(LastUsedTest, GranularityBoundsHowOftenTheTimeMoves) {
  Options options = DefaultOptions();
  options.last_used_flush_interval = absl::Minutes(10);  // granularity 10 s
  KG_ASSERT_OK(Reopen(options));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken t, CreateToken("svc", "gr", {"read:tokens"}, "gr"));
  const absl::Time first = clock_.Now();
  KG_ASSERT_OK(store_->Verify(t.value.view(), ""));
  clock_.Advance(absl::Seconds(9));
  KG_ASSERT_OK(store_->Verify(t.value.view(), ""));
  EXPECT_EQ(LastUsedOf("gr"), first);
  clock_.Advance(absl::Seconds(1));
  KG_ASSERT_OK(store_->Verify(t.value.view(), ""));
  EXPECT_EQ(LastUsedOf("gr"), first + absl::Seconds(10));
}

TEST_F(LastUsedTest, BackgroundFlushWritesWithinTheInterval) {
  Options options = DefaultOptions();
  options.last_used_flush_interval = absl::Milliseconds(50);
  KG_ASSERT_OK(Reopen(options));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken t, CreateToken("svc", "bg"));
  const uint64_t before = LastUsedRecordsWritten(*store_);
  KG_ASSERT_OK(store_->Verify(t.value.view(), ""));
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (LastUsedRecordsWritten(*store_) == before && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(LastUsedRecordsWritten(*store_), before + 1);
  // Close stops the thread promptly (no wait for another interval).
  KG_EXPECT_OK(store_->Close());
}

TEST_F(LastUsedTest, StoreWithoutLastUsedRecordsOpensAndGainsThem) {
  SKIP_IF_POSTGRES("reads the records from the RocksDB files");
  // A store as an older keygate left it: tokens, no last-used range.
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken t, CreateToken("svc", "old", {"read:tokens"}, "old"));
  CloseStore();
  ASSERT_TRUE(LastUsedRecordKeys(StorePath()).empty());

  KG_ASSERT_OK(Reopen());
  bool found = false;
  EXPECT_EQ(LastUsedOf("old", &found), std::nullopt);
  EXPECT_TRUE(found);
  KG_ASSERT_OK(store_->Verify(t.value.view(), ""));
  const absl::Time used = clock_.Now();
  CloseStore();
  EXPECT_EQ(LastUsedRecordKeys(StorePath()).size(), 1u);
  KG_ASSERT_OK(Reopen());
  EXPECT_EQ(LastUsedOf("old"), used);
}

TEST_F(LastUsedTest, PurgeAndDeleteRemoveTheRecords) {
  SKIP_IF_POSTGRES("reads the records from the RocksDB files");
  KG_ASSERT_OK(CreateAccount("gone"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken purged, CreateToken("svc", "p"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken kept, CreateToken("svc", "k"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken deleted, CreateToken("gone", "d"));
  for (const CreatedToken* t : {&purged, &kept, &deleted}) {
    KG_ASSERT_OK(store_->Verify(t->value.view(), ""));
  }
  KG_ASSERT_OK(FlushLastUsed(*store_));
  KG_ASSERT_OK(Reopen());
  CloseStore();
  ASSERT_EQ(LastUsedRecordKeys(StorePath()).size(), 3u);
  KG_ASSERT_OK(Reopen());

  KG_ASSERT_OK(store_->RevokeToken(kOrg, "svc", purged.metadata.slug, kActor));
  clock_.Advance(absl::Hours(24 * 31));
  KG_ASSERT_OK_AND_ASSIGN(PurgeResult r, store_->PurgeRetired());
  EXPECT_EQ(r.tokens_purged, 1u);
  KG_ASSERT_OK(store_->DeleteServiceAccount(kOrg, "gone", kActor));
  CloseStore();
  const std::vector<std::string> keys = LastUsedRecordKeys(StorePath());
  ASSERT_EQ(keys.size(), 1u);
  // The survivor is "kept": reopen and check it still shows its time.
  KG_ASSERT_OK(Reopen());
  EXPECT_TRUE(LastUsedOf(kept.metadata.slug).has_value());
}

TEST_F(LastUsedTest, FlushRacingRevokeAndPurgeResurrectsNothing) {
  SKIP_IF_POSTGRES("reads the records from the RocksDB files");
  Options options = DefaultOptions();
  options.last_used_flush_interval = absl::Milliseconds(1);
  KG_ASSERT_OK(Reopen(options));
  constexpr int kTokens = 40;
  std::vector<CreatedToken> tokens;
  for (int i = 0; i < kTokens; ++i) {
    KG_ASSERT_OK_AND_ASSIGN(CreatedToken t,
                            CreateToken("svc", "r" + std::to_string(i)));
    tokens.push_back(std::move(t));
  }
  std::atomic<bool> stop{false};
  // Verifiers keep every token's time changing; a flusher flushes flat out
  // besides the 1 ms background one.
  std::thread verifier([&] {
    while (!stop.load()) {
      for (const CreatedToken& t : tokens) (void)store_->Verify(t.value.view(), "");
      clock_.Advance(absl::Seconds(1));
    }
  });
  std::thread flusher([&] {
    while (!stop.load()) (void)FlushLastUsed(*store_);
  });
  for (int i = 0; i < kTokens; ++i) {
    KG_EXPECT_OK(store_->RevokeToken(kOrg, "svc", tokens[i].metadata.slug, kActor));
    if (i % 10 == 9) {
      clock_.Advance(absl::Hours(24 * 31));
      KG_EXPECT_OK(store_->PurgeRetired());
    }
  }
  stop.store(true);
  verifier.join();
  flusher.join();
  KG_ASSERT_OK(Reopen());
  for (int i = 0; i < kTokens; ++i) {
    EXPECT_FALSE(store_->Verify(tokens[i].value.view(), "").ok()) << i;
  }
  PageRequest page;
  page.limit = 100;
  KG_ASSERT_OK_AND_ASSIGN(Page<TokenMetadata> listed,
                          store_->ListTokens(kOrg, "svc", page));
  for (const TokenMetadata& m : listed.items) EXPECT_TRUE(m.revoked()) << m.slug;
  KG_ASSERT_OK(store_->PurgeRetired().status());
  clock_.Advance(absl::Hours(24 * 31));
  KG_ASSERT_OK(store_->PurgeRetired().status());
  CloseStore();
  // Every token is purged; no last-used record outlives its token.
  EXPECT_TRUE(LastUsedRecordKeys(StorePath()).empty());
}

// ----- the in-memory table alone

Digest DigestOf(uint64_t n) {
  Digest d{};
  for (int i = 0; i < 8; ++i) d[i] = static_cast<uint8_t>(n >> (8 * i));
  d[31] = 0x5a;
  return d;
}

TEST(LastUsedTableTest, TouchWritesOnlyStaleSlotsAndIgnoresUnknownTokens) {
  store::LastUsedTable table(absl::Seconds(1));
  const absl::Time t0 = absl::FromUnixSeconds(1800000000);
  table.Add(DigestOf(1));
  table.Touch(DigestOf(2), t0);  // not tracked
  EXPECT_EQ(table.Get(DigestOf(2)), std::nullopt);
  EXPECT_EQ(table.Get(DigestOf(1)), std::nullopt);
  table.Touch(DigestOf(1), t0 + absl::Milliseconds(900));
  EXPECT_EQ(table.Get(DigestOf(1)), t0);
  table.Touch(DigestOf(1), t0 - absl::Seconds(30));  // clock went back
  EXPECT_EQ(table.Get(DigestOf(1)), t0);
  ASSERT_EQ(table.CollectPending().size(), 1u);
  table.MarkFlushed(table.CollectPending());
  EXPECT_TRUE(table.CollectPending().empty());
  table.Erase({DigestOf(1)});
  EXPECT_EQ(table.Get(DigestOf(1)), std::nullopt);
  table.Touch(DigestOf(1), t0 + absl::Hours(1));
  EXPECT_TRUE(table.CollectPending().empty());
}

TEST(LastUsedTableTest, ReadersDuringGrowthAndCleanUpLoseNothing) {
  store::LastUsedTable table(absl::Seconds(1));
  table.Add(DigestOf(7));
  std::atomic<bool> stop{false};
  std::atomic<int64_t> last_second{0};
  std::thread reader([&] {
    int64_t s = 1800000000;
    while (!stop.load()) {
      ++s;
      table.Touch(DigestOf(7), absl::FromUnixSeconds(s));
      last_second.store(s);
    }
  });
  for (uint64_t n = 100; n < 20000; ++n) table.Add(DigestOf(n));
  std::vector<Digest> erase;
  for (uint64_t n = 100; n < 19000; ++n) erase.push_back(DigestOf(n));
  table.Erase(erase);
  stop.store(true);
  reader.join();
  EXPECT_EQ(table.Get(DigestOf(7)),
            absl::FromUnixSeconds(last_second.load()));
  EXPECT_EQ(table.size(), 1u + 1000u);
}

TEST(LastUsedStorageTest, KeysAndRecordsRoundTrip) {
  Digest d{};
  d[0] = 0x11;
  d[7] = 0x88;
  const uint64_t key = storage::LastUsedKey(d);
  EXPECT_EQ(key, 0x8800000000000011u);
  uint64_t decoded = 0;
  ASSERT_TRUE(storage::DecodeLastUsedRecordKey(storage::LastUsedRecordKey(key),
                                               &decoded));
  EXPECT_EQ(decoded, key);
  EXPECT_FALSE(storage::DecodeLastUsedRecordKey("last_used/short", &decoded));
  EXPECT_EQ(storage::LastUsedKey(Digest{}), 1u);  // 0 marks an empty slot
  const absl::Time t = absl::FromUnixSeconds(1800000000);
  absl::Time back;
  KG_ASSERT_OK(storage::DecodeLastUsed(storage::EncodeLastUsed(t), &back));
  EXPECT_EQ(back, t);
  EXPECT_FALSE(storage::DecodeLastUsed("", &back).ok());
  std::string bad_version = storage::EncodeLastUsed(t);
  bad_version[0] = 9;
  EXPECT_FALSE(storage::DecodeLastUsed(bad_version, &back).ok());
}

}  // namespace
}  // namespace keygate

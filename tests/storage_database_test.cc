// tests/storage_database_test.cc: the RocksDB wrapper: open/lock errors,
// atomic batches, and the prefix / start-after semantics of Scan that keyset
// pagination relies on.
#include "lib/storage/database.h"

#include <unistd.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "lib/storage/keys.h"

namespace keygate::storage {
namespace {

namespace fs = std::filesystem;

class DatabaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const testing::TestInfo* info =
        testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           (std::string("keygate_storage_database_test_") + info->name() +
            "_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    db_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  void OpenDb() {
    absl::StatusOr<std::unique_ptr<Database>> db =
        Database::Open((dir_ / "db").string(), /*create_if_missing=*/true);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
  }

  void Put(Family family, std::string_view key, std::string_view value) {
    Batch batch;
    batch.Put(family, key, value);
    ASSERT_TRUE(db_->Write(batch, /*sync=*/false).ok());
  }

  // ScanKeys returns the keys Scan visits, at most `limit`.
  std::vector<std::string> ScanKeys(Family family, std::string_view prefix,
                                    std::string_view start_after,
                                    size_t limit = 1000) {
    std::vector<std::string> keys;
    absl::Status s = db_->Scan(
        family, prefix, start_after,
        [&](std::string_view key, std::string_view) {
          keys.emplace_back(key);
          return keys.size() < limit;
        });
    EXPECT_TRUE(s.ok()) << s;
    return keys;
  }

  fs::path dir_;
  std::unique_ptr<Database> db_;
};

TEST_F(DatabaseTest, GetPutDeleteAcrossFamilies) {
  OpenDb();
  Put(Family::kAccounts, "k", "accounts");
  Put(Family::kTokens, "k", "tokens");
  absl::StatusOr<std::optional<std::string>> v = db_->Get(Family::kAccounts, "k");
  ASSERT_TRUE(v.ok());
  ASSERT_TRUE(v->has_value());
  EXPECT_EQ(**v, "accounts");
  v = db_->Get(Family::kTokens, "k");
  ASSERT_TRUE(v.ok() && v->has_value());
  EXPECT_EQ(**v, "tokens");
  v = db_->Get(Family::kDigests, "k");
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->has_value());

  Batch batch;
  batch.Delete(Family::kAccounts, "k");
  ASSERT_TRUE(db_->Write(batch, /*sync=*/true).ok());
  v = db_->Get(Family::kAccounts, "k");
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->has_value());
}

TEST_F(DatabaseTest, BatchAppliesInOrderAndSurvivesReopen) {
  OpenDb();
  Batch batch;
  batch.Put(Family::kTokens, "a", "1");
  batch.Put(Family::kTokens, "a", "2");  // later op wins
  batch.Put(Family::kTokenTimes, "t", "");
  batch.Put(Family::kDigests, std::string("\0\xff", 2), "d");
  batch.Delete(Family::kTokens, "never-there");
  EXPECT_EQ(batch.size(), 5u);
  ASSERT_TRUE(db_->Write(batch, /*sync=*/true).ok());
  ASSERT_TRUE(db_->Close().ok());
  ASSERT_TRUE(db_->Close().ok());  // idempotent
  db_.reset();

  OpenDb();
  auto v = db_->Get(Family::kTokens, "a");
  ASSERT_TRUE(v.ok() && v->has_value());
  EXPECT_EQ(**v, "2");
  v = db_->Get(Family::kDigests, std::string("\0\xff", 2));
  ASSERT_TRUE(v.ok() && v->has_value());
  EXPECT_EQ(**v, "d");
  v = db_->Get(Family::kTokenTimes, "t");
  ASSERT_TRUE(v.ok() && v->has_value());
}

TEST_F(DatabaseTest, SecondOpenIsAClearLockError) {
  OpenDb();
  absl::StatusOr<std::unique_ptr<Database>> again =
      Database::Open((dir_ / "db").string(), /*create_if_missing=*/true);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition)
      << again.status();
  EXPECT_NE(again.status().message().find("in use"), std::string_view::npos);
}

TEST_F(DatabaseTest, IoErrorUnderAPathContainingLockIsNotALockError) {
  // The parent directory is missing, and its name contains "lock".
  absl::StatusOr<std::unique_ptr<Database>> db = Database::Open(
      (dir_ / "blocks" / "db").string(), /*create_if_missing=*/true);
  ASSERT_FALSE(db.ok());
  EXPECT_NE(db.status().code(), absl::StatusCode::kFailedPrecondition)
      << db.status();
  EXPECT_EQ(db.status().message().find("in use"), std::string_view::npos)
      << db.status();
}

TEST_F(DatabaseTest, MissingStoreWithoutCreateIsNotFound) {
  absl::StatusOr<std::unique_ptr<Database>> db =
      Database::Open((dir_ / "absent").string(), /*create_if_missing=*/false);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), absl::StatusCode::kNotFound) << db.status();
}

TEST_F(DatabaseTest, ScanStaysInsideThePrefix) {
  OpenDb();
  // Neighbours on both sides of org "ab": "a" (shorter) and "abc" (longer),
  // whose keys sort around it.
  for (std::string_view org : {"a", "ab", "abc", "b"}) {
    for (std::string_view slug : {"s1", "s2", "s3"}) {
      Put(Family::kAccounts, AccountKey(org, slug), "v");
    }
  }
  const std::string prefix = AccountPrefix("ab");
  const std::vector<std::string> keys = ScanKeys(Family::kAccounts, prefix, "");
  ASSERT_EQ(keys.size(), 3u);
  for (size_t i = 0; i < keys.size(); ++i) {
    EXPECT_EQ(keys[i], AccountKey("ab", "s" + std::to_string(i + 1)));
  }
  EXPECT_TRUE(ScanKeys(Family::kAccounts, AccountPrefix("zz"), "").empty());
  // Another family with the same keys is not visited.
  EXPECT_TRUE(ScanKeys(Family::kTokens, prefix, "").empty());
}

TEST_F(DatabaseTest, StartAfterIsStrict) {
  OpenDb();
  const std::string prefix = AccountPrefix("org");
  for (std::string_view slug : {"aa", "ab", "ab-c", "b0", "zz"}) {
    Put(Family::kAccounts, AccountKey("org", slug), "v");
  }
  auto slugs = [&](std::string_view start_after) {
    std::vector<std::string> out;
    for (const std::string& key :
         ScanKeys(Family::kAccounts, prefix, start_after)) {
      out.push_back(key.substr(prefix.size()));
    }
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(slugs(""), (V{"aa", "ab", "ab-c", "b0", "zz"}));
  // The key equal to the position is skipped; keys it prefixes are not.
  EXPECT_EQ(slugs("ab"), (V{"ab-c", "b0", "zz"}));
  EXPECT_EQ(slugs("ab-c"), (V{"b0", "zz"}));
  // A position that is not a stored key (deleted since) still works.
  EXPECT_EQ(slugs("ab-a"), (V{"ab-c", "b0", "zz"}));
  EXPECT_EQ(slugs("zz"), V{});
  EXPECT_EQ(slugs("zzz"), V{});
  // A position past every key of the prefix never reaches the next one.
  Put(Family::kAccounts, AccountKey("org2", "aa"), "v");
  Put(Family::kAccounts, AccountKey("orh", "aa"), "v");
  EXPECT_EQ(slugs(std::string(1, '\xff')), V{});
}

TEST_F(DatabaseTest, KeysetPagesOfTokenTimesCoverEveryKeyOnce) {
  OpenDb();
  const absl::Time base = absl::FromUnixSeconds(1700000000);
  std::vector<std::string> want;
  // Several tokens per timestamp, so ties are broken by slug.
  for (int t = 9; t >= 0; --t) {
    for (std::string_view slug : {"t-a", "t-b", "t-c"}) {
      want.push_back(TokenTimeKey("org", "sa", base + absl::Seconds(t), slug));
    }
  }
  // Another account and organization in between, which must not appear.
  for (const std::string& key : want) {
    Put(Family::kTokenTimes, key, "");
  }
  Put(Family::kTokenTimes, TokenTimeKey("org", "sb", base, "x1"), "");
  Put(Family::kTokenTimes, TokenTimeKey("org", "s", base, "x1"), "");
  Put(Family::kTokenTimes, TokenTimeKey("orga", "sa", base, "x1"), "");

  const std::string prefix = TokenPrefix("org", "sa");
  for (size_t page_size : {1u, 2u, 4u, 7u, 30u, 31u}) {
    std::vector<std::string> got;
    std::string position;
    for (int pages = 0; pages < 100; ++pages) {
      const std::vector<std::string> page =
          ScanKeys(Family::kTokenTimes, prefix, position, page_size);
      got.insert(got.end(), page.begin(), page.end());
      if (page.size() < page_size) break;
      position = page.back().substr(prefix.size());
    }
    EXPECT_EQ(got, want) << "page size " << page_size;
  }
}

TEST_F(DatabaseTest, VisitorCanStopEarly) {
  OpenDb();
  for (char c = 'a'; c <= 'e'; ++c) {
    Put(Family::kAccounts, AccountKey("org", std::string(2, c)), "v");
  }
  EXPECT_EQ(ScanKeys(Family::kAccounts, AccountPrefix("org"), "", 2).size(), 2u);
}

}  // namespace
}  // namespace keygate::storage

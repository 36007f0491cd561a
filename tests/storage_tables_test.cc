// tests/storage_tables_test.cc: the table layer: which records a token or
// account occupies, that deleting a token removes all of them, the ranges
// and orders of its scans, scan visitors that stop or fail, and corrupt
// records read as DataLoss rather than misread.
#include "lib/storage/tables.h"

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
#include "lib/storage/database.h"
#include "lib/storage/keys.h"

namespace keygate::storage {
namespace {

namespace fs = std::filesystem;

absl::Time Micros(int64_t us) { return absl::FromUnixMicros(us); }

StoredToken MakeToken(std::string_view org, std::string_view account,
                      std::string_view slug, int64_t created_us,
                      uint8_t digest_seed) {
  StoredToken token;
  for (size_t i = 0; i < token.digest.size(); ++i) {
    token.digest[i] = static_cast<uint8_t>(digest_seed + i);
  }
  TokenMetadata& m = token.metadata;
  m.organization = std::string(org);
  m.service_account = std::string(account);
  m.slug = std::string(slug);
  m.name = "token " + std::string(slug);
  m.scopes = {"read:tokens"};
  m.created_at = Micros(created_us);
  m.created_by = "user:alice";
  m.pepper_id = 1;
  return token;
}

ServiceAccount MakeAccount(std::string_view org, std::string_view slug) {
  ServiceAccount account;
  account.organization = std::string(org);
  account.slug = std::string(slug);
  account.name = "Account " + std::string(slug);
  account.created_at = account.updated_at = Micros(1700000000000000);
  account.created_by = account.updated_by = "user:alice";
  return account;
}

class TablesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const testing::TestInfo* info =
        testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           (std::string("keygate_storage_tables_test_") + info->name() + "_" +
            std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    OpenTables();
  }
  void TearDown() override {
    if (tables_ != nullptr) EXPECT_TRUE(tables_->Close().ok());
    tables_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::string Path() const { return (dir_ / "db").string(); }

  void OpenTables() {
    absl::StatusOr<std::unique_ptr<Tables>> tables =
        Tables::Open(Path(), /*create_if_missing=*/true);
    ASSERT_TRUE(tables.ok()) << tables.status();
    tables_ = *std::move(tables);
  }

  // RawWrite closes the tables, writes `batch` with the Database directly
  // (to plant records the tables would never write) and reopens.
  void RawWrite(Batch& batch) {
    ASSERT_TRUE(tables_->Close().ok());
    tables_.reset();
    {
      absl::StatusOr<std::unique_ptr<Database>> db =
          Database::Open(Path(), /*create_if_missing=*/false);
      ASSERT_TRUE(db.ok()) << db.status();
      ASSERT_TRUE((*db)->Write(batch, /*sync=*/false).ok());
      ASSERT_TRUE((*db)->Close().ok());
    }
    OpenTables();
  }

  // Raw reads a record with the Database directly (tables closed meanwhile).
  std::optional<std::string> Raw(Family family, std::string_view key) {
    EXPECT_TRUE(tables_->Close().ok());
    tables_.reset();
    std::optional<std::string> value;
    {
      absl::StatusOr<std::unique_ptr<Database>> db =
          Database::Open(Path(), /*create_if_missing=*/false);
      EXPECT_TRUE(db.ok()) << db.status();
      if (db.ok()) {
        absl::StatusOr<std::optional<std::string>> got = (*db)->Get(family, key);
        EXPECT_TRUE(got.ok()) << got.status();
        if (got.ok()) value = *got;
        EXPECT_TRUE((*db)->Close().ok());
      }
    }
    OpenTables();
    return value;
  }

  void Apply(Batch& batch) {
    ASSERT_TRUE(tables_->Write(batch, /*sync=*/false).ok());
  }

  void PutToken(const StoredToken& token) {
    Batch batch;
    tables_->PutNewToken(batch, token);
    Apply(batch);
  }

  std::vector<std::string> SlugsOf(const TokenRange& range) {
    std::vector<std::string> slugs;
    absl::Status s = tables_->ScanTokens(range, [&](const StoredToken& t) {
      slugs.push_back(t.metadata.organization + "/" +
                      t.metadata.service_account + "/" + t.metadata.slug);
      return ScanControl::kContinue;
    });
    EXPECT_TRUE(s.ok()) << s;
    return slugs;
  }

  std::vector<std::string> NewestFirst(std::string_view org,
                                       std::string_view account,
                                       std::string_view start_after = "") {
    std::vector<std::string> slugs;
    absl::Status s = tables_->ScanTokensNewestFirst(
        org, account, start_after,
        [&](const StoredToken& t, std::string_view position) {
          EXPECT_EQ(position,
                    TokenTimeSuffix(t.metadata.created_at, t.metadata.slug));
          slugs.push_back(t.metadata.slug);
          return ScanControl::kContinue;
        });
    EXPECT_TRUE(s.ok()) << s;
    return slugs;
  }

  fs::path dir_;
  std::unique_ptr<Tables> tables_;
};

TEST_F(TablesTest, NewTokenOccupiesRowListingAndDigest) {
  const StoredToken token = MakeToken("org", "svc", "ci", 1700000000000000, 1);
  PutToken(token);

  absl::StatusOr<std::optional<StoredToken>> read =
      tables_->ReadToken("org", "svc", "ci");
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_TRUE(read->has_value());
  EXPECT_EQ((*read)->metadata.organization, "org");
  EXPECT_EQ((*read)->metadata.service_account, "svc");
  EXPECT_EQ((*read)->metadata.slug, "ci");
  EXPECT_EQ((*read)->metadata.name, "token ci");
  EXPECT_EQ((*read)->digest, token.digest);
  EXPECT_EQ(NewestFirst("org", "svc"), std::vector<std::string>{"ci"});
  absl::StatusOr<bool> contains = tables_->ContainsDigest(token.digest);
  ASSERT_TRUE(contains.ok()) << contains.status();
  EXPECT_TRUE(*contains);

  // The digests table maps the digest to the token's key.
  std::optional<std::string> digest_record =
      Raw(Family::kDigests, DigestBytes(token.digest));
  ASSERT_TRUE(digest_record.has_value());
  EXPECT_EQ(*digest_record, EncodeDigestRecord(TokenKey("org", "svc", "ci")));
}

TEST_F(TablesTest, DeleteTokenRemovesEveryRecord) {
  const StoredToken gone = MakeToken("org", "svc", "gone", 1700000000000000, 1);
  const StoredToken kept = MakeToken("org", "svc", "kept", 1700000000000001, 90);
  PutToken(gone);
  PutToken(kept);
  Batch batch;
  tables_->DeleteToken(batch, gone);
  Apply(batch);

  absl::StatusOr<std::optional<StoredToken>> read =
      tables_->ReadToken("org", "svc", "gone");
  ASSERT_TRUE(read.ok());
  EXPECT_FALSE(read->has_value());
  EXPECT_EQ(NewestFirst("org", "svc"), std::vector<std::string>{"kept"});
  EXPECT_FALSE(*tables_->ContainsDigest(gone.digest));
  EXPECT_TRUE(*tables_->ContainsDigest(kept.digest));
  EXPECT_FALSE(
      Raw(Family::kTokenTimes,
          TokenTimeKey("org", "svc", gone.metadata.created_at, "gone"))
          .has_value());
}

TEST_F(TablesTest, UpdateTokenReplacesOnlyTheRow) {
  StoredToken token = MakeToken("org", "svc", "ci", 1700000000000000, 1);
  PutToken(token);
  token.metadata.revoked_at = Micros(1700000000500000);
  token.metadata.revoked_by = "user:bob";
  Batch batch;
  tables_->UpdateToken(batch, token);
  EXPECT_EQ(batch.size(), 1u);
  Apply(batch);
  absl::StatusOr<std::optional<StoredToken>> read =
      tables_->ReadToken("org", "svc", "ci");
  ASSERT_TRUE(read.ok() && read->has_value());
  EXPECT_EQ((*read)->metadata.revoked_at, token.metadata.revoked_at);
  EXPECT_EQ((*read)->metadata.revoked_by, "user:bob");
  EXPECT_EQ(NewestFirst("org", "svc"), std::vector<std::string>{"ci"});
}

TEST_F(TablesTest, TokenRangesNeverReachAnotherOwner) {
  // ("a", "bc") and ("ab", "c") must never be confused.
  PutToken(MakeToken("a", "bc", "t1", 1, 1));
  PutToken(MakeToken("ab", "c", "t2", 2, 50));
  PutToken(MakeToken("a", "b", "t3", 3, 100));
  PutToken(MakeToken("a", "bc", "t4", 4, 150));
  EXPECT_EQ(SlugsOf(TokenRange::OfAccount("a", "bc")),
            (std::vector<std::string>{"a/bc/t1", "a/bc/t4"}));
  EXPECT_EQ(SlugsOf(TokenRange::OfAccount("a", "b")),
            (std::vector<std::string>{"a/b/t3"}));
  EXPECT_EQ(SlugsOf(TokenRange::OfOrganization("a")),
            (std::vector<std::string>{"a/b/t3", "a/bc/t1", "a/bc/t4"}));
  EXPECT_EQ(SlugsOf(TokenRange::OfOrganization("ab")),
            (std::vector<std::string>{"ab/c/t2"}));
  EXPECT_EQ(SlugsOf(TokenRange::All()).size(), 4u);
}

TEST_F(TablesTest, NewestFirstOrdersByTimeThenSlugAndResumes) {
  PutToken(MakeToken("org", "svc", "old", 1000, 1));
  PutToken(MakeToken("org", "svc", "new-b", 3000, 50));
  PutToken(MakeToken("org", "svc", "new-a", 3000, 100));
  PutToken(MakeToken("org", "svc", "mid", 2000, 150));
  EXPECT_EQ(NewestFirst("org", "svc"),
            (std::vector<std::string>{"new-a", "new-b", "mid", "old"}));
  EXPECT_EQ(NewestFirst("org", "svc", TokenTimeSuffix(Micros(3000), "new-b")),
            (std::vector<std::string>{"mid", "old"}));
}

// A listing entry whose token row is gone (a purge between the snapshot and
// the read) is skipped, not reported.
TEST_F(TablesTest, NewestFirstSkipsAListingEntryWithoutItsToken) {
  PutToken(MakeToken("org", "svc", "real", 2000, 1));
  Batch batch;
  batch.Put(Family::kTokenTimes,
            TokenTimeKey("org", "svc", Micros(1000), "ghost"), "");
  RawWrite(batch);
  EXPECT_EQ(NewestFirst("org", "svc"), std::vector<std::string>{"real"});
}

TEST_F(TablesTest, ScanStopsWhenTheVisitorSaysSoOrFails) {
  for (int i = 0; i < 5; ++i) {
    PutToken(MakeToken("org", "svc", "t" + std::to_string(i), 1000 + i,
                       static_cast<uint8_t>(i * 40)));
  }
  int visited = 0;
  absl::Status s = tables_->ScanTokens(TokenRange::All(),
                                       [&](const StoredToken&) {
                                         ++visited;
                                         return visited == 2
                                                    ? ScanControl::kStop
                                                    : ScanControl::kContinue;
                                       });
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(visited, 2);

  visited = 0;
  s = tables_->ScanTokens(
      TokenRange::All(),
      [&](const StoredToken&) -> absl::StatusOr<ScanControl> {
        if (++visited == 3) return absl::AbortedError("visitor gave up");
        return ScanControl::kContinue;
      });
  EXPECT_EQ(s, absl::AbortedError("visitor gave up"));
  EXPECT_EQ(visited, 3);
}

TEST_F(TablesTest, AccountsScanInSlugOrderWithinOneOrganization) {
  Batch batch;
  for (const char* slug : {"c-svc", "a-svc", "b-svc"}) {
    tables_->PutAccount(batch, MakeAccount("org", slug));
  }
  tables_->PutAccount(batch, MakeAccount("org2", "a-svc"));
  Apply(batch);
  std::vector<std::string> slugs;
  ASSERT_TRUE(tables_
                  ->ScanAccounts("org", "a-svc",
                                 [&](const ServiceAccount& a) {
                                   EXPECT_EQ(a.organization, "org");
                                   slugs.push_back(a.slug);
                                   return ScanControl::kContinue;
                                 })
                  .ok());
  EXPECT_EQ(slugs, (std::vector<std::string>{"b-svc", "c-svc"}));
  int every = 0;
  ASSERT_TRUE(tables_
                  ->ScanEveryAccount([&](const ServiceAccount&) {
                    ++every;
                    return ScanControl::kContinue;
                  })
                  .ok());
  EXPECT_EQ(every, 4);

  Batch deletion;
  tables_->DeleteAccount(deletion, "org", "b-svc");
  Apply(deletion);
  absl::StatusOr<std::optional<ServiceAccount>> gone =
      tables_->ReadAccount("org", "b-svc");
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->has_value());
  absl::StatusOr<std::optional<ServiceAccount>> kept =
      tables_->ReadAccount("org2", "a-svc");
  ASSERT_TRUE(kept.ok() && kept->has_value());
  EXPECT_EQ((*kept)->name, "Account a-svc");
}

TEST_F(TablesTest, ActiveNameAndCountIgnoreRevokedAndExpired) {
  const absl::Time now = Micros(5000);
  StoredToken active = MakeToken("org", "svc", "active", 1000, 1);
  StoredToken revoked = MakeToken("org", "svc", "revoked", 1001, 50);
  revoked.metadata.revoked_at = Micros(2000);
  revoked.metadata.revoked_by = "user:bob";
  StoredToken expired = MakeToken("org", "svc", "expired", 1002, 100);
  expired.metadata.expires_at = now;
  StoredToken other = MakeToken("org", "svc2", "other", 1003, 150);
  StoredToken foreign = MakeToken("org2", "svc", "foreign", 1004, 200);
  for (const StoredToken* t : {&active, &revoked, &expired, &other, &foreign}) {
    PutToken(*t);
  }
  EXPECT_TRUE(*tables_->FindActiveTokenName("org", "svc", "token active", now));
  EXPECT_FALSE(
      *tables_->FindActiveTokenName("org", "svc", "token revoked", now));
  EXPECT_FALSE(
      *tables_->FindActiveTokenName("org", "svc", "token expired", now));
  EXPECT_FALSE(*tables_->FindActiveTokenName("org", "svc", "token other", now));
  EXPECT_EQ(*tables_->CountActiveTokens("org", now), 2u);  // active, other
  EXPECT_EQ(*tables_->CountActiveTokens("org2", now), 1u);
  EXPECT_EQ(*tables_->CountActiveTokens("org3", now), 0u);
}

TEST_F(TablesTest, MetaRecordsAndEmptiness) {
  absl::StatusOr<bool> empty = tables_->IsEmpty();
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(*empty);
  absl::StatusOr<std::optional<std::string>> version =
      tables_->ReadSchemaVersion();
  ASSERT_TRUE(version.ok());
  EXPECT_FALSE(version->has_value());

  Digest fingerprint{};
  fingerprint.fill(0xab);
  Batch batch;
  tables_->PutSchemaVersion(batch);
  tables_->PutPepperFingerprint(batch, 7, fingerprint);
  Apply(batch);
  EXPECT_FALSE(*tables_->IsEmpty());
  EXPECT_EQ(**tables_->ReadSchemaVersion(), "1");
  EXPECT_EQ(**tables_->ReadPepperFingerprint(7), DigestBytes(fingerprint));
  EXPECT_FALSE(tables_->ReadPepperFingerprint(8)->has_value());
}

// Records the tables did not write are DataLoss wherever they are read.
TEST_F(TablesTest, CorruptRecordsAreDataLoss) {
  Digest digest{};
  digest.fill(7);
  Batch batch;
  batch.Put(Family::kTokens, TokenKey("org", "svc", "bad"), "\x01garbage");
  batch.Put(Family::kTokens, std::string("\x05org", 4), "x");  // key cut short
  batch.Put(Family::kAccounts, AccountKey("org", "bad"), "\x02newer");
  batch.Put(Family::kDigests, DigestBytes(digest), "\x01");
  batch.Put(Family::kTokenTimes, TokenPrefix("org", "svc") + "short", "");
  RawWrite(batch);

  EXPECT_EQ(tables_->ReadToken("org", "svc", "bad").status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(tables_->ReadAccount("org", "bad").status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(tables_->ContainsDigest(digest).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(tables_
                ->ScanTokens(TokenRange::All(),
                             [](const StoredToken&) {
                               return ScanControl::kContinue;
                             })
                .code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(tables_
                ->ScanEveryAccount([](const ServiceAccount&) {
                  return ScanControl::kContinue;
                })
                .code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(tables_
                ->ScanTokensNewestFirst(
                    "org", "svc", "",
                    [](const StoredToken&, std::string_view) {
                      return ScanControl::kContinue;
                    })
                .code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(tables_->CountActiveTokens("org", Micros(0)).status().code(),
            absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace keygate::storage

// tests/store_active_token_index_test.cc: the maintained name and quota
// indexes (lib/store/active_token_index.h) agree with a scan of the tokens,
// alone and inside the store after random operations (against the scans of
// storage::Tables, FindActiveTokenName and CountActiveTokens), and
// PurgeRetired deletes in chunks.
#include "lib/store/active_token_index.h"

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "lib/crypto/sodium.h"
#include "lib/postgres/postgres_database.h"
#include "lib/storage/tables.h"
#include "tests/store_test_util.h"

namespace keygate {
namespace {

using test::ManualClock;

// ---- the index alone, against a scan of a vector ----------------------------

const std::vector<std::string> kOrgs = {"org-a", "org-b"};
const std::vector<std::string> kAccounts = {"acct-1", "acct-2", "acct-3"};
const std::vector<std::string> kNames = {"alpha", "beta", "gamma", ""};

bool ScanNameTaken(const std::vector<TokenMetadata>& tokens,
                   const std::string& org, const std::string& account,
                   const std::string& name, absl::Time now) {
  for (const TokenMetadata& t : tokens) {
    if (t.organization == org && t.service_account == account &&
        t.name == name && t.active(now)) {
      return true;
    }
  }
  return false;
}

uint64_t ScanCountActive(const std::vector<TokenMetadata>& tokens,
                         const std::string& org, absl::Time now) {
  uint64_t count = 0;
  for (const TokenMetadata& t : tokens) {
    if (t.organization == org && t.active(now)) ++count;
  }
  return count;
}

TEST(ActiveTokenIndexTest, AgreesWithAScanAfterRandomOperations) {
  ASSERT_TRUE(crypto::InitSodium().ok());
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE(seed);
    std::mt19937_64 rng(seed);
    auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
    store::ActiveTokenIndex index;
    std::vector<TokenMetadata> tokens;  // every stored token, revoked too
    absl::Time now = ManualClock::DefaultStart();
    for (int step = 0; step < 600; ++step) {
      const size_t op = pick(100);
      if (op < 45) {  // create (or load) a token
        TokenMetadata t;
        t.organization = kOrgs[pick(kOrgs.size())];
        t.service_account = kAccounts[pick(kAccounts.size())];
        t.name = kNames[pick(kNames.size())];
        if (pick(3) != 0) {
          // Past, now and future expiries: loading may meet any of them.
          t.expires_at = now + absl::Minutes(static_cast<int>(pick(121)) - 40);
        }
        if (pick(10) == 0) t.revoked_at = now;  // loaded already revoked
        index.Add(t);
        tokens.push_back(t);
      } else if (op < 65 && !tokens.empty()) {  // revoke
        TokenMetadata& t = tokens[pick(tokens.size())];
        index.Remove(t);  // ignored if already revoked
        if (!t.revoked_at) t.revoked_at = now;
      } else if (op < 78 && !tokens.empty()) {  // purge or delete one token
        const size_t i = pick(tokens.size());
        index.Remove(tokens[i]);
        tokens.erase(tokens.begin() + i);
      } else if (op < 81) {  // delete an account with its tokens
        const std::string org = kOrgs[pick(kOrgs.size())];
        const std::string account = kAccounts[pick(kAccounts.size())];
        index.ForgetAccount(org, account);
        std::erase_if(tokens, [&](const TokenMetadata& t) {
          return t.organization == org && t.service_account == account;
        });
      } else if (op < 95) {  // the clock moves on
        now += absl::Minutes(static_cast<int>(pick(30)));
      } else {  // the clock is set back
        now -= absl::Minutes(static_cast<int>(pick(90)));
      }
      uint64_t held = 0;
      for (const TokenMetadata& t : tokens) held += t.revoked() ? 0 : 1;
      ASSERT_EQ(index.token_count(), held) << "step " << step;
      for (const std::string& org : kOrgs) {
        ASSERT_EQ(index.CountActive(org, now),
                  ScanCountActive(tokens, org, now))
            << "step " << step << " " << org;
        for (const std::string& account : kAccounts) {
          for (const std::string& name : kNames) {
            ASSERT_EQ(index.NameTaken(org, account, name, now),
                      ScanNameTaken(tokens, org, account, name, now))
                << "step " << step << " " << org << "/" << account << " '"
                << name << "'";
          }
        }
      }
      // Sub-microsecond instants between two stored expiries.
      const absl::Time between = now + absl::Nanoseconds(500);
      ASSERT_EQ(index.CountActive(kOrgs[0], between),
                ScanCountActive(tokens, kOrgs[0], between));
    }
  }
}

TEST(ActiveTokenIndexTest, AnExpiredTokenFreesItsNameAndQuotaSlot) {
  ASSERT_TRUE(crypto::InitSodium().ok());
  store::ActiveTokenIndex index;
  const absl::Time t0 = ManualClock::DefaultStart();
  TokenMetadata t;
  t.organization = "org";
  t.service_account = "acct";
  t.name = "deploy";
  t.expires_at = t0 + absl::Seconds(10);
  index.Add(t);
  EXPECT_TRUE(index.NameTaken("org", "acct", "deploy", t0));
  EXPECT_EQ(index.CountActive("org", t0), 1u);
  // At the expiry instant the token is no longer active.
  EXPECT_FALSE(index.NameTaken("org", "acct", "deploy", *t.expires_at));
  EXPECT_EQ(index.CountActive("org", *t.expires_at), 0u);
  // The same name again, now held twice (the first one expired).
  TokenMetadata again = t;
  again.expires_at = t0 + absl::Seconds(100);
  index.Add(again);
  EXPECT_TRUE(index.NameTaken("org", "acct", "deploy", t0 + absl::Seconds(50)));
  index.Remove(again);
  EXPECT_FALSE(
      index.NameTaken("org", "acct", "deploy", t0 + absl::Seconds(50)));
  // The clock set back: the first token is active again.
  EXPECT_TRUE(index.NameTaken("org", "acct", "deploy", t0));
  EXPECT_EQ(index.CountActive("org", t0), 1u);
  // Other accounts and organizations are not affected.
  EXPECT_FALSE(index.NameTaken("org", "other", "deploy", t0));
  EXPECT_EQ(index.CountActive("other-org", t0), 0u);
}

// ---- the store, against storage::Tables' scans ------------------------------

class StoreActiveTokenIndexTest : public test::StoreTest {
 protected:
  static constexpr uint32_t kQuota = 7;

  Options IndexOptions() const {
    Options options = DefaultOptions();
    options.max_active_tokens_per_organization = kQuota;
    options.retention = absl::Hours(1);
    return options;
  }

  // ExpectTablesAgree closes the store, opens its tables and checks the old
  // scans against the model, then opens the store again.
  void ExpectTablesAgree(const std::vector<TokenMetadata>& model,
                         absl::Time now) {
    ASSERT_TRUE(store_->Close().ok());
    store_.reset();
    {
      absl::StatusOr<std::unique_ptr<storage::Tables>> tables;
      if (on_postgres()) {
        auto db = postgres::PostgresDatabase::Open(postgres_connection_);
        ASSERT_TRUE(db.ok()) << db.status();
        tables = storage::Tables::OnDatabase(*std::move(db));
      } else {
        tables = storage::Tables::Open(StorePath(), false);
      }
      ASSERT_TRUE(tables.ok()) << tables.status();
      for (const std::string& org : kOrgs) {
        auto count = (*tables)->CountActiveTokens(org, now);
        ASSERT_TRUE(count.ok());
        EXPECT_EQ(*count, ScanCountActive(model, org, now)) << org;
        for (const std::string& account : kAccounts) {
          for (const std::string& name : kNames) {
            if (name.empty()) continue;
            auto taken =
                (*tables)->FindActiveTokenName(org, account, name, now);
            ASSERT_TRUE(taken.ok());
            EXPECT_EQ(*taken, ScanNameTaken(model, org, account, name, now))
                << org << "/" << account << " " << name;
          }
        }
      }
      ASSERT_TRUE((*tables)->Close().ok());
    }
    ASSERT_TRUE(Reopen(IndexOptions()).ok());
  }
};

TEST_F(StoreActiveTokenIndexTest, CreateAgreesWithTheScansAfterRandomOps) {
  ASSERT_TRUE(Reopen(IndexOptions()).ok());
  std::mt19937_64 rng(7);
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  for (const std::string& org : kOrgs) {
    for (const std::string& account : kAccounts) {
      ASSERT_TRUE(CreateAccount(account, org).ok());
    }
  }
  std::vector<TokenMetadata> model;
  std::vector<std::pair<std::string, std::string>> disabled;
  auto is_disabled = [&](const std::string& org, const std::string& account) {
    return std::find(disabled.begin(), disabled.end(),
                     std::make_pair(org, account)) != disabled.end();
  };
  int creates_ok = 0, conflicts = 0, quota_refusals = 0;
  for (int step = 0; step < 700; ++step) {
    SCOPED_TRACE(step);
    const absl::Time now = clock_.Now();
    const size_t op = pick(100);
    const std::string org = kOrgs[pick(kOrgs.size())];
    const std::string account = kAccounts[pick(kAccounts.size())];
    if (op < 50) {
      const std::string name = kNames[pick(kNames.size() - 1)];
      std::optional<absl::Time> expires_at;
      if (pick(2) == 0) expires_at = now + absl::Minutes(1 + pick(90));
      auto created =
          CreateToken(account, name, {"read:tokens"}, std::nullopt,
                      expires_at, org);
      if (is_disabled(org, account)) {
        EXPECT_EQ(created.status().code(),
                  absl::StatusCode::kFailedPrecondition);
      } else if (ScanNameTaken(model, org, account, name, now)) {
        EXPECT_EQ(created.status().code(), absl::StatusCode::kAlreadyExists)
            << created.status();
        ++conflicts;
      } else if (ScanCountActive(model, org, now) >= kQuota) {
        EXPECT_EQ(created.status().code(),
                  absl::StatusCode::kResourceExhausted)
            << created.status();
        ++quota_refusals;
      } else {
        ASSERT_TRUE(created.ok()) << created.status();
        model.push_back(created->metadata);
        ++creates_ok;
      }
    } else if (op < 65) {
      std::vector<size_t> mine;
      for (size_t i = 0; i < model.size(); ++i) {
        if (model[i].organization == org &&
            model[i].service_account == account && !model[i].revoked()) {
          mine.push_back(i);
        }
      }
      if (mine.empty()) continue;
      TokenMetadata& t = model[mine[pick(mine.size())]];
      ASSERT_TRUE(
          store_->RevokeToken(org, account, t.slug, kActor).ok());
      t.revoked_at = now;
    } else if (op < 69) {
      ASSERT_TRUE(store_->DeleteServiceAccount(org, account, kActor).ok());
      std::erase_if(model, [&](const TokenMetadata& t) {
        return t.organization == org && t.service_account == account;
      });
      std::erase(disabled, std::make_pair(org, account));
      ASSERT_TRUE(CreateAccount(account, org).ok());
    } else if (op < 73) {
      const bool disable = !is_disabled(org, account);
      ASSERT_TRUE(
          store_->SetServiceAccountDisabled(org, account, disable, kActor)
              .ok());
      if (disable) {
        disabled.emplace_back(org, account);
      } else {
        std::erase(disabled, std::make_pair(org, account));
      }
    } else if (op < 78) {
      auto purged = store_->PurgeRetired();
      ASSERT_TRUE(purged.ok()) << purged.status();
      const absl::Time cutoff = now - absl::Hours(1);
      const size_t before = model.size();
      std::erase_if(model, [&](const TokenMetadata& m) {
        return (m.revoked_at && *m.revoked_at <= cutoff) ||
               (!m.revoked_at && m.expires_at && *m.expires_at <= cutoff);
      });
      EXPECT_EQ(purged->tokens_purged, before - model.size());
    } else if (op < 95) {
      clock_.Advance(absl::Seconds(static_cast<int64_t>(pick(1800))));
    } else if (op < 98) {
      clock_.Advance(-absl::Seconds(static_cast<int64_t>(pick(3600))));
    } else {
      ExpectTablesAgree(model, clock_.Now());
    }
  }
  ExpectTablesAgree(model, clock_.Now());
  // The walk reached every outcome.
  EXPECT_GT(creates_ok, 50);
  EXPECT_GT(conflicts, 5);
  EXPECT_GT(quota_refusals, 2);
}

// ---- chunked purge ----------------------------------------------------------

TEST_F(StoreActiveTokenIndexTest, PurgeDeletesMoreThanOneChunk) {
  Options options = IndexOptions();
  options.max_active_tokens_per_organization = 0;
  ASSERT_TRUE(Reopen(options).ok());
  ASSERT_TRUE(CreateAccount("bulk").ok());
  ASSERT_TRUE(CreateAccount("other").ok());
  const absl::Time start = clock_.Now();
  // 2500 retired tokens (more than two chunks), named alike in pairs.
  constexpr int kRetired = 2500;
  for (int i = 0; i < kRetired; ++i) {
    auto created = CreateToken("bulk", "retired-" + std::to_string(i / 2),
                               {"read:tokens"}, std::nullopt,
                               i % 2 == 0 ? std::optional<absl::Time>(
                                                start + absl::Minutes(1))
                                          : std::nullopt);
    if (i % 2 == 1) {
      // The odd ones are revoked (the even ones expire first, so the name
      // is free again).
      ASSERT_TRUE(created.status().code() == absl::StatusCode::kAlreadyExists);
      clock_.Set(start + absl::Minutes(2));
      created = CreateToken("bulk", "retired-" + std::to_string(i / 2));
      clock_.Set(start);
      ASSERT_TRUE(created.ok()) << created.status();
      ASSERT_TRUE(store_
                      ->RevokeToken(kOrg, "bulk", created->metadata.slug,
                                    kActor)
                      .ok());
    } else {
      ASSERT_TRUE(created.ok()) << created.status();
    }
  }
  ASSERT_TRUE(CreateToken("bulk", "keeper").ok());
  ASSERT_TRUE(CreateToken("other", "keeper").ok());
  clock_.Set(start + absl::Hours(2));
  auto purged = store_->PurgeRetired();
  ASSERT_TRUE(purged.ok()) << purged.status();
  EXPECT_EQ(purged->tokens_purged, static_cast<uint64_t>(kRetired));
  PageRequest page;
  page.limit = 100;
  auto listed = store_->ListTokens(kOrg, "bulk", page);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->items.size(), 1u);
  EXPECT_EQ(listed->items[0].name, "keeper");
  // The index forgot them too: with the clock set back to when the even
  // tokens were active, an index that still held them would refuse their
  // names.
  clock_.Set(start);
  ASSERT_TRUE(CreateToken("bulk", "retired-0").ok());
  ASSERT_TRUE(CreateToken("bulk", "retired-1").ok());
  // And the count loaded at open agrees: 4 active, quota 5.
  options.max_active_tokens_per_organization = 5;
  ASSERT_TRUE(Reopen(options).ok());
  ASSERT_TRUE(CreateToken("bulk", "retired-2").ok());
  EXPECT_EQ(CreateToken("bulk", "retired-3").status().code(),
            absl::StatusCode::kResourceExhausted);
  clock_.Set(start + absl::Hours(2));
  auto again = store_->PurgeRetired();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->tokens_purged, 0u);
}

}  // namespace
}  // namespace keygate

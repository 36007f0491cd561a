// tests/store_follower_test.cc: a store opened as a read-only follower of a
// primary (Options::role kFollower): the change log, catch-up on demand and
// on a schedule, the rebuild when the log was trimmed past the follower,
// refused writes, and a follower in another process (fork + exec).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "keygate/keygate.h"
#include "lib/storage/change_record.h"
#include "lib/store/store_impl.h"
#include "store_test_util.h"

namespace keygate {
namespace {

using test::ScopedTempDir;

constexpr char kChildStoreEnv[] = "KEYGATE_FOLLOWER_CHILD_STORE";
constexpr char kChildTokenEnv[] = "KEYGATE_FOLLOWER_CHILD_TOKEN_FILE";
constexpr char kChildHandshakeEnv[] = "KEYGATE_FOLLOWER_CHILD_HANDSHAKE";

// Child exit codes.
constexpr int kChildVerified = 0;
constexpr int kChildRefused = 1;
constexpr int kChildOpenFailed = 2;
constexpr int kChildBadSetup = 3;

template <typename T>
absl::StatusCode CodeOf(const absl::StatusOr<T>& result) {
  return result.status().code();
}

class FollowerTest : public test::StoreTest {
 protected:
  void SetUp() override {
    SKIP_IF_POSTGRES(
        "followers are RocksDB secondary instances (on PostgreSQL every "
        "process is a primary: tests/postgres_fleet_test.cc)");
    test::StoreTest::SetUp();
  }

  // FollowerOptions: the fixture's store, as a follower that catches up
  // only on CatchUp unless `interval` is positive.
  Options FollowerOptions(absl::Duration interval = absl::ZeroDuration()) {
    Options options = DefaultOptions();
    options.role = StoreRole::kFollower;
    options.follower_catch_up_interval = interval;
    return options;
  }

  absl::StatusOr<std::unique_ptr<Store>> OpenFollower(
      absl::Duration interval = absl::ZeroDuration()) {
    return Store::Open(FollowerOptions(interval));
  }

  static uint64_t Rebuilds(Store& store) {
    return static_cast<store::StoreImpl&>(store).rebuilds();
  }
};

TEST_F(FollowerTest, CreateOnPrimaryVerifiesOnFollowerAfterCatchUp) {
  KG_ASSERT_OK(CreateAccount("alpha"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken before, CreateToken("alpha", "before"));
  KG_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> follower, OpenFollower());
  // Loaded at open like a primary.
  KG_EXPECT_OK(follower->Verify(before.value.view(), "read:tokens"));

  KG_ASSERT_OK_AND_ASSIGN(CreatedToken after, CreateToken("alpha", "after"));
  KG_ASSERT_OK(store_->Verify(after.value.view()));
  // Not applied yet: no schedule, no CatchUp.
  EXPECT_EQ(CodeOf(follower->Verify(after.value.view())),
            absl::StatusCode::kUnauthenticated);
  KG_ASSERT_OK(follower->CatchUp());
  KG_ASSERT_OK_AND_ASSIGN(Principal principal,
                          follower->Verify(after.value.view(), "read:tokens"));
  EXPECT_EQ(principal.service_account(), "alpha");
  EXPECT_EQ(principal.token_slug(), after.metadata.slug);
  EXPECT_EQ(CodeOf(follower->Verify(after.value.view(), "write:tokens")),
            absl::StatusCode::kPermissionDenied);

  // Reads work on the follower and see what the primary committed.
  KG_ASSERT_OK_AND_ASSIGN(ServiceAccount account,
                          follower->GetServiceAccount(kOrg, "alpha"));
  EXPECT_EQ(account.name, "Account alpha");
  KG_ASSERT_OK_AND_ASSIGN(Page<TokenMetadata> tokens,
                          follower->ListTokens(kOrg, "alpha", PageRequest{}));
  EXPECT_EQ(tokens.items.size(), 2u);
  KG_ASSERT_OK_AND_ASSIGN(
      Page<ServiceAccount> accounts,
      follower->ListServiceAccounts(kOrg, PageRequest{}));
  EXPECT_EQ(accounts.items.size(), 1u);
  KG_EXPECT_OK(follower->Close());
}

TEST_F(FollowerTest, RevokeOnPrimaryIsRefusedAfterCatchUp) {
  KG_ASSERT_OK(CreateAccount("alpha"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken token, CreateToken("alpha", "t"));
  KG_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> follower, OpenFollower());
  KG_ASSERT_OK(follower->Verify(token.value.view()));
  KG_ASSERT_OK(store_->RevokeToken(kOrg, "alpha", token.metadata.slug, kActor));
  KG_ASSERT_OK(follower->CatchUp());
  absl::StatusOr<Principal> result = follower->Verify(token.value.view());
  EXPECT_EQ(CodeOf(result), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(VerifyFailureOf(result.status()), VerifyFailure::kRevoked);
}

// A rotation is one change record naming the old token; the follower
// applies both halves: the successor verifies, the old token verifies for
// its grace and is then refused as revoked, exactly like on the primary.
TEST_F(FollowerTest, RotationReachesTheFollowerWithItsGrace) {
  KG_ASSERT_OK(CreateAccount("alpha"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken old, CreateToken("alpha", "t"));
  KG_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> follower, OpenFollower());
  KG_ASSERT_OK_AND_ASSIGN(
      CreatedToken next,
      store_->RotateToken(kOrg, "alpha", old.metadata.slug, absl::Minutes(10),
                          kActor));
  EXPECT_EQ(CodeOf(follower->Verify(next.value.view())),
            absl::StatusCode::kUnauthenticated);
  KG_ASSERT_OK(follower->CatchUp());
  KG_EXPECT_OK(follower->Verify(next.value.view()));
  KG_EXPECT_OK(follower->Verify(old.value.view()));
  clock_.Advance(absl::Minutes(10));
  absl::StatusOr<Principal> after_grace = follower->Verify(old.value.view());
  EXPECT_EQ(VerifyFailureOf(after_grace.status()), VerifyFailure::kRevoked);
  EXPECT_EQ(VerifyFailureOf(store_->Verify(old.value.view()).status()),
            VerifyFailure::kRevoked);
  KG_EXPECT_OK(follower->Verify(next.value.view()));
  KG_ASSERT_OK_AND_ASSIGN(Page<TokenMetadata> tokens,
                          follower->ListTokens(kOrg, "alpha", PageRequest{}));
  ASSERT_EQ(tokens.items.size(), 2u);
}

TEST_F(FollowerTest, AccountDisableEnableAndDeleteReachTheFollower) {
  KG_ASSERT_OK(CreateAccount("alpha"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken token, CreateToken("alpha", "t"));
  KG_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> follower, OpenFollower());

  KG_ASSERT_OK(store_->SetServiceAccountDisabled(kOrg, "alpha", true, kActor));
  KG_ASSERT_OK(follower->CatchUp());
  absl::StatusOr<Principal> disabled = follower->Verify(token.value.view());
  EXPECT_EQ(VerifyFailureOf(disabled.status()),
            VerifyFailure::kAccountDisabled);

  KG_ASSERT_OK(store_->SetServiceAccountDisabled(kOrg, "alpha", false, kActor));
  KG_ASSERT_OK(store_->RenameServiceAccount(kOrg, "alpha", "Renamed", kActor));
  KG_ASSERT_OK(follower->CatchUp());
  KG_EXPECT_OK(follower->Verify(token.value.view()));
  KG_ASSERT_OK_AND_ASSIGN(ServiceAccount account,
                          follower->GetServiceAccount(kOrg, "alpha"));
  EXPECT_EQ(account.name, "Renamed");

  // Deleted, then re-created with the same slug and a token of the same
  // slug: the old token stays refused, the new one verifies.
  KG_ASSERT_OK(store_->DeleteServiceAccount(kOrg, "alpha", kActor));
  KG_ASSERT_OK(CreateAccount("alpha"));
  KG_ASSERT_OK_AND_ASSIGN(
      CreatedToken again,
      CreateToken("alpha", "t", {"read:tokens"}, token.metadata.slug));
  KG_ASSERT_OK(follower->CatchUp());
  EXPECT_EQ(CodeOf(follower->Verify(token.value.view())),
            absl::StatusCode::kUnauthenticated);
  KG_EXPECT_OK(follower->Verify(again.value.view()));

  KG_ASSERT_OK(store_->DeleteServiceAccount(kOrg, "alpha", kActor));
  KG_ASSERT_OK(follower->CatchUp());
  EXPECT_EQ(CodeOf(follower->Verify(again.value.view())),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(CodeOf(follower->GetServiceAccount(kOrg, "alpha")),
            absl::StatusCode::kNotFound);
}

TEST_F(FollowerTest, PurgeRemovesTokensFromTheFollowersIndex) {
  KG_ASSERT_OK(CreateAccount("alpha"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken kept, CreateToken("alpha", "kept"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken old, CreateToken("alpha", "old"));
  KG_ASSERT_OK(store_->RevokeToken(kOrg, "alpha", old.metadata.slug, kActor));
  KG_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> follower, OpenFollower());
  clock_.Advance(absl::Hours(24 * 31));
  KG_ASSERT_OK_AND_ASSIGN(PurgeResult purged, store_->PurgeRetired());
  EXPECT_EQ(purged.tokens_purged, 1u);
  KG_ASSERT_OK(follower->CatchUp());
  absl::StatusOr<Principal> result = follower->Verify(old.value.view());
  // Gone from the index (unknown), not merely revoked.
  EXPECT_EQ(VerifyFailureOf(result.status()), VerifyFailure::kUnknown);
  KG_EXPECT_OK(follower->Verify(kept.value.view()));
  KG_ASSERT_OK_AND_ASSIGN(Page<TokenMetadata> tokens,
                          follower->ListTokens(kOrg, "alpha", PageRequest{}));
  EXPECT_EQ(tokens.items.size(), 1u);
}

TEST_F(FollowerTest, EveryWriteOnAFollowerIsFailedPrecondition) {
  KG_ASSERT_OK(CreateAccount("alpha"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken token, CreateToken("alpha", "t"));
  WebhookEndpointSpec webhook_spec;
  webhook_spec.url = "https://hooks.example.com/keygate";
  webhook_spec.event_names = {"token.revoked"};
  KG_ASSERT_OK_AND_ASSIGN(EndpointWithSecret webhook,
                          store_->CreateWebhookEndpoint(kOrg, webhook_spec,
                                                        kActor));
  KG_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> follower, OpenFollower());
  WebhookEndpointPatch webhook_patch;
  webhook_patch.description = "changed";
  ServiceAccountSpec spec;
  spec.name = "Beta";
  TokenSpec token_spec;
  token_spec.name = "n";
  token_spec.scopes = {"read:tokens"};
  ServiceAccountPatch patch;
  patch.name = "New";
  std::vector<absl::Status> statuses = {
      follower->CreateServiceAccount(kOrg, spec, kActor).status(),
      follower->UpdateServiceAccount(kOrg, "alpha", patch, kActor).status(),
      follower->RenameServiceAccount(kOrg, "alpha", "X", kActor).status(),
      follower->SetServiceAccountDisabled(kOrg, "alpha", true, kActor)
          .status(),
      follower->DeleteServiceAccount(kOrg, "alpha", kActor),
      follower->CreateToken(kOrg, "alpha", token_spec, kActor).status(),
      follower->RevokeToken(kOrg, "alpha", token.metadata.slug, kActor),
      follower->PurgeRetired().status(),
      follower->RotateToken(kOrg, "alpha", token.metadata.slug,
                            absl::Hours(1), kActor)
          .status(),
      follower->CreateWebhookEndpoint(kOrg, webhook_spec, kActor).status(),
      follower
          ->UpdateWebhookEndpoint(kOrg, webhook.endpoint.id, webhook_patch,
                                  kActor)
          .status(),
      follower->RotateWebhookSecret(kOrg, webhook.endpoint.id, kActor)
          .status(),
      follower->DeleteWebhookEndpoint(kOrg, webhook.endpoint.id, kActor),
  };
  for (size_t i = 0; i < statuses.size(); ++i) {
    EXPECT_EQ(statuses[i].code(), absl::StatusCode::kFailedPrecondition) << i;
    EXPECT_EQ(statuses[i].message(), "store opened as a follower: read-only")
        << i;
  }
  // Nothing changed: the primary still has one account and a live token.
  KG_EXPECT_OK(store_->Verify(token.value.view()));
  KG_ASSERT_OK_AND_ASSIGN(auto accounts, AllAccounts());
  EXPECT_EQ(accounts.size(), 1u);
  EXPECT_EQ(accounts[0].name, "Account alpha");
  KG_ASSERT_OK_AND_ASSIGN(WebhookEndpoint stored_webhook,
                          store_->GetWebhookEndpoint(kOrg, webhook.endpoint.id));
  EXPECT_EQ(stored_webhook.description, "");
  // CatchUp on the primary is a no-op.
  KG_EXPECT_OK(store_->CatchUp());
  KG_EXPECT_OK(follower->Close());
  EXPECT_EQ(follower->CatchUp().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(FollowerTest, FollowerOfNothingFailsClearly) {
  Options options = FollowerOptions();
  options.path = dir_.Sub("absent");
  absl::StatusOr<std::unique_ptr<Store>> follower = Store::Open(options);
  EXPECT_EQ(follower.status().code(), absl::StatusCode::kNotFound)
      << follower.status();
  EXPECT_FALSE(std::filesystem::exists(options.path));
}

TEST_F(FollowerTest, NamedFollowerDirectoryIsPrivateAndKept) {
  Options options = FollowerOptions();
  options.follower_directory = dir_.Sub("mine");
  KG_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> follower,
                          Store::Open(options));
  EXPECT_EQ(std::filesystem::status(options.follower_directory).permissions() &
                std::filesystem::perms::all,
            std::filesystem::perms::owner_all);
  KG_ASSERT_OK(follower->Close());
  // Named by the options: kept.
  EXPECT_TRUE(std::filesystem::exists(options.follower_directory));
}

// The primary appends one change record per write batch, in the same batch,
// and trims old ones to the configured bounds.
TEST_F(FollowerTest, PrimaryKeepsTheNewestChangeRecordsOnly) {
  Options options = DefaultOptions();
  options.change_log_min_records = 5;
  options.change_log_retention = absl::ZeroDuration();
  KG_ASSERT_OK(Reopen(options));
  KG_ASSERT_OK(CreateAccount("alpha"));
  for (int i = 0; i < 20; ++i) {
    clock_.Advance(absl::Seconds(1));
    KG_ASSERT_OK(CreateToken("alpha", "t" + std::to_string(i)));
  }
  KG_ASSERT_OK(store_->Close());
  store_.reset();
  // Read the log with a follower's tables.
  KG_ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<storage::Tables> tables,
      storage::Tables::OpenFollower(StorePath(), dir_.Sub("reader")));
  std::vector<uint64_t> positions;
  std::vector<storage::ChangeRecord> changes;
  KG_ASSERT_OK(tables->ScanChanges(
      0, [&](uint64_t position, const storage::ChangeRecord& change) {
        positions.push_back(position);
        changes.push_back(change);
        return storage::ScanControl::kContinue;
      }));
  ASSERT_EQ(positions.size(), 5u);
  EXPECT_EQ(positions.front(), 17u);
  EXPECT_EQ(positions.back(), 21u);
  EXPECT_EQ(changes.back().kind, storage::ChangeKind::kTokenCreated);
  EXPECT_EQ(changes.back().organization, kOrg);
  EXPECT_EQ(changes.back().service_account, "alpha");
  EXPECT_EQ(changes.back().token_slug, "t19");
  KG_ASSERT_OK(tables->Close());
}

TEST_F(FollowerTest, FollowerBehindTheTrimmedLogRebuilds) {
  Options options = DefaultOptions();
  options.change_log_min_records = 2;
  options.change_log_retention = absl::ZeroDuration();
  KG_ASSERT_OK(Reopen(options));
  KG_ASSERT_OK(CreateAccount("alpha"));
  KG_ASSERT_OK(CreateAccount("beta"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken revoked, CreateToken("alpha", "r"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken purged, CreateToken("alpha", "p"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken deleted, CreateToken("beta", "d"));
  KG_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> follower, OpenFollower());
  for (const CreatedToken* t : {&revoked, &purged, &deleted}) {
    KG_ASSERT_OK(follower->Verify(t->value.view()));
  }

  clock_.Advance(absl::Seconds(1));
  KG_ASSERT_OK(store_->RevokeToken(kOrg, "alpha", revoked.metadata.slug, kActor));
  KG_ASSERT_OK(store_->RevokeToken(kOrg, "alpha", purged.metadata.slug, kActor));
  clock_.Advance(absl::Hours(24 * 31));
  KG_ASSERT_OK(store_->PurgeRetired());
  KG_ASSERT_OK(store_->DeleteServiceAccount(kOrg, "beta", kActor));
  KG_ASSERT_OK(CreateAccount("beta"));  // re-created: a new identity
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken created, CreateToken("beta", "new"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken fresh, CreateToken("alpha", "fresh"));
  KG_ASSERT_OK(store_->SetServiceAccountDisabled(kOrg, "alpha", true, kActor));
  KG_ASSERT_OK(store_->SetServiceAccountDisabled(kOrg, "alpha", false, kActor));

  EXPECT_EQ(Rebuilds(*follower), 0u);
  KG_ASSERT_OK(follower->CatchUp());
  EXPECT_EQ(Rebuilds(*follower), 1u);
  for (const CreatedToken* t : {&revoked, &purged, &deleted}) {
    EXPECT_EQ(CodeOf(follower->Verify(t->value.view())),
              absl::StatusCode::kUnauthenticated)
        << t->metadata.slug;
  }
  KG_EXPECT_OK(follower->Verify(created.value.view()));
  KG_EXPECT_OK(follower->Verify(fresh.value.view()));

  // And it applies records normally afterwards.
  KG_ASSERT_OK(store_->RevokeToken(kOrg, "alpha", fresh.metadata.slug, kActor));
  KG_ASSERT_OK(follower->CatchUp());
  EXPECT_EQ(Rebuilds(*follower), 1u);
  EXPECT_EQ(CodeOf(follower->Verify(fresh.value.view())),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(FollowerTest, OldStoreWithoutAChangeLogIsFollowed) {
  // A store whose writes predate the change log: remove its records with
  // the primary closed, as an old keygate would have left it.
  KG_ASSERT_OK(CreateAccount("alpha"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken token, CreateToken("alpha", "t"));
  KG_ASSERT_OK(store_->Close());
  store_.reset();
  {
    KG_ASSERT_OK_AND_ASSIGN(std::unique_ptr<storage::Tables> tables,
                            storage::Tables::Open(StorePath(), false));
    storage::Batch batch;
    KG_ASSERT_OK(tables->ScanChanges(
        0, [&](uint64_t position, const storage::ChangeRecord&) {
          tables->DeleteChange(batch, position);
          return storage::ScanControl::kContinue;
        }));
    EXPECT_EQ(batch.size(), 2u);
    KG_ASSERT_OK(tables->Write(batch, true));
    KG_ASSERT_OK(tables->Close());
  }
  KG_ASSERT_OK(Reopen());
  KG_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> follower, OpenFollower());
  KG_EXPECT_OK(follower->Verify(token.value.view()));
  KG_ASSERT_OK(store_->RevokeToken(kOrg, "alpha", token.metadata.slug, kActor));
  KG_ASSERT_OK(follower->CatchUp());
  EXPECT_EQ(CodeOf(follower->Verify(token.value.view())),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(Rebuilds(*follower), 0u);
}

// Attack: the primary's change log holds a record this follower cannot
// decode (a newer keygate's record kind, or a damaged value) right after a
// revocation. The follower cannot know what that record changed, so it must
// not stay where it was, serving the revoked token, on every later catch-up
// too: it rebuilds from the tables (the truth), and goes on applying
// records after it.
TEST_F(FollowerTest, UndecodableChangeRecordMakesTheFollowerRebuild) {
  KG_ASSERT_OK(CreateAccount("alpha"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken revoked, CreateToken("alpha", "r"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken kept, CreateToken("alpha", "k"));
  KG_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> follower, OpenFollower());
  KG_ASSERT_OK(follower->Verify(revoked.value.view()));
  KG_ASSERT_OK(store_->RevokeToken(kOrg, "alpha", revoked.metadata.slug, kActor));
  KG_ASSERT_OK(store_->Close());
  store_.reset();
  {
    // The record after the revocation: an unknown kind (decodes as
    // DataLoss), written the way a newer primary would write it.
    KG_ASSERT_OK_AND_ASSIGN(std::unique_ptr<storage::Tables> tables,
                            storage::Tables::Open(StorePath(), false));
    uint64_t last = 0;
    KG_ASSERT_OK(tables->ScanChanges(
        0, [&](uint64_t position, const storage::ChangeRecord&) {
          last = position;
          return storage::ScanControl::kContinue;
        }));
    storage::ChangeRecord unknown;
    unknown.kind = static_cast<storage::ChangeKind>(200);
    unknown.written_at = clock_.Now();
    storage::Batch batch;
    tables->PutChange(batch, last + 1, unknown);
    KG_ASSERT_OK(tables->Write(batch, true));
    KG_ASSERT_OK(tables->Close());
  }

  const absl::Status caught_up = follower->CatchUp();
  absl::StatusOr<Principal> result = follower->Verify(revoked.value.view());
  EXPECT_EQ(CodeOf(result), absl::StatusCode::kUnauthenticated)
      << "catch-up: " << caught_up;
  KG_EXPECT_OK(caught_up);
  EXPECT_EQ(Rebuilds(*follower), 1u);
  KG_EXPECT_OK(follower->Verify(kept.value.view()));
  // And it goes on from past that record: no rebuild per catch-up.
  KG_ASSERT_OK(follower->CatchUp());
  EXPECT_EQ(Rebuilds(*follower), 1u);
}

// Randomized: a sequence of primary operations; after every few, the
// follower catches up and must answer Verify exactly as the primary does,
// for every token ever created. Run with a log trimmed hard too, so some
// catch-ups apply records and others rebuild.
class FollowerOracleTest : public FollowerTest,
                           public ::testing::WithParamInterface<uint64_t> {};

TEST_P(FollowerOracleTest, FollowerAnswersLikeThePrimary) {
  const uint64_t min_records = GetParam();
  Options options = DefaultOptions();
  options.change_log_min_records = min_records;
  options.change_log_retention = absl::ZeroDuration();
  options.retention = absl::Hours(1);
  KG_ASSERT_OK(Reopen(options));
  KG_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> follower, OpenFollower());

  std::mt19937_64 rng(0x5eed + min_records);
  const std::vector<std::string> slugs = {"a1", "a2", "a3", "a4"};
  std::vector<CreatedToken> tokens;
  std::map<std::string, std::vector<size_t>> tokens_of;
  int counter = 0;
  // How often each verify outcome was compared, by VerifyFailure.
  std::map<int, int> outcomes;
  for (int step = 0; step < 400; ++step) {
    const std::string& account = slugs[rng() % slugs.size()];
    clock_.Advance(absl::Seconds(static_cast<int64_t>(rng() % 120)));
    switch (rng() % 9) {
      case 0:
        (void)CreateAccount(account);
        break;
      case 1:
      case 2:
      case 3: {
        std::optional<absl::Time> expiry;
        if (rng() % 4 == 0) expiry = clock_.Now() + absl::Minutes(rng() % 30 + 1);
        absl::StatusOr<CreatedToken> t =
            CreateToken(account, "t" + std::to_string(counter++),
                        {rng() % 2 ? "read:tokens" : "write:*"}, std::nullopt,
                        expiry);
        if (t.ok()) tokens.push_back(*std::move(t));
        break;
      }
      case 4:
        if (!tokens.empty()) {
          // A copy: push_back below may move the tokens.
          const TokenMetadata t = tokens[rng() % tokens.size()].metadata;
          if (rng() % 2 == 0) {
            (void)store_->RevokeToken(kOrg, t.service_account,
                                      t.slug, kActor);
          } else {
            // A rotation: the successor joins the compared tokens; the old
            // one verifies for its grace (0 to 4 minutes) and then fails.
            absl::StatusOr<CreatedToken> next = store_->RotateToken(
                kOrg, t.service_account, t.slug,
                absl::Minutes(static_cast<int64_t>(rng() % 5)), kActor);
            if (next.ok()) tokens.push_back(*std::move(next));
          }
        }
        break;
      case 5:
        (void)store_->SetServiceAccountDisabled(kOrg, account, rng() % 2 == 0,
                                                kActor);
        break;
      case 6:
        if (rng() % 3 == 0) (void)store_->DeleteServiceAccount(kOrg, account, kActor);
        break;
      case 7:
        if (rng() % 4 == 0) {
          clock_.Advance(absl::Hours(1));
          KG_ASSERT_OK(store_->PurgeRetired());
        }
        break;
      case 8:
        (void)store_->RenameServiceAccount(kOrg, account,
                                           "N" + std::to_string(step), kActor);
        break;
    }
    if (rng() % 3 != 0) continue;
    KG_ASSERT_OK(follower->CatchUp());
    for (size_t i = 0; i < tokens.size(); ++i) {
      for (std::string_view scope : {"", "write:tokens"}) {
        absl::StatusOr<Principal> want =
            store_->Verify(tokens[i].value.view(), scope);
        absl::StatusOr<Principal> got =
            follower->Verify(tokens[i].value.view(), scope);
        ASSERT_EQ(got.status().code(), want.status().code())
            << "step " << step << " token #" << i << " scope " << scope;
        ASSERT_EQ(VerifyFailureOf(got.status()), VerifyFailureOf(want.status()))
            << "step " << step << " token #" << i;
        ++outcomes[static_cast<int>(VerifyFailureOf(want.status()))];
        if (want.ok()) {
          EXPECT_EQ(got->service_account(), want->service_account());
          EXPECT_EQ(got->token_slug(), want->token_slug());
        }
      }
    }
    for (const std::string& account : slugs) {
      absl::StatusOr<ServiceAccount> want = store_->GetServiceAccount(kOrg, account);
      absl::StatusOr<ServiceAccount> got = follower->GetServiceAccount(kOrg, account);
      ASSERT_EQ(got.status().code(), want.status().code()) << account;
      if (want.ok()) {
        EXPECT_EQ(got->name, want->name);
        EXPECT_EQ(got->disabled, want->disabled);
      }
    }
  }
  // The sequence reached every outcome, so the comparison meant something.
  for (VerifyFailure failure :
       {VerifyFailure::kNone, VerifyFailure::kUnknown, VerifyFailure::kRevoked,
        VerifyFailure::kExpired, VerifyFailure::kAccountDisabled,
        VerifyFailure::kInsufficientScope}) {
    EXPECT_GT(outcomes[static_cast<int>(failure)], 0)
        << "outcome " << static_cast<int>(failure) << " never compared";
  }
  if (min_records <= 2) EXPECT_GT(Rebuilds(*follower), 0u);
  if (min_records >= 100000) EXPECT_EQ(Rebuilds(*follower), 0u);
}

INSTANTIATE_TEST_SUITE_P(LogSizes, FollowerOracleTest,
                         ::testing::Values(uint64_t{100000}, uint64_t{2}));

// Catch-ups, rebuilds included, never make an unchanged token fail: a
// thread verifies a token that stays valid while the primary writes and the
// follower applies (and, with the log trimmed to one record, rebuilds).
TEST_F(FollowerTest, UnchangedTokensVerifyThroughoutCatchUpsAndRebuilds) {
  Options options = DefaultOptions();
  options.change_log_min_records = 1;
  options.change_log_retention = absl::ZeroDuration();
  KG_ASSERT_OK(Reopen(options));
  KG_ASSERT_OK(CreateAccount("alpha"));
  KG_ASSERT_OK(CreateAccount("beta"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken stable, CreateToken("alpha", "stable"));
  // Catch-ups on demand only, every third step: behind the trimmed log.
  KG_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> follower, OpenFollower());
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::atomic<int> verifies{0};
  std::thread verifier([&] {
    while (!stop.load()) {
      if (!follower->Verify(stable.value.view()).ok()) failures.fetch_add(1);
      verifies.fetch_add(1);
    }
  });
  for (int i = 0; i < 60; ++i) {
    clock_.Advance(absl::Seconds(1));
    absl::StatusOr<CreatedToken> t = CreateToken("beta", "t" + std::to_string(i));
    ASSERT_TRUE(t.ok()) << t.status();
    KG_ASSERT_OK(store_->RevokeToken(kOrg, "beta", t->metadata.slug, kActor));
    if (i % 10 == 0) {
      KG_ASSERT_OK(store_->DeleteServiceAccount(kOrg, "beta", kActor));
      KG_ASSERT_OK(CreateAccount("beta"));
    }
    if (i % 3 == 2) KG_ASSERT_OK(follower->CatchUp());
  }
  stop.store(true);
  verifier.join();
  EXPECT_EQ(failures.load(), 0) << "of " << verifies.load();
  EXPECT_GT(verifies.load(), 0);
  EXPECT_GT(Rebuilds(*follower), 0u);
}

TEST_F(FollowerTest, ScheduledCatchUpAppliesChangesWithoutCatchUpCalls) {
  KG_ASSERT_OK(CreateAccount("alpha"));
  KG_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> follower,
                          OpenFollower(absl::Milliseconds(20)));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken token, CreateToken("alpha", "t"));
  // Generous: the schedule is 20 ms; a broken one never gets there.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!follower->Verify(token.value.view()).ok() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  KG_ASSERT_OK(follower->Verify(token.value.view()));
  KG_ASSERT_OK(store_->RevokeToken(kOrg, "alpha", token.metadata.slug, kActor));
  while (follower->Verify(token.value.view()).ok() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(CodeOf(follower->Verify(token.value.view())),
            absl::StatusCode::kUnauthenticated);
  KG_EXPECT_OK(follower->Close());  // stops the thread
}

// ----- Two processes: the follower in a child (fork + exec of this binary).

// The child: opens the store named by the environment as a follower and
// verifies the token in the token file. Runs only when re-executed.
TEST(FollowerChild, VerifyInAFollower) {
  const char* store_path = std::getenv(kChildStoreEnv);
  const char* token_file = std::getenv(kChildTokenEnv);
  if (store_path == nullptr || token_file == nullptr) {
    GTEST_SKIP() << "only runs as a child process";
  }
  std::ifstream in(token_file);
  std::string token;
  if (!std::getline(in, token)) std::_Exit(kChildBadSetup);
  Options options;
  options.path = store_path;
  options.keyring = test::ParseKeyringOrDie({{1, test::kPepperHex1}});
  options.role = StoreRole::kFollower;
  options.follower_catch_up_interval = absl::ZeroDuration();
  absl::StatusOr<std::unique_ptr<Store>> follower = Store::Open(options);
  if (!follower.ok()) std::_Exit(kChildOpenFailed);
  bool verified = (*follower)->Verify(token).ok();
  const char* handshake = std::getenv(kChildHandshakeEnv);
  if (handshake != nullptr) {
    // Stay open across the parent's revoke: report the first answer, wait
    // for the parent's go, catch up, and exit with the second answer.
    if (!verified) std::_Exit(kChildBadSetup);
    { std::ofstream ready(std::string(handshake) + ".ready"); }
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (!std::filesystem::exists(std::string(handshake) + ".go")) {
      if (absl::Now() > deadline) std::_Exit(kChildBadSetup);
      absl::SleepFor(absl::Milliseconds(5));
    }
    if (!(*follower)->CatchUp().ok()) std::_Exit(kChildOpenFailed);
    verified = (*follower)->Verify(token).ok();
  }
  (void)(*follower)->Close();
  std::_Exit(verified ? kChildVerified : kChildRefused);
}

// StartFollowerChild starts the child above (fork + exec of this binary)
// and returns its pid, or -1. With a `handshake` path prefix the child stays
// open across the parent's write (see the child).
pid_t StartFollowerChild(const std::string& store_path,
                         const std::string& token_file,
                         const std::string& handshake = "") {
  const std::string env_store = std::string(kChildStoreEnv) + "=" + store_path;
  const std::string env_token = std::string(kChildTokenEnv) + "=" + token_file;
  const std::string env_handshake =
      std::string(kChildHandshakeEnv) + "=" + handshake;
  const std::string filter = "--gtest_filter=FollowerChild.VerifyInAFollower";
  fflush(nullptr);
  const pid_t pid = fork();
  if (pid != 0) return pid;
  char* argv[] = {const_cast<char*>("store_follower_test"),
                  const_cast<char*>(filter.c_str()), nullptr};
  char* envp[] = {const_cast<char*>(env_store.c_str()),
                  const_cast<char*>(env_token.c_str()),
                  handshake.empty() ? nullptr
                                    : const_cast<char*>(env_handshake.c_str()),
                  nullptr};
  execve("/proc/self/exe", argv, envp);
  std::_Exit(kChildBadSetup);
}

// WaitFollowerChild returns the child's exit code (-1 if it crashed or
// hung: killed after 60 s).
int WaitFollowerChild(pid_t pid) {
  if (pid < 0) return -1;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (absl::Now() < deadline) {
    int status = 0;
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (r < 0) return -1;
    absl::SleepFor(absl::Milliseconds(10));
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return -1;
}

TEST_F(FollowerTest, AnotherProcessFollowsWhileThePrimaryHoldsTheStore) {
  KG_ASSERT_OK(CreateAccount("alpha"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken token, CreateToken("alpha", "t"));
  // The token value goes to an owner-only file of the test's temp dir (a
  // test secret; never printed).
  const std::string token_file = dir_.Sub("token");
  {
    std::ofstream out(token_file);
    out << token.value.view() << "\n";
  }
  std::filesystem::permissions(token_file, std::filesystem::perms::owner_read |
                                               std::filesystem::perms::owner_write);
  // The primary (store_) holds the store throughout.
  EXPECT_EQ(WaitFollowerChild(StartFollowerChild(StorePath(), token_file)),
            kChildVerified);

  // A follower process open across the revoke refuses after its CatchUp.
  const std::string handshake = dir_.Sub("handshake");
  const pid_t pid = StartFollowerChild(StorePath(), token_file, handshake);
  ASSERT_GT(pid, 0);
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (!std::filesystem::exists(handshake + ".ready") &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_TRUE(std::filesystem::exists(handshake + ".ready"));
  KG_ASSERT_OK(store_->RevokeToken(kOrg, "alpha", token.metadata.slug, kActor));
  { std::ofstream go(handshake + ".go"); }
  EXPECT_EQ(WaitFollowerChild(pid), kChildRefused);

  // And a fresh follower process loads it refused.
  EXPECT_EQ(WaitFollowerChild(StartFollowerChild(StorePath(), token_file)),
            kChildRefused);
}

}  // namespace
}  // namespace keygate

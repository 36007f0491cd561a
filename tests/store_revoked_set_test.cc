// tests/store_revoked_set_test.cc: every stored token is in exactly one of
// the verify index (tokens that may verify) and the revoked set (revoked,
// or rotated out past their grace), through revoke, rotation, purge,
// account delete, reopen and a follower's catch-up.
#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "keygate/keygate.h"
#include "lib/store/last_used.h"
#include "lib/store/store_impl.h"
#include "store_test_util.h"

namespace keygate {
namespace {

class RevokedSetTest : public test::StoreTest {
 protected:
  static store::StoreImpl& Impl(Store& store) {
    return static_cast<store::StoreImpl&>(store);
  }

  // ExpectConsistent checks `store` against a scan of storage (ListTokens
  // of `accounts`): the index holds the tokens that are not revoked, the
  // set the revoked ones, and `values` (slug -> token value; slugs no
  // longer stored must fail as unknown) verify as stored.
  void ExpectConsistent(Store& store, const std::vector<std::string>& accounts,
                        const std::map<std::string, std::string>& values) {
    size_t revoked = 0, live = 0;
    std::map<std::string, bool> stored;  // slug -> revoked
    for (const std::string& account : accounts) {
      absl::StatusOr<Page<TokenMetadata>> page =
          store.ListTokens(kOrg, account, PageRequest{});
      if (absl::IsNotFound(page.status())) continue;  // deleted account
      ASSERT_TRUE(page.ok()) << page.status();
      for (const TokenMetadata& m : page->items) {
        stored[m.slug] = m.revoked();
        ++(m.revoked() ? revoked : live);
      }
    }
    EXPECT_EQ(Impl(store).revoked_set_size(), revoked);
    EXPECT_EQ(Impl(store).verify_index_size(), live);
    for (const auto& [slug, value] : values) {
      absl::StatusOr<Principal> result = store.Verify(value);
      auto it = stored.find(slug);
      if (it == stored.end()) {
        EXPECT_EQ(VerifyFailureOf(result.status()), VerifyFailure::kUnknown)
            << slug;
      } else if (it->second) {
        EXPECT_EQ(VerifyFailureOf(result.status()), VerifyFailure::kRevoked)
            << slug;
      } else {
        EXPECT_TRUE(result.ok()) << slug << ": " << result.status();
      }
    }
  }

  // Revoke revokes the token Make named `name`.
  void Revoke(const std::string& name) {
    KG_ASSERT_OK(store_->RevokeToken(kOrg, account_of_[name], slug_of_[name],
                                     kActor));
  }

  std::map<std::string, std::string> values_;    // slug -> value
  std::map<std::string, std::string> slug_of_;   // name -> slug
  std::map<std::string, std::string> account_of_;  // name -> account
  std::vector<std::string> accounts_{"alpha", "beta"};

  void Make(const std::string& account, const std::string& name) {
    absl::StatusOr<CreatedToken> created = CreateToken(account, name);
    ASSERT_TRUE(created.ok()) << created.status();
    values_[created->metadata.slug] = std::string(created->value.view());
    slug_of_[name] = created->metadata.slug;
    account_of_[name] = account;
  }
};

TEST_F(RevokedSetTest, RevokeMovesTheTokenOutOfTheIndex) {
  KG_ASSERT_OK(CreateAccount("alpha"));
  KG_ASSERT_OK(CreateAccount("beta"));
  for (int i = 0; i < 6; ++i) {
    Make("alpha", "a" + std::to_string(i));
    Make("beta", "b" + std::to_string(i));
  }
  ExpectConsistent(*store_, accounts_, values_);
  EXPECT_EQ(Impl(*store_).revoked_set_size(), 0u);
  for (const char* name : {"a0", "a3", "b1", "b5"}) Revoke(name);
  EXPECT_EQ(Impl(*store_).revoked_set_size(), 4u);
  ExpectConsistent(*store_, accounts_, values_);

  // Loaded the same way at open.
  KG_ASSERT_OK(Reopen());
  EXPECT_EQ(Impl(*store_).revoked_set_size(), 4u);
  ExpectConsistent(*store_, accounts_, values_);
}

TEST_F(RevokedSetTest, PurgeAndAccountDeleteEmptyTheSet) {
  Options options = DefaultOptions();
  options.retention = absl::Hours(1);
  KG_ASSERT_OK(Reopen(options));
  KG_ASSERT_OK(CreateAccount("alpha"));
  KG_ASSERT_OK(CreateAccount("beta"));
  Make("alpha", "keep");
  Make("alpha", "purged");
  Make("beta", "deleted-with-account");
  Make("beta", "active-deleted-with-account");
  Revoke("purged");
  Revoke("deleted-with-account");
  EXPECT_EQ(Impl(*store_).revoked_set_size(), 2u);
  ExpectConsistent(*store_, accounts_, values_);

  KG_ASSERT_OK(store_->DeleteServiceAccount(kOrg, "beta", kActor));
  EXPECT_EQ(Impl(*store_).revoked_set_size(), 1u);
  EXPECT_EQ(Impl(*store_).verify_index_size(), 1u);
  ExpectConsistent(*store_, accounts_, values_);

  clock_.Advance(absl::Hours(2));
  KG_ASSERT_OK_AND_ASSIGN(PurgeResult purged, store_->PurgeRetired());
  EXPECT_EQ(purged.tokens_purged, 1u);
  EXPECT_EQ(Impl(*store_).revoked_set_size(), 0u);
  EXPECT_EQ(Impl(*store_).verify_index_size(), 1u);
  ExpectConsistent(*store_, accounts_, values_);
}

// A rotation's old token verifies in its grace (index); a grace already
// over when the token is published (zero grace, or at open after it ended)
// puts it in the revoked set; one that ends while the store runs fails as
// revoked in the index until the next flusher tick moves it to the set.
TEST_F(RevokedSetTest, RotationPastItsGraceCountsAsRevoked) {
  KG_ASSERT_OK(CreateAccount("alpha"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken graced, CreateToken("alpha", "graced"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken instant,
                          CreateToken("alpha", "instant"));
  KG_ASSERT_OK_AND_ASSIGN(
      CreatedToken graced_next,
      store_->RotateToken(kOrg, "alpha", graced.metadata.slug,
                          absl::Minutes(10), kActor));
  KG_ASSERT_OK_AND_ASSIGN(
      CreatedToken instant_next,
      store_->RotateToken(kOrg, "alpha", instant.metadata.slug,
                          absl::ZeroDuration(), kActor));
  KG_EXPECT_OK(store_->Verify(graced.value.view()));
  KG_EXPECT_OK(store_->Verify(graced_next.value.view()));
  KG_EXPECT_OK(store_->Verify(instant_next.value.view()));
  EXPECT_EQ(VerifyFailureOf(store_->Verify(instant.value.view()).status()),
            VerifyFailure::kRevoked);
  EXPECT_EQ(Impl(*store_).revoked_set_size(), 1u);
  EXPECT_EQ(Impl(*store_).verify_index_size(), 3u);

  clock_.Advance(absl::Minutes(11));
  EXPECT_EQ(VerifyFailureOf(store_->Verify(graced.value.view()).status()),
            VerifyFailure::kRevoked);
  // The flusher's next tick moves it to the set.
  EXPECT_EQ(Impl(*store_).revoked_set_size(), 1u);
  KG_ASSERT_OK(store::internal::FlushLastUsed(*store_));
  EXPECT_EQ(Impl(*store_).revoked_set_size(), 2u);
  EXPECT_EQ(Impl(*store_).verify_index_size(), 2u);
  EXPECT_EQ(VerifyFailureOf(store_->Verify(graced.value.view()).status()),
            VerifyFailure::kRevoked);
  KG_EXPECT_OK(store_->Verify(graced_next.value.view()));
  // Reopened past the grace: both old tokens load into the revoked set.
  KG_ASSERT_OK(Reopen());
  EXPECT_EQ(Impl(*store_).revoked_set_size(), 2u);
  EXPECT_EQ(Impl(*store_).verify_index_size(), 2u);
  EXPECT_EQ(VerifyFailureOf(store_->Verify(graced.value.view()).status()),
            VerifyFailure::kRevoked);
  EXPECT_EQ(VerifyFailureOf(store_->Verify(instant.value.view()).status()),
            VerifyFailure::kRevoked);
  KG_EXPECT_OK(store_->Verify(graced_next.value.view()));
}

TEST_F(RevokedSetTest, FollowerKeepsIndexAndSetLikeThePrimary) {
  SKIP_IF_POSTGRES("followers are RocksDB secondary instances");
  KG_ASSERT_OK(CreateAccount("alpha"));
  KG_ASSERT_OK(CreateAccount("beta"));
  for (int i = 0; i < 4; ++i) {
    Make("alpha", "a" + std::to_string(i));
    Make("beta", "b" + std::to_string(i));
  }
  Options follower_options = DefaultOptions();
  follower_options.role = StoreRole::kFollower;
  follower_options.follower_catch_up_interval = absl::ZeroDuration();
  KG_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> follower,
                          Store::Open(follower_options));
  ExpectConsistent(*follower, accounts_, values_);

  for (const char* name : {"a0", "a2", "b1", "b3"}) Revoke(name);
  KG_ASSERT_OK(store_->DeleteServiceAccount(kOrg, "beta", kActor));
  KG_ASSERT_OK(follower->CatchUp());
  ExpectConsistent(*store_, accounts_, values_);
  ExpectConsistent(*follower, accounts_, values_);

  // A rotation's grace ends on the follower's catch-up too.
  KG_ASSERT_OK_AND_ASSIGN(
      CreatedToken next,
      store_->RotateToken(kOrg, "alpha", slug_of_["a1"], absl::Minutes(5),
                          kActor));
  KG_ASSERT_OK(follower->CatchUp());
  KG_EXPECT_OK(follower->Verify(values_[slug_of_["a1"]]));
  const size_t in_set = Impl(*follower).revoked_set_size();
  clock_.Advance(absl::Minutes(6));
  KG_ASSERT_OK(follower->CatchUp());
  EXPECT_EQ(Impl(*follower).revoked_set_size(), in_set + 1);
  EXPECT_EQ(VerifyFailureOf(follower->Verify(values_[slug_of_["a1"]]).status()),
            VerifyFailure::kRevoked);
  KG_EXPECT_OK(follower->Verify(next.value.view()));
  KG_ASSERT_OK(store::internal::FlushLastUsed(*store_));
  ExpectConsistent(*store_, accounts_, values_);
  ExpectConsistent(*follower, accounts_, values_);
  EXPECT_EQ(Impl(*follower).revoked_set_size(),
            Impl(*store_).revoked_set_size());
  EXPECT_EQ(Impl(*follower).verify_index_size(),
            Impl(*store_).verify_index_size());
  KG_EXPECT_OK(follower->Close());
}

}  // namespace
}  // namespace keygate

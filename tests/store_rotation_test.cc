// Tests of Store::RotateToken: the successor (same name and scopes, a fresh
// slug, the old lifetime from now), the old token's grace (verifies until
// it ends, then fails as revoked), the name moving to the successor, the
// link in ListTokens, the refusals (404 like revoke, bad grace, authorize,
// quota), revoking in the grace, purge, and the state after reopening.
//
// Token values are never printed: failures name the token by index.
#include <atomic>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "keygate/keygate.h"
#include "tests/store_test_util.h"

namespace keygate {
namespace {

using test::HasFieldError;

class RotationTest : public test::StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    if (HasFatalFailure()) return;
    KG_ASSERT_OK(CreateAccount("svc"));
  }

  absl::StatusOr<CreatedToken> Rotate(std::string_view slug,
                                      absl::Duration grace,
                                      std::string_view org = kOrg) {
    return store_->RotateToken(org, "svc", slug, grace, kActor);
  }

  // Find returns the listed token with `slug`, or nullopt.
  std::optional<TokenMetadata> Find(std::string_view slug) {
    absl::StatusOr<std::vector<TokenMetadata>> all = AllTokens("svc");
    if (!all.ok()) return std::nullopt;
    for (const TokenMetadata& m : *all) {
      if (m.slug == slug) return m;
    }
    return std::nullopt;
  }

  VerifyFailure FailureOf(std::string_view token) {
    return VerifyFailureOf(store_->Verify(token).status());
  }
};

TEST_F(RotationTest, SuccessorHasNameScopesFreshSlugAndLink) {
  KG_ASSERT_OK_AND_ASSIGN(
      CreatedToken old,
      CreateToken("svc", "deploy", {"read:tokens", "write:service_accounts"},
                  std::string("deploy")));
  clock_.Advance(absl::Hours(1));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken next, Rotate("deploy", absl::Hours(1)));
  EXPECT_EQ(next.metadata.name, "deploy");
  EXPECT_NE(next.metadata.slug, "deploy");
  EXPECT_TRUE(test::IsValidSlug(next.metadata.slug));
  EXPECT_EQ(next.metadata.scopes, old.metadata.scopes);
  EXPECT_EQ(next.metadata.rotated_from, "deploy");
  EXPECT_EQ(next.metadata.created_at, clock_.Now());
  EXPECT_EQ(next.metadata.created_by, kActor);
  EXPECT_FALSE(next.metadata.expires_at.has_value());
  EXPECT_FALSE(next.value.view() == old.value.view());
  KG_EXPECT_OK(store_->Verify(next.value.view()));

  // List shows both, linked.
  std::optional<TokenMetadata> listed_old = Find("deploy");
  std::optional<TokenMetadata> listed_new = Find(next.metadata.slug);
  ASSERT_TRUE(listed_old.has_value());
  ASSERT_TRUE(listed_new.has_value());
  EXPECT_EQ(listed_old->rotated_to, next.metadata.slug);
  EXPECT_EQ(listed_old->grace_ends_at, clock_.Now() + absl::Hours(1));
  EXPECT_FALSE(listed_old->revoked());  // in its grace
  EXPECT_EQ(listed_new->rotated_from, "deploy");
  EXPECT_TRUE(listed_new->rotated_to.empty());
}

TEST_F(RotationTest, SuccessorKeepsTheLifetimeFromNow) {
  const absl::Time created = clock_.Now();
  KG_ASSERT_OK_AND_ASSIGN(
      CreatedToken old, CreateToken("svc", "ci", {"read:tokens"},
                                    std::string("ci"), created + absl::Hours(48)));
  clock_.Advance(absl::Hours(40));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken next, Rotate("ci", absl::Hours(24)));
  ASSERT_TRUE(next.metadata.expires_at.has_value());
  EXPECT_EQ(*next.metadata.expires_at, clock_.Now() + absl::Hours(48));
  // The old one's grace is capped by its own expiry: at +48h it fails as
  // expired (its own expiry came first), not at +64h.
  clock_.Advance(absl::Hours(8));
  EXPECT_EQ(FailureOf(old.value.view()), VerifyFailure::kExpired);
  KG_EXPECT_OK(store_->Verify(next.value.view()));
}

TEST_F(RotationTest, OldVerifiesDuringGraceAndFailsAsRevokedAfter) {
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken old,
                          CreateToken("svc", "api", {"read:tokens"},
                                      std::string("api")));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken next, Rotate("api", absl::Minutes(90)));
  KG_EXPECT_OK(store_->Verify(old.value.view(), "read:tokens"));
  clock_.Advance(absl::Minutes(90) - absl::Microseconds(1));
  KG_EXPECT_OK(store_->Verify(old.value.view()));
  clock_.Advance(absl::Microseconds(1));
  absl::StatusOr<Principal> after = store_->Verify(old.value.view());
  ASSERT_FALSE(after.ok());
  EXPECT_EQ(after.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(VerifyFailureOf(after.status()), VerifyFailure::kRevoked);
  KG_EXPECT_OK(store_->Verify(next.value.view()));

  // Listed as revoked by the rotation, at its grace end.
  std::optional<TokenMetadata> listed = Find("api");
  ASSERT_TRUE(listed.has_value());
  ASSERT_TRUE(listed->revoked_at.has_value());
  EXPECT_EQ(*listed->revoked_at, clock_.Now());
  EXPECT_EQ(listed->revoked_by, kRevokedByRotation);
  // Revoking it now is 404: it counts as revoked.
  EXPECT_EQ(store_->RevokeToken(kOrg, "svc", "api", kActor).code(),
            absl::StatusCode::kNotFound);
}

TEST_F(RotationTest, ZeroGraceFailsAtOnce) {
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken old,
                          CreateToken("svc", "api", {"read:tokens"},
                                      std::string("api")));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken next,
                          Rotate("api", absl::ZeroDuration()));
  EXPECT_EQ(FailureOf(old.value.view()), VerifyFailure::kRevoked);
  KG_EXPECT_OK(store_->Verify(next.value.view()));
}

TEST_F(RotationTest, NameMovesToTheSuccessor) {
  KG_ASSERT_OK(CreateToken("svc", "api", {"read:tokens"}, std::string("api")));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken next, Rotate("api", absl::Hours(1)));
  // The successor holds the name: a create with it conflicts.
  EXPECT_EQ(CreateToken("svc", "api").status().code(),
            absl::StatusCode::kAlreadyExists);
  // The old one does not: once the successor is revoked, the name is free
  // although the old token is still in its grace.
  KG_ASSERT_OK(store_->RevokeToken(kOrg, "svc", next.metadata.slug, kActor));
  KG_EXPECT_OK(CreateToken("svc", "api"));
}

TEST_F(RotationTest, RefusalsAreNotFoundAndChangeNothing) {
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken old,
                          CreateToken("svc", "api", {"read:tokens"},
                                      std::string("api")));
  KG_ASSERT_OK(CreateToken("svc", "gone", {"read:tokens"},
                           std::string("gone")));
  KG_ASSERT_OK(store_->RevokeToken(kOrg, "svc", "gone", kActor));
  KG_ASSERT_OK_AND_ASSIGN(std::vector<TokenMetadata> before, AllTokens("svc"));

  EXPECT_EQ(Rotate("nope", absl::Hours(1)).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(Rotate("gone", absl::Hours(1)).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(Rotate("api", absl::Hours(1), "org-other").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->RotateToken(kOrg, "nosvc", "api", absl::Hours(1), kActor)
                .status()
                .code(),
            absl::StatusCode::kNotFound);

  KG_ASSERT_OK_AND_ASSIGN(std::vector<TokenMetadata> after, AllTokens("svc"));
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_EQ(after[i].slug, before[i].slug);
    EXPECT_TRUE(after[i].rotated_to.empty());
  }
  KG_EXPECT_OK(store_->Verify(old.value.view()));
}

TEST_F(RotationTest, TokenInItsGraceCannotBeRotatedAgain) {
  KG_ASSERT_OK(CreateToken("svc", "api", {"read:tokens"}, std::string("api")));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken next, Rotate("api", absl::Hours(1)));
  EXPECT_EQ(Rotate("api", absl::Hours(1)).status().code(),
            absl::StatusCode::kNotFound);
  // The successor can be rotated in turn.
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken third,
                          Rotate(next.metadata.slug, absl::Hours(1)));
  EXPECT_EQ(third.metadata.rotated_from, next.metadata.slug);
}

// Attack: many callers rotate one token at once, hoping for two successors
// holding its name (two live credentials where the operator sees one).
// Writers are serialized: exactly one rotation succeeds, the others find the
// token rotated out (404), and one successor holds the name.
TEST_F(RotationTest, ConcurrentRotationsOfOneTokenMakeOneSuccessor) {
  KG_ASSERT_OK(CreateToken("svc", "api", {"read:tokens"}, std::string("api")));
  constexpr int kThreads = 8;
  std::vector<absl::StatusOr<CreatedToken>> results;
  for (int i = 0; i < kThreads; ++i) {
    results.emplace_back(absl::UnknownError("not run"));
  }
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      while (!go.load()) std::this_thread::yield();
      results[i] = Rotate("api", absl::Hours(1));
    });
  }
  go.store(true);
  for (std::thread& t : threads) t.join();
  int succeeded = 0;
  std::string successor;
  for (int i = 0; i < kThreads; ++i) {
    if (results[i].ok()) {
      ++succeeded;
      successor = results[i]->metadata.slug;
      KG_EXPECT_OK(store_->Verify(results[i]->value.view()));
    } else {
      EXPECT_EQ(results[i].status().code(), absl::StatusCode::kNotFound)
          << "thread " << i << ": " << results[i].status();
    }
  }
  ASSERT_EQ(succeeded, 1);
  KG_ASSERT_OK_AND_ASSIGN(std::vector<TokenMetadata> all, AllTokens("svc"));
  ASSERT_EQ(all.size(), 2u);
  int holding_name = 0;
  for (const TokenMetadata& m : all) {
    if (m.rotated_to.empty() && !m.revoked()) {
      ++holding_name;
      EXPECT_EQ(m.slug, successor);
      EXPECT_EQ(m.rotated_from, "api");
    }
  }
  EXPECT_EQ(holding_name, 1);
  EXPECT_EQ(CreateToken("svc", "api", {"read:tokens"}).status().code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_F(RotationTest, BadGraceIsInvalidArgumentNamingTheField) {
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken old,
                          CreateToken("svc", "api", {"read:tokens"},
                                      std::string("api")));
  for (absl::Duration grace :
       {-absl::Seconds(1), kMaxRotationGrace + absl::Seconds(1),
        absl::InfiniteDuration()}) {
    absl::StatusOr<CreatedToken> r = Rotate("api", grace);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument)
        << absl::FormatDuration(grace);
    EXPECT_TRUE(HasFieldError(r.status(), "gracePeriod"))
        << absl::FormatDuration(grace);
  }
  KG_EXPECT_OK(Rotate("api", kMaxRotationGrace));
}

TEST_F(RotationTest, AuthorizeSeesTheSuccessorAndItsRefusalWritesNothing) {
  KG_ASSERT_OK_AND_ASSIGN(
      CreatedToken old,
      CreateToken("svc", "api", {"write:tokens"}, std::string("api"),
                  clock_.Now() + absl::Hours(10)));
  clock_.Advance(absl::Hours(2));
  std::optional<TokenSpec> seen;
  absl::StatusOr<CreatedToken> refused = store_->RotateToken(
      kOrg, "svc", "api", absl::Hours(1), kActor,
      [&](const TokenSpec& successor) {
        seen = successor;
        return absl::PermissionDeniedError("no");
      });
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(seen->name, "api");
  EXPECT_EQ(seen->scopes, std::vector<std::string>{"write:tokens"});
  EXPECT_EQ(seen->expires_at, clock_.Now() + absl::Hours(10));
  ASSERT_TRUE(seen->slug.has_value());
  // Nothing changed.
  KG_ASSERT_OK_AND_ASSIGN(std::vector<TokenMetadata> all, AllTokens("svc"));
  ASSERT_EQ(all.size(), 1u);
  EXPECT_TRUE(all[0].rotated_to.empty());
  clock_.Advance(absl::Hours(5));
  KG_EXPECT_OK(store_->Verify(old.value.view()));
}

TEST_F(RotationTest, RevokingTheOldTokenInItsGraceWorks) {
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken old,
                          CreateToken("svc", "api", {"read:tokens"},
                                      std::string("api")));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken next, Rotate("api", absl::Hours(1)));
  KG_ASSERT_OK(store_->RevokeToken(kOrg, "svc", "api", kActor));
  EXPECT_EQ(FailureOf(old.value.view()), VerifyFailure::kRevoked);
  KG_EXPECT_OK(store_->Verify(next.value.view()));
  std::optional<TokenMetadata> listed = Find("api");
  ASSERT_TRUE(listed.has_value());
  EXPECT_EQ(listed->revoked_by, kActor);
  EXPECT_EQ(listed->rotated_to, next.metadata.slug);
  EXPECT_EQ(store_->RevokeToken(kOrg, "svc", "api", kActor).code(),
            absl::StatusCode::kNotFound);
}

TEST_F(RotationTest, ExpiredTokenIsFailedPrecondition) {
  KG_ASSERT_OK(CreateToken("svc", "api", {"read:tokens"}, std::string("api"),
                           clock_.Now() + absl::Hours(1)));
  clock_.Advance(absl::Hours(1));
  EXPECT_EQ(Rotate("api", absl::Hours(1)).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(RotationTest, QuotaAllowsOneOverlapThenRefusesUntilTheGraceEnds) {
  Options options = DefaultOptions();
  options.max_active_tokens_per_organization = 2;
  KG_ASSERT_OK(Reopen(options));
  KG_ASSERT_OK(CreateToken("svc", "aa", {"read:tokens"}, std::string("aa")));
  KG_ASSERT_OK(CreateToken("svc", "bb", {"read:tokens"}, std::string("bb")));
  // At the quota, a rotation is allowed (it replaces a token)...
  KG_ASSERT_OK(Rotate("aa", absl::Hours(1)));
  // ...but the old one counts until its grace ends: no create, and no
  // second overlap.
  EXPECT_EQ(CreateToken("svc", "cc").status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(Rotate("bb", absl::Hours(1)).status().code(),
            absl::StatusCode::kResourceExhausted);
  clock_.Advance(absl::Hours(1));
  KG_EXPECT_OK(Rotate("bb", absl::Hours(1)));
}

TEST_F(RotationTest, PurgeCountsTheGraceEndAsRetirement) {
  Options options = DefaultOptions();
  options.retention = absl::Hours(24);
  KG_ASSERT_OK(Reopen(options));
  KG_ASSERT_OK(CreateToken("svc", "api", {"read:tokens"}, std::string("api")));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken next, Rotate("api", absl::Hours(2)));
  clock_.Advance(absl::Hours(2) + absl::Hours(24));
  KG_ASSERT_OK_AND_ASSIGN(PurgeResult kept, store_->PurgeRetired());
  EXPECT_EQ(kept.tokens_purged, 0u);
  clock_.Advance(absl::Microseconds(1));
  KG_ASSERT_OK_AND_ASSIGN(PurgeResult purged, store_->PurgeRetired());
  EXPECT_EQ(purged.tokens_purged, 1u);
  EXPECT_FALSE(Find("api").has_value());
  KG_EXPECT_OK(store_->Verify(next.value.view()));
}

class RotationPersistenceTest : public RotationTest {
 protected:
  bool SyncWrites() const override { return true; }
};

TEST_F(RotationPersistenceTest, ReopenKeepsBothRecordsAndTheGrace) {
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken old,
                          CreateToken("svc", "api", {"read:tokens"},
                                      std::string("api")));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken next, Rotate("api", absl::Hours(1)));
  KG_ASSERT_OK(Reopen());
  KG_EXPECT_OK(store_->Verify(old.value.view()));
  KG_EXPECT_OK(store_->Verify(next.value.view()));
  std::optional<TokenMetadata> listed_old = Find("api");
  std::optional<TokenMetadata> listed_new = Find(next.metadata.slug);
  ASSERT_TRUE(listed_old.has_value());
  ASSERT_TRUE(listed_new.has_value());
  EXPECT_EQ(listed_old->rotated_to, next.metadata.slug);
  EXPECT_EQ(listed_new->rotated_from, "api");
  // The name index was rebuilt with the name on the successor.
  EXPECT_EQ(CreateToken("svc", "api").status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(Rotate("api", absl::Hours(1)).status().code(),
            absl::StatusCode::kNotFound);
  clock_.Advance(absl::Hours(1));
  EXPECT_EQ(FailureOf(old.value.view()), VerifyFailure::kRevoked);
  // Past the grace, reopened: still revoked, the successor still fine.
  KG_ASSERT_OK(Reopen());
  EXPECT_EQ(FailureOf(old.value.view()), VerifyFailure::kRevoked);
  KG_EXPECT_OK(store_->Verify(next.value.view()));
}

}  // namespace
}  // namespace keygate

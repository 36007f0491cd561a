// tests/store_revoke_race_test.cc: Verify racing RevokeToken end to end.
// A revoke moves the digest from the verify index to the revoked set
// (lib/store/verify.cc IndexToken: set insert, then index erase, whose
// backward shift moves other tokens' slots). Two promises are checked under
// concurrency: every Verify that starts after RevokeToken returned refuses
// the token (as revoked), and a token nobody revokes verifies throughout
// (the shifts never make it look unknown). And a rotated-out token past its
// grace, moved from the index to the set by the periodic tick, fails as
// revoked in every Verify meanwhile (never accepted, never unknown).
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "keygate/keygate.h"
#include "lib/store/last_used.h"
#include "lib/store/store_impl.h"
#include "store_test_util.h"

namespace keygate {
namespace {

class StoreRevokeRaceTest : public test::StoreTest {};

TEST_F(StoreRevokeRaceTest, VerifyAfterRevokeReturnedRefusesAndOthersStayValid) {
  constexpr int kVictims = 150;
  constexpr int kStable = 100;
  constexpr int kVerifiers = 2;
  KG_ASSERT_OK(CreateAccount("alpha"));
  // Interleaved creation: victims and stable tokens share clusters of the
  // index, so revoking a victim shifts stable tokens' slots.
  std::vector<std::string> victim_values, victim_slugs, stable_values;
  for (int i = 0; i < kVictims + kStable; ++i) {
    const bool victim = i % 5 < 3 && static_cast<int>(victim_values.size()) <
                                         kVictims;
    absl::StatusOr<CreatedToken> created =
        CreateToken("alpha", (victim ? "v" : "s") + std::to_string(i));
    ASSERT_TRUE(created.ok()) << created.status();
    if (victim) {
      victim_values.emplace_back(created->value.view());
      victim_slugs.push_back(created->metadata.slug);
    } else {
      stable_values.emplace_back(created->value.view());
    }
  }

  // 2k: victim k not yet revoked; 2k+1: RevokeToken(victim k) returned.
  std::atomic<int> state{0};
  std::atomic<bool> done{false};
  std::atomic<int> accepted_after_revoke{0}, wrong_failure{0},
      stable_refused{0};
  std::atomic<long> checks{0};
  std::vector<std::thread> verifiers;
  for (int v = 0; v < kVerifiers; ++v) {
    verifiers.emplace_back([&, v] {
      size_t next_stable = static_cast<size_t>(v);
      while (!done.load(std::memory_order_acquire)) {
        const int s = state.load(std::memory_order_acquire);
        const int victim = s / 2;
        if (victim < kVictims) {
          absl::StatusOr<Principal> result =
              store_->Verify(victim_values[victim]);
          if (s % 2 == 1) {
            if (result.ok()) accepted_after_revoke.fetch_add(1);
            else if (VerifyFailureOf(result.status()) != VerifyFailure::kRevoked)
              wrong_failure.fetch_add(1);
            checks.fetch_add(1, std::memory_order_relaxed);
          }
        }
        next_stable = (next_stable + 1) % stable_values.size();
        if (!store_->Verify(stable_values[next_stable]).ok()) {
          stable_refused.fetch_add(1);
        }
      }
    });
  }
  for (int k = 0; k < kVictims; ++k) {
    ASSERT_TRUE(store_->RevokeToken(kOrg, "alpha", victim_slugs[k], kActor)
                    .ok());
    state.store(2 * k + 1, std::memory_order_release);
    // Let the verifiers try the revoked token before the next victim.
    for (int spin = 0; spin < 50; ++spin) std::this_thread::yield();
    state.store(2 * (k + 1), std::memory_order_release);
  }
  done.store(true, std::memory_order_release);
  for (std::thread& t : verifiers) t.join();

  EXPECT_EQ(accepted_after_revoke.load(), 0);
  EXPECT_EQ(wrong_failure.load(), 0);
  EXPECT_EQ(stable_refused.load(), 0);
  EXPECT_GT(checks.load(), 0);
  for (const std::string& value : victim_values) {
    EXPECT_EQ(VerifyFailureOf(store_->Verify(value).status()),
              VerifyFailure::kRevoked);
  }
}

TEST_F(StoreRevokeRaceTest, GraceEndMoveFailsAsRevokedInEveryVerifyMeanwhile) {
  constexpr int kTokens = 120;
  constexpr int kVerifiers = 2;
  KG_ASSERT_OK(CreateAccount("alpha"));
  std::vector<std::string> old_values, next_values;
  for (int i = 0; i < kTokens; ++i) {
    KG_ASSERT_OK_AND_ASSIGN(CreatedToken created,
                            CreateToken("alpha", "t" + std::to_string(i)));
    KG_ASSERT_OK_AND_ASSIGN(
        CreatedToken next,
        store_->RotateToken(kOrg, "alpha", created.metadata.slug,
                            absl::Minutes(10), kActor));
    old_values.emplace_back(created.value.view());
    next_values.emplace_back(next.value.view());
  }
  clock_.Advance(absl::Minutes(11));  // every grace over, none moved yet

  std::atomic<bool> done{false};
  std::atomic<int> not_revoked{0}, successor_refused{0};
  std::atomic<long> checks{0};
  std::vector<std::thread> verifiers;
  for (int v = 0; v < kVerifiers; ++v) {
    verifiers.emplace_back([&, v] {
      for (size_t i = static_cast<size_t>(v);
           !done.load(std::memory_order_acquire); i = (i + 1) % kTokens) {
        if (VerifyFailureOf(store_->Verify(old_values[i]).status()) !=
            VerifyFailure::kRevoked) {
          not_revoked.fetch_add(1);
        }
        if (!store_->Verify(next_values[i]).ok()) successor_refused.fetch_add(1);
        checks.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  while (checks.load() < 1000) std::this_thread::yield();
  KG_ASSERT_OK(store::internal::FlushLastUsed(*store_));  // the move
  const long after_move = checks.load();
  while (checks.load() < after_move + 1000) std::this_thread::yield();
  done.store(true, std::memory_order_release);
  for (std::thread& t : verifiers) t.join();

  EXPECT_EQ(not_revoked.load(), 0);
  EXPECT_EQ(successor_refused.load(), 0);
  EXPECT_EQ(static_cast<store::StoreImpl&>(*store_).revoked_set_size(),
            static_cast<size_t>(kTokens));
}

}  // namespace
}  // namespace keygate

// The event outbox (keygate/event.h, Store::ReadEvents / AckEvents): each
// write records exactly its events, in the same batch, at dense positions in
// commit order; acknowledgement and retention trim; positions survive a
// reopen.
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "keygate/keygate.h"
#include "tests/store_test_util.h"

namespace keygate {
namespace {

class StoreEventsTest : public test::StoreTest {
 protected:
  void SetUp() override {
    test::StoreTest::SetUp();
    ASSERT_NE(store_, nullptr);
    KG_ASSERT_OK(Reopen(EventOptions()));
  }

  Options EventOptions() const {
    Options options = DefaultOptions();
    options.record_events = true;
    return options;
  }

  // AllEvents reads every event after `after`.
  std::vector<Event> AllEvents(uint64_t after = 0) {
    absl::StatusOr<std::vector<Event>> events =
        store_->ReadEvents(after, 10000);
    EXPECT_TRUE(events.ok()) << events.status();
    return events.ok() ? *std::move(events) : std::vector<Event>();
  }

  std::vector<std::string> TypeNames(const std::vector<Event>& events) {
    std::vector<std::string> names;
    for (const Event& e : events) names.emplace_back(EventTypeName(e.type));
    return names;
  }
};

using Names = std::vector<std::string>;

TEST(EventTypeNameTest, EveryTypeIsAWebhookEventName) {
  for (uint8_t t = 1; t <= 13; ++t) {
    const std::string_view name = EventTypeName(static_cast<EventType>(t));
    EXPECT_TRUE(IsWebhookEventName(name)) << int{t} << " " << name;
  }
  EXPECT_EQ(EventTypeName(EventType::kTokenRotated), "token.rotated");
  EXPECT_EQ(EventTypeName(EventType::kServiceAccountEnabled),
            "service_account.enabled");
}

TEST_F(StoreEventsTest, OffByDefaultRecordsNothing) {
  KG_ASSERT_OK(Reopen(DefaultOptions()));
  KG_ASSERT_OK(CreateAccount("builder"));
  KG_ASSERT_OK(CreateToken("builder", "ci"));
  EXPECT_TRUE(AllEvents().empty());
  KG_ASSERT_OK_AND_ASSIGN(uint64_t acked, store_->AckedEventPosition());
  EXPECT_EQ(acked, 0u);
}

TEST_F(StoreEventsTest, AccountWritesRecordTheirEvents) {
  KG_ASSERT_OK_AND_ASSIGN(ServiceAccount created, CreateAccount("builder"));
  clock_.Advance(absl::Seconds(1));
  KG_ASSERT_OK(store_->RenameServiceAccount(kOrg, "builder", "Builder 2",
                                            "user:bob"));
  KG_ASSERT_OK(
      store_->SetServiceAccountDisabled(kOrg, "builder", true, "user:carol"));
  KG_ASSERT_OK(
      store_->SetServiceAccountDisabled(kOrg, "builder", false, kActor));
  // Both at once: two events, rename first.
  ServiceAccountPatch both;
  both.name = "Builder 3";
  both.disabled = true;
  KG_ASSERT_OK(store_->UpdateServiceAccount(kOrg, "builder", both, kActor));
  // A patch that changes nothing visible records nothing.
  ServiceAccountPatch same;
  same.disabled = true;
  KG_ASSERT_OK(store_->UpdateServiceAccount(kOrg, "builder", same, kActor));
  KG_ASSERT_OK(store_->DeleteServiceAccount(kOrg, "builder", "user:dave"));

  std::vector<Event> events = AllEvents();
  EXPECT_EQ(TypeNames(events),
            (Names{"service_account.created", "service_account.updated",
                   "service_account.disabled", "service_account.enabled",
                   "service_account.updated", "service_account.disabled",
                   "service_account.deleted"}));
  ASSERT_EQ(events.size(), 7u);
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].position, i + 1);
    EXPECT_EQ(events[i].organization, kOrg);
    ASSERT_TRUE(events[i].service_account.has_value());
    EXPECT_FALSE(events[i].token.has_value());
    EXPECT_EQ(events[i].service_account->organization, kOrg);
    EXPECT_EQ(events[i].service_account->slug, "builder");
  }
  EXPECT_EQ(events[0].actor, kActor);
  EXPECT_EQ(events[0].time, created.created_at);
  EXPECT_EQ(events[0].service_account->name, created.name);
  EXPECT_EQ(events[0].service_account->created_by, kActor);
  EXPECT_EQ(events[1].actor, "user:bob");
  EXPECT_EQ(events[1].service_account->name, "Builder 2");
  EXPECT_EQ(events[1].time, created.created_at + absl::Seconds(1));
  EXPECT_EQ(events[2].actor, "user:carol");
  EXPECT_TRUE(events[2].service_account->disabled);
  EXPECT_FALSE(events[3].service_account->disabled);
  EXPECT_EQ(events[4].service_account->name, "Builder 3");
  // The deleted account as it was.
  EXPECT_EQ(events[6].actor, "user:dave");
  EXPECT_EQ(events[6].service_account->name, "Builder 3");
  EXPECT_TRUE(events[6].service_account->disabled);

  std::set<std::string> ids;
  for (const Event& e : events) {
    EXPECT_TRUE(absl::StartsWith(e.id, "evt_")) << e.id;
    EXPECT_EQ(e.id.size(), 4u + 32u) << e.id;
    ids.insert(e.id);
  }
  EXPECT_EQ(ids.size(), events.size());
}

TEST_F(StoreEventsTest, TokenWritesRecordTheirEvents) {
  KG_ASSERT_OK(CreateAccount("builder"));
  const uint64_t start = 1;
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken token,
                          CreateToken("builder", "ci", {"read:tokens"}, "ci",
                                      clock_.Now() + absl::Hours(48)));
  KG_ASSERT_OK_AND_ASSIGN(
      CreatedToken successor,
      store_->RotateToken(kOrg, "builder", "ci", absl::Hours(1), "user:bob"));
  KG_ASSERT_OK(
      store_->RevokeToken(kOrg, "builder", successor.metadata.slug, "user:eve"));

  std::vector<Event> events = AllEvents(start);
  ASSERT_EQ(TypeNames(events), (Names{"token.created", "token.rotated",
                                      "token.created", "token.revoked"}));
  for (const Event& e : events) {
    EXPECT_EQ(e.organization, kOrg);
    ASSERT_TRUE(e.token.has_value());
    EXPECT_FALSE(e.service_account.has_value());
    EXPECT_EQ(e.token->organization, kOrg);
    EXPECT_EQ(e.token->service_account, "builder");
    EXPECT_FALSE(e.token->last_used_at.has_value());
  }
  EXPECT_EQ(events[0].actor, kActor);
  EXPECT_EQ(events[0].token->slug, "ci");
  EXPECT_EQ(events[0].token->name, "ci");
  EXPECT_EQ(events[0].token->scopes, token.metadata.scopes);
  EXPECT_EQ(events[0].token->expires_at, token.metadata.expires_at);
  EXPECT_EQ(events[0].token->created_at, token.metadata.created_at);
  // token.rotated is the old token, naming its successor and grace end.
  EXPECT_EQ(events[1].actor, "user:bob");
  EXPECT_EQ(events[1].token->slug, "ci");
  EXPECT_EQ(events[1].token->rotated_to, successor.metadata.slug);
  EXPECT_TRUE(events[1].token->grace_ends_at.has_value());
  EXPECT_EQ(events[2].token->slug, successor.metadata.slug);
  EXPECT_EQ(events[2].token->rotated_from, "ci");
  EXPECT_EQ(events[1].position + 1, events[2].position);
  EXPECT_EQ(events[1].time, events[2].time);
  EXPECT_EQ(events[3].actor, "user:eve");
  EXPECT_EQ(events[3].token->slug, successor.metadata.slug);
  EXPECT_TRUE(events[3].token->revoked_at.has_value());
  EXPECT_EQ(events[3].token->revoked_by, "user:eve");

  // Purged tokens: one token.purged each, by the retention policy.
  clock_.Advance(absl::Hours(24 * 365));
  KG_ASSERT_OK_AND_ASSIGN(PurgeResult purged, store_->PurgeRetired());
  EXPECT_EQ(purged.tokens_purged, 2u);
  std::vector<Event> purge_events = AllEvents(events.back().position);
  ASSERT_EQ(TypeNames(purge_events), (Names{"token.purged", "token.purged"}));
  std::set<std::string> slugs;
  for (const Event& e : purge_events) {
    EXPECT_EQ(e.actor, kPurgeEventActor);
    slugs.insert(e.token->slug);
  }
  EXPECT_EQ(slugs, (std::set<std::string>{"ci", successor.metadata.slug}));
}

// A revocation by the secret-scanning receiver (actor kRevokedByLeak) is a
// revocation first, so token.revoked subscribers see it, then a leak.
TEST_F(StoreEventsTest, LeakRevocationRecordsRevokedThenLeaked) {
  KG_ASSERT_OK(CreateAccount("builder"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken token,
                          CreateToken("builder", "ci", {"read:tokens"}, "ci",
                                      clock_.Now() + absl::Hours(48)));
  const uint64_t created = AllEvents().back().position;
  KG_ASSERT_OK(store_->RevokeToken(kOrg, "builder", token.metadata.slug,
                                   kRevokedByLeak));
  std::vector<Event> events = AllEvents(created);
  ASSERT_EQ(TypeNames(events), (Names{"token.revoked", "token.leaked"}));
  for (const Event& e : events) {
    EXPECT_EQ(e.actor, kRevokedByLeak);
    ASSERT_TRUE(e.token.has_value());
    EXPECT_EQ(e.token->slug, token.metadata.slug);
    EXPECT_EQ(e.token->revoked_by, kRevokedByLeak);
  }
  EXPECT_EQ(events[0].position + 1, events[1].position);
  EXPECT_NE(events[0].id, events[1].id);
}

TEST_F(StoreEventsTest, FailedOrRefusedWritesRecordNothing) {
  KG_ASSERT_OK(CreateAccount("builder"));
  const size_t before = AllEvents().size();
  EXPECT_FALSE(CreateAccount("builder").ok());  // slug taken
  EXPECT_FALSE(store_->RevokeToken(kOrg, "builder", "nope", kActor).ok());
  EXPECT_FALSE(store_->DeleteServiceAccount("other-org", "builder", kActor).ok());
  EXPECT_FALSE(CreateToken("missing", "ci").ok());
  ServiceAccountPatch empty;
  KG_ASSERT_OK(store_->UpdateServiceAccount(kOrg, "builder", empty, kActor));
  EXPECT_EQ(AllEvents().size(), before);
  // The next event still takes the next position.
  KG_ASSERT_OK(CreateToken("builder", "ci"));
  std::vector<Event> events = AllEvents();
  ASSERT_EQ(events.size(), before + 1);
  EXPECT_EQ(events.back().position, before + 1);
}

TEST_F(StoreEventsTest, EachOrganizationsEventsNameIt) {
  KG_ASSERT_OK(CreateAccount("builder", "org-a"));
  KG_ASSERT_OK(CreateAccount("builder", "org-b"));
  std::vector<Event> events = AllEvents();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].organization, "org-a");
  EXPECT_EQ(events[0].service_account->organization, "org-a");
  EXPECT_EQ(events[1].organization, "org-b");
  EXPECT_EQ(events[1].service_account->organization, "org-b");
}

TEST_F(StoreEventsTest, ReadEventsPagesInPositionOrder) {
  for (int i = 0; i < 5; ++i) {
    KG_ASSERT_OK(CreateAccount("acct-" + std::to_string(i)));
  }
  KG_ASSERT_OK_AND_ASSIGN(std::vector<Event> first, store_->ReadEvents(0, 2));
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0].position, 1u);
  EXPECT_EQ(first[1].position, 2u);
  KG_ASSERT_OK_AND_ASSIGN(std::vector<Event> next,
                          store_->ReadEvents(first.back().position, 100));
  ASSERT_EQ(next.size(), 3u);
  EXPECT_EQ(next[0].position, 3u);
  EXPECT_EQ(next[0].service_account->slug, "acct-2");
  KG_ASSERT_OK_AND_ASSIGN(std::vector<Event> none, store_->ReadEvents(5, 100));
  EXPECT_TRUE(none.empty());
  KG_ASSERT_OK_AND_ASSIGN(std::vector<Event> zero, store_->ReadEvents(0, 0));
  EXPECT_TRUE(zero.empty());
}

TEST_F(StoreEventsTest, ConcurrentWritersGetDenseIncreasingPositions) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 25;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t] {
      for (int i = 0; i < kPerThread; ++i) {
        EXPECT_TRUE(
            CreateAccount("t" + std::to_string(t) + "-" + std::to_string(i))
                .ok());
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  std::vector<Event> events = AllEvents();
  ASSERT_EQ(events.size(), size_t{kThreads * kPerThread});
  std::set<std::string> slugs;
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].position, i + 1);
    slugs.insert(events[i].service_account->slug);
  }
  EXPECT_EQ(slugs.size(), events.size());  // each account exactly once
}

TEST_F(StoreEventsTest, ReopenKeepsUnackedEventsAndThePositionCounter) {
  KG_ASSERT_OK(CreateAccount("a1"));
  KG_ASSERT_OK(CreateAccount("a2"));
  KG_ASSERT_OK(CreateAccount("a3"));
  const std::vector<Event> before = AllEvents();
  KG_ASSERT_OK(Reopen(EventOptions()));
  const std::vector<Event> after = AllEvents();
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_EQ(after[i].position, before[i].position);
    EXPECT_EQ(after[i].id, before[i].id);
    EXPECT_EQ(after[i].time, before[i].time);
  }
  // Acknowledge (and so delete) everything, reopen: positions go on.
  KG_ASSERT_OK(store_->AckEvents(3));
  EXPECT_TRUE(AllEvents().empty());
  KG_ASSERT_OK(Reopen(EventOptions()));
  KG_ASSERT_OK_AND_ASSIGN(uint64_t acked, store_->AckedEventPosition());
  EXPECT_EQ(acked, 3u);
  KG_ASSERT_OK(CreateAccount("a4"));
  std::vector<Event> events = AllEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].position, 4u);
  EXPECT_EQ(events[0].service_account->slug, "a4");
}

TEST_F(StoreEventsTest, AckIsIdempotentNeverBackwardNeverAhead) {
  for (int i = 0; i < 4; ++i) {
    KG_ASSERT_OK(CreateAccount("acct-" + std::to_string(i)));
  }
  KG_ASSERT_OK(store_->AckEvents(2));
  KG_ASSERT_OK(store_->AckEvents(2));
  KG_ASSERT_OK(store_->AckEvents(1));  // never back
  KG_ASSERT_OK_AND_ASSIGN(uint64_t acked, store_->AckedEventPosition());
  EXPECT_EQ(acked, 2u);
  std::vector<Event> events = AllEvents();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].position, 3u);
  // Past the newest: acknowledges up to the newest only, so a later event
  // is not acknowledged before it exists.
  KG_ASSERT_OK(store_->AckEvents(1000));
  KG_ASSERT_OK_AND_ASSIGN(acked, store_->AckedEventPosition());
  EXPECT_EQ(acked, 4u);
  KG_ASSERT_OK(CreateAccount("acct-late"));
  events = AllEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].position, 5u);
}

TEST_F(StoreEventsTest, RetentionTrimsUnackedEventsOnLaterWrites) {
  Options options = EventOptions();
  options.event_retention = absl::Hours(1);
  KG_ASSERT_OK(Reopen(options));
  for (int i = 0; i < 3; ++i) {
    KG_ASSERT_OK(CreateAccount("old-" + std::to_string(i)));
  }
  clock_.Advance(absl::Minutes(59));
  KG_ASSERT_OK(CreateAccount("young"));
  EXPECT_EQ(AllEvents().size(), 4u);  // nothing old enough yet
  clock_.Advance(absl::Minutes(2));
  KG_ASSERT_OK(CreateAccount("new"));
  std::vector<Event> events = AllEvents();
  ASSERT_EQ(TypeNames(events).size(), 2u);
  EXPECT_EQ(events[0].service_account->slug, "young");
  EXPECT_EQ(events[1].service_account->slug, "new");
  EXPECT_EQ(events[1].position, 5u);
}

TEST_F(StoreEventsTest, TrimmingIsBoundedPerWrite) {
  // 30 events, all acknowledged in one call: the ack trims them all (under
  // its bound); then 30 more, retention-expired: each later write trims at
  // most its bound (8 for a one-event write).
  Options options = EventOptions();
  options.event_retention = absl::Hours(1);
  KG_ASSERT_OK(Reopen(options));
  for (int i = 0; i < 30; ++i) {
    KG_ASSERT_OK(CreateAccount("a-" + std::to_string(i)));
  }
  clock_.Advance(absl::Hours(2));
  KG_ASSERT_OK(CreateAccount("trigger"));
  EXPECT_EQ(AllEvents().size(), 31u - 8u);
  KG_ASSERT_OK(store_->AckEvents(0));  // acknowledges nothing, trims expired
  std::vector<Event> events = AllEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].service_account->slug, "trigger");
}

TEST_F(StoreEventsTest, FollowerReadsButNeverAcknowledges) {
  SKIP_IF_POSTGRES("followers are RocksDB secondary instances");
  KG_ASSERT_OK(CreateAccount("builder"));
  Options options = EventOptions();
  options.role = StoreRole::kFollower;
  options.follower_catch_up_interval = absl::ZeroDuration();
  KG_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> follower,
                          Store::Open(options));
  KG_ASSERT_OK_AND_ASSIGN(std::vector<Event> events,
                          follower->ReadEvents(0, 10));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(absl::StatusCode::kFailedPrecondition,
            follower->AckEvents(1).code());
  KG_ASSERT_OK(follower->Close());
}

// The scheduler: token.expiring at each lead, token.expired at expiry, each
// once, across a reopen; none for a revoked token; none before the first
// call.
TEST_F(StoreEventsTest, DueEventsFireOnceEachAcrossRestarts) {
  KG_ASSERT_OK(CreateAccount("builder"));
  const absl::Time t0 = clock_.Now();
  KG_ASSERT_OK(CreateToken("builder", "ten-days", {"read:tokens"}, "ten-days",
                           t0 + absl::Hours(24 * 10)));
  KG_ASSERT_OK(CreateToken("builder", "revoked", {"read:tokens"}, "revoked",
                           t0 + absl::Hours(24 * 10)));
  KG_ASSERT_OK(CreateToken("builder", "forever", {"read:tokens"}, "forever"));
  KG_ASSERT_OK(store_->RevokeToken(kOrg, "builder", "revoked", kActor));
  const uint64_t start = AllEvents().back().position;

  // First call: starts the clock of the scheduler, records nothing.
  KG_ASSERT_OK_AND_ASSIGN(size_t n, store_->EmitDueEvents());
  EXPECT_EQ(n, 0u);
  // Day 2: nothing due yet.
  clock_.Advance(absl::Hours(24 * 2));
  KG_ASSERT_OK_AND_ASSIGN(n, store_->EmitDueEvents());
  EXPECT_EQ(n, 0u);
  // Day 4: the 7-day warning (day 3) fell due.
  clock_.Advance(absl::Hours(24 * 2));
  KG_ASSERT_OK_AND_ASSIGN(n, store_->EmitDueEvents());
  EXPECT_EQ(n, 1u);
  KG_ASSERT_OK_AND_ASSIGN(n, store_->EmitDueEvents());
  EXPECT_EQ(n, 0u);  // not twice
  // Across a reopen, still not twice.
  KG_ASSERT_OK(Reopen(EventOptions()));
  KG_ASSERT_OK_AND_ASSIGN(n, store_->EmitDueEvents());
  EXPECT_EQ(n, 0u);
  // Day 11: the 1-day warning (day 9) and the expiry (day 10) in one call,
  // in the order they fell due.
  clock_.Advance(absl::Hours(24 * 7));
  KG_ASSERT_OK_AND_ASSIGN(n, store_->EmitDueEvents());
  EXPECT_EQ(n, 2u);
  KG_ASSERT_OK_AND_ASSIGN(n, store_->EmitDueEvents());
  EXPECT_EQ(n, 0u);

  std::vector<Event> events = AllEvents(start);
  ASSERT_EQ(TypeNames(events),
            (Names{"token.expiring", "token.expiring", "token.expired"}));
  for (const Event& e : events) {
    EXPECT_EQ(e.actor, kExpiryEventActor);
    ASSERT_TRUE(e.token.has_value());
    EXPECT_EQ(e.token->slug, "ten-days");
    EXPECT_EQ(e.organization, kOrg);
  }
}

TEST_F(StoreEventsTest, DueEventsOffRecordsNothing) {
  KG_ASSERT_OK(Reopen(DefaultOptions()));
  KG_ASSERT_OK(CreateAccount("builder"));
  KG_ASSERT_OK(CreateToken("builder", "soon", {"read:tokens"}, "soon",
                           clock_.Now() + absl::Hours(2)));
  KG_ASSERT_OK(store_->EmitDueEvents());
  clock_.Advance(absl::Hours(3));
  KG_ASSERT_OK_AND_ASSIGN(size_t n, store_->EmitDueEvents());
  EXPECT_EQ(n, 0u);
  EXPECT_TRUE(AllEvents().empty());
}

TEST_F(StoreEventsTest, ClosedStoreRefuses) {
  KG_ASSERT_OK(store_->Close());
  EXPECT_EQ(store_->ReadEvents(0, 10).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->AckEvents(1).code(), absl::StatusCode::kFailedPrecondition);
  store_.reset();
}

}  // namespace
}  // namespace keygate

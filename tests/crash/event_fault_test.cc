// tests/crash/event_fault_test.cc: the event outbox under injected I/O
// faults and power loss. An event exists if and only if its change was
// committed: a failed write records no event in the running store, and
// after a power cut and reopen the surviving events are exactly those of
// the surviving changes, each once, at dense positions.
#include <unistd.h>

#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "keygate/keygate.h"
#include "lib/store/open_on_file_system.h"
#include "tests/crash/crash_workload.h"
#include "tests/crash/fault_injection_file_system.h"

namespace keygate::crash {
namespace {

using test::FaultInjectionFileSystem;
using test::IoKind;

constexpr char kOrg[] = "org-events";

class EventFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = std::filesystem::temp_directory_path() /
            ("keygate-event-fault-" + std::to_string(getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(path_);
  }
  void TearDown() override { std::filesystem::remove_all(path_); }

  Options EventOptions(bool sync = true) const {
    Options options = CrashOptions(path_, sync);
    options.record_events = true;
    return options;
  }

  absl::StatusOr<std::unique_ptr<Store>> Open(
      std::shared_ptr<FaultInjectionFileSystem> fs, bool sync = true) {
    return store::internal::OpenStoreOnFileSystem(EventOptions(sync),
                                                  std::move(fs));
  }

  static absl::Status CreateAccount(Store& store, const std::string& slug) {
    ServiceAccountSpec spec;
    spec.name = "Account " + slug;
    spec.slug = slug;
    return store.CreateServiceAccount(kOrg, spec, "user:test").status();
  }

  // ExpectEventsMatchAccounts checks that the created events are exactly
  // one per existing account, at dense positions from 1.
  static void ExpectEventsMatchAccounts(Store& store) {
    absl::StatusOr<std::vector<Event>> events = store.ReadEvents(0, 10000);
    ASSERT_TRUE(events.ok()) << events.status();
    PageRequest page;
    page.limit = 1000;
    absl::StatusOr<Page<ServiceAccount>> accounts =
        store.ListServiceAccounts(kOrg, page);
    ASSERT_TRUE(accounts.ok()) << accounts.status();
    std::set<std::string> slugs;
    for (const ServiceAccount& a : accounts->items) slugs.insert(a.slug);
    std::multiset<std::string> event_slugs;
    for (size_t i = 0; i < events->size(); ++i) {
      const Event& e = (*events)[i];
      EXPECT_EQ(e.position, i + 1);
      EXPECT_EQ(e.type, EventType::kServiceAccountCreated);
      ASSERT_TRUE(e.service_account.has_value());
      event_slugs.insert(e.service_account->slug);
    }
    EXPECT_EQ(std::set<std::string>(event_slugs.begin(), event_slugs.end()),
              slugs);
    EXPECT_EQ(event_slugs.size(), slugs.size()) << "an event twice";
  }

  std::string path_;
};

// A write whose WAL sync fails records no event in the running store; after
// a power cut and reopen, events and accounts still agree one to one.
TEST_F(EventFaultTest, FailedWriteRecordsNoEvent) {
  for (IoKind kind : {IoKind::kWrite, IoKind::kSync}) {
    SCOPED_TRACE(kind == IoKind::kWrite ? "write" : "sync");
    std::filesystem::remove_all(path_);
    auto fs = std::make_shared<FaultInjectionFileSystem>();
    {
      absl::StatusOr<std::unique_ptr<Store>> store = Open(fs);
      ASSERT_TRUE(store.ok()) << store.status();
      ASSERT_TRUE(CreateAccount(**store, "before").ok());
      fs->FailNth(kind, 1, /*persistent=*/true);
      EXPECT_FALSE(CreateAccount(**store, "failed").ok());
      absl::StatusOr<std::vector<Event>> events = (*store)->ReadEvents(0, 100);
      ASSERT_TRUE(events.ok()) << events.status();
      ASSERT_EQ(events->size(), 1u);
      EXPECT_EQ((*events)[0].service_account->slug, "before");
      fs->SetActive(false);
    }
    fs->DropUnsyncedData();
    absl::StatusOr<std::unique_ptr<Store>> store =
        Store::Open(EventOptions());
    ASSERT_TRUE(store.ok()) << store.status();
    ExpectEventsMatchAccounts(**store);
    // The position counter goes on after whatever survived.
    absl::StatusOr<std::vector<Event>> before = (*store)->ReadEvents(0, 100);
    ASSERT_TRUE(before.ok());
    ASSERT_TRUE(CreateAccount(**store, "after").ok());
    absl::StatusOr<std::vector<Event>> after = (*store)->ReadEvents(0, 100);
    ASSERT_TRUE(after.ok());
    ASSERT_EQ(after->size(), before->size() + 1);
    EXPECT_EQ(after->back().position, before->size() + 1);
    ASSERT_TRUE((*store)->Close().ok());
  }
}

// Writes cut by a power loss at every point, synced or not: whatever
// writes survive, their events survive with them and nothing else; with
// synced writes every acknowledged write survives with its event.
TEST_F(EventFaultTest, PowerLossKeepsEventsAndChangesTogether) {
  for (bool sync : {true, false}) {
  for (uint64_t crash_after = 1; crash_after <= 12; ++crash_after) {
    SCOPED_TRACE(absl::StrCat("crash after ", crash_after, sync ? " synced" : " unsynced"));
    std::filesystem::remove_all(path_);
    auto fs = std::make_shared<FaultInjectionFileSystem>();
    int acknowledged = 0;
    {
      absl::StatusOr<std::unique_ptr<Store>> store = Open(fs, sync);
      ASSERT_TRUE(store.ok()) << store.status();
      fs->CrashAfter(crash_after);
      for (int i = 0; i < 20; ++i) {
        if (!CreateAccount(**store, absl::StrCat("a", i)).ok()) break;
        ++acknowledged;
      }
      fs->SetActive(false);
    }
    fs->DropUnsyncedData();
    absl::StatusOr<std::unique_ptr<Store>> store =
        Store::Open(EventOptions());
    ASSERT_TRUE(store.ok()) << store.status();
    ExpectEventsMatchAccounts(**store);
    if (sync) {
      absl::StatusOr<std::vector<Event>> events = (*store)->ReadEvents(0, 100);
      ASSERT_TRUE(events.ok());
      // The acknowledged ones, plus at most the one in flight.
      EXPECT_GE(events->size(), size_t(acknowledged));
      EXPECT_LE(events->size(), size_t(acknowledged) + 1);
    }
    ASSERT_TRUE((*store)->Close().ok());
  }
  }
}

}  // namespace
}  // namespace keygate::crash

// lib/store/events.cc: the event outbox calls of the Store (ReadEvents,
// AckEvents, AckedEventPosition), the events the write paths hand to
// Commit, and EventTypeName (keygate/event.h).
#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "keygate/event.h"
#include "keygate/webhook.h"
#include "lib/store/store_impl.h"

namespace keygate {

std::string_view EventTypeName(EventType type) {
  // EventType values are 1-based in WebhookEventNames() order.
  const size_t index = static_cast<size_t>(type) - 1;
  const std::vector<std::string_view>& names = WebhookEventNames();
  return index < names.size() ? names[index] : std::string_view("unknown");
}

namespace store {

namespace {

// ReadEvents returns at most this many events per call.
constexpr size_t kMaxEventsPerRead = 10000;
// EmitDueEvents commits at most about this many events per batch (more only
// when that many fall due at one same instant).
constexpr size_t kDueEventsPerBatch = 1000;

// DueEvent is an event EmitDueEvents found due, at the instant it fell due.
struct DueEvent {
  absl::Time instant;
  Event event;
};

}  // namespace

Event AccountEvent(EventType type, const ServiceAccount& account,
                   std::string_view actor) {
  Event event;
  event.type = type;
  event.organization = account.organization;
  event.actor = std::string(actor);
  event.service_account = account;
  return event;
}

Event TokenEvent(EventType type, const TokenMetadata& token,
                 std::string_view actor) {
  Event event;
  event.type = type;
  event.organization = token.organization;
  event.actor = std::string(actor);
  event.token = token;
  // Not part of a change (a verify sets it, in memory).
  event.token->last_used_at.reset();
  return event;
}

absl::StatusOr<std::vector<Event>> StoreImpl::ReadEvents(
    uint64_t after_position, size_t max_count) {
  ReadGuard guard(this);
  if (!guard.status().ok()) return guard.status();
  max_count = std::min(max_count, kMaxEventsPerRead);
  std::vector<Event> events;
  if (max_count == 0) return events;
  absl::Status status = tables_->ScanEvents(
      after_position,
      [&](const Event& event) -> absl::StatusOr<storage::ScanControl> {
        events.push_back(event);
        return events.size() < max_count ? storage::ScanControl::kContinue
                                         : storage::ScanControl::kStop;
      });
  if (!status.ok()) return status;
  return events;
}

absl::Status StoreImpl::AckEvents(uint64_t through_position) {
  WriteGuard guard(this);
  if (!guard.status().ok()) return guard.status();
  storage::Batch batch;
  const EventOutbox::Appended appended =
      events_.Ack(*tables_, batch, through_position, Now());
  if (batch.size() == 0) return absl::OkStatus();
  // Followers need not see acknowledgements: no change record.
  if (absl::Status s = CommitUnlogged(batch); !s.ok()) return s;
  events_.Committed(appended);
  return absl::OkStatus();
}

absl::StatusOr<size_t> StoreImpl::EmitDueEvents() {
  WriteGuard guard(this);
  if (!guard.status().ok()) return guard.status();
  if (!options_.record_events) return 0;
  const absl::Time now = Now();
  const std::optional<absl::Time> from = events_.due_through();
  // CommitDue commits `events` with the time covered advanced to `through`
  // in the same batch.
  auto commit_due = [&](std::vector<Event> events, absl::Time through)
                        ABSL_NO_THREAD_SAFETY_ANALYSIS -> absl::Status {
    storage::Batch batch;
    const EventOutbox::Appended appended =
        events_.Append(*tables_, batch, events, now, through);
    // Followers need not see events: no change record.
    if (absl::Status s = CommitUnlogged(batch); !s.ok()) return s;
    events_.Committed(appended);
    return absl::OkStatus();
  };
  // The first call covers nothing before it.
  if (!from) {
    if (absl::Status s = commit_due({}, now); !s.ok()) return s;
    return 0;
  }
  // Nothing new (or the clock went back): nothing is due twice.
  if (now <= *from) return 0;

  std::vector<DueEvent> due;
  auto consider = [&](const TokenMetadata& m, absl::Time instant,
                      EventType type) {
    if (instant <= *from || instant > now) return;
    if (m.revoked_at && *m.revoked_at <= instant) return;
    if (m.grace_ends_at && *m.grace_ends_at <= instant) return;
    due.push_back({instant, TokenEvent(type, m, kExpiryEventActor)});
  };
  absl::Status status = tables_->ScanTokens(
      storage::TokenRange::All(),
      [&](const storage::StoredToken& token)
          -> absl::StatusOr<storage::ScanControl> {
        const TokenMetadata& m = token.metadata;
        if (!m.expires_at) return storage::ScanControl::kContinue;
        for (absl::Duration lead : options_.token_expiring_leads) {
          if (lead > absl::ZeroDuration()) {
            consider(m, *m.expires_at - lead, EventType::kTokenExpiring);
          }
        }
        consider(m, *m.expires_at, EventType::kTokenExpired);
        return storage::ScanControl::kContinue;
      });
  if (!status.ok()) return status;
  // In the order they fell due; a batch ends only between two instants, so
  // the time it covers through is exact.
  std::stable_sort(due.begin(), due.end(),
                   [](const DueEvent& a, const DueEvent& b) {
                     return a.instant < b.instant;
                   });
  std::vector<Event> chunk;
  for (size_t i = 0; i < due.size(); ++i) {
    chunk.push_back(std::move(due[i].event));
    if (chunk.size() >= kDueEventsPerBatch && i + 1 < due.size() &&
        due[i + 1].instant > due[i].instant) {
      if (absl::Status s = commit_due(std::move(chunk), due[i].instant);
          !s.ok()) {
        return s;
      }
      chunk.clear();
    }
  }
  if (absl::Status s = commit_due(std::move(chunk), now); !s.ok()) return s;
  return due.size();
}

absl::StatusOr<uint64_t> StoreImpl::AckedEventPosition() {
  ReadGuard guard(this);
  if (!guard.status().ok()) return guard.status();
  absl::StatusOr<std::optional<storage::EventCursor>> cursor =
      tables_->ReadEventCursor();
  if (!cursor.ok()) return cursor.status();
  return cursor->has_value() ? (*cursor)->acked : 0;
}

}  // namespace store
}  // namespace keygate

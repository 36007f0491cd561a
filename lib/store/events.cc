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

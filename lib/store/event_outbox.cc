// lib/store/event_outbox.cc: event positions, ids, the cursor and trimming
// on a primary.
#include "lib/store/event_outbox.h"

#include <algorithm>
#include <array>
#include <optional>

#include "absl/strings/escaping.h"
#include "lib/crypto/sodium.h"

namespace keygate::store {

std::string NewEventId() {
  std::array<unsigned char, 16> bytes;
  crypto::RandomBytes(bytes.data(), bytes.size());
  return "evt_" + absl::BytesToHexString(absl::string_view(
                      reinterpret_cast<const char*>(bytes.data()),
                      bytes.size()));
}

EventOutbox::EventOutbox(absl::Duration retention) : retention_(retention) {}

absl::Status EventOutbox::Load(const storage::Tables& tables) {
  log_.Clear();
  cursor_ = storage::EventCursor();
  absl::StatusOr<std::optional<storage::EventCursor>> cursor =
      tables.ReadEventCursor();
  if (!cursor.ok()) return cursor.status();
  if (cursor->has_value()) cursor_ = **cursor;
  absl::Status status = tables.ScanEvents(
      0, [&](const Event& event) -> absl::StatusOr<storage::ScanControl> {
        if (absl::Status s = log_.Restore(event.position, event.time);
            !s.ok()) {
          return s;
        }
        return storage::ScanControl::kContinue;
      });
  if (!status.ok()) return status;
  log_.RaiseLastPosition(cursor_.last);
  cursor_.last = log_.last_position();
  return absl::OkStatus();
}

size_t EventOutbox::Trim(const storage::Tables& tables, storage::Batch& batch,
                         uint64_t acked, absl::Time now, size_t max) const {
  const absl::Time cutoff = now - retention_;
  size_t trimmed = 0;
  while (trimmed < max && trimmed < log_.retained_count() &&
         (log_.position_at(trimmed) <= acked ||
          log_.time_at(trimmed) < cutoff)) {
    tables.DeleteEvent(batch, log_.position_at(trimmed));
    ++trimmed;
  }
  return trimmed;
}

EventOutbox::Appended EventOutbox::Append(const storage::Tables& tables,
                                          storage::Batch& batch,
                                          std::vector<Event>& events,
                                          absl::Time now,
                                          std::optional<absl::Time> due_through)
    const {
  Appended appended;
  appended.log = log_.Plan(events.size(), now);
  appended.cursor = cursor_;
  if (due_through) {
    appended.cursor.due_through = due_through;
    appended.cursor_changed = true;
  }
  if (events.empty() && log_.retained_count() == 0 &&
      !appended.cursor_changed) {
    return appended;
  }
  for (size_t i = 0; i < events.size(); ++i) {
    Event& event = events[i];
    event.position = appended.log.first_position + i;
    event.id = NewEventId();
    event.time = now;
    tables.PutEvent(batch, event.position, event);
  }
  if (!events.empty()) {
    appended.cursor.last = appended.log.last_position();
    appended.cursor_changed = true;
  }
  if (appended.cursor_changed) tables.PutEventCursor(batch, appended.cursor);
  appended.log.trimmed =
      Trim(tables, batch, cursor_.acked, now,
           std::max(kMinTrimPerBatch, 2 * events.size()));
  return appended;
}

EventOutbox::Appended EventOutbox::Ack(const storage::Tables& tables,
                                       storage::Batch& batch, uint64_t through,
                                       absl::Time now) const {
  Appended appended;
  appended.log = log_.Plan(0, now);
  appended.cursor = cursor_;
  appended.cursor.acked =
      std::max(cursor_.acked, std::min(through, log_.last_position()));
  if (appended.cursor.acked != cursor_.acked) {
    appended.cursor_changed = true;
    tables.PutEventCursor(batch, appended.cursor);
  }
  appended.log.trimmed =
      Trim(tables, batch, appended.cursor.acked, now, kMaxTrimPerAck);
  return appended;
}

void EventOutbox::Committed(const Appended& appended) {
  log_.Committed(appended.log);
  cursor_ = appended.cursor;
}

}  // namespace keygate::store

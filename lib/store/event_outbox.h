// lib/store/event_outbox.h: the primary's side of the event outbox:
// positions, ids and times of new events, the cursor record, and trimming
// (lib/storage/event_record.h says what a record is; keygate/event.h what
// an event is).
//
// The store passes the events of a write batch to Append, which adds them
// to that same batch at positions taken in commit order exactly as the
// change log takes its own (lib/store/positioned_log.h argues why they are
// dense and in commit order), together with the cursor record (the newest
// position, so positions survive every record being trimmed). A batch that
// fails to commit leaves no event and no position behind.
//
// Trimming: an event is deleted, by a later batch of the primary, once it
// is acknowledged (position <= the cursor's acked) or older than
// `retention`, oldest first; the first one that is neither stops it. A batch
// that appends n events trims at most max(kMinTrimPerBatch, 2n), so the
// outbox shrinks faster than it grows once old events exist and no write is
// made slow by it; an acknowledgement trims at most kMaxTrimPerAck.
//
// Costs: nothing when there is no event to append and none retained (an
// outbox never used); otherwise 16 bytes of memory per retained event
// (read at open) and O(1) per event.
//
// Thread safety: none of its own; the store calls it under write_mu_.
#ifndef KEYGATE_LIB_STORE_EVENT_OUTBOX_H_
#define KEYGATE_LIB_STORE_EVENT_OUTBOX_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "keygate/event.h"
#include "lib/storage/event_record.h"
#include "lib/storage/tables.h"
#include "lib/store/positioned_log.h"

namespace keygate::store {

class EventOutbox {
 public:
  static constexpr size_t kMinTrimPerBatch = 8;
  static constexpr size_t kMaxTrimPerAck = 1024;

  explicit EventOutbox(absl::Duration retention);

  // Load reads the cursor record and the positions and times of the
  // retained events (open). DataLoss for a corrupt record or positions out
  // of order.
  absl::Status Load(const storage::Tables& tables);

  // last_position is the newest recorded position (0 if none); acked the
  // acknowledged one.
  uint64_t last_position() const { return log_.last_position(); }
  uint64_t acked() const { return cursor_.acked; }

  // Appended says what Append or Ack added to a batch, for Committed.
  struct Appended {
    PositionedLog::Appended log;
    storage::EventCursor cursor;
    bool cursor_changed = false;
  };

  // Append gives each of `events` the next position, a fresh id and the
  // time `now`, adds them, the cursor (with `due_through` if set) and the
  // trimmed deletions to `batch`. Changes nothing in memory: call Committed
  // once the batch is durable.
  Appended Append(const storage::Tables& tables, storage::Batch& batch,
                  std::vector<Event>& events, absl::Time now,
                  std::optional<absl::Time> due_through = std::nullopt) const;
  // due_through is the stored cursor's (Store::EmitDueEvents).
  std::optional<absl::Time> due_through() const {
    return cursor_.due_through;
  }
  // Ack adds to `batch` the cursor acknowledging every event up to
  // min(through, last_position()) (never less than acked()), and the
  // deletion of up to kMaxTrimPerAck trimmable events.
  Appended Ack(const storage::Tables& tables, storage::Batch& batch,
               uint64_t through, absl::Time now) const;
  // Committed records that the batch of `appended` is durable.
  void Committed(const Appended& appended);

 private:
  // Trim adds to `batch` the deletion of up to `max` of the oldest events
  // that `acked` or the retention cutoff at `now` allows; returns how many.
  size_t Trim(const storage::Tables& tables, storage::Batch& batch,
              uint64_t acked, absl::Time now, size_t max) const;

  const absl::Duration retention_;
  PositionedLog log_;
  storage::EventCursor cursor_;
};

// NewEventId returns "evt_" + 32 lowercase hex digits from the CSPRNG.
std::string NewEventId();

}  // namespace keygate::store

#endif  // KEYGATE_LIB_STORE_EVENT_OUTBOX_H_

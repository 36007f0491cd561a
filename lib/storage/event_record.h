// lib/storage/event_record.h: the event outbox's records and keys
// (docs/storage-schema.md, "Events"; the public type is keygate/event.h).
//
// A primary with Options::record_events appends its events to the events/
// range of the default (meta) family in the same write batch as the change
// they describe, at positions the store takes in commit order
// (lib/store/event_outbox.h). A record carries the resource's metadata,
// never a token value and never a digest. The cursor record keeps the
// acknowledged position and the newest position ever recorded, so that
// positions are never reused after every record was trimmed.
#ifndef KEYGATE_LIB_STORAGE_EVENT_RECORD_H_
#define KEYGATE_LIB_STORAGE_EVENT_RECORD_H_

#include <cstdint>
#include <string>
#include <optional>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "keygate/event.h"

namespace keygate::storage {

// The key range of the events: "events/" + be64(position). Positions start
// at 1; byte order is position order.
inline constexpr std::string_view kEventPrefix = "events/";
std::string EventKey(uint64_t position);
// DecodeEventKey reads a key of the range; false if malformed.
bool DecodeEventKey(std::string_view key, uint64_t* position);

// EncodeEvent / DecodeEvent: version byte, type byte, time (8), lp(id),
// lp(organization), lp(actor), resource byte (1 account, 2 token), then
// for an account: lp(slug), lp(name), disabled (1), created_at (8),
// lp(created_by), updated_at (8), lp(updated_by); for a token:
// lp(service_account), lp(slug), lp(name), varint32 n, n x lp(scope),
// created_at (8), lp(created_by), opt(expires_at), opt(revoked_at),
// lp(revoked_by), varint32 pepper_id, lp(rotated_to), lp(rotated_from),
// opt(grace_ends_at); for a webhook endpoint: lp(id), lp(url),
// lp(description), disabled (1), updated_at (8), lp(updated_by); where opt(t) is a byte 0, or a byte 1 and t (8).
// The position is the key's, not the value's. The resource's organization
// is the event's. DecodeEvent returns DataLoss for anything else (an
// unknown version, type or resource byte, trailing bytes).
std::string EncodeEvent(const Event& event);
absl::Status DecodeEvent(std::string_view value, Event* event);

// The cursor record (default CF, key kEventCursorKey): version byte,
// acked (8, big-endian), last (8, big-endian), opt(due_through) (a byte 0,
// or a byte 1 and the time (8)).
inline constexpr std::string_view kEventCursorKey = "event_cursor";
struct EventCursor {
  // Every event at or below it was acknowledged (Store::AckEvents).
  uint64_t acked = 0;
  // The newest position ever recorded.
  uint64_t last = 0;
  // Store::EmitDueEvents has recorded every expiry and warning instant up
  // to and including this time; unset before its first call.
  std::optional<absl::Time> due_through;
};
std::string EncodeEventCursor(const EventCursor& cursor);
absl::Status DecodeEventCursor(std::string_view value, EventCursor* cursor);

}  // namespace keygate::storage

#endif  // KEYGATE_LIB_STORAGE_EVENT_RECORD_H_

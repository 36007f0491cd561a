// lib/store/change_log.h: the primary's side of the change log: positions in
// commit order, and trimming (lib/storage/change_record.h says what a record
// is; lib/store/follower.cc applies them).
//
// Every write batch of a primary appends one change record in the same
// batch, at a position taken in commit order as lib/store/positioned_log.h
// argues (the event outbox takes its positions the same way).
//
// Trimming: a record is deleted, in a later batch of the primary, once it
// is both older than `retention` and more than `min_records` behind the
// newest (whichever keeps more). At most kMaxTrimPerBatch records are
// trimmed per batch, so trimming never makes one write slow, and the log
// still shrinks faster than it grows (one record per write) once old
// records exist.
//
// Costs: 16 bytes of memory per retained record (positions and times, read
// at open), O(1) per write.
//
// Thread safety: none of its own; the store calls it under write_mu_.
#ifndef KEYGATE_LIB_STORE_CHANGE_LOG_H_
#define KEYGATE_LIB_STORE_CHANGE_LOG_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "lib/storage/change_record.h"
#include "lib/storage/tables.h"
#include "lib/store/positioned_log.h"

namespace keygate::store {

class ChangeLog {
 public:
  // At most this many records are trimmed by one batch.
  static constexpr size_t kMaxTrimPerBatch = 4;

  // `min_records` below 1 counts as 1.
  ChangeLog(absl::Duration retention, uint64_t min_records);

  // Load reads the positions and times of the retained records (open).
  // DataLoss for a corrupt record; positions must increase.
  absl::Status Load(const storage::Tables& tables);

  // last_position is the position of the newest committed record, 0 if the
  // log is empty (a new store, or one written before the log existed).
  uint64_t last_position() const { return log_.last_position(); }

  // Appended says what Append added to a batch, for Committed.
  using Appended = PositionedLog::Appended;

  // Append adds `change` (its written_at is the commit's time) at the next
  // position to `batch`, and the deletion of the records it trims. Changes
  // nothing in memory: call Committed once the batch is durable.
  Appended Append(const storage::Tables& tables, storage::Batch& batch,
                  const storage::ChangeRecord& change) const;
  // Committed records that the batch of `appended` is durable.
  void Committed(const Appended& appended);
  // Applied records a record another process committed (a fleet on
  // PostgreSQL, lib/store/follower.cc), oldest first, so that the next
  // Append takes the position after it and trimming counts it. A position
  // at or before last_position() is known already (a Load read it): OK,
  // nothing changes.
  absl::Status Applied(uint64_t position, absl::Time written_at) {
    if (position <= log_.last_position()) return absl::OkStatus();
    return log_.Restore(position, written_at);
  }

 private:
  const absl::Duration retention_;
  const uint64_t min_records_;
  PositionedLog log_;
};

}  // namespace keygate::store

#endif  // KEYGATE_LIB_STORE_CHANGE_LOG_H_

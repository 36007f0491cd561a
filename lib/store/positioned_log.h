// lib/store/positioned_log.h: positions in commit order for a log the
// primary appends to in its write batches, and the (position, time) of the
// records it retains, for trimming. Shared by the change log
// (lib/store/change_log.h) and the event outbox (lib/store/event_outbox.h).
//
// The ordering argument: writers are serialized by the store's write_mu_,
// and the store plans the positions of a batch's records with Plan and
// publishes them with Committed under that lock, around the batch's commit.
// So positions are dense and in commit order, and a reader that has seen
// position p has seen every batch up to p (the trap of "sequence assigned
// at insert, committed later" cannot happen with one writer at a time). A
// batch that fails to commit is never Committed: its positions are planned
// again by the next batch, and nothing it would have recorded exists.
//
// Costs: 16 bytes of memory per retained record, O(1) per record appended.
//
// Thread safety: none of its own; the store calls it under write_mu_.
#ifndef KEYGATE_LIB_STORE_POSITIONED_LOG_H_
#define KEYGATE_LIB_STORE_POSITIONED_LOG_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <utility>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace keygate::store {

class PositionedLog {
 public:
  // Clear forgets every record and the position (before a Load).
  void Clear();
  // Restore adds a retained record read at open, oldest first. DataLoss if
  // its position is not after last_position().
  absl::Status Restore(uint64_t position, absl::Time written_at);
  // RaiseLastPosition makes last_position() at least `position` (a newest
  // position stored apart from the records, which may all be trimmed).
  void RaiseLastPosition(uint64_t position);

  // last_position is the newest committed position, 0 if none.
  uint64_t last_position() const { return last_position_; }
  // retained_count and the i-th oldest retained record's position and time.
  size_t retained_count() const { return retained_.size(); }
  uint64_t position_at(size_t i) const { return retained_[i].first; }
  absl::Time time_at(size_t i) const { return retained_[i].second; }

  // Appended says what one batch adds and trims, for Committed: records at
  // positions first_position .. first_position + count - 1, all written at
  // written_at, and the `trimmed` oldest retained records deleted.
  struct Appended {
    uint64_t first_position = 0;
    size_t count = 0;
    absl::Time written_at;
    size_t trimmed = 0;
    uint64_t last_position() const { return first_position + count - 1; }
  };
  // Plan returns the positions of `count` new records of the next batch
  // (trimmed 0: the caller decides). Changes nothing.
  Appended Plan(size_t count, absl::Time written_at) const;
  // Committed records that the batch of `appended` is durable.
  void Committed(const Appended& appended);

 private:
  // (position, written_at) of every retained record, oldest first.
  std::deque<std::pair<uint64_t, absl::Time>> retained_;
  uint64_t last_position_ = 0;
};

}  // namespace keygate::store

#endif  // KEYGATE_LIB_STORE_POSITIONED_LOG_H_

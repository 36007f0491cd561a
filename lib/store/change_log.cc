// lib/store/change_log.cc: change-log positions and trimming on a primary.
#include "lib/store/change_log.h"

#include <algorithm>

namespace keygate::store {

ChangeLog::ChangeLog(absl::Duration retention, uint64_t min_records)
    : retention_(retention), min_records_(std::max<uint64_t>(min_records, 1)) {}

absl::Status ChangeLog::Load(const storage::Tables& tables) {
  retained_.clear();
  last_position_ = 0;
  return tables.ScanChanges(
      0,
      [&](uint64_t position, const storage::ChangeRecord& change)
          -> absl::StatusOr<storage::ScanControl> {
        if (position <= last_position_) {
          return absl::DataLossError("change log positions out of order");
        }
        retained_.emplace_back(position, change.written_at);
        last_position_ = position;
        return storage::ScanControl::kContinue;
      });
}

ChangeLog::Appended ChangeLog::Append(
    const storage::Tables& tables, storage::Batch& batch,
    const storage::ChangeRecord& change) const {
  Appended appended;
  appended.position = last_position_ + 1;
  appended.written_at = change.written_at;
  tables.PutChange(batch, appended.position, change);
  const absl::Time cutoff = change.written_at - retention_;
  // After this batch the log holds retained_.size() + 1 records.
  while (appended.trimmed < kMaxTrimPerBatch &&
         appended.trimmed < retained_.size() &&
         retained_.size() + 1 - appended.trimmed > min_records_ &&
         retained_[appended.trimmed].second < cutoff) {
    tables.DeleteChange(batch, retained_[appended.trimmed].first);
    ++appended.trimmed;
  }
  return appended;
}

void ChangeLog::Committed(const Appended& appended) {
  for (size_t i = 0; i < appended.trimmed; ++i) retained_.pop_front();
  retained_.emplace_back(appended.position, appended.written_at);
  last_position_ = appended.position;
}

}  // namespace keygate::store

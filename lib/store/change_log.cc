// lib/store/change_log.cc: change-log positions and trimming on a primary.
#include "lib/store/change_log.h"

#include <algorithm>

namespace keygate::store {

ChangeLog::ChangeLog(absl::Duration retention, uint64_t min_records)
    : retention_(retention), min_records_(std::max<uint64_t>(min_records, 1)) {}

absl::Status ChangeLog::Load(const storage::Tables& tables) {
  log_.Clear();
  return tables.ScanChanges(
      0,
      [&](uint64_t position, const storage::ChangeRecord& change)
          -> absl::StatusOr<storage::ScanControl> {
        if (absl::Status s = log_.Restore(position, change.written_at);
            !s.ok()) {
          return s;
        }
        return storage::ScanControl::kContinue;
      });
}

ChangeLog::Appended ChangeLog::Append(
    const storage::Tables& tables, storage::Batch& batch,
    const storage::ChangeRecord& change) const {
  Appended appended = log_.Plan(1, change.written_at);
  tables.PutChange(batch, appended.first_position, change);
  const absl::Time cutoff = change.written_at - retention_;
  const size_t retained = log_.retained_count();
  // After this batch the log holds retained + 1 records.
  while (appended.trimmed < kMaxTrimPerBatch && appended.trimmed < retained &&
         retained + 1 - appended.trimmed > min_records_ &&
         log_.time_at(appended.trimmed) < cutoff) {
    tables.DeleteChange(batch, log_.position_at(appended.trimmed));
    ++appended.trimmed;
  }
  return appended;
}

void ChangeLog::Committed(const Appended& appended) {
  log_.Committed(appended);
}

}  // namespace keygate::store

// lib/store/positioned_log.cc: positions in commit order and retained
// records of a primary's logs.
#include "lib/store/positioned_log.h"

#include <algorithm>

namespace keygate::store {

void PositionedLog::Clear() {
  retained_.clear();
  last_position_ = 0;
}

absl::Status PositionedLog::Restore(uint64_t position, absl::Time written_at) {
  if (position <= last_position_) {
    return absl::DataLossError("log positions out of order");
  }
  retained_.emplace_back(position, written_at);
  last_position_ = position;
  return absl::OkStatus();
}

void PositionedLog::RaiseLastPosition(uint64_t position) {
  last_position_ = std::max(last_position_, position);
}

PositionedLog::Appended PositionedLog::Plan(size_t count,
                                            absl::Time written_at) const {
  Appended appended;
  appended.first_position = last_position_ + 1;
  appended.count = count;
  appended.written_at = written_at;
  return appended;
}

void PositionedLog::Committed(const Appended& appended) {
  for (size_t i = 0; i < appended.trimmed && !retained_.empty(); ++i) {
    retained_.pop_front();
  }
  for (size_t i = 0; i < appended.count; ++i) {
    retained_.emplace_back(appended.first_position + i, appended.written_at);
  }
  if (appended.count > 0) {
    last_position_ = std::max(last_position_, appended.last_position());
  }
}

}  // namespace keygate::store

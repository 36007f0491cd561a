// lib/store/last_used.cc: loading the stored last-used times at open and
// flushing the ones Verify changed (lib/store/last_used_table.h).
#include "lib/store/last_used.h"

#include <utility>
#include <vector>

#include "lib/storage/keys.h"
#include "lib/store/store_impl.h"

namespace keygate::store {

absl::Status StoreImpl::LoadLastUsed() {
  return tables_->ScanLastUsed([&](uint64_t key, absl::Time last_used)
                                   ABSL_NO_THREAD_SAFETY_ANALYSIS {
                                     last_used_.Load(key, last_used);
                                     return storage::ScanControl::kContinue;
                                   });
}

absl::Status StoreImpl::FlushLastUsed() {
  WriteGuard guard(this);
  if (!guard.status().ok()) return guard.status();
  RetireEndedGraces();  // the same periodic tick, under write_mu_
  return WriteLastUsed();
}

absl::Status StoreImpl::WriteLastUsed() {
  // Under write_mu_: a token revoked, purged or deleted is so before or
  // after this whole flush. Purged and deleted ones are no longer in the
  // table, so no record of theirs is written again; and only the
  // last-used range is written, never a token record.
  const std::vector<LastUsedTable::Pending> pending =
      last_used_.CollectPending();
  if (pending.empty()) return absl::OkStatus();
  storage::Batch batch;
  for (const LastUsedTable::Pending& p : pending) {
    tables_->PutLastUsed(batch, p.key, p.last_used);
  }
  if (absl::Status s = CommitUnlogged(batch); !s.ok()) return s;
  last_used_.MarkFlushed(pending);
  last_used_records_written_.fetch_add(pending.size(),
                                       std::memory_order_relaxed);
  return absl::OkStatus();
}

void StoreImpl::StartLastUsedFlusher() {
  if (options_.last_used_flush_interval <= absl::ZeroDuration()) return;
  flusher_ = std::make_unique<LastUsedFlusher>(
      options_.last_used_flush_interval,
      // A failed flush keeps its times pending for the next one.
      [this] { (void)FlushLastUsed(); });
}

namespace internal {

absl::Status FlushLastUsed(Store& store) {
  return static_cast<StoreImpl&>(store).FlushLastUsed();
}

uint64_t LastUsedRecordsWritten(const Store& store) {
  return static_cast<const StoreImpl&>(store).last_used_records_written();
}

}  // namespace internal

}  // namespace keygate::store

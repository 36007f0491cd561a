// lib/store/store_impl.cc: the store's guards, Close, clock and the
// statuses its files share (the calls themselves are in open.cc,
// accounts.cc, tokens.cc and verify.cc).
#include "lib/store/store_impl.h"

#include <filesystem>
#include <system_error>
#include <utility>

#include "lib/storage/keys.h"

namespace keygate {

absl::StatusOr<std::unique_ptr<Store>> Store::Open(Options options) {
  return store::StoreImpl::Open(std::move(options));
}

namespace store {

absl::Status StoreClosedError() {
  return absl::FailedPreconditionError("the keygate store is closed");
}
absl::Status AccountNotFoundError() {
  return absl::NotFoundError("service account not found");
}
absl::Status TokenNotFoundError() {
  return absl::NotFoundError("token not found");
}

absl::Status FollowerReadOnlyError() {
  return absl::FailedPreconditionError("store opened as a follower: read-only");
}

absl::Time StoredTime(absl::Time t) {
  return storage::DecodeTime(storage::EncodeTime(t));
}

StoreImpl::WriteGuard::WriteGuard(StoreImpl* store) : store_(store) {
  store_->write_mu_.Lock();
  store_->db_mu_.ReaderLock();
  if (store_->tables_ == nullptr) {
    status_ = StoreClosedError();
  } else if (store_->follower_) {
    status_ = FollowerReadOnlyError();
  } else if (store_->fleet_ != nullptr) {
    // A fleet: no other process writes until the destructor, and this one
    // first applies what they committed, so its checks see every write.
    status_ = store_->fleet_->LockWrites();
    if (status_.ok()) {
      fleet_locked_ = true;
      status_ = store_->SyncWithFleet();
    }
  }
}

StoreImpl::WriteGuard::~WriteGuard() {
  if (fleet_locked_ && store_->fleet_ != nullptr) {
    store_->fleet_->UnlockWrites();
  }
  store_->db_mu_.ReaderUnlock();
  store_->write_mu_.Unlock();
  if (await_position_ != 0 && store_->lease_ != nullptr) {
    // Always OK once committed, even after a concurrent Close left the
    // fleet: the guarantee holds when it returns.
    (void)store_->lease_->WaitForFleet(await_position_);
  }
}

StoreImpl::ReadGuard::ReadGuard(const StoreImpl* store) : store_(store) {
  store_->db_mu_.ReaderLock();
  if (store_->tables_ == nullptr) status_ = StoreClosedError();
}

StoreImpl::ReadGuard::~ReadGuard() { store_->db_mu_.ReaderUnlock(); }

StoreImpl::StoreImpl(Options options, std::unique_ptr<storage::Tables> tables,
                     std::unique_ptr<crypto::TokenDigester> digester,
                     std::shared_ptr<const scope::ScopeCatalog> catalog,
                     std::string owned_follower_directory)
    : options_(std::move(options)),
      follower_(options_.role == StoreRole::kFollower),
      clock_(options_.clock != nullptr ? options_.clock : SystemClock()),
      codec_(options_.token_prefix),
      digester_(std::move(digester)),
      catalog_(std::move(catalog)),
      tables_(std::move(tables)),
      last_used_(LastUsedGranularity(options_.last_used_flush_interval)),
      change_log_(options_.change_log_retention,
                  options_.change_log_min_records),
      events_(options_.event_retention),
      owned_follower_directory_(std::move(owned_follower_directory)) {}

StoreImpl::~StoreImpl() { (void)Close(); }

absl::Status StoreImpl::Close() {
  // Before the locks: a flush in progress holds them.
  if (flusher_ != nullptr) flusher_->Stop();
  if (catch_up_thread_ != nullptr) catch_up_thread_->Stop();
  if (fleet_listener_ != nullptr) fleet_listener_->Stop();
  // Leaving drops the lease first (every Verify refuses from here on) and
  // deletes this process's row, so no revoke of the fleet waits for it.
  if (lease_ != nullptr) (void)lease_->Leave();
  absl::MutexLock write_lock(&write_mu_);
  absl::MutexLock db_lock(&db_mu_);
  closed_.store(true, std::memory_order_release);
  if (tables_ == nullptr) return absl::OkStatus();
  // A follower writes nothing, its last-used times included.
  absl::Status status = follower_ ? absl::OkStatus() : WriteLastUsed();
  status.Update(tables_->Close());
  tables_.reset();
  fleet_ = nullptr;
  if (!owned_follower_directory_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(owned_follower_directory_, ec);
  }
  return status;
}

std::string_view StoreImpl::token_prefix() const {
  return options_.token_prefix;
}

absl::Time StoreImpl::Now() const { return StoredTime(clock_->Now()); }

absl::Status StoreImpl::Commit(storage::Batch& batch,
                              storage::ChangeRecord change,
                              std::vector<Event> events) {
  change.written_at = Now();
  if (!options_.record_events) events.clear();
  const ChangeLog::Appended appended =
      change_log_.Append(*tables_, batch, change);
  // With no event and none retained this adds nothing to the batch.
  const EventOutbox::Appended appended_events =
      events_.Append(*tables_, batch, events, change.written_at);
  if (absl::Status s = tables_->Write(batch, options_.sync_writes); !s.ok()) {
    return s;
  }
  change_log_.Committed(appended);
  events_.Committed(appended_events);
  // Nothing of this store's own to apply again (a fleet catches up from
  // here; a follower never commits).
  applied_position_ = change_log_.last_position();
  SetChangePosition(applied_position_);
  return absl::OkStatus();
}

absl::Status StoreImpl::CommitUnlogged(storage::Batch& batch) {
  return tables_->Write(batch, options_.sync_writes);
}

absl::StatusOr<ServiceAccount> StoreImpl::ReadAccount(
    std::string_view organization, std::string_view slug) const {
  absl::StatusOr<std::optional<ServiceAccount>> account =
      tables_->ReadAccount(organization, slug);
  if (!account.ok()) return account.status();
  if (!account->has_value()) return AccountNotFoundError();
  return **std::move(account);
}

}  // namespace store
}  // namespace keygate

// lib/store/last_used_flusher.cc: the periodic last-used flush thread.
#include "lib/store/last_used_flusher.h"

#include <utility>

#include "absl/time/clock.h"

namespace keygate::store {

LastUsedFlusher::LastUsedFlusher(absl::Duration interval,
                                 std::function<void()> flush)
    : interval_(interval), flush_(std::move(flush)) {
  thread_ = std::thread([this] { Run(); });
}

LastUsedFlusher::~LastUsedFlusher() { Stop(); }

void LastUsedFlusher::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  absl::MutexLock join_lock(&join_mu_);
  if (thread_.joinable()) thread_.join();
}

void LastUsedFlusher::Run() {
  absl::Time next = absl::Now() + interval_;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithDeadline(absl::Condition(&stopping_), next);
      if (stopping_) return;
    }
    flush_();
    next = absl::Now() + interval_;
  }
}

}  // namespace keygate::store

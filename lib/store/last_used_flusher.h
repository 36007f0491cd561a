// lib/store/last_used_flusher.h: the background thread that writes a
// store's last-used times at a fixed interval.
#ifndef KEYGATE_LIB_STORE_LAST_USED_FLUSHER_H_
#define KEYGATE_LIB_STORE_LAST_USED_FLUSHER_H_

#include <functional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace keygate::store {

// LastUsedFlusher calls `flush` every `interval` (real time) on a thread of
// its own until Stop. The flush's status is the flush's business (the store
// keeps what is pending for the next round). Stop is idempotent and safe to
// call from any thread but the flusher's own; the destructor stops.
class LastUsedFlusher {
 public:
  // Starts the thread. REQUIRES: interval > 0.
  LastUsedFlusher(absl::Duration interval, std::function<void()> flush);
  ~LastUsedFlusher();
  LastUsedFlusher(const LastUsedFlusher&) = delete;
  LastUsedFlusher& operator=(const LastUsedFlusher&) = delete;

  // Stop wakes the thread, waits for a flush in progress to end and joins
  // the thread; no flush starts afterwards.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Run() ABSL_LOCKS_EXCLUDED(mu_);

  const absl::Duration interval_;
  const std::function<void()> flush_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Mutex join_mu_ ABSL_ACQUIRED_AFTER(mu_);
  std::thread thread_;
};

}  // namespace keygate::store

#endif  // KEYGATE_LIB_STORE_LAST_USED_FLUSHER_H_

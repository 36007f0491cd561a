// lib/store/last_used_table.h: each token's last-used time, in memory, kept
// by Verify without a shared write per call.
#ifndef KEYGATE_LIB_STORE_LAST_USED_TABLE_H_
#define KEYGATE_LIB_STORE_LAST_USED_TABLE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "lib/base/digest.h"

namespace keygate::store {

// LastUsedGranularity is how far a token's in-memory last-used time may lag
// its latest verify for a store flushing every `flush_interval`: a sixtieth
// of it, at least one second (a whole second is what storage keeps).
absl::Duration LastUsedGranularity(absl::Duration flush_interval);

// LastUsedTable maps the tokens of a store (by storage::LastUsedKey, the
// first 8 bytes of the digest) to the whole second they last verified, and
// remembers which of those times storage already holds.
//
// Touch (the verify hot path) takes no lock, allocates nothing and writes
// shared memory at most once per token per `granularity`: it reads the
// token's slot, and stores the new second (relaxed) only when the slot is
// `granularity` or more behind. A hot token's slot is therefore read-shared
// between cores instead of bouncing between them on every verify.
//
// Slots live in an open-addressed table of 16-byte slots (8-byte key, the
// second as a uint32 of Unix time, the second storage holds), linear
// probing, at most 70% full counting erased slots. Writers (Add, Erase,
// Load, the flush) are serialized by an internal mutex. Growth and clean-up
// build a new table, publish it with one release store, and free the old
// one only after every reader that could hold it has finished (the index's
// GracePeriod), after carrying over what a Touch racing the swap stored in
// the old table. An erased slot is never reused in place, so a slow Touch can never stamp
// another token.
//
// Thread safety: every member is safe for concurrent use without external
// synchronization.
class LastUsedTable {
 public:
  // `granularity`: how far a token's time may lag its latest verify (at
  // least one second).
  explicit LastUsedTable(absl::Duration granularity);
  ~LastUsedTable();
  LastUsedTable(const LastUsedTable&) = delete;
  LastUsedTable& operator=(const LastUsedTable&) = delete;

  // Touch records that the token of `digest` verified at `now`. No effect
  // for a token the table does not hold. Lock-free, allocation-free.
  void Touch(const Digest& digest, absl::Time now) const noexcept;

  // Prefetch starts loading the slot where Touch of `digest` looks first
  // (a hint: reads the current table inside a GracePeriod::ReadSection,
  // cheap when nested in the caller's; changes nothing, never faults).
  // Lock-free, allocation-free.
  void Prefetch(const Digest& digest) const noexcept;

  // Add starts tracking the token of `digest` (no time yet); no effect if
  // it is tracked already.
  void Add(const Digest& digest) ABSL_LOCKS_EXCLUDED(mu_);

  // Erase stops tracking every token of `digests` (deleted or purged): their
  // times are forgotten and never flushed again.
  void Erase(const std::vector<Digest>& digests) ABSL_LOCKS_EXCLUDED(mu_);

  // Load sets the time storage holds for the token of `key` (at open), both
  // as its last-used time and as already flushed; ignored for a key not
  // tracked (a record left by a token that is gone).
  void Load(uint64_t key, absl::Time last_used) ABSL_LOCKS_EXCLUDED(mu_);

  // Get returns the token's last-used time, or nullopt if it never
  // verified (or is not tracked).
  std::optional<absl::Time> Get(const Digest& digest) const noexcept;

  // Pending is one time not yet in storage.
  struct Pending {
    uint64_t key;
    absl::Time last_used;
  };
  // CollectPending returns the tracked tokens whose time changed since it
  // was last flushed. The caller writes them, then calls MarkFlushed with
  // the same list (a Touch in between leaves its token pending again).
  std::vector<Pending> CollectPending() const ABSL_LOCKS_EXCLUDED(mu_);
  void MarkFlushed(const std::vector<Pending>& flushed)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Reserve sizes the table for `n` tracked tokens in one rebuild (bulk
  // loads); no effect if it is that large already.
  void Reserve(size_t n) ABSL_LOCKS_EXCLUDED(mu_);

  // size is the number of tracked tokens.
  size_t size() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Slot {
    std::atomic<uint64_t> key{0};       // 0 empty, kErased, else a key
    std::atomic<uint32_t> seconds{0};   // Unix seconds; 0 = never
    uint32_t flushed = 0;               // what storage holds; under mu_
  };
  // Table is one slot array, huge-page-backed when large (index::
  // AllocateHugePageBacked): a probe at 1M tokens then costs no TLB miss.
  struct Table {
    explicit Table(size_t capacity);
    ~Table();
    Table(const Table&) = delete;
    Table& operator=(const Table&) = delete;
    const size_t mask;
    Slot* const slots;
  };
  static constexpr uint64_t kErased = ~uint64_t{0};

  // FindSlot returns the slot of `key` in `table`, or null.
  static Slot* FindSlot(const Table& table, uint64_t key) noexcept;
  // Rebuild moves every live slot into a new table sized for `live` tokens
  // and frees the old one after a grace period. REQUIRES: mu_ held.
  void Rebuild(size_t live) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const uint32_t granularity_seconds_;
  std::atomic<Table*> table_;
  mutable absl::Mutex mu_;
  size_t live_ ABSL_GUARDED_BY(mu_) = 0;
  size_t used_ ABSL_GUARDED_BY(mu_) = 0;  // live + erased slots
};

}  // namespace keygate::store

#endif  // KEYGATE_LIB_STORE_LAST_USED_TABLE_H_

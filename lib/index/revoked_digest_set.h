// lib/index/revoked_digest_set.h: the digests of revoked tokens, probed in
// constant work so that Verify's timing does not tell revoked from unknown.
#ifndef KEYGATE_LIB_INDEX_REVOKED_DIGEST_SET_H_
#define KEYGATE_LIB_INDEX_REVOKED_DIGEST_SET_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "lib/base/digest.h"

namespace keygate::index {

// RevokedDigestSet holds the digests of the stored revoked tokens (until
// they are purged); the VerifyIndex holds the others. Verify asks it on
// every miss of the index, so a revoked token and an unknown one cost the
// same: an absent probe of the index and one Contains here.
//
// Layout: buckets of kSlotsPerBucket full 32-byte digests (256 bytes, four
// cache lines); a digest may sit in either of its two buckets (from digest
// bytes 0-7 and 16-23, uniform: the digest is a keyed PRF output), inserted
// into the emptier one. An empty slot is all zero. The table grows (a
// rehash) when it is over half full or both buckets of a new digest are
// full, and shrinks when under an eighth full: about 64 bytes of slots per
// revoked token at the grown size.
//
// Constant work. Contains reads every word of both buckets (2 *
// kSlotsPerBucket slots, whether or not the buckets are the same or the
// digest is present), compares each slot with the digest by OR-ing the XORs
// of its four words, and folds the results with bitwise operations: no
// branch and no memory access depends on the digest's presence or on
// where it sits. The one thing that varies is which two buckets are read,
// which depends only on the digest itself (the same for every probe of it).
//
// Concurrency: as VerifyIndex. Contains takes no lock, writes nothing
// shared and allocates nothing (after the thread's first GracePeriod
// section); it runs in a GracePeriod::ReadSection and loads the table with
// acquire. Writers are serialized by an internal mutex:
//  - Insert writes words 1-3 of a free slot, then word 0 with release: a
//    reader that sees word 0 sees the whole digest;
//  - Erase zeroes word 0 (release) and the rest, then waits for a grace
//    period before returning, so a slot never changes from one digest to
//    another under a reader that could still see the first;
//  - a rehash builds a new table, publishes it with one pointer store,
//    waits for a grace period and frees the old one (readers still in it
//    answer exactly: writers are serialized).
// Hence a Contains that starts after Insert or Erase returned sees it.
class RevokedDigestSet {
 public:
  static constexpr size_t kSlotsPerBucket = 8;
  // kSlotsPerProbe is how many slots every Contains reads and compares.
  static constexpr size_t kSlotsPerProbe = 2 * kSlotsPerBucket;

  // ProbeCounts counts what probes did (tests: ContainsCounting).
  struct ProbeCounts {
    uint64_t word_reads = 0;
    uint64_t slot_compares = 0;
  };

  RevokedDigestSet();
  ~RevokedDigestSet();
  RevokedDigestSet(const RevokedDigestSet&) = delete;
  RevokedDigestSet& operator=(const RevokedDigestSet&) = delete;

  // Contains reports whether `digest` is in the set, in constant work (see
  // the class comment). Lock-free and allocation-free. The all-zero digest
  // (the empty-slot marker; a PRF output with probability 2^-256) is never
  // in the set.
  bool Contains(const Digest& digest) const noexcept;

  // ContainsCounting is Contains (the same code) adding to `counts` the
  // words it read and the slots it compared (tests).
  bool ContainsCounting(const Digest& digest, ProbeCounts* counts) const
      noexcept;

  // Insert adds `digest` (no effect if present or all zero). May rehash
  // (then waits for a grace period). Throws std::bad_alloc only when out of
  // memory, like VerifyIndex.
  void Insert(const Digest& digest) ABSL_LOCKS_EXCLUDED(mu_);

  // Erase removes every digest of `digests` that is present; a Contains
  // that starts after this misses them. Waits for one grace period if any
  // was present.
  void Erase(const std::vector<Digest>& digests) ABSL_LOCKS_EXCLUDED(mu_);
  void Erase(const Digest& digest) ABSL_LOCKS_EXCLUDED(mu_) {
    Erase(std::vector<Digest>{digest});
  }

  size_t size() const ABSL_LOCKS_EXCLUDED(mu_);
  // Digests returns every digest in the set, in no order (a follower's
  // full rebuild; consistency checks). O(capacity); takes the writer mutex.
  std::vector<Digest> Digests() const ABSL_LOCKS_EXCLUDED(mu_);
  // slot_capacity returns the slot count of the current table (tests).
  size_t slot_capacity() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Table;

  template <bool kCount>
  bool Probe(const Digest& digest, ProbeCounts* counts) const noexcept;
  // Place puts `digest` into `table` if one of its buckets has a free slot;
  // false if both are full. REQUIRES: digest absent from `table`.
  static bool Place(Table& table, const Digest& digest);
  // Find returns the word offset of `digest`'s slot in `table` or SIZE_MAX.
  static size_t Find(const Table& table, const Digest& digest);
  // Rehash moves every digest (and `extra`, if not null) into a new table
  // of at least `buckets` buckets (more if a bucket overflows) and frees
  // the old one after a grace period.
  void Rehash(size_t buckets, const Digest* extra)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::atomic<Table*> table_;
  mutable absl::Mutex mu_;
  size_t size_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace keygate::index

#endif  // KEYGATE_LIB_INDEX_REVOKED_DIGEST_SET_H_

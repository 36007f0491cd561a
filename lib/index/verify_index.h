// lib/index/verify_index.h: the in-memory map from keyed digest to token
// that answers Store::Verify without touching storage.
#ifndef KEYGATE_LIB_INDEX_VERIFY_INDEX_H_
#define KEYGATE_LIB_INDEX_VERIFY_INDEX_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "lib/base/digest.h"
#include "lib/index/grant_group.h"
#include "lib/index/stable_array.h"
#include "lib/scope/scope.h"

namespace keygate::index {

// VerifyIndex holds the stored tokens that may verify. The store keeps
// revoked tokens (and rotated-out ones past their grace) in a
// RevokedDigestSet instead (lib/index/revoked_digest_set.h), which it probes
// on every miss here: a hit costs the same as ever, and revoked and unknown
// tokens both cost one absent probe here plus one constant-work probe there,
// so Verify's timing does not tell them apart (a present digest ends its
// probe at its slot, an absent one walks to an empty slot: the store must
// not keep a digest here whose failure it wants to hide). The store keeps
// it exact: every write updates it after the write is durable and before
// the write returns. The revoked flag remains (Put, TokenEntry::revoked)
// for other users; the store always puts tokens unrevoked.
//
// Layout (~55 bytes per token at 1M with short slugs, see BENCHMARKS.md):
//  - a table of 4-byte slots, open addressing with linear probing, at most
//    70% full: an 8-bit tag (digest byte 8) and a 24-bit record number; the
//    home slot comes from digest bytes 0-7 (the digest is a keyed PRF
//    output, so these are uniform);
//  - 48-byte records (the full digest, compared in constant time; one
//    atomic word with the group number and the revoked flag; the slug
//    inline if it has at most 11 bytes and the token no expiry, else the
//    offset of its slug entry) in chunks that never move: a hit on such a
//    token touches one slot and one record;
//  - other slugs, with the expiry, in a byte arena of entries
//    [header][expiry, if any][slug bytes]; everything tokens share
//    (organization, account, scopes, the account's state) interned in
//    GrantGroups.
//
// Concurrency. Find and Contains take no lock, do no read-modify-write of a
// shared cache line and allocate nothing (after the calling thread's first
// call): they run inside a GracePeriod::ReadSection, load the current table
// with acquire, and read slots, records and groups that writers published
// with release stores. Writers are serialized by an internal mutex and
// never make a reader wait:
//  - insert fills a free record, then publishes its slot with one 4-byte
//    release store (a reader sees the whole token or none of it);
//  - revoke flips the record's state word with one release store;
//  - erase deletes by backward shift (no tombstones: the table is left as
//    if the digest had never been there, so its later misses walk like an
//    unknown digest's): later slots of the cluster move back into the hole,
//    each copied before its old place is overwritten, so a reader finds a
//    moved slot in one place or the other; the table's erase sequence word
//    is odd meanwhile, and a Find that misses re-probes if that word was
//    odd or changed during its walk (a hit needs no check). It then waits
//    for a grace period (every read section that could have seen the old
//    slot has ended) before the record and slug are reused: a reader never
//    sees a record change under it;
//  - a rehash builds a new table beside the old one, publishes it with one
//    pointer store, waits for a grace period, then frees the old table;
//    readers keep probing the old table meanwhile, which is exact too
//    (writers are serialized, so no write lands in between).
// Hence a Find that starts after a write returned sees that write, and no
// Find ever sees a torn or recycled entry. Groups are never freed before the
// index, so Principals may point at them.
//
// Limits: kMaxTokens tokens (Put fails with ResourceExhausted beyond).
class VerifyIndex {
 public:
  static constexpr size_t kMaxTokens = (size_t{1} << 24) - 2;

  VerifyIndex();
  ~VerifyIndex();
  VerifyIndex(const VerifyIndex&) = delete;
  VerifyIndex& operator=(const VerifyIndex&) = delete;

  // Find copies the entry of `digest` to `out` and returns true, or returns
  // false (leaving `out` unspecified) if absent. Lock-free and
  // allocation-free; one probe sequence (a miss repeats it only if an Erase
  // moved slots meanwhile); the digest is compared in constant time.
  bool Find(const Digest& digest, TokenEntry* out) const noexcept;

  // Prefetch starts loading the home slot of `digest` (a hint for a Find
  // that follows: reads the current table inside a GracePeriod::ReadSection,
  // cheap when nested in the caller's; changes nothing, never faults).
  // Lock-free, allocation-free.
  void Prefetch(const Digest& digest) const noexcept;

  // Contains reports whether `digest` is present. Like Find.
  bool Contains(const Digest& digest) const noexcept;

  // InternGroup returns the number of the group with these fields, making
  // it if new. `catalog` must outlive the index; `scopes` sorted and
  // normalized. Never fails below 2^30 groups. Writers only (takes the
  // writer mutex).
  uint32_t InternGroup(std::string_view organization,
                       std::string_view service_account,
                       const std::vector<std::string>& scopes,
                       const scope::ScopeCatalog* catalog,
                       std::shared_ptr<AccountState> account)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Put inserts `digest`, or updates its group, revoked and rotated flags
  // if present (a token's slug never changes). `rotated` says `expires_at`
  // is a rotation's grace end (TokenEntry::rotated). An expiry that changes
  // (a rotation shortens it to the grace end) replaces the record: the new
  // one is published with one slot store, so a concurrent Find sees the old
  // entry or the new one whole, and the old record is reused only after a
  // grace period (Put then waits for one). `group` comes from InternGroup;
  // `slug` is at most kMaxSlugSize bytes. Fails with ResourceExhausted
  // (changing nothing) past kMaxTokens (an expiry change needs a second
  // record, so it fails at exactly kMaxTokens with no record free),
  // InvalidArgument for a bad group or slug.
  absl::Status Put(const Digest& digest, uint32_t group, bool revoked,
                   std::optional<absl::Time> expires_at, std::string_view slug,
                   bool rotated = false) ABSL_LOCKS_EXCLUDED(mu_);

  // Erase removes every digest of `digests` that is present (backward
  // shift, no tombstones); a Find that starts after this returns misses
  // them. Waits for one grace period; shrinks the table below 1/8 full.
  void Erase(const std::vector<Digest>& digests) ABSL_LOCKS_EXCLUDED(mu_);
  void Erase(const Digest& digest) ABSL_LOCKS_EXCLUDED(mu_) {
    Erase(std::vector<Digest>{digest});
  }

  // Reserve sizes the table for `n` tokens in one rehash (bulk loads).
  void Reserve(size_t n) ABSL_LOCKS_EXCLUDED(mu_);

  // HasRoomFor reports whether `n` more tokens fit (below kMaxTokens).
  bool HasRoomFor(size_t n) const ABSL_LOCKS_EXCLUDED(mu_);

  size_t size() const ABSL_LOCKS_EXCLUDED(mu_);
  // Digests returns the digest of every token present, in no order (a
  // follower's full rebuild finds what storage no longer holds). Writers
  // only (takes the writer mutex); O(table capacity).
  std::vector<Digest> Digests() const ABSL_LOCKS_EXCLUDED(mu_);
  // table_capacity returns the slot count of the current table (tests).
  size_t table_capacity() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Table;
  struct Record;

  // Slot values: low 24 bits a record number + 1, 0 = empty, kTombstone =
  // erased (no longer written: Erase shifts slots back; still skipped by
  // readers and reused by Put); high 8 bits the tag.
  static constexpr uint32_t kRefMask = 0x00FFFFFF;
  static constexpr uint32_t kTombstone = kRefMask;

  // Locate finds the slot of `digest` in `table` (or SIZE_MAX) and the
  // first reusable slot of its probe sequence. REQUIRES: mu_ held.
  void Locate(const Table& table, const Digest& digest, size_t* found,
              size_t* free_slot) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Rehash moves every live slot into a new table of `capacity` slots and
  // frees the old one after a grace period.
  void Rehash(size_t capacity) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // AllocateSlug stores the slug entry of a new record (slug, and expiry
  // if any) and returns its offset in slugs_.
  uint32_t AllocateSlug(std::string_view slug,
                        std::optional<absl::Time> expires_at)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // NewRecord takes a free record number and fills the record (not yet
  // reachable by readers).
  uint32_t NewRecord(const Digest& digest, uint32_t state,
                     std::optional<absl::Time> expires_at,
                     std::string_view slug) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // RecordExpiry reads the expiry of a record.
  std::optional<absl::Time> RecordExpiry(const Record& record) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // FreeRecord returns an unreachable record (after a grace period) and its
  // slug entry for reuse.
  void FreeRecord(uint32_t number) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::atomic<Table*> table_;
  // 2^24 records in chunks of 6 MiB (three huge pages each).
  StableArray<Record, 17, 128> records_;
  StableArray<const ::keygate::internal::GrantGroup*, 12, 4096> groups_;
  StableArray<char, 20, 4096> slugs_;  // [size byte][bytes], 1 MiB chunks

  mutable absl::Mutex mu_;
  size_t live_ ABSL_GUARDED_BY(mu_) = 0;
  size_t tombstones_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t next_record_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<uint32_t> free_records_ ABSL_GUARDED_BY(mu_);
  uint32_t next_slug_ ABSL_GUARDED_BY(mu_) = 0;
  // Free slug entries by entry size (header + expiry + slug bytes).
  std::vector<uint32_t> free_slugs_[1 + 8 + kMaxSlugSize + 1]
      ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<::keygate::internal::GrantGroup>> group_owners_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, uint32_t> group_numbers_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace keygate::index

#endif  // KEYGATE_LIB_INDEX_VERIFY_INDEX_H_

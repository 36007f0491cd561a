// lib/index/revoked_digest_set.cc: the constant-work set of revoked digests.
#include "lib/index/revoked_digest_set.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <new>

#include "lib/index/grace_period.h"
#include "lib/index/huge_pages.h"

namespace keygate::index {
namespace {

constexpr size_t kWordsPerSlot = kDigestSize / sizeof(uint64_t);  // 4
constexpr size_t kWordsPerBucket =
    RevokedDigestSet::kSlotsPerBucket * kWordsPerSlot;
constexpr size_t kMinBuckets = 2;

// Words splits a digest into its four 64-bit words (byte order as stored).
void Words(const Digest& digest, uint64_t words[kWordsPerSlot]) {
  std::memcpy(words, digest.data(), kDigestSize);
}

// BucketOf scales the 64-bit word `h` of a digest to a bucket number.
size_t BucketOf(uint64_t h, size_t buckets) {
  return static_cast<size_t>((static_cast<unsigned __int128>(h) * buckets) >>
                             64);
}

// BucketsFor is the bucket count that holds `n` digests at most half full.
size_t BucketsFor(size_t n) {
  return std::max(kMinBuckets,
                  (2 * n + RevokedDigestSet::kSlotsPerBucket - 1) /
                      RevokedDigestSet::kSlotsPerBucket);
}

}  // namespace

// Table is the bucket array: buckets * kWordsPerBucket words, zeroed.
struct RevokedDigestSet::Table {
  explicit Table(size_t n) : buckets(n), words(Allocate(n)) {}
  ~Table() { FreeHugePageBacked(words, Bytes(buckets)); }
  Table(const Table&) = delete;
  Table& operator=(const Table&) = delete;

  static size_t Bytes(size_t n) {
    return n * kWordsPerBucket * sizeof(std::atomic<uint64_t>);
  }
  static std::atomic<uint64_t>* Allocate(size_t n) {
    void* memory = AllocateHugePageBacked(Bytes(n));
    if (memory == nullptr) throw std::bad_alloc();
    auto* words = static_cast<std::atomic<uint64_t>*>(memory);
    std::uninitialized_value_construct_n(words, n * kWordsPerBucket);
    return words;
  }

  // The first word of each of `digest`'s two buckets.
  size_t First(const uint64_t q[kWordsPerSlot]) const {
    return BucketOf(q[0], buckets) * kWordsPerBucket;
  }
  size_t Second(const uint64_t q[kWordsPerSlot]) const {
    return BucketOf(q[2], buckets) * kWordsPerBucket;
  }

  const size_t buckets;
  std::atomic<uint64_t>* const words;
};

RevokedDigestSet::RevokedDigestSet() : table_(new Table(kMinBuckets)) {}

RevokedDigestSet::~RevokedDigestSet() {
  delete table_.load(std::memory_order_relaxed);
}

template <bool kCount>
bool RevokedDigestSet::Probe(const Digest& digest,
                             ProbeCounts* counts) const noexcept {
  GracePeriod::ReadSection section;
  const Table* table = table_.load(std::memory_order_acquire);
  uint64_t q[kWordsPerSlot];
  Words(digest, q);
  const std::atomic<uint64_t>* buckets[2] = {
      table->words + table->First(q), table->words + table->Second(q)};
  // `missing` is 1 until a slot equals the digest; every slot of both
  // buckets is read and compared, whatever it holds.
  uint64_t missing = 1;
  for (const std::atomic<uint64_t>* bucket : buckets) {
    for (size_t s = 0; s < kSlotsPerBucket; ++s) {
      const std::atomic<uint64_t>* slot = bucket + s * kWordsPerSlot;
      // Word 0 with acquire: the rest of a slot published with it is seen.
      uint64_t diff = slot[0].load(std::memory_order_acquire) ^ q[0];
      for (size_t w = 1; w < kWordsPerSlot; ++w) {
        diff |= slot[w].load(std::memory_order_relaxed) ^ q[w];
      }
      // 0 if diff == 0, else 1, without a branch.
      missing &= (diff | (0 - diff)) >> 63;
      if constexpr (kCount) {
        counts->word_reads += kWordsPerSlot;
        counts->slot_compares += 1;
      }
    }
  }
  // The all-zero digest matches empty slots; it is never a member.
  const uint64_t zero = q[0] | q[1] | q[2] | q[3];
  const uint64_t nonzero = (zero | (0 - zero)) >> 63;
  return ((missing ^ 1) & nonzero) != 0;
}

bool RevokedDigestSet::Contains(const Digest& digest) const noexcept {
  return Probe<false>(digest, nullptr);
}

bool RevokedDigestSet::ContainsCounting(const Digest& digest,
                                        ProbeCounts* counts) const noexcept {
  return Probe<true>(digest, counts);
}

size_t RevokedDigestSet::Find(const Table& table, const Digest& digest) {
  uint64_t q[kWordsPerSlot];
  Words(digest, q);
  for (size_t first : {table.First(q), table.Second(q)}) {
    for (size_t s = 0; s < kSlotsPerBucket; ++s) {
      const size_t at = first + s * kWordsPerSlot;
      bool equal = true;
      for (size_t w = 0; w < kWordsPerSlot; ++w) {
        equal &= table.words[at + w].load(std::memory_order_relaxed) == q[w];
      }
      if (equal) return at;
    }
  }
  return SIZE_MAX;
}

bool RevokedDigestSet::Place(Table& table, const Digest& digest) {
  uint64_t q[kWordsPerSlot];
  Words(digest, q);
  // The emptier bucket (the first on a tie); empty slots are all zero.
  size_t best = SIZE_MAX;
  size_t best_free = 0;
  for (size_t first : {table.First(q), table.Second(q)}) {
    size_t free = 0, free_at = SIZE_MAX;
    for (size_t s = 0; s < kSlotsPerBucket; ++s) {
      const size_t at = first + s * kWordsPerSlot;
      uint64_t any = 0;
      for (size_t w = 0; w < kWordsPerSlot; ++w) {
        any |= table.words[at + w].load(std::memory_order_relaxed);
      }
      if (any == 0) {
        ++free;
        if (free_at == SIZE_MAX) free_at = at;
      }
    }
    if (free > best_free) {
      best_free = free;
      best = free_at;
    }
  }
  if (best == SIZE_MAX) return false;
  for (size_t w = 1; w < kWordsPerSlot; ++w) {
    table.words[best + w].store(q[w], std::memory_order_relaxed);
  }
  table.words[best].store(q[0], std::memory_order_release);
  return true;
}

void RevokedDigestSet::Insert(const Digest& digest) {
  if (digest == Digest{}) return;
  absl::MutexLock lock(&mu_);
  Table* table = table_.load(std::memory_order_relaxed);
  if (Find(*table, digest) != SIZE_MAX) return;
  const size_t slots = table->buckets * kSlotsPerBucket;
  if (2 * (size_ + 1) > slots || !Place(*table, digest)) {
    Rehash(std::max(BucketsFor(size_ + 1), table->buckets * 2), &digest);
  }
  ++size_;
}

void RevokedDigestSet::Erase(const std::vector<Digest>& digests) {
  absl::MutexLock lock(&mu_);
  Table* table = table_.load(std::memory_order_relaxed);
  size_t erased = 0;
  for (const Digest& digest : digests) {
    if (digest == Digest{}) continue;
    const size_t at = Find(*table, digest);
    if (at == SIZE_MAX) continue;
    table->words[at].store(0, std::memory_order_release);
    for (size_t w = 1; w < kWordsPerSlot; ++w) {
      table->words[at + w].store(0, std::memory_order_relaxed);
    }
    ++erased;
  }
  if (erased == 0) return;
  size_ -= erased;
  // No reader still sees an erased digest once this returns, and the freed
  // slots can take other digests.
  GracePeriod::WaitForReaders();
  if (table->buckets > kMinBuckets &&
      8 * size_ < table->buckets * kSlotsPerBucket) {
    Rehash(BucketsFor(size_), nullptr);
  }
}

void RevokedDigestSet::Rehash(size_t buckets, const Digest* extra) {
  Table* old_table = table_.load(std::memory_order_relaxed);
  std::unique_ptr<Table> table;
  for (;; buckets *= 2) {
    table = std::make_unique<Table>(buckets);
    bool placed = extra == nullptr || Place(*table, *extra);
    const size_t words = old_table->buckets * kWordsPerBucket;
    for (size_t at = 0; placed && at < words; at += kWordsPerSlot) {
      Digest digest;
      uint64_t q[kWordsPerSlot];
      uint64_t any = 0;
      for (size_t w = 0; w < kWordsPerSlot; ++w) {
        q[w] = old_table->words[at + w].load(std::memory_order_relaxed);
        any |= q[w];
      }
      if (any == 0) continue;
      std::memcpy(digest.data(), q, kDigestSize);
      placed = Place(*table, digest);
    }
    if (placed) break;  // else a bucket overflowed: twice the buckets
  }
  table_.store(table.release(), std::memory_order_release);
  GracePeriod::WaitForReaders();
  delete old_table;
}

size_t RevokedDigestSet::size() const {
  absl::MutexLock lock(&mu_);
  return size_;
}

std::vector<Digest> RevokedDigestSet::Digests() const {
  absl::MutexLock lock(&mu_);
  const Table* table = table_.load(std::memory_order_relaxed);
  std::vector<Digest> digests;
  digests.reserve(size_);
  const size_t words = table->buckets * kWordsPerBucket;
  for (size_t at = 0; at < words; at += kWordsPerSlot) {
    uint64_t q[kWordsPerSlot];
    uint64_t any = 0;
    for (size_t w = 0; w < kWordsPerSlot; ++w) {
      q[w] = table->words[at + w].load(std::memory_order_relaxed);
      any |= q[w];
    }
    if (any == 0) continue;
    Digest digest;
    std::memcpy(digest.data(), q, kDigestSize);
    digests.push_back(digest);
  }
  return digests;
}

size_t RevokedDigestSet::slot_capacity() const {
  absl::MutexLock lock(&mu_);
  return table_.load(std::memory_order_relaxed)->buckets * kSlotsPerBucket;
}

}  // namespace keygate::index

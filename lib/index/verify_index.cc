// lib/index/verify_index.cc: the lock-free verify index.
#include "lib/index/verify_index.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <utility>

#include "absl/strings/str_cat.h"
#include "lib/crypto/token_digester.h"
#include "lib/index/grace_period.h"
#include "lib/index/huge_pages.h"

namespace keygate::index {
namespace {

// State word of a record: the group number and the revoked flag.
constexpr uint32_t kRevokedBit = uint32_t{1} << 31;
constexpr uint32_t kRotatedBit = uint32_t{1} << 30;
constexpr uint32_t kGroupMask = (uint32_t{1} << 30) - 1;

// Slug arena entry: a header byte (the slug size, kExpiresFlag if an expiry
// follows), the expiry in Unix microseconds (8 bytes, unaligned) if
// flagged, then the slug bytes. Expiring tokens pay the 8 bytes, others not.
constexpr uint8_t kExpiresFlag = 0x80;
constexpr uint8_t kSlugSizeMask = 0x7f;
static_assert(kMaxSlugSize <= kSlugSizeMask);
constexpr size_t kExpirySize = sizeof(int64_t);

// A record keeps a slug of up to kInlineSlugSize bytes of a token without
// expiry in itself (one cache miss less on a hit); others go to the arena.
constexpr size_t kInlineSlugSize = 11;
constexpr uint8_t kOutOfLine = 0xff;

// EntrySize is the arena bytes of a slug entry with header byte `header`.
size_t EntrySize(uint8_t header) {
  return 1 + ((header & kExpiresFlag) ? kExpirySize : 0) +
         (header & kSlugSizeMask);
}

constexpr size_t kMinCapacity = 16;

// The home slot: digest bytes 0-7 scaled to the capacity (no power of two
// needed, so the table can be sized to the load it is meant to have).
size_t Home(const Digest& digest, size_t capacity) {
  uint64_t h;
  std::memcpy(&h, digest.data(), sizeof h);
  return static_cast<size_t>(
      (static_cast<unsigned __int128>(h) * capacity) >> 64);
}

uint32_t Tag(const Digest& digest) { return uint32_t{digest[8]} << 24; }

// Too full: more than 70% of the slots hold a token or a tombstone.
bool OverLoaded(size_t used, size_t capacity) { return used * 10 > capacity * 7; }

}  // namespace

// Table is one open-addressing slot array (huge-page-backed when large).
struct VerifyIndex::Table {
  explicit Table(size_t n) : capacity(n), slots(AllocateSlots(n)) {}
  ~Table() { FreeHugePageBacked(slots, capacity * sizeof *slots); }
  Table(const Table&) = delete;
  Table& operator=(const Table&) = delete;

  static std::atomic<uint32_t>* AllocateSlots(size_t n) {
    void* memory = AllocateHugePageBacked(n * sizeof(std::atomic<uint32_t>));
    if (memory == nullptr) throw std::bad_alloc();
    auto* slots = static_cast<std::atomic<uint32_t>*>(memory);
    std::uninitialized_value_construct_n(slots, n);  // all empty (0)
    return slots;
  }

  const size_t capacity;
  std::atomic<uint32_t>* const slots;
  // Odd while Erase moves slots (backward-shift deletion): a Find that
  // misses re-probes if it changed meanwhile (see Find). Beside `capacity`,
  // which every Find reads anyway; written only by erases.
  std::atomic<uint64_t> erase_seq{0};
};

struct VerifyIndex::Record {
  Digest digest{};
  std::atomic<uint32_t> state{0};  // group | kRevokedBit
  // The slug size if the slug is inline (no expiry, at most
  // kInlineSlugSize bytes), else kOutOfLine and `slug` starts with the
  // offset of the slug entry in slugs_.
  uint8_t slug_size = 0;
  char slug[kInlineSlugSize] = {};
};

VerifyIndex::VerifyIndex() : table_(new Table(kMinCapacity)) {
  static_assert(sizeof(Record) == 48, "48-byte records");
}

VerifyIndex::~VerifyIndex() { delete table_.load(std::memory_order_relaxed); }

bool VerifyIndex::Find(const Digest& digest, TokenEntry* out) const noexcept {
  GracePeriod::ReadSection section;
  const Table* table = table_.load(std::memory_order_acquire);
  const uint32_t tag = Tag(digest);
  const size_t capacity = table->capacity;
  const size_t home = Home(digest, capacity);
  uint64_t seq = table->erase_seq.load(std::memory_order_acquire);
  size_t i = home;
  // The table always has empty slots (at most 70% used), so this ends.
  for (;;) {
    const uint32_t slot = table->slots[i].load(std::memory_order_acquire);
    const uint32_t ref = slot & kRefMask;
    if (ref == 0) {
      // A miss is only believed if no erase moved slots meanwhile (it may
      // have moved the digest past this probe); a hit needs no check: a
      // moved slot names the same record in both places.
      std::atomic_thread_fence(std::memory_order_acquire);
      const uint64_t now = table->erase_seq.load(std::memory_order_relaxed);
      if (now == seq && (seq & 1) == 0) return false;
      seq = table->erase_seq.load(std::memory_order_acquire);
      i = home;
      continue;
    }
    if (ref != kTombstone && (slot & ~kRefMask) == tag) {
      const Record& record = records_.At(ref - 1);
      if (crypto::DigestEqual(record.digest, digest)) {
        const uint32_t state = record.state.load(std::memory_order_acquire);
        out->group = groups_.At(state & kGroupMask);
        out->revoked = (state & kRevokedBit) != 0;
        out->rotated = (state & kRotatedBit) != 0;
        if (record.slug_size != kOutOfLine) {
          out->expires_at.reset();
          out->slug_size = record.slug_size;
          std::memcpy(out->slug, record.slug, kInlineSlugSize);
          return true;
        }
        uint32_t offset;
        std::memcpy(&offset, record.slug, sizeof offset);
        const char* entry = &slugs_.At(offset);
        const uint8_t header = static_cast<uint8_t>(entry[0]);
        const char* slug = entry + 1;
        if (header & kExpiresFlag) {
          int64_t expires_at_us;
          std::memcpy(&expires_at_us, slug, kExpirySize);
          out->expires_at = absl::FromUnixMicros(expires_at_us);
          slug += kExpirySize;
        } else {
          out->expires_at.reset();
        }
        out->slug_size = header & kSlugSizeMask;
        std::memcpy(out->slug, slug, out->slug_size);
        return true;
      }
    }
    if (++i == capacity) i = 0;
  }
}

void VerifyIndex::Prefetch(const Digest& digest) const noexcept {
  GracePeriod::ReadSection section;
  const Table* table = table_.load(std::memory_order_acquire);
  __builtin_prefetch(&table->slots[Home(digest, table->capacity)],
                     /*rw=*/0, /*locality=*/3);
}

bool VerifyIndex::Contains(const Digest& digest) const noexcept {
  TokenEntry entry;
  return Find(digest, &entry);
}

uint32_t VerifyIndex::InternGroup(std::string_view organization,
                                  std::string_view service_account,
                                  const std::vector<std::string>& scopes,
                                  const scope::ScopeCatalog* catalog,
                                  std::shared_ptr<AccountState> account) {
  // The key names the account state (a re-created account gets a new one)
  // and every field, length-prefixed.
  const uintptr_t account_id = reinterpret_cast<uintptr_t>(account.get());
  std::string key(reinterpret_cast<const char*>(&account_id), sizeof account_id);
  auto append = [&key](std::string_view field) {
    key += std::to_string(field.size());
    key += ':';
    key.append(field.data(), field.size());
  };
  append(organization);
  append(service_account);
  for (const std::string& scope : scopes) append(scope);
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = group_numbers_.try_emplace(std::move(key), 0);
  if (!inserted) return it->second;
  auto group = std::make_unique<::keygate::internal::GrantGroup>();
  group->organization = std::string(organization);
  group->service_account = std::string(service_account);
  group->scopes = scopes;
  group->scope_mask = catalog->Compile(scopes);
  group->catalog = catalog;
  group->account = std::move(account);
  const uint32_t number = static_cast<uint32_t>(group_owners_.size());
  groups_.Ensure(number);
  groups_.At(number) = group.get();  // reachable once a record names it
  group_owners_.push_back(std::move(group));
  it->second = number;
  return number;
}

void VerifyIndex::Locate(const Table& table, const Digest& digest,
                         size_t* found, size_t* free_slot) const {
  *found = SIZE_MAX;
  *free_slot = SIZE_MAX;
  const uint32_t tag = Tag(digest);
  size_t i = Home(digest, table.capacity);
  for (;;) {
    const uint32_t slot = table.slots[i].load(std::memory_order_relaxed);
    const uint32_t ref = slot & kRefMask;
    if (ref == 0) {
      if (*free_slot == SIZE_MAX) *free_slot = i;
      return;
    }
    if (ref == kTombstone) {
      if (*free_slot == SIZE_MAX) *free_slot = i;
    } else if ((slot & ~kRefMask) == tag &&
               crypto::DigestEqual(records_.At(ref - 1).digest, digest)) {
      *found = i;
      return;
    }
    if (++i == table.capacity) i = 0;
  }
}

uint32_t VerifyIndex::AllocateSlug(std::string_view slug,
                                   std::optional<absl::Time> expires_at) {
  const uint8_t header = static_cast<uint8_t>(
      slug.size() | (expires_at ? kExpiresFlag : 0));
  const size_t need = EntrySize(header);
  std::vector<uint32_t>& free = free_slugs_[need];
  uint32_t offset;
  if (!free.empty()) {
    offset = free.back();
    free.pop_back();
  } else {
    const size_t chunk = decltype(slugs_)::kChunkSize;
    // Never straddle a chunk.
    if (next_slug_ / chunk != (next_slug_ + need - 1) / chunk) {
      next_slug_ = static_cast<uint32_t>((next_slug_ / chunk + 1) * chunk);
    }
    offset = next_slug_;
    next_slug_ += static_cast<uint32_t>(need);
    slugs_.Ensure(offset);
  }
  char* p = &slugs_.At(offset);
  *p++ = static_cast<char>(header);
  if (expires_at) {
    const int64_t expires_at_us = absl::ToUnixMicros(*expires_at);
    std::memcpy(p, &expires_at_us, kExpirySize);
    p += kExpirySize;
  }
  std::memcpy(p, slug.data(), slug.size());
  return offset;
}

uint32_t VerifyIndex::NewRecord(const Digest& digest, uint32_t state,
                               std::optional<absl::Time> expires_at,
                               std::string_view slug) {
  uint32_t number;
  if (!free_records_.empty()) {
    number = free_records_.back();
    free_records_.pop_back();
  } else {
    number = next_record_++;
    records_.Ensure(number);
  }
  Record& record = records_.At(number);
  record.digest = digest;
  if (!expires_at && slug.size() <= kInlineSlugSize) {
    record.slug_size = static_cast<uint8_t>(slug.size());
    std::memset(record.slug, 0, kInlineSlugSize);
    std::memcpy(record.slug, slug.data(), slug.size());
  } else {
    record.slug_size = kOutOfLine;
    const uint32_t offset = AllocateSlug(slug, expires_at);
    std::memcpy(record.slug, &offset, sizeof offset);
  }
  record.state.store(state, std::memory_order_relaxed);
  return number;
}

std::optional<absl::Time> VerifyIndex::RecordExpiry(
    const Record& record) const {
  if (record.slug_size != kOutOfLine) return std::nullopt;
  uint32_t offset;
  std::memcpy(&offset, record.slug, sizeof offset);
  const char* entry = &slugs_.At(offset);
  if ((static_cast<uint8_t>(entry[0]) & kExpiresFlag) == 0) {
    return std::nullopt;
  }
  int64_t expires_at_us;
  std::memcpy(&expires_at_us, entry + 1, kExpirySize);
  return absl::FromUnixMicros(expires_at_us);
}

void VerifyIndex::FreeRecord(uint32_t number) {
  Record& record = records_.At(number);
  if (record.slug_size == kOutOfLine) {
    uint32_t offset;
    std::memcpy(&offset, record.slug, sizeof offset);
    free_slugs_[EntrySize(static_cast<uint8_t>(slugs_.At(offset)))]
        .push_back(offset);
  }
  record.digest.fill(0);
  free_records_.push_back(number);
}

absl::Status VerifyIndex::Put(const Digest& digest, uint32_t group,
                              bool revoked,
                              std::optional<absl::Time> expires_at,
                              std::string_view slug, bool rotated) {
  if (slug.size() > kMaxSlugSize) {
    return absl::InvalidArgumentError("token slug too long for the index");
  }
  const uint32_t state =
      group | (revoked ? kRevokedBit : 0) | (rotated ? kRotatedBit : 0);
  absl::MutexLock lock(&mu_);
  if (group >= group_owners_.size()) {
    return absl::InvalidArgumentError("unknown grant group");
  }
  Table* table = table_.load(std::memory_order_relaxed);
  size_t found, free_slot;
  Locate(*table, digest, &found, &free_slot);
  if (found != SIZE_MAX) {
    const uint32_t ref = table->slots[found].load(std::memory_order_relaxed) &
                         kRefMask;
    Record& record = records_.At(ref - 1);
    if (RecordExpiry(record) == expires_at) {
      record.state.store(state, std::memory_order_release);
      return absl::OkStatus();
    }
    // A new expiry (a rotation's grace end): a whole new record, swapped in
    // with one release store of the same slot; the old one is freed once no
    // reader can still be looking at it.
    if (free_records_.empty() && next_record_ + 1 >= kTombstone) {
      // At kMaxTokens live records the extra one would be number
      // kTombstone - 1, whose slot value readers skip as a tombstone (and
      // Locate and Erase treat as free): refuse rather than lose the token.
      return absl::ResourceExhaustedError(absl::StrCat(
          "the verify index holds its maximum of ", kMaxTokens, " tokens"));
    }
    const uint32_t number = NewRecord(digest, state, expires_at, slug);
    table->slots[found].store(Tag(digest) | (number + 1),
                              std::memory_order_release);
    GracePeriod::WaitForReaders();
    FreeRecord(ref - 1);
    return absl::OkStatus();
  }
  if (live_ >= kMaxTokens) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the verify index holds its maximum of ", kMaxTokens, " tokens"));
  }
  const bool reuses_tombstone =
      (table->slots[free_slot].load(std::memory_order_relaxed) & kRefMask) ==
      kTombstone;
  if (!reuses_tombstone && OverLoaded(live_ + tombstones_ + 1, table->capacity)) {
    Rehash(std::max(kMinCapacity, (live_ + 1) * 2));
    table = table_.load(std::memory_order_relaxed);
    Locate(*table, digest, &found, &free_slot);
  }
  // Not reachable by readers until the slot store below.
  const uint32_t number = NewRecord(digest, state, expires_at, slug);
  if ((table->slots[free_slot].load(std::memory_order_relaxed) & kRefMask) ==
      kTombstone) {
    --tombstones_;
  }
  table->slots[free_slot].store(Tag(digest) | (number + 1),
                                std::memory_order_release);
  ++live_;
  return absl::OkStatus();
}

void VerifyIndex::Erase(const std::vector<Digest>& digests) {
  absl::MutexLock lock(&mu_);
  Table* table = table_.load(std::memory_order_relaxed);
  const size_t capacity = table->capacity;
  std::vector<uint32_t> erased;
  bool moving = false;
  for (const Digest& digest : digests) {
    size_t found, free_slot;
    Locate(*table, digest, &found, &free_slot);
    if (found == SIZE_MAX) continue;
    if (!moving) {
      // Odd: misses from now on re-probe until the moves are done.
      table->erase_seq.fetch_add(1, std::memory_order_relaxed);
      std::atomic_thread_fence(std::memory_order_release);
      moving = true;
    }
    const uint32_t ref =
        table->slots[found].load(std::memory_order_relaxed) & kRefMask;
    erased.push_back(ref - 1);
    --live_;
    // Backward-shift deletion: no tombstone stays behind, so the table is
    // laid out as if the digest had never been there (an erased digest's
    // later miss walks like any unknown digest's; a tombstone at its home
    // would make it walk further). Each later slot of the cluster that may
    // live at the hole moves into it (copied first: a reader finds it in
    // one place or the other; a miss meanwhile re-probes, see Find).
    size_t hole = found;
    for (size_t j = hole + 1 == capacity ? 0 : hole + 1;;
         j = j + 1 == capacity ? 0 : j + 1) {
      const uint32_t slot = table->slots[j].load(std::memory_order_relaxed);
      const uint32_t r = slot & kRefMask;
      if (r == 0) break;
      if (r != kTombstone) {
        const size_t h = Home(records_.At(r - 1).digest, capacity);
        // The slot may move to the hole unless its home lies cyclically in
        // (hole, j].
        const bool home_after_hole =
            hole <= j ? (hole < h && h <= j) : (hole < h || h <= j);
        if (home_after_hole) continue;
      }
      table->slots[hole].store(slot, std::memory_order_release);
      hole = j;
    }
    table->slots[hole].store(0, std::memory_order_release);
  }
  if (erased.empty()) return;
  table->erase_seq.fetch_add(1, std::memory_order_release);  // even again
  // No reader still holds a way to the erased records after this.
  GracePeriod::WaitForReaders();
  for (uint32_t number : erased) FreeRecord(number);
  // Mostly empty: rebuild at the live size (shrinks the table).
  if ((tombstones_ > live_ || live_ * 8 < capacity) &&
      capacity > kMinCapacity) {
    Rehash(std::max(kMinCapacity, live_ * 2));
  }
}

void VerifyIndex::Rehash(size_t capacity) {
  Table* old_table = table_.load(std::memory_order_relaxed);
  auto* table = new Table(capacity);
  for (size_t i = 0; i < old_table->capacity; ++i) {
    const uint32_t slot = old_table->slots[i].load(std::memory_order_relaxed);
    const uint32_t ref = slot & kRefMask;
    if (ref == 0 || ref == kTombstone) continue;
    size_t j = Home(records_.At(ref - 1).digest, capacity);
    while (table->slots[j].load(std::memory_order_relaxed) != 0) {
      if (++j == capacity) j = 0;
    }
    table->slots[j].store(slot, std::memory_order_relaxed);
  }
  table_.store(table, std::memory_order_release);
  tombstones_ = 0;
  GracePeriod::WaitForReaders();
  delete old_table;
}

void VerifyIndex::Reserve(size_t n) {
  absl::MutexLock lock(&mu_);
  const Table* table = table_.load(std::memory_order_relaxed);
  n = std::min(n, kMaxTokens);
  if (OverLoaded(n, table->capacity)) {
    Rehash(std::max(kMinCapacity, n * 10 / 6 + 1));
  }
}

bool VerifyIndex::HasRoomFor(size_t n) const {
  absl::MutexLock lock(&mu_);
  return live_ + n <= kMaxTokens;
}

size_t VerifyIndex::size() const {
  absl::MutexLock lock(&mu_);
  return live_;
}

std::vector<Digest> VerifyIndex::Digests() const {
  absl::MutexLock lock(&mu_);
  const Table* table = table_.load(std::memory_order_relaxed);
  std::vector<Digest> digests;
  digests.reserve(live_);
  for (size_t i = 0; i < table->capacity; ++i) {
    const uint32_t ref =
        table->slots[i].load(std::memory_order_relaxed) & kRefMask;
    if (ref == 0 || ref == kTombstone) continue;
    digests.push_back(records_.At(ref - 1).digest);
  }
  return digests;
}

size_t VerifyIndex::table_capacity() const {
  absl::MutexLock lock(&mu_);
  return table_.load(std::memory_order_relaxed)->capacity;
}

}  // namespace keygate::index

// lib/store/last_used_table.cc: the in-memory last-used times.
#include "lib/store/last_used_table.h"

#include <algorithm>
#include <limits>
#include <memory>
#include <new>

#include "lib/index/grace_period.h"
#include "lib/index/huge_pages.h"
#include "lib/storage/keys.h"

namespace keygate::store {

namespace {

constexpr size_t kMinCapacity = 64;

int64_t GranularitySeconds(absl::Duration granularity) {
  return std::max<int64_t>(1, absl::ToInt64Seconds(granularity));
}

// CapacityFor is the power of two that holds `live` tokens at most half
// full.
size_t CapacityFor(size_t live) {
  size_t capacity = kMinCapacity;
  while (capacity < 2 * (live + 1)) capacity *= 2;
  return capacity;
}

}  // namespace

absl::Duration LastUsedGranularity(absl::Duration flush_interval) {
  return std::max(absl::Seconds(1),
                  absl::Trunc(flush_interval / 60, absl::Seconds(1)));
}

LastUsedTable::Table::Table(size_t capacity)
    : mask(capacity - 1), slots([capacity] {
        void* memory = index::AllocateHugePageBacked(capacity * sizeof(Slot));
        if (memory == nullptr) throw std::bad_alloc();  // as `new` would
        auto* slots = static_cast<Slot*>(memory);
        std::uninitialized_value_construct_n(slots, capacity);  // all empty
        return slots;
      }()) {}

LastUsedTable::Table::~Table() {
  std::destroy_n(slots, mask + 1);
  index::FreeHugePageBacked(slots, (mask + 1) * sizeof(Slot));
}

LastUsedTable::LastUsedTable(absl::Duration granularity)
    : granularity_seconds_(
          static_cast<uint32_t>(std::min<int64_t>(GranularitySeconds(granularity),
                                                  24 * 3600))),
      table_(new Table(kMinCapacity)) {}

LastUsedTable::~LastUsedTable() { delete table_.load(); }

LastUsedTable::Slot* LastUsedTable::FindSlot(const Table& table,
                                             uint64_t key) noexcept {
  for (size_t i = key & table.mask;; i = (i + 1) & table.mask) {
    const uint64_t k = table.slots[i].key.load(std::memory_order_acquire);
    if (k == key) return &table.slots[i];
    if (k == 0) return nullptr;
  }
}

void LastUsedTable::Touch(const Digest& digest, absl::Time now) const noexcept {
  const int64_t seconds = absl::ToUnixSeconds(now);
  if (seconds <= 0 || seconds > std::numeric_limits<uint32_t>::max()) return;
  index::GracePeriod::ReadSection section;
  Slot* slot = FindSlot(*table_.load(std::memory_order_acquire),
                        storage::LastUsedKey(digest));
  if (slot == nullptr) return;
  // Read first; write only a stale slot, so a hot token's line stays shared.
  const uint32_t old = slot->seconds.load(std::memory_order_relaxed);
  if (static_cast<int64_t>(old) + granularity_seconds_ <= seconds) {
    slot->seconds.store(static_cast<uint32_t>(seconds),
                        std::memory_order_relaxed);
  }
}

void LastUsedTable::Prefetch(const Digest& digest) const noexcept {
  index::GracePeriod::ReadSection section;
  const Table& table = *table_.load(std::memory_order_acquire);
  // Read intent: Touch usually only reads, so the line stays shared.
  __builtin_prefetch(&table.slots[storage::LastUsedKey(digest) & table.mask],
                     /*rw=*/0, /*locality=*/3);
}

std::optional<absl::Time> LastUsedTable::Get(
    const Digest& digest) const noexcept {
  index::GracePeriod::ReadSection section;
  const Slot* slot = FindSlot(*table_.load(std::memory_order_acquire),
                              storage::LastUsedKey(digest));
  if (slot == nullptr) return std::nullopt;
  const uint32_t seconds = slot->seconds.load(std::memory_order_relaxed);
  if (seconds == 0) return std::nullopt;
  return absl::FromUnixSeconds(seconds);
}

void LastUsedTable::Add(const Digest& digest) {
  absl::MutexLock lock(&mu_);
  const uint64_t key = storage::LastUsedKey(digest);
  Table* table = table_.load(std::memory_order_relaxed);
  if (FindSlot(*table, key) != nullptr) return;
  if (10 * (used_ + 1) > 7 * (table->mask + 1)) {
    Rebuild(live_ + 1);
    table = table_.load(std::memory_order_relaxed);
  }
  size_t i = key & table->mask;
  while (table->slots[i].key.load(std::memory_order_relaxed) != 0) {
    i = (i + 1) & table->mask;
  }
  // seconds and flushed are 0 in a never-used slot; publish the key last.
  table->slots[i].key.store(key, std::memory_order_release);
  ++live_;
  ++used_;
}

void LastUsedTable::Erase(const std::vector<Digest>& digests) {
  absl::MutexLock lock(&mu_);
  Table* table = table_.load(std::memory_order_relaxed);
  for (const Digest& digest : digests) {
    Slot* slot = FindSlot(*table, storage::LastUsedKey(digest));
    if (slot == nullptr) continue;
    // A tombstone keeps the probe chain; the slot is never reused in place.
    slot->key.store(kErased, std::memory_order_release);
    --live_;
  }
  // Clean up once erased slots are most of the table.
  if (used_ > kMinCapacity / 2 && live_ < used_ / 2) Rebuild(live_);
}

void LastUsedTable::Load(uint64_t key, absl::Time last_used) {
  const int64_t seconds = absl::ToUnixSeconds(last_used);
  if (seconds <= 0 || seconds > std::numeric_limits<uint32_t>::max()) return;
  absl::MutexLock lock(&mu_);
  Slot* slot = FindSlot(*table_.load(std::memory_order_relaxed), key);
  if (slot == nullptr) return;
  const uint32_t value = static_cast<uint32_t>(seconds);
  uint32_t current = slot->seconds.load(std::memory_order_relaxed);
  while (current < value &&
         !slot->seconds.compare_exchange_weak(current, value,
                                              std::memory_order_relaxed)) {
  }
  slot->flushed = std::max(slot->flushed, value);
}

std::vector<LastUsedTable::Pending> LastUsedTable::CollectPending() const {
  absl::MutexLock lock(&mu_);
  std::vector<Pending> pending;
  const Table& table = *table_.load(std::memory_order_relaxed);
  for (size_t i = 0; i <= table.mask; ++i) {
    const Slot& slot = table.slots[i];
    const uint64_t key = slot.key.load(std::memory_order_relaxed);
    if (key == 0 || key == kErased) continue;
    const uint32_t seconds = slot.seconds.load(std::memory_order_relaxed);
    if (seconds > slot.flushed) {
      pending.push_back({key, absl::FromUnixSeconds(seconds)});
    }
  }
  return pending;
}

void LastUsedTable::MarkFlushed(const std::vector<Pending>& flushed) {
  absl::MutexLock lock(&mu_);
  const Table& table = *table_.load(std::memory_order_relaxed);
  for (const Pending& p : flushed) {
    Slot* slot = FindSlot(table, p.key);
    if (slot == nullptr) continue;
    slot->flushed = std::max(
        slot->flushed, static_cast<uint32_t>(absl::ToUnixSeconds(p.last_used)));
  }
}

void LastUsedTable::Reserve(size_t n) {
  absl::MutexLock lock(&mu_);
  n = std::max(n, live_);
  // Room for n without Add rebuilding: Add rebuilds past 70% of used slots.
  if (10 * (n + 1) <= 7 * (table_.load(std::memory_order_relaxed)->mask + 1)) {
    return;
  }
  Rebuild(n);
}

size_t LastUsedTable::size() const {
  absl::MutexLock lock(&mu_);
  return live_;
}

void LastUsedTable::Rebuild(size_t live) {
  Table* old_table = table_.load(std::memory_order_relaxed);
  auto* table = new Table(CapacityFor(live));
  std::vector<std::pair<const Slot*, Slot*>> moved;
  moved.reserve(live_);
  for (size_t i = 0; i <= old_table->mask; ++i) {
    const Slot& from = old_table->slots[i];
    const uint64_t key = from.key.load(std::memory_order_relaxed);
    if (key == 0 || key == kErased) continue;
    size_t j = key & table->mask;
    while (table->slots[j].key.load(std::memory_order_relaxed) != 0) {
      j = (j + 1) & table->mask;
    }
    Slot& to = table->slots[j];
    to.key.store(key, std::memory_order_relaxed);
    to.seconds.store(from.seconds.load(std::memory_order_relaxed),
                     std::memory_order_relaxed);
    to.flushed = from.flushed;
    moved.emplace_back(&from, &to);
  }
  table_.store(table, std::memory_order_release);
  used_ = live_;
  index::GracePeriod::WaitForReaders();
  // No reader holds the old table now: carry over what a Touch stored into
  // it after the copy above, then free it.
  for (const auto& [from, to] : moved) {
    const uint32_t late = from->seconds.load(std::memory_order_relaxed);
    uint32_t current = to->seconds.load(std::memory_order_relaxed);
    while (current < late &&
           !to->seconds.compare_exchange_weak(current, late,
                                              std::memory_order_relaxed)) {
    }
  }
  delete old_table;
}

}  // namespace keygate::store

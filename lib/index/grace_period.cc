// lib/index/grace_period.cc: per-thread reader slots and the writer's wait.
#include "lib/index/grace_period.h"

#include <sched.h>

#include <atomic>
#include <cstdint>

namespace keygate::index {
namespace internal {

// ReaderSlot is one thread's announcement: 0 when not reading, else the
// epoch it entered in. One cache line each, so readers never share a line.
struct alignas(64) ReaderSlot {
  std::atomic<uint64_t> active{0};
  std::atomic<bool> in_use{false};
  ReaderSlot* next = nullptr;  // immutable once published
  uint32_t depth = 0;          // nesting; touched only by the owner thread
};

}  // namespace internal

namespace {

using internal::ReaderSlot;

// The process-wide list of slots (push-only; slots are never freed, a slot
// whose thread exited is reused by the next new thread).
std::atomic<ReaderSlot*> g_slots{nullptr};
std::atomic<uint64_t> g_epoch{1};

ReaderSlot* ClaimSlot() {
  for (ReaderSlot* s = g_slots.load(std::memory_order_acquire); s != nullptr;
       s = s->next) {
    bool expected = false;
    if (!s->in_use.load(std::memory_order_relaxed) &&
        s->in_use.compare_exchange_strong(expected, true,
                                          std::memory_order_acq_rel)) {
      return s;
    }
  }
  auto* s = new ReaderSlot;
  s->in_use.store(true, std::memory_order_relaxed);
  ReaderSlot* head = g_slots.load(std::memory_order_relaxed);
  do {
    s->next = head;
  } while (!g_slots.compare_exchange_weak(head, s, std::memory_order_release,
                                          std::memory_order_relaxed));
  return s;
}

// ThreadSlot hands the slot back when its thread exits.
struct ThreadSlot {
  ReaderSlot* slot = nullptr;
  ~ThreadSlot() {
    if (slot != nullptr) {
      slot->active.store(0, std::memory_order_release);
      slot->depth = 0;
      slot->in_use.store(false, std::memory_order_release);
      slot = nullptr;
    }
  }
};

thread_local ThreadSlot t_slot;

}  // namespace

GracePeriod::ReadSection::ReadSection() noexcept {
  ReaderSlot* s = t_slot.slot;
  if (s == nullptr) s = t_slot.slot = ClaimSlot();
  slot_ = s;
  if (s->depth++ == 0) {
    // Acquire: a section that reads a writer's new epoch also sees what
    // that writer unpublished before bumping it. The fence orders the
    // announcement before every load the section makes; with the fence in
    // WaitForReaders, either the writer sees this section or this section
    // sees the writer's unpublish.
    s->active.store(g_epoch.load(std::memory_order_acquire),
                    std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
}

GracePeriod::ReadSection::~ReadSection() {
  if (--slot_->depth == 0) slot_->active.store(0, std::memory_order_release);
}

void GracePeriod::WaitForReaders() {
  const uint64_t now = g_epoch.fetch_add(1, std::memory_order_seq_cst) + 1;
  std::atomic_thread_fence(std::memory_order_seq_cst);
  for (ReaderSlot* s = g_slots.load(std::memory_order_acquire); s != nullptr;
       s = s->next) {
    for (int spins = 0;; ++spins) {
      const uint64_t entered = s->active.load(std::memory_order_acquire);
      if (entered == 0 || entered >= now) break;
      if (spins > 64) sched_yield();
    }
  }
}

}  // namespace keygate::index

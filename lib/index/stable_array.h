// lib/index/stable_array.h: a growable array whose elements never move, for
// lock-free readers.
#ifndef KEYGATE_LIB_INDEX_STABLE_ARRAY_H_
#define KEYGATE_LIB_INDEX_STABLE_ARRAY_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <type_traits>

#include "lib/index/huge_pages.h"

namespace keygate::index {

// StableArray holds up to kMaxChunks << kChunkBits elements in chunks that
// are allocated (value-initialized) on demand and freed only by the
// destructor. Readers index it without locks: a chunk pointer is published
// with a release store before any element of it is reachable. Ensure is for
// the (single, serialized) writer. Chunks come from AllocateHugePageBacked
// (huge pages for chunks of 2 MiB and more); T must be trivially
// destructible, and a zeroed T must equal a value-initialized one.
template <typename T, int kChunkBits, size_t kMaxChunks>
class StableArray {
 public:
  static constexpr size_t kChunkSize = size_t{1} << kChunkBits;
  static constexpr size_t kCapacity = kMaxChunks * kChunkSize;

  StableArray() {
    for (auto& c : chunks_) c.store(nullptr, std::memory_order_relaxed);
  }
  ~StableArray() {
    for (auto& c : chunks_) {
      if (T* chunk = c.load(std::memory_order_relaxed)) {
        FreeHugePageBacked(chunk, ChunkBytes());
      }
    }
  }
  StableArray(const StableArray&) = delete;
  StableArray& operator=(const StableArray&) = delete;

  // At returns element `i`. REQUIRES: Ensure(i) happened before (for
  // readers: through the release store that made `i` reachable).
  T& At(size_t i) const noexcept {
    return chunks_[i >> kChunkBits].load(std::memory_order_acquire)
        [i & (kChunkSize - 1)];
  }

  // Ensure allocates the chunk of element `i`; false if `i` is past the
  // capacity. Writer only. Throws std::bad_alloc when out of memory, as the
  // `new` it replaces did.
  bool Ensure(size_t i) {
    if (i >= kCapacity) return false;
    std::atomic<T*>& chunk = chunks_[i >> kChunkBits];
    static_assert(std::is_trivially_destructible_v<T>);
    if (chunk.load(std::memory_order_relaxed) == nullptr) {
      void* memory = AllocateHugePageBacked(ChunkBytes());
      if (memory == nullptr) throw std::bad_alloc();
      // Zeroed memory, then value-initialized elements (the same bytes for
      // the element types used here; this also starts their lifetimes).
      T* elements = static_cast<T*>(memory);
      std::uninitialized_value_construct_n(elements, kChunkSize);
      chunk.store(elements, std::memory_order_release);
    }
    return true;
  }

 private:
  // Functions, not constants: T may be incomplete where the array is
  // declared.
  static constexpr size_t ChunkBytes() { return kChunkSize * sizeof(T); }

  std::atomic<T*> chunks_[kMaxChunks];
};

}  // namespace keygate::index

#endif  // KEYGATE_LIB_INDEX_STABLE_ARRAY_H_

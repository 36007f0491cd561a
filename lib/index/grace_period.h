// lib/index/grace_period.h: read-side critical sections without shared
// writes, and the wait that lets a writer free what readers may still see.
#ifndef KEYGATE_LIB_INDEX_GRACE_PERIOD_H_
#define KEYGATE_LIB_INDEX_GRACE_PERIOD_H_

#include <atomic>
#include <cstdint>

namespace keygate::index {

namespace internal {
struct ReaderSlot;
}  // namespace internal

// GracePeriod is epoch-based reclamation (the user-space RCU pattern) shared
// by every index of the process. A reader brackets its lock-free reads with a
// ReadSection; a writer that has unpublished something (a replaced table, an
// erased record) calls WaitForReaders() and may then free it: every
// ReadSection that could have seen it has ended.
//
// Cost on the read side: one store to the calling thread's own cache line and
// a full fence on entry, one release store on exit; no mutex,
// no read-modify-write on a shared cache line, no allocation after the
// thread's first section (which registers a per-thread slot, reused after
// the thread exits). WaitForReaders spins (yielding) while an older section
// is open; sections are short and never wait for writers, so it terminates.
// All members are safe for concurrent use.
class GracePeriod {
 public:
  // ReadSection marks the calling thread as reading until destroyed.
  // Sections nest. Not movable; stays on the thread that made it.
  class ReadSection {
   public:
    ReadSection() noexcept;
    ~ReadSection();
    ReadSection(const ReadSection&) = delete;
    ReadSection& operator=(const ReadSection&) = delete;

   private:
    internal::ReaderSlot* slot_;
  };

  // WaitForReaders returns once every ReadSection open when it was called
  // has ended. Call it after unpublishing (with a release or stronger store)
  // and before freeing. May be slow; never call it inside a ReadSection.
  static void WaitForReaders();
};

}  // namespace keygate::index

#endif  // KEYGATE_LIB_INDEX_GRACE_PERIOD_H_

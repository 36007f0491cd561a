// keygate/clock.h: the time source of a keygate store.
#ifndef KEYGATE_CLOCK_H_
#define KEYGATE_CLOCK_H_

#include "absl/time/time.h"

namespace keygate {

// Clock tells the current time. Implementations must be safe for concurrent
// use without external synchronization. Tests inject a manual clock; hosts use
// SystemClock().
class Clock {
 public:
  virtual ~Clock() = default;
  // Now returns the current wall-clock time.
  virtual absl::Time Now() const = 0;
};

// SystemClock returns the process-wide real-time clock. Never null; it lives
// for the whole process.
const Clock* SystemClock();

}  // namespace keygate

#endif  // KEYGATE_CLOCK_H_

#include "absl/time/clock.h"
#include "keygate/clock.h"

namespace keygate {

namespace {
class RealClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
};
}  // namespace

const Clock* SystemClock() {
  static const RealClock* const clock = new RealClock();
  return clock;
}

}  // namespace keygate

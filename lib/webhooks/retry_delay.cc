// lib/webhooks/retry_delay.cc: RetryDelay (keygate/webhook_deliverer.h),
// exponential backoff with full jitter.
#include <algorithm>
#include <cstdint>

#include "keygate/webhook_deliverer.h"

namespace keygate {

absl::Duration RetryDelay(uint32_t failed_attempts, absl::Duration base,
                          absl::Duration cap, double unit_random) {
  if (cap <= absl::ZeroDuration() || base <= absl::ZeroDuration()) {
    return absl::ZeroDuration();
  }
  absl::Duration ceiling = base;
  // Doubling past the cap stops early: no overflow for any attempt count.
  for (uint32_t i = 1; i < failed_attempts && ceiling < cap; ++i) {
    ceiling *= 2;
  }
  ceiling = std::min(ceiling, cap);
  unit_random = std::clamp(unit_random, 0.0, 1.0);
  return std::min(ceiling * unit_random, cap);
}

}  // namespace keygate

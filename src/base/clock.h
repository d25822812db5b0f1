// One monotonic clock for every timestamp in traces.
#pragma once

#include <chrono>
#include <cstdint>

namespace tandem {

// Nanoseconds of the steady clock (comparable within a machine; across machines apply the
// offset estimated from round trips).
inline int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace tandem

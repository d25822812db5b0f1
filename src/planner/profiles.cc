#include "planner/profiles.h"

#include <cmath>

namespace tandem::planner {
namespace {

bool Positive(double v) { return std::isfinite(v) && v > 0; }
bool NonNegative(double v) { return std::isfinite(v) && v >= 0; }
bool Fraction(double v) { return Positive(v) && v <= 1.0; }

}  // namespace

Status DeviceProfile::Validate() const {
  const std::string who = "device '" + name + "'";
  if (name.empty()) return InvalidArgument("device profile without a name");
  for (int i = 0; i < kNumWeightDtypes; ++i) {
    if (!Positive(peak_flops[i])) {
      return InvalidArgument(who + ": FLOP/s for " +
                             std::string(WeightDtypeName(static_cast<WeightDtype>(i))) +
                             " must be positive");
    }
  }
  if (!Positive(peak_bandwidth))
    return InvalidArgument(who + ": memory bandwidth must be positive");
  if (!Fraction(prefill_efficiency) || !Fraction(decode_efficiency)) {
    return InvalidArgument(who + ": efficiency factors must be in (0, 1]");
  }
  if (!Positive(memory_total_bytes) || !NonNegative(memory_free_bytes) ||
      memory_free_bytes > memory_total_bytes) {
    return InvalidArgument(who + ": memory needs total > 0 and 0 <= free <= total");
  }
  return OkStatus();
}

Status LinkProfile::Validate() const {
  const std::string who = "link '" + name + "'";
  if (!Positive(bandwidth)) return InvalidArgument(who + ": bandwidth must be positive");
  if (!NonNegative(rtt_s) || !NonNegative(alpha_s)) {
    return InvalidArgument(who + ": rtt and alpha must be >= 0 seconds");
  }
  return OkStatus();
}

}  // namespace tandem::planner

// Helpers shared by the kernel and forward-pass tests.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

namespace tandem::kernels::testing {

// ||a - b|| / ||b|| (b the reference).
inline double NormalisedError(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
    den += static_cast<double>(b[i]) * b[i];
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

}  // namespace tandem::kernels::testing

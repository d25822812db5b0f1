// Vectorised element-wise ops of the forward pass (same contracts as the ref:: versions).
#pragma once

#include <cstdint>

namespace tandem::kernels::cpu {

// gate[i] = silu(gate[i]) * up[i]
void SwiGlu(float* gate, const float* up, int64_t n);

// out[i] = x[i] / sqrt(mean(x^2) + eps) * weight[i]; out may alias x.
void RmsNorm(const float* x, const float* weight, int64_t n, float eps, float* out);

}  // namespace tandem::kernels::cpu

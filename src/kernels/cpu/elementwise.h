// Vectorised element-wise ops of the forward pass (same contracts as the ref:: versions).
#pragma once

#include <cstdint>

namespace tandem::kernels::cpu {

// gate[i] = silu(gate[i]) * up[i]
void SwiGlu(float* gate, const float* up, int64_t n);

// out[i] = x[i] / sqrt(mean(x^2) + eps) * weight[i]; out may alias x.
void RmsNorm(const float* x, const float* weight, int64_t n, float eps, float* out);

// IEEE half bits of src[i], rounded to nearest even: the same bits as F32ToFp16 (an f16 KV
// cache's writes), by the CPU's conversion instructions where it has them (F16C, NEON).
void F32ToF16(const float* src, int64_t n, uint16_t* dst);
// The floats of IEEE half bits (exact; as Fp16ToF32).
void F16ToF32(const uint16_t* src, int64_t n, float* dst);

}  // namespace tandem::kernels::cpu

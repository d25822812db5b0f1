// Scalar reference ops: obviously right, the oracle every fast kernel is checked against.
#pragma once

#include <cstdint>
#include <span>

#include "base/status.h"
#include "kernels/types.h"

namespace tandem::kernels::ref {

// A weight matrix in its stored type: `rows` rows of `cols` contiguous elements.
struct MatRef {
  WeightType type = WeightType::kF32;
  const uint8_t* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  // The same matrix repacked for the CPU kernels (kernels/cpu/packed.h), or null. The reference
  // kernels always read `data`.
  const uint8_t* packed = nullptr;
};

// y[t, r] = sum_k w[r, k] * x[t, k] for t < n_tokens.   x: [n_tokens, cols]  y: [n_tokens, rows]
[[nodiscard]] Status MatMul(const MatRef& w, const float* x, int64_t n_tokens, float* y);

// Copies row `row` of `w` as float32 into out[cols] (embedding lookup).
[[nodiscard]] Status GetRow(const MatRef& w, int64_t row, float* out);

// out[i] = x[i] / sqrt(mean(x^2) + eps) * weight[i]; out may alias x.
void RmsNorm(const float* x, const float* weight, int64_t n, float eps, float* out);

// x[i] = exp(x[i] - max) / sum, in place.
void Softmax(float* x, int64_t n);

// gate[i] = silu(gate[i]) * up[i]
void SwiGlu(float* gate, const float* up, int64_t n);

enum class RopeMode { kNormal, kNeox };  // adjacent pairs (Llama GGUF) or split halves (Qwen2)

struct RopeParams {
  RopeMode mode = RopeMode::kNormal;
  int n_rot = 0;  // rotated dimensions per head (<= head_dim)
  float freq_base = 10000.0f;
  float freq_scale = 1.0f;              // linear position scaling (1 / factor)
  const float* freq_factors = nullptr;  // [n_rot / 2] divisors (Llama 3.1 rope_freqs) or null
};

// Rotates each of the `n_heads` heads of x ([n_heads, head_dim]) for position `pos`: RopeAngles,
// then RopeRotate.
void Rope(float* x, int n_heads, int head_dim, int64_t pos, const RopeParams& p);
// The cosine and sine of each rotated pair's angle at position `pos`: cs[2i], cs[2i + 1] for
// i < n_rot / 2 (one position's angles serve every head, q's and k's, in every layer).
void RopeAngles(int64_t pos, const RopeParams& p, float* cs);
// Rotates each head of x by the angles of RopeAngles.
void RopeRotate(float* x, int n_heads, int head_dim, const float* cs, const RopeParams& p);

// Causal attention of one query position over cache rows [0, n_pos).
// q: [n_heads, head_dim]; k, v: [n_ctx, n_kv_heads, head_dim]; out: [n_heads, head_dim].
struct AttentionShape {
  int n_heads = 0;
  int n_kv_heads = 0;
  int head_dim = 0;
};
void Attention(const float* q, const float* k, const float* v, int64_t n_pos,
               const AttentionShape& s, float* scores_scratch, float* out);
// The same over an f16 cache: k and v hold IEEE half bits.
void Attention(const float* q, const uint16_t* k, const uint16_t* v, int64_t n_pos,
               const AttentionShape& s, float* scores_scratch, float* out);

}  // namespace tandem::kernels::ref

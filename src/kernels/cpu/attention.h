// Causal self-attention for a chunk of query tokens over the KV cache, flash-style: keys are
// visited in blocks with a running (online) softmax, so no [n, n] score matrix is ever stored.
// GQA-aware: the query heads that share a KV head are processed together, reading K/V once.
#pragma once

#include <cstdint>

#include "base/thread_pool.h"
#include "kernels/ref/ops.h"

namespace tandem::kernels::cpu {

struct AttentionBatch {
  const float* q = nullptr;  // [n_tokens, n_heads, head_dim]
  int64_t n_tokens = 0;
  int64_t pos = 0;  // position of query token 0; token t sees cache rows [0, pos + t]
  // [n_ctx, n_kv_heads, head_dim], rows [0, pos + n_tokens) valid: float, or IEEE half bits
  // (uint16_t) where kv_f16
  const void* k = nullptr;
  const void* v = nullptr;
  ref::AttentionShape shape;
  float* out = nullptr;  // [n_tokens, n_heads, head_dim]
  bool kv_f16 = false;
};

// Same result as ref::Attention for each token (up to f32 rounding); tasks are (KV head, block of
// query tokens), spread over `pool`.
void CausalAttention(const AttentionBatch& b, base::ThreadPool& pool);

}  // namespace tandem::kernels::cpu

// The KV cache: per layer, K and V each contiguous as [n_ctx, n_kv_heads, head_dim] float32, so
// a layer's rows for a token range are one contiguous span (what the KV streaming ships).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/status.h"

namespace tandem::kv {

struct KvLayout {
  int n_layers = 0;
  int64_t n_ctx = 0;
  int n_kv_heads = 0;
  int head_dim = 0;

  int64_t row_elems() const { return static_cast<int64_t>(n_kv_heads) * head_dim; }
  // K and V bytes per token over all layers at float32.
  int64_t bytes_per_token() const { return 2 * n_layers * row_elems() * 4; }
  bool operator==(const KvLayout&) const = default;
};

// What the values in the cache are rounded to when written. kF16 keeps float32 storage but
// rounds each value through IEEE half (as llama.cpp's default F16 cache holds them): then the F16
// wire codec is lossless, and a disaggregated run computes exactly what a colocated one does.
enum class KvPrecision { kF32, kF16 };

class KvCache {
 public:
  // Allocates n_layers * 2 * n_ctx * n_kv_heads * head_dim floats (zeroed).
  static StatusOr<KvCache> Create(const KvLayout& layout,
                                  KvPrecision precision = KvPrecision::kF32);

  const KvLayout& layout() const { return layout_; }
  KvPrecision precision() const { return precision_; }
  // [n_ctx, n_kv_heads, head_dim]
  float* K(int layer) { return k_[layer].data(); }
  float* V(int layer) { return v_[layer].data(); }
  const float* K(int layer) const { return k_[layer].data(); }
  const float* V(int layer) const { return v_[layer].data(); }
  // The rows of tokens [t0, t1) of one layer.
  std::span<const float> KRows(int layer, int64_t t0, int64_t t1) const;
  std::span<const float> VRows(int layer, int64_t t0, int64_t t1) const;

 private:
  KvCache(const KvLayout& layout, KvPrecision precision) : layout_(layout), precision_(precision) {}
  KvLayout layout_;
  KvPrecision precision_;
  std::vector<std::vector<float>> k_;  // [n_layers][n_ctx * n_kv_heads * head_dim]
  std::vector<std::vector<float>> v_;
};

}  // namespace tandem::kv

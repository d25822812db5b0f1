// The KV cache: per layer, K and V each contiguous as [n_ctx, n_kv_heads, head_dim], so a layer's
// rows for a token range are one contiguous span (what the KV streaming ships). Elements are IEEE
// half (KvPrecision::kF16, as llama.cpp's default cache holds them) or float32 (kF32).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "base/status.h"

namespace tandem::kv {

// The values are the wire's (PrefillRequest.kv_type).
enum class KvPrecision : uint8_t { kF32 = 1, kF16 = 2 };

inline int ElemBytes(KvPrecision p) { return p == KvPrecision::kF16 ? 2 : 4; }
inline const char* KvPrecisionName(KvPrecision p) { return p == KvPrecision::kF16 ? "f16" : "f32"; }
inline std::optional<KvPrecision> KvPrecisionFromByte(uint8_t b) {
  if (b == static_cast<uint8_t>(KvPrecision::kF32)) return KvPrecision::kF32;
  if (b == static_cast<uint8_t>(KvPrecision::kF16)) return KvPrecision::kF16;
  return std::nullopt;
}

struct KvLayout {
  int n_layers = 0;
  int64_t n_ctx = 0;
  int n_kv_heads = 0;
  int head_dim = 0;

  int64_t row_elems() const { return static_cast<int64_t>(n_kv_heads) * head_dim; }
  // K and V bytes per token over all layers, at `elem_bytes` per value.
  int64_t bytes_per_token(int elem_bytes = 4) const {
    return 2 * n_layers * row_elems() * elem_bytes;
  }
  bool operator==(const KvLayout&) const = default;
};

class KvCache {
 public:
  // Allocates n_layers * 2 * n_ctx * n_kv_heads * head_dim values (zeroed).
  static StatusOr<KvCache> Create(const KvLayout& layout,
                                  KvPrecision precision = KvPrecision::kF32);

  const KvLayout& layout() const { return layout_; }
  KvPrecision precision() const { return precision_; }
  uint64_t bytes() const {
    return static_cast<uint64_t>(layout_.bytes_per_token(ElemBytes(precision_)) * layout_.n_ctx);
  }

  // One layer's storage, [n_ctx, n_kv_heads, head_dim]: float at kF32, IEEE half bits (uint16_t)
  // at kF16.
  const void* K(int layer) const;
  const void* V(int layer) const;

  // Writes tokens [t0, t0 + n) of one layer from float32 rows [n, n_kv_heads * head_dim]
  // (rounded to nearest half at kF16). The caller keeps t0 + n <= n_ctx.
  void Write(int layer, int64_t t0, int64_t n, const float* k, const float* v);
  // Reads tokens [t0, t1) of one layer into float32 rows (exact: half widens losslessly).
  void ReadK(int layer, int64_t t0, int64_t t1, float* k) const;
  void ReadV(int layer, int64_t t0, int64_t t1, float* v) const;

  // At kF16 only: tokens [t0, t1) of one layer's K or V as they are stored, IEEE half in
  // little-endian bytes, which is what the F16 wire codec carries: streaming sends them, and
  // writes them on arrival, without widening to float32 and narrowing again.
  std::span<const uint8_t> HalfBytesK(int layer, int64_t t0, int64_t t1) const;
  std::span<const uint8_t> HalfBytesV(int layer, int64_t t0, int64_t t1) const;
  // At kF16 only: writes tokens [t0, t0 + n) of one layer from such bytes, n * row_elems() * 2
  // of each (the caller checks the sizes).
  void WriteHalfBytes(int layer, int64_t t0, int64_t n, std::span<const uint8_t> k,
                      std::span<const uint8_t> v);

 private:
  KvCache(const KvLayout& layout, KvPrecision precision) : layout_(layout), precision_(precision) {}
  // Write and ReadK/ReadV for one of K and V (its half and float layers).
  void Put(std::vector<std::vector<uint16_t>>& half, std::vector<std::vector<float>>& full,
           int layer, int64_t t0, int64_t n, const float* rows);
  void Read(const std::vector<std::vector<uint16_t>>& half,
            const std::vector<std::vector<float>>& full, int layer, int64_t t0, int64_t t1,
            float* out) const;
  KvLayout layout_;
  KvPrecision precision_;
  // [n_layers][n_ctx * n_kv_heads * head_dim]; only the precision's pair is allocated.
  std::vector<std::vector<float>> k32_, v32_;
  std::vector<std::vector<uint16_t>> k16_, v16_;
};

}  // namespace tandem::kv

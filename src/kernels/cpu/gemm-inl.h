// Portable (Highway) matrix-product tiles, compiled once per SIMD target by each weight type's
// translation unit. Included after hwy/foreach_target.h; re-included per target.
#if defined(TANDEM_KERNELS_CPU_GEMM_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef TANDEM_KERNELS_CPU_GEMM_INL_H_
#undef TANDEM_KERNELS_CPU_GEMM_INL_H_
#else
#define TANDEM_KERNELS_CPU_GEMM_INL_H_
#endif

#include <algorithm>
#include <cstring>
#include <vector>

#include "hwy/highway.h"
#include "kernels/cpu/gemm_internal.h"
#include "kernels/ref/convert.h"

HWY_BEFORE_NAMESPACE();
namespace tandem::kernels::cpu::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

// Weight element types the tiles read directly: float, F16, BF16 (both as uint16_t bits).
struct F32W {
  using T = float;
  static HWY_INLINE VF Load(DF df, const float* p) { return hn::LoadU(df, p); }
  static HWY_INLINE float Scalar(const float* p) {
    float x;  // weights may sit at any byte offset
    std::memcpy(&x, p, sizeof(x));
    return x;
  }
};
struct F16W {
  using T = uint16_t;
  static HWY_INLINE VF Load(DF df, const uint16_t* p) {
    const hn::Rebind<hwy::float16_t, DF> dh;
    return hn::PromoteTo(df, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(p)));
  }
  static HWY_INLINE float Scalar(const uint16_t* p) {
    uint16_t h;  // weights may sit at any byte offset
    std::memcpy(&h, p, sizeof(h));
    return Fp16ToF32(h);
  }
};
struct BF16W {
  using T = uint16_t;
  static HWY_INLINE VF Load(DF df, const uint16_t* p) {
    const hn::Rebind<uint16_t, DF> d16;
    const hn::Rebind<uint32_t, DF> d32;
    const auto wide = hn::ShiftLeft<16>(hn::PromoteTo(d32, hn::LoadU(d16, p)));
    return hn::BitCast(df, wide);
  }
  static HWY_INLINE float Scalar(const uint16_t* p) {
    uint16_t h;  // weights may sit at any byte offset
    std::memcpy(&h, p, sizeof(h));
    return Bf16ToF32(h);
  }
};

template <class W>
inline constexpr size_t kPrefetchElems = 4096 / sizeof(typename W::T);

// y[t * ldy + r] = sum_k w[r * ldw + k] * x[t * ldx + k] for r < R, t < T.
template <class W, int R, int T>
HWY_INLINE void Tile(const typename W::T* w, size_t ldw, const float* x, size_t ldx, size_t k_len,
                     float* y, size_t ldy) {
  const DF df;
  const size_t n = hn::Lanes(df);
  VF acc[R][T];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) acc[r][t] = hn::Zero(df);
  }
  size_t k = 0;
  for (; k + n <= k_len; k += n) {
    VF xv[T];
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) xv[t] = hn::LoadU(df, x + t * ldx + k);
    if constexpr (T == 1) {
      // Decode streams each row once: fetch ahead (the hardware prefetchers stop at each page),
      // into L2 (into L1, the few L1 miss buffers limit the bytes in flight); once per cache line
      // (a vector of 2-byte weights is half a line).
      if (k % (64 / sizeof(typename W::T)) == 0) {
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) __builtin_prefetch(w + r * ldw + k + kPrefetchElems<W>, 0, 2);
      }
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const VF wv = W::Load(df, w + r * ldw + k);
#pragma GCC unroll 16
      for (int t = 0; t < T; ++t) acc[r][t] = hn::MulAdd(wv, xv[t], acc[r][t]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) {
      float s = hn::GetLane(hn::SumOfLanes(df, acc[r][t]));
      for (size_t kk = k; kk < k_len; ++kk) s += W::Scalar(w + r * ldw + kk) * x[t * ldx + kk];
      y[t * ldy + r] = s;
    }
  }
}

inline constexpr int kRowTile = 4;
inline constexpr int kTokTile = 4;
// Decode streams more rows at once: more bytes in flight.
inline constexpr int kDecodeRowTile = 8;

// Rows [r0, r1) x tokens [t0, t1) of a matrix whose rows are `ldw` elements of W::T at `w`.
template <class W>
HWY_INLINE void GemmRows(const typename W::T* w, size_t ldw, int64_t r0, int64_t r1,
                         const internal::GemmArgs& a) {
  const size_t k_len = static_cast<size_t>(a.cols);
  const size_t ldx = k_len;
  int64_t r = r0;
  if (a.t1 - a.t0 == 1) {
    for (; r + kDecodeRowTile <= r1; r += kDecodeRowTile) {
      Tile<W, kDecodeRowTile, 1>(w + (r - r0) * ldw, ldw, a.x + a.t0 * ldx, ldx, k_len,
                                 a.y + a.t0 * a.ldy + r, a.ldy);
    }
  }
  for (; r + kRowTile <= r1; r += kRowTile) {
    const typename W::T* wr = w + (r - r0) * ldw;
    int64_t t = a.t0;
    for (; t + kTokTile <= a.t1; t += kTokTile) {
      Tile<W, kRowTile, kTokTile>(wr, ldw, a.x + t * ldx, ldx, k_len, a.y + t * a.ldy + r, a.ldy);
    }
    for (; t < a.t1; ++t) {
      Tile<W, kRowTile, 1>(wr, ldw, a.x + t * ldx, ldx, k_len, a.y + t * a.ldy + r, a.ldy);
    }
  }
  for (; r < r1; ++r) {
    const typename W::T* wr = w + (r - r0) * ldw;
    int64_t t = a.t0;
    for (; t + kTokTile <= a.t1; t += kTokTile) {
      Tile<W, 1, kTokTile>(wr, ldw, a.x + t * ldx, ldx, k_len, a.y + t * a.ldy + r, a.ldy);
    }
    for (; t < a.t1; ++t) {
      Tile<W, 1, 1>(wr, ldw, a.x + t * ldx, ldx, k_len, a.y + t * a.ldy + r, a.ldy);
    }
  }
}

// Plain types (F32, F16, BF16): the tiles read the weights in place.
template <class W>
HWY_INLINE void GemmDirect(const internal::GemmArgs& a) {
  const auto* w = reinterpret_cast<const typename W::T*>(a.w + a.r0 * a.row_bytes);
  GemmRows<W>(w, a.row_bytes / sizeof(typename W::T), a.r0, a.r1, a);
}

// Block-quantized types: `dequant(row_ptr, out, cols)` widens kRowTile rows at a time into f32,
// which the f32 tiles then multiply with every token of the task.
template <class Dequant>
HWY_INLINE void GemmDequantized(const internal::GemmArgs& a, const Dequant& dequant) {
  thread_local std::vector<float> buf;
  buf.resize(static_cast<size_t>(kRowTile) * a.cols);
  for (int64_t r = a.r0; r < a.r1; r += kRowTile) {
    const int64_t r_end = std::min<int64_t>(r + kRowTile, a.r1);
    for (int64_t i = r; i < r_end; ++i) {
      dequant(a.w + i * a.row_bytes, buf.data() + (i - r) * a.cols, a.cols);
    }
    GemmRows<F32W>(buf.data(), a.cols, r, r_end, a);
  }
}

}  // namespace tandem::kernels::cpu::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // TANDEM_KERNELS_CPU_GEMM_INL_H_ toggle

// Activation conversions for the fast kernels: Q8 blocks (for int8 dot products) and bf16.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/quantize_acts.cc"
#include "kernels/cpu/hwy_config.h"
// clang-format off
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format on
#include <algorithm>
#include <cmath>

#include "hwy/highway.h"
#include "kernels/cpu/fold_lanes-inl.h"
#include "kernels/cpu/gemm_internal.h"
#include "kernels/ref/convert.h"

HWY_BEFORE_NAMESPACE();
namespace tandem::kernels::cpu::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

constexpr int kBlock = 32;

// max |x[j]| over n elements (n a multiple of the vector length, or any n when it is longer).
inline float AbsMax(const float* x, int n) {
  const hn::ScalableTag<float> df;
  const int lanes = static_cast<int>(hn::Lanes(df));
  if (lanes > n) {
    float amax = 0;
    for (int j = 0; j < n; ++j) amax = std::max(amax, std::abs(x[j]));
    return amax;
  }
  auto m = hn::Zero(df);
  for (int j = 0; j < n; j += lanes) m = hn::Max(m, hn::Abs(hn::LoadU(df, x + j)));
  return hn::GetLane(hn::MaxOfLanes(df, m));
}

// The scale of n elements, d = max |x| / 127, stored in *d; returns 1 / d (0 for all zeros).
inline float Scale(const float* x, int n, float* d) {
  const float amax = AbsMax(x, n);
  *d = amax / 127.0f;
  return amax > 0 ? 127.0f / amax : 0.0f;
}

// q[j] = round(x[j] * inv) + bias for j < n, stored as bytes (n a multiple of the vector length,
// or any n when it is longer); returns the sum of the rounded values (without the bias). Whole
// vectors are narrowed and stored at once (a token of 2048 took about 1.1 us a byte at a time).
template <typename Q>
inline int32_t RoundToBytes(const float* x, int n, float inv, int32_t bias, Q* q) {
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  const hn::Rebind<Q, decltype(di)> dq;
  const int lanes = static_cast<int>(hn::Lanes(df));
  if (lanes > n) {
    int32_t sum = 0;
    for (int j = 0; j < n; ++j) {
      const auto v = static_cast<int32_t>(std::nearbyint(x[j] * inv));
      q[j] = static_cast<Q>(v + bias);
      sum += v;
    }
    return sum;
  }
  const auto vinv = hn::Set(df, inv);
  const auto vbias = hn::Set(di, bias);
  auto sum = hn::Zero(di);
  for (int j = 0; j < n; j += lanes) {
    const auto v = hn::NearestInt(hn::Mul(hn::LoadU(df, x + j), vinv));
    sum = hn::Add(sum, v);
    hn::StoreU(hn::DemoteTo(dq, hn::Add(v, vbias)), dq, q + j);
  }
  return hn::GetLane(hn::SumOfLanes(di, sum));
}

// Blocks [0, nb) of one token: scales d, bytes q (rounded values + bias) and, unless sums is
// null, sums[b] = sum_scale times the sum of block b's rounded values. A vector's lanes' worth of
// blocks at a time, their maxima and sums folded into one vector each (FoldLanes), instead of two
// horizontal reductions and two divisions per block. One thread, in cache (`kernels_bench
// --benchmark_filter=QuantizeActs`): a token of 2048 in 0.42-0.46 us against 0.70, of 8192 in
// 1.65-1.88 against 2.80-2.88. Decode rounds each token on both threads before their first task,
// so this is on every product's critical path. (The sums per 16 of QuantizeActsK folded the same
// way were no faster: 2.67-2.86 us against 2.30-2.71 for 8192.)
template <typename Q>
void QuantizeBlocks(const float* x, int64_t nb, int32_t bias, Q* q, float* d, int32_t* sums,
                    int32_t sum_scale) {
  int64_t b = 0;
#if HWY_TARGET != HWY_SCALAR
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  const hn::Rebind<Q, decltype(di)> dq;
  constexpr size_t kN = HWY_LANES(float);  // blocks per group
  constexpr size_t kVecs = kBlock / kN;    // vectors per block
  if constexpr (kN >= 4 && kBlock % kN == 0) {
    if (hn::Lanes(df) == kN) {
      const auto vbias = hn::Set(di, bias);
      for (; b + static_cast<int64_t>(kN) <= nb; b += kN) {
        const float* xg = x + b * kBlock;
        hn::Vec<decltype(df)> m[kN];
#pragma GCC unroll 16
        for (size_t j = 0; j < kN; ++j) {
          m[j] = hn::Abs(hn::LoadU(df, xg + j * kBlock));
#pragma GCC unroll 8
          for (size_t v = 1; v < kVecs; ++v) {
            m[j] = hn::Max(m[j], hn::Abs(hn::LoadU(df, xg + j * kBlock + v * kN)));
          }
        }
        const auto amax = FoldLanes(df, m, [](auto a, auto c) { return hn::Max(a, c); });
        const auto k127 = hn::Set(df, 127.0f);
        hn::StoreU(hn::Div(amax, k127), df, d + b);
        HWY_ALIGN float inv[kN];  // 1 / d, 0 for a block of zeros
        hn::Store(hn::IfThenElseZero(hn::Gt(amax, hn::Zero(df)), hn::Div(k127, amax)), df, inv);
        hn::Vec<decltype(di)> sum[kN];
#pragma GCC unroll 16
        for (size_t j = 0; j < kN; ++j) {
          const auto vinv = hn::Set(df, inv[j]);
          sum[j] = hn::Zero(di);
#pragma GCC unroll 8
          for (size_t v = 0; v < kVecs; ++v) {
            const size_t at = j * kBlock + v * kN;
            const auto r = hn::NearestInt(hn::Mul(hn::LoadU(df, xg + at), vinv));
            sum[j] = hn::Add(sum[j], r);
            hn::StoreU(hn::DemoteTo(dq, hn::Add(r, vbias)), dq, q + b * kBlock + at);
          }
        }
        if (sums != nullptr) {
          const auto total = FoldLanes(di, sum, [](auto a, auto c) { return hn::Add(a, c); });
          hn::StoreU(hn::Mul(total, hn::Set(di, sum_scale)), di, sums + b);
        }
      }
    }
  }
#endif
  for (; b < nb; ++b) {
    const float* xb = x + b * kBlock;
    const int32_t sum = RoundToBytes(xb, kBlock, Scale(xb, kBlock, &d[b]), bias, q + b * kBlock);
    if (sums != nullptr) sums[b] = sum_scale * sum;
  }
}

void QuantizeActsImpl(const float* x, int64_t n, int64_t cols, uint8_t* q, float* d) {
  const int64_t nb = cols / kBlock;
  for (int64_t t = 0; t < n; ++t) {
    QuantizeBlocks(x + t * cols, nb, 128, q + t * cols, d + t * nb, nullptr, 0);
  }
}

void QuantizeActsSignedImpl(const float* x, int64_t n, int64_t cols, int8_t* q, float* d,
                            int32_t* c, int32_t k) {
  const int64_t nb = cols / kBlock;
  for (int64_t t = 0; t < n; ++t) {
    QuantizeBlocks(x + t * cols, nb, 0, q + t * cols, d + t * nb, c + t * nb, -k);
  }
}

// Per 256: one scale d = max |x| / 127 over the super-block, and the sums of q over each
// `sum_elems` (16 or 32) elements.
void QuantizeActsKImpl(const float* x, int64_t n, int64_t cols, int8_t* q, float* d, int16_t* s,
                       int sum_elems) {
  const int64_t n_super = cols / 256, n_sums = cols / sum_elems;
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t b = 0; b < n_super; ++b) {
      const float* xb = x + t * cols + b * 256;
      const float inv = Scale(xb, 256, &d[t * n_super + b]);
      int8_t* qb = q + t * cols + b * 256;
      int16_t* sb = s + t * n_sums + b * (256 / sum_elems);
      for (int j = 0; j < 256; j += sum_elems) {
        sb[j / sum_elems] = static_cast<int16_t>(RoundToBytes(xb + j, sum_elems, inv, 0, qb + j));
      }
    }
  }
}

}  // namespace tandem::kernels::cpu::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace tandem::kernels::cpu {
HWY_EXPORT(QuantizeActsImpl);
HWY_EXPORT(QuantizeActsSignedImpl);
HWY_EXPORT(QuantizeActsKImpl);
namespace internal {

void QuantizeActs(const float* x, int64_t n, int64_t cols, uint8_t* q, float* d) {
  HWY_DYNAMIC_DISPATCH(QuantizeActsImpl)(x, n, cols, q, d);
}

void QuantizeActsSigned(const float* x, int64_t n, int64_t cols, int8_t* q, float* d, int32_t* c,
                        int32_t k) {
  HWY_DYNAMIC_DISPATCH(QuantizeActsSignedImpl)(x, n, cols, q, d, c, k);
}

void QuantizeActsK(const float* x, int64_t n, int64_t cols, int8_t* q, float* d, int16_t* s,
                   int sum_elems) {
  HWY_DYNAMIC_DISPATCH(QuantizeActsKImpl)(x, n, cols, q, d, s, sum_elems);
}

void ConvertToBf16(const float* x, int64_t n, uint16_t* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = F32ToBf16(x[i]);
}

}  // namespace internal
}  // namespace tandem::kernels::cpu
#endif  // HWY_ONCE

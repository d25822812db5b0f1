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

void QuantizeActsImpl(const float* x, int64_t n, int64_t cols, uint8_t* q, float* d) {
  const int64_t nb = cols / kBlock;
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t b = 0; b < nb; ++b) {
      const float* xb = x + t * cols + b * kBlock;
      RoundToBytes(xb, kBlock, Scale(xb, kBlock, &d[t * nb + b]), 128, q + t * cols + b * kBlock);
    }
  }
}

void QuantizeActsSignedImpl(const float* x, int64_t n, int64_t cols, int8_t* q, float* d,
                            int32_t* c, int32_t k) {
  const int64_t nb = cols / kBlock;
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t b = 0; b < nb; ++b) {
      const float* xb = x + t * cols + b * kBlock;
      c[t * nb + b] = -k * RoundToBytes(xb, kBlock, Scale(xb, kBlock, &d[t * nb + b]), 0,
                                        q + t * cols + b * kBlock);
    }
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

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

// One block of 32: q[j] = round(x[j] / d), d = max |x| / 127. Returns d.
inline float QuantizeBlock(const float* xb, int32_t* qi) {
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  const size_t lanes = hn::Lanes(df);
  float amax = 0;
  if (lanes <= static_cast<size_t>(kBlock)) {
    auto m = hn::Zero(df);
    for (size_t j = 0; j < kBlock; j += lanes) m = hn::Max(m, hn::Abs(hn::LoadU(df, xb + j)));
    amax = hn::GetLane(hn::MaxOfLanes(df, m));
  } else {
    for (int j = 0; j < kBlock; ++j) amax = std::max(amax, std::abs(xb[j]));
  }
  const float inv = amax > 0 ? 127.0f / amax : 0.0f;
  if (lanes <= static_cast<size_t>(kBlock)) {
    const auto vinv = hn::Set(df, inv);
    for (size_t j = 0; j < kBlock; j += lanes) {
      hn::Store(hn::NearestInt(hn::Mul(hn::LoadU(df, xb + j), vinv)), di, qi + j);
    }
  } else {
    for (int j = 0; j < kBlock; ++j) qi[j] = static_cast<int32_t>(std::nearbyint(xb[j] * inv));
  }
  return amax / 127.0f;
}

void QuantizeActsImpl(const float* x, int64_t n, int64_t cols, uint8_t* q, float* d) {
  const int64_t nb = cols / kBlock;
  HWY_ALIGN int32_t qi[kBlock + 64];
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t b = 0; b < nb; ++b) {
      d[t * nb + b] = QuantizeBlock(x + t * cols + b * kBlock, qi);
      uint8_t* qb = q + t * cols + b * kBlock;
      for (int j = 0; j < kBlock; ++j) qb[j] = static_cast<uint8_t>(qi[j] + 128);
    }
  }
}

void QuantizeActsSignedImpl(const float* x, int64_t n, int64_t cols, int8_t* q, float* d,
                            int32_t* c, int32_t k) {
  const int64_t nb = cols / kBlock;
  HWY_ALIGN int32_t qi[kBlock + 64];
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t b = 0; b < nb; ++b) {
      d[t * nb + b] = QuantizeBlock(x + t * cols + b * kBlock, qi);
      int8_t* qb = q + t * cols + b * kBlock;
      int32_t sum = 0;
      for (int j = 0; j < kBlock; ++j) {
        qb[j] = static_cast<int8_t>(qi[j]);
        sum += qi[j];
      }
      c[t * nb + b] = -k * sum;
    }
  }
}

// Per 256: one scale d = max |x| / 127 over the super-block, and the sums of q over each
// `sum_elems` (16 or 32) elements.
void QuantizeActsKImpl(const float* x, int64_t n, int64_t cols, int8_t* q, float* d, int16_t* s,
                       int sum_elems) {
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  const int64_t n_super = cols / 256, n_sums = cols / sum_elems;
  HWY_ALIGN int32_t qi[256 + 64];
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t b = 0; b < n_super; ++b) {
      const float* xb = x + t * cols + b * 256;
      auto m = hn::Zero(df);
      for (int64_t j = 0; j < 256; j += lanes) m = hn::Max(m, hn::Abs(hn::LoadU(df, xb + j)));
      const float amax = hn::GetLane(hn::MaxOfLanes(df, m));
      const auto vinv = hn::Set(df, amax > 0 ? 127.0f / amax : 0.0f);
      for (int64_t j = 0; j < 256; j += lanes) {
        hn::Store(hn::NearestInt(hn::Mul(hn::LoadU(df, xb + j), vinv)), di, qi + j);
      }
      d[t * n_super + b] = amax / 127.0f;
      int8_t* qb = q + t * cols + b * 256;
      int16_t* sb = s + t * n_sums + b * (256 / sum_elems);
      for (int j = 0; j < 256; j += sum_elems) {
        int32_t sum = 0;
        for (int i = j; i < j + sum_elems; ++i) {
          qb[i] = static_cast<int8_t>(qi[i]);
          sum += qi[i];
        }
        sb[j / sum_elems] = static_cast<int16_t>(sum);
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

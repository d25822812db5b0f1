#include "kernels/ref/quant.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <utility>
#include <vector>

#include "kernels/ref/convert.h"

namespace tandem::kernels::ref {
namespace {

TEST(Fp16, EveryHalfRoundTripsThroughFloat) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = Fp16ToF32(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(Fp16ToF32(F32ToFp16(f))));
      continue;
    }
    EXPECT_EQ(F32ToFp16(f), h) << "half 0x" << std::hex << h;
  }
}

TEST(Fp16, KnownValuesAndRounding) {
  EXPECT_EQ(Fp16ToF32(0x3c00), 1.0f);
  EXPECT_EQ(Fp16ToF32(0xc000), -2.0f);
  EXPECT_EQ(Fp16ToF32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(F32ToFp16(65504.0f), 0x7bff);
  EXPECT_EQ(F32ToFp16(65520.0f), 0x7c00);                      // rounds to infinity
  EXPECT_EQ(F32ToFp16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);  // tie to even
  EXPECT_EQ(F32ToFp16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
}

TEST(Bf16, RoundsToNearestEven) {
  EXPECT_EQ(Bf16ToF32(0x3f80), 1.0f);
  EXPECT_EQ(F32ToBf16(1.0f), 0x3f80);
  float f;
  uint32_t bits = 0x3f808000;  // exactly halfway: ties to even (down)
  std::memcpy(&f, &bits, 4);
  EXPECT_EQ(F32ToBf16(f), 0x3f80);
  bits = 0x3f818000;  // halfway, odd: up
  std::memcpy(&f, &bits, 4);
  EXPECT_EQ(F32ToBf16(f), 0x3f82);
}

std::vector<float> RandomRow(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// Quantize then dequantize; the error of each element is bounded by half a quantization step.
void CheckRoundTrip(WeightType type, float max_rel_step) {
  const int n = 32 * 9;
  const std::vector<float> x = RandomRow(n, 7);
  std::vector<uint8_t> q(RowBytes(type, n));
  ASSERT_TRUE(QuantizeRow(type, x.data(), q.data(), n).ok());
  std::vector<float> y(n);
  ASSERT_TRUE(DequantizeRow(type, q.data(), y.data(), n).ok());
  for (int b = 0; b < n / 32; ++b) {
    float amax = 0;
    for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[b * 32 + i]));
    for (int i = 0; i < 32; ++i) {
      EXPECT_NEAR(y[b * 32 + i], x[b * 32 + i], amax * max_rel_step)
          << WeightTypeName(type) << " element " << b * 32 + i;
    }
  }
}

TEST(Quant, RoundTripsWithinHalfAStep) {
  CheckRoundTrip(WeightType::kF32, 0.0f);
  CheckRoundTrip(WeightType::kF16, 1e-3f);
  CheckRoundTrip(WeightType::kBF16, 8e-3f);
  CheckRoundTrip(WeightType::kQ8_0, 0.5f / 127 + 1e-3f);
  CheckRoundTrip(WeightType::kQ4_0, 0.5f / 8 + 0.07f);  // asymmetric range: up to 1 step on +side
  CheckRoundTrip(WeightType::kQ5_0, 0.5f / 16 + 0.035f);
  CheckRoundTrip(WeightType::kQ5_1, 0.5f / 15.5f + 0.01f);  // 31 steps over max - min <= 2 amax
}

// K-quants: a super-block of 256 with quantized sub-block scales. The bound is per 32 elements'
// largest magnitude: Q4_K spans max - min (≤ 2 amax) in 15 steps, each scale and min rounded to
// 6 bits of the block's largest (up to half a step of 1/63 of it, times q ≤ 15); Q6_K's 16-element
// sub-block scales are int8.
TEST(Quant, KQuantsRoundTrip) {
  const int n = 256 * 3;
  const std::vector<float> x = RandomRow(n, 11);
  for (const auto& [type, rel] :
       {std::pair{WeightType::kQ4_K, 0.35f}, std::pair{WeightType::kQ6_K, 0.5f / 32 + 0.03f}}) {
    std::vector<uint8_t> q(RowBytes(type, n));
    ASSERT_TRUE(QuantizeRow(type, x.data(), q.data(), n).ok());
    std::vector<float> y(n);
    ASSERT_TRUE(DequantizeRow(type, q.data(), y.data(), n).ok());
    double err = 0, norm = 0;
    for (int b = 0; b < n / 32; ++b) {
      float amax = 0;
      for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[b * 32 + i]));
      for (int i = 0; i < 32; ++i) {
        const int e = b * 32 + i;
        EXPECT_NEAR(y[e], x[e], amax * rel) << WeightTypeName(type) << " element " << e;
        err += (y[e] - x[e]) * (y[e] - x[e]);
        norm += x[e] * x[e];
      }
    }
    // Overall: about 4.5 and 6.5 bits per weight.
    const double bound = type == WeightType::kQ4_K   ? 0.09
                         : type == WeightType::kQ5_K ? 0.045
                                                     : 0.025;
    EXPECT_LT(std::sqrt(err / norm), bound) << WeightTypeName(type);
  }
}

TEST(Quant, Q4_0LayoutIsLowNibblesFirst) {
  BlockQ4_0 b{};
  b.d = F32ToFp16(0.5f);
  for (int i = 0; i < 16; ++i) b.qs[i] = static_cast<uint8_t>(i | (15 - i) << 4);
  float y[32];
  ASSERT_TRUE(DequantizeRow(WeightType::kQ4_0, reinterpret_cast<uint8_t*>(&b), y, 32).ok());
  for (int i = 0; i < 16; ++i) {
    EXPECT_EQ(y[i], 0.5f * (i - 8));
    EXPECT_EQ(y[i + 16], 0.5f * (15 - i - 8));
  }
}

// Q4_K: element = d * scale_j * q - dmin * min_j, with 6-bit scales/mins packed in 12 bytes:
// j < 4: scale = s[j] & 63, min = s[j+4] & 63; j >= 4: low 4 bits from s[j+4], high 2 bits from
// the top of s[j-4] (scale) and s[j] (min). Q5_K: the same plus a fifth bit, bit 2g of qh[l] for
// element 64 g + l and bit 2g + 1 for element 64 g + 32 + l.
template <class Block>
void CheckKQuantWithMinsLayout(WeightType type) {
  constexpr bool kQ5 = sizeof(Block) == sizeof(BlockQ5_K);
  Block b{};
  b.d = F32ToFp16(0.25f);
  b.dmin = F32ToFp16(0.125f);
  const uint8_t scales[8] = {1, 2, 3, 63, 17, 33, 48, 5};
  const uint8_t mins[8] = {0, 4, 9, 1, 60, 21, 34, 7};
  for (int j = 0; j < 4; ++j) {
    b.scales[j] = static_cast<uint8_t>((scales[j] & 63) | (scales[j + 4] >> 4) << 6);
    b.scales[j + 4] = static_cast<uint8_t>((mins[j] & 63) | (mins[j + 4] >> 4) << 6);
    b.scales[j + 8] = static_cast<uint8_t>((scales[j + 4] & 15) | (mins[j + 4] & 15) << 4);
  }
  for (int i = 0; i < 128; ++i) b.qs[i] = static_cast<uint8_t>((i * 7) & 0xff);
  if constexpr (kQ5) {
    for (int l = 0; l < 32; ++l) b.qh[l] = static_cast<uint8_t>(l * 37 + 11);
  }
  std::vector<float> y(256);
  ASSERT_TRUE(DequantizeRow(type, reinterpret_cast<uint8_t*>(&b), y.data(), 256).ok());
  for (int e = 0; e < 256; ++e) {
    const int sub = e / 32;    // sub-block of 32 elements
    const int group = e / 64;  // 32 bytes of qs per 64 elements
    const int l = e % 32;
    const uint8_t byte = b.qs[32 * group + l];
    int q = (sub % 2 == 0) ? (byte & 15) : (byte >> 4);
    if constexpr (kQ5) q |= ((b.qh[l] >> sub) & 1) << 4;
    EXPECT_FLOAT_EQ(y[e], 0.25f * scales[sub] * q - 0.125f * mins[sub])
        << WeightTypeName(type) << " element " << e;
  }
}

TEST(Quant, Q4_KAndQ5_KFollowTheBlockLayout) {
  CheckKQuantWithMinsLayout<BlockQ4_K>(WeightType::kQ4_K);
  CheckKQuantWithMinsLayout<BlockQ5_K>(WeightType::kQ5_K);
}

// Q6_K: 6-bit q = 4 low bits (ql) | 2 high bits (qh) << 4, minus 32, times d * scale[e / 16].
TEST(Quant, Q6_KFollowsTheBlockLayout) {
  BlockQ6_K b{};
  b.d = F32ToFp16(0.5f);
  for (int i = 0; i < 16; ++i) b.scales[i] = static_cast<int8_t>(i * 3 - 20);
  // Choose q[e] = (e * 5) % 64 and pack it.
  auto q_of = [](int e) { return (e * 5) % 64; };
  for (int e = 0; e < 256; ++e) {
    const int half = e / 128, r = e % 128, quarter = r / 32, l = r % 32;
    const int q = q_of(e);
    const int ql_index = 64 * half + l + (quarter % 2) * 32;
    const int shift_lo = quarter < 2 ? 0 : 4;
    b.ql[ql_index] |= static_cast<uint8_t>((q & 15) << shift_lo);
    b.qh[32 * half + l] |= static_cast<uint8_t>((q >> 4) << (2 * quarter));
  }
  std::vector<float> y(256);
  ASSERT_TRUE(DequantizeRow(WeightType::kQ6_K, reinterpret_cast<uint8_t*>(&b), y.data(), 256).ok());
  for (int e = 0; e < 256; ++e) {
    EXPECT_FLOAT_EQ(y[e], 0.5f * b.scales[e / 16] * (q_of(e) - 32)) << "element " << e;
  }
}

// Q4_1: x = d * nibble + m. Q5_0: x = d * (q - 16), Q5_1: x = d * q + m, with q the nibble and,
// as bit 4, bit j of the little-endian 32-bit qh for element j.
TEST(Quant, Q4_1AndQ5LegacyLayouts) {
  BlockQ4_1 b41{};
  b41.d = F32ToFp16(0.5f);
  b41.m = F32ToFp16(-2.0f);
  for (int i = 0; i < 16; ++i) b41.qs[i] = static_cast<uint8_t>(i | (15 - i) << 4);
  float y[32];
  ASSERT_TRUE(DequantizeRow(WeightType::kQ4_1, reinterpret_cast<uint8_t*>(&b41), y, 32).ok());
  for (int i = 0; i < 16; ++i) {
    EXPECT_EQ(y[i], 0.5f * i - 2.0f);
    EXPECT_EQ(y[i + 16], 0.5f * (15 - i) - 2.0f);
  }
  const uint32_t qh = 0xA5C3'0F96u;  // element j's fifth bit is bit j
  BlockQ5_0 b50{};
  BlockQ5_1 b51{};
  b50.d = b51.d = F32ToFp16(0.25f);
  b51.m = F32ToFp16(1.0f);
  std::memcpy(b50.qh, &qh, 4);
  std::memcpy(b51.qh, &qh, 4);
  for (int i = 0; i < 16; ++i) b50.qs[i] = b51.qs[i] = static_cast<uint8_t>((i * 3) % 16 | i << 4);
  float y0[32], y1[32];
  ASSERT_TRUE(DequantizeRow(WeightType::kQ5_0, reinterpret_cast<uint8_t*>(&b50), y0, 32).ok());
  ASSERT_TRUE(DequantizeRow(WeightType::kQ5_1, reinterpret_cast<uint8_t*>(&b51), y1, 32).ok());
  for (int e = 0; e < 32; ++e) {
    const int nibble = e < 16 ? (e * 3) % 16 : e - 16;
    const int q = nibble | ((qh >> e) & 1) << 4;
    EXPECT_EQ(y0[e], 0.25f * (q - 16)) << "Q5_0 element " << e;
    EXPECT_EQ(y1[e], 0.25f * q + 1.0f) << "Q5_1 element " << e;
  }
}

TEST(Quant, UnsupportedTypesAndShapesAreErrors) {
  float y[32];
  uint8_t buf[64] = {};
  EXPECT_EQ(DequantizeRow(WeightType::kQ3_K, buf, y, 256).code(), StatusCode::kUnimplemented);
  EXPECT_EQ(DequantizeRow(WeightType::kQ8_0, buf, y, 31).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(QuantizeRow(WeightType::kQ3_K, y, buf, 256).code(), StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace tandem::kernels::ref

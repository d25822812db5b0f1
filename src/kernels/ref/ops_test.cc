#include "kernels/ref/ops.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernels/ref/convert.h"

namespace tandem::kernels::ref {
namespace {

TEST(Ops, MatMulOverF16Weights) {
  // w = [[1, 2, 3], [4, 5, 6]] stored F16; x = two tokens.
  const float wf[6] = {1, 2, 3, 4, 5, 6};
  std::vector<uint16_t> wh(6);
  for (int i = 0; i < 6; ++i) wh[i] = F32ToFp16(wf[i]);
  const MatRef w{WeightType::kF16, reinterpret_cast<const uint8_t*>(wh.data()), 2, 3};
  const float x[6] = {1, 0, -1, 0.5f, 0.5f, 0.5f};
  float y[4];
  ASSERT_TRUE(MatMul(w, x, 2, y).ok());
  EXPECT_FLOAT_EQ(y[0], -2);
  EXPECT_FLOAT_EQ(y[1], -2);
  EXPECT_FLOAT_EQ(y[2], 3);
  EXPECT_FLOAT_EQ(y[3], 7.5f);
}

TEST(Ops, RmsNormAndSoftmax) {
  const float x[4] = {1, -1, 1, -1};
  const float w[4] = {1, 2, 3, 4};
  float out[4];
  RmsNorm(x, w, 4, 0.0f, out);
  EXPECT_FLOAT_EQ(out[1], -2);
  EXPECT_FLOAT_EQ(out[3], -4);
  float s[3] = {0, std::log(2.0f), std::log(5.0f)};
  Softmax(s, 3);
  EXPECT_NEAR(s[0], 0.125, 1e-7);
  EXPECT_NEAR(s[2], 0.625, 1e-7);
}

TEST(Ops, RopeRotatesPairsByPositionTimesFrequency) {
  RopeParams p;
  p.n_rot = 4;
  p.freq_base = 100.0f;
  // Normal mode: pairs (0,1), (2,3); theta_i = pos * 100^(-2i/4).
  float x[4] = {1, 0, 1, 0};
  Rope(x, 1, 4, 3, p);
  EXPECT_NEAR(x[0], std::cos(3.0), 1e-6);
  EXPECT_NEAR(x[1], std::sin(3.0), 1e-6);
  EXPECT_NEAR(x[2], std::cos(0.3), 1e-6);
  EXPECT_NEAR(x[3], std::sin(0.3), 1e-6);
  // Neox mode: pairs (0,2), (1,3); frequency divisors slow the second pair down.
  p.mode = RopeMode::kNeox;
  const float factors[2] = {1.0f, 2.0f};
  p.freq_factors = factors;
  float y[4] = {1, 1, 0, 0};
  Rope(y, 1, 4, 3, p);
  EXPECT_NEAR(y[0], std::cos(3.0), 1e-6);
  EXPECT_NEAR(y[2], std::sin(3.0), 1e-6);
  EXPECT_NEAR(y[1], std::cos(0.15), 1e-6);
  EXPECT_NEAR(y[3], std::sin(0.15), 1e-6);
}

TEST(Ops, GroupedQueryAttentionSharesKvHeads) {
  // 2 query heads on 1 KV head, head_dim 2, two positions.
  const AttentionShape s{2, 1, 2};
  const float q[4] = {1, 0, 0, 0};   // head 0 prefers position 1; head 1 is uniform
  const float k[4] = {0, 0, 10, 0};  // [pos][kv head][dim]
  const float v[4] = {1, 2, 3, 4};
  float scores[2], out[4];
  Attention(q, k, v, 2, s, scores, out);
  const double w1 = 1.0 / (1.0 + std::exp(-10.0 / std::sqrt(2.0)));
  EXPECT_NEAR(out[0], (1 - w1) * 1 + w1 * 3, 1e-6);
  EXPECT_NEAR(out[1], (1 - w1) * 2 + w1 * 4, 1e-6);
  EXPECT_NEAR(out[2], 2.0, 1e-6);
  EXPECT_NEAR(out[3], 3.0, 1e-6);
}

}  // namespace
}  // namespace tandem::kernels::ref

// Packed int8 weights (packed.h): the layout, and the packed kernels against the reference and
// against the row-major int8 kernels (same activation rounding: equal up to summation order).
#include "kernels/cpu/packed.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/cpu/matmul.h"
#include "kernels/ref/convert.h"
#include "kernels/ref/ops.h"
#include "kernels/ref/quant.h"
#include "kernels/test_util.h"

namespace tandem::kernels::cpu {
namespace {

using kernels::testing::NormalisedError;

struct Weights {
  std::vector<uint8_t> bytes;
  AlignedBuffer packed;
  ref::MatRef w;
};

Weights MakeWeights(WeightType type, int64_t rows, int64_t cols, std::mt19937& rng) {
  Weights m;
  std::normal_distribution<float> dist(0.0f, 1.0f);
  const uint64_t row_bytes = RowBytes(type, cols);
  m.bytes.resize(rows * row_bytes);
  std::vector<float> f(cols);
  for (int64_t r = 0; r < rows; ++r) {
    for (float& v : f) v = dist(rng);
    EXPECT_TRUE(ref::QuantizeRow(type, f.data(), m.bytes.data() + r * row_bytes, cols).ok());
  }
  m.w = {type, m.bytes.data(), rows, cols};
  return m;
}

TEST(PackedWeights, LayoutOfOneQ8Block) {
  // Row r, element k = (r + k) % 7 - 3 with scale 1: byte of (group g, lane r, i) is q + 128.
  const int64_t rows = 17, cols = 64;
  std::vector<uint8_t> bytes(rows * RowBytes(WeightType::kQ8_0, cols));
  auto* blocks = reinterpret_cast<BlockQ8_0*>(bytes.data());
  for (int64_t r = 0; r < rows; ++r) {
    for (int b = 0; b < 2; ++b) {
      blocks[r * 2 + b].d = F32ToFp16(static_cast<float>(r + 1));
      for (int k = 0; k < 32; ++k) blocks[r * 2 + b].qs[k] = (r + b * 32 + k) % 7 - 3;
    }
  }
  const ref::MatRef w{WeightType::kQ8_0, bytes.data(), rows, cols};
  const uint64_t n = PackedBytes(WeightType::kQ8_0, rows, cols);
  ASSERT_EQ(n, 2 * PanelStride(WeightType::kQ8_0, cols));
  ASSERT_EQ(PanelStride(WeightType::kQ8_0, cols), 2u * (512 + 32));
  auto buf = AlignedBuffer::Allocate(n);
  ASSERT_TRUE(buf.ok());
  ASSERT_TRUE(PackWeights(w, buf->data(), n).ok());
  const uint8_t* p = buf->data();
  for (int b = 0; b < 2; ++b) {
    for (int g = 0; g < 8; ++g) {
      for (int lane = 0; lane < 16; ++lane) {
        for (int i = 0; i < 4; ++i) {
          const int q = (lane + b * 32 + 4 * g + i) % 7 - 3;
          ASSERT_EQ(p[b * 512 + g * 64 + lane * 4 + i], static_cast<uint8_t>(q + 128));
        }
      }
    }
  }
  const auto* scales = reinterpret_cast<const uint16_t*>(p + 2 * 512);
  EXPECT_EQ(Fp16ToF32(scales[16 + 5]), 6.0f);  // block 1, row 5
  // Panel 1 holds row 16 and fifteen zero rows.
  const uint8_t* p1 = p + PanelStride(WeightType::kQ8_0, cols);
  EXPECT_EQ(p1[0], static_cast<uint8_t>((16 % 7 - 3) + 128));
  EXPECT_EQ(p1[4], 0);
  // Wrong size or type: an error, nothing written out of bounds.
  EXPECT_FALSE(PackWeights(w, buf->data(), n - 64).ok());
  EXPECT_FALSE(PackWeights({WeightType::kF16, bytes.data(), 1, 32}, buf->data(), n).ok());
}

TEST(PackedWeights, KernelsMatchReferenceAndRowMajorInt8) {
  for (WeightType type : {WeightType::kQ8_0, WeightType::kQ4_0}) {
    if (!PacksWeights(type)) GTEST_SKIP() << "this CPU has no packed int8 kernels";
    base::ThreadPool pool(3);
    std::mt19937 rng(99);
    struct Case {
      int64_t rows, cols, n_tokens;
    };
    // Partial panels, an odd number of panels, token tails of 1..3, several token blocks.
    for (const Case c : {Case{1, 32, 1}, Case{16, 64, 4}, Case{17, 96, 5}, Case{50, 256, 7},
                         Case{96, 128, 1}, Case{33, 2048, 300}, Case{129, 64, 2}}) {
      Weights m = MakeWeights(type, c.rows, c.cols, rng);
      const uint64_t n = PackedBytes(type, c.rows, c.cols);
      auto buf = AlignedBuffer::Allocate(n);
      ASSERT_TRUE(buf.ok());
      ASSERT_TRUE(PackWeights(m.w, buf->data(), n).ok());
      ref::MatRef packed = m.w;
      packed.packed = buf->data();

      std::normal_distribution<float> dist(0.0f, 1.0f);
      std::vector<float> x(c.n_tokens * c.cols);
      for (float& v : x) v = dist(rng);
      const size_t ny = c.n_tokens * c.rows;
      std::vector<float> want(ny), rowmajor(ny), got(ny, NAN);
      ASSERT_TRUE(ref::MatMul(m.w, x.data(), c.n_tokens, want.data()).ok());
      ASSERT_TRUE(MatMul(m.w, x.data(), c.n_tokens, rowmajor.data(), pool).ok());
      ASSERT_TRUE(MatMul(packed, x.data(), c.n_tokens, got.data(), pool).ok());
      const std::string label = std::string(WeightTypeName(type)) + " " + std::to_string(c.rows) +
                                "x" + std::to_string(c.cols) + " tokens " +
                                std::to_string(c.n_tokens);
      EXPECT_LT(NormalisedError(got, want), 1e-2) << label;
      EXPECT_LT(NormalisedError(got, rowmajor), 1e-6) << label;
      for (float v : got) ASSERT_TRUE(std::isfinite(v)) << label;
      // Portable kernels ignore the packed copy.
      MatMulOptions portable;
      portable.allow_intrinsics = false;
      ASSERT_TRUE(MatMul(packed, x.data(), c.n_tokens, got.data(), pool, portable).ok());
      EXPECT_LT(NormalisedError(got, want), 1e-2) << label << " portable";
    }
  }
}

}  // namespace
}  // namespace tandem::kernels::cpu

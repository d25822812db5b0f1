// Packed int8 weights (packed.h): the layout, and the packed kernels against the reference (on the
// same rounded activations: equal up to summation order).
#include "kernels/cpu/packed.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/cpu/gemm_internal.h"
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

TEST(PackedWeights, LayoutOfQ8Chunks) {
  // 10 blocks per row: one chunk of 8, then a short chunk of 2. Row r, block b, element k =
  // (r + 32 b + k) % 7 - 3 with scale r + 1 + b / 16: byte of (group g, lane r, i) is q + 128.
  const int64_t rows = 17, nb = 10, cols = 32 * nb;
  std::vector<uint8_t> bytes(rows * RowBytes(WeightType::kQ8_0, cols));
  auto* blocks = reinterpret_cast<BlockQ8_0*>(bytes.data());
  for (int64_t r = 0; r < rows; ++r) {
    for (int b = 0; b < nb; ++b) {
      blocks[r * nb + b].d = F32ToFp16(static_cast<float>(r + 1) + b / 16.0f);
      for (int k = 0; k < 32; ++k) blocks[r * nb + b].qs[k] = (r + b * 32 + k) % 7 - 3;
    }
  }
  const ref::MatRef w{WeightType::kQ8_0, bytes.data(), rows, cols};
  const uint64_t n = PackedBytes(WeightType::kQ8_0, rows, cols);
  const uint64_t stride = PanelStride(WeightType::kQ8_0, cols);
  ASSERT_EQ(n, 2 * stride);
  ASSERT_EQ(stride, (256u + 8 * 512) + (256 + 2 * 512));  // the short chunk keeps 256 scale bytes
  auto buf = AlignedBuffer::Allocate(n);
  ASSERT_TRUE(buf.ok());
  ASSERT_TRUE(PackWeights(w, buf->data(), n).ok());
  const uint8_t* p = buf->data();
  for (int b = 0; b < nb; ++b) {
    const uint64_t chunk = (b / 8) * (256 + 8 * 512);
    const uint8_t* quants = p + chunk + 256 + (b % 8) * 512;
    const auto* scales = reinterpret_cast<const uint16_t*>(p + chunk + (b % 8) * 32);
    for (int lane = 0; lane < 16; ++lane) {
      ASSERT_EQ(Fp16ToF32(scales[lane]), static_cast<float>(lane + 1) + b / 16.0f) << b;
      for (int g = 0; g < 8; ++g) {
        for (int i = 0; i < 4; ++i) {
          const int q = (lane + b * 32 + 4 * g + i) % 7 - 3;
          ASSERT_EQ(quants[g * 64 + lane * 4 + i], static_cast<uint8_t>(q + 128)) << b;
        }
      }
    }
  }
  // Panel 1 holds row 16 and fifteen zero rows.
  const uint8_t* p1 = p + stride;
  EXPECT_EQ(p1[256], static_cast<uint8_t>((16 % 7 - 3) + 128));
  EXPECT_EQ(p1[256 + 4], 0);
  EXPECT_EQ(Fp16ToF32(reinterpret_cast<const uint16_t*>(p1)[0]), 17.0f);
  EXPECT_EQ(reinterpret_cast<const uint16_t*>(p1)[1], 0);
  // Wrong size or type: an error, nothing written out of bounds.
  EXPECT_FALSE(PackWeights(w, buf->data(), n - 64).ok());
  EXPECT_FALSE(PackWeights({WeightType::kF32, bytes.data(), 1, 32}, buf->data(), n).ok());
}

struct Case {
  int64_t rows, cols, n_tokens;
};

// x rounded as the int8 kernels quantize activations: per `block` (32, or 256 for the K-quants),
// q = round(x * 127 / max |x|).
std::vector<float> RoundedPer(const std::vector<float>& x, size_t block) {
  std::vector<float> out(x.size());
  for (size_t b = 0; b < x.size(); b += block) {
    float amax = 0;
    for (size_t i = b; i < b + block; ++i) amax = std::max(amax, std::fabs(x[i]));
    const float inv = amax > 0 ? 127.0f / amax : 0.0f;
    for (size_t i = b; i < b + block; ++i) out[i] = std::nearbyint(x[i] * inv) * (amax / 127.0f);
  }
  return out;
}

// The packed kernel against the reference, against the reference on activations rounded as the
// kernel rounds them (per 32, or per 256 for the K-quants; 0: not rounded), and the portable path,
// which ignores the packed copy.
void CheckPacked(WeightType type, const std::vector<Case>& cases, double tolerance,
                 size_t act_block, const MatMulOptions& options = {}) {
  base::ThreadPool pool(3);
  std::mt19937 rng(99);
  for (const Case c : cases) {
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
    std::vector<float> want(ny), same_rounding(ny), got(ny, NAN);
    ASSERT_TRUE(ref::MatMul(m.w, x.data(), c.n_tokens, want.data()).ok());
    ASSERT_TRUE(MatMul(packed, x.data(), c.n_tokens, got.data(), pool, options).ok());
    const std::string label = std::string(WeightTypeName(type)) + " " + std::to_string(c.rows) +
                              "x" + std::to_string(c.cols) + " tokens " +
                              std::to_string(c.n_tokens);
    EXPECT_LT(NormalisedError(got, want), tolerance) << label;
    if (act_block > 0) {
      const std::vector<float> xr = RoundedPer(x, act_block);
      ASSERT_TRUE(ref::MatMul(m.w, xr.data(), c.n_tokens, same_rounding.data()).ok());
      EXPECT_LT(NormalisedError(got, same_rounding), 1e-6) << label << " same activation rounding";
    }
    for (float v : got) ASSERT_TRUE(std::isfinite(v)) << label;
    MatMulOptions portable = options;
    portable.allow_intrinsics = false;
    ASSERT_TRUE(MatMul(packed, x.data(), c.n_tokens, got.data(), pool, portable).ok());
    EXPECT_LT(NormalisedError(got, want), tolerance) << label << " portable";
  }
}

TEST(PackedWeights, KernelsMatchReference) {
  for (WeightType type : {WeightType::kQ8_0, WeightType::kQ4_0, WeightType::kQ5_0}) {
    if (!PacksWeights(type)) GTEST_SKIP() << "this CPU has no packed int8 kernels";
    // Partial panels, an odd number of panels, token tails of 1..3, several token blocks, short
    // last chunks (10 and 19 blocks: 8 + 2, 8 + 8 + 3) in prefill and decode.
    CheckPacked(type,
                {{1, 32, 1},
                 {16, 64, 4},
                 {17, 96, 5},
                 {50, 256, 7},
                 {96, 128, 1},
                 {33, 2048, 300},
                 {129, 64, 2},
                 {20, 320, 3},
                 {47, 608, 1}},
                1e-2, 32);
  }
}

// K-quants: activations are quantized per 256 with one scale (as llama.cpp's Q8_K): about 0.7 %
// normalised error against the exact reference, and none beyond float rounding against the
// reference on the rounded activations. Shapes: one and several super-blocks,
// partial and odd panel counts, every token tail, decode (1 token) with 4-panel streams.
TEST(PackedWeights, KQuantKernelsMatchReference) {
  for (WeightType type : {WeightType::kQ4_K, WeightType::kQ5_K, WeightType::kQ6_K}) {
    if (!PacksWeights(type)) GTEST_SKIP() << "this CPU has no packed int8 kernels";
    CheckPacked(type,
                {{1, 256, 1},
                 {16, 512, 4},
                 {17, 256, 5},
                 {50, 768, 7},
                 {96, 256, 1},
                 {130, 2048, 1},
                 {33, 2048, 300},
                 {129, 256, 2},
                 {64, 512, 3}},
                1.5e-2, 256);
  }
}

// F16: exact products (fp16 widens to f32 exactly; only the summation order differs) on odd
// columns (a zero-padded last pair), partial and odd panel counts, every token tail, decode; and
// with bf16 prefill, which rounds weights and activations to 8 mantissa bits where the columns
// come in whole 32s (else the exact kernel runs).
TEST(PackedWeights, F16KernelsMatchReference) {
  if (!PacksWeights(WeightType::kF16)) GTEST_SKIP() << "this CPU has no packed F16 kernels";
  const std::vector<Case> cases = {{1, 1, 1},    {16, 2, 4},     {17, 3, 5},      {50, 64, 7},
                                   {96, 33, 1},  {130, 2048, 1}, {33, 2048, 300}, {129, 96, 2},
                                   {64, 511, 3}, {47, 608, 13}};
  for (int tile : {6, 14}) {  // 2 panels x 6 tokens, 1 panel x 14 (MatMulOptions)
    MatMulOptions o;
    o.f16_prefill_tile = tile;
    CheckPacked(WeightType::kF16, cases, 1e-6, 0, o);
  }
  MatMulOptions bf16;
  bf16.f16_prefill = F16Prefill::kBf16;
  CheckPacked(WeightType::kF16, cases, 1e-2, 0, bf16);
}

// F16 through fp16 products (F16Prefill::kFp16, AVX-512 FP16 only): activations scaled per token
// and rounded to fp16, fp16 products summed in fp16 per 64 column pairs. The shapes above, and
// columns of several flushes (2048: 16 of them) with every token tail. Decode stays exact.
TEST(PackedWeights, F16AsFp16MatchesReference) {
  if (!PacksWeights(WeightType::kF16) || !internal::HasAvx512Fp16()) {
    GTEST_SKIP() << "this CPU has no AVX-512 FP16";
  }
  MatMulOptions fp16;
  fp16.f16_prefill = F16Prefill::kFp16;
  CheckPacked(WeightType::kF16,
              {{16, 2, 4},
               {17, 3, 5},
               {50, 64, 7},
               {129, 96, 2},
               {64, 511, 3},
               {47, 608, 13},
               {33, 2048, 300},
               {40, 4096, 29}},
              2e-3, 0, fp16);
  CheckPacked(WeightType::kF16, {{96, 33, 1}, {130, 2048, 1}}, 1e-6, 0, fp16);
  // It did round: not the exact kernel's bits. Measured here: 3.3e-4 of normalised error for one
  // column pair, 1.2e-3 from 64 pairs on (bf16 products: 2.4-2.6e-3).
  std::mt19937 rng(5);
  Weights m = MakeWeights(WeightType::kF16, 48, 1024, rng);
  const uint64_t n = PackedBytes(WeightType::kF16, 48, 1024);
  auto buf = AlignedBuffer::Allocate(n);
  ASSERT_TRUE(buf.ok());
  ASSERT_TRUE(PackWeights(m.w, buf->data(), n).ok());
  ref::MatRef packed = m.w;
  packed.packed = buf->data();
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(30 * 1024), exact(30 * 48), got(30 * 48);
  for (float& v : x) v = dist(rng);
  base::ThreadPool pool(2);
  ASSERT_TRUE(MatMul(packed, x.data(), 30, exact.data(), pool).ok());
  ASSERT_TRUE(MatMul(packed, x.data(), 30, got.data(), pool, fp16).ok());
  const double err = NormalisedError(got, exact);
  EXPECT_GT(err, 1e-4);
  EXPECT_LT(err, 2e-3);
}

// Where an fp16 partial sum overflows (weights near fp16's largest, 64 pairs of large products),
// the tile is computed again with the exact kernel: finite results, equal to the reference.
TEST(PackedWeights, F16AsFp16RedoesTilesThatOverflow) {
  if (!PacksWeights(WeightType::kF16) || !internal::HasAvx512Fp16()) {
    GTEST_SKIP() << "this CPU has no AVX-512 FP16";
  }
  const int64_t rows = 40, cols = 256, n_tokens = 20;
  std::vector<uint16_t> h(rows * cols);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t k = 0; k < cols; ++k) {
      // Rows 16-31 (the second panel): every product the largest, the same sign.
      const float v = r >= 16 && r < 32 ? 60000.0f : (k % 7 == 0 ? -0.5f : 0.25f);
      h[r * cols + k] = F32ToFp16(v);
    }
  }
  const ref::MatRef w{WeightType::kF16, reinterpret_cast<const uint8_t*>(h.data()), rows, cols};
  const uint64_t n = PackedBytes(WeightType::kF16, rows, cols);
  auto buf = AlignedBuffer::Allocate(n);
  ASSERT_TRUE(buf.ok());
  ASSERT_TRUE(PackWeights(w, buf->data(), n).ok());
  ref::MatRef packed = w;
  packed.packed = buf->data();
  std::vector<float> x(n_tokens * cols);
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int64_t k = 0; k < cols; ++k) x[t * cols + k] = 1.0f + 0.001f * static_cast<float>(k + t);
  }
  std::vector<float> want(n_tokens * rows), got(n_tokens * rows, NAN);
  ASSERT_TRUE(ref::MatMul(w, x.data(), n_tokens, want.data()).ok());
  base::ThreadPool pool(2);
  MatMulOptions fp16;
  fp16.f16_prefill = F16Prefill::kFp16;
  ASSERT_TRUE(MatMul(packed, x.data(), n_tokens, got.data(), pool, fp16).ok());
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int64_t r = 0; r < rows; ++r) {
      const float g = got[t * rows + r], e = want[t * rows + r];
      ASSERT_TRUE(std::isfinite(g)) << "token " << t << " row " << r;
      // Rows 0-31 are one tile (2 panels), redone exactly; rows 32-39 took fp16 products.
      EXPECT_NEAR(g, e, (r < 32 ? 1e-6 : 1e-2) * std::abs(e)) << "token " << t << " row " << r;
    }
  }
}

// The fp16 groups: GroupPairs' layout, each token scaled by a power of two that takes its largest
// magnitude into [32, 64), rounded to fp16; zero tokens keep scale 1.
TEST(PackedWeights, LayoutOfFp16PairGroups) {
  if (!internal::HasAvx512Fp16()) GTEST_SKIP() << "this CPU has no AVX-512 FP16";
  constexpr int64_t n = 33, cols = 37, tb = 20, cp = 38;  // blocks [0, 20) and [20, 33)
  std::mt19937 rng(3);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(n * cols);
  for (int64_t t = 0; t < n; ++t) {
    const float magnitude = std::ldexp(1.0f, static_cast<int>(t) - 16);  // 2^-16 .. 2^16
    for (int64_t k = 0; k < cols; ++k) x[t * cols + k] = t == 5 ? 0.0f : dist(rng) * magnitude;
  }
  std::vector<uint16_t> out(n * cp, 0xffff);
  std::vector<float> inv(n, NAN);
  internal::GroupPairsFp16(x.data(), n, cols, tb, out.data(), inv.data());
  const struct { int64_t start, size; } groups[] = {{0, 14}, {14, 6}, {20, 13}};
  for (const auto g : groups) {
    for (int64_t t = 0; t < g.size; ++t) {
      const int64_t token = g.start + t;
      float amax = 0;
      for (int64_t k = 0; k < cols; ++k) amax = std::max(amax, std::abs(x[token * cols + k]));
      const float scale = 1.0f / inv[token];
      if (amax == 0) {
        EXPECT_EQ(scale, 1.0f);
      } else {
        EXPECT_GE(amax * scale, 32.0f) << token;
        EXPECT_LT(amax * scale, 64.0f) << token;
      }
      for (int64_t j = 0; j < cp / 2; ++j) {
        const uint16_t* pair = out.data() + g.start * cp + (j * g.size + t) * 2;
        EXPECT_EQ(pair[0], F32ToFp16(x[token * cols + 2 * j] * scale)) << token << " " << j;
        EXPECT_EQ(pair[1], 2 * j + 1 < cols ? F32ToFp16(x[token * cols + 2 * j + 1] * scale) : 0)
            << token << " " << j;
      }
    }
  }
}

// BF16 packs as F16 does. Decode widens the weights exactly (1e-6 of the reference); prefill takes
// bf16 dot products on activations rounded to bf16 where the columns come in whole 32s.
TEST(PackedWeights, BF16KernelsMatchReference) {
  if (!PacksWeights(WeightType::kBF16)) GTEST_SKIP() << "this CPU has no packed BF16 kernels";
  CheckPacked(WeightType::kBF16, {{1, 1, 1}, {17, 3, 1}, {96, 33, 1}, {130, 2048, 1}, {47, 608, 1}},
              1e-6, 0);
  CheckPacked(WeightType::kBF16,
              {{16, 2, 4}, {17, 3, 5}, {50, 64, 7}, {33, 2048, 300}, {129, 96, 2}, {64, 511, 3}},
              1e-2, 0);
  // Columns that are not whole 32s take the exact f32 tiles, both of them.
  for (int tile : {6, 14}) {
    MatMulOptions o;
    o.f16_prefill_tile = tile;
    CheckPacked(WeightType::kBF16, {{17, 3, 5}, {50, 66, 29}, {64, 511, 16}}, 1e-6, 0, o);
  }
  MatMulOptions bad;
  bad.f16_prefill_tile = 7;
  std::vector<uint16_t> w(4);
  std::vector<float> x(2), y(4);
  base::ThreadPool pool(1);
  EXPECT_EQ(MatMul({WeightType::kBF16, reinterpret_cast<uint8_t*>(w.data()), 2, 2}, x.data(), 2,
                   y.data(), pool, bad)
                .code(),
            StatusCode::kInvalidArgument);
}

// The decode prefetch (MatMulOptions::decode_prefetch; on by default on Intel and AMD Zen 5) asks
// for lines ahead and changes no result: the same bits without it, near it and far ahead (past the
// matrix's end), into L1 and L2, with and without page bursts, for every packed type, a partial
// last panel and several super-blocks.
TEST(PackedWeights, DecodePrefetchChangesNoResult) {
  base::ThreadPool pool(2);
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (WeightType type :
       {WeightType::kQ8_0, WeightType::kQ4_0, WeightType::kQ5_0, WeightType::kQ4_K,
        WeightType::kQ5_K, WeightType::kQ6_K, WeightType::kF16, WeightType::kBF16}) {
    if (!PacksWeights(type)) continue;
    for (const auto& [rows, cols] : {std::pair<int64_t, int64_t>{130, 2048}, {17, 512}}) {
      Weights m = MakeWeights(type, rows, cols, rng);
      const uint64_t n = PackedBytes(type, rows, cols);
      auto buf = AlignedBuffer::Allocate(n);
      ASSERT_TRUE(buf.ok());
      ASSERT_TRUE(PackWeights(m.w, buf->data(), n).ok());
      ref::MatRef packed = m.w;
      packed.packed = buf->data();
      std::vector<float> x(cols);
      for (float& v : x) v = dist(rng);
      std::vector<float> want(rows), want_ref(rows);
      MatMulOptions options;
      options.decode_prefetch = 0;
      ASSERT_TRUE(MatMul(packed, x.data(), 1, want.data(), pool, options).ok());
      ASSERT_TRUE(ref::MatMul(m.w, x.data(), 1, want_ref.data()).ok());
      const std::string label = std::string(WeightTypeName(type)) + " " + std::to_string(rows) +
                                "x" + std::to_string(cols);
      EXPECT_LT(NormalisedError(want, want_ref), 1.5e-2) << label;
      for (int streams : {1, 2, 0}) {
        for (int burst : {0, 1, -1}) {
          for (int level : {1, 2, 0}) {
            for (int distance : {64, 4096, 1 << 20, -1}) {
              options.decode_prefetch = distance;
              options.decode_prefetch_level = level;
              options.decode_page_burst = burst;
              options.decode_streams = streams;
              std::vector<float> got(rows, NAN);
              ASSERT_TRUE(MatMul(packed, x.data(), 1, got.data(), pool, options).ok());
              EXPECT_EQ(0, std::memcmp(got.data(), want.data(), rows * sizeof(float)))
                  << label << " prefetch " << distance << " into L" << level << ", page burst "
                  << burst << ", streams " << streams;
            }
          }
        }
      }
      options.decode_streams = 3;
      std::vector<float> bad(rows);
      EXPECT_EQ(MatMul(packed, x.data(), 1, bad.data(), pool, options).code(),
                StatusCode::kInvalidArgument)
          << label;
      options.decode_streams = 0;
      options.decode_page_burst = -1;
      options.decode_prefetch_level = 3;
      std::vector<float> got(rows);
      EXPECT_EQ(MatMul(packed, x.data(), 1, got.data(), pool, options).code(),
                StatusCode::kInvalidArgument)
          << label;
    }
  }
}

// The 14-token F16 tile's activations: per block of tb tokens, groups of 14 (the last shorter),
// each [column pair][token][2], an odd last column paired with 0.
TEST(PackedWeights, LayoutOfPairGroups) {
  constexpr int64_t n = 33, cols = 5, tb = 20, cp = 6;  // blocks [0, 20) and [20, 33)
  std::vector<float> x(n * cols), out(n * cp, NAN);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i);
  internal::GroupPairs(x.data(), n, cols, tb, out.data());
  // Groups: [0, 14), [14, 20), [20, 33); token t's pair j is at start * cp + (j * T + t) * 2.
  const struct { int64_t start, size; } groups[] = {{0, 14}, {14, 6}, {20, 13}};
  for (const auto g : groups) {
    for (int64_t t = 0; t < g.size; ++t) {
      for (int64_t j = 0; j < cp / 2; ++j) {
        const float* pair = out.data() + g.start * cp + (j * g.size + t) * 2;
        const int64_t token = g.start + t;
        EXPECT_EQ(pair[0], x[token * cols + 2 * j]) << token << " " << j;
        EXPECT_EQ(pair[1], 2 * j + 1 < cols ? x[token * cols + 2 * j + 1] : 0.0f)
            << token << " " << j;
      }
    }
  }
}

TEST(PackedWeights, LayoutOfF16Pairs) {
  // Row r, column k holds r * 100 + k (exact in fp16 up to 2048).
  const int64_t rows = 18, cols = 5;
  std::vector<uint16_t> h(rows * cols);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t k = 0; k < cols; ++k) h[r * cols + k] = F32ToFp16(static_cast<float>(r * 100 + k));
  }
  const ref::MatRef w{WeightType::kF16, reinterpret_cast<const uint8_t*>(h.data()), rows, cols};
  const uint64_t n = PackedBytes(WeightType::kF16, rows, cols);
  ASSERT_EQ(PanelStride(WeightType::kF16, cols), 3u * 64);
  ASSERT_EQ(n, 2u * 3 * 64);
  auto buf = AlignedBuffer::Allocate(n);
  ASSERT_TRUE(buf.ok());
  ASSERT_TRUE(PackWeights(w, buf->data(), n).ok());
  const auto* p = reinterpret_cast<const uint16_t*>(buf->data());
  for (int64_t r = 0; r < 32; ++r) {
    for (int64_t k = 0; k < 6; ++k) {
      const uint16_t got = p[(r / 16) * 3 * 32 + (k / 2) * 32 + (r % 16) * 2 + k % 2];
      const float want = r < rows && k < cols ? static_cast<float>(r * 100 + k) : 0.0f;
      ASSERT_EQ(Fp16ToF32(got), want) << "row " << r << " column " << k;
    }
  }
}

// The layout of one Q4_K and one Q6_K super-block, element by element: the packed kernels read
// exactly these bytes.
TEST(PackedWeights, LayoutOfKQuantSuperBlocks) {
  std::mt19937 rng(5);
  for (WeightType type : {WeightType::kQ4_K, WeightType::kQ6_K}) {
    Weights m = MakeWeights(type, 3, 512, rng);
    const uint64_t n = PackedBytes(type, 3, 512);
    ASSERT_EQ(n, 2 * static_cast<uint64_t>(type == WeightType::kQ4_K ? Q4KPanel::kBytes
                                                                     : Q6KPanel::kBytes));
    auto buf = AlignedBuffer::Allocate(n);
    ASSERT_TRUE(buf.ok());
    ASSERT_TRUE(PackWeights(m.w, buf->data(), n).ok());
    std::vector<float> row(512);
    for (int r = 0; r < 3; ++r) {
      ASSERT_TRUE(
          ref::DequantizeRow(type, m.bytes.data() + r * RowBytes(type, 512), row.data(), 512).ok());
      for (int e = 0; e < 512; ++e) {
        const uint8_t* sb = buf->data() + (e / 256) * (n / 2);
        const int i = e % 256;
        float v;
        if (type == WeightType::kQ4_K) {
          const int s = i / 32, chunk = i / 64, g = (i % 32) / 4;
          const uint8_t byte = sb[Q4KPanel::kQuants + (chunk * 8 + g) * 64 + r * 4 + i % 4];
          const int q = s % 2 == 0 ? byte & 15 : byte >> 4;
          const int sc = sb[Q4KPanel::kScales + s * 16 + r];
          const int mn = sb[Q4KPanel::kMins + (s / 2) * 32 + r * 2 + s % 2];
          uint16_t d, dmin;
          std::memcpy(&d, sb + Q4KPanel::kD + 2 * r, 2);
          std::memcpy(&dmin, sb + Q4KPanel::kDmin + 2 * r, 2);
          v = Fp16ToF32(d) * sc * q - Fp16ToF32(dmin) * mn;
        } else {
          const int h = i / 128, k = (i % 128) / 32, g = (i % 32) / 4, s = i / 16;
          const uint8_t* grp = sb + Q6KPanel::kQuants + (h * 8 + g) * 192 + r * 4 + i % 4;
          const int lo = k < 2 ? grp[(k % 2) * 64] & 15 : grp[(k % 2) * 64] >> 4;
          const int q = lo | ((grp[128] >> (2 * k)) & 3) << 4;
          const int sc = static_cast<int8_t>(sb[Q6KPanel::kScales + s * 16 + r]);
          uint16_t d;
          std::memcpy(&d, sb + Q6KPanel::kD + 2 * r, 2);
          v = Fp16ToF32(d) * sc * (q - 32);
        }
        ASSERT_FLOAT_EQ(v, row[e]) << WeightTypeName(type) << " row " << r << " element " << e;
      }
    }
  }
}

}  // namespace
}  // namespace tandem::kernels::cpu

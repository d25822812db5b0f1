// Every fast kernel against the scalar reference: random data, odd and misaligned shapes, every
// Highway target this CPU supports, with and without the AVX-512 intrinsics paths.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "base/thread_pool.h"
#include "hwy/targets.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/gemm_internal.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/packed.h"
#include "kernels/ref/convert.h"
#include "kernels/ref/ops.h"
#include "kernels/ref/quant.h"
#include "kernels/test_util.h"

namespace tandem::kernels {
namespace {

using kernels::testing::NormalisedError;

std::vector<float> RandomFloats(size_t n, std::mt19937& rng) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& f : v) f = dist(rng);
  return v;
}

// Random weights of `type` (K-quants: random blocks with sane scales), at `offset` bytes past a
// 64-byte boundary to exercise misaligned vector loads. GGUF rows are always 2-byte aligned
// (every block and half-precision row is an even number of bytes), so offsets are even. `storage`
// owns the bytes.
ref::MatRef MakeWeights(WeightType type, int64_t rows, int64_t cols, int offset, std::mt19937& rng,
                        std::vector<uint8_t>& storage) {
  const uint64_t row_bytes = RowBytes(type, cols);
  storage.assign(rows * row_bytes + 128, 0);
  uint8_t* base = storage.data();
  base += (64 - reinterpret_cast<uintptr_t>(base) % 64) % 64 + offset;
  // Types without a quantizer: random bytes, then sane fp16 scales (and minima) per block.
  struct Scale {
    size_t offset;
    float value;
  };
  std::vector<Scale> scales;
  switch (type) {
    case WeightType::kQ4_1: scales = {{0, 0.1f}, {2, -0.7f}}; break;
    case WeightType::kQ5_0: scales = {{0, 0.05f}}; break;
    case WeightType::kQ5_1: scales = {{0, 0.05f}, {2, -0.8f}}; break;
    case WeightType::kQ4_K: scales = {{0, 0.01f}, {2, 0.005f}}; break;
    case WeightType::kQ5_K: scales = {{0, 0.005f}, {2, 0.005f}}; break;
    case WeightType::kQ6_K: scales = {{offsetof(BlockQ6_K, d), 0.002f}}; break;
    default: break;
  }
  if (!scales.empty()) {
    std::uniform_int_distribution<int> byte(0, 255);
    for (uint64_t i = 0; i < rows * row_bytes; ++i) base[i] = static_cast<uint8_t>(byte(rng));
    const WeightTypeTraits t = TraitsOf(type);
    const int64_t n_blocks = rows * cols / t.block_elems;
    for (int64_t b = 0; b < n_blocks; ++b) {
      for (const Scale& sc : scales) {
        // The blocks may sit at odd addresses: write the scales bytewise.
        const uint16_t h = F32ToFp16(sc.value);
        std::memcpy(base + b * t.block_bytes + sc.offset, &h, sizeof(h));
      }
    }
  } else {
    const std::vector<float> f = RandomFloats(rows * cols, rng);
    for (int64_t r = 0; r < rows; ++r) {
      EXPECT_TRUE(ref::QuantizeRow(type, &f[r * cols], base + r * row_bytes, cols).ok());
    }
  }
  return ref::MatRef{type, base, rows, cols};
}

struct TypeCase {
  WeightType type;
  double tolerance;  // normalised error against ref::MatMul
  int block;         // cols must be a multiple
};

// Int8 paths quantize activations to 8 bits per block (~0.3% per element): 1e-2 is ~3 sigma at
// these sizes. BF16 activations (8-bit mantissa) likewise.
const TypeCase kTypes[] = {
    {WeightType::kF32, 1e-5, 1},    {WeightType::kF16, 1e-5, 1},    {WeightType::kBF16, 1e-2, 1},
    {WeightType::kQ8_0, 1e-2, 32},  {WeightType::kQ4_0, 1e-2, 32},  {WeightType::kQ4_K, 1e-5, 256},
    {WeightType::kQ6_K, 1e-5, 256}, {WeightType::kQ4_1, 1e-5, 32},  {WeightType::kQ5_0, 1e-5, 32},
    {WeightType::kQ5_1, 1e-5, 32},  {WeightType::kQ5_K, 1e-5, 256},
};

struct Shape {
  int64_t rows, cols_blocks, n_tokens;
  int offset;
};
const Shape kShapes[] = {
    {1, 1, 1, 0},  {7, 3, 1, 2},    {13, 2, 5, 6},   {33, 5, 17, 0},
    {64, 4, 9, 2}, {130, 8, 70, 2}, {19, 8, 300, 2},  // more than one token block: activations
                                                      // converted on several threads
};

void CheckMatMul(const TypeCase& tc, const cpu::MatMulOptions& opt, base::ThreadPool& pool,
                 const std::string& label) {
  std::mt19937 rng(1234);
  for (const Shape& s : kShapes) {
    // Plain types get odd column counts; block types a whole number of blocks.
    const int64_t cols = tc.block == 1 ? s.cols_blocks * 37 + 3 : s.cols_blocks * tc.block;
    std::vector<uint8_t> storage;
    const ref::MatRef w = MakeWeights(tc.type, s.rows, cols, s.offset, rng, storage);
    std::vector<float> xs = RandomFloats(s.n_tokens * cols + 1, rng);
    const float* x = xs.data() + 1;  // misaligned by one float
    std::vector<float> want(s.n_tokens * s.rows), got(s.n_tokens * s.rows, NAN);
    ASSERT_TRUE(ref::MatMul(w, x, s.n_tokens, want.data()).ok());
    ASSERT_TRUE(cpu::MatMul(w, x, s.n_tokens, got.data(), pool, opt).ok());
    EXPECT_LT(NormalisedError(got, want), tc.tolerance)
        << label << " " << WeightTypeName(tc.type) << " rows=" << s.rows << " cols=" << cols
        << " tokens=" << s.n_tokens << " offset=" << s.offset;
  }
}

// Runs `fn(label)` once per Highway target this CPU supports, then restores the default.
template <class Fn>
void ForEachTarget(const Fn& fn) {
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    fn(std::string(hwy::TargetName(target)));
  }
  hwy::SetSupportedTargetsForTest(0);
}

TEST(CpuMatMul, MatchesReferenceOnEveryTarget) {
  base::ThreadPool pool(3);
  ForEachTarget([&](const std::string& target) {
    for (const TypeCase& tc : kTypes) {
      cpu::MatMulOptions portable;
      portable.allow_intrinsics = false;
      CheckMatMul(tc, portable, pool, target + " portable");
    }
  });
}

TEST(CpuMatMul, IntrinsicsPathsMatchReference) {
  base::ThreadPool pool(2);
  for (const TypeCase& tc : kTypes) CheckMatMul(tc, {}, pool, "default");
  cpu::MatMulOptions bf16;
  bf16.f16_prefill = cpu::F16Prefill::kBf16;
  CheckMatMul({WeightType::kF16, 1e-2, 1}, bf16, pool, "f16 as bf16");
}

// Prefill of F16 (as bf16) and BF16 through panels packed per task: whole 32-column blocks, 16+
// tokens; partial 32-row panels, token tails, several column chunks (> 512 columns).
TEST(CpuMatMul, Bf16PanelsMatchReference) {
  base::ThreadPool pool(2);
  cpu::MatMulOptions bf16;
  bf16.f16_prefill = cpu::F16Prefill::kBf16;
  std::mt19937 rng(31);
  struct Case {
    int64_t rows, cols, n_tokens;
  };
  for (WeightType type : {WeightType::kF16, WeightType::kBF16}) {
    for (const Case c :
         {Case{5, 32, 40}, Case{32, 64, 16}, Case{70, 1088, 29}, Case{97, 96, 130}}) {
      std::vector<uint8_t> storage;
      const ref::MatRef w = MakeWeights(type, c.rows, c.cols, 0, rng, storage);
      const std::vector<float> x = RandomFloats(c.n_tokens * c.cols, rng);
      std::vector<float> want(c.n_tokens * c.rows), got(c.n_tokens * c.rows, NAN);
      ASSERT_TRUE(ref::MatMul(w, x.data(), c.n_tokens, want.data()).ok());
      ASSERT_TRUE(cpu::MatMul(w, x.data(), c.n_tokens, got.data(), pool, bf16).ok());
      EXPECT_LT(NormalisedError(got, want), 1e-2)
          << WeightTypeName(type) << " " << c.rows << "x" << c.cols << " tokens " << c.n_tokens;
    }
  }
}

TEST(CpuMatMul, SingleThreadEqualsMultiThread) {
  base::ThreadPool one(1), three(3);
  std::mt19937 rng(7);
  std::vector<uint8_t> storage;
  const ref::MatRef w = MakeWeights(WeightType::kQ8_0, 301, 256, 0, rng, storage);
  const std::vector<float> x = RandomFloats(11 * 256, rng);
  std::vector<float> a(11 * 301), b(11 * 301);
  ASSERT_TRUE(cpu::MatMul(w, x.data(), 11, a.data(), one).ok());
  ASSERT_TRUE(cpu::MatMul(w, x.data(), 11, b.data(), three).ok());
  EXPECT_EQ(a, b);
}

// Matrices that share their input (q, k, v) multiplied together give each product's own result
// exactly: the same kernels on the same activations, converted once. Row counts that are not
// whole panels; row tiles and, where this CPU packs the type, packed panels.
TEST(CpuMatMul, SharedInputProductsEqualSeparateOnes) {
  base::ThreadPool pool(3);
  std::mt19937 rng(5);
  for (WeightType type : {WeightType::kF32, WeightType::kF16, WeightType::kQ8_0, WeightType::kQ4_0,
                          WeightType::kQ4_K, WeightType::kQ6_K}) {
    for (bool pack : {false, true}) {
      if (pack && !cpu::PacksWeights(type)) continue;
      SCOPED_TRACE(std::string(WeightTypeName(type)) + (pack ? " packed" : ""));
      const int64_t cols = 512, rows[] = {40, 16, 24};
      std::vector<uint8_t> storage[3];
      std::vector<cpu::AlignedBuffer> panels;
      ref::MatRef w[3];
      for (int i = 0; i < 3; ++i) {
        w[i] = MakeWeights(type, rows[i], cols, 0, rng, storage[i]);
        if (pack) {
          const uint64_t bytes = cpu::PackedBytes(type, rows[i], cols);
          auto buf = cpu::AlignedBuffer::Allocate(bytes);
          ASSERT_TRUE(buf.ok());
          ASSERT_TRUE(cpu::PackWeights(w[i], buf->data(), bytes).ok());
          w[i].packed = buf->data();
          panels.push_back(std::move(*buf));
        }
      }
      for (int64_t n : {1, 7, 300}) {
        const std::vector<float> x = RandomFloats(n * cols, rng);
        std::vector<float> want[3], got[3];
        for (int i = 0; i < 3; ++i) {
          want[i].resize(n * rows[i]);
          got[i].assign(n * rows[i], NAN);
          ASSERT_TRUE(cpu::MatMul(w[i], x.data(), n, want[i].data(), pool).ok());
        }
        const ref::MatRef* ws[] = {&w[0], &w[1], &w[2]};
        float* ys[] = {got[0].data(), got[1].data(), got[2].data()};
        ASSERT_TRUE(cpu::MatMuls(ws, x.data(), n, ys, pool).ok());
        for (int i = 0; i < 3; ++i) EXPECT_EQ(got[i], want[i]) << "matrix " << i << ", n=" << n;
      }
    }
  }
  // Different types go one at a time; a count mismatch is an error.
  std::vector<uint8_t> a_bytes, b_bytes;
  const ref::MatRef a = MakeWeights(WeightType::kQ8_0, 8, 64, 0, rng, a_bytes);
  const ref::MatRef b = MakeWeights(WeightType::kF32, 8, 64, 0, rng, b_bytes);
  const std::vector<float> x = RandomFloats(4 * 64, rng);
  std::vector<float> ya(32), yb(32), want_a(32), want_b(32);
  ASSERT_TRUE(cpu::MatMul(a, x.data(), 4, want_a.data(), pool).ok());
  ASSERT_TRUE(cpu::MatMul(b, x.data(), 4, want_b.data(), pool).ok());
  const ref::MatRef* ws[] = {&a, &b};
  float* ys[] = {ya.data(), yb.data()};
  ASSERT_TRUE(cpu::MatMuls(ws, x.data(), 4, ys, pool).ok());
  EXPECT_EQ(ya, want_a);
  EXPECT_EQ(yb, want_b);
  EXPECT_FALSE(cpu::MatMuls(ws, x.data(), 4, std::span<float* const>(ys, 1), pool).ok());
}

TEST(CpuMatMul, RejectsUnsupportedTypeAndBadShape) {
  base::ThreadPool pool(1);
  std::vector<uint8_t> bytes(1024);
  std::vector<float> x(256), y(4);
  EXPECT_FALSE(
      cpu::MatMul({WeightType::kQ3_K, bytes.data(), 1, 256}, x.data(), 1, y.data(), pool).ok());
  EXPECT_FALSE(
      cpu::MatMul({WeightType::kQ8_0, bytes.data(), 1, 33}, x.data(), 1, y.data(), pool).ok());
  EXPECT_FALSE(cpu::KernelTargets().empty());
}

struct AttnCase {
  int n_heads, n_kv_heads, head_dim;
  int64_t pos, n_tokens;
};

// The last four cases decode over longer contexts: per KV head, then split by keys (with 2 and 3
// tokens too).
// The int8 kernels' activations, per 32-element block: d = max |x| / 127, q = round(x / d) (+ 128
// unsigned), and for the signed form c = -k * sum(q); exactly, on every target (a vector's lanes'
// worth of blocks at a time, and the blocks left over one by one).
TEST(QuantizedActs, EqualTheScalarBlocksOnEveryTarget) {
  std::mt19937 rng(11);
  for (int64_t cols : {32, 96, 608, 2048}) {
    const int64_t n = 3, nb = cols / 32;
    std::vector<float> x = RandomFloats(n * cols, rng);
    std::fill(x.begin() + 64, x.begin() + 96, 0.0f);  // block 2 of the tokens: all zeros
    std::vector<int8_t> want_q(n * cols);
    std::vector<float> want_d(n * nb);
    std::vector<int32_t> want_sum(n * nb);
    for (int64_t b = 0; b < n * nb; ++b) {
      float amax = 0;
      for (int i = 0; i < 32; ++i) amax = std::max(amax, std::abs(x[b * 32 + i]));
      want_d[b] = amax / 127.0f;
      const float inv = amax > 0 ? 127.0f / amax : 0.0f;
      for (int i = 0; i < 32; ++i) {
        want_q[b * 32 + i] = static_cast<int8_t>(std::nearbyint(x[b * 32 + i] * inv));
        want_sum[b] += want_q[b * 32 + i];
      }
    }
    ForEachTarget([&](const std::string& target) {
      SCOPED_TRACE(target + " cols=" + std::to_string(cols));
      std::vector<int8_t> q(n * cols);
      std::vector<uint8_t> qu(n * cols);
      std::vector<float> d(n * nb), du(n * nb);
      std::vector<int32_t> c(n * nb);
      cpu::internal::QuantizeActsSigned(x.data(), n, cols, q.data(), d.data(), c.data(), 8);
      cpu::internal::QuantizeActs(x.data(), n, cols, qu.data(), du.data());
      for (int64_t b = 0; b < n * nb; ++b) {
        ASSERT_EQ(d[b], want_d[b]) << "block " << b;
        ASSERT_EQ(du[b], want_d[b]) << "block " << b;
        ASSERT_EQ(c[b], -8 * want_sum[b]) << "block " << b;
      }
      for (int64_t i = 0; i < n * cols; ++i) {
        ASSERT_EQ(q[i], want_q[i]) << "element " << i;
        ASSERT_EQ(qu[i], static_cast<uint8_t>(want_q[i] + 128)) << "element " << i;
      }
    });
  }
}

// SwiGLU and RMS norm, on every target: each element within 1e-5 of the reference's, relatively
// (the fast exp differs from std::exp in the last bits), over gates from -120 to 120 and odd
// lengths (the scalar tails).
TEST(CpuElementwise, MatchReferenceOnEveryTarget) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> wide(-120.0f, 120.0f);
  for (int64_t n : {1, 7, 16, 1000, 8195}) {
    std::vector<float> gate = RandomFloats(n, rng), up = RandomFloats(n, rng);
    for (int64_t i = 0; i < n; i += 3) gate[i] = wide(rng);
    std::vector<float> want = gate;
    ref::SwiGlu(want.data(), up.data(), n);
    std::vector<float> x = RandomFloats(n, rng), w = RandomFloats(n, rng), want_norm(n);
    ref::RmsNorm(x.data(), w.data(), n, 1e-5f, want_norm.data());
    auto check = [](const std::vector<float>& got, const std::vector<float>& want,
                    const std::string& what) {
      for (size_t i = 0; i < want.size(); ++i) {
        ASSERT_NEAR(got[i], want[i], 1e-5f * std::abs(want[i]) + 1e-30f)
            << what << " element " << i;
      }
    };
    ForEachTarget([&](const std::string& target) {
      std::vector<float> got = gate, got_norm(n);
      cpu::SwiGlu(got.data(), up.data(), n);
      check(got, want, target + " SwiGlu n=" + std::to_string(n));
      cpu::RmsNorm(x.data(), w.data(), n, 1e-5f, got_norm.data());
      check(got_norm, want_norm, target + " RmsNorm n=" + std::to_string(n));
    });
  }
}

TEST(CpuAttention, MatchesReferenceOnEveryTarget) {
  const AttnCase cases[] = {
      {4, 4, 8, 0, 1},     {4, 4, 8, 0, 37},      {8, 2, 64, 5, 20},    {6, 3, 20, 70, 1},
      {32, 8, 64, 3, 130}, {32, 8, 128, 100, 40}, {4, 4, 64, 2, 50},    {6, 2, 64, 0, 33},
      {32, 8, 64, 100, 1}, {32, 8, 64, 1100, 1},  {8, 2, 128, 1300, 3}, {6, 3, 20, 1030, 2},
  };
  base::ThreadPool pool(3);
  ForEachTarget([&](const std::string& target) {
    std::mt19937 rng(99);
    for (const AttnCase& c : cases) {
      const int64_t n_ctx = c.pos + c.n_tokens;
      const int64_t qd = int64_t{c.n_heads} * c.head_dim, kvd = int64_t{c.n_kv_heads} * c.head_dim;
      const std::vector<float> q = RandomFloats(c.n_tokens * qd, rng);
      const std::vector<float> k = RandomFloats(n_ctx * kvd, rng);
      const std::vector<float> v = RandomFloats(n_ctx * kvd, rng);
      // The same values as an f16 cache holds them (IEEE half bits), read widened.
      std::vector<uint16_t> k16(k.size()), v16(v.size());
      for (size_t i = 0; i < k.size(); ++i) k16[i] = F32ToFp16(k[i]);
      for (size_t i = 0; i < v.size(); ++i) v16[i] = F32ToFp16(v[i]);
      const ref::AttentionShape shape{c.n_heads, c.n_kv_heads, c.head_dim};
      for (const bool f16 : {false, true}) {
        std::vector<float> want(c.n_tokens * qd), got(c.n_tokens * qd, NAN), scores(n_ctx);
        for (int64_t t = 0; t < c.n_tokens; ++t) {
          if (f16) {
            ref::Attention(&q[t * qd], k16.data(), v16.data(), c.pos + t + 1, shape, scores.data(),
                           &want[t * qd]);
          } else {
            ref::Attention(&q[t * qd], k.data(), v.data(), c.pos + t + 1, shape, scores.data(),
                           &want[t * qd]);
          }
        }
        const void* kc = f16 ? static_cast<const void*>(k16.data()) : k.data();
        const void* vc = f16 ? static_cast<const void*>(v16.data()) : v.data();
        cpu::CausalAttention({q.data(), c.n_tokens, c.pos, kc, vc, shape, got.data(), f16}, pool);
        EXPECT_LT(NormalisedError(got, want), 1e-5)
            << target << (f16 ? " f16" : " f32") << " heads=" << c.n_heads << "/" << c.n_kv_heads
            << " hd=" << c.head_dim << " pos=" << c.pos << " n=" << c.n_tokens;
      }
    }
  });
}

// The f16 cache's conversions give the reference's bits on every target: rounding to nearest
// even (ties included), subnormals, overflow to infinity; and back, every finite half exactly.
TEST(CpuConvert, HalfMatchesReferenceOnEveryTarget) {
  std::mt19937 rng(7);
  std::vector<float> values = {0.0f,
                               -0.0f,
                               1.0f + 1.0f / 2048,
                               1.0f + 3.0f / 2048,
                               65504.0f,
                               65519.0f,
                               65520.0f,
                               -1e6f,
                               6e-8f,
                               2.98e-8f,
                               1e-10f,
                               INFINITY,
                               -INFINITY,
                               3.0517578e-5f};
  std::normal_distribution<float> d(0.0f, 1.0f);
  for (float scale : {1e-7f, 1e-4f, 1.0f, 300.0f, 7e4f}) {
    for (int i = 0; i < 200; ++i) values.push_back(d(rng) * scale);
  }
  values.push_back(0.5f);  // an odd count: the scalar tail too
  std::vector<uint16_t> all_halves;
  for (uint32_t h = 0; h < 65536; ++h) {
    if ((h & 0x7c00) != 0x7c00 || (h & 0x3ff) == 0) all_halves.push_back(static_cast<uint16_t>(h));
  }
  ForEachTarget([&](const std::string& target) {
    std::vector<uint16_t> got(values.size());
    cpu::F32ToF16(values.data(), static_cast<int64_t>(values.size()), got.data());
    for (size_t i = 0; i < values.size(); ++i) {
      ASSERT_EQ(got[i], F32ToFp16(values[i])) << target << " " << values[i];
    }
    std::vector<float> back(all_halves.size());
    cpu::F16ToF32(all_halves.data(), static_cast<int64_t>(all_halves.size()), back.data());
    for (size_t i = 0; i < all_halves.size(); ++i) {
      ASSERT_EQ(back[i], Fp16ToF32(all_halves[i])) << target << " half " << all_halves[i];
    }
  });
}

TEST(ThreadPool, RunsEveryTaskOnceAndCanBeShared) {
  base::ThreadPool pool(3);
  for (int round = 0; round < 50; ++round) {
    std::vector<std::atomic<int>> hits(97);
    pool.ParallelFor(97, [&](int64_t task, int thread) {
      EXPECT_GE(thread, 0);
      EXPECT_LT(thread, 3);
      hits[task].fetch_add(1);
    });
    for (auto& h : hits) ASSERT_EQ(h.load(), 1);
  }
  // Two callers (a prefill and a decode) share one pool: their loops are serialised.
  std::atomic<int64_t> sum{0};
  auto work = [&] {
    for (int i = 0; i < 20; ++i) pool.ParallelFor(10, [&](int64_t t, int) { sum += t; });
  };
  std::thread other(work);
  work();
  other.join();
  EXPECT_EQ(sum.load(), 2 * 20 * 45);
}

TEST(ThreadPool, SharesRunEveryTaskOnceEachThreadInAscendingOrder) {
  for (int n_threads : {2, 3}) {
    base::ThreadPool pool(n_threads);
    for (int64_t n_tasks : {2, 3, 7, 64, 97}) {
      std::vector<std::atomic<int>> hits(n_tasks);
      std::vector<std::vector<int64_t>> order(n_threads);  // each written by its thread only
      pool.ParallelForShares(n_tasks, [&](int64_t task, int thread) {
        hits[task].fetch_add(1);
        order[thread].push_back(task);
      });
      for (auto& h : hits) ASSERT_EQ(h.load(), 1) << n_threads << " threads, " << n_tasks;
      // A thread runs its own share front to back, then takes others' tasks from their ends: its
      // tasks go up from where it started, until it turns to another share.
      for (int t = 0; t < n_threads; ++t) {
        const int64_t first = n_tasks * t / n_threads, end = n_tasks * (t + 1) / n_threads;
        for (size_t i = 0; i < order[t].size(); ++i) {
          if (order[t][i] < first || order[t][i] >= end) break;
          ASSERT_EQ(order[t][i], first + static_cast<int64_t>(i)) << "thread " << t;
        }
      }
    }
  }
}

TEST(ThreadPool, SharesOfAStalledThreadAreTakenFromTheEnd) {
  base::ThreadPool pool(2);
  std::atomic<bool> worker_started{false};
  std::atomic<int> caller_count{0};
  std::vector<int64_t> caller_tasks;  // the caller's only
  pool.ParallelForShares(10, [&](int64_t task, int thread) {
    if (thread == 0) {
      // The caller's share is [0, 5): it waits until the worker holds a task of its own share,
      // then runs the rest of both.
      while (!worker_started.load()) std::this_thread::yield();
      caller_tasks.push_back(task);
      caller_count.fetch_add(1);
      return;
    }
    worker_started.store(true);
    while (caller_count.load() < 9) std::this_thread::yield();
  });
  // The worker took task 5 (its first); the caller ran its share, then 9, 8, 7, 6.
  EXPECT_EQ(caller_tasks, (std::vector<int64_t>{0, 1, 2, 3, 4, 9, 8, 7, 6}));
}

}  // namespace
}  // namespace tandem::kernels

// The fast kernels (kernels::cpu, threaded) against the reference forward pass (kernels::ref).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <tuple>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/cpu/gemm_internal.h"
#include "kernels/cpu/packed.h"
#include "kernels/test_util.h"
#include "model/forward.h"
#include "model/llama_model.h"
#include "model/model_maker.h"

namespace tandem::model {
namespace {

using kernels::testing::NormalisedError;

const std::string kData = TANDEM_TESTDATA_DIR;

// Prefill of a prompt, then three decode steps: logits of the fast path vs the reference.
void Compare(const std::string& path, double tolerance,
             kv::KvPrecision precision = kv::KvPrecision::kF32) {
  auto m = LlamaModel::Load(path);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const std::vector<int32_t> prompt = {1, 403, 407, 261, 378, 432, 383, 17, 90, 91, 92, 93, 94};
  auto c_ref = kv::KvCache::Create(KvLayoutFor((*m)->config(), 32), precision);
  auto c_fast = kv::KvCache::Create(KvLayoutFor((*m)->config(), 32), precision);
  base::ThreadPool pool(2);
  ForwardOptions ref_opts, fast_opts;
  ref_opts.reference = true;
  fast_opts.pool = &pool;
  Forward ref(**m, *c_ref, ref_opts), fast(**m, *c_fast, fast_opts);
  std::vector<float> lr, lf;
  ASSERT_TRUE(ref.Prefill(prompt, 0, &lr).ok());
  ASSERT_TRUE(fast.Prefill(prompt, 0, &lf).ok());
  EXPECT_LT(NormalisedError(lf, lr), tolerance) << path << " prefill";
  for (int i = 0; i < 3; ++i) {
    const int64_t pos = static_cast<int64_t>(prompt.size()) + i;
    ASSERT_TRUE(ref.Decode(5 + i, pos, &lr).ok());
    ASSERT_TRUE(fast.Decode(5 + i, pos, &lf).ok());
    EXPECT_LT(NormalisedError(lf, lr), tolerance) << path << " decode " << i;
  }
}

TEST(ForwardKernels, FastPathMatchesReferenceOnStories260K) {
  Compare(kData + "/stories260K.gguf", 1e-5);
  Compare(kData + "/stories260K-F16.gguf", 1e-5);
  Compare(kData + "/stories260K-Q8_0.gguf", 2e-2);  // activations quantized to 8 bits
  Compare(kData + "/stories260K-Q4_0.gguf", 2e-2);
}

// Both paths over an f16 cache (IEEE half storage): the fast path widens key and value blocks.
TEST(ForwardKernels, FastPathMatchesReferenceWithAnF16Cache) {
  Compare(kData + "/stories260K.gguf", 1e-5, kv::KvPrecision::kF16);
  ModelShape s{"fast-gqa16", "llama", 2, 128, 4, 2, 256, 600, 1024, 500000.0f, 8.0f, true};
  const std::string path = testing::TempDir() + "/fast-gqa16.gguf";
  ASSERT_TRUE(MakeModel({s, kernels::WeightType::kF32, "", 3}, path).ok());
  Compare(path, 1e-5, kv::KvPrecision::kF16);
}

TEST(ForwardKernels, FastPathMatchesReferenceOnGeneratedGqaModel) {
  // 4 query heads over 2 KV heads, head_dim 32, Llama-3 rope factors.
  ModelShape s{"fast-gqa", "llama", 2, 128, 4, 2, 256, 600, 1024, 500000.0f, 8.0f, true};
  for (auto type : {kernels::WeightType::kF32, kernels::WeightType::kQ8_0}) {
    const std::string path = testing::TempDir() + "/fast-gqa.gguf";
    ASSERT_TRUE(MakeModel({s, type, "", 3}, path).ok());
    Compare(path, type == kernels::WeightType::kF32 ? 1e-5 : 2e-2);
  }
}

// Q4_K_M: Q4_K matrices, Q6_K for the output and for layer 1's attn_v; packed K-quant kernels
// on activations quantized per 256 where the CPU has them. ffn_down's 640 columns are not whole
// super-blocks: Q5_0 in layer 0 and Q8_0 in layer 1, as llama-quantize falls back.
TEST(ForwardKernels, FastPathMatchesReferenceOnQ4_K_M) {
  ModelShape s{"fast-k", "llama", 2, 256, 4, 2, 640, 600, 1024, 500000.0f, 8.0f, false};
  const std::string path = testing::TempDir() + "/fast-k.gguf";
  ASSERT_TRUE(MakeModel({s, kernels::WeightType::kQ4_K, "", 3, QuantMix::kMedium}, path).ok());
  Compare(path, 3e-2);
}

// Decode runs q|k|v and gate|up as one product each where the packed copies lie back to back:
// the same logits, bit for bit, as one product per matrix (Q4_0, Q4_K_M, F16, BF16). Q4_K_M's layer
// 1 has a Q6_K attn_v, which leaves its q|k|v as three products.
TEST(ForwardKernels, StackedDecodeProductsAreExact) {
  ModelShape q4{"stack-q4", "llama", 2, 128, 4, 2, 256, 600, 1024, 500000.0f, 8.0f, true};
  ModelShape qk{"stack-k", "llama", 2, 256, 4, 2, 512, 600, 1024, 500000.0f, 8.0f, false};
  const std::string path = testing::TempDir() + "/stack.gguf";
  for (const auto& [shape, type, mix] :
       {std::tuple{q4, kernels::WeightType::kQ4_0, QuantMix::kUniform},
        std::tuple{qk, kernels::WeightType::kQ4_K, QuantMix::kMedium},
        std::tuple{q4, kernels::WeightType::kF16, QuantMix::kUniform},
        std::tuple{q4, kernels::WeightType::kBF16, QuantMix::kUniform}}) {
    ASSERT_TRUE(MakeModel({shape, type, "", 3, mix}, path).ok());
    auto m = LlamaModel::Load(path);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    const LayerWeights& l0 = (*m)->weights().layers[0];
    if (l0.wq.packed == nullptr) GTEST_SKIP() << "this CPU does not pack " << WeightTypeName(type);
    EXPECT_EQ(l0.wk.packed, l0.wq.packed + kernels::cpu::PackedBytes(type, l0.wq.rows, l0.wq.cols));
    EXPECT_EQ(l0.w_up.packed,
              l0.w_gate.packed + kernels::cpu::PackedBytes(type, l0.w_gate.rows, l0.w_gate.cols));
    base::ThreadPool pool(2);
    ForwardOptions stacked, separate;
    stacked.pool = separate.pool = &pool;
    separate.stack_products = false;
    auto c1 = kv::KvCache::Create(KvLayoutFor((*m)->config(), 32));
    auto c2 = kv::KvCache::Create(KvLayoutFor((*m)->config(), 32));
    Forward f1(**m, *c1, stacked), f2(**m, *c2, separate);
    const std::vector<int32_t> prompt = {1, 403, 407, 261, 378};
    std::vector<float> l1, l2;
    ASSERT_TRUE(f1.Prefill(prompt, 0, &l1).ok());
    ASSERT_TRUE(f2.Prefill(prompt, 0, &l2).ok());
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(f1.Decode(7 + i, 5 + i, &l1).ok());
      ASSERT_TRUE(f2.Decode(7 + i, 5 + i, &l2).ok());
      ASSERT_EQ(l1, l2) << WeightTypeName(type) << " decode " << i;
    }
  }
}

// F16 prefill through rounding products against the exact F16 products, on stories260K-F16 and
// a prompt long enough (40 tokens) for the packed bf16 panels: the logits' normalised error and
// largest difference, and whether the greedy token after the prompt is the same.
struct Drift {
  double err = 0, max_diff = 0;
  bool same_argmax = false;
};
Drift PrefillDrift(kernels::cpu::F16Prefill mode) {
  auto m = LlamaModel::Load(kData + "/stories260K-F16.gguf");
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  if (!m.ok()) return {};
  std::vector<int32_t> prompt = {1};
  for (int i = 0; i < 39; ++i) prompt.push_back(260 + (i * 37) % 240);
  base::ThreadPool pool(2);
  ForwardOptions exact, rounded;
  exact.pool = rounded.pool = &pool;
  rounded.matmul.f16_prefill = mode;
  auto c1 = kv::KvCache::Create(KvLayoutFor((*m)->config(), 64));
  auto c2 = kv::KvCache::Create(KvLayoutFor((*m)->config(), 64));
  Forward f1(**m, *c1, exact), f2(**m, *c2, rounded);
  std::vector<float> l1, l2;
  EXPECT_TRUE(f1.Prefill(prompt, 0, &l1).ok());
  EXPECT_TRUE(f2.Prefill(prompt, 0, &l2).ok());
  Drift d;
  for (size_t i = 0; i < l1.size(); ++i)
    d.max_diff = std::max<double>(d.max_diff, std::abs(l1[i] - l2[i]));
  d.err = NormalisedError(l2, l1);
  auto argmax = [](const std::vector<float>& v) {
    return std::max_element(v.begin(), v.end()) - v.begin();
  };
  d.same_argmax = argmax(l1) == argmax(l2);
  ::testing::Test::RecordProperty("normalised_error", std::to_string(d.err));
  ::testing::Test::RecordProperty("max_abs_diff", std::to_string(d.max_diff));
  return d;
}

// bf16 products (--f16-bf16) round weights and activations to 8 mantissa bits.
TEST(ForwardKernels, F16AsBf16PrefillDriftIsSmall) {
  const Drift d = PrefillDrift(kernels::cpu::F16Prefill::kBf16);
  std::printf("f16 as bf16 prefill: logits normalised error %.2e, max |diff| %.4f\n", d.err,
              d.max_diff);
  EXPECT_LT(d.err, 2e-2);
  EXPECT_GT(d.err, 0.0);  // the bf16 path did run: it is not bit-exact
  EXPECT_TRUE(d.same_argmax);
}

// fp16 products (--f16-fp16, AVX-512 FP16 only) keep the weights and round the activations to 11
// bits and the sums per 64 column pairs: less drift than bf16's.
TEST(ForwardKernels, F16AsFp16PrefillDriftIsSmall) {
  if (!kernels::cpu::internal::HasAvx512Fp16()) GTEST_SKIP() << "this CPU has no AVX-512 FP16";
  const Drift d = PrefillDrift(kernels::cpu::F16Prefill::kFp16);
  std::printf("f16 as fp16 prefill: logits normalised error %.2e, max |diff| %.4f\n", d.err,
              d.max_diff);
  EXPECT_LT(d.err, 1e-2);
  EXPECT_GT(d.err, 0.0);  // the fp16 path did run
  EXPECT_TRUE(d.same_argmax);
}

}  // namespace
}  // namespace tandem::model

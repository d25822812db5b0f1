// The cost model against the arithmetic of shared/reference/cost-model.md.
#include "planner/cost_model.h"

#include <gtest/gtest.h>

#include <vector>

#include "planner/test_shapes.h"

namespace tandem::planner {
namespace {

using testing::Llama2_7B;
using testing::Llama31_8B;
using testing::Llama3_70B;

TEST(Dtypes, BytesAndNames) {
  EXPECT_DOUBLE_EQ(BytesPerWeight(WeightDtype::kQ8_0), 1.0625);
  EXPECT_DOUBLE_EQ(BytesPerWeight(WeightDtype::kQ4_0), 0.5625);
  EXPECT_EQ(ParseWeightDtype("Q8_0"), WeightDtype::kQ8_0);
  EXPECT_EQ(ParseWeightDtype("q5_k"), std::nullopt);
  EXPECT_EQ(ParseKvCodec("Q8"), KvCodec::kQ8);
  // Q8: head_dim int8 + one fp16 scale per (token, KV head).
  EXPECT_EQ(KvHeadRowBytes(KvCodec::kQ8, 128), 130);
  EXPECT_EQ(KvHeadRowBytes(KvCodec::kF16, 128), 256);
  EXPECT_DOUBLE_EQ(KvBytesPerElement(KvCodec::kQ8, 128), 1.015625);
  EXPECT_DOUBLE_EQ(KvBytesPerElement(KvCodec::kQ8, 32), 1.0625);
}

TEST(ModelShape, ParameterCountsOfTheReferenceModels) {
  struct Case {
    ModelShape m;
    int64_t p_l;  // matmul parameters per layer (cost-model.md §2)
    double params_b;
  };
  const std::vector<Case> cases = {
      {Llama2_7B(), 202375168, 6.74},
      {Llama31_8B(), 218103808, 8.03},
      {Llama3_70B(), 855638016, 70.55},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(c.m.MatmulParamsPerLayer(), c.p_l) << c.m.name;
    EXPECT_NEAR(c.m.ParamsTotal() / 1e9, c.params_b, 0.01) << c.m.name;
    EXPECT_TRUE(c.m.Validate().ok()) << c.m.name;
  }
  const ModelShape m = Llama31_8B();
  EXPECT_DOUBLE_EQ(m.KvCacheBytesPerToken(), 131072);                 // 2·32·1024·2
  EXPECT_DOUBLE_EQ(m.KvWireBytesPerTokenLayer(KvCodec::kF16), 4096);  // 2·8·128·2
  EXPECT_DOUBLE_EQ(m.KvWireBytesPerTokenLayer(KvCodec::kQ8), 2080);   // 2·8·130
  // cost-model.md §4: a decode step reads 2·(6.979 + 0.525) B = 15.01 GB of weights.
  EXPECT_NEAR(m.step_weight_bytes / 1e9, 15.01, 0.01);
  EXPECT_NEAR(m.weight_bytes / 1e9, 16.06, 0.01);
}

TEST(CostModel, PrefillFlopsOfTheReferenceRun) {
  // cost-model.md §4: 2·6.979e9·8192 + 32·2·8192²·4096 = 1.319e14 FLOP.
  const ModelShape m = Llama31_8B();
  EXPECT_NEAR(m.n_layers * PrefillLayerFlops(m, 8192) / 1e14, 1.319, 0.001);
  // Causal attention counted once: the n² term is 2·n²·d per layer.
  EXPECT_DOUBLE_EQ(PrefillLayerFlops(m, 2) - PrefillLayerFlops(m, 1),
                   2.0 * m.MatmulParamsPerLayer() + 2.0 * 3 * 4096);
}

TEST(CostModel, RooflineOnBothSides) {
  const ModelShape m = Llama31_8B();
  const DeviceProfile spark = testing::Spark();
  // A long prompt is compute-bound: FLOPs / (0.9 · 100 TFLOP/s).
  EXPECT_DOUBLE_EQ(PrefillLayerSeconds(m, spark, 8192), PrefillLayerFlops(m, 8192) / 90e12);
  // A one-token "prefill" still reads the layer's weights once.
  EXPECT_DOUBLE_EQ(PrefillLayerSeconds(m, spark, 1), PrefillLayerBytes(m, 1) / (0.66 * 273e9));
  EXPECT_DOUBLE_EQ(PrefillLayerSeconds(m, spark, 0), 0.0);
  // Decode is bandwidth-bound: (W + KV(c)) / B.
  EXPECT_DOUBLE_EQ(DecodeStepSeconds(m, spark, 8192),
                   (m.step_weight_bytes + 8192 * 131072.0) / (0.66 * 273e9));
}

TEST(CostModel, StreamedPipelineByHand) {
  const LinkProfile link = testing::MakeLink("l", 100.0, 0, 1.0);  // 100 B/s, α = 1 s
  struct Case {
    const char* name;
    std::vector<double> compute_end_s;
    double layer_bytes;
    double want_s;
  };
  const std::vector<Case> cases = {
      // Compute-bound: each send (2 s) fits between layers (3 s apart): last = 9 + 2.
      {"hidden", {3, 6, 9}, 100, 11},
      // Wire-bound: sends queue behind each other: 1 + 3·4.
      {"exposed", {1, 2, 3}, 300, 13},
      // Mixed: a long gap lets the link drain.
      {"drains", {1, 2, 20}, 300, 24},
  };
  for (const Case& c : cases) {
    EXPECT_DOUBLE_EQ(StreamedLastArrival(c.compute_end_s, c.layer_bytes, link), c.want_s) << c.name;
  }
}

TEST(CostModel, PredictionsAddUp) {
  const ModelShape m = Llama31_8B();
  const DeviceProfile spark = testing::Spark(), mac = testing::Mac();
  const LinkProfile link = testing::TenGbE();
  const Request r{8192, 32};
  for (const Mode mode : {Mode::kColocated, Mode::kStreamed, Mode::kAfterPrefill}) {
    const Route route{&spark, mode == Mode::kColocated ? &spark : &mac,
                      mode == Mode::kColocated ? nullptr : &link, mode, KvCodec::kF16};
    const Prediction p = Predict(m, route, r);
    SCOPED_TRACE(ModeName(mode));
    EXPECT_NEAR(p.total_s, p.ttft_s + (r.gen_tokens - 1) * p.tpot_s, 1e-9);
    EXPECT_NEAR(p.ttft_s, p.dispatch_s + p.prefill_s + p.tail_s + p.first_step_s, 1e-12);
    EXPECT_NEAR(p.generation_s, p.first_step_s + (r.gen_tokens - 1) * p.tpot_s, 1e-9);
    EXPECT_NEAR(p.prefill_s, 1.319e14 / 90e12, 0.01);
  }
  const Prediction streamed = Predict(m, {&spark, &mac, &link, Mode::kStreamed}, r);
  const Prediction after = Predict(m, {&spark, &mac, &link, Mode::kAfterPrefill}, r);
  // cost-model.md §4: last layer 33.6 MB → 26.8 ms exposed; all 1.074 GB → 0.86 s serialised.
  EXPECT_NEAR(streamed.tail_s, 0.0268, 0.0005);
  EXPECT_NEAR(after.tail_s, 0.86, 0.01);
  EXPECT_NEAR(streamed.wire_bytes / 1e9, 1.074, 0.001);
}

// Alone, the whole prompt is one batch and its last row gives the first token: a one-token
// prompt is one pass, nothing else. Split, the decode node runs the last prompt token, so the
// prefill node has nothing to do for a one-token prompt.
TEST(CostModel, OnePromptToken) {
  const ModelShape m = Llama31_8B();
  const DeviceProfile mac = testing::Mac();
  const Prediction p = Predict(m, {&mac, &mac, nullptr, Mode::kColocated}, {1, 1});
  EXPECT_DOUBLE_EQ(p.prefill_s, m.n_layers * PrefillLayerSeconds(m, mac, 1));
  EXPECT_EQ(p.first_step_s, 0.0);
  EXPECT_EQ(p.tpot_s, 0.0);
  EXPECT_DOUBLE_EQ(p.ttft_s, p.prefill_s);
  EXPECT_DOUBLE_EQ(p.total_s, p.prefill_s);
  EXPECT_EQ(PrefillTokens({1, 1}, Mode::kStreamed), 0);
  EXPECT_EQ(PrefillTokens({1, 1}, Mode::kColocated), 1);
  // Later tokens are decode steps either way.
  const Prediction q = Predict(m, {&mac, &mac, nullptr, Mode::kColocated}, {1, 3});
  EXPECT_DOUBLE_EQ(q.total_s,
                   p.prefill_s + DecodeStepSeconds(m, mac, 2) + DecodeStepSeconds(m, mac, 3));
}

// cost-model.md §2: 10 GbE (1.25 GB/s), 100 TFLOP/s, 8-bit KV (b = 1), α = 0.
TEST(NMin, ReferenceThresholdTable) {
  const OverlapInputs in{1e14, 1.25e9, 0.0, 1.0};
  struct Case {
    ModelShape m;
    double attention_only, full_dense, full_causal;
  };
  const std::vector<Case> cases = {
      {Llama2_7B(), 40000, 15296, 30592},
      {Llama31_8B(), 10000, 0, 0},
      {Llama3_70B(), 5000, 0, 0},
  };
  for (const Case& c : cases) {
    EXPECT_NEAR(NMin(c.m, in, NMinForm::kAttentionOnly), c.attention_only, 1e-6) << c.m.name;
    EXPECT_NEAR(NMin(c.m, in, NMinForm::kFullDense), c.full_dense, 0.5) << c.m.name;
    EXPECT_NEAR(NMin(c.m, in, NMinForm::kFullCausal), c.full_causal, 1.0) << c.m.name;
  }
  // GEMM FLOPs per KV byte: 49,400 (< 80k) for the MHA 7B, 213,000 for the GQA 8B.
  EXPECT_NEAR(GemmFlopsPerKvByte(Llama2_7B(), 1.0), 49408, 1);
  EXPECT_NEAR(GemmFlopsPerKvByte(Llama31_8B(), 1.0), 212992, 1);
}

TEST(NMin, AlphaNeedsAFewTokensAndTheFormulaHolds) {
  const ModelShape m = Llama31_8B();
  const OverlapInputs in{90e12, 1.25e9, 50e-6, 2.0};
  const double n = NMin(m, in, NMinForm::kFullCausal);
  EXPECT_GT(n, 1.0);
  EXPECT_LT(n, 100.0);
  // At n_min a layer's compute equals its message time; below, the message is longer.
  auto compute = [&](double tokens) {
    return (2.0 * m.MatmulParamsPerLayer() * tokens + 2.0 * tokens * tokens * 4096) / in.flops;
  };
  auto wire = [&](double tokens) { return in.alpha_s + tokens * 2 * 1024 * 2.0 / 1.25e9; };
  EXPECT_NEAR(compute(n), wire(n), 1e-12);
  EXPECT_LT(compute(n / 2), wire(n / 2));
}

TEST(Request, Bounds) {
  EXPECT_TRUE((Request{1, 1}).Validate().ok());
  EXPECT_FALSE((Request{0, 1}).Validate().ok());
  EXPECT_FALSE((Request{8, 0}).Validate().ok());
  EXPECT_FALSE((Request{kMaxPromptTokens + 1, 1}).Validate().ok());
}

}  // namespace
}  // namespace tandem::planner

// End-to-end checks of the reference engine against llama.cpp's outputs for stories260K.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "kernels/cpu/packed.h"
#include "model/forward.h"
#include "model/generate.h"
#include "model/gguf_writer.h"
#include "model/llama_model.h"
#include "model/model_maker.h"

namespace tandem::model {
namespace {

const std::string kData = TANDEM_TESTDATA_DIR;

struct Reference {
  std::vector<int32_t> prompt_ids;
  std::vector<int32_t> generated_ids;
  std::vector<std::vector<float>> logits;  // [steps][n_vocab]
};

Reference LoadReference(const std::string& stem) {
  Reference r;
  std::ifstream j(kData + "/reference/" + stem + ".json");
  const auto doc = nlohmann::json::parse(j);
  r.prompt_ids = doc["prompt_ids"].get<std::vector<int32_t>>();
  r.generated_ids = doc["generated_ids"].get<std::vector<int32_t>>();
  const int n_vocab = doc["n_vocab"].get<int>();
  std::ifstream lf(kData + "/reference/" + stem + ".logits.f32", std::ios::binary);
  std::vector<float> row(n_vocab);
  while (lf.read(reinterpret_cast<char*>(row.data()), n_vocab * sizeof(float))) {
    r.logits.push_back(row);
  }
  return r;
}

struct GreedyRun {
  std::vector<int32_t> prompt;
  GenerateResult result;
};

GreedyRun Greedy(const std::string& file, int n, kv::KvPrecision kv_type = kv::KvPrecision::kF32) {
  auto m = LlamaModel::Load(kData + "/" + file);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  GreedyRun run;
  run.prompt = (*m)->tokenizer().Encode("Once upon a time", true, false);
  auto cache = kv::KvCache::Create(KvLayoutFor((*m)->config(), 512), kv_type);
  GenerateOptions opts;
  opts.n_predict = n;
  opts.sampler.temperature = 0;
  opts.stop_at_end_of_generation = false;
  opts.keep_all_logits = true;
  auto r = Generate(**m, *cache, run.prompt, opts);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  run.result = *r;
  return run;
}

float MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  float d = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::fabs(a[i] - b[i]));
  return d;
}

TEST(Stories260K, F32MatchesTheReferenceTokensAndLogits) {
  const Reference ref = LoadReference("stories260K-F32.greedy32");
  const GreedyRun run = Greedy("stories260K.gguf", 32);
  EXPECT_EQ(run.prompt, ref.prompt_ids);
  EXPECT_EQ(run.result.generated, ref.generated_ids);
  ASSERT_EQ(run.result.logits.size(), 32u);
  EXPECT_LT(MaxAbsDiff(run.result.logits[0], ref.logits[0]), 1e-4f);
  float worst = 0;
  for (int s = 0; s < 32; ++s)
    worst = std::max(worst, MaxAbsDiff(run.result.logits[s], ref.logits[s]));
  EXPECT_LT(worst, 1e-4f) << "over all 32 steps";
  RecordProperty("max_abs_logit_diff_32_steps", std::to_string(worst));
}

// With an f16 cache (IEEE half storage, `--kv-type f16`), against llama.cpp's run with its f16
// cache: the same tokens, and logits nearer to it than our f32 cache's (llama.cpp also rounds the
// queries and the attention weights to half, which we do not: 0.010 against 0.013 here).
TEST(Stories260K, F16CacheMatchesTheReferenceWithAnF16Cache) {
  const Reference ref = LoadReference("stories260K-F32.kvf16.greedy32");
  const GreedyRun run = Greedy("stories260K.gguf", 32, kv::KvPrecision::kF16);
  EXPECT_EQ(run.result.generated, ref.generated_ids);
  float worst = 0;
  for (int s = 0; s < 32; ++s)
    worst = std::max(worst, MaxAbsDiff(run.result.logits[s], ref.logits[s]));
  const GreedyRun run32 = Greedy("stories260K.gguf", 32, kv::KvPrecision::kF32);
  float worst32 = 0;
  for (int s = 0; s < 32; ++s)
    worst32 = std::max(worst32, MaxAbsDiff(run32.result.logits[s], ref.logits[s]));
  std::printf("f16 cache: max |logit diff| over 32 steps %.6f (f32 cache: %.6f)\n", worst, worst32);
  EXPECT_LT(worst, 0.02f);
  EXPECT_LT(worst, worst32);
  RecordProperty("max_abs_logit_diff_32_steps", std::to_string(worst));
}

TEST(Stories260K, F16AndQ8_0MatchTheReferenceTokens) {
  for (const char* q : {"F16", "Q8_0"}) {
    const Reference ref = LoadReference(std::string("stories260K-") + q + ".greedy32");
    const GreedyRun run = Greedy(std::string("stories260K-") + q + ".gguf", 32);
    EXPECT_EQ(run.result.generated, ref.generated_ids) << q;
  }
}

// Q4_0 rounds hard enough that the greedy path may leave F32's; llama.cpp's own Q4_0 run leaves it
// at step 23. We record where ours departs from each.
TEST(Stories260K, Q4_0DeparturePoint) {
  const Reference f32 = LoadReference("stories260K-F32.greedy32");
  const Reference q4 = LoadReference("stories260K-Q4_0.greedy32");
  const GreedyRun run = Greedy("stories260K-Q4_0.gguf", 32);
  auto first_diff = [](const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
    size_t i = 0;
    while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
    return i;
  };
  const size_t vs_f32 = first_diff(run.result.generated, f32.generated_ids);
  const size_t vs_q4 = first_diff(run.result.generated, q4.generated_ids);
  RecordProperty("q4_0_departs_from_f32_at", std::to_string(vs_f32));
  RecordProperty("q4_0_departs_from_llamacpp_q4_0_at", std::to_string(vs_q4));
  std::printf(
      "Q4_0: departs from the F32 reference at step %zu, from llama.cpp's Q4_0 at %zu; "
      "step-0 logits within %.3f of F32\n",
      vs_f32, vs_q4, MaxAbsDiff(run.result.logits[0], f32.logits[0]));
  EXPECT_GE(vs_f32, 10u);  // the first steps are clear-cut even at 4 bits
}

TEST(Forward, ChunkedPrefillEqualsOneShotAndTheHookSeesEveryLayer) {
  auto m = LlamaModel::Load(kData + "/stories260K.gguf");
  ASSERT_TRUE(m.ok());
  const std::vector<int32_t> prompt = {1, 403, 407, 261, 378, 432, 383};
  auto c1 = kv::KvCache::Create(KvLayoutFor((*m)->config(), 64));
  auto c2 = kv::KvCache::Create(KvLayoutFor((*m)->config(), 64));
  Forward f1(**m, *c1), f2(**m, *c2);
  std::vector<float> l1, l2;
  std::vector<std::tuple<int, int64_t, int64_t>> calls;
  ASSERT_TRUE(f1.Prefill(prompt, 0, &l1).ok());
  auto hook = [&](int layer, int64_t t0, int64_t t1) { calls.emplace_back(layer, t0, t1); };
  ASSERT_TRUE(f2.Prefill(std::span(prompt).subspan(0, 3), 0, nullptr, hook).ok());
  ASSERT_TRUE(f2.Prefill(std::span(prompt).subspan(3), 3, &l2, hook).ok());
  EXPECT_LT(MaxAbsDiff(l1, l2), 1e-5f);
  ASSERT_EQ(calls.size(), 10u);  // 5 layers x 2 chunks, in layer order within each chunk
  EXPECT_EQ(calls[0], std::make_tuple(0, int64_t{0}, int64_t{3}));
  EXPECT_EQ(calls[4], std::make_tuple(4, int64_t{0}, int64_t{3}));
  EXPECT_EQ(calls[9], std::make_tuple(4, int64_t{3}, int64_t{7}));
  // The cache rows written by both paths agree.
  const int64_t row = c1->layout().row_elems();
  std::vector<float> k1(7 * row), k2(7 * row);
  c1->ReadK(4, 0, 7, k1.data());
  c2->ReadK(4, 0, 7, k2.data());
  for (size_t i = 0; i < k1.size(); ++i) EXPECT_NEAR(k1[i], k2[i], 1e-5f);
}

// Matrices the CPU kernels read packed (quantized ones, and F16 with AVX-512) are packed onto the
// arena beside their file rows; the others (F32, and F16 without AVX-512) are copied onto it as
// they are: every kernel reads the copy, which holds the file's bytes.
TEST(LlamaModel, PlainMatricesAreCopiedOntoTheArena) {
  for (const char* file : {"stories260K.gguf", "stories260K-F16.gguf", "stories260K-Q8_0.gguf"}) {
    auto packed = LlamaModel::Load(kData + "/" + file);
    LoadOptions in_place;
    in_place.pack_weights = false;
    auto unpacked = LlamaModel::Load(kData + "/" + file, in_place);
    ASSERT_TRUE(packed.ok() && unpacked.ok()) << file;
    EXPECT_EQ((*unpacked)->packed_bytes(), 0u);
    auto in_file = [&](const uint8_t* p) {
      for (const GgufTensorInfo& t : (*packed)->file().tensors()) {
        if (p >= t.data && p < t.data + t.n_bytes) return true;
      }
      return false;
    };
    uint64_t bytes = 0;
    for (size_t l = 0; l < (*packed)->weights().layers.size(); ++l) {
      const LayerWeights& a = (*packed)->weights().layers[l];
      const LayerWeights& b = (*unpacked)->weights().layers[l];
      for (auto m : {&LayerWeights::wq, &LayerWeights::wk, &LayerWeights::wv, &LayerWeights::wo,
                     &LayerWeights::w_gate, &LayerWeights::w_up, &LayerWeights::w_down}) {
        const kernels::ref::MatRef &x = a.*m, &y = b.*m;
        const uint64_t n = kernels::RowBytes(x.type, x.cols) * x.rows;
        bytes += n;
        ASSERT_EQ(std::memcmp(x.data, y.data, n), 0) << file << " layer " << l;
        if (kernels::cpu::PacksWeights(x.type)) {
          EXPECT_TRUE(in_file(x.data));
          EXPECT_NE(x.packed, nullptr);
        } else {
          EXPECT_FALSE(in_file(x.data)) << file << ": read from the file, not the copy";
          EXPECT_EQ(x.packed, nullptr);
        }
      }
    }
    EXPECT_GE((*packed)->packed_bytes(), bytes) << file;
  }
}

TEST(ForwardBadInput, PromptLongerThanTheContext) {
  auto m = LlamaModel::Load(kData + "/stories260K.gguf");
  ASSERT_TRUE(m.ok());
  auto cache = kv::KvCache::Create(KvLayoutFor((*m)->config(), 4));
  const std::vector<int32_t> prompt = {1, 403, 407, 261, 378};
  auto r = Generate(**m, *cache, prompt, GenerateOptions{});
  EXPECT_EQ(r.status().code(), StatusCode::kOutOfRange);
  EXPECT_NE(r.status().message().find("context"), std::string::npos);
  Forward f(**m, *cache);
  EXPECT_EQ(f.Prefill(prompt, 0, nullptr).code(), StatusCode::kOutOfRange);
  const std::vector<int32_t> bad = {1, 99999};
  EXPECT_EQ(f.Prefill(bad, 0, nullptr).code(), StatusCode::kInvalidArgument);
}

TEST(ModelBadInput, UnknownArchitectureIsNamed) {
  const std::string path = testing::TempDir() + "/neox.gguf";
  GgufWriter w;
  w.Set("general.architecture", GgufValue::String("gptneox"));
  ASSERT_TRUE(w.WriteFile(path).ok());
  auto m = LlamaModel::Load(path);
  EXPECT_EQ(m.status().code(), StatusCode::kUnimplemented);
  EXPECT_NE(m.status().message().find("unknown architecture 'gptneox'"), std::string::npos);
}

TEST(ModelBadInput, MissingTensorIsNamed) {
  const std::string path = testing::TempDir() + "/partial.gguf";
  auto src = GgufFile::Open(kData + "/stories260K.gguf");
  ASSERT_TRUE(src.ok());
  GgufWriter w;
  w.CopyMetadata(**src, "");
  for (const auto& t : (*src)->tensors()) {
    if (t.name == "blk.2.ffn_up.weight") continue;
    ASSERT_TRUE(
        w.AddTensor(t.name, t.shape, t.type, std::vector<uint8_t>(t.data, t.data + t.n_bytes))
            .ok());
  }
  ASSERT_TRUE(w.WriteFile(path).ok());
  auto m = LlamaModel::Load(path);
  EXPECT_EQ(m.status().code(), StatusCode::kNotFound);
  EXPECT_NE(m.status().message().find("blk.2.ffn_up.weight"), std::string::npos);
}

// A generated model of each architecture: loads, runs, and decoding token by token gives the
// logits of one batched prefill.
void CheckGeneratedModel(const ModelShape& shape, kernels::WeightType type) {
  const std::string path = testing::TempDir() + "/" + shape.name + ".gguf";
  ASSERT_TRUE(MakeModel({shape, type, "", 42}, path).ok());
  auto m = LlamaModel::Load(path);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const std::vector<int32_t> prompt = {1, 70, 71, 72, 300, 5};
  auto c1 = kv::KvCache::Create(KvLayoutFor((*m)->config(), 16));
  auto c2 = kv::KvCache::Create(KvLayoutFor((*m)->config(), 16));
  Forward batched(**m, *c1), stepped(**m, *c2);
  std::vector<float> l1, l2;
  ASSERT_TRUE(batched.Prefill(prompt, 0, &l1).ok());
  for (size_t i = 0; i < prompt.size(); ++i) {
    ASSERT_TRUE(stepped.Decode(prompt[i], static_cast<int64_t>(i), &l2).ok());
  }
  EXPECT_LT(MaxAbsDiff(l1, l2), 1e-4f);
  float norm = 0;
  for (float x : l1) norm += x * x;
  EXPECT_GT(norm, 0.0f);
  EXPECT_TRUE(std::isfinite(norm));
}

TEST(GeneratedModel, LlamaShapeWithLlama3RopeFactors) {
  ModelShape s{"mini-llama3", "llama", 2, 128, 4, 2, 256, 600, 1024, 500000.0f, 8.0f, true};
  CheckGeneratedModel(s, kernels::WeightType::kQ8_0);
  auto m = LlamaModel::Load(testing::TempDir() + "/mini-llama3.gguf");
  EXPECT_EQ((*m)->weights().rope_freqs.size(), 16u);
  EXPECT_TRUE((*m)->config().tied_output);
}

TEST(GeneratedModel, Qwen2ShapeWithBiasesAndNeoxRope) {
  ModelShape s{"mini-qwen2", "qwen2", 2, 128, 4, 2, 256, 600, 1024, 1000000.0f, 0, false};
  CheckGeneratedModel(s, kernels::WeightType::kF16);
  auto m = LlamaModel::Load(testing::TempDir() + "/mini-qwen2.gguf");
  EXPECT_TRUE((*m)->config().qkv_bias);
  EXPECT_EQ((*m)->config().rope_mode, kernels::ref::RopeMode::kNeox);
}

TEST(GeneratedModel, SameSeedSameFile) {
  ModelShape s = *FindShape("stories-like");
  const std::string a = testing::TempDir() + "/a.gguf", b = testing::TempDir() + "/b.gguf";
  ASSERT_TRUE(MakeModel({s, kernels::WeightType::kQ4_0, "", 7}, a).ok());
  ASSERT_TRUE(MakeModel({s, kernels::WeightType::kQ4_0, "", 7}, b).ok());
  std::ifstream fa(a, std::ios::binary), fb(b, std::ios::binary);
  const std::string da((std::istreambuf_iterator<char>(fa)), {});
  const std::string db((std::istreambuf_iterator<char>(fb)), {});
  EXPECT_EQ(da, db);
  auto m = LlamaModel::Load(a);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  // ffn_down rows (172) do not fit Q4_0 blocks: F16 fallback, as llama-quantize does.
  EXPECT_EQ((*m)->file().FindTensor("blk.0.ffn_down.weight")->type, kernels::WeightType::kF16);
}

TEST(GeneratedModel, ParsesWeightTypesAndTheMediumMixes) {
  using kernels::WeightType;
  auto q8 = ParseModelWeights("q8_0");
  ASSERT_TRUE(q8.has_value());
  EXPECT_EQ(q8->type, WeightType::kQ8_0);
  EXPECT_EQ(q8->mix, QuantMix::kUniform);
  for (const char* name : {"Q4_K_M", "q4_k_m", "Q5_K_M"}) {
    auto w = ParseModelWeights(name);
    ASSERT_TRUE(w.has_value()) << name;
    EXPECT_EQ(w->mix, QuantMix::kMedium) << name;
    EXPECT_EQ(w->type, name[1] == '4' ? WeightType::kQ4_K : WeightType::kQ5_K) << name;
  }
  for (const char* name : {"Q8_0_M", "Q6_K_M", "_M", "M", "Q4_K_", "nonsense"}) {
    EXPECT_FALSE(ParseModelWeights(name).has_value()) << name;
  }
}

}  // namespace
}  // namespace tandem::model

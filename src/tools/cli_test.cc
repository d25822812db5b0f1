// The `tandem` binary as a user meets it: real processes, exit codes, one-line errors.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <tuple>

#include "kernels/cpu/matmul.h"
#include "model/gguf.h"
#include "model/gguf_writer.h"
#include "tools/cli_runner_test_util.h"

namespace tandem::tools {
namespace {

const std::string kData = TANDEM_TESTDATA_DIR;

using testing_util::CliResult;
using testing_util::ExpectOneLineError;
using testing_util::Slurp;
using testing_util::Tandem;
using Result = CliResult;

std::string WriteBytes(const std::string& name, const std::string& bytes) {
  const std::string path = testing::TempDir() + "/" + name;
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

TEST(Cli, RunGreedyJsonMatchesTheReference) {
  const Result r =
      Tandem("run -m " + kData + "/stories260K.gguf -p 'Once upon a time' -n 32 --temp 0 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  std::ifstream rf(kData + "/reference/stories260K-F32.greedy32.json");
  const auto ref = nlohmann::json::parse(rf);
  EXPECT_EQ(j["prompt_ids"], ref["prompt_ids"]);
  EXPECT_EQ(j["generated_ids"], ref["generated_ids"]);
  EXPECT_EQ(j["text"].get<std::string>().rfind(", there was a little girl named Lily.", 0), 0u);
  EXPECT_GT(j["prefill_tokens_per_s"].get<double>(), 0);
  EXPECT_GT(j["decode_tokens_per_s"].get<double>(), 0);
}

TEST(Cli, RunStreamsTextThenRates) {
  const Result r =
      Tandem("run -m " + kData + "/stories260K-Q8_0.gguf -p 'Once upon a time' -n 12 --temp 0");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("Once upon a time, there was a little girl", 0), 0u) << r.out;
  EXPECT_NE(r.err.find("tokens/s"), std::string::npos);
}

// The cache's size as allocated (stories260K: 5 layers x K and V x 4 KV heads x 8 dims per token),
// and a warning past the 2048 tokens the model was trained on.
TEST(Cli, RunReportsTheKvCacheAndWarnsPastTheTrainedContext) {
  const std::string cmd = "run -m " + kData + "/stories260K.gguf -p 'Once' -n 2 --temp 0";
  const Result a = Tandem(cmd + " -c 1000");
  ASSERT_EQ(a.code, 0) << a.err;
  EXPECT_NE(a.err.find("KV cache:     1000 tokens, f16, 0.6 MiB"), std::string::npos) << a.err;
  EXPECT_EQ(a.err.find("warning"), std::string::npos) << a.err;
  const Result b = Tandem(cmd + " -c 4000 --kv-type f32");
  ASSERT_EQ(b.code, 0) << b.err;
  EXPECT_NE(b.err.find("KV cache:     4000 tokens, f32, 4.9 MiB"), std::string::npos) << b.err;
  EXPECT_NE(b.err.find("warning: context 4000 exceeds the 2048 tokens"), std::string::npos)
      << b.err;
  const Result c = Tandem(cmd + " --kv-type f8");
  EXPECT_NE(c.code, 0);
  EXPECT_NE(c.err.find("f8 not in {f16,f32}"), std::string::npos) << c.err;
}

TEST(Cli, SameSeedSameTokens) {
  const std::string cmd = "run -m " + kData + "/stories260K.gguf -p 'Once' -n 24 --temp 1.0 --json";
  const auto a = nlohmann::json::parse(Tandem(cmd + " --seed 5").out);
  const auto b = nlohmann::json::parse(Tandem(cmd + " --seed 5").out);
  const auto c = nlohmann::json::parse(Tandem(cmd + " --seed 6").out);
  EXPECT_EQ(a["generated_ids"], b["generated_ids"]);
  EXPECT_NE(a["generated_ids"], c["generated_ids"]);
}

TEST(Cli, TokenizeReadsStdin) {
  const Result r = Tandem("tokenize -m " + kData + "/stories260K.gguf", "Once upon a time");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "1 403 407 261 378\n");
  const Result q =
      Tandem("tokenize --no-bos -m " + kData + "/vocab/ggml-vocab-qwen2.gguf", "Hello world");
  EXPECT_EQ(q.out, "9707 1879\n");
}

TEST(Cli, InfoDescribesTheModel) {
  const Result r = Tandem("info --json -m " + kData + "/stories260K-Q4_0.gguf");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["architecture"], "llama");
  EXPECT_EQ(j["n_layers"], 5);
  EXPECT_EQ(j["n_kv_heads"], 4);
  EXPECT_EQ(j["kv_bytes_per_token_f32"], 2 * 5 * 4 * 8 * 4);
  EXPECT_EQ(j["weight_types"]["Q4_0"]["tensors"], 31);
  EXPECT_EQ(Tandem("info -m " + kData + "/stories260K.gguf").code, 0);
}

TEST(Cli, MakeModelThenRun) {
  const std::string path = testing::TempDir() + "/made.gguf";
  Result r = Tandem("make-model --shape stories-like --type Q8_0 --seed 3 -o " + path);
  ASSERT_EQ(r.code, 0) << r.err;
  r = Tandem("run -m " + path + " -p 'abc' -n 8 --temp 0 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["generated_ids"].size(), 8u);
  r = Tandem("make-model --shape stories-like --vocab " + kData +
             "/vocab/ggml-vocab-gpt-2.gguf --type F16 -o " + path);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(Tandem("tokenize --no-bos -m " + path, "Hello world").out, "15496 995\n");
  ExpectOneLineError(Tandem("make-model --shape nope -o " + path), "unknown shape 'nope'");
  ExpectOneLineError(Tandem("make-model --shape tiny --type Q3_K -o " + path), "--type Q3_K");
}

// Q4_K_M as llama-quantize mixes it: Q6_K for output.weight and for attn_v / ffn_down of the
// layers that get more bits (tiny: 8 layers -> 0, 3, 6, 7); ffn_down's 896 columns are not whole
// 256-element blocks, so it falls back as llama-quantize's does: Q4_K to Q5_0, Q6_K to Q8_0.
TEST(Cli, MakeModelQ4_K_M) {
  const std::string path = testing::TempDir() + "/made-q4km.gguf";
  Result r = Tandem("make-model --shape tiny --type Q4_K_M -o " + path);
  ASSERT_EQ(r.code, 0) << r.err;
  r = Tandem("info --json -m " + path);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto types = nlohmann::json::parse(r.out)["weight_types"];
  EXPECT_EQ(types["Q6_K"]["tensors"], 1 + 4);  // output + 4 attn_v
  EXPECT_EQ(types["Q4_K"]["tensors"], 1 + 8 * 5 + 4);
  EXPECT_EQ(types["Q5_0"]["tensors"], 4);
  EXPECT_EQ(types["Q8_0"]["tensors"], 4);
  r = Tandem("run -m " + path + " -p 'abc' -n 4 --temp 0 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["generated_ids"].size(), 4u);
  // Q5_K_M: Q5_K, the same Q6_K tensors, and ffn_down's fallbacks Q5_1 and Q8_0.
  r = Tandem("make-model --shape tiny --type Q5_K_M -o " + path);
  ASSERT_EQ(r.code, 0) << r.err;
  r = Tandem("info --json -m " + path);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto types5 = nlohmann::json::parse(r.out)["weight_types"];
  EXPECT_EQ(types5["Q5_K"]["tensors"], 1 + 8 * 5 + 4);
  EXPECT_EQ(types5["Q5_1"]["tensors"], 4);
  EXPECT_EQ(types5["Q6_K"]["tensors"], 1 + 4);
  r = Tandem("run -m " + path + " -p 'abc' -n 4 --temp 0 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  ExpectOneLineError(Tandem("make-model --shape tiny --type Q8_0_M -o " + path), "--type Q8_0_M");
}

// `tandem bench` on one model: its rates, and each ceiling it divides them by, measured in the same
// run (the read bandwidth, STREAM's triad, the instruction peaks, a GEMM of the model's type).
TEST(Cli, BenchJsonRatesAgainstTheCeilings) {
  const Result r = Tandem("bench -m " + kData + "/stories260K.gguf -p 16 -n 8 -r 1 -t 2 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["prompt_tokens"], 16);
  EXPECT_EQ(j["gen_tokens"], 8);
  // This CPU's per-vendor choices, as MatMul resolves them (stories260K's weights are F32).
  EXPECT_EQ(j["ceilings"]["gemm_type"], "F32");
  EXPECT_EQ(j["decode_prefetch_bytes"],
            kernels::cpu::DecodePrefetchDefault(kernels::WeightType::kF32));
  EXPECT_EQ(j["f16_prefill_tile_tokens"], kernels::cpu::F16PrefillTileDefault());
  EXPECT_GT(j["prefill_tokens_per_s"]["median"].get<double>(), 0) << r.out;
  EXPECT_GT(j["decode_tokens_per_s"]["median"].get<double>(), 0) << r.out;
  const auto& c = j["ceilings"];
  for (const char* key :
       {"read_bandwidth_gb_s", "triad_bandwidth_gb_s", "gemm_gflop_s", "peak_fma_f32_gflop_s"}) {
    EXPECT_GT(c[key].get<double>(), 0) << key << " in " << r.out;
  }
  // The run's decode bytes over the bandwidths measured right after it: the two fractions stand in
  // the ratio of the two bandwidths.
  const double read = j["decode_fraction_of_bandwidth"], triad = j["decode_fraction_of_triad"];
  EXPECT_GT(read, 0) << r.out;
  const double bw_ratio =
      c["read_bandwidth_gb_s"].get<double>() / c["triad_bandwidth_gb_s"].get<double>();
  EXPECT_NEAR(triad / read / bw_ratio, 1.0, 1e-9) << r.out;
}

// A rounding F16 prefill (--f16-bf16, --f16-fp16): bench names it and reports its logits' drift
// from the exact products, where this CPU has the instructions (else it says it keeps them exact).
TEST(Cli, BenchReportsTheDriftOfRoundingF16Prefill) {
  using kernels::cpu::F16Prefill;
  for (const auto& [flag, mode, name] : {std::tuple{"--f16-bf16", F16Prefill::kBf16, "bf16"},
                                         std::tuple{"--f16-fp16", F16Prefill::kFp16, "fp16"}}) {
    const Result r = Tandem("bench -m " + kData + "/stories260K-F16.gguf -p 40 -n 2 -r 1 -t 2 " +
                            "--no-ceilings --json " + flag);
    ASSERT_EQ(r.code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    if (!kernels::cpu::F16PrefillRounds(mode)) {
      EXPECT_EQ(j["f16_prefill"], "exact") << flag;
      EXPECT_FALSE(j.contains("prefill_logit_drift")) << flag;
      EXPECT_NE(r.err.find("keeps exact products"), std::string::npos) << r.err;
      continue;
    }
    EXPECT_EQ(j["f16_prefill"], name) << flag;
    const auto& d = j["prefill_logit_drift"];
    EXPECT_GT(d["normalised_error"].get<double>(), 0) << r.out;
    EXPECT_LT(d["normalised_error"].get<double>(), 2e-2) << r.out;
    EXPECT_GT(d["max_abs_diff"].get<double>(), 0) << r.out;
    EXPECT_EQ(d["same_greedy_token"], true) << r.out;
  }
  const Result both = Tandem("bench -m " + kData + "/stories260K-F16.gguf --f16-bf16 --f16-fp16");
  EXPECT_NE(both.code, 0);
}

TEST(Cli, HelpOnEverySubcommand) {
  for (const char* sub : {"run", "tokenize", "info", "make-model"}) {
    const Result r = Tandem(std::string(sub) + " --help");
    EXPECT_EQ(r.code, 0) << sub;
    EXPECT_NE(r.out.find("--help"), std::string::npos) << sub;
  }
}

std::string Stories() { return Slurp(kData + "/stories260K.gguf"); }

TEST(CliBadInput, MissingFile) {
  ExpectOneLineError(Tandem("run -m /nonexistent.gguf -p x"), "/nonexistent.gguf: no such file");
}

TEST(CliBadInput, TruncatedFile) {
  const std::string p = WriteBytes("truncated.gguf", Stories().substr(0, 600000));
  ExpectOneLineError(Tandem("run -m " + p + " -p x"), "truncated download?");
  const std::string h = WriteBytes("truncated-header.gguf", Stories().substr(0, 3000));
  ExpectOneLineError(Tandem("info -m " + h), "truncated");
}

TEST(CliBadInput, WrongMagic) {
  std::string b = Stories();
  b[0] = 'Z';
  ExpectOneLineError(Tandem("run -m " + WriteBytes("magic.gguf", b) + " -p x"), "not a GGUF file");
}

TEST(CliBadInput, AbsurdCounts) {
  std::string b = Stories();
  const uint64_t n = 1ull << 60;
  std::memcpy(&b[8], &n, 8);
  ExpectOneLineError(Tandem("info -m " + WriteBytes("counts.gguf", b)), "tensor count");
}

TEST(CliBadInput, UnknownWeightTypeAndArchitecture) {
  auto src = model::GgufFile::Open(kData + "/stories260K.gguf");
  ASSERT_TRUE(src.ok());
  model::GgufWriter w;
  w.CopyMetadata(**src, "");
  for (const auto& t : (*src)->tensors()) {
    // Q3_K is a real type we do not run: the loader must say so, naming the tensor.
    const bool swap = t.name == "blk.1.attn_k.weight";
    const auto type = swap ? kernels::WeightType::kQ3_K : t.type;
    const uint64_t rows = swap ? 1 : t.shape[1];
    const std::vector<uint64_t> shape = swap ? std::vector<uint64_t>{256, rows} : t.shape;
    const uint64_t bytes = swap ? 110 : t.n_bytes;
    ASSERT_TRUE(w.AddTensor(t.name, shape, type, std::vector<uint8_t>(bytes)).ok());
  }
  const std::string p = testing::TempDir() + "/q3k.gguf";
  ASSERT_TRUE(w.WriteFile(p).ok());
  ExpectOneLineError(Tandem("run -m " + p + " -p x"), "blk.1.attn_k.weight");

  w.Set("general.architecture", model::GgufValue::String("mamba"));
  ASSERT_TRUE(w.WriteFile(p).ok());
  ExpectOneLineError(Tandem("run -m " + p + " -p x"), "unknown architecture 'mamba'");
}

TEST(CliBadInput, PromptLongerThanTheContext) {
  ExpectOneLineError(Tandem("run -m " + kData +
                            "/stories260K.gguf -c 8 -p 'Once upon a time "
                            "there was a very long story'"),
                     "context");
}

TEST(CliBadInput, BadOptionValues) {
  EXPECT_NE(Tandem("run -m " + kData + "/stories260K.gguf -p x --top-p 7").code, 0);
  EXPECT_NE(Tandem("run").code, 0);  // -m is required
}

}  // namespace
}  // namespace tandem::tools

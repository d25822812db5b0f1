// `tandem plan` and `tandem sim` as a user runs them: the real binary, exit codes, JSON, errors.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "tools/cli_runner_test_util.h"

namespace tandem::tools {
namespace {

const std::string kData = TANDEM_TESTDATA_DIR;

using testing_util::CliResult;
using testing_util::ExpectOneLineError;
using testing_util::Slurp;
using testing_util::Tandem;
using Result = CliResult;

const char* kReferenceArgs =
    "sim --devices dgx-spark,m3-ultra --link 10gbe --model llama-3.1-8b --dtype f16 "
    "--prompt-tokens 8192 --gen 32";

TEST(SimCli, ReproducesTheReferenceTable) {
  const Result r = Tandem(std::string(kReferenceArgs) + " --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  struct Want {
    const char* label;
    double prefill_s, generation_s, total_s;
  };
  for (const Want& w :
       {Want{"dgx-spark alone", 1.47, 2.87, 4.34}, Want{"m3-ultra alone", 5.57, 0.85, 6.42},
        Want{"dgx-spark → m3-ultra, streamed, F16 KV", 1.47, 0.85, 2.32}}) {
    const auto row = std::find_if(j["rows"].begin(), j["rows"].end(),
                                  [&](const auto& x) { return x["label"] == w.label; });
    ASSERT_NE(row, j["rows"].end()) << w.label;
    EXPECT_NEAR((*row)["prefill_s"].get<double>(), w.prefill_s, 0.05 * w.prefill_s) << w.label;
    EXPECT_NEAR((*row)["generation_s"].get<double>(), w.generation_s, 0.05 * w.generation_s)
        << w.label;
    EXPECT_NEAR((*row)["total_s"].get<double>(), w.total_s, 0.05 * w.total_s) << w.label;
    if (w.total_s == 2.32) {
      EXPECT_NEAR((*row)["speedup"].get<double>(), 2.8, 0.14);
    }
  }
  EXPECT_EQ(j["baseline"], "m3-ultra alone");
  EXPECT_EQ(j["plan"]["winner"], "dgx-spark → m3-ultra, streamed, F16 KV");
  const auto& t = j["thresholds"]["rows"];
  ASSERT_GE(t.size(), 4u);
  EXPECT_EQ(t[0]["model"], "llama-2-7b");
  EXPECT_NEAR(t[0]["attention_only_tokens"].get<double>(), 40000, 1e-6);
  EXPECT_NEAR(t[0]["full_dense_tokens"].get<double>(), 15296, 0.5);
  EXPECT_NEAR(t[0]["full_causal_tokens"].get<double>(), 30592, 0.5);
  EXPECT_NEAR(t[1]["attention_only_tokens"].get<double>(), 10000, 1e-6);
  EXPECT_EQ(t[1]["full_causal_tokens"].get<double>(), 0);
  EXPECT_NEAR(t[3]["attention_only_tokens"].get<double>(), 5000, 1e-6);  // llama-3-70b
}

TEST(SimCli, TextTableAndStream) {
  Result r = Tandem(kReferenceArgs);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("dgx-spark → m3-ultra, streamed, F16 KV"), std::string::npos);
  EXPECT_NE(r.out.find("largest difference from the reference"), std::string::npos);
  EXPECT_NE(r.out.find("40000"), std::string::npos);
  r = Tandem(std::string(kReferenceArgs) + " --requests 4 --interval-s 0.5 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["stream"]["requests"], 4);
  EXPECT_GT(j["stream"]["max_ttft_s"].get<double>(), j["stream"]["mean_ttft_s"].get<double>());
}

TEST(PlanCli, BuiltinShapeExplainsTheWinner) {
  const Result r = Tandem("plan --model-shape llama-3.1-8b --prompt-tokens 8192 --gen 32 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["candidates"].size(), 10u);
  EXPECT_EQ(j["winner"], "dgx-spark → m3-ultra, streamed, F16 KV");
  EXPECT_NE(j["reason"].get<std::string>().find("Streaming hides"), std::string::npos);
  ASSERT_EQ(j["n_min"].size(), 4u);  // 2 ordered pairs × 2 codecs
  EXPECT_GT(j["n_min"][0]["attention_only_tokens"].get<double>(), 1000);
  EXPECT_LT(j["n_min"][0]["full_tokens"].get<double>(), 100);
  const Result text = Tandem("plan --model-shape llama-3.1-8b --prompt-tokens 128");
  ASSERT_EQ(text.code, 0) << text.err;
  EXPECT_NE(text.out.find("winner: m3-ultra alone"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("attention-only"), std::string::npos);
}

TEST(PlanCli, FromAGgufAndAProfilesFile) {
  const std::string profiles = testing::TempDir() + "/profiles.json";
  std::ofstream(profiles) << R"({"devices": [{"builtin": "emu-compute"},
      {"builtin": "emu-bandwidth", "name": "mac"}], "default_link": "10gbe"})";
  const Result r = Tandem("plan -m " + kData + "/stories260K.gguf --prompt-tokens 256 --gen 8 " +
                          "--profiles " + profiles + " --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["model"]["n_layers"], 5);
  EXPECT_EQ(j["model"]["dtype"], "f32");
  EXPECT_EQ(j["topology"]["devices"][1]["name"], "mac");
  EXPECT_EQ(j["candidates"].size(), 10u);
}

TEST(PlanCli, Errors) {
  ExpectOneLineError(Tandem("plan --prompt-tokens 10"), "exactly one of -m");
  ExpectOneLineError(Tandem("plan --model-shape gpt-5 --prompt-tokens 10"),
                     "unknown model 'gpt-5'");
  ExpectOneLineError(Tandem("plan --model-shape llama-3.1-8b --prompt-tokens 10 --devices tpu"),
                     "unknown device 'tpu'");
  ExpectOneLineError(Tandem("plan --model-shape llama-3-70b --prompt-tokens 10 --devices rtx-4090"),
                     "no placement of llama-3-70b fits");
  ExpectOneLineError(Tandem("plan --model-shape llama-3.1-8b --prompt-tokens 0"), "prompt tokens");
  ExpectOneLineError(Tandem("plan --model-shape llama-3.1-8b --prompt-tokens 10 --profiles "
                            "/nonexistent.json"),
                     "/nonexistent.json: cannot open");
  ExpectOneLineError(Tandem("sim --dtype q5_k"), "unknown --dtype 'q5_k'");
  ExpectOneLineError(Tandem("sim --link 100gbe"), "unknown link '100gbe'");
}

TEST(PlanCli, Help) {
  for (const char* sub : {"plan", "sim"}) {
    const Result r = Tandem(std::string(sub) + " --help");
    EXPECT_EQ(r.code, 0) << sub;
    EXPECT_NE(r.out.find("--prompt-tokens"), std::string::npos) << sub;
    EXPECT_NE(r.out.find("--json"), std::string::npos) << sub;
  }
}

}  // namespace
}  // namespace tandem::tools

// `tandem profile --node`: the profile a node plans with, measured the node's way; on an emulated
// device by timing paced forward passes, so it must come back within 10 % of the emulation.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "base/sanitizers.h"
#include "tools/cli_runner_test_util.h"

namespace tandem::tools {
namespace {

// Timing bounds need an optimised build (base/sanitizers.h).
constexpr bool kTimingBounds = !base::kSanitized;

using nlohmann::json;
using testing_util::ExpectOneLineError;
using testing_util::Tandem;
const std::string kModel = std::string(TANDEM_TESTDATA_DIR) + "/stories260K.gguf";

TEST(ProfileCli, EmulatedNodeProfileJson) {
  const std::string cache = testing::TempDir() + "/profile-cli-cache";
  std::filesystem::remove_all(cache);
  const auto r = Tandem("profile --emulate flops=300M,bw=40M,mem=2G -m " + kModel +
                        " --cache-dir " + cache + " --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const json j = json::parse(r.out);
  std::printf("tandem profile --emulate flops=300M,bw=40M: %.4g FLOP/s, %.4g B/s\n",
              j["flops"].get<double>(), j["bandwidth"].get<double>());
  EXPECT_EQ(j["source"], "emulation");
  if (kTimingBounds) {
    EXPECT_NEAR(j["flops"].get<double>() / 300e6, 1.0, 0.10) << r.out;
    EXPECT_NEAR(j["bandwidth"].get<double>() / 40e6, 1.0, 0.10) << r.out;
  }
  EXPECT_EQ(j["memory_total"], 2e9);
  EXPECT_EQ(j["memory_source"], "emulation");
  EXPECT_EQ(j["key"]["threads"], 1);
  ASSERT_TRUE(j["cache"].is_string()) << r.out;
  EXPECT_TRUE(std::filesystem::exists(j["cache"].get<std::string>()));
  EXPECT_EQ(j["cache"].get<std::string>().rfind(cache, 0), 0u);
}

TEST(ProfileCli, NodeProfileText) {
  const auto r = Tandem("profile --node -m " + kModel + " --no-cache");
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* want : {"source             measured", "prefill ", "decode ", "memory ",
                           "cache              not stored"}) {
    EXPECT_NE(r.out.find(want), std::string::npos) << want << " in:\n" << r.out;
  }
}

TEST(ProfileCli, NodeProfileErrors) {
  ExpectOneLineError(Tandem("profile --node"), "--node needs -m MODEL");
  ExpectOneLineError(Tandem("profile --emulate flops=1G -m " + kModel), "needs both flops and bw");
  ExpectOneLineError(Tandem("profile --node -m /nonexistent.gguf"), "nonexistent");
}

}  // namespace
}  // namespace tandem::tools

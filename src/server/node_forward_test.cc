// A request sent to the wrong node: two real `tandem node` processes emulating a compute-rich
// and a bandwidth-rich device, both with the demo model. The compute-rich node receives a long
// prompt, forwards it to the bandwidth-rich node (the better decode node), which owns it and has
// the compute-rich node prefill for it: the answer is the single-node answer.
#include <gtest/gtest.h>
#include <httplib.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "base/sanitizers.h"
#include "model/model_maker.h"
#include "server/node_proc_test_util.h"

namespace tandem::server {
namespace {

using nlohmann::json;
using testing_util::Generate;
using testing_util::KeyFile;
using testing_util::NodeProc;

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

TEST(Forwarding, EntryNodeForwardsToTheBetterDecodeNode) {
  // The plan follows the measured profiles; under sanitizers the host computes slower than the
  // emulated compute-rich device, so its profile (rightly) shows the host, and the plan changes.
  // PlacementPolicy.* covers the forwarding decision under sanitizers.
  if (base::kSanitized) GTEST_SKIP() << "emulated devices need an optimised build";
  auto shape = model::FindShape("demo");
  ASSERT_TRUE(shape.ok());
  const std::string path = testing::TempDir() + "/demo-F16.gguf";
  ASSERT_TRUE(model::MakeModel({*shape, kernels::WeightType::kF16, "", 1}, path).ok());
  // A cluster key of its own: nodes of other tests running at the same time, which discovery
  // also hears, stay out of this cluster. The decode node finds the entry node by discovery.
  const std::string key = KeyFile("forward-key", "forwarding-cluster-key-0123456789");
  // The demo's devices: the reference pair scaled by 4e-5 (DGX Spark, M3 Ultra).
  NodeProc decode(path, "bandwidth-rich", key, {"--emulate", "flops=1.04G,bw=32.76M"});
  NodeProc entry(path, "compute-rich", key,
                 {"--emulate", "flops=4G,bw=10.92M", "--peer", decode.addr()});
  std::vector<int32_t> prompt;
  for (int i = 0; i < 512; ++i) prompt.push_back(1 + (i * 37) % 500);
  const json body = {{"prompt_ids", prompt}, {"n_predict", 8}, {"temperature", 0.0}};

  const json r = Generate(entry, body);
  ASSERT_TRUE(r.contains("forwarded")) << r.dump();
  EXPECT_EQ(r["forwarded"]["from"], "compute-rich");
  EXPECT_EQ(r["forwarded"]["to"], "bandwidth-rich");
  EXPECT_EQ(r["forwarded"]["plan"].get<std::string>().find("compute-rich → bandwidth-rich"), 0u)
      << r["forwarded"].dump();
  // The decode node owns it and has the entry node prefill for it.
  EXPECT_EQ(r["trace"]["prefill_node"], "compute-rich") << r["trace"].dump();
  EXPECT_EQ(r["trace"]["fallback_reason"], "");
  EXPECT_NE(ReadFile(entry.log_path()).find("forwarded to bandwidth-rich"), std::string::npos);

  // Exactly the tokens of one node alone.
  json local = body;
  local["placement"] = {{"mode", "local"}};
  const json alone = Generate(decode, local);
  EXPECT_EQ(r["generated_ids"], alone["generated_ids"]);
  EXPECT_FALSE(alone.contains("forwarded"));
}

// A peer that serves another model is left out of placement: neither its prefill nor its answers
// would be this model's, however fast it is (here it is not even emulated).
TEST(Forwarding, PeerWithAnotherModelIsLeftOut) {
  auto shape = model::FindShape("demo");
  ASSERT_TRUE(shape.ok());
  const std::string path = testing::TempDir() + "/demo-other-F16.gguf";
  ASSERT_TRUE(model::MakeModel({*shape, kernels::WeightType::kF16, "", 1}, path).ok());
  const std::string key = KeyFile("other-key", "other-model-cluster-key-0123456789");
  NodeProc other(std::string(TANDEM_TESTDATA_DIR) + "/stories260K.gguf", "other-model", key,
                 {"--no-discovery"});
  NodeProc entry(path, "entry", key,
                 {"--emulate", "flops=4G,bw=10.92M", "--no-discovery", "--peer", other.addr()});
  std::vector<int32_t> prompt;
  for (int i = 0; i < 64; ++i) prompt.push_back(1 + i);
  const json r = Generate(entry, {{"prompt_ids", prompt}, {"n_predict", 2}, {"temperature", 0.0}});
  EXPECT_FALSE(r.contains("forwarded")) << r.dump();
  EXPECT_EQ(r["trace"]["prefill_node"], "entry") << r["trace"].dump();
  EXPECT_NE(ReadFile(entry.log_path()).find("serves another model"), std::string::npos);
}

}  // namespace
}  // namespace tandem::server

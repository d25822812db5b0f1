// Two real `tandem node` processes over TCP: disaggregated runs give the single-node tokens,
// a prefill node that dies mid-stream costs nothing but time, a wrong key is refused.
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <thread>

#include "server/node_proc_test_util.h"

namespace tandem::server {
namespace {

using nlohmann::json;
using testing_util::Generate;
using testing_util::KeyFile;
using testing_util::NodeProc;
const std::string kData = TANDEM_TESTDATA_DIR;

json Request(int n_predict, const std::string& mode = "local", const std::string& peer = "",
             const std::string& codec = "f16") {
  json j = {{"prompt", "Once upon a time, there was a little girl named Lily. She"},
            {"n_predict", n_predict},
            {"temperature", 0.0}};
  j["placement"] = {{"mode", mode}};
  if (mode != "local") j["placement"] = {{"mode", mode}, {"prefill_peer", peer}, {"codec", codec}};
  return j;
}

void CheckDisaggregatedEqualsLocal(const std::string& model) {
  const std::string key = KeyFile("key", "a-cluster-key-0123456789");
  NodeProc p(model, "prefill", key), d(model, "decode", key);
  const json local = Generate(d, Request(24));
  ASSERT_EQ(local["generated_ids"].size(), 24u);
  for (const char* mode : {"streamed", "after-prefill"}) {
    const json r = Generate(d, Request(24, mode, p.addr()));
    EXPECT_EQ(r["generated_ids"], local["generated_ids"]) << mode;
    const json& t = r["trace"];
    EXPECT_EQ(t["fallback_reason"], "") << mode;
    EXPECT_EQ(t["prefill_node"], "prefill");
    EXPECT_GT(t["kv_bytes"].get<double>(), 0);
    EXPECT_FALSE(t["frames"].empty());
    // The trace is also served by id.
    httplib::Client cli("127.0.0.1", d.port());
    auto tr = cli.Get("/v1/requests/" + r["id"].get<std::string>() + "/trace");
    ASSERT_TRUE(tr);
    EXPECT_EQ(tr->status, 200);
    EXPECT_EQ(json::parse(tr->body)["id"], r["id"]);
  }
  const json q8 = Generate(d, Request(24, "streamed", p.addr(), "q8"));
  EXPECT_EQ(q8["trace"]["fallback_reason"], "");
  std::printf("Q8 codec: %zu of 24 greedy tokens equal the F16 run\n", [&] {
    size_t same = 0;
    for (size_t i = 0; i < 24 && i < q8["generated_ids"].size(); ++i) {
      same += q8["generated_ids"][i] == local["generated_ids"][i];
    }
    return same;
  }());
}

TEST(TwoNodes, Stories260KDisaggregatedEqualsLocal) {
  CheckDisaggregatedEqualsLocal(kData + "/stories260K.gguf");
}

TEST(TwoNodes, GeneratedModelDisaggregatedEqualsLocal) {
  const std::string path = testing::TempDir() + "/two-node-model.gguf";
  ASSERT_EQ(std::system((std::string(TANDEM_BINARY) +
                         " make-model --shape stories-like --type Q8_0 --seed 11 -o " + path +
                         " 2>/dev/null")
                            .c_str()),
            0);
  CheckDisaggregatedEqualsLocal(path);
}

TEST(TwoNodes, KillingThePrefillNodeMidStreamFallsBack) {
  const std::string key = KeyFile("key2", "another-cluster-key-987654321");
  // The prefill node is paced to a slow device so the kill lands mid-prefill.
  NodeProc p(kData + "/stories260K.gguf", "slow-prefill", key, {"--emulate", "flops=2M,bw=2G"});
  NodeProc d(kData + "/stories260K.gguf", "decode", key);
  const json local = Generate(d, Request(16));
  std::thread killer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(800));
    p.Kill(SIGKILL);
  });
  const auto t0 = std::chrono::steady_clock::now();
  const json r = Generate(d, Request(16, "streamed", p.addr()));
  killer.join();
  EXPECT_GT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(700));
  EXPECT_EQ(r["generated_ids"], local["generated_ids"]);
  const std::string why = r["trace"]["fallback_reason"];
  EXPECT_NE(why.find("lost"), std::string::npos) << why;
  EXPECT_NE(r["trace"]["placement"].get<std::string>().find("fell back"), std::string::npos);
}

TEST(TwoNodes, WrongClusterKeyIsRefusedAndTheRequestStillAnswers) {
  NodeProc p(kData + "/stories260K.gguf", "p", KeyFile("k1", "first-cluster-key-00000"));
  NodeProc d(kData + "/stories260K.gguf", "d", KeyFile("k2", "second-cluster-key-1111"));
  const json r = Generate(d, Request(8, "streamed", p.addr()));
  EXPECT_EQ(r["generated_ids"].size(), 8u);
  const std::string why = r["trace"]["fallback_reason"];
  EXPECT_NE(why.find("cluster key"), std::string::npos) << why;
}

TEST(TwoNodes, FingerprintMismatchIsRefusedWithAClearError) {
  const std::string key = KeyFile("key3", "third-cluster-key-222222");
  NodeProc p(kData + "/stories260K-Q8_0.gguf", "q8-node", key);
  NodeProc d(kData + "/stories260K.gguf", "f32-node", key);
  const json r = Generate(d, Request(8, "streamed", p.addr()));
  const std::string why = r["trace"]["fallback_reason"];
  EXPECT_NE(why.find("model fingerprint mismatch"), std::string::npos) << why;
}

TEST(TwoNodes, BadRequestsGetAJsonError) {
  NodeProc d(kData + "/stories260K.gguf", "d", "");
  httplib::Client cli("127.0.0.1", d.port());
  auto r = cli.Post("/v1/generate", "{not json", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_TRUE(json::parse(r->body).contains("error"));
  r = cli.Post("/v1/generate", R"({"prompt":"x","n_predict":0})", "application/json");
  EXPECT_EQ(r->status, 400);
  auto t = cli.Get("/v1/requests/nope/trace");
  EXPECT_EQ(t->status, 404);
  auto n = cli.Get("/v1/node");
  EXPECT_EQ(n->status, 403);  // no key: no remote work
}

}  // namespace
}  // namespace tandem::server

// Two real `tandem node` processes over TCP: disaggregated runs give the single-node tokens,
// a prefill node that dies mid-stream costs nothing but time, a wrong key is refused.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "transport/tcp.h"

extern char** environ;

namespace tandem::server {
namespace {

using nlohmann::json;
const std::string kData = TANDEM_TESTDATA_DIR;

uint16_t FreePort() {
  return std::move(transport::FrameListener::Listen("127.0.0.1", 0)).value()->port();
}

std::string KeyFile(const std::string& name, const std::string& key) {
  const std::string path = testing::TempDir() + "/" + name;
  std::ofstream(path) << key << "\n";
  return path;
}

class NodeProc {
 public:
  NodeProc(const std::string& model, const std::string& id, const std::string& key_file,
           std::vector<std::string> extra = {})
      : port_(FreePort()) {
    std::vector<std::string> args = {TANDEM_BINARY, "node",
                                     "-m",          model,
                                     "--port",      std::to_string(port_),
                                     "--data-port", std::to_string(FreePort()),
                                     "--node-id",   id};
    if (!key_file.empty()) {
      args.push_back("--cluster-key-file");
      args.push_back(key_file);
    }
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const std::string log = testing::TempDir() + "/node-" + id + ".log";
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    EXPECT_EQ(posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    httplib::Client cli("127.0.0.1", port_);
    for (int i = 0; i < 300; ++i) {
      if (auto r = cli.Get("/health"); r && r->status == 200) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "node " << id << " did not come up";
  }
  ~NodeProc() { Kill(SIGTERM); }
  void Kill(int sig) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    int st;
    ::waitpid(pid_, &st, 0);
    pid_ = -1;
  }
  std::string addr() const { return "127.0.0.1:" + std::to_string(port_); }
  uint16_t port() const { return port_; }

 private:
  uint16_t port_;
  pid_t pid_ = -1;
};

json Generate(const NodeProc& node, json body) {
  httplib::Client cli("127.0.0.1", node.port());
  cli.set_read_timeout(120);
  auto r = cli.Post("/v1/generate", body.dump(), "application/json");
  EXPECT_TRUE(r);
  if (!r) return json::object();
  EXPECT_EQ(r->status, 200) << r->body;
  return json::parse(r->body);
}

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

// The KV stream over real loopback TCP, both ends in this process.
#include "runtime/kv_stream.h"

#include <gtest/gtest.h>

#include <cmath>
#include <thread>

#include "kernels/ref/convert.h"
#include "model/forward.h"
#include "runtime/request.h"

namespace tandem::runtime {
namespace {

const std::string kData = TANDEM_TESTDATA_DIR;
const std::string kKey = "test-cluster-key-0123456789";

struct Served {
  std::unique_ptr<transport::FrameListener> listener;
  std::thread thread;
  StatusOr<ServedPrefill> result = Internal("not run");
};

// A prefill node's options: its name and cluster key, the rest default.
ServePrefillOptions PrefillNode(const std::string& key) {
  ServePrefillOptions o;
  o.node_id = "prefill";
  o.cluster_key = key;
  return o;
}

// Serves one connection with `model` on a background thread.
void Serve(Served& s, const model::LlamaModel& model, const ServePrefillOptions& opts) {
  s.listener = std::move(transport::FrameListener::Listen("127.0.0.1", 0)).value();
  s.thread = std::thread([&s, &model, opts] {
    auto conn = s.listener->Accept();
    if (!conn.ok()) return;
    s.result = ServePrefill(model, **conn, opts);
  });
}

std::unique_ptr<model::LlamaModel> Load(const std::string& name) {
  return std::move(model::LlamaModel::Load(kData + "/" + name)).value();
}

const std::vector<int32_t> kPrompt = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376};

// Logits after feeding the last prompt token on top of `cache` holding prompt[0, n-1).
std::vector<float> NextLogits(const model::LlamaModel& m, kv::KvCache& cache) {
  model::Forward f(m, cache);
  std::vector<float> logits;
  EXPECT_TRUE(f.Decode(kPrompt.back(), static_cast<int64_t>(kPrompt.size()) - 1, &logits).ok());
  return logits;
}

float MaxDiff(const std::vector<float>& a, const std::vector<float>& b) {
  float d = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::fabs(a[i] - b[i]));
  return d;
}

kv::KvCache F16Cache(const model::LlamaModel& m,
                     kv::KvPrecision precision = kv::KvPrecision::kF16) {
  return std::move(kv::KvCache::Create(model::KvLayoutFor(m.config(), 32), precision)).value();
}

std::vector<float> LocalLogits(const model::LlamaModel& m,
                               kv::KvPrecision precision = kv::KvPrecision::kF16) {
  auto cache = kv::KvCache::Create(model::KvLayoutFor(m.config(), 32), precision);
  model::Forward f(m, *cache);
  EXPECT_TRUE(f.Prefill(std::span(kPrompt).subspan(0, kPrompt.size() - 1), 0, nullptr).ok());
  return NextLogits(m, *cache);
}

StatusOr<RemotePrefillResult> Remote(const model::LlamaModel& m, Served& s, kv::KvCache& cache,
                                     kv::KvCodec codec, transport::PrefillMode mode,
                                     const std::string& key = kKey, uint32_t chunk = 0) {
  RemotePrefillOptions o;
  o.host = "127.0.0.1";
  o.data_port = s.listener->port();
  o.request_id = "t";
  o.node_id = "decode";
  o.cluster_key = key;
  o.codec = codec;
  o.mode = mode;
  o.chunk_tokens = chunk;
  o.timeout = std::chrono::milliseconds(5000);
  auto r = RemotePrefill(m, std::span(kPrompt).subspan(0, kPrompt.size() - 1), cache, o);
  s.thread.join();
  return r;
}

TEST(KvStream, F16StreamGivesTheLocalLogitsAndEveryLayerArrives) {
  auto m = Load("stories260K.gguf");
  const auto local = LocalLogits(*m);
  for (auto mode : {transport::PrefillMode::kStreamed, transport::PrefillMode::kAfterPrefill}) {
    for (uint32_t chunk : {0u, 4u}) {
      Served s;
      Serve(s, *m, PrefillNode(kKey));
      auto cache = F16Cache(*m);
      auto r = Remote(*m, s, cache, kv::KvCodec::kF16, mode, kKey, chunk);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      ASSERT_TRUE(s.result.ok()) << s.result.status().ToString();
      EXPECT_EQ(r->frames.size(), chunk == 0 ? 5u : 15u);  // 5 layers x chunks of 4, 4, 1
      // Both caches hold F16-rounded values, so the F16 wire codec is lossless: bit-identical.
      EXPECT_EQ(NextLogits(*m, cache), local);
    }
  }
}

// What a decode node with an f32 cache holds after a remote prefill over the F16 codec, computed
// here: prompt[0, n-1) prefilled into a cache of `prefill_type`, every value then rounded through
// half (the wire) into an f32 cache; the logits of the last prompt token on top.
std::vector<float> F32AfterF16Wire(const model::LlamaModel& m, kv::KvPrecision prefill_type) {
  auto p = F16Cache(m, prefill_type);
  auto d = F16Cache(m, kv::KvPrecision::kF32);
  model::Forward f(m, p);
  EXPECT_TRUE(f.Prefill(std::span(kPrompt).subspan(0, kPrompt.size() - 1), 0, nullptr).ok());
  const int64_t n = static_cast<int64_t>(kPrompt.size()) - 1, row = p.layout().row_elems();
  std::vector<float> k(n * row), v(n * row);
  for (int l = 0; l < p.layout().n_layers; ++l) {
    p.ReadK(l, 0, n, k.data());
    p.ReadV(l, 0, n, v.data());
    for (float& x : k) x = kernels::Fp16ToF32(kernels::F32ToFp16(x));
    for (float& x : v) x = kernels::Fp16ToF32(kernels::F32ToFp16(x));
    d.Write(l, 0, n, k.data(), v.data());
  }
  return NextLogits(m, d);
}

// The request carries the decode node's cache type and the prefill node prefills into the same:
// with an f32 cache on D, P's attention reads unrounded values too.
TEST(KvStream, PrefillNodeTakesTheDecodeNodesCacheType) {
  auto m = Load("stories260K.gguf");
  Served s;
  Serve(s, *m, PrefillNode(kKey));
  auto cache = F16Cache(*m, kv::KvPrecision::kF32);
  auto r = Remote(*m, s, cache, kv::KvCodec::kF16, transport::PrefillMode::kStreamed);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const auto remote = NextLogits(*m, cache);
  EXPECT_EQ(remote, F32AfterF16Wire(*m, kv::KvPrecision::kF32));
  EXPECT_NE(remote, F32AfterF16Wire(*m, kv::KvPrecision::kF16));
}

TEST(KvStream, Q8CodecMovesLogitsALittle) {
  auto m = Load("stories260K.gguf");
  const auto local = LocalLogits(*m);
  Served s;
  Serve(s, *m, PrefillNode(kKey));
  auto cache = F16Cache(*m);
  auto r = Remote(*m, s, cache, kv::KvCodec::kQ8, transport::PrefillMode::kStreamed);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const float drift = MaxDiff(local, NextLogits(*m, cache));
  std::printf("Q8 KV codec: max |logit drift| = %.4f (F16 codec for comparison below)\n", drift);
  RecordProperty("q8_max_logit_drift", std::to_string(drift));
  EXPECT_LT(drift, 0.5f);
  // Q8 carries about half the bytes of F16: head_dim 8 + a 2-byte scale vs 16 bytes.
  EXPECT_EQ(r->bytes, 2u * 5 * 9 * 4 * (2 + 8));
}

TEST(KvStream, WrongClusterKeyIsRefused) {
  auto m = Load("stories260K.gguf");
  Served s;
  Serve(s, *m, PrefillNode(kKey));
  auto cache = kv::KvCache::Create(model::KvLayoutFor(m->config(), 32));
  auto r = Remote(*m, s, *cache, kv::KvCodec::kF16, transport::PrefillMode::kStreamed,
                  "another-key-0123456789");
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("cluster key"), std::string::npos) << r.status().ToString();
  EXPECT_FALSE(s.result.ok());
}

TEST(KvStream, NodeWithoutKeyRefusesRemoteWork) {
  auto m = Load("stories260K.gguf");
  Served s;
  Serve(s, *m, PrefillNode(""));
  auto cache = kv::KvCache::Create(model::KvLayoutFor(m->config(), 32));
  auto r = Remote(*m, s, *cache, kv::KvCodec::kF16, transport::PrefillMode::kStreamed);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("refuses remote work"), std::string::npos)
      << r.status().ToString();
}

TEST(KvStream, ModelFingerprintMismatchIsRefusedClearly) {
  auto decode = Load("stories260K.gguf");
  auto prefill = Load("stories260K-Q8_0.gguf");
  Served s;
  Serve(s, *prefill, PrefillNode(kKey));
  auto cache = kv::KvCache::Create(model::KvLayoutFor(decode->config(), 32));
  auto r = Remote(*decode, s, *cache, kv::KvCodec::kF16, transport::PrefillMode::kStreamed);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("model fingerprint mismatch"), std::string::npos)
      << r.status().ToString();
}

TEST(Request, UnreachablePrefillNodeFallsBackWithTheReason) {
  auto m = Load("stories260K.gguf");
  RequestSpec spec;
  spec.id = "r1";
  spec.prompt = kPrompt;
  spec.gen.n_predict = 8;
  spec.gen.sampler.temperature = 0;
  Placement p;
  p.mode = PlacementMode::kStreamed;
  p.prefill_host = "127.0.0.1";
  p.prefill_data_port = 1;  // nothing listens there
  NodeContext node;
  node.node_id = "decode";
  node.cluster_key = kKey;
  auto remote = RunRequest(*m, spec, p, node);
  ASSERT_TRUE(remote.ok()) << remote.status().ToString();
  EXPECT_NE(remote->trace.fallback_reason.find("cannot connect"), std::string::npos)
      << remote->trace.fallback_reason;
  auto local = RunRequest(*m, spec, Placement{}, node);
  EXPECT_EQ(remote->gen.generated, local->gen.generated);
}

}  // namespace
}  // namespace tandem::runtime

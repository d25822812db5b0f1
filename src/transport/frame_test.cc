#include "transport/frame.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <thread>

#include "transport/auth.h"
#include "transport/tcp.h"

namespace tandem::transport {
namespace {

TEST(Frame, EveryMessageRoundTrips) {
  Hello h;
  h.node_id = "node-a";
  h.model_fingerprint = 0x1234;
  h.tokenizer_hash = 99;
  h.n_layers = 5;
  h.n_kv_heads = 4;
  h.head_dim = 8;
  h.codec = 2;
  h.nonce = RandomNonce();
  h.proof[3] = 7;
  auto h2 = DecodeHello(EncodeHello(h));
  ASSERT_TRUE(h2.ok());
  EXPECT_EQ(h2->node_id, "node-a");
  EXPECT_EQ(h2->nonce, h.nonce);
  EXPECT_EQ(h2->proof, h.proof);

  PrefillRequest r;
  r.request_id = "req-1";
  r.mode = PrefillMode::kAfterPrefill;
  r.codec = 1;
  r.kv_type = 2;
  r.chunk_tokens = 64;
  r.tokens = {1, 2, 3, 400};
  auto r2 = DecodePrefillRequest(EncodePrefillRequest(r));
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->tokens, r.tokens);
  EXPECT_EQ(r2->mode, PrefillMode::kAfterPrefill);
  EXPECT_EQ(r2->kv_type, 2);
  EXPECT_EQ(r2->chunk_tokens, 64u);

  KvLayerHeader k{3, 10, 20, 1, 4, 4, 111, 222};
  auto payload = EncodeKvLayerHeader(k);
  for (uint8_t b : {1, 2, 3, 4, 5, 6, 7, 8}) payload.push_back(b);
  auto k2 = DecodeKvLayer(payload);
  ASSERT_TRUE(k2.ok());
  EXPECT_EQ(k2->header.t1, 20u);
  EXPECT_EQ(k2->v[0], 5);

  End e{42, 1, 2, {5, 6, 7}};
  EXPECT_EQ(DecodeEnd(EncodeEnd(e))->send_end_ns, e.send_end_ns);
  EXPECT_EQ(DecodeError(EncodeError({3, "boom"}))->message, "boom");
}

TEST(Frame, HeaderRejectsBadMagicTypeAndSize) {
  auto h = EncodeFrameHeader(FrameType::kEnd, 10);
  EXPECT_TRUE(DecodeFrameHeader(h).ok());
  auto bad = h;
  bad[0] ^= 1;
  EXPECT_FALSE(DecodeFrameHeader(bad).ok());
  bad = h;
  bad[4] = 99;
  EXPECT_FALSE(DecodeFrameHeader(bad).ok());
  EXPECT_EQ(
      DecodeFrameHeader(EncodeFrameHeader(FrameType::kKvLayer, uint64_t{1} << 40)).status().code(),
      StatusCode::kOutOfRange);
}

TEST(Frame, AbsurdTokenCountIsRejectedBeforeAllocating) {
  PrefillRequest r;
  r.tokens = {1};
  auto bytes = EncodePrefillRequest(r);
  // The u32 token count sits after request_id (4 + 0), mode, codec, chunk (4).
  const uint32_t n = 0xffffffff;
  std::memcpy(&bytes[4 + 1 + 1 + 4], &n, 4);
  EXPECT_EQ(DecodePrefillRequest(bytes).status().code(), StatusCode::kOutOfRange);
}

// The fuzz target's body, run over seeded random mutations of valid frames: no crash, no hang.
TEST(Frame, MutatedPayloadsNeverCrash) {
  std::mt19937 rng(1);
  PrefillRequest r;
  r.request_id = "abc";
  r.tokens = {1, 2, 3};
  KvLayerHeader k{1, 0, 2, 1, 8, 8, 0, 0};
  auto kv = EncodeKvLayerHeader(k);
  kv.resize(kv.size() + 16);
  const std::vector<std::vector<uint8_t>> seeds = {EncodeHello(Hello{}), EncodePrefillRequest(r),
                                                   kv, EncodeEnd(End{1, 2, 3, {4}}),
                                                   EncodeError({1, "x"})};
  for (int i = 0; i < 20000; ++i) {
    auto b = seeds[i % seeds.size()];
    const int flips = 1 + rng() % 4;
    for (int f = 0; f < flips && !b.empty(); ++f) b[rng() % b.size()] = static_cast<uint8_t>(rng());
    if (rng() % 4 == 0) b.resize(rng() % (b.size() + 1));
    (void)DecodeHello(b);
    (void)DecodePrefillRequest(b);
    (void)DecodeKvLayer(b);
    (void)DecodeEnd(b);
    (void)DecodeError(b);
    (void)DecodeFrameHeader(b);
  }
}

TEST(Auth, ProofsDependOnKeyNonceAndFields) {
  const Nonce n = RandomNonce();
  const std::vector<uint8_t> f = {1, 2, 3};
  const Proof a = ComputeProof("key-aaaaaaaaaaaaaaaa", "hello", n, f);
  EXPECT_TRUE(ProofEquals(a, ComputeProof("key-aaaaaaaaaaaaaaaa", "hello", n, f)));
  EXPECT_FALSE(ProofEquals(a, ComputeProof("key-bbbbbbbbbbbbbbbb", "hello", n, f)));
  EXPECT_FALSE(ProofEquals(a, ComputeProof("key-aaaaaaaaaaaaaaaa", "hello", RandomNonce(), f)));
  const std::vector<uint8_t> g = {1, 2, 4};
  EXPECT_FALSE(ProofEquals(a, ComputeProof("key-aaaaaaaaaaaaaaaa", "hello", n, g)));
}

TEST(Tcp, FramesCrossALoopbackConnectionWithRateLimit) {
  auto listener = FrameListener::Listen("127.0.0.1", 0);
  ASSERT_TRUE(listener.ok()) << listener.status().ToString();
  const uint16_t port = (*listener)->port();
  std::vector<uint8_t> big(1 << 20, 7);
  std::thread server([&] {
    auto conn = (*listener)->Accept();
    ASSERT_TRUE(conn.ok());
    (*conn)->SetRateLimit(20e6);  // 20 MB/s: 1 MiB takes ~50 ms
    ASSERT_TRUE((*conn)->Write(FrameType::kError, {big}).ok());
  });
  auto c = FrameConn::Connect("127.0.0.1", port, std::chrono::milliseconds(2000));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const auto t0 = std::chrono::steady_clock::now();
  auto f = (*c)->Read();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  server.join();
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->payload.size(), big.size());
  EXPECT_GT(s, 0.03);  // the bucket held it back
}

TEST(Tcp, ReadTimesOutAndRefusedConnectIsAnError) {
  auto listener = FrameListener::Listen("127.0.0.1", 0);
  ASSERT_TRUE(listener.ok());
  std::unique_ptr<FrameConn> server_side;
  std::thread server([&] { server_side = std::move((*listener)->Accept()).value(); });
  auto c = FrameConn::Connect("127.0.0.1", (*listener)->port(), std::chrono::milliseconds(2000));
  server.join();
  ASSERT_TRUE(c.ok());
  (*c)->SetTimeout(std::chrono::milliseconds(100));
  EXPECT_EQ((*c)->Read().status().code(), StatusCode::kUnavailable);
  const uint16_t closed_port = (*listener)->port();
  listener->reset();
  EXPECT_FALSE(FrameConn::Connect("127.0.0.1", closed_port, std::chrono::milliseconds(500)).ok());
}

}  // namespace
}  // namespace tandem::transport

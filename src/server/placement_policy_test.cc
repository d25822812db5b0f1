// Free memory moves the next placement: a peer that can no longer hold a prefill, or this node
// short of room for prefill activations, changes the decision, and the change says why.
#include "server/placement_policy.h"

#include <gtest/gtest.h>

#include "planner/placement.h"
#include "planner/test_shapes.h"

namespace tandem::server {
namespace {

using planner::testing::Llama31_8B;

PeerCandidate SparkPeer(double free_bytes) {
  PeerCandidate p;
  p.node_id = "spark";
  p.host = "127.0.0.1";
  p.data_port = 9000;
  p.rtt_s = 1e-4;
  p.profile = planner::testing::Device("spark", 100e12 * 0.9, 273e9 * 0.66, 1, 1, 120e9);
  p.profile.memory_free_bytes = free_bytes;
  p.link_bytes_per_s = 1.25e9;
  return p;
}

planner::DeviceProfile Mac(double free_bytes) {
  planner::DeviceProfile d =
      planner::testing::Device("mac", 26e12 * 0.91, 819e9 * 0.74, 1, 1, 384e9);
  d.memory_free_bytes = free_bytes;
  return d;
}

TEST(PlacementPolicy, PeerShortOfMemoryMovesTheNextPlacement) {
  PlacementPolicy policy(Llama31_8B(), Mac(300e9));
  auto d = policy.Decide({SparkPeer(100e9)}, 8192, 32);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->placement.prefill_node_id, "spark") << d->label;
  EXPECT_TRUE(d->change.empty());
  // The peer's free memory falls below the weights it would need to prefill.
  d = policy.Decide({SparkPeer(4e9)}, 8192, 32);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->label, "mac alone");
  EXPECT_EQ(d->placement.mode, runtime::PlacementMode::kLocal);
  EXPECT_NE(d->change.find("placement changed from 'spark → mac"), std::string::npos) << d->change;
  EXPECT_NE(d->change.find("no longer fits: prefill node spark needs"), std::string::npos)
      << d->change;
  // Room again: back to the split.
  d = policy.Decide({SparkPeer(100e9)}, 8192, 32);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->placement.prefill_node_id, "spark");
  EXPECT_FALSE(d->change.empty());
}

TEST(PlacementPolicy, ThisNodeShortOfMemory) {
  const planner::ModelShape m = Llama31_8B();
  const planner::Request short_req{16, 256};
  PlacementPolicy policy(m, Mac(300e9));
  // A short prompt with a long answer: the bandwidth-rich node alone.
  auto d = policy.Decide({SparkPeer(100e9)}, short_req.prompt_tokens, short_req.gen_tokens);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->label, "mac alone");
  // Free memory that holds the decode but not the prefill activations as well: the peer must
  // prefill.
  const double decode = planner::DecodeMemory(m, short_req).total();
  const double alone = planner::ColocatedMemory(m, short_req).total();
  ASSERT_LT(decode, alone);
  policy.SetSelf(Mac((decode + alone) / 2));
  EXPECT_EQ(policy.self().name, "mac");
  d = policy.Decide({SparkPeer(100e9)}, short_req.prompt_tokens, short_req.gen_tokens);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->placement.prefill_node_id, "spark") << d->label;
  EXPECT_NE(d->change.find("'mac alone' no longer fits: mac alone needs"), std::string::npos)
      << d->change;
  // Not even the decode fits: no placement, and the error says what is missing.
  policy.SetSelf(Mac(decode / 2));
  d = policy.Decide({SparkPeer(100e9)}, short_req.prompt_tokens, short_req.gen_tokens);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(d.status().message().find("mac alone needs"), std::string::npos)
      << d.status().ToString();
}

// A request that reaches the compute-rich node: with forwarding allowed, the best plan decodes on
// the bandwidth-rich peer (which then plans its own prefill side); a forwarded request stays.
TEST(PlacementPolicy, EntryNodeForwardsToTheBetterDecodeNode) {
  PeerCandidate mac;
  mac.node_id = "mac";
  mac.host = "127.0.0.1";
  mac.http_address = "127.0.0.1:8001";
  mac.rtt_s = 1e-4;
  mac.profile = Mac(300e9);
  mac.link_bytes_per_s = 1.25e9;
  planner::DeviceProfile spark = SparkPeer(100e9).profile;
  PlacementPolicy policy(Llama31_8B(), spark);
  auto d = policy.Decide({mac}, 8192, 32, /*may_forward=*/true);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->forward_to_node, "mac") << d->label;
  EXPECT_EQ(d->forward_to_address, "127.0.0.1:8001");
  EXPECT_EQ(d->label.find("spark → mac"), 0u) << d->label;
  // Owned here (forwarded to this node already): the best plan that decodes here.
  d = policy.Decide({mac}, 8192, 32, /*may_forward=*/false);
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->forward_to_node.empty());
  EXPECT_EQ(d->label.find("mac → spark"), std::string::npos) << d->label;
}

// Between two peers the link is not measured here: the slower of their links to this node
// stands in, so a pair of peers behind a slow link is not preferred.
TEST(PlacementPolicy, PeerPairUsesTheSlowerKnownLink) {
  PeerCandidate spark = SparkPeer(100e9), mac;
  spark.http_address = "127.0.0.1:9001";
  mac.node_id = "mac";
  mac.http_address = "127.0.0.1:8001";
  mac.rtt_s = 1e-4;
  mac.profile = Mac(300e9);
  mac.link_bytes_per_s = 1.25e9;
  planner::DeviceProfile weak = planner::testing::Device("weak", 1e12, 50e9, 1, 1, 64e9);
  PlacementPolicy policy(Llama31_8B(), weak);
  auto d = policy.Decide({spark, mac}, 8192, 32, true);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->forward_to_node, "mac") << d->label;
  EXPECT_EQ(d->label.find("spark → mac"), 0u) << d->label;
  // The spark's link slows to a trickle: the spark → mac pair is estimated over it too.
  policy.ObserveLink("spark", 1e6, 1.0);
  d = policy.Decide({spark, mac}, 8192, 32, true);
  ASSERT_TRUE(d.ok());
  // (Spark alone, 4.3 s, beats the Mac alone, 6.4 s, for 8192 prompt tokens.)
  EXPECT_EQ(d->label, "spark alone") << d->label;
  EXPECT_EQ(d->forward_to_node, "spark");
}

}  // namespace
}  // namespace tandem::server

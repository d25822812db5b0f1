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

}  // namespace
}  // namespace tandem::server

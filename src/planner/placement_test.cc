// Placement search, table-driven: which candidate wins, what its prediction looks like, and what
// the reason says.
#include "planner/placement.h"

#include <gtest/gtest.h>

#include <functional>
#include <vector>

#include "planner/test_shapes.h"

namespace tandem::planner {
namespace {

using testing::Cluster;
using testing::Device;
using testing::Llama31_8B;
using testing::Mac;
using testing::MakeLink;
using testing::Spark;
using testing::TenGbE;

const Candidate* Find(const Plan& plan, const Topology& t, const std::string& label) {
  for (const Candidate& c : plan.candidates) {
    if (CandidateLabel(c, t) == label) return &c;
  }
  return nullptr;
}

struct Case {
  const char* name;
  Topology topology;
  ModelShape model;
  Request request;
  const char* winner;                                       // CandidateLabel of the expected winner
  std::vector<const char*> in_reason;                       // substrings of plan.reason
  std::function<void(const Plan&, const Topology&)> check;  // more, or null
};

std::vector<Case> Cases() {
  std::vector<Case> cases;
  cases.push_back({"long prompt: compute-rich prefills, bandwidth-rich decodes",
                   Cluster({Spark(), Mac()}, TenGbE()),
                   Llama31_8B(),
                   {8192, 32},
                   "spark → mac, streamed, F16 KV",
                   {"Streaming hides", "Q8 would save only", "faster than mac's"},
                   [](const Plan& p, const Topology&) {
                     const Prediction& w = p.candidates[p.winner].prediction;
                     EXPECT_NEAR(w.total_s, 2.34, 0.02);
                     EXPECT_LT(w.tail_s, 0.03);  // only the last layer's 26.8 ms
                   }});
  cases.push_back({"short prompt: the bandwidth-rich node alone",
                   Cluster({Spark(), Mac()}, TenGbE()),
                   Llama31_8B(),
                   {128, 32},
                   "mac alone",
                   {"The best split"},
                   nullptr});
  cases.push_back({"slow link: streaming cannot hide, colocated wins",
                   Cluster({Spark(), Mac()}, MakeLink("1gbe", 0.125e9, 200e-6, 100e-6)),
                   Llama31_8B(),
                   {8192, 32},
                   "spark alone",
                   {"of exposed transfer"},
                   [](const Plan& p, const Topology& t) {
                     const Candidate* s = Find(p, t, "spark → mac, streamed, F16 KV");
                     ASSERT_NE(s, nullptr);
                     EXPECT_GT(s->prediction.layer_wire_s, s->prediction.layer_compute_s);
                     EXPECT_GT(s->prediction.tail_s, 7.0);  // 8.6 s of KV, 1.47 s hidden
                   }});
  cases.push_back({"slow link, Q8 halves the wire and hides it",
                   Cluster({Spark(), Mac()}, MakeLink("slow", 0.5e9)),
                   Llama31_8B(),
                   {8192, 32},
                   "spark → mac, streamed, Q8 KV",
                   {"Q8 KV saves", "Streaming hides"},
                   [](const Plan& p, const Topology& t) {
                     const Candidate* f16 = Find(p, t, "spark → mac, streamed, F16 KV");
                     EXPECT_GT(f16->prediction.tail_s, 0.5);  // F16 cannot hide at 0.5 GB/s
                   }});
  // 100 ms per message: 32 streamed messages cost more than one after prefill.
  cases.push_back({"costly messages: after-prefill beats streaming",
                   Cluster({Spark(), Mac()}, MakeLink("wan", 1e12, 0.2, 0.1)),
                   Llama31_8B(),
                   {8192, 32},
                   "spark → mac, after-prefill, F16 KV",
                   {"after prefill exposes", "less than streaming"},
                   [](const Plan& p, const Topology& t) {
                     const Candidate* s = Find(p, t, "spark → mac, streamed, F16 KV");
                     EXPECT_GT(s->prediction.tail_s, 1.5);
                   }});
  return cases;
}

TEST(Placement, TableOfScenarios) {
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    auto plan = MakePlan(c.model, c.topology, c.request);
    ASSERT_TRUE(plan.ok()) << plan.status().ToString();
    EXPECT_EQ(CandidateLabel(plan->candidates[plan->winner], c.topology), c.winner) << plan->reason;
    for (const char* s : c.in_reason) {
      EXPECT_NE(plan->reason.find(s), std::string::npos) << "'" << s << "' in: " << plan->reason;
    }
    if (c.check) c.check(*plan, c.topology);
  }
}

TEST(Placement, EnumeratesEveryCandidate) {
  const Topology t = Cluster({Spark(), Mac(), Device("weak", 5e12, 100e9, 1, 1, 64e9)}, TenGbE());
  auto plan = MakePlan(Llama31_8B(), t, {8192, 32});
  ASSERT_TRUE(plan.ok());
  // 3 alone + 3·2 ordered pairs × 2 modes × 2 codecs.
  EXPECT_EQ(plan->candidates.size(), 3u + 6u * 4u);
  EXPECT_EQ(CandidateLabel(plan->candidates[plan->winner], t), "spark → mac, streamed, F16 KV");
}

TEST(Placement, DecodeNodeWithoutMemoryIsInfeasible) {
  // 16 GB of F16 weights on a 23 GB card: a 48k prompt's KV (6.3 GB) still fits for prefill,
  // but 56k tokens of decode context (7.3 GB) do not.
  const DeviceProfile card = Device("card", 165e12, 1008e9, 0.7, 0.8, 23e9);
  const Topology t = Cluster({card, Mac()}, TenGbE());
  auto plan = MakePlan(Llama31_8B(), t, {48000, 8000});
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  const Candidate* into_card = Find(*plan, t, "mac → card, streamed, F16 KV");
  ASSERT_NE(into_card, nullptr);
  EXPECT_FALSE(into_card->feasible);
  EXPECT_NE(into_card->infeasible_reason.find("decode node card needs 23.4"), std::string::npos)
      << into_card->infeasible_reason;
  EXPECT_NE(into_card->infeasible_reason.find("but has 23.00 GB free"), std::string::npos);
  EXPECT_FALSE(Find(*plan, t, "card alone")->feasible);
  EXPECT_TRUE(Find(*plan, t, "card → mac, streamed, F16 KV")->feasible);
  const Candidate& w = plan->candidates[plan->winner];
  EXPECT_TRUE(w.feasible);
  EXPECT_EQ(w.placement.decode_device, 1);  // never the card
  EXPECT_NE(plan->reason.find("infeasible"), std::string::npos) << plan->reason;
}

TEST(Placement, NothingFits) {
  const Topology t =
      Cluster({Device("a", 1e12, 1e11, 1, 1, 8e9), Device("b", 1e12, 1e11, 1, 1, 8e9)}, TenGbE());
  auto plan = MakePlan(Llama31_8B(), t, {1024, 16});
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("no placement of llama-3.1-8b fits"), std::string::npos);
  EXPECT_NE(plan.status().message().find("a alone needs"), std::string::npos);
}

TEST(Placement, PairsWithoutALinkAreInfeasible) {
  Topology t;
  t.devices = {Spark(), Mac()};
  auto plan = MakePlan(Llama31_8B(), t, {8192, 32});
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(CandidateLabel(plan->candidates[plan->winner], t), "spark alone");
  EXPECT_EQ(Find(*plan, t, "spark → mac, streamed, F16 KV")->infeasible_reason,
            "no link between spark and mac");
}

TEST(Placement, NearTiesPreferTheSimplerCandidate) {
  auto at = [](double total, Mode mode, KvCodec codec, int x, int y) {
    Candidate c;
    c.placement = {x, y, mode, codec};
    c.prediction.total_s = total;
    return c;
  };
  // Q8 0.5 % faster: F16 wins. A split 0.5 % faster than alone: alone wins. 2 % faster: it wins.
  EXPECT_EQ(PickWinner({at(1.000, Mode::kStreamed, KvCodec::kF16, 0, 1),
                        at(0.995, Mode::kStreamed, KvCodec::kQ8, 0, 1)}),
            0);
  EXPECT_EQ(PickWinner({at(0.995, Mode::kStreamed, KvCodec::kF16, 0, 1),
                        at(1.000, Mode::kColocated, KvCodec::kF16, 1, 1)}),
            1);
  EXPECT_EQ(PickWinner({at(0.98, Mode::kStreamed, KvCodec::kF16, 0, 1),
                        at(1.00, Mode::kColocated, KvCodec::kF16, 1, 1)}),
            0);
  Candidate infeasible = at(0.5, Mode::kColocated, KvCodec::kF16, 0, 0);
  infeasible.feasible = false;
  EXPECT_EQ(PickWinner({infeasible}), -1);
}

TEST(Placement, RejectsBadTopologies) {
  Topology t = Cluster({Spark(), Spark()}, TenGbE());
  EXPECT_FALSE(MakePlan(Llama31_8B(), t, {10, 1}).ok());  // duplicate names
  t = Cluster({Spark(), Mac()}, TenGbE());
  t.devices[1].decode_efficiency = 1.5;
  EXPECT_NE(MakePlan(Llama31_8B(), t, {10, 1}).status().message().find("efficiency"),
            std::string::npos);
  t = Cluster({Spark(), Mac()}, TenGbE());
  t.links[0].b = "nobody";
  EXPECT_FALSE(MakePlan(Llama31_8B(), t, {10, 1}).ok());
  EXPECT_FALSE(MakePlan(Llama31_8B(), Cluster({Spark()}, TenGbE()), {0, 1}).ok());
}

TEST(Memory, RolesHoldWhatTheyNeed) {
  const ModelShape m = Llama31_8B();
  const Request r{8192, 32};
  EXPECT_DOUBLE_EQ(DecodeMemory(m, r).kv_bytes, 8224 * 131072.0);
  EXPECT_DOUBLE_EQ(PrefillMemory(m, r).kv_bytes, 8192 * 131072.0);
  EXPECT_GT(PrefillMemory(m, r).activation_bytes, 0);
  EXPECT_EQ(DecodeMemory(m, r).activation_bytes, 0);
  EXPECT_DOUBLE_EQ(ColocatedMemory(m, r).total(),
                   DecodeMemory(m, r).total() + PrefillMemory(m, r).activation_bytes);
}

TEST(Format, SecondsAndBytes) {
  EXPECT_EQ(FormatSeconds(1.4656), "1.47 s");
  EXPECT_EQ(FormatSeconds(0.02684), "26.8 ms");
  EXPECT_EQ(FormatSeconds(50e-6), "50 us");
  EXPECT_EQ(FormatBytes(16.083e9), "16.08 GB");
  EXPECT_EQ(FormatBytes(33.5e6), "33.5 MB");
  EXPECT_EQ(FormatBytes(512e3), "512.0 kB");
  EXPECT_EQ(FormatFlops(90e12), "90.0 TFLOP/s");
  EXPECT_EQ(FormatFlops(26e9), "26.0 GFLOP/s");
  EXPECT_EQ(FormatBandwidth(1.25e9), "1.25 GB/s");
  EXPECT_EQ(FormatBandwidth(180.18e9), "180.2 GB/s");
  EXPECT_EQ(FormatBandwidth(1.25e6), "1.25 MB/s");
}

}  // namespace
}  // namespace tandem::planner

#include "sim/profile_json.h"

#include <gtest/gtest.h>

#include <vector>

#include "sim/catalog.h"

namespace tandem::sim {
namespace {

TEST(ProfileJson, BuiltinsOverridesAndCustomDevices) {
  const char* text = R"({
    "devices": [
      {"builtin": "dgx-spark"},
      {"builtin": "m3-ultra", "name": "mac", "memory_free_bytes": 3e11},
      {"name": "box", "flops": {"f16": 1e14, "q8_0": 8e13}, "bandwidth": 2e11,
       "memory_total_bytes": 6.4e10}
    ],
    "links": [{"between": ["dgx-spark", "mac"], "builtin": "25gbe"}],
    "default_link": "1gbe"
  })";
  auto t = ParseTopologyJson(text, "p.json");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ASSERT_EQ(t->devices.size(), 3u);
  EXPECT_EQ(t->devices[0].peak(planner::WeightDtype::kF16), 100e12);
  EXPECT_EQ(t->devices[1].name, "mac");
  EXPECT_EQ(t->devices[1].memory_free_bytes, 3e11);
  EXPECT_EQ(t->devices[1].peak_bandwidth, 819e9);
  const auto& box = t->devices[2];
  EXPECT_EQ(box.peak(planner::WeightDtype::kQ8_0), 8e13);
  EXPECT_EQ(box.peak(planner::WeightDtype::kF32), 1e14);  // defaults to the f16 figure
  EXPECT_EQ(box.memory_free_bytes, 6.4e10);               // defaults to the total
  EXPECT_EQ(box.prefill_efficiency, 1.0);
  EXPECT_EQ(t->FindLink("mac", "dgx-spark")->name, "25gbe");
  EXPECT_EQ(t->FindLink("box", "mac")->name, "1gbe");  // the default joins the rest
  EXPECT_EQ(t->links.size(), 3u);
}

TEST(ProfileJson, RoundTrip) {
  planner::Topology t;
  t.devices = {*BuiltinDevice("rtx-4090"), *BuiltinDevice("m2-ultra")};
  t.links = {{"rtx-4090", "m2-ultra", *BuiltinLink("thunderbolt")}};
  auto back = ParseTopologyJson(TopologyToJson(t), "round trip");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->devices.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(back->devices[i].name, t.devices[i].name);
    EXPECT_EQ(back->devices[i].peak_flops, t.devices[i].peak_flops);
    EXPECT_EQ(back->devices[i].peak_bandwidth, t.devices[i].peak_bandwidth);
    EXPECT_EQ(back->devices[i].decode_efficiency, t.devices[i].decode_efficiency);
    EXPECT_EQ(back->devices[i].memory_free_bytes, t.devices[i].memory_free_bytes);
  }
  EXPECT_EQ(back->links[0].profile.bandwidth, 2.5e9);
  EXPECT_EQ(back->links[0].profile.alpha_s, 50e-6);
}

TEST(ProfileJson, ErrorsNameTheField) {
  struct Case {
    const char* text;
    const char* want;
  };
  const std::vector<Case> cases = {
      {"{", "p.json: not valid JSON"},
      {"[]", "expected an object"},
      {R"({"devices": [{"builtin": "dgx-spark", "flop": 1}]})", "devices[0]: unknown key 'flop'"},
      {R"({"devices": [{"builtin": "tpu"}]})", "unknown device 'tpu'"},
      {R"({"devices": [{"name": "x", "flops": 1e12}]})", "memory bandwidth must be positive"},
      {R"({"devices": [{"builtin": "dgx-spark", "flops": {"q5_k": 1}}]})",
       "unknown weight type 'q5_k'"},
      {R"({"devices": [{"builtin": "dgx-spark", "bandwidth": "fast"}]})",
       "'bandwidth' must be a number"},
      {R"({"devices": [{"builtin": "dgx-spark", "decode_efficiency": 2}]})",
       "efficiency factors must be in (0, 1]"},
      {R"({"devices": [{"builtin": "dgx-spark"}], "links": [{"between": ["dgx-spark"]}]})",
       "links[0]: 'between' must be two device names"},
      {R"({"devices": [{"builtin": "dgx-spark"}],
           "links": [{"between": ["dgx-spark", "ghost"], "builtin": "10gbe"}]})",
       "must join two distinct devices"},
      {R"({"devices": [{"builtin": "dgx-spark"}, {"builtin": "dgx-spark"}]})", "twice"},
      {R"({"devices": []})", "no devices"},
  };
  for (const Case& c : cases) {
    auto t = ParseTopologyJson(c.text, "p.json");
    ASSERT_FALSE(t.ok()) << c.text;
    EXPECT_NE(t.status().message().find(c.want), std::string::npos)
        << "wanted '" << c.want << "' in: " << t.status().message();
  }
  EXPECT_EQ(ParseTopologyJson(std::string(kMaxTopologyJsonBytes + 1, ' '), "big").status().code(),
            StatusCode::kOutOfRange);
}

}  // namespace
}  // namespace tandem::sim

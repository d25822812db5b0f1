#include "cluster/topology_json.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace tandem::cluster {
namespace {

constexpr int64_t kS = 1'000'000'000;

TopologyView Sample() {
  TopologyView v;
  v.self = Member{"self", "10.0.0.1", 8080, 9090, 8766, 1 * kS, 10 * kS, 0};
  v.members = {Member{"b", "10.0.0.2", 8081, 9091, 8766, 2 * kS, 9 * kS, 7}};
  v.version = 3;
  v.now_ns = 10 * kS;
  v.profiles_json = {{"b", R"({"prefill_flops": 1e14})"}};
  v.links_json = R"([{"from": "self", "to": "b", "bandwidth_bytes_per_s": 1.25e9}])";
  return v;
}

TEST(TopologyJson, ListsNodesProfilesAndLinks) {
  const auto j = nlohmann::json::parse(TopologyJson(Sample()));
  EXPECT_EQ(j["self"], "self");
  EXPECT_EQ(j["version"], 3);
  ASSERT_EQ(j["nodes"].size(), 2u);
  const auto& self = j["nodes"][0];
  EXPECT_EQ(self["id"], "self");
  EXPECT_TRUE(self["self"].get<bool>());
  EXPECT_TRUE(self["profile"].is_null());
  const auto& b = j["nodes"][1];
  EXPECT_EQ(b["id"], "b");
  EXPECT_FALSE(b["self"].get<bool>());
  EXPECT_EQ(b["address"], "10.0.0.2");
  EXPECT_EQ(b["http_port"], 8081);
  EXPECT_EQ(b["data_port"], 9091);
  EXPECT_EQ(b["discovery_port"], 8766);
  EXPECT_DOUBLE_EQ(b["first_seen_s_ago"].get<double>(), 8.0);
  EXPECT_DOUBLE_EQ(b["last_seen_s_ago"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(b["profile"]["prefill_flops"].get<double>(), 1e14);
  ASSERT_EQ(j["links"].size(), 1u);
  EXPECT_EQ(j["links"][0]["to"], "b");
}

TEST(TopologyJson, BadCallerJsonAndBadUtf8DoNotThrow) {
  TopologyView v = Sample();
  v.profiles_json["b"] = "{not json";
  v.links_json = "";
  v.members[0].node_id = "b\xff\xfe";  // ids come from the network
  v.profiles_json["b\xff\xfe"] = "{not json";
  std::string text;
  ASSERT_NO_THROW(text = TopologyJson(v));
  const auto j = nlohmann::json::parse(text);
  EXPECT_TRUE(j["nodes"][1]["profile"].contains("error"));
  EXPECT_TRUE(j["links"].contains("error"));
}

}  // namespace
}  // namespace tandem::cluster

#include "cluster/topology_json.h"

#include <nlohmann/json.hpp>

namespace tandem::cluster {
namespace {

using nlohmann::json;

double SecondsAgo(int64_t now_ns, int64_t then_ns) { return (now_ns - then_ns) * 1e-9; }

// Caller-supplied JSON text; never throws.
json Opaque(const std::string& text, const char* what) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return json{{"error", std::string(what) + " is not valid JSON"}};
  return j;
}

json NodeJson(const Member& m, bool self, const TopologyView& view) {
  json j = {{"id", m.node_id},
            {"self", self},
            {"address", m.address},
            {"http_port", m.http_port},
            {"data_port", m.data_port},
            {"discovery_port", m.discovery_port},
            {"first_seen_s_ago", SecondsAgo(view.now_ns, m.first_seen_ns)},
            {"last_seen_s_ago", SecondsAgo(view.now_ns, m.last_seen_ns)},
            {"profile", nullptr}};
  auto p = view.profiles_json.find(m.node_id);
  if (p != view.profiles_json.end()) j["profile"] = Opaque(p->second, "profile");
  return j;
}

}  // namespace

std::string TopologyJson(const TopologyView& view) {
  json nodes = json::array();
  nodes.push_back(NodeJson(view.self, true, view));
  for (const Member& m : view.members) nodes.push_back(NodeJson(m, false, view));
  json links = Opaque(view.links_json, "links");
  json j = {{"self", view.self.node_id},
            {"version", view.version},
            {"nodes", std::move(nodes)},
            {"links", std::move(links)}};
  // Replace rather than throw on invalid UTF-8 (node ids come from the network).
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace tandem::cluster

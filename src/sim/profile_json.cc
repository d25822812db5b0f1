#include "sim/profile_json.h"

#include <initializer_list>
#include <nlohmann/json.hpp>

#include "sim/catalog.h"

namespace tandem::sim {
namespace {

using nlohmann::json;
using planner::WeightDtype;

Status CheckKeys(const json& j, std::string_view where, std::initializer_list<const char*> keys) {
  if (!j.is_object()) return InvalidArgument(std::string(where) + ": expected an object");
  for (const auto& [key, value] : j.items()) {
    bool known = false;
    for (const char* k : keys) known = known || key == k;
    if (!known) return InvalidArgument(std::string(where) + ": unknown key '" + key + "'");
  }
  return OkStatus();
}

// Sets `out` from j[key] when present; it must be a number.
Status ReadNumber(const json& j, const char* key, std::string_view where, double& out) {
  if (!j.contains(key)) return OkStatus();
  if (!j[key].is_number()) {
    return InvalidArgument(std::string(where) + ": '" + key + "' must be a number");
  }
  out = j[key].get<double>();
  return OkStatus();
}

Status ReadFlops(const json& j, std::string_view where, planner::DeviceProfile& d) {
  if (j.is_number()) {
    for (int i = 0; i < planner::kNumWeightDtypes; ++i) d.peak_flops[i] = j.get<double>();
    return OkStatus();
  }
  if (!j.is_object())
    return InvalidArgument(std::string(where) + ": 'flops' must be a number or object");
  if (j.contains("f16")) {  // the default for dtypes not given
    double f16 = 0;
    RETURN_IF_ERROR(ReadNumber(j, "f16", where, f16));
    for (int i = 0; i < planner::kNumWeightDtypes; ++i) d.peak_flops[i] = f16;
  }
  for (const auto& [key, value] : j.items()) {
    const auto dtype = planner::ParseWeightDtype(key);
    if (!dtype) return InvalidArgument(std::string(where) + ": unknown weight type '" + key + "'");
    RETURN_IF_ERROR(ReadNumber(j, key.c_str(), where, d.peak_flops[static_cast<int>(*dtype)]));
  }
  return OkStatus();
}

StatusOr<planner::DeviceProfile> ParseDevice(const json& j, size_t index) {
  const std::string where = "devices[" + std::to_string(index) + "]";
  RETURN_IF_ERROR(CheckKeys(j, where,
                            {"builtin", "name", "flops", "bandwidth", "prefill_efficiency",
                             "decode_efficiency", "memory_total_bytes", "memory_free_bytes"}));
  planner::DeviceProfile d;
  if (j.contains("builtin")) {
    if (!j["builtin"].is_string()) return InvalidArgument(where + ": 'builtin' must be a string");
    ASSIGN_OR_RETURN(d, BuiltinDevice(j["builtin"].get<std::string>()));
  }
  if (j.contains("name")) {
    if (!j["name"].is_string()) return InvalidArgument(where + ": 'name' must be a string");
    d.name = j["name"].get<std::string>();
  }
  if (j.contains("flops")) RETURN_IF_ERROR(ReadFlops(j["flops"], where, d));
  RETURN_IF_ERROR(ReadNumber(j, "bandwidth", where, d.peak_bandwidth));
  RETURN_IF_ERROR(ReadNumber(j, "prefill_efficiency", where, d.prefill_efficiency));
  RETURN_IF_ERROR(ReadNumber(j, "decode_efficiency", where, d.decode_efficiency));
  RETURN_IF_ERROR(ReadNumber(j, "memory_total_bytes", where, d.memory_total_bytes));
  // Free memory defaults to the built-in's figure, or to the total for a profile from scratch.
  if (!j.contains("builtin")) d.memory_free_bytes = d.memory_total_bytes;
  RETURN_IF_ERROR(ReadNumber(j, "memory_free_bytes", where, d.memory_free_bytes));
  RETURN_IF_ERROR(d.Validate().WithContext(where));
  return d;
}

StatusOr<planner::Link> ParseLink(const json& j, size_t index) {
  const std::string where = "links[" + std::to_string(index) + "]";
  RETURN_IF_ERROR(
      CheckKeys(j, where, {"between", "builtin", "name", "bandwidth", "rtt_s", "alpha_s"}));
  const json& between = j.contains("between") ? j["between"] : json();
  if (!between.is_array() || between.size() != 2 || !between[0].is_string() ||
      !between[1].is_string()) {
    return InvalidArgument(where + ": 'between' must be two device names");
  }
  planner::Link l{between[0].get<std::string>(), between[1].get<std::string>(), {}};
  if (j.contains("builtin")) {
    if (!j["builtin"].is_string()) return InvalidArgument(where + ": 'builtin' must be a string");
    ASSIGN_OR_RETURN(l.profile, BuiltinLink(j["builtin"].get<std::string>()));
  }
  if (j.contains("name")) {
    if (!j["name"].is_string()) return InvalidArgument(where + ": 'name' must be a string");
    l.profile.name = j["name"].get<std::string>();
  }
  if (l.profile.name.empty()) l.profile.name = l.a + "-" + l.b;
  RETURN_IF_ERROR(ReadNumber(j, "bandwidth", where, l.profile.bandwidth));
  RETURN_IF_ERROR(ReadNumber(j, "rtt_s", where, l.profile.rtt_s));
  RETURN_IF_ERROR(ReadNumber(j, "alpha_s", where, l.profile.alpha_s));
  RETURN_IF_ERROR(l.profile.Validate().WithContext(where));
  return l;
}

StatusOr<planner::Topology> ParseTopology(const json& j) {
  RETURN_IF_ERROR(CheckKeys(j, "topology", {"devices", "links", "default_link"}));
  if (!j.contains("devices") || !j["devices"].is_array()) {
    return InvalidArgument("'devices' must be an array");
  }
  const json& links = j.contains("links") ? j["links"] : json::array();
  if (!links.is_array()) return InvalidArgument("'links' must be an array");
  if (j["devices"].size() > kMaxTopologyDevices || links.size() > kMaxTopologyLinks) {
    return OutOfRange("more than " + std::to_string(kMaxTopologyDevices) + " devices or " +
                      std::to_string(kMaxTopologyLinks) + " links");
  }
  planner::Topology t;
  for (size_t i = 0; i < j["devices"].size(); ++i) {
    ASSIGN_OR_RETURN(auto d, ParseDevice(j["devices"][i], i));
    t.devices.push_back(std::move(d));
  }
  for (size_t i = 0; i < links.size(); ++i) {
    ASSIGN_OR_RETURN(auto l, ParseLink(links[i], i));
    t.links.push_back(std::move(l));
  }
  if (j.contains("default_link")) {
    if (!j["default_link"].is_string()) return InvalidArgument("'default_link' must be a string");
    ASSIGN_OR_RETURN(auto link, BuiltinLink(j["default_link"].get<std::string>()));
    AddDefaultLinks(t, link);
  }
  RETURN_IF_ERROR(t.Validate());
  return t;
}

}  // namespace

StatusOr<planner::Topology> ParseTopologyJson(std::string_view text, std::string_view what) {
  if (text.size() > kMaxTopologyJsonBytes) {
    return OutOfRange(std::string(what) + ": over " + std::to_string(kMaxTopologyJsonBytes) +
                      " bytes");
  }
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return InvalidArgument(std::string(what) + ": not valid JSON");
  auto t = ParseTopology(j);
  if (!t.ok()) return t.status().WithContext(what);
  return t;
}

std::string TopologyToJson(const planner::Topology& t) {
  json j = {{"devices", json::array()}, {"links", json::array()}};
  for (const auto& d : t.devices) {
    json flops = json::object();
    for (int i = 0; i < planner::kNumWeightDtypes; ++i) {
      flops[std::string(planner::WeightDtypeName(static_cast<WeightDtype>(i)))] = d.peak_flops[i];
    }
    j["devices"].push_back({{"name", d.name},
                            {"flops", flops},
                            {"bandwidth", d.peak_bandwidth},
                            {"prefill_efficiency", d.prefill_efficiency},
                            {"decode_efficiency", d.decode_efficiency},
                            {"memory_total_bytes", d.memory_total_bytes},
                            {"memory_free_bytes", d.memory_free_bytes}});
  }
  for (const auto& l : t.links) {
    j["links"].push_back({{"between", {l.a, l.b}},
                          {"name", l.profile.name},
                          {"bandwidth", l.profile.bandwidth},
                          {"rtt_s", l.profile.rtt_s},
                          {"alpha_s", l.profile.alpha_s}});
  }
  return j.dump(2);
}

void AddDefaultLinks(planner::Topology& t, const planner::LinkProfile& link) {
  for (size_t a = 0; a < t.devices.size(); ++a) {
    for (size_t b = a + 1; b < t.devices.size(); ++b) {
      if (t.FindLink(t.devices[a].name, t.devices[b].name) == nullptr) {
        t.links.push_back({t.devices[a].name, t.devices[b].name, link});
      }
    }
  }
}

}  // namespace tandem::sim

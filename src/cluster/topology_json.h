// The topology as JSON for GET /cluster: this node, its members, their profiles and the links.
//
// {"self": "a", "version": 7,
//  "nodes": [{"id": "a", "self": true, "address": "192.0.2.2", "http_port": 8080,
//             "data_port": 9090, "discovery_port": 8765, "first_seen_s_ago": 12.0,
//             "last_seen_s_ago": 0.4, "profile": {...} | null}, ...],
//  "links": [...]}
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "cluster/membership.h"

namespace tandem::cluster {

struct TopologyView {
  Member self;                  // this node (first/last seen: its start and now)
  std::vector<Member> members;  // the others, e.g. Membership::Snapshot()
  uint64_t version = 0;         // membership version
  int64_t now_ns = 0;           // the clock the members' times are on
  // Node id -> its profile as JSON text, inserted as is; absent: null; not JSON: an error object.
  std::map<std::string, std::string> profiles_json;
  std::string links_json = "[]";  // a JSON array supplied by the caller (bandwidth, RTT per pair)
};

std::string TopologyJson(const TopologyView& view);

}  // namespace tandem::cluster

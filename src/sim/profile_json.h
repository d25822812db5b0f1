// Topologies as JSON, for `tandem plan --profiles FILE` (and, later, what `tandem profile`
// measures). Parsing is pure: text in, Topology or an error naming the field out.
//
//   {
//     "devices": [
//       {"builtin": "dgx-spark"},                          // a catalog profile...
//       {"builtin": "m3-ultra", "name": "mac", "memory_free_bytes": 3e11},  // ...with overrides
//       {"name": "box", "flops": {"f16": 1e14, "q8_0": 8e13},  // missing dtypes: the f16 figure
//        "bandwidth": 2.73e11, "prefill_efficiency": 0.9, "decode_efficiency": 0.66,
//        "memory_total_bytes": 1.28e11, "memory_free_bytes": 1.2e11}
//     ],
//     "links": [
//       {"between": ["dgx-spark", "mac"], "builtin": "10gbe"},
//       {"between": ["mac", "box"], "name": "lan", "bandwidth": 1.25e9, "rtt_s": 1e-4,
//        "alpha_s": 5e-5}
//     ],
//     "default_link": "10gbe"   // optional: joins every pair without a link of its own
//   }
// Units: FLOP/s, bytes/s, bytes, seconds. Unknown keys are errors (a typo must not pass).
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"
#include "planner/placement.h"

namespace tandem::sim {

inline constexpr size_t kMaxTopologyJsonBytes = 1 << 20;
inline constexpr size_t kMaxTopologyDevices = 64;
inline constexpr size_t kMaxTopologyLinks = 4096;

// `what` names the source in errors ("profiles.json").
StatusOr<planner::Topology> ParseTopologyJson(std::string_view text, std::string_view what);

// The explicit form (no "builtin" references), which ParseTopologyJson reads back.
std::string TopologyToJson(const planner::Topology& t);

// Joins every pair of devices in `t` that has no link yet with `link`.
void AddDefaultLinks(planner::Topology& t, const planner::LinkProfile& link);

}  // namespace tandem::sim

// Per-request placement on the node that receives the request: the planner's cost model over
// every node alone and every ordered (prefill, decode) pair (streamed or after-prefill, F16 or Q8
// KV), from the latest profiles and link measurements. When the best decode node is a peer, the
// receiving node forwards the request to it; the decode node owns the request and plans only the
// candidates that decode on it (it knows its own links best). Logs what changed and why.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "base/status.h"
#include "planner/model_shape.h"
#include "planner/profiles.h"
#include "runtime/request.h"

namespace tandem::server {

struct PeerCandidate {
  std::string node_id;
  std::string host;
  uint16_t data_port = 0;
  int64_t clock_offset_ns = 0;
  double rtt_s = 0;
  planner::DeviceProfile profile;
  double link_bytes_per_s = 0;  // the peer's shaped link, or 0 when unknown
  std::string http_address;     // host:port of its control plane (where requests are forwarded)
};

struct Decision {
  runtime::Placement placement;
  std::string label;   // "compute-rich → bandwidth-rich, streamed, F16 KV"
  std::string reason;  // the planner's explanation
  std::string change;  // non-empty when the placement differs from the previous one
  double predicted_ttft_s = 0;
  double predicted_total_s = 0;
  // Set when the best candidate decodes on a peer: forward the request there.
  std::string forward_to_node;
  std::string forward_to_address;
};

class PlacementPolicy {
 public:
  PlacementPolicy(planner::ModelShape shape, planner::DeviceProfile self);

  // Link bandwidth from `peer`: a probe replaces the estimate (weight 1); a real transfer is
  // blended into it (exponential moving average, weight < 1).
  void ObserveLink(const std::string& peer, double bytes_per_s, double weight);
  // The current estimate for the link from `peer`: measured, else the peer's stated shaping,
  // else 10 GbE (assumed).
  double LinkEstimate(const PeerCandidate& peer) const;

  // This node's device, re-profiled or with its free memory re-read from the OS.
  void SetSelf(planner::DeviceProfile self);
  planner::DeviceProfile self() const;

  // may_forward: consider candidates that decode on a peer (false on a node that was forwarded
  // the request: it owns it). Links between two peers are not measured here: the slower of
  // their two links to this node stands in for it (same switch, same NICs).
  StatusOr<Decision> Decide(const std::vector<PeerCandidate>& peers, int64_t prompt_tokens,
                            int64_t gen_tokens, bool may_forward = false);

 private:
  planner::ModelShape shape_;
  planner::DeviceProfile self_;
  mutable std::mutex mu_;
  std::map<std::string, double> measured_link_;  // peer -> bytes/s
  std::string last_label_;
};

}  // namespace tandem::server

// Per-request placement on the node that receives the request (it decodes and owns it): the
// planner's cost model over this node alone and every known peer prefilling for it (streamed or
// after-prefill, F16 or Q8 KV), from the latest profiles and link measurements. Logs what changed
// since the previous decision and why.
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
};

struct Decision {
  runtime::Placement placement;
  std::string label;   // "compute-rich → bandwidth-rich, streamed, F16 KV"
  std::string reason;  // the planner's explanation
  std::string change;  // non-empty when the placement differs from the previous one
  double predicted_ttft_s = 0;
  double predicted_total_s = 0;
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

  StatusOr<Decision> Decide(const std::vector<PeerCandidate>& peers, int64_t prompt_tokens,
                            int64_t gen_tokens);

 private:
  planner::ModelShape shape_;
  planner::DeviceProfile self_;
  mutable std::mutex mu_;
  std::map<std::string, double> measured_link_;  // peer -> bytes/s
  std::string last_label_;
};

}  // namespace tandem::server

#include "server/placement_policy.h"

#include <algorithm>

#include "planner/placement.h"

namespace tandem::server {
namespace {

constexpr double kAssumedLinkBytesPerS = 1.25e9;  // 10 GbE until something is measured

}  // namespace

PlacementPolicy::PlacementPolicy(planner::ModelShape shape, planner::DeviceProfile self)
    : shape_(std::move(shape)), self_(std::move(self)) {}

void PlacementPolicy::ObserveLink(const std::string& peer, double bytes_per_s, double weight) {
  if (!(bytes_per_s > 0)) return;
  std::lock_guard<std::mutex> l(mu_);
  auto [it, fresh] = measured_link_.emplace(peer, bytes_per_s);
  if (!fresh) it->second = weight * bytes_per_s + (1 - weight) * it->second;
}

double PlacementPolicy::LinkEstimate(const PeerCandidate& peer) const {
  std::lock_guard<std::mutex> l(mu_);
  if (auto it = measured_link_.find(peer.node_id); it != measured_link_.end()) return it->second;
  return peer.link_bytes_per_s > 0 ? peer.link_bytes_per_s : kAssumedLinkBytesPerS;
}

void PlacementPolicy::SetSelf(planner::DeviceProfile self) {
  std::lock_guard<std::mutex> l(mu_);
  self.name = self_.name;
  self_ = std::move(self);
}

planner::DeviceProfile PlacementPolicy::self() const {
  std::lock_guard<std::mutex> l(mu_);
  return self_;
}

StatusOr<Decision> PlacementPolicy::Decide(const std::vector<PeerCandidate>& peers,
                                           int64_t prompt_tokens, int64_t gen_tokens,
                                           bool may_forward) {
  const planner::DeviceProfile me = self();
  planner::Topology t;
  t.devices.push_back(me);
  for (const PeerCandidate& p : peers) {
    planner::DeviceProfile d = p.profile;
    d.name = p.node_id;
    t.devices.push_back(d);
    planner::LinkProfile link;
    link.name = me.name + "-" + p.node_id;
    link.bandwidth = LinkEstimate(p);
    link.rtt_s = p.rtt_s > 0 ? p.rtt_s : 1e-4;
    link.alpha_s = link.rtt_s / 2;
    t.links.push_back({me.name, p.node_id, link});
  }
  if (may_forward) {
    for (size_t i = 0; i < peers.size(); ++i) {
      for (size_t j = i + 1; j < peers.size(); ++j) {
        const planner::LinkProfile& a = t.links[i].profile;
        const planner::LinkProfile& b = t.links[j].profile;
        planner::LinkProfile link;
        link.name = peers[i].node_id + "-" + peers[j].node_id + " (estimated)";
        link.bandwidth = std::min(a.bandwidth, b.bandwidth);
        link.rtt_s = std::max(a.rtt_s, b.rtt_s);
        link.alpha_s = link.rtt_s / 2;
        t.links.push_back({peers[i].node_id, peers[j].node_id, link});
      }
    }
  }
  const planner::Request req{prompt_tokens, gen_tokens};
  // Without forwarding this node owns the request, so it decodes: keep the candidates that
  // decode here.
  planner::Plan plan;
  for (const planner::Candidate& c : planner::EnumerateCandidates(shape_, t, req)) {
    if (may_forward || c.placement.decode_device == 0) plan.candidates.push_back(c);
  }
  plan.winner = planner::PickWinner(plan.candidates);
  if (plan.winner < 0) {
    // This node alone says it most plainly.
    std::string why;
    for (const planner::Candidate& c : plan.candidates) {
      if (why.empty() || c.placement.mode == planner::Mode::kColocated) why = c.infeasible_reason;
    }
    return Unavailable("no placement fits this request in memory" +
                       (why.empty() ? "" : ": " + why));
  }
  plan.reason = planner::ExplainWinner(plan, shape_, t, req);
  const planner::Candidate& w = plan.candidates[plan.winner];
  Decision d;
  d.label = planner::CandidateLabel(w, t);
  d.reason = plan.reason;
  d.predicted_ttft_s = w.prediction.ttft_s;
  d.predicted_total_s = w.prediction.total_s;
  runtime::Placement& p = d.placement;
  p.reason = d.reason;  // starts with the label
  p.predicted_ttft_s = d.predicted_ttft_s;
  p.predicted_total_s = d.predicted_total_s;
  if (w.placement.decode_device != 0) {
    const PeerCandidate& to = peers[w.placement.decode_device - 1];
    d.forward_to_node = to.node_id;
    d.forward_to_address = to.http_address;
  } else if (w.placement.mode != planner::Mode::kColocated) {
    const PeerCandidate& peer = peers[w.placement.prefill_device - 1];
    p.mode = w.placement.mode == planner::Mode::kStreamed ? runtime::PlacementMode::kStreamed
                                                          : runtime::PlacementMode::kAfterPrefill;
    p.codec = w.placement.codec == planner::KvCodec::kQ8 ? kv::KvCodec::kQ8 : kv::KvCodec::kF16;
    p.prefill_node_id = peer.node_id;
    p.prefill_host = peer.host;
    p.prefill_data_port = peer.data_port;
    p.clock_offset_ns = peer.clock_offset_ns;
  }
  std::lock_guard<std::mutex> l(mu_);
  if (!last_label_.empty() && last_label_ != d.label) {
    // Say so when the previous placement no longer fits (a node's free memory fell).
    std::string gone;
    for (const planner::Candidate& c : plan.candidates) {
      if (!c.feasible && planner::CandidateLabel(c, t) == last_label_) {
        gone = " ('" + last_label_ + "' no longer fits: " + c.infeasible_reason + ")";
      }
    }
    d.change = "placement changed from '" + last_label_ + "' to '" + d.label + "'" + gone + ": " +
               d.reason;
  }
  last_label_ = d.label;
  return d;
}

}  // namespace tandem::server

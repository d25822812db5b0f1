// Why the winner won: the numbers that decided it, in sentences a person can check.
#include <cstdio>

#include "planner/placement.h"

namespace tandem::planner {
namespace {

std::string Ratio(double a, double b) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fx", b > 0 ? a / b : 0.0);
  return buf;
}

std::string Percent(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof buf, fraction < 0.01 ? "%.2f %%" : "%.1f %%", fraction * 100.0);
  return buf;
}

// Best feasible candidate (by predicted total) satisfying `want`, or -1.
template <typename Pred>
int Best(const Plan& plan, Pred want) {
  int best = -1;
  for (int i = 0; i < static_cast<int>(plan.candidates.size()); ++i) {
    const Candidate& c = plan.candidates[i];
    if (!c.feasible || !want(c, i)) continue;
    if (best < 0 || c.prediction.total_s < plan.candidates[best].prediction.total_s) best = i;
  }
  return best;
}

std::string Headline(const Candidate& w, const Topology& t, const Request& r) {
  const Prediction& p = w.prediction;
  return CandidateLabel(w, t) + ": predicted " + FormatSeconds(p.total_s) + " for " +
         std::to_string(r.prompt_tokens) + " prompt + " + std::to_string(r.gen_tokens) +
         " generated tokens (TTFT " + FormatSeconds(p.ttft_s) + ", then " +
         FormatSeconds(p.tpot_s) + "/token). ";
}

const Candidate* AloneOn(const Plan& plan, int device) {
  for (const Candidate& c : plan.candidates) {
    if (c.placement.mode == Mode::kColocated && c.placement.prefill_device == device) return &c;
  }
  return nullptr;
}

// Each phase against the other device doing it, from the "alone" predictions.
std::string PhaseReasons(const Plan& plan, const Candidate& w, const Topology& t,
                         const Request& r) {
  const Candidate* x_alone = AloneOn(plan, w.placement.prefill_device);
  const Candidate* y_alone = AloneOn(plan, w.placement.decode_device);
  if (x_alone == nullptr || y_alone == nullptr) return "";
  const std::string& x = t.devices[w.placement.prefill_device].name;
  const std::string& y = t.devices[w.placement.decode_device].name;
  const double gen = static_cast<double>(r.gen_tokens);
  const double y_prefill = y_alone->prediction.prefill_s;
  const double x_token = x_alone->prediction.generation_s / gen;
  const double y_token = w.prediction.generation_s / gen;
  std::string s = "Prefill on " + x + " takes " + FormatSeconds(w.prediction.prefill_s) + " (" +
                  Ratio(y_prefill, w.prediction.prefill_s) + " faster than " + y + "'s " +
                  FormatSeconds(y_prefill) + "); decode on " + y + " takes " +
                  FormatSeconds(y_token) + "/token";
  if (x_token >= y_token) {
    s += " (" + Ratio(x_token, y_token) + " faster than " + x + "'s " + FormatSeconds(x_token) +
         "). ";
  } else {
    s += " (" + x + " would take " + FormatSeconds(x_token) + "/token" +
         (x_alone->feasible ? "" : " but cannot hold the request alone") + "). ";
  }
  return s;
}

std::string TransferReason(const Candidate& w, const Topology& t) {
  const Prediction& p = w.prediction;
  const std::string& link = t.FindLink(t.devices[w.placement.prefill_device].name,
                                       t.devices[w.placement.decode_device].name)
                                ->name;
  const std::string kv = "the KV (" + FormatBytes(p.wire_bytes) + " " +
                         std::string(KvCodecName(w.placement.codec)) + ") over " + link;
  const std::string per_layer = "a layer's KV takes " + FormatSeconds(p.layer_wire_s) +
                                " on the link against " + FormatSeconds(p.layer_compute_s) +
                                " of compute";
  switch (w.placement.mode) {
    case Mode::kColocated: return "";
    case Mode::kStreamed:
      if (p.layer_wire_s <= p.layer_compute_s) {
        return "Streaming hides " + kv + ": " + per_layer + ", so only the last layer's " +
               FormatSeconds(p.tail_s) + " is exposed. ";
      }
      return "Streaming cannot hide " + kv + ": " + per_layer + ", so " + FormatSeconds(p.tail_s) +
             " is exposed after prefill. ";
    case Mode::kAfterPrefill:
      return "Sending " + kv + " after prefill exposes " + FormatSeconds(p.tail_s) +
             ", less than streaming it layer by layer would (" + per_layer + "). ";
  }
  return "";
}

std::string CodecReason(const Plan& plan, int winner) {
  const Placement& wp = plan.candidates[winner].placement;
  const int other = Best(plan, [&](const Candidate& c, int) {
    const Placement& p = c.placement;
    return p.prefill_device == wp.prefill_device && p.decode_device == wp.decode_device &&
           p.mode == wp.mode && p.codec != wp.codec;
  });
  if (other < 0) return "";
  const double mine = plan.candidates[winner].prediction.total_s;
  const double theirs = plan.candidates[other].prediction.total_s;
  if (KvCodecIsLossless(wp.codec) && theirs < mine) {
    return "F16 KV: Q8 would save only " + FormatSeconds(mine - theirs) + " (" +
           Percent((mine - theirs) / mine) + ", under the " + Percent(kTieFraction) +
           " a lossy codec must earn). ";
  }
  if (!KvCodecIsLossless(wp.codec)) {
    return "Q8 KV saves " + FormatSeconds(theirs - mine) + " (" +
           Percent((theirs - mine) / theirs) + ") over F16. ";
  }
  return "";
}

std::string AloneReason(const Plan& plan, int winner, const Topology& t) {
  const int split =
      Best(plan, [](const Candidate& c, int) { return c.placement.mode != Mode::kColocated; });
  if (split < 0) {
    if (t.devices.size() == 1) return "It is the only device. ";
    for (const Candidate& c : plan.candidates) {
      if (c.placement.mode != Mode::kColocated)
        return "No split fits: " + c.infeasible_reason + ". ";
    }
    return "";
  }
  const Prediction& w = plan.candidates[winner].prediction;
  const Prediction& s = plan.candidates[split].prediction;
  std::string out = "The best split, " + CandidateLabel(plan.candidates[split], t) +
                    ", would take " + FormatSeconds(s.total_s) + ": prefill " +
                    FormatSeconds(s.prefill_s) + " vs " + FormatSeconds(w.prefill_s) + ", decode " +
                    FormatSeconds(s.generation_s) + " vs " + FormatSeconds(w.generation_s) +
                    ", plus " + FormatSeconds(s.tail_s + s.dispatch_s) +
                    " of exposed transfer and dispatch";
  if (s.total_s < w.total_s) out += "; within " + Percent(kTieFraction) + ", one node is simpler";
  return out + ". ";
}

// For a split winner: what each of its devices would take alone.
std::string AloneSummary(const Plan& plan, int winner, const Topology& t) {
  const Placement& wp = plan.candidates[winner].placement;
  std::string s = "Alone, ";
  for (const int device : {wp.prefill_device, wp.decode_device}) {
    const Candidate* c = AloneOn(plan, device);
    if (c == nullptr) return "";
    s += t.devices[device].name + " would take " + FormatSeconds(c->prediction.total_s) +
         (c->feasible ? "" : " (does not fit)") + (device == wp.prefill_device ? " and " : ". ");
  }
  return s;
}

std::string RunnerUp(const Plan& plan, int winner, const Topology& t) {
  const double mine = plan.candidates[winner].prediction.total_s;
  // Leave out what the other sentences already compare: the winner's codec twin (CodecReason)
  // and, for a colocated winner, the splits (AloneReason).
  const Placement& wp = plan.candidates[winner].placement;
  const int next = Best(plan, [&](const Candidate& c, int i) {
    const Placement& p = c.placement;
    if (wp.mode == Mode::kColocated) return i != winner && p.mode == Mode::kColocated;
    const bool codec_twin = p.mode == wp.mode && p.prefill_device == wp.prefill_device &&
                            p.decode_device == wp.decode_device;
    return i != winner && !codec_twin;
  });
  if (next < 0) return "";
  const Candidate& n = plan.candidates[next];
  if (n.prediction.total_s < mine) {
    return "It is within " + Percent(kTieFraction) + " of the fastest, " + CandidateLabel(n, t) +
           " (" + FormatSeconds(n.prediction.total_s) +
           "), and preferred as simpler (lossless KV, fewer nodes, streamed). ";
  }
  return "Next best: " + CandidateLabel(n, t) + " at " + FormatSeconds(n.prediction.total_s) +
         " (+" + Percent(n.prediction.total_s / mine - 1.0) + "). ";
}

std::string InfeasibleNote(const Plan& plan) {
  int count = 0;
  const Candidate* first = nullptr;
  for (const Candidate& c : plan.candidates) {
    if (c.feasible) continue;
    if (first == nullptr) first = &c;
    ++count;
  }
  if (count == 0) return "";
  return std::to_string(count) + " of " + std::to_string(plan.candidates.size()) +
         " candidates are infeasible, e.g. " + first->infeasible_reason + ".";
}

}  // namespace

std::string ExplainWinner(const Plan& plan, const ModelShape& m, const Topology& t,
                          const Request& r) {
  const Candidate& w = plan.candidates[plan.winner];
  std::string s = Headline(w, t, r);
  if (w.placement.mode == Mode::kColocated) {
    s += AloneReason(plan, plan.winner, t);
  } else {
    s += PhaseReasons(plan, w, t, r) + TransferReason(w, t) + CodecReason(plan, plan.winner) +
         AloneSummary(plan, plan.winner, t);
  }
  s += RunnerUp(plan, plan.winner, t) + InfeasibleNote(plan);
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

}  // namespace tandem::planner

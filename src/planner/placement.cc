#include "planner/placement.h"

#include <algorithm>
#include <cstdio>
#include <set>
#include <tuple>

namespace tandem::planner {

const LinkProfile* Topology::FindLink(std::string_view a, std::string_view b) const {
  for (const Link& l : links) {
    if ((l.a == a && l.b == b) || (l.a == b && l.b == a)) return &l.profile;
  }
  return nullptr;
}

Status Topology::Validate() const {
  if (devices.empty()) return InvalidArgument("topology has no devices");
  std::set<std::string> names;
  for (const DeviceProfile& d : devices) {
    RETURN_IF_ERROR(d.Validate());
    if (!names.insert(d.name).second) return InvalidArgument("device '" + d.name + "' twice");
  }
  for (const Link& l : links) {
    if (!names.count(l.a) || !names.count(l.b) || l.a == l.b) {
      return InvalidArgument("link '" + l.profile.name + "' must join two distinct devices of " +
                             "the topology, not '" + l.a + "' and '" + l.b + "'");
    }
    RETURN_IF_ERROR(l.profile.Validate());
  }
  return OkStatus();
}

namespace {

double KvCacheBytes(const ModelShape& m, int64_t tokens) {
  return static_cast<double>(tokens) * m.KvCacheBytesPerToken();
}

// f32 buffers of one prefill chunk: hidden state, q/k/v/attention output (≈ 4·d), gate and up
// (2·n_ff), and one head's attention scores against the whole prompt.
double ActivationBytes(const ModelShape& m, int64_t n) {
  const double chunk = static_cast<double>(std::min(n, kPrefillChunkTokens));
  return 4.0 * chunk * (4.0 * m.d_model + 2.0 * m.n_ff + static_cast<double>(n));
}

}  // namespace

MemoryNeed PrefillMemory(const ModelShape& m, const Request& r) {
  return {m.weight_bytes, KvCacheBytes(m, r.prompt_tokens), ActivationBytes(m, r.prompt_tokens)};
}

MemoryNeed DecodeMemory(const ModelShape& m, const Request& r) {
  return {m.weight_bytes, KvCacheBytes(m, r.prompt_tokens + r.gen_tokens), 0.0};
}

MemoryNeed ColocatedMemory(const ModelShape& m, const Request& r) {
  MemoryNeed need = DecodeMemory(m, r);
  need.activation_bytes = ActivationBytes(m, r.prompt_tokens);
  return need;
}

std::string FormatSeconds(double s) {
  char buf[32];
  if (s >= 1.0 || s == 0.0) {
    std::snprintf(buf, sizeof buf, "%.2f s", s);
  } else if (s >= 1e-3) {
    std::snprintf(buf, sizeof buf, "%.1f ms", s * 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f us", s * 1e6);
  }
  return buf;
}

std::string FormatBytes(double bytes) {
  char buf[32];
  if (bytes >= 1e9) {
    std::snprintf(buf, sizeof buf, "%.2f GB", bytes / 1e9);
  } else if (bytes >= 1e6) {
    std::snprintf(buf, sizeof buf, "%.1f MB", bytes / 1e6);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f kB", bytes / 1e3);
  }
  return buf;
}

std::string FormatFlops(double flops_per_s) {
  char buf[32];
  if (flops_per_s >= 1e12) {
    std::snprintf(buf, sizeof buf, "%.1f TFLOP/s", flops_per_s / 1e12);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f GFLOP/s", flops_per_s / 1e9);
  }
  return buf;
}

std::string FormatBandwidth(double bytes_per_s) {
  char buf[32];
  if (bytes_per_s >= 1e9) {
    std::snprintf(buf, sizeof buf, "%.4g GB/s", bytes_per_s / 1e9);
  } else {
    std::snprintf(buf, sizeof buf, "%.4g MB/s", bytes_per_s / 1e6);
  }
  return buf;
}

std::string CandidateLabel(const Candidate& c, const Topology& t) {
  const Placement& p = c.placement;
  if (p.mode == Mode::kColocated) return t.devices[p.prefill_device].name + " alone";
  return t.devices[p.prefill_device].name + " → " + t.devices[p.decode_device].name + ", " +
         std::string(ModeName(p.mode)) + ", " + std::string(KvCodecName(p.codec)) + " KV";
}

namespace {

// Empty when `need` fits in the device's free memory, else the reason.
// `role`: "prefill node ", "decode node " or "" (alone).
std::string MemoryShortfall(const char* role, const DeviceProfile& d, const MemoryNeed& need) {
  if (need.total() <= d.memory_free_bytes) return "";
  const std::string who = *role ? role + d.name : d.name + " alone";
  return who + " needs " + FormatBytes(need.total()) + " (weights " +
         FormatBytes(need.weights_bytes) + " + KV cache " + FormatBytes(need.kv_bytes) +
         " + activations " + FormatBytes(need.activation_bytes) + ") but has " +
         FormatBytes(d.memory_free_bytes) + " free";
}

Candidate Alone(const ModelShape& m, const Topology& t, const Request& r, int i) {
  Candidate c;
  c.placement = {i, i, Mode::kColocated, KvCodec::kF16};
  const DeviceProfile& d = t.devices[i];
  c.prediction = Predict(m, {&d, &d, nullptr, Mode::kColocated, KvCodec::kF16}, r);
  c.infeasible_reason = MemoryShortfall("", d, ColocatedMemory(m, r));
  c.feasible = c.infeasible_reason.empty();
  return c;
}

Candidate Split(const ModelShape& m, const Topology& t, const Request& r, Placement p) {
  Candidate c;
  c.placement = p;
  const DeviceProfile& x = t.devices[p.prefill_device];
  const DeviceProfile& y = t.devices[p.decode_device];
  const LinkProfile* link = t.FindLink(x.name, y.name);
  if (link == nullptr) {
    c.feasible = false;
    c.infeasible_reason = "no link between " + x.name + " and " + y.name;
    return c;
  }
  c.prediction = Predict(m, {&x, &y, link, p.mode, p.codec}, r);
  c.infeasible_reason = MemoryShortfall("prefill node ", x, PrefillMemory(m, r));
  if (c.infeasible_reason.empty()) {
    c.infeasible_reason = MemoryShortfall("decode node ", y, DecodeMemory(m, r));
  }
  c.feasible = c.infeasible_reason.empty();
  return c;
}

}  // namespace

std::vector<Candidate> EnumerateCandidates(const ModelShape& m, const Topology& t,
                                           const Request& r) {
  std::vector<Candidate> out;
  const int n = static_cast<int>(t.devices.size());
  for (int i = 0; i < n; ++i) out.push_back(Alone(m, t, r, i));
  for (int x = 0; x < n; ++x) {
    for (int y = 0; y < n; ++y) {
      if (x == y) continue;
      for (const Mode mode : {Mode::kStreamed, Mode::kAfterPrefill}) {
        for (const KvCodec codec : kAllKvCodecs) out.push_back(Split(m, t, r, {x, y, mode, codec}));
      }
    }
  }
  return out;
}

int PickWinner(const std::vector<Candidate>& candidates) {
  double fastest = -1.0;
  for (const Candidate& c : candidates) {
    if (c.feasible && (fastest < 0 || c.prediction.total_s < fastest)) {
      fastest = c.prediction.total_s;
    }
  }
  if (fastest < 0) return -1;
  // Among the near-fastest: lossless KV, then one node, then streamed, then the fastest.
  auto key = [](const Candidate& c) {
    const Placement& p = c.placement;
    const bool split = p.mode != Mode::kColocated;
    return std::make_tuple(split && !KvCodecIsLossless(p.codec), split,
                           p.mode == Mode::kAfterPrefill, c.prediction.total_s);
  };
  int best = -1;
  for (int i = 0; i < static_cast<int>(candidates.size()); ++i) {
    const Candidate& c = candidates[i];
    if (!c.feasible || c.prediction.total_s > fastest * (1.0 + kTieFraction)) continue;
    if (best < 0 || key(c) < key(candidates[best])) best = i;
  }
  return best;
}

StatusOr<Plan> MakePlan(const ModelShape& m, const Topology& t, const Request& r) {
  RETURN_IF_ERROR(m.Validate());
  RETURN_IF_ERROR(t.Validate());
  RETURN_IF_ERROR(r.Validate());
  Plan plan;
  plan.candidates = EnumerateCandidates(m, t, r);
  plan.winner = PickWinner(plan.candidates);
  if (plan.winner < 0) {
    std::string why;
    std::set<std::string> seen;
    for (const Candidate& c : plan.candidates) {
      if (seen.insert(c.infeasible_reason).second) why += "; " + c.infeasible_reason;
    }
    return InvalidArgument("no placement of " + m.name + " fits" + why +
                           " (hint: a smaller weight type or a shorter context)");
  }
  plan.reason = ExplainWinner(plan, m, t, r);
  return plan;
}

}  // namespace tandem::planner

// Placement search: every node alone, and every ordered (prefill, decode) pair × {streamed,
// after-prefill} × {F16, Q8}; memory feasibility; the winner by predicted end-to-end time
// TTFT + (g − 1)·TPOT, with a reason a person can check.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "planner/cost_model.h"
#include "planner/model_shape.h"
#include "planner/profiles.h"

namespace tandem::planner {

// A bidirectional link between two devices, by name.
struct Link {
  std::string a;
  std::string b;
  LinkProfile profile;
};

struct Topology {
  std::vector<DeviceProfile> devices;
  std::vector<Link> links;

  // The link between devices a and b (either order), or null.
  const LinkProfile* FindLink(std::string_view a, std::string_view b) const;
  // Valid profiles, unique device names, links between two distinct known devices.
  Status Validate() const;
};

// Prefill activations are estimated for chunks of this many tokens.
inline constexpr int64_t kPrefillChunkTokens = 512;
// Candidates within this fraction of the fastest count as tied; the simpler one wins (lossless
// KV first, then one node, then streamed): a split or a lossy codec must pay for itself.
inline constexpr double kTieFraction = 0.01;

struct MemoryNeed {
  double weights_bytes = 0;
  double kv_bytes = 0;          // KV cache held (F16 cache)
  double activation_bytes = 0;  // prefill working buffers, estimated
  double total() const { return weights_bytes + kv_bytes + activation_bytes; }
};

// What each role holds. Prefill: weights + KV of n tokens + activations of a prefill chunk;
// decode: weights + KV of n + g tokens; alone: both at once.
MemoryNeed PrefillMemory(const ModelShape& m, const Request& r);
MemoryNeed DecodeMemory(const ModelShape& m, const Request& r);
MemoryNeed ColocatedMemory(const ModelShape& m, const Request& r);

struct Placement {
  int prefill_device = 0;  // index into Topology::devices
  int decode_device = 0;   // equal to prefill_device when colocated
  Mode mode = Mode::kColocated;
  KvCodec codec = KvCodec::kF16;  // wire codec; F16 (unused) when colocated
};

struct Candidate {
  Placement placement;
  Prediction prediction;  // zeros when no link joins the pair
  bool feasible = true;
  std::string infeasible_reason;  // why not, when !feasible
};

struct Plan {
  std::vector<Candidate> candidates;  // every candidate, feasible or not
  int winner = -1;                    // index into candidates
  std::string reason;                 // why the winner won, in a few sentences
};

// "dgx-spark alone", "dgx-spark → m3-ultra, streamed, F16 KV".
std::string CandidateLabel(const Candidate& c, const Topology& t);

std::vector<Candidate> EnumerateCandidates(const ModelShape& m, const Topology& t,
                                           const Request& r);
// Index of the best feasible candidate (see kTieFraction), or -1.
int PickWinner(const std::vector<Candidate>& candidates);

// Validates the inputs, enumerates, picks and explains. Fails when nothing fits.
StatusOr<Plan> MakePlan(const ModelShape& m, const Topology& t, const Request& r);

// The reason of a plan whose winner is set (explain.cc).
std::string ExplainWinner(const Plan& plan, const ModelShape& m, const Topology& t,
                          const Request& r);

// "1.47 s", "26.5 ms", "50 us".
std::string FormatSeconds(double s);
// "16.08 GB", "33.5 MB", "512.0 kB" (decimal).
std::string FormatBytes(double bytes);
// "90.0 TFLOP/s", "100.0 GFLOP/s".
std::string FormatFlops(double flops_per_s);
// "273 GB/s", "1.25 GB/s", "1.25 MB/s" (4 significant digits).
std::string FormatBandwidth(double bytes_per_s);

}  // namespace tandem::planner

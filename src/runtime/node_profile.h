// A node's own device profile (DESIGN §6): prefill FLOP/s and decode bandwidth, measured.
//
// On a real machine: our kernels on this CPU, a GEMM of the model's weight type at a prefill
// batch and a GEMV over a matrix far larger than the last-level cache. On an emulated device:
// real forward passes of the model paced by the emulation (runtime::Pacer), timed: a prefill
// chunk, grown until it is compute-bound, gives FLOP/s; decode steps give bytes/s. Either way the
// figures come from a clock, never from the emulation's parameters.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "base/status.h"
#include "kernels/types.h"
#include "model/llama_model.h"
#include "planner/profiles.h"
#include "runtime/emulation.h"

namespace tandem::runtime {

struct NodeProfile {
  double flops = 0;      // prefill FLOP/s (F of the cost model)
  double bandwidth = 0;  // decode bytes/s (B of the cost model)
  // Where the figures came from: "measured" (our kernels on this machine), "emulation" (timed,
  // paced forward passes of the emulated device) or "cache" (a measurement stored on disk by an
  // earlier run, in use until the background re-measurement replaces it).
  std::string source;
  std::string method;  // what was timed, in words
  std::string weight_type;
  double measured_unix_s = 0;  // when it was measured (wall clock)
  double measure_s = 0;        // how long measuring took
  // The paced prefill never became compute-bound on the emulated device within the budget (flops
  // is a lower bound), or the decode steps were compute-bound (bandwidth is a lower bound); also
  // set when the host was too slow to keep up with the emulated device (saturated).
  bool flops_lower_bound = false;
  bool bandwidth_lower_bound = false;
  int64_t saturated_layers = 0;  // emulation: layers the host computed slower than the device

  bool Valid() const;  // both figures positive and finite
};

struct ProfileOptions {
  DeviceEmulation emulation;  // enabled: time paced forward passes instead of the raw kernels
  int threads = 1;            // compute threads (the node's)
  double budget_s = 4;        // paced measurement: stop growing the prefill chunk after this
  // Checked between steps; when it turns true the measurement stops and returns Unavailable.
  const std::atomic<bool>* cancel = nullptr;
};

StatusOr<NodeProfile> MeasureNodeProfile(const model::LlamaModel& model, const ProfileOptions& o);

// The weight type holding most of the model's block (per-layer) bytes.
kernels::WeightType DominantWeightType(const model::LlamaModel& model);

// The planner's device for this node: the profile's FLOP/s for every weight dtype (a node serves
// one model), its bandwidth, efficiency 1, and the given memory.
planner::DeviceProfile PlannerDevice(const std::string& name, const NodeProfile& p,
                                     double memory_total_bytes, double memory_free_bytes);

}  // namespace tandem::runtime

// What the planner knows about a machine and a link. Built-in profiles (sim/catalog.h) hold the
// vendor's peak figures and the efficiency factors our kernels reach on them; measured profiles
// (the profiler) hold what was measured, with efficiency 1.
#pragma once

#include <array>
#include <string>

#include "base/status.h"
#include "planner/dtypes.h"

namespace tandem::planner {

struct DeviceProfile {
  std::string name;
  // Peak FLOP/s of a prefill GEMM per weight dtype, indexed by WeightDtype. Quantized weights
  // are dequantized into the F16 GEMM on the devices we know, so they usually repeat the F16
  // figure.
  std::array<double, kNumWeightDtypes> peak_flops{};
  double peak_bandwidth = 0;  // memory bytes/s (spec sheet or measured)
  // Fractions of the peaks our kernels reach: prefill = achieved FLOP/s / peak (MFU), decode =
  // achieved bytes/s of a decode step / peak bandwidth. Both in (0, 1].
  double prefill_efficiency = 1.0;
  double decode_efficiency = 1.0;
  double memory_total_bytes = 0;
  double memory_free_bytes = 0;  // what weights, KV cache and activations may take

  double peak(WeightDtype dtype) const { return peak_flops[static_cast<int>(dtype)]; }
  void set_peak(WeightDtype dtype, double flops) { peak_flops[static_cast<int>(dtype)] = flops; }
  // F of the cost model: effective prefill FLOP/s for weights of `dtype`.
  double PrefillFlops(WeightDtype dtype) const { return peak(dtype) * prefill_efficiency; }
  // B of the cost model: effective bytes/s of a decode step.
  double DecodeBandwidth() const { return peak_bandwidth * decode_efficiency; }
  // Every figure positive and finite, efficiencies in (0, 1], free ≤ total.
  Status Validate() const;
};

struct LinkProfile {
  std::string name;
  double bandwidth = 0;  // payload bytes/s, one direction
  double rtt_s = 0;      // round trip of a small message
  double alpha_s = 0;    // fixed cost per message: posting, framing, one-way latency

  // Seconds one message of `bytes` occupies the link.
  double MessageSeconds(double bytes) const { return alpha_s + bytes / bandwidth; }
  Status Validate() const;
};

}  // namespace tandem::planner

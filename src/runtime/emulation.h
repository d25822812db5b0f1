// Device emulation (DESIGN §7): the node runs the real kernels, then waits so each layer and each
// LM head lasts its roofline time max(FLOPs / F, bytes / B) on the emulated device. Outputs stay
// real; only timing is shaped.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"
#include "model/forward.h"
#include "model/llama_model.h"

namespace tandem::runtime {

struct DeviceEmulation {
  double flops = 0;      // FLOP/s; 0: not emulated
  double bandwidth = 0;  // memory bytes/s
  double memory = 0;     // bytes the node may use (reported to the planner)

  bool enabled() const { return flops > 0 && bandwidth > 0; }
  // "flops=100e9,bw=0.27e9,mem=8e9" (k/M/G/T suffixes allowed: flops=100G,bw=270M).
  static StatusOr<DeviceEmulation> Parse(std::string_view spec);
  std::string ToString() const;
};

// Parses "1.5G", "270M", "2e9" (decimal multipliers).
StatusOr<double> ParseQuantity(std::string_view text);

// Paces a Forward to the emulated device. Not thread-safe: one per Forward.
class Pacer : public model::ForwardObserver {
 public:
  Pacer(const model::LlamaModel& model, const DeviceEmulation& emu);

  void OnForwardBegin(int64_t t0, int64_t t1) override;
  void OnLayerDone(int layer, int64_t t0, int64_t t1) override;
  void OnForwardEnd(int64_t t0, int64_t t1, bool computed_logits) override;

  // Layers whose real compute took longer than the emulated time (the host is too slow to
  // emulate this device honestly), out of all layers paced.
  int64_t saturated() const { return saturated_; }
  int64_t paced() const { return paced_; }
  double worst_overrun() const { return worst_overrun_; }  // real / emulated, max

 private:
  void PaceTo(double emulated_s);
  const model::LlamaModel& model_;
  DeviceEmulation emu_;
  std::chrono::steady_clock::time_point mark_;
  int64_t saturated_ = 0;
  int64_t paced_ = 0;
  double worst_overrun_ = 0;
};

}  // namespace tandem::runtime

// Shapes and profiles for the planner's tests, spelled out here because the catalog (sim/) sits
// above the planner. Figures as in sim/catalog.cc.
#pragma once

#include "planner/model_shape.h"
#include "planner/placement.h"

namespace tandem::planner::testing {

inline ModelShape Shape(const char* name, int layers, int d, int heads, int kv_heads, int n_ff,
                        int vocab, WeightDtype dtype = WeightDtype::kF16) {
  ModelShape m;
  m.name = name;
  m.n_layers = layers;
  m.d_model = d;
  m.n_heads = heads;
  m.n_kv_heads = kv_heads;
  m.head_dim = d / heads;
  m.n_ff = n_ff;
  m.n_vocab = vocab;
  return WithUniformDtype(m, dtype);
}

inline ModelShape Llama2_7B() { return Shape("llama-2-7b", 32, 4096, 32, 32, 11008, 32000); }
inline ModelShape Llama31_8B(WeightDtype dtype = WeightDtype::kF16) {
  return Shape("llama-3.1-8b", 32, 4096, 32, 8, 14336, 128256, dtype);
}
inline ModelShape Llama3_70B() { return Shape("llama-3-70b", 80, 8192, 64, 8, 28672, 128256); }

// peak F (all dtypes), peak B, efficiencies, free memory (total = free).
inline DeviceProfile Device(const char* name, double flops, double bandwidth, double prefill_eff,
                            double decode_eff, double free_bytes) {
  DeviceProfile d;
  d.name = name;
  d.peak_flops.fill(flops);
  d.peak_bandwidth = bandwidth;
  d.prefill_efficiency = prefill_eff;
  d.decode_efficiency = decode_eff;
  d.memory_total_bytes = free_bytes;
  d.memory_free_bytes = free_bytes;
  return d;
}

inline DeviceProfile Spark() { return Device("spark", 100e12, 273e9, 0.90, 0.66, 120e9); }
inline DeviceProfile Mac() { return Device("mac", 26e12, 819e9, 0.91, 0.74, 384e9); }

inline LinkProfile MakeLink(const char* name, double bandwidth, double rtt_s = 100e-6,
                            double alpha_s = 50e-6) {
  return {name, bandwidth, rtt_s, alpha_s};
}
inline LinkProfile TenGbE() { return MakeLink("10gbe", 1.25e9); }

// Every pair of `devices` joined by `link`.
inline Topology Cluster(std::vector<DeviceProfile> devices, const LinkProfile& link) {
  Topology t;
  t.devices = std::move(devices);
  for (size_t a = 0; a < t.devices.size(); ++a) {
    for (size_t b = a + 1; b < t.devices.size(); ++b) {
      t.links.push_back({t.devices[a].name, t.devices[b].name, link});
    }
  }
  return t;
}

}  // namespace tandem::planner::testing

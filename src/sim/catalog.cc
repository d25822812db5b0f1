#include "sim/catalog.h"

#include <algorithm>
#include <array>

#include "sim/profile_json.h"

namespace tandem::sim {
namespace {

using planner::WeightDtype;

constexpr double kGB = 1e9;      // decimal, as the spec sheets
constexpr double kTFLOP = 1e12;  // FLOP/s

// Efficiency factors (fractions of peak) where we have no measurement of our own:
// - kRefPrefill*, kRefDecode*: derived in shared/reference/cost-model.md §4 from the public
//   DGX Spark + M3 Ultra run (Llama-3.1-8B F16, 8,192-token prompt): prefill 1.319e14 FLOP in
//   1.47 s = 89.8 TFLOP/s (90 % of 100) on the Spark and in 5.57 s = 23.7 TFLOP/s (91 % of 26)
//   on the M3 Ultra; decode 16.09 GB per step in 89.7 ms = 179 GB/s (66 % of 273) and in
//   26.6 ms = 606 GB/s (74 % of 819).
// - kGpuPrefill, kGpuDecode: assumed for discrete GPUs (not measured by us): a tuned F16 GEMM at
//   prefill batch sizes reaches 60–80 % of the tensor-core peak, and a weight-streaming GEMV
//   80–90 % of GDDR/HBM bandwidth. Replace with `tandem profile` figures when you have them.
constexpr double kRefPrefillSpark = 0.90, kRefDecodeSpark = 0.66;
constexpr double kRefPrefillM3 = 0.91, kRefDecodeM3 = 0.74;
constexpr double kGpuPrefill = 0.70, kGpuDecode = 0.80;
// macOS lets the GPU wire about 75 % of unified memory by default
// (MTLDevice.recommendedMaxWorkingSetSize on machines over 64 GB).
constexpr double kAppleGpuShare = 0.75;

struct DeviceSpec {
  const char* name;
  double f16_flops;     // peak dense F16 (tensor-core / ALU) FLOP/s
  double f32_flops;     // peak for F32 weights (TF32 tensor cores on NVIDIA, ALUs on Apple)
  double bandwidth;     // bytes/s
  double prefill_eff;   // fraction of peak FLOP/s
  double decode_eff;    // fraction of peak bandwidth
  double memory_total;  // bytes
  double memory_free;   // bytes a model may take
};

// BF16 runs at the F16 rate on all of these; Q8_0 and Q4_0 weights are dequantized into the
// F16 GEMM for prefill, so they get the F16 figure too.
constexpr std::array<DeviceSpec, 8> kDevices = {{
    // NVIDIA DGX Spark (GB10 Grace Blackwell): 128 GB LPDDR5x unified at 273 GB/s (NVIDIA
    // product page); ≈ 100 TFLOP/s dense FP16 as the EXO write-up quotes. TF32 at half rate.
    // About 8 GB left to the OS.
    {"dgx-spark", 100 * kTFLOP, 50 * kTFLOP, 273 * kGB, kRefPrefillSpark, kRefDecodeSpark,
     128 * kGB, 120 * kGB},
    // Apple Mac Studio M3 Ultra (80-core GPU): up to 512 GB unified at 819 GB/s (Apple tech
    // specs, 2025); ≈ 26 TFLOP/s FP16 as the write-up quotes; Apple GPUs run F32 FMAs at the
    // F16 rate.
    {"m3-ultra", 26 * kTFLOP, 26 * kTFLOP, 819 * kGB, kRefPrefillM3, kRefDecodeM3, 512 * kGB,
     512 * kGB* kAppleGpuShare},
    // Apple Mac Studio M2 Ultra (76-core GPU): up to 192 GB at 800 GB/s (Apple tech specs,
    // 2023); 76 cores × 128 ALUs × 2 FLOP × 1.398 GHz = 27.2 TFLOP/s. Efficiencies assumed
    // equal to the M3 Ultra's (same family, same software path).
    {"m2-ultra", 27.2 * kTFLOP, 27.2 * kTFLOP, 800 * kGB, kRefPrefillM3, kRefDecodeM3, 192 * kGB,
     192 * kGB* kAppleGpuShare},
    // NVIDIA GeForce RTX 4090: 24 GB GDDR6X at 1008 GB/s, 165.2 TFLOP/s dense FP16 tensor with
    // FP32 accumulate, 82.6 TF32 (Ada Lovelace architecture whitepaper, appendix A).
    {"rtx-4090", 165.2 * kTFLOP, 82.6 * kTFLOP, 1008 * kGB, kGpuPrefill, kGpuDecode, 24 * kGB,
     23 * kGB},
    // NVIDIA GeForce RTX 3090: 24 GB GDDR6X at 936 GB/s, 71 TFLOP/s dense FP16 tensor with FP32
    // accumulate, 35.6 TF32 (Ampere GA102 whitepaper).
    {"rtx-3090", 71 * kTFLOP, 35.6 * kTFLOP, 936 * kGB, kGpuPrefill, kGpuDecode, 24 * kGB,
     23 * kGB},
    // NVIDIA H100 SXM5: 80 GB HBM3 at 3.35 TB/s, 989.4 TFLOP/s dense FP16/BF16 tensor, 494.7
    // TF32 (NVIDIA H100 datasheet).
    {"h100-sxm", 989.4 * kTFLOP, 494.7 * kTFLOP, 3350 * kGB, kGpuPrefill, kGpuDecode, 80 * kGB,
     79 * kGB},
    // The emulated pair of DESIGN §7: the reference pair scaled by s = 1e-3 (compute 100:26,
    // bandwidth 273:819), paced exactly, so efficiency 1.
    {"emu-compute", 100e9, 100e9, 0.273 * kGB, 1.0, 1.0, 8 * kGB, 8 * kGB},
    {"emu-bandwidth", 26e9, 26e9, 0.819 * kGB, 1.0, 1.0, 8 * kGB, 8 * kGB},
}};

planner::DeviceProfile ToProfile(const DeviceSpec& s) {
  planner::DeviceProfile d;
  d.name = s.name;
  for (const WeightDtype t :
       {WeightDtype::kF16, WeightDtype::kBF16, WeightDtype::kQ8_0, WeightDtype::kQ4_0}) {
    d.set_peak(t, s.f16_flops);
  }
  d.set_peak(WeightDtype::kF32, s.f32_flops);
  d.peak_bandwidth = s.bandwidth;
  d.prefill_efficiency = s.prefill_eff;
  d.decode_efficiency = s.decode_eff;
  d.memory_total_bytes = s.memory_total;
  d.memory_free_bytes = s.memory_free;
  return d;
}

struct LinkSpec {
  const char* name;
  double bandwidth;  // payload bytes/s
  double rtt_s;
  double alpha_s;
};

// Ethernet at line rate in decimal units (10 Gb/s = 1.25 GB/s), as the write-up and
// cost-model.md assume; TCP goodput is about 94 % of that. RTTs are typical LAN pings; α (per
// message posting + one-way latency) is assumed half an RTT.
constexpr std::array<LinkSpec, 6> kLinks = {{
    {"1gbe", 0.125 * kGB, 200e-6, 100e-6},
    {"10gbe", 1.25 * kGB, 100e-6, 50e-6},
    {"25gbe", 3.125 * kGB, 100e-6, 50e-6},
    {"40gbe", 5.0 * kGB, 100e-6, 50e-6},
    // Thunderbolt 4 / USB4 IP networking (Thunderbolt Bridge): a host-to-host link negotiates
    // 20 Gb/s each way (not the 40 Gb/s of the port); iperf3 measures ≈ 16 Gb/s over it
    // (jiribrejcha.net, "Direct 20 Gbps connection between Mac and Windows", 2024). Line rate
    // like the Ethernet entries: 20 Gb/s = 2.5 GB/s. Thunderbolt 5 would be about twice that.
    {"thunderbolt", 2.5 * kGB, 100e-6, 50e-6},
    // 10 GbE scaled by s = 1e-3 for the emulated pair of DESIGN §7.
    {"emu-10gbe", 1.25e6, 100e-6, 50e-6},
}};

struct ModelSpec {
  const char* name;
  int n_layers, d_model, n_heads, n_kv_heads, head_dim, n_ff, n_vocab;
  bool tied_output, qkv_bias;
};

// From each model's Hugging Face config.json.
constexpr std::array<ModelSpec, 6> kModels = {{
    {"llama-2-7b", 32, 4096, 32, 32, 128, 11008, 32000, false, false},
    {"llama-3.1-8b", 32, 4096, 32, 8, 128, 14336, 128256, false, false},
    {"llama-3-70b", 80, 8192, 64, 8, 128, 28672, 128256, false, false},
    {"qwen-2.5-72b", 80, 8192, 64, 8, 128, 29568, 152064, false, true},
    {"mistral-7b", 32, 4096, 32, 8, 128, 14336, 32000, false, false},  // v0.1
    // The emulated-testbed model of DESIGN §7 (≈ 23 M parameters).
    {"testbed-23m", 8, 256, 4, 1, 64, 896, 32000, false, false},
}};

template <typename Spec, size_t N>
std::vector<std::string> Names(const std::array<Spec, N>& specs) {
  std::vector<std::string> out;
  for (const Spec& s : specs) out.emplace_back(s.name);
  return out;
}

template <typename Spec, size_t N>
Status Unknown(const char* what, std::string_view name, const std::array<Spec, N>& specs) {
  std::string known;
  for (const Spec& s : specs) known += std::string(known.empty() ? "" : ", ") + s.name;
  return NotFound("unknown " + std::string(what) + " '" + std::string(name) + "' (known: " + known +
                  ")");
}

}  // namespace

std::vector<std::string> BuiltinDeviceNames() { return Names(kDevices); }
std::vector<std::string> BuiltinLinkNames() { return Names(kLinks); }
std::vector<std::string> BuiltinModelNames() { return Names(kModels); }

StatusOr<planner::DeviceProfile> BuiltinDevice(std::string_view name) {
  for (const DeviceSpec& s : kDevices) {
    if (name == s.name) return ToProfile(s);
  }
  return Unknown("device", name, kDevices);
}

StatusOr<planner::LinkProfile> BuiltinLink(std::string_view name) {
  for (const LinkSpec& s : kLinks) {
    if (name == s.name) return planner::LinkProfile{s.name, s.bandwidth, s.rtt_s, s.alpha_s};
  }
  return Unknown("link", name, kLinks);
}

StatusOr<planner::ModelShape> BuiltinModel(std::string_view name, planner::WeightDtype dtype) {
  for (const ModelSpec& s : kModels) {
    if (name != s.name) continue;
    planner::ModelShape m;
    m.name = s.name;
    m.n_layers = s.n_layers;
    m.d_model = s.d_model;
    m.n_heads = s.n_heads;
    m.n_kv_heads = s.n_kv_heads;
    m.head_dim = s.head_dim;
    m.n_ff = s.n_ff;
    m.n_vocab = s.n_vocab;
    m.tied_output = s.tied_output;
    m.qkv_bias = s.qkv_bias;
    return planner::WithUniformDtype(std::move(m), dtype);
  }
  return Unknown("model", name, kModels);
}

StatusOr<planner::Topology> BuiltinTopology(std::string_view devices_csv, std::string_view link) {
  planner::Topology t;
  size_t start = 0;
  while (start <= devices_csv.size()) {
    const size_t comma = std::min(devices_csv.find(',', start), devices_csv.size());
    const std::string_view name = devices_csv.substr(start, comma - start);
    if (name.empty())
      return InvalidArgument("empty device name in '" + std::string(devices_csv) + "'");
    ASSIGN_OR_RETURN(auto d, BuiltinDevice(name));
    t.devices.push_back(std::move(d));
    start = comma + 1;
  }
  ASSIGN_OR_RETURN(const planner::LinkProfile l, BuiltinLink(link));
  AddDefaultLinks(t, l);
  RETURN_IF_ERROR(t.Validate());
  return t;
}

}  // namespace tandem::sim

#include "runtime/node_profile.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <vector>

#include "kernels/cpu/ceilings.h"
#include "kernels/cpu/matmul.h"
#include "model/forward.h"

namespace tandem::runtime {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double UnixNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

bool Cancelled(const ProfileOptions& o) { return o.cancel != nullptr && o.cancel->load(); }

// The emulation's pacer, switched off once the measurement is cancelled so that it ends at host
// speed.
class CancellablePacer : public model::ForwardObserver {
 public:
  CancellablePacer(const model::LlamaModel& m, const ProfileOptions& o)
      : pacer_(m, o.emulation), o_(o) {}
  void OnForwardBegin(int64_t t0, int64_t t1) override { pacer_.OnForwardBegin(t0, t1); }
  void OnLayerDone(int layer, int64_t t0, int64_t t1) override {
    if (!Cancelled(o_)) pacer_.OnLayerDone(layer, t0, t1);
  }
  void OnForwardEnd(int64_t t0, int64_t t1, bool logits) override {
    if (!Cancelled(o_)) pacer_.OnForwardEnd(t0, t1, logits);
  }
  int64_t saturated() const { return pacer_.saturated(); }

 private:
  Pacer pacer_;
  const ProfileOptions& o_;
};

std::string Fmt(const char* f, double a, double b = 0, double c = 0) {
  char buf[160];
  std::snprintf(buf, sizeof(buf), f, a, b, c);
  return buf;
}

// Timed, paced forward passes of the model on the emulated device. Decode steps first (their
// bytes over their time is B), then prefill chunks of doubling size until one is compute-bound:
// a chunk whose bytes/s stays well below B spent its time on FLOPs, so its FLOPs over its time
// is F. Every layer of a chunk has the same shape, so a chunk is compute-bound in every layer or
// in none. Time stays within the budget: the first chunk is sized by an upper bound of its time
// from the decode rates, and doubling a chunk at most quadruples its time (attention FLOPs grow
// with the square of its length, everything else linearly).
StatusOr<NodeProfile> MeasurePaced(const model::LlamaModel& m, const ProfileOptions& o) {
  const model::LlamaConfig& c = m.config();
  const Clock::time_point start = Clock::now();
  base::ThreadPool pool(std::max(1, o.threads));
  model::ForwardOptions fo;
  fo.pool = &pool;
  CancellablePacer pacer(m, o);
  NodeProfile p;
  p.source = "emulation";
  const int32_t token = c.n_vocab > 1 ? 1 : 0;
  const int64_t max_tokens =
      std::min<int64_t>(2048, c.n_ctx_train > 0 ? c.n_ctx_train : int64_t{2048});

  // Decode: at least 2 steps and 0.2 s (one step when that takes a quarter of the budget), at
  // most 64 steps.
  constexpr int kMaxSteps = 64;
  ASSIGN_OR_RETURN(kv::KvCache dcache, kv::KvCache::Create(model::KvLayoutFor(c, kMaxSteps)));
  model::Forward dfwd(m, dcache, fo);
  dfwd.set_observer(&pacer);
  std::vector<float> logits;
  double d_bytes = 0, d_flops = 0, d_s = 0;
  int steps = 0;
  const int64_t decode_sat0 = pacer.saturated();
  while (steps < kMaxSteps && (steps < 2 || d_s < 0.2) && !(steps > 0 && d_s > o.budget_s / 4)) {
    if (Cancelled(o)) return Unavailable("profile measurement cancelled");
    const Clock::time_point t0 = Clock::now();
    RETURN_IF_ERROR(dfwd.Decode(token, steps, &logits));
    d_s += Since(t0);
    for (int l = 0; l < c.n_layers; ++l) {
      d_bytes += model::LayerBytes(m.weights(), c, l, steps + 1);
      d_flops += model::LayerFlops(c, steps, steps + 1);
    }
    d_bytes += model::HeadBytes(m.weights());
    d_flops += model::HeadFlops(c);
    ++steps;
  }
  p.bandwidth = d_bytes / d_s;
  const bool decode_saturated = pacer.saturated() > decode_sat0;

  // Prefill chunks. The decode rates are lower bounds of F and B, so FLOPs / F_lb + bytes / B_lb
  // bounds a chunk's time from above.
  const double f_lb = d_flops / d_s, b_lb = d_bytes / d_s;
  const auto time_bound = [&](int64_t n) {
    double t = 0;
    for (int l = 0; l < c.n_layers; ++l) {
      t += model::LayerFlops(c, 0, n) / f_lb + model::LayerBytes(m.weights(), c, l, n) / b_lb;
    }
    return t;
  };
  int64_t n = std::min<int64_t>(64, max_tokens);
  while (n > 1 && time_bound(n) > o.budget_s / 4) n /= 2;
  double best_flops = 0, chunk_bw = 0;
  int64_t measured_n = 0;
  for (;;) {
    if (Cancelled(o)) return Unavailable("profile measurement cancelled");
    ASSIGN_OR_RETURN(kv::KvCache pcache, kv::KvCache::Create(model::KvLayoutFor(c, n)));
    model::Forward pfwd(m, pcache, fo);
    pfwd.set_observer(&pacer);
    const std::vector<int32_t> tokens(n, token);
    const int64_t sat0 = pacer.saturated();
    const Clock::time_point t0 = Clock::now();
    RETURN_IF_ERROR(pfwd.Prefill(tokens, 0, nullptr));
    const double s = Since(t0);
    double flops = 0, bytes = 0;
    for (int l = 0; l < c.n_layers; ++l) {
      flops += model::LayerFlops(c, 0, n);
      bytes += model::LayerBytes(m.weights(), c, l, n);
    }
    best_flops = std::max(best_flops, flops / s);  // every chunk gives a lower bound of F
    chunk_bw = bytes / s;
    measured_n = n;
    // A chunk the host computed slower than the emulated device (saturated) timed the host; a
    // larger one would only be slower still.
    const bool saturated = pacer.saturated() > sat0;
    const bool compute_bound = !saturated && chunk_bw < 0.8 * p.bandwidth;
    if (compute_bound || saturated || n * 2 > max_tokens || Since(start) + 4 * s > o.budget_s) {
      p.flops_lower_bound = !compute_bound;
      break;
    }
    n *= 2;
  }
  p.flops = best_flops;
  // Decode steps that ran at F were compute-bound, not bandwidth-bound; saturated ones timed the
  // host.
  p.bandwidth_lower_bound = decode_saturated || d_flops / d_s > 0.8 * p.flops;
  p.saturated_layers = pacer.saturated();
  p.method = Fmt("paced prefill of %.0f tokens (%.3g MB/s of weights and KV), ", measured_n,
                 chunk_bw / 1e6) +
             Fmt("%.0f paced decode steps", steps);
  return p;
}

// Our kernels on this CPU: a GEMM of the model's weight type at a prefill batch of 128 tokens,
// and a one-token GEMV over ~128 MiB of that type (four times a large last-level cache).
StatusOr<NodeProfile> MeasureKernels(kernels::WeightType type, const ProfileOptions& o) {
  if (!kernels::cpu::MatMulSupports(type)) type = kernels::WeightType::kF16;
  base::ThreadPool pool(std::max(1, o.threads));
  NodeProfile p;
  p.source = "measured";
  kernels::cpu::GemmShape gemm;
  gemm.rows = 1024;
  gemm.cols = 1024;
  gemm.n_tokens = 128;
  ASSIGN_OR_RETURN(p.flops, kernels::cpu::MeasureGemm(type, gemm, pool, 3));
  if (Cancelled(o)) return Unavailable("profile measurement cancelled");
  kernels::cpu::GemmShape gemv;
  gemv.rows = 4096;
  gemv.n_tokens = 1;
  const double row_bytes_per_col = static_cast<double>(kernels::RowBytes(type, 256)) / 256;
  gemv.cols = std::max<int64_t>(
      256, static_cast<int64_t>((128ull << 20) / (gemv.rows * row_bytes_per_col)) / 256 * 256);
  RETURN_IF_ERROR(kernels::cpu::MeasureGemm(type, gemv, pool, 3, &p.bandwidth).status());
  const std::string name(kernels::WeightTypeName(type));
  p.method = name + " GEMM 1024x1024 x 128 tokens, " + name +
             Fmt(" GEMV %.0f x %.0f (%.0f MiB)", gemv.rows, gemv.cols,
                 gemv.rows * gemv.cols * row_bytes_per_col / (1 << 20));
  return p;
}

}  // namespace

bool NodeProfile::Valid() const {
  return std::isfinite(flops) && std::isfinite(bandwidth) && flops > 0 && bandwidth > 0;
}

kernels::WeightType DominantWeightType(const model::LlamaModel& model) {
  std::map<kernels::WeightType, double> bytes;
  for (const auto& t : model.file().tensors()) {
    if (t.name.rfind("blk.", 0) == 0) bytes[t.type] += t.n_bytes;
  }
  kernels::WeightType best = kernels::WeightType::kF32;
  double most = -1;
  for (const auto& [type, b] : bytes) {
    if (b > most) most = b, best = type;
  }
  return best;
}

StatusOr<NodeProfile> MeasureNodeProfile(const model::LlamaModel& model, const ProfileOptions& o) {
  const Clock::time_point t0 = Clock::now();
  const kernels::WeightType type = DominantWeightType(model);
  StatusOr<NodeProfile> p =
      o.emulation.enabled() ? MeasurePaced(model, o) : MeasureKernels(type, o);
  // A paced step the host computed late (another process had the CPU) times the host, not the
  // emulated device: measure again, up to twice, and keep the least disturbed measurement.
  for (int attempt = 2; o.emulation.enabled() && p.ok() && p->saturated_layers > 0 && attempt <= 3;
       ++attempt) {
    StatusOr<NodeProfile> again = MeasurePaced(model, o);
    if (!again.ok()) break;
    if (again->saturated_layers < p->saturated_layers) {
      p = std::move(again);
      p->method += Fmt(" (attempt %.0f: the earlier ones were disturbed)", attempt);
    }
  }
  if (!p.ok()) return p.status().WithContext("profiling this node");
  if (!p->Valid()) return Internal("profiling this node gave no positive, finite figures");
  p->weight_type = std::string(kernels::WeightTypeName(type));
  p->measured_unix_s = UnixNow();
  p->measure_s = Since(t0);
  return p;
}

planner::DeviceProfile PlannerDevice(const std::string& name, const NodeProfile& p,
                                     double memory_total_bytes, double memory_free_bytes) {
  planner::DeviceProfile d;
  d.name = name;
  for (int i = 0; i < planner::kNumWeightDtypes; ++i) d.peak_flops[i] = p.flops;
  d.peak_bandwidth = p.bandwidth;
  d.memory_total_bytes = memory_total_bytes;
  d.memory_free_bytes = std::min(memory_free_bytes, memory_total_bytes);
  return d;
}

}  // namespace tandem::runtime

#include "planner/cost_model.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace tandem::planner {

Status Request::Validate() const {
  if (prompt_tokens < 1 || prompt_tokens > kMaxPromptTokens) {
    return InvalidArgument("prompt tokens must be in [1, " + std::to_string(kMaxPromptTokens) +
                           "], got " + std::to_string(prompt_tokens));
  }
  if (gen_tokens < 1 || gen_tokens > kMaxGenTokens) {
    return InvalidArgument("generated tokens must be in [1, " + std::to_string(kMaxGenTokens) +
                           "], got " + std::to_string(gen_tokens));
  }
  return OkStatus();
}

double PrefillLayerFlops(const ModelShape& m, int64_t n) {
  const double tokens = static_cast<double>(n);
  return 2.0 * m.MatmulParamsPerLayer() * tokens + 2.0 * tokens * tokens * m.q_dim();
}

double PrefillLayerBytes(const ModelShape& m, int64_t n) {
  const double kv_written = 2.0 * static_cast<double>(n) * m.kv_dim() * m.kv_cache_elem_bytes;
  return m.layer_weight_bytes + kv_written;
}

double PrefillLayerSeconds(const ModelShape& m, const DeviceProfile& d, int64_t n) {
  if (n <= 0) return 0.0;
  return std::max(PrefillLayerFlops(m, n) / d.PrefillFlops(m.dtype),
                  PrefillLayerBytes(m, n) / d.DecodeBandwidth());
}

double DecodeStepBytes(const ModelShape& m, int64_t context) {
  return m.step_weight_bytes + static_cast<double>(context) * m.KvCacheBytesPerToken();
}

double DecodeStepFlops(const ModelShape& m, int64_t context) {
  const double matmul = 2.0 * (m.n_layers * static_cast<double>(m.MatmulParamsPerLayer()) +
                               static_cast<double>(m.EmbeddingParams()));  // + LM head
  const double attention = 4.0 * static_cast<double>(context) * m.q_dim() * m.n_layers;
  return matmul + attention;
}

double DecodeStepSeconds(const ModelShape& m, const DeviceProfile& d, int64_t context) {
  return std::max(DecodeStepBytes(m, context) / d.DecodeBandwidth(),
                  DecodeStepFlops(m, context) / d.PrefillFlops(m.dtype));
}

double KvWireBytesPerLayer(const ModelShape& m, KvCodec codec, int64_t n) {
  return static_cast<double>(n) * m.KvWireBytesPerTokenLayer(codec);
}

double StreamedLastArrival(std::span<const double> compute_end_s, double layer_bytes,
                           const LinkProfile& link) {
  double end = 0.0;  // end_{l−1}; the link is idle before the first layer
  for (const double t : compute_end_s) {
    end = std::max(t, end) + link.MessageSeconds(layer_bytes);
  }
  return end;
}

std::string_view ModeName(Mode mode) {
  switch (mode) {
    case Mode::kColocated: return "alone";
    case Mode::kStreamed: return "streamed";
    case Mode::kAfterPrefill: return "after-prefill";
  }
  return "?";
}

namespace {

// Seconds from prefill start until the decode node holds every layer's KV.
double KvReadySeconds(const ModelShape& m, const Route& r, Prediction& p, int64_t n) {
  if (r.mode == Mode::kColocated) return p.prefill_s;
  const double layer_bytes = KvWireBytesPerLayer(m, r.codec, n);
  p.wire_bytes = layer_bytes * m.n_layers;
  p.layer_wire_s = r.link->MessageSeconds(layer_bytes);
  if (r.mode == Mode::kAfterPrefill) return p.prefill_s + r.link->MessageSeconds(p.wire_bytes);
  std::vector<double> compute_end_s(m.n_layers);
  for (int l = 0; l < m.n_layers; ++l) compute_end_s[l] = (l + 1) * p.layer_compute_s;
  return StreamedLastArrival(compute_end_s, layer_bytes, *r.link);
}

}  // namespace

Prediction Predict(const ModelShape& m, const Route& r, const Request& q) {
  Prediction p;
  const int64_t n = PrefillTokens(q, r.mode);
  p.layer_compute_s = PrefillLayerSeconds(m, *r.prefill, n);
  p.prefill_s = m.n_layers * p.layer_compute_s;
  if (r.mode != Mode::kColocated) p.dispatch_s = r.link->rtt_s / 2;
  p.tail_s = KvReadySeconds(m, r, p, n) - p.prefill_s;
  // Step i runs position prompt − 1 + i and attends to prompt + i positions. Alone, step 0 is the
  // last row of the prefill batch (its LM head, a few ms, is left out).
  p.first_step_s =
      r.mode == Mode::kColocated ? 0.0 : DecodeStepSeconds(m, *r.decode, q.prompt_tokens);
  double later_s = 0.0;
  for (int64_t i = 1; i < q.gen_tokens; ++i) {
    later_s += DecodeStepSeconds(m, *r.decode, q.prompt_tokens + i);
  }
  p.tpot_s = q.gen_tokens > 1 ? later_s / static_cast<double>(q.gen_tokens - 1) : 0.0;
  p.generation_s = p.first_step_s + later_s;
  p.ttft_s = p.dispatch_s + p.prefill_s + p.tail_s + p.first_step_s;
  p.total_s = p.ttft_s + later_s;
  return p;
}

std::string_view NMinFormName(NMinForm form) {
  switch (form) {
    case NMinForm::kFullCausal: return "full (matmuls + causal attention, with alpha)";
    case NMinForm::kFullDense: return "full (matmuls + dense attention)";
    case NMinForm::kAttentionOnly: return "attention-only (public write-ups)";
  }
  return "?";
}

double NMin(const ModelShape& m, const OverlapInputs& in, NMinForm form) {
  // Per layer, per token: compute (2·P_l + c·n·d)/F against wire 2·n_kv·d_h·b/B, plus α once.
  const double wire_per_token = 2.0 * m.kv_dim() * in.kv_elem_bytes / in.link_bandwidth;
  double c = 4.0, matmul_per_token = 0.0, alpha = 0.0;
  switch (form) {
    case NMinForm::kFullCausal:
      c = 2.0;
      matmul_per_token = 2.0 * m.MatmulParamsPerLayer() / in.flops;
      alpha = in.alpha_s;
      break;
    case NMinForm::kFullDense: matmul_per_token = 2.0 * m.MatmulParamsPerLayer() / in.flops; break;
    case NMinForm::kAttentionOnly: break;
  }
  // Smallest n ≥ 0 with a·n² + b·n ≥ α, where a = c·d/F > 0 and b = matmul − wire per token.
  const double a = c * m.q_dim() / in.flops;
  const double b = matmul_per_token - wire_per_token;
  if (alpha <= 0.0) return std::max(0.0, -b / a);
  return (-b + std::sqrt(b * b + 4.0 * a * alpha)) / (2.0 * a);
}

double GemmFlopsPerKvByte(const ModelShape& m, double kv_elem_bytes) {
  return static_cast<double>(m.MatmulParamsPerLayer()) / (m.kv_dim() * kv_elem_bytes);
}

}  // namespace tandem::planner

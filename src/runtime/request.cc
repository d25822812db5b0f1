#include "runtime/request.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>

#include "base/clock.h"

namespace tandem::runtime {

std::string_view PlacementModeName(PlacementMode mode) {
  switch (mode) {
    case PlacementMode::kLocal: return "local";
    case PlacementMode::kStreamed: return "streamed";
    case PlacementMode::kAfterPrefill: return "after-prefill";
  }
  return "?";
}

StatusOr<PlacementMode> ParsePlacementMode(std::string_view name) {
  if (name == "local") return PlacementMode::kLocal;
  if (name == "streamed") return PlacementMode::kStreamed;
  if (name == "after-prefill") return PlacementMode::kAfterPrefill;
  return InvalidArgument("unknown placement mode '" + std::string(name) +
                         "' (local, streamed, after-prefill)");
}

namespace {

double Sec(int64_t ns) { return ns / 1e9; }

// Fills the transfer part of the trace from the frames P sent (P clock -> ours by the offset).
// A frame's wire time runs from when it could start (P began sending it, and the previous frame
// had arrived) to when it arrived here: socket buffers make P's own send times too short.
void TraceTransfer(const RemotePrefillResult& r, int64_t arrival_ns, int64_t offset_ns,
                   RequestTrace& t) {
  int64_t last_compute = 0;
  int64_t wire_ns = 0;
  int64_t prev_received = 0;
  for (const FrameTiming& f : r.frames) {
    const auto local = [&](int64_t p_ns) { return Sec(p_ns - offset_ns - arrival_ns); };
    t.frames.push_back({f.layer, f.t0, f.t1, f.bytes, local(f.compute_done_ns),
                        local(f.send_start_ns), local(f.send_end_ns),
                        Sec(f.received_ns - arrival_ns)});
    last_compute = std::max(last_compute, f.compute_done_ns - offset_ns);
    const int64_t start = std::max(f.send_start_ns - offset_ns, prev_received);
    wire_ns += std::max<int64_t>(0, f.received_ns - start);
    prev_received = f.received_ns;
  }
  t.kv_bytes = r.bytes;
  t.prefill_s = Sec(r.prefill_end_ns - r.prefill_start_ns);
  t.exposed_tail_s = std::max(0.0, Sec(r.done_ns - last_compute));
  t.transfer_s = Sec(wire_ns);
  t.hidden_fraction =
      t.transfer_s > 0 ? std::clamp(1.0 - t.exposed_tail_s / t.transfer_s, 0.0, 1.0) : 0.0;
  t.link_gb_per_s = t.transfer_s > 0 ? r.bytes / t.transfer_s / 1e9 : 0;
  t.clock_offset_ms = offset_ns / 1e6;
}

}  // namespace

StatusOr<RequestResult> RunRequest(const model::LlamaModel& model, const RequestSpec& spec,
                                   const Placement& placement, const NodeContext& node,
                                   const model::TokenFn& on_token) {
  const int64_t arrival = NowNs();
  const int64_t n = static_cast<int64_t>(spec.prompt.size());
  if (n == 0) return InvalidArgument("the prompt is empty");
  const int64_t want_ctx = spec.n_ctx > 0 ? spec.n_ctx : n + std::max(spec.gen.n_predict, 0) + 1;
  ASSIGN_OR_RETURN(
      kv::KvCache cache,
      kv::KvCache::Create(model::KvLayoutFor(model.config(), want_ctx), node.kv_precision));
  RequestResult out;
  RequestTrace& t = out.trace;
  t.id = spec.id;
  t.placement = PlacementModeName(placement.mode);
  t.placement_reason = placement.reason;
  t.predicted_ttft_s = placement.predicted_ttft_s;
  t.predicted_total_s = placement.predicted_total_s;
  t.decode_node = node.node_id;
  t.prefill_node = node.node_id;
  t.n_prompt = n;
  t.codec = KvCodecName(placement.codec);

  int64_t n_cached = 0;
  if (placement.mode != PlacementMode::kLocal && n >= 2 && n < want_ctx) {
    RemotePrefillOptions ro;
    ro.host = placement.prefill_host;
    ro.data_port = placement.prefill_data_port;
    ro.request_id = spec.id;
    ro.node_id = node.node_id;
    ro.cluster_key = node.cluster_key;
    ro.mode = placement.mode == PlacementMode::kStreamed ? transport::PrefillMode::kStreamed
                                                         : transport::PrefillMode::kAfterPrefill;
    ro.codec = placement.codec;
    ro.chunk_tokens = spec.chunk_tokens;
    auto remote = RemotePrefill(model, std::span(spec.prompt).subspan(0, n - 1), cache, ro);
    if (remote.ok()) {
      n_cached = n - 1;
      t.prefill_node =
          placement.prefill_node_id.empty() ? remote->peer_node_id : placement.prefill_node_id;
      TraceTransfer(*remote, arrival, placement.clock_offset_ns, t);
    } else {
      t.fallback_reason = remote.status().ToString();
      t.placement += " (fell back to local prefill)";
    }
  }

  model::GenerateOptions gen = spec.gen;
  gen.forward.pool = node.pool;
  std::optional<Pacer> pacer;
  if (node.emulation.enabled()) {
    pacer.emplace(model, node.emulation);
    gen.observer = &*pacer;
  }
  int64_t first_token_ns = 0;
  auto tap = [&](int32_t id) {
    if (first_token_ns == 0) first_token_ns = NowNs();
    return on_token ? on_token(id) : true;
  };
  ASSIGN_OR_RETURN(out.gen, model::GenerateFrom(model, cache, spec.prompt, n_cached, gen, tap));
  const int64_t end = NowNs();
  t.n_generated = static_cast<int64_t>(out.gen.generated.size());
  t.ttft_s = Sec(first_token_ns - arrival);
  t.total_s = Sec(end - arrival);
  t.tpot_s = t.n_generated > 1 ? Sec(end - first_token_ns) / (t.n_generated - 1) : 0;
  t.tokens_per_s = t.tpot_s > 0 ? 1.0 / t.tpot_s : 0;
  if (n_cached == 0) t.prefill_s = out.gen.prefill_s;
  if (pacer) t.emulation_saturated = pacer->saturated();
  return out;
}

std::string RequestTrace::ToJson() const {
  nlohmann::json j = {
      {"id", id},
      {"placement", placement},
      {"placement_reason", placement_reason},
      {"predicted_ttft_s", predicted_ttft_s},
      {"predicted_total_s", predicted_total_s},
      {"prefill_node", prefill_node},
      {"decode_node", decode_node},
      {"fallback_reason", fallback_reason},
      {"codec", codec},
      {"n_prompt", n_prompt},
      {"n_generated", n_generated},
      {"ttft_s", ttft_s},
      {"tpot_s", tpot_s},
      {"total_s", total_s},
      {"prefill_s", prefill_s},
      {"tokens_per_s", tokens_per_s},
      {"exposed_tail_s", exposed_tail_s},
      {"transfer_s", transfer_s},
      {"hidden_fraction", hidden_fraction},
      {"link_gb_per_s", link_gb_per_s},
      {"kv_bytes", kv_bytes},
      {"clock_offset_ms", clock_offset_ms},
      {"emulation_saturated_layers", emulation_saturated},
  };
  j["frames"] = nlohmann::json::array();
  for (const TraceFrame& f : frames) {
    j["frames"].push_back({{"layer", f.layer},
                           {"t0", f.t0},
                           {"t1", f.t1},
                           {"bytes", f.bytes},
                           {"compute_done_s", f.compute_done_s},
                           {"send_start_s", f.send_start_s},
                           {"send_end_s", f.send_end_s},
                           {"received_s", f.received_s}});
  }
  return j.dump();
}

std::string RequestTrace::LogLine() const {
  char buf[512];
  std::snprintf(buf, sizeof(buf),
                "request=%s placement=%s prefill_node=%s decode_node=%s prompt=%lld gen=%lld "
                "ttft_s=%.3f tpot_ms=%.1f total_s=%.3f kv_bytes=%llu tail_ms=%.1f hidden=%.2f "
                "link_gbps=%.4f",
                id.c_str(), placement.c_str(), prefill_node.c_str(), decode_node.c_str(),
                static_cast<long long>(n_prompt), static_cast<long long>(n_generated), ttft_s,
                tpot_s * 1e3, total_s, static_cast<unsigned long long>(kv_bytes),
                exposed_tail_s * 1e3, hidden_fraction, link_gb_per_s);
  std::string s = buf;
  if (!fallback_reason.empty()) s += " fallback=\"" + fallback_reason + "\"";
  return s;
}

}  // namespace tandem::runtime

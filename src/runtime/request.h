// Executes one request on the node that owns it (the decode node): colocated, or with the
// prompt prefilled by another node (streamed or after-prefill), falling back to a local prefill
// when the remote one fails. Produces the request's trace.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/thread_pool.h"
#include "kv/kv_codec.h"
#include "model/generate.h"
#include "model/llama_model.h"
#include "runtime/emulation.h"
#include "runtime/kv_stream.h"

namespace tandem::runtime {

enum class PlacementMode { kLocal, kStreamed, kAfterPrefill };
std::string_view PlacementModeName(PlacementMode mode);  // "local", "streamed", "after-prefill"
StatusOr<PlacementMode> ParsePlacementMode(std::string_view name);

struct Placement {
  PlacementMode mode = PlacementMode::kLocal;
  std::string prefill_node_id;  // for the trace
  std::string prefill_host;
  uint16_t prefill_data_port = 0;
  kv::KvCodec codec = kv::KvCodec::kF16;
  int64_t clock_offset_ns = 0;  // prefill node's clock minus ours
  std::string reason;           // why this placement (from the caller or planner)
  double predicted_ttft_s = 0;  // the planner's prediction, when it chose
  double predicted_total_s = 0;
};

struct NodeContext {
  std::string node_id;
  std::string cluster_key;
  DeviceEmulation emulation;
  kv::KvPrecision kv_precision = kv::KvPrecision::kF16;
  base::ThreadPool* pool = nullptr;  // compute threads (not owned); null: one thread
};

struct RequestSpec {
  std::string id;
  std::vector<int32_t> prompt;
  model::GenerateOptions gen;
  uint32_t chunk_tokens = 0;  // remote prefill chunk; 0: whole prompt
  int64_t n_ctx = 0;          // 0: prompt + n_predict
};

// One KvLayer frame on this node's clock, relative to the request's arrival, in seconds.
struct TraceFrame {
  int layer = 0;
  int64_t t0 = 0, t1 = 0;
  uint64_t bytes = 0;
  double compute_done_s = 0, send_start_s = 0, send_end_s = 0, received_s = 0;
};

struct RequestTrace {
  std::string id;
  std::string placement;  // "local", "streamed", "after-prefill"
  std::string placement_reason;
  double predicted_ttft_s = 0;
  double predicted_total_s = 0;
  std::string prefill_node;
  std::string decode_node;
  std::string fallback_reason;  // non-empty when a remote prefill failed and we prefilled here
  std::string codec;
  int64_t n_prompt = 0;
  int64_t n_generated = 0;
  double ttft_s = 0;  // arrival to first token
  double tpot_s = 0;  // per later token
  double total_s = 0;
  double prefill_s = 0;        // the prefill node's prompt evaluation
  double tokens_per_s = 0;     // decode rate after the first token
  double exposed_tail_s = 0;   // prefill node's last layer done -> all KV here
  double transfer_s = 0;       // sum of the frames' wire times (see TraceTransfer)
  double hidden_fraction = 0;  // 1 - exposed_tail / transfer
  double link_gb_per_s = 0;
  uint64_t kv_bytes = 0;
  double clock_offset_ms = 0;
  int64_t emulation_saturated = 0;  // layers the host could not compute in emulated time
  std::vector<TraceFrame> frames;

  std::string ToJson() const;   // GET /v1/requests/{id}/trace
  std::string LogLine() const;  // one structured line per request
};

struct RequestResult {
  model::GenerateResult gen;
  RequestTrace trace;
};

StatusOr<RequestResult> RunRequest(const model::LlamaModel& model, const RequestSpec& spec,
                                   const Placement& placement, const NodeContext& node,
                                   const model::TokenFn& on_token = {});

}  // namespace tandem::runtime

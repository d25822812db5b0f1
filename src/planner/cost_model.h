// The cost model of DESIGN §5 (derivation and checks: shared/reference/cost-model.md). Pure
// arithmetic on profiles; the planner ranks placements with it and the simulator times its
// events with it, so the two cannot disagree.
//
// Accounting of one request of n prompt tokens and g generated tokens (DESIGN §4):
//   - the prefill computes the first n − 1 prompt tokens, layer by layer;
//   - the decode node runs the last prompt token as its first decode step, which yields the
//     first generated token: TTFT = [dispatch] + prefill + exposed transfer + step(n);
//   - then g − 1 more steps: total = TTFT + (g − 1)·TPOT, and "generation" = all g steps.
// Colocated runs use the same accounting, so they compare like for like with split ones.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "base/status.h"
#include "planner/dtypes.h"
#include "planner/model_shape.h"
#include "planner/profiles.h"

namespace tandem::planner {

// Bounds on a request, checked before anything loops over its tokens.
inline constexpr int64_t kMaxPromptTokens = 1LL << 24;
inline constexpr int64_t kMaxGenTokens = 1LL << 22;

struct Request {
  int64_t prompt_tokens = 0;  // n ≥ 1
  int64_t gen_tokens = 0;     // g ≥ 1
  Status Validate() const;
};

// One layer of prefill over n tokens: 2·P_l·n matmul FLOPs + 2·n²·d causal attention FLOPs
// (QKᵀ and PV over the visible half, d = n_heads·d_h).
double PrefillLayerFlops(const ModelShape& m, int64_t n);
// Bytes one layer of prefill must move at least: its weights once and the KV it writes.
double PrefillLayerBytes(const ModelShape& m, int64_t n);
// Roofline: max(FLOPs / F[dtype], bytes / B) seconds. Long prompts are compute-bound; a short
// one still reads every weight once.
double PrefillLayerSeconds(const ModelShape& m, const DeviceProfile& d, int64_t n);

// One decode step at context c (the new token attends to c positions):
// bytes = step weights + KV cache of c tokens; FLOPs = 2 per matmul weight + 4·c·d per layer.
double DecodeStepBytes(const ModelShape& m, int64_t context);
double DecodeStepFlops(const ModelShape& m, int64_t context);
// Roofline max(bytes / B, FLOPs / F[dtype]); bandwidth-bound on every device we know.
double DecodeStepSeconds(const ModelShape& m, const DeviceProfile& d, int64_t context);

// KV of one layer for n tokens on the wire: 2·n·n_kv·d_h·b bytes.
double KvWireBytesPerLayer(const ModelShape& m, KvCodec codec, int64_t n);

// When the KV of the last layer reaches the decode node, given each layer's compute end (seconds
// from prefill start, ascending) and equal per-layer messages: send_l starts at
// max(t_l, end_{l−1}) and lasts α + bytes/B.
double StreamedLastArrival(std::span<const double> compute_end_s, double layer_bytes,
                           const LinkProfile& link);

enum class Mode { kColocated, kStreamed, kAfterPrefill };

// Tokens the prefill computes.
inline int64_t PrefillTokens(const Request& r, Mode mode) {
  // A node alone runs the whole prompt as one batch, whose last row gives the first token;
  // split, the prefill node sends the KV of all but the last token and the decode node runs that
  // one as its first step.
  return mode == Mode::kColocated ? r.prompt_tokens : r.prompt_tokens - 1;
}

std::string_view ModeName(Mode mode);  // "alone", "streamed", "after-prefill"

// Where a request runs: prefill device, decode device (equal when colocated), how the KV moves.
struct Route {
  const DeviceProfile* prefill = nullptr;
  const DeviceProfile* decode = nullptr;
  const LinkProfile* link = nullptr;  // null when colocated
  Mode mode = Mode::kColocated;
  KvCodec codec = KvCodec::kF16;  // wire codec; unused when colocated
};

struct Prediction {
  double dispatch_s = 0;       // the request reaching the prefill node: RTT / 2 (split only)
  double prefill_s = 0;        // all layers of prefill on the prefill device
  double layer_compute_s = 0;  // one layer of that prefill
  double layer_wire_s = 0;     // one layer's KV message on the link (split only)
  double wire_bytes = 0;       // KV bytes over the link, all layers
  double tail_s = 0;           // exposed transfer: prefill end → last KV in at the decode node
  double first_step_s = 0;     // the decode step that yields the first token
  double ttft_s = 0;           // dispatch + prefill + tail + first step
  double tpot_s = 0;           // mean of the g − 1 later steps (0 when g = 1)
  double generation_s = 0;     // all g decode steps
  double total_s = 0;          // TTFT + (g − 1)·TPOT
};

// Predicts a request on a route. The route's pointers must be set (link unless colocated).
Prediction Predict(const ModelShape& m, const Route& route, const Request& request);

// n_min: the prompt length above which a layer's compute hides its KV message, in three forms.
enum class NMinForm {
  kFullCausal,     // DESIGN §5: matmul FLOPs + causal attention (c = 2), with α
  kFullDense,      // the same with dense attention (c = 4), as cost-model.md §2 tabulates
  kAttentionOnly,  // the public write-ups: n* = (F/B)·n_kv·d_h·b / (2d), no matmuls, α = 0
};
std::string_view NMinFormName(NMinForm form);

struct OverlapInputs {
  double flops = 0;           // F of the prefill device, FLOP/s
  double link_bandwidth = 0;  // B of the link, bytes/s
  double alpha_s = 0;         // per-message cost (full forms only)
  double kv_elem_bytes = 0;   // b, bytes per KV element on the wire
};

// Smallest n ≥ 0 with (2·P_l·n + c·n²·d)/F ≥ α + 2·n_kv·d_h·b·n/B (tokens, not rounded).
double NMin(const ModelShape& m, const OverlapInputs& in, NMinForm form);
// Matmul FLOPs per KV wire byte, P_l / (n_kv·d_h·b): if it is ≥ F/B, any prompt hides (α = 0).
double GemmFlopsPerKvByte(const ModelShape& m, double kv_elem_bytes);

}  // namespace tandem::planner

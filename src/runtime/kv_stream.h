// The two ends of a disaggregated prefill over the KV wire protocol (transport/frame.h).
//   Prefill node P: ServePrefill() answers one connection: handshake, prefill, KvLayer frames.
//   Decode node D:  RemotePrefill() asks P and receives the frames straight into its KvCache.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/thread_pool.h"
#include "kv/kv_cache.h"
#include "kv/kv_codec.h"
#include "model/llama_model.h"
#include "runtime/emulation.h"
#include "transport/frame.h"
#include "transport/tcp.h"

namespace tandem::runtime {

// The Hello fields a node states about its model.
transport::Hello LocalHello(const model::LlamaModel& model, const std::string& node_id,
                            kv::KvCodec codec);

struct ServePrefillOptions {
  std::string node_id;
  std::string cluster_key;           // empty: refuse remote work
  DeviceEmulation emulation;         // pace each layer when enabled
  double link_bytes_per_s = 0;       // token-bucket link shaping on the frames we send; 0: off
  base::ThreadPool* pool = nullptr;  // compute threads (not owned); null: one thread
};

// What P did for one request (for its log line).
struct ServedPrefill {
  std::string request_id;
  std::string peer;
  int64_t n_tokens = 0;
  uint64_t bytes = 0;
  double prefill_s = 0;
  double stream_s = 0;
  int64_t emulation_saturated = 0;  // layers the host computed slower than the emulated device
  int64_t emulation_paced = 0;
};

// Serves one connection to completion. Errors are also sent to the peer as an Error frame.
StatusOr<ServedPrefill> ServePrefill(const model::LlamaModel& model, transport::FrameConn& conn,
                                     const ServePrefillOptions& opts);

struct RemotePrefillOptions {
  std::string host;
  uint16_t data_port = 0;
  std::string request_id;
  std::string node_id;
  std::string cluster_key;
  transport::PrefillMode mode = transport::PrefillMode::kStreamed;
  kv::KvCodec codec = kv::KvCodec::kF16;
  uint32_t chunk_tokens = 0;                 // 0: one chunk
  std::chrono::milliseconds timeout{30000};  // no progress for this long: give up
};

// One KvLayer frame as both sides saw it. P's times are on P's clock.
struct FrameTiming {
  int layer = 0;
  int64_t t0 = 0, t1 = 0;
  uint64_t bytes = 0;
  int64_t compute_done_ns = 0;  // P
  int64_t send_start_ns = 0;    // P
  int64_t send_end_ns = 0;      // P
  int64_t received_ns = 0;      // D
};

struct RemotePrefillResult {
  std::vector<FrameTiming> frames;
  int64_t request_sent_ns = 0;   // D
  int64_t done_ns = 0;           // D: the last frame decoded and End verified
  int64_t prefill_start_ns = 0;  // P
  int64_t prefill_end_ns = 0;    // P
  uint64_t bytes = 0;            // K and V bytes on the wire
  std::string peer_node_id;
};

// Asks P to prefill `tokens` (positions [0, n)) and writes every layer's K/V rows into `cache`.
// Fails (and the caller falls back) on refusal, fingerprint mismatch, lost peer, timeout or a
// wrong checksum.
StatusOr<RemotePrefillResult> RemotePrefill(const model::LlamaModel& model,
                                            std::span<const int32_t> tokens, kv::KvCache& cache,
                                            const RemotePrefillOptions& opts);

}  // namespace tandem::runtime

// The reference table, measured on real nodes: prefill node alone, decode node alone, the pair
// after-prefill and streamed (one request each over HTTP), and the checks users rely on.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"

namespace tandem::tools {

struct ClusterBenchOptions {
  std::string prefill_node;  // host:port (HTTP)
  std::string decode_node;
  int prompt_tokens = 1024;
  int gen = 32;
  std::string codec = "f16";
  uint32_t chunk_tokens = 0;
  uint64_t seed = 1;  // prompt ids
};

struct BenchFrame {
  int layer = 0;
  double compute_done_s = 0, send_start_s = 0, send_end_s = 0, received_s = 0;
};

struct BenchRow {
  std::string name;         // "prefill node alone", ...
  std::string placement;    // as the trace reports it
  double prefill_s = 0;     // the prefill node's prompt evaluation (as the reference table)
  double generation_s = 0;  // the rest: KV tail, first step on the decode node, later tokens
  double total_s = 0;
  double ttft_s = 0;  // arrival to first token
  double tokens_per_s = 0;
  double exposed_tail_s = 0;
  double transfer_s = 0;
  double hidden_fraction = 0;
  double link_gb_per_s = 0;
  uint64_t kv_bytes = 0;
  std::string fallback_reason;
  std::vector<int32_t> generated;
  std::vector<BenchFrame> frames;
};

struct ClusterBenchResult {
  ClusterBenchOptions options;
  std::vector<BenchRow> rows;  // prefill alone, decode alone, after-prefill, streamed
  double speedup_vs_slowest = 0;
  double speedup_vs_fastest = 0;
  bool tokens_identical = false;  // all four runs generated the same ids (greedy)
  double prefill_match = 0;       // pair's prefill / prefill node alone's
  double decode_match = 0;        // pair's decode rate / decode node alone's

  std::string Table() const;
  std::string Timeline(int width = 72) const;  // the streamed run, per layer
  std::string ToJson() const;
};

StatusOr<ClusterBenchResult> RunClusterBench(const ClusterBenchOptions& opts);

}  // namespace tandem::tools

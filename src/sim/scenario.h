// The tables `tandem sim` prints: each device alone against each ordered pair for one request
// (the write-up's measured table), the overlap-threshold table in both forms, and a stream of
// requests on one placement.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "planner/placement.h"
#include "sim/simulator.h"

namespace tandem::sim {

struct ComparisonRow {
  std::string label;  // "dgx-spark alone", "dgx-spark → m3-ultra, streamed, F16 KV"
  planner::Placement placement;
  RequestTrace trace;    // one request on an idle cluster
  double speedup = 0;    // baseline total / this total
  bool fits = true;      // memory feasibility per the planner
  std::string fit_note;  // why not, when !fits
};

struct Comparison {
  std::vector<ComparisonRow> rows;  // every device alone, then every ordered pair
  std::string baseline;             // label of the slowest device alone (speedup 1.0)
};

// Simulates one request on every device alone and on every ordered pair streamed with `codec`.
StatusOr<Comparison> CompareSetups(const planner::ModelShape& m, const planner::Topology& t,
                                   const planner::Request& r, planner::KvCodec codec);

struct ThresholdRow {
  std::string model;
  std::string attention;        // "MHA", "GQA 4:1"
  double params_per_layer = 0;  // P_l (matmul)
  double kv_width = 0;          // n_kv·d_h
  double gemm_flops_per_kv_byte = 0;
  double attention_only = 0;  // n*, the write-ups' form (tokens)
  double full_dense = 0;      // n_min with matmuls, c = 4, α = 0
  double full_causal = 0;     // n_min with matmuls, c = 2, with α (DESIGN §5)
};

// n_min of each model for one prefill FLOP/s, link and KV element size (cost-model.md §2).
std::vector<ThresholdRow> ThresholdTable(std::span<const planner::ModelShape> models,
                                         const planner::OverlapInputs& in);

struct StreamSummary {
  SimResult result;
  double mean_ttft_s = 0, max_ttft_s = 0;
  double mean_total_s = 0, max_total_s = 0;
};

// `count` identical requests arriving every `interval_s` seconds, all on `placement`.
StatusOr<StreamSummary> SimulateStream(const planner::ModelShape& m, const planner::Topology& t,
                                       const planner::Request& r,
                                       const planner::Placement& placement, int count,
                                       double interval_s);

}  // namespace tandem::sim

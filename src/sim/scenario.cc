#include "sim/scenario.h"

#include <algorithm>

namespace tandem::sim {

using planner::Mode;

namespace {

ComparisonRow MakeRow(const planner::ModelShape& m, const planner::Topology& t,
                      const planner::Request& r, const planner::Placement& p) {
  ComparisonRow row;
  row.placement = p;
  planner::Candidate c;
  c.placement = p;
  row.label = planner::CandidateLabel(c, t);
  const auto& x = t.devices[p.prefill_device];
  const auto& y = t.devices[p.decode_device];
  if (p.mode == Mode::kColocated) {
    const auto need = planner::ColocatedMemory(m, r);
    row.fits = need.total() <= x.memory_free_bytes;
    if (!row.fits) row.fit_note = x.name + " lacks memory";
  } else {
    const bool x_fits = planner::PrefillMemory(m, r).total() <= x.memory_free_bytes;
    const bool y_fits = planner::DecodeMemory(m, r).total() <= y.memory_free_bytes;
    row.fits = x_fits && y_fits;
    if (!x_fits) row.fit_note = x.name + " lacks memory";
    if (x_fits && !y_fits) row.fit_note = y.name + " lacks memory";
  }
  return row;
}

}  // namespace

StatusOr<Comparison> CompareSetups(const planner::ModelShape& m, const planner::Topology& t,
                                   const planner::Request& r, planner::KvCodec codec) {
  RETURN_IF_ERROR(t.Validate());
  Comparison out;
  const int n = static_cast<int>(t.devices.size());
  for (int i = 0; i < n; ++i) {
    out.rows.push_back(MakeRow(m, t, r, {i, i, Mode::kColocated, planner::KvCodec::kF16}));
  }
  for (int x = 0; x < n; ++x) {
    for (int y = 0; y < n; ++y) {
      if (x == y || t.FindLink(t.devices[x].name, t.devices[y].name) == nullptr) continue;
      out.rows.push_back(MakeRow(m, t, r, {x, y, Mode::kStreamed, codec}));
    }
  }
  for (ComparisonRow& row : out.rows) {
    const SimRequest one{0.0, r, row.placement};
    ASSIGN_OR_RETURN(SimResult result, Simulate(m, t, std::span<const SimRequest>(&one, 1)));
    row.trace = std::move(result.requests[0]);
  }
  // The baseline is the slowest device alone, as the write-up's table (M3 Ultra = 1.0x).
  const ComparisonRow* slowest = &out.rows[0];
  for (int i = 0; i < n; ++i) {
    if (out.rows[i].trace.total_s() > slowest->trace.total_s()) slowest = &out.rows[i];
  }
  out.baseline = slowest->label;
  const double base_s = slowest->trace.total_s();
  for (ComparisonRow& row : out.rows) row.speedup = base_s / row.trace.total_s();
  return out;
}

std::vector<ThresholdRow> ThresholdTable(std::span<const planner::ModelShape> models,
                                         const planner::OverlapInputs& in) {
  std::vector<ThresholdRow> rows;
  for (const planner::ModelShape& m : models) {
    ThresholdRow row;
    row.model = m.name;
    row.attention = m.n_kv_heads == m.n_heads
                        ? "MHA"
                        : "GQA " + std::to_string(m.n_heads / m.n_kv_heads) + ":1";
    row.params_per_layer = static_cast<double>(m.MatmulParamsPerLayer());
    row.kv_width = m.kv_dim();
    row.gemm_flops_per_kv_byte = planner::GemmFlopsPerKvByte(m, in.kv_elem_bytes);
    row.attention_only = planner::NMin(m, in, planner::NMinForm::kAttentionOnly);
    row.full_dense = planner::NMin(m, in, planner::NMinForm::kFullDense);
    row.full_causal = planner::NMin(m, in, planner::NMinForm::kFullCausal);
    rows.push_back(row);
  }
  return rows;
}

StatusOr<StreamSummary> SimulateStream(const planner::ModelShape& m, const planner::Topology& t,
                                       const planner::Request& r,
                                       const planner::Placement& placement, int count,
                                       double interval_s) {
  if (count < 1 || static_cast<size_t>(count) > kMaxSimRequests || !(interval_s >= 0)) {
    return InvalidArgument("a stream needs 1 to " + std::to_string(kMaxSimRequests) +
                           " requests and an interval >= 0 s");
  }
  std::vector<SimRequest> requests;
  for (int i = 0; i < count; ++i) requests.push_back({i * interval_s, r, placement});
  StreamSummary s;
  ASSIGN_OR_RETURN(s.result, Simulate(m, t, requests));
  for (const RequestTrace& q : s.result.requests) {
    s.mean_ttft_s += q.ttft_s() / count;
    s.mean_total_s += q.total_s() / count;
    s.max_ttft_s = std::max(s.max_ttft_s, q.ttft_s());
    s.max_total_s = std::max(s.max_total_s, q.total_s());
  }
  return s;
}

}  // namespace tandem::sim

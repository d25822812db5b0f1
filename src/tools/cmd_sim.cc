// `tandem sim`: the cost model run as a discrete-event simulation on built-in profiles — each
// device alone against each ordered pair, the planner's choice, the overlap-threshold table, and
// optionally a stream of requests. Nothing is computed; every figure is a prediction.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "planner/placement.h"
#include "sim/catalog.h"
#include "sim/scenario.h"
#include "tools/commands.h"

namespace tandem::tools {
namespace {

using nlohmann::json;

struct SimOptions {
  std::string devices = "dgx-spark,m3-ultra";
  std::string link = "10gbe";
  std::string model = "llama-3.1-8b";
  std::string dtype = "f16";
  std::string kv = "f16";
  int64_t prompt_tokens = 8192;
  int64_t gen_tokens = 32;
  int requests = 1;
  double interval_s = 0;
  bool json = false;
};

// What the write-up measured (shared/reference/disaggregated-prefill-decode.md): Llama-3.1-8B
// F16, 8,192-token prompt, 32 generated tokens, 10 GbE. Speedups against the M3 Ultra alone.
struct ReferenceRow {
  const char* label;
  double prefill_s, generation_s, total_s, speedup;
};
constexpr ReferenceRow kReference[] = {
    {"dgx-spark alone", 1.47, 2.87, 4.34, 6.42 / 4.34},
    {"m3-ultra alone", 5.57, 0.85, 6.42, 1.0},
    {"dgx-spark → m3-ultra, streamed, F16 KV", 1.47, 0.85, 2.32, 2.8},
};

// `s` left-aligned in `cols` display columns (UTF-8 continuation bytes take none).
std::string Pad(const std::string& s, size_t cols) {
  size_t width = 0;
  for (const char c : s) width += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return width >= cols ? s : s + std::string(cols - width, ' ');
}
// The models of the write-up's threshold table, and the two we add.
const std::vector<std::string> kThresholdModels = {"llama-2-7b", "llama-3.1-8b", "mistral-7b",
                                                   "llama-3-70b", "qwen-2.5-72b"};

struct Setup {
  planner::ModelShape model;
  planner::Topology topology;
  planner::Request request;
  planner::KvCodec codec = planner::KvCodec::kF16;
  planner::LinkProfile link;  // joins every pair
};

StatusOr<Setup> MakeSetup(const SimOptions& o) {
  Setup s;
  const auto dtype = planner::ParseWeightDtype(o.dtype);
  if (!dtype)
    return InvalidArgument("unknown --dtype '" + o.dtype + "' (f32, f16, bf16, q8_0, q4_0)");
  const auto codec = planner::ParseKvCodec(o.kv);
  if (!codec) return InvalidArgument("unknown --kv '" + o.kv + "' (f16, q8)");
  s.codec = *codec;
  ASSIGN_OR_RETURN(s.model, sim::BuiltinModel(o.model, *dtype));
  ASSIGN_OR_RETURN(s.topology, sim::BuiltinTopology(o.devices, o.link));
  ASSIGN_OR_RETURN(s.link, sim::BuiltinLink(o.link));
  s.request = {o.prompt_tokens, o.gen_tokens};
  RETURN_IF_ERROR(s.request.Validate());
  return s;
}

std::vector<sim::ThresholdRow> Thresholds(const Setup& s, planner::OverlapInputs& in) {
  std::vector<planner::ModelShape> models;
  for (const auto& name : kThresholdModels)
    models.push_back(*sim::BuiltinModel(name, s.model.dtype));
  if (std::find(kThresholdModels.begin(), kThresholdModels.end(), s.model.name) ==
      kThresholdModels.end()) {
    models.push_back(s.model);
  }
  // The write-up's assumptions: the prefill device's peak F16 FLOP/s, the link at line rate,
  // 1-byte KV elements, α → 0.
  in = {s.topology.devices[0].peak(planner::WeightDtype::kF16), s.link.bandwidth, 0.0, 1.0};
  return sim::ThresholdTable(models, in);
}

json DeviceJson(const planner::DeviceProfile& d) {
  return {{"name", d.name},
          {"peak_flops_f16", d.peak(planner::WeightDtype::kF16)},
          {"prefill_efficiency", d.prefill_efficiency},
          {"peak_bandwidth", d.peak_bandwidth},
          {"decode_efficiency", d.decode_efficiency},
          {"memory_total_bytes", d.memory_total_bytes},
          {"memory_free_bytes", d.memory_free_bytes}};
}

json LinkJson(const planner::LinkProfile& l) {
  return {{"name", l.name}, {"bandwidth", l.bandwidth}, {"rtt_s", l.rtt_s}, {"alpha_s", l.alpha_s}};
}

json RowJson(const sim::ComparisonRow& r) {
  return {{"label", r.label},           {"prefill_s", r.trace.prefill_s()},
          {"tail_s", r.trace.tail_s()}, {"generation_s", r.trace.generation_s()},
          {"ttft_s", r.trace.ttft_s()}, {"total_s", r.trace.total_s()},
          {"speedup", r.speedup},       {"fits_in_memory", r.fits},
          {"fit_note", r.fit_note}};
}

json ThresholdJson(const std::vector<sim::ThresholdRow>& rows, const planner::OverlapInputs& in) {
  json j = {{"flops", in.flops},
            {"link_bandwidth", in.link_bandwidth},
            {"alpha_s", in.alpha_s},
            {"kv_elem_bytes", in.kv_elem_bytes},
            {"rows", json::array()}};
  for (const auto& r : rows) {
    j["rows"].push_back({{"model", r.model},
                         {"attention", r.attention},
                         {"params_per_layer", r.params_per_layer},
                         {"kv_width", r.kv_width},
                         {"gemm_flops_per_kv_byte", r.gemm_flops_per_kv_byte},
                         {"attention_only_tokens", r.attention_only},
                         {"full_dense_tokens", r.full_dense},
                         {"full_causal_tokens", r.full_causal}});
  }
  return j;
}

void PrintDevices(const Setup& s) {
  std::printf("%-14s %15s %5s %15s %11s %5s %11s  %s\n", "device", "F16 peak", "eff", "prefill F",
              "peak BW", "eff", "decode B", "memory free / total");
  for (const auto& d : s.topology.devices) {
    std::printf("%-14s %15s %4.0f%% %15s %11s %4.0f%% %11s  %s / %s\n", d.name.c_str(),
                planner::FormatFlops(d.peak(planner::WeightDtype::kF16)).c_str(),
                d.prefill_efficiency * 100,
                planner::FormatFlops(d.PrefillFlops(s.model.dtype)).c_str(),
                planner::FormatBandwidth(d.peak_bandwidth).c_str(), d.decode_efficiency * 100,
                planner::FormatBandwidth(d.DecodeBandwidth()).c_str(),
                planner::FormatBytes(d.memory_free_bytes).c_str(),
                planner::FormatBytes(d.memory_total_bytes).c_str());
  }
  const planner::LinkProfile& l = s.link;
  std::printf("link %s: %s each way, RTT %s, alpha %s per message\n", l.name.c_str(),
              planner::FormatBandwidth(l.bandwidth).c_str(),
              planner::FormatSeconds(l.rtt_s).c_str(), planner::FormatSeconds(l.alpha_s).c_str());
}

// The reference figures beside ours, and the largest relative difference.
void PrintReference(const sim::Comparison& c) {
  double worst = 0;
  std::printf("reference (EXO 1.0 write-up, measured):\n");
  for (const ReferenceRow& ref : kReference) {
    std::printf("  %s %7.2f s %9s %9.2f s %7.2f s %8.2fx\n", Pad(ref.label, 46).c_str(),
                ref.prefill_s, "", ref.generation_s, ref.total_s, ref.speedup);
    for (const auto& r : c.rows) {
      if (r.label != ref.label) continue;
      for (const auto& [ours, theirs] : {std::pair{r.trace.prefill_s(), ref.prefill_s},
                                         {r.trace.generation_s(), ref.generation_s},
                                         {r.trace.total_s(), ref.total_s},
                                         {r.speedup, ref.speedup}}) {
        worst = std::max(worst, std::abs(ours / theirs - 1.0));
      }
    }
  }
  std::printf(
      "largest difference from the reference: %.1f %% (prefill, generation, total, "
      "speedup)\nthe write-up's table prints 1.9x for the Spark row: that is the pair over "
      "the Spark (4.34 / 2.32); over the M3 Ultra baseline the Spark alone is 1.48x\n",
      worst * 100);
}

void PrintComparison(const sim::Comparison& c, bool reference) {
  std::printf("\n%s %9s %9s %11s %9s %9s\n", Pad("configuration", 48).c_str(), "prefill", "tail",
              "generation", "total", "speedup");
  for (const auto& r : c.rows) {
    std::printf("%s %7.2f s %7.3f s %9.2f s %7.2f s %8.2fx%s%s\n", Pad(r.label, 48).c_str(),
                r.trace.prefill_s(), r.trace.tail_s(), r.trace.generation_s(), r.trace.total_s(),
                r.speedup, r.label == c.baseline ? " (baseline)" : "",
                r.fits ? "" : ("  [does not fit: " + r.fit_note + "]").c_str());
  }
  std::printf(
      "tail: KV transfer exposed after prefill; generation: every decode step (the first "
      "yields the first token);\ntotal: prefill + tail + generation (+ RTT/2 to dispatch "
      "a split request)\n");
  if (reference) PrintReference(c);
}

void PrintThresholds(const std::vector<sim::ThresholdRow>& rows, const planner::OverlapInputs& in) {
  std::printf(
      "\nOverlap threshold: prompt tokens above which a layer's compute hides its KV\n"
      "(F = %.0f TFLOP/s, link %.3f GB/s, KV b = %.0f byte, alpha -> 0, as the write-up; "
      "K = 1000 tokens)\n",
      in.flops / 1e12, in.link_bandwidth / 1e9, in.kv_elem_bytes);
  std::printf("%-14s %-8s %9s %9s %14s %15s %11s %11s\n", "model", "attn", "P_l (M)", "n_kv*d_h",
              "GEMM FLOP/B", "attention-only", "full c=4", "full c=2");
  for (const auto& r : rows) {
    std::printf("%-14s %-8s %9.1f %9.0f %14.0f %15.0f %11.0f %11.0f\n", r.model.c_str(),
                r.attention.c_str(), r.params_per_layer / 1e6, r.kv_width, r.gemm_flops_per_kv_byte,
                r.attention_only, r.full_dense, r.full_causal);
  }
  std::printf(
      "attention-only: n* = (F/B)*n_kv*d_h*b/(2d), the write-up's form; full: matmul "
      "FLOPs counted, dense (c=4) or causal (c=2) attention\n");
}

bool IsReference(const SimOptions& o) {
  return o.devices == "dgx-spark,m3-ultra" && o.link == "10gbe" && o.model == "llama-3.1-8b" &&
         o.dtype == "f16" && o.prompt_tokens == 8192 && o.gen_tokens == 32;
}

StatusOr<json> Stream(const Setup& s, const planner::Placement& p, const SimOptions& o) {
  ASSIGN_OR_RETURN(
      auto st, sim::SimulateStream(s.model, s.topology, s.request, p, o.requests, o.interval_s));
  json j = {{"requests", o.requests},
            {"interval_s", o.interval_s},
            {"mean_ttft_s", st.mean_ttft_s},
            {"max_ttft_s", st.max_ttft_s},
            {"mean_total_s", st.mean_total_s},
            {"max_total_s", st.max_total_s},
            {"makespan_s", st.result.makespan_s},
            {"resources", json::array()}};
  for (const auto& r : st.result.resources) {
    j["resources"].push_back(
        {{"name", r.name}, {"busy_s", r.busy_s}, {"utilisation", r.busy_s / st.result.makespan_s}});
  }
  return j;
}

void PrintStream(const json& j, const std::string& label) {
  std::printf("\nStream: %d requests every %.3f s, all on %s\n", j["requests"].get<int>(),
              j["interval_s"].get<double>(), label.c_str());
  std::printf("TTFT mean %.2f s, max %.2f s; end-to-end mean %.2f s, max %.2f s; makespan %.2f s\n",
              j["mean_ttft_s"].get<double>(), j["max_ttft_s"].get<double>(),
              j["mean_total_s"].get<double>(), j["max_total_s"].get<double>(),
              j["makespan_s"].get<double>());
  for (const auto& r : j["resources"]) {
    std::printf("  %s busy %.2f s (%.0f %%)\n", Pad(r["name"].get<std::string>(), 40).c_str(),
                r["busy_s"].get<double>(), 100 * r["utilisation"].get<double>());
  }
}

// Everything `tandem sim` prints, computed once for the text and the JSON forms.
struct Report {
  sim::Comparison comparison;
  std::string winner = "none";  // the planner's choice
  std::string reason;           // its explanation, or why nothing fits
  planner::OverlapInputs overlap;
  std::vector<sim::ThresholdRow> thresholds;
  json stream;  // null unless --requests > 1
};

StatusOr<Report> BuildReport(const Setup& s, const SimOptions& o) {
  Report r;
  ASSIGN_OR_RETURN(r.comparison, sim::CompareSetups(s.model, s.topology, s.request, s.codec));
  auto plan = planner::MakePlan(s.model, s.topology, s.request);
  if (plan.ok()) {
    r.winner = planner::CandidateLabel(plan->candidates[plan->winner], s.topology);
    r.reason = plan->reason;
  } else {
    r.reason = plan.status().message();
  }
  r.thresholds = Thresholds(s, r.overlap);
  if (o.requests > 1) {
    if (!plan.ok()) return plan.status();
    ASSIGN_OR_RETURN(r.stream, Stream(s, plan->candidates[plan->winner].placement, o));
  }
  return r;
}

json ReportJson(const Setup& s, const SimOptions& o, const Report& r) {
  json j = {{"model",
             {{"name", s.model.name},
              {"dtype", planner::WeightDtypeName(s.model.dtype)},
              {"weight_bytes", s.model.weight_bytes},
              {"step_weight_bytes", s.model.step_weight_bytes}}},
            {"prompt_tokens", o.prompt_tokens},
            {"gen_tokens", o.gen_tokens},
            {"kv_codec", planner::KvCodecName(s.codec)},
            {"link", LinkJson(s.link)},
            {"devices", json::array()},
            {"rows", json::array()},
            {"baseline", r.comparison.baseline},
            {"plan", {{"winner", r.winner}, {"reason", r.reason}}},
            {"thresholds", ThresholdJson(r.thresholds, r.overlap)}};
  for (const auto& d : s.topology.devices) j["devices"].push_back(DeviceJson(d));
  for (const auto& row : r.comparison.rows) j["rows"].push_back(RowJson(row));
  if (!r.stream.is_null()) j["stream"] = r.stream;
  return j;
}

void PrintReport(const Setup& s, const SimOptions& o, const Report& r) {
  std::printf(
      "tandem sim: %s (%s weights, %s), %lld-token prompt, %lld generated, %s KV on the "
      "wire\nsimulated from the cost model on the profiles below, not measured\n\n",
      s.model.name.c_str(), o.dtype.c_str(), planner::FormatBytes(s.model.weight_bytes).c_str(),
      static_cast<long long>(o.prompt_tokens), static_cast<long long>(o.gen_tokens),
      std::string(planner::KvCodecName(s.codec)).c_str());
  PrintDevices(s);
  PrintComparison(r.comparison, IsReference(o));
  std::printf("\nplanner's choice: %s\n", r.reason.c_str());
  PrintThresholds(r.thresholds, r.overlap);
  if (!r.stream.is_null()) PrintStream(r.stream, r.winner);
}

int RunSim(const SimOptions& o) {
  auto setup = MakeSetup(o);
  if (!setup.ok()) return ReportError(setup.status());
  auto report = BuildReport(*setup, o);
  if (!report.ok()) return ReportError(report.status());
  if (o.json) {
    std::printf("%s\n", ReportJson(*setup, o, *report).dump(2).c_str());
  } else {
    PrintReport(*setup, o, *report);
  }
  return 0;
}

std::string Joined(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

}  // namespace

void AddSimCommand(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<SimOptions>();
  CLI::App* cmd = app.add_subcommand(
      "sim", "Simulate requests on built-in device and link profiles (no compute)");
  cmd->add_option("--devices", o->devices,
                  "Comma-separated devices; the first is the reference prefill device (" +
                      Joined(sim::BuiltinDeviceNames()) + ")")
      ->capture_default_str();
  cmd->add_option("--link", o->link,
                  "Link joining every pair (" + Joined(sim::BuiltinLinkNames()) + ")")
      ->capture_default_str();
  cmd->add_option("--model", o->model, "Model shape (" + Joined(sim::BuiltinModelNames()) + ")")
      ->capture_default_str();
  cmd->add_option("--dtype", o->dtype, "Weight type: f32, f16, bf16, q8_0, q4_0")
      ->capture_default_str();
  cmd->add_option("--kv", o->kv, "KV wire codec of the pairs: f16, q8")->capture_default_str();
  cmd->add_option("--prompt-tokens", o->prompt_tokens, "Prompt length")->capture_default_str();
  cmd->add_option("--gen", o->gen_tokens, "Tokens generated")->capture_default_str();
  cmd->add_option("--requests", o->requests,
                  "Simulate a stream of this many requests on the "
                  "planner's placement")
      ->capture_default_str();
  cmd->add_option("--interval-s", o->interval_s, "Seconds between arrivals in the stream")
      ->capture_default_str();
  cmd->add_flag("--json", o->json, "Print one JSON object");
  cmd->callback([o, &exit_code] { exit_code = RunSim(*o); });
}

}  // namespace tandem::tools

// `tandem plan`: which node prefills and which decodes a request, and why — every candidate's
// prediction, the winner with its reason, and n_min for each pair, link and KV codec.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "model/llama_model.h"
#include "planner/placement.h"
#include "runtime/plan_inputs.h"
#include "sim/catalog.h"
#include "sim/profile_json.h"
#include "tools/commands.h"

namespace tandem::tools {
namespace {

using nlohmann::json;

struct PlanOptions {
  std::string model;        // GGUF file
  std::string model_shape;  // or a built-in shape
  std::string dtype = "f16";
  int64_t prompt_tokens = 0;
  int64_t gen_tokens = 32;
  std::string profiles;  // topology JSON file
  std::string devices = "dgx-spark,m3-ultra";
  std::string link = "10gbe";
  bool json = false;
};

// `s` left-aligned in `cols` display columns (UTF-8 continuation bytes take none).
std::string Pad(const std::string& s, size_t cols) {
  size_t width = 0;
  for (const char c : s) width += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return width >= cols ? s : s + std::string(cols - width, ' ');
}

StatusOr<planner::ModelShape> ShapeFromGguf(const std::string& path) {
  ASSIGN_OR_RETURN(auto model, model::LlamaModel::Load(path));
  return runtime::PlannerShape(*model);
}

StatusOr<planner::ModelShape> LoadShape(const PlanOptions& o) {
  if (o.model.empty() == o.model_shape.empty()) {
    return InvalidArgument("give exactly one of -m MODEL.gguf and --model-shape NAME");
  }
  if (!o.model.empty()) return ShapeFromGguf(o.model);
  const auto dtype = planner::ParseWeightDtype(o.dtype);
  if (!dtype)
    return InvalidArgument("unknown --dtype '" + o.dtype + "' (f32, f16, bf16, q8_0, q4_0)");
  return sim::BuiltinModel(o.model_shape, *dtype);
}

StatusOr<planner::Topology> LoadTopology(const PlanOptions& o) {
  if (o.profiles.empty()) return sim::BuiltinTopology(o.devices, o.link);
  std::ifstream f(o.profiles, std::ios::binary);
  if (!f) return NotFound(o.profiles + ": cannot open the profiles file");
  std::stringstream ss;
  ss << f.rdbuf();
  return sim::ParseTopologyJson(ss.str(), o.profiles);
}

struct NMinRow {
  std::string prefill, decode, link;
  planner::KvCodec codec;
  planner::OverlapInputs in;
  double full = 0, full_dense = 0, attention_only = 0;
};

// n_min for every ordered pair with a link and every codec, at the prefill device's effective F.
std::vector<NMinRow> NMinTable(const planner::ModelShape& m, const planner::Topology& t) {
  std::vector<NMinRow> rows;
  for (const auto& x : t.devices) {
    for (const auto& y : t.devices) {
      const planner::LinkProfile* l = t.FindLink(x.name, y.name);
      if (&x == &y || l == nullptr) continue;
      for (const planner::KvCodec codec : planner::kAllKvCodecs) {
        NMinRow r{x.name, y.name, l->name, codec, {}};
        r.in = {x.PrefillFlops(m.dtype), l->bandwidth, l->alpha_s,
                planner::KvBytesPerElement(codec, m.head_dim)};
        r.full = planner::NMin(m, r.in, planner::NMinForm::kFullCausal);
        r.full_dense = planner::NMin(m, r.in, planner::NMinForm::kFullDense);
        r.attention_only = planner::NMin(m, r.in, planner::NMinForm::kAttentionOnly);
        rows.push_back(r);
      }
    }
  }
  return rows;
}

json CandidateJson(const planner::Candidate& c, const planner::Topology& t) {
  const planner::Prediction& p = c.prediction;
  return {{"label", planner::CandidateLabel(c, t)},
          {"prefill_device", t.devices[c.placement.prefill_device].name},
          {"decode_device", t.devices[c.placement.decode_device].name},
          {"mode", planner::ModeName(c.placement.mode)},
          {"kv_codec", planner::KvCodecName(c.placement.codec)},
          {"feasible", c.feasible},
          {"infeasible_reason", c.infeasible_reason},
          {"dispatch_s", p.dispatch_s},
          {"prefill_s", p.prefill_s},
          {"tail_s", p.tail_s},
          {"ttft_s", p.ttft_s},
          {"tpot_s", p.tpot_s},
          {"generation_s", p.generation_s},
          {"total_s", p.total_s},
          {"wire_bytes", p.wire_bytes},
          {"layer_compute_s", p.layer_compute_s},
          {"layer_wire_s", p.layer_wire_s}};
}

json PlanJson(const planner::ModelShape& m, const planner::Topology& t, const PlanOptions& o,
              const planner::Plan& plan, const std::vector<NMinRow>& nmin) {
  json j = {{"model",
             {{"name", m.name},
              {"dtype", planner::WeightDtypeName(m.dtype)},
              {"n_layers", m.n_layers},
              {"params_per_layer", m.MatmulParamsPerLayer()},
              {"weight_bytes", m.weight_bytes},
              {"step_weight_bytes", m.step_weight_bytes},
              {"kv_cache_bytes_per_token", m.KvCacheBytesPerToken()}}},
            {"prompt_tokens", o.prompt_tokens},
            {"gen_tokens", o.gen_tokens},
            {"topology", json::parse(sim::TopologyToJson(t))},
            {"candidates", json::array()},
            {"winner", planner::CandidateLabel(plan.candidates[plan.winner], t)},
            {"reason", plan.reason},
            {"n_min", json::array()}};
  for (const auto& c : plan.candidates) j["candidates"].push_back(CandidateJson(c, t));
  for (const auto& r : nmin) {
    j["n_min"].push_back({{"prefill_device", r.prefill},
                          {"decode_device", r.decode},
                          {"link", r.link},
                          {"kv_codec", planner::KvCodecName(r.codec)},
                          {"flops", r.in.flops},
                          {"link_bandwidth", r.in.link_bandwidth},
                          {"alpha_s", r.in.alpha_s},
                          {"kv_elem_bytes", r.in.kv_elem_bytes},
                          {"full_tokens", r.full},
                          {"full_dense_tokens", r.full_dense},
                          {"attention_only_tokens", r.attention_only}});
  }
  return j;
}

void PrintHeader(const planner::ModelShape& m, const planner::Topology& t, const PlanOptions& o) {
  std::printf(
      "tandem plan: %s (%s weights: %s resident, %s read per decode step), %lld prompt + "
      "%lld generated tokens\n",
      m.name.c_str(), std::string(planner::WeightDtypeName(m.dtype)).c_str(),
      planner::FormatBytes(m.weight_bytes).c_str(),
      planner::FormatBytes(m.step_weight_bytes).c_str(), static_cast<long long>(o.prompt_tokens),
      static_cast<long long>(o.gen_tokens));
  for (const auto& d : t.devices) {
    std::printf("  device %-14s prefill %s, decode %s, %s free\n", d.name.c_str(),
                planner::FormatFlops(d.PrefillFlops(m.dtype)).c_str(),
                planner::FormatBandwidth(d.DecodeBandwidth()).c_str(),
                planner::FormatBytes(d.memory_free_bytes).c_str());
  }
  for (const auto& l : t.links) {
    std::printf("  link   %s <-> %s: %s, %s, RTT %s, alpha %s\n", l.a.c_str(), l.b.c_str(),
                l.profile.name.c_str(), planner::FormatBandwidth(l.profile.bandwidth).c_str(),
                planner::FormatSeconds(l.profile.rtt_s).c_str(),
                planner::FormatSeconds(l.profile.alpha_s).c_str());
  }
}

void PrintCandidates(const planner::Plan& plan, const planner::Topology& t) {
  std::printf("\n  %s %9s %9s %9s %9s %9s\n", Pad("candidate", 52).c_str(), "prefill", "tail",
              "TTFT", "TPOT", "total");
  for (size_t i = 0; i < plan.candidates.size(); ++i) {
    const planner::Candidate& c = plan.candidates[i];
    const planner::Prediction& p = c.prediction;
    std::printf("%c %s %9s %9s %9s %9s %9s%s%s\n", static_cast<int>(i) == plan.winner ? '*' : ' ',
                Pad(planner::CandidateLabel(c, t), 52).c_str(),
                planner::FormatSeconds(p.prefill_s).c_str(),
                planner::FormatSeconds(p.tail_s).c_str(), planner::FormatSeconds(p.ttft_s).c_str(),
                planner::FormatSeconds(p.tpot_s).c_str(), planner::FormatSeconds(p.total_s).c_str(),
                c.feasible ? "" : "  infeasible: ", c.infeasible_reason.c_str());
  }
}

void PrintNMin(const std::vector<NMinRow>& rows) {
  if (rows.empty()) return;
  std::printf(
      "\nn_min: prompt tokens above which streaming hides each layer's KV behind the next "
      "layer's compute\n");
  std::printf("  %-32s %-12s %-4s %15s %14s %16s\n", "prefill -> decode", "link", "KV",
              "F (prefill)", "full (alpha)", "attention-only");
  for (const auto& r : rows) {
    std::printf("  %-32s %-12s %-4s %15s %14.0f %16.0f\n", (r.prefill + " -> " + r.decode).c_str(),
                r.link.c_str(), std::string(planner::KvCodecName(r.codec)).c_str(),
                planner::FormatFlops(r.in.flops).c_str(), r.full, r.attention_only);
  }
  std::printf(
      "  full: (2*P_l*n + 2*n^2*d)/F >= alpha + 2*n*n_kv*d_h*b/B (matmuls and causal "
      "attention);\n  attention-only: n* = (F/B)*n_kv*d_h*b/(2d), the simplification of "
      "the public write-ups\n");
}

int RunPlan(const PlanOptions& o) {
  auto m = LoadShape(o);
  if (!m.ok()) return ReportError(m.status());
  auto t = LoadTopology(o);
  if (!t.ok()) return ReportError(t.status());
  auto plan = planner::MakePlan(*m, *t, {o.prompt_tokens, o.gen_tokens});
  if (!plan.ok()) return ReportError(plan.status());
  const auto nmin = NMinTable(*m, *t);
  if (o.json) {
    std::printf("%s\n", PlanJson(*m, *t, o, *plan, nmin).dump(2).c_str());
    return 0;
  }
  PrintHeader(*m, *t, o);
  PrintCandidates(*plan, *t);
  std::printf("\nwinner: %s\nwhy: %s\n",
              planner::CandidateLabel(plan->candidates[plan->winner], *t).c_str(),
              plan->reason.c_str());
  PrintNMin(nmin);
  return 0;
}

}  // namespace

void AddPlanCommand(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<PlanOptions>();
  CLI::App* cmd = app.add_subcommand(
      "plan", "Which node prefills and which decodes a request, and why (cost model)");
  cmd->add_option("-m,--model", o->model, "GGUF model file (shapes and bytes as stored)");
  cmd->add_option("--model-shape", o->model_shape,
                  "Or a built-in model shape (see tandem sim --help)");
  cmd->add_option("--dtype", o->dtype, "Weight type of --model-shape: f32, f16, bf16, q8_0, q4_0")
      ->capture_default_str();
  cmd->add_option("--prompt-tokens", o->prompt_tokens, "Prompt length")->required();
  cmd->add_option("--gen", o->gen_tokens, "Tokens to generate (the objective's g)")
      ->capture_default_str();
  cmd->add_option("--profiles", o->profiles,
                  "Topology JSON: devices and links (sim/profile_json.h)");
  cmd->add_option("--devices", o->devices, "Built-in devices, without --profiles")
      ->capture_default_str();
  cmd->add_option("--link", o->link, "Built-in link joining them, without --profiles")
      ->capture_default_str();
  cmd->add_flag("--json", o->json, "Print one JSON object");
  cmd->callback([o, &exit_code] { exit_code = RunPlan(*o); });
}

}  // namespace tandem::tools

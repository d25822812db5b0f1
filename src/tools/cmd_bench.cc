#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "model/forward.h"
#include "model/llama_model.h"
#include "tools/cluster_bench.h"
#include "tools/commands.h"

namespace tandem::tools {
namespace {

struct BenchArgs {
  ClusterBenchOptions cluster;
  std::string model;
  int prompt = 512;
  int gen = 128;
  int reps = 3;
  bool json = false;
};

struct Stats {
  double median = 0, min = 0, max = 0;
};

Stats Summarise(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v.front(), v.back()};
}

// Single node: prefill of `prompt` tokens and `gen` decode steps, `reps` times.
int RunSingleBench(const BenchArgs& a) {
  auto m = model::LlamaModel::Load(a.model);
  if (!m.ok()) return ReportError(m.status());
  auto cache = kv::KvCache::Create(model::KvLayoutFor((*m)->config(), a.prompt + a.gen));
  if (!cache.ok()) return ReportError(cache.status());
  std::vector<int32_t> prompt(a.prompt);
  for (int i = 0; i < a.prompt; ++i) prompt[i] = 3 + (i * 7919) % 253;
  std::vector<double> pp, tg;
  std::vector<float> logits;
  for (int r = 0; r < a.reps; ++r) {
    model::Forward fwd(**m, *cache);
    auto t0 = std::chrono::steady_clock::now();
    if (Status st = fwd.Prefill(prompt, 0, &logits); !st.ok()) return ReportError(st);
    auto t1 = std::chrono::steady_clock::now();
    for (int i = 0; i < a.gen; ++i) {
      if (Status st = fwd.Decode(prompt[i % a.prompt], a.prompt + i, &logits); !st.ok()) {
        return ReportError(st);
      }
    }
    auto t2 = std::chrono::steady_clock::now();
    pp.push_back(a.prompt / std::chrono::duration<double>(t1 - t0).count());
    tg.push_back(a.gen / std::chrono::duration<double>(t2 - t1).count());
    std::fprintf(stderr, "\rrep %d/%d", r + 1, a.reps);
  }
  std::fprintf(stderr, "\n");
  const Stats p = Summarise(pp), g = Summarise(tg);
  if (a.json) {
    nlohmann::json j = {{"model", a.model}, {"prompt_tokens", a.prompt}, {"gen_tokens", a.gen},
                        {"reps", a.reps},
                        {"prefill_tokens_per_s", {{"median", p.median}, {"min", p.min}, {"max", p.max}}},
                        {"decode_tokens_per_s", {{"median", g.median}, {"min", g.min}, {"max", g.max}}}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("pp%-5d %10.2f tokens/s (min %.2f, max %.2f)\n", a.prompt, p.median, p.min, p.max);
    std::printf("tg%-5d %10.2f tokens/s (min %.2f, max %.2f)\n", a.gen, g.median, g.min, g.max);
  }
  return 0;
}

int RunBench(const BenchArgs& a) {
  if (a.cluster.prefill_node.empty() != a.cluster.decode_node.empty()) {
    return ReportError(InvalidArgument("give both --prefill-node and --decode-node"));
  }
  if (a.cluster.prefill_node.empty()) {
    if (a.model.empty()) return ReportError(InvalidArgument("give -m MODEL or the two nodes"));
    return RunSingleBench(a);
  }
  auto r = RunClusterBench(a.cluster);
  if (!r.ok()) return ReportError(r.status());
  std::printf("%s\n", a.json ? r->ToJson().c_str() : (r->Table() + "\n" + r->Timeline()).c_str());
  return 0;
}

}  // namespace

void AddBenchCommand(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<BenchArgs>();
  CLI::App* cmd = app.add_subcommand(
      "bench", "Measure prefill and decode: one model here (-m), or a prefill/decode node pair");
  cmd->add_option("-m,--model", a->model, "GGUF model (single-node benchmark)");
  cmd->add_option("-p,--prompt", a->prompt, "Prompt tokens (single node)")->capture_default_str();
  cmd->add_option("-n,--gen", a->gen, "Generated tokens (single node)")->capture_default_str();
  cmd->add_option("-r,--reps", a->reps, "Repetitions (single node)")->capture_default_str()->check(CLI::Range(1, 1000));
  cmd->add_option("--prefill-node", a->cluster.prefill_node, "Compute-rich node host:port");
  cmd->add_option("--decode-node", a->cluster.decode_node, "Bandwidth-rich node host:port");
  cmd->add_option("--prompt-tokens", a->cluster.prompt_tokens, "Prompt tokens (pair)")
      ->capture_default_str()->check(CLI::Range(2, 1 << 20));
  cmd->add_option("--gen-tokens", a->cluster.gen, "Generated tokens (pair)")
      ->capture_default_str()->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--codec", a->cluster.codec, "KV wire codec: f16, q8")->capture_default_str();
  cmd->add_option("--chunk", a->cluster.chunk_tokens, "Prefill chunk tokens (0: whole prompt)");
  cmd->add_flag("--json", a->json, "Print one JSON object");
  cmd->callback([a, &exit_code] { exit_code = RunBench(*a); });
}

}  // namespace tandem::tools

#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "base/thread_pool.h"
#include "kernels/cpu/ceilings.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/packed.h"
#include "model/forward.h"
#include "model/llama_model.h"
#include "tools/cluster_bench.h"
#include "tools/commands.h"
#include "tools/progress.h"

namespace tandem::tools {
namespace {

struct BenchArgs {
  ClusterBenchOptions cluster;
  std::string model;
  int prompt = 512;
  int gen = 128;
  int reps = 3;
  int threads = base::ThreadPool::HardwareThreads();
  kv::KvPrecision kv_precision = kv::KvPrecision::kF16;
  bool f16_bf16 = false;  // F16 prefill through bf16 products
  bool f16_fp16 = false;  // F16 prefill through fp16 products
  bool ceilings = true;   // also measure the ceilings and print the ratios
  bool json = false;
};

struct Stats {
  double median = 0, min = 0, max = 0;
};

Stats Summarise(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v.front(), v.back()};
}

// What one forward pass costs the hardware: matrix FLOPs and weight bytes read.
struct PassCost {
  double weight_bytes_per_token = 0;  // every matrix read once per decode step (LM head included)
  double prefill_flops = 0;           // 2 * params * n, the LM head once, causal attention
  kernels::WeightType main_type = kernels::WeightType::kF32;  // the type of most bytes
};

PassCost CostOf(const model::LlamaModel& m, int64_t n_prompt) {
  PassCost c;
  double layer_params = 0;
  std::map<kernels::WeightType, double> bytes_by_type;
  auto add = [&](const kernels::ref::MatRef& w, double* params) {
    const double b = static_cast<double>(kernels::RowBytes(w.type, w.cols)) * w.rows;
    c.weight_bytes_per_token += b;
    bytes_by_type[w.type] += b;
    if (params != nullptr) *params += static_cast<double>(w.rows) * w.cols;
  };
  for (const auto& l : m.weights().layers) {
    for (const auto* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) {
      add(*w, &layer_params);
    }
  }
  add(m.weights().output, nullptr);
  const auto& cfg = m.config();
  c.prefill_flops = 2.0 * layer_params * n_prompt +
                    2.0 * m.weights().output.rows * m.weights().output.cols +
                    2.0 * cfg.n_layers * static_cast<double>(n_prompt) * n_prompt * cfg.q_dim();
  double most = 0;
  for (const auto& [t, b] : bytes_by_type) {
    if (b > most) most = b, c.main_type = t;
  }
  return c;
}

double PeakRssBytes() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) * 1024.0;  // Linux: KiB
}

// How far the logits of a rounding F16 prefill (--f16-bf16, --f16-fp16) are from the exact one's.
struct Drift {
  double normalised_error = 0;  // |got - exact| / |exact|, over the vocabulary
  double max_abs_diff = 0;
  bool same_argmax = true;  // the greedy token
};

Drift DriftOf(const std::vector<float>& got, const std::vector<float>& exact) {
  Drift d;
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double e = static_cast<double>(got[i]) - exact[i];
    num += e * e;
    den += static_cast<double>(exact[i]) * exact[i];
    d.max_abs_diff = std::max(d.max_abs_diff, std::abs(e));
  }
  d.normalised_error = std::sqrt(num / std::max(den, 1e-30));
  d.same_argmax = std::max_element(got.begin(), got.end()) - got.begin() ==
                  std::max_element(exact.begin(), exact.end()) - exact.begin();
  return d;
}

nlohmann::json StatsJson(const Stats& s) {
  return {{"median", s.median}, {"min", s.min}, {"max", s.max}};
}

// Single node: prefill of `prompt` tokens and `gen` decode steps, `reps` times, on `threads`.
int RunSingleBench(const BenchArgs& a) {
  auto m = model::LlamaModel::Load(a.model);
  if (!m.ok()) return ReportError(m.status());
  auto cache =
      kv::KvCache::Create(model::KvLayoutFor((*m)->config(), a.prompt + a.gen), a.kv_precision);
  if (!cache.ok()) return ReportError(cache.status());
  base::ThreadPool pool(a.threads);
  model::ForwardOptions fopts;
  fopts.pool = &pool;
  if (a.f16_bf16) fopts.matmul.f16_prefill = kernels::cpu::F16Prefill::kBf16;
  if (a.f16_fp16) fopts.matmul.f16_prefill = kernels::cpu::F16Prefill::kFp16;
  const char* f16_prefill = a.f16_bf16 ? "bf16" : a.f16_fp16 ? "fp16" : "exact";
  const bool rounds = kernels::cpu::F16PrefillRounds(fopts.matmul.f16_prefill);
  if ((a.f16_bf16 || a.f16_fp16) && !rounds) {
    std::fprintf(stderr, "note: this CPU has no AVX-512 %s; F16 prefill keeps exact products\n",
                 a.f16_bf16 ? "BF16" : "FP16");
    f16_prefill = "exact";
  }
  std::vector<int32_t> prompt(a.prompt);
  for (int i = 0; i < a.prompt; ++i) prompt[i] = 3 + (i * 7919) % 253;
  std::vector<double> pp, tg, bws, triads;
  std::vector<float> logits, prefill_logits;
  double peak_rss = 0;
  ProgressBar bar("bench");
  const double steps = static_cast<double>(a.reps) * (1 + a.gen);
  std::optional<kernels::cpu::ReadBandwidthMeter> meter;  // its 1 GiB buffer, once
  for (int r = 0; r < a.reps; ++r) {
    model::Forward fwd(**m, *cache, fopts);
    auto t0 = std::chrono::steady_clock::now();
    if (Status st = fwd.Prefill(prompt, 0, &logits); !st.ok()) return ReportError(st);
    auto t1 = std::chrono::steady_clock::now();
    if (r == 0) prefill_logits = logits;
    // Decode from an empty context, as llama-bench's tg runs: position i overwrites the prompt's
    // row i, and step i attends to rows [0, i] only.
    for (int i = 0; i < a.gen; ++i) {
      if (Status st = fwd.Decode(prompt[i % a.prompt], i, &logits); !st.ok()) {
        return ReportError(st);
      }
      bar.Update((r * (1 + a.gen) + 1 + i) / steps);
    }
    auto t2 = std::chrono::steady_clock::now();
    pp.push_back(a.prompt / std::chrono::duration<double>(t1 - t0).count());
    tg.push_back(a.gen / std::chrono::duration<double>(t2 - t1).count());
    if (r == 0) peak_rss = PeakRssBytes();  // before the ceilings allocate their buffers
    // The read bandwidth right after each decode run: this machine's share of it moves from
    // minute to minute, so each run is compared with its own.
    if (a.ceilings) {
      if (!meter) {
        auto m = kernels::cpu::ReadBandwidthMeter::Create(pool, uint64_t{1} << 30);
        if (!m.ok()) return ReportError(m.status());
        meter = std::move(*m);
      }
      bws.push_back(meter->Measure(pool, 1));
      triads.push_back(meter->MeasureTriad(pool, 1));
    }
  }
  // A rounding F16 prefill: its drift from the exact products, on this prompt's last logits.
  std::optional<Drift> drift;
  if (rounds) {
    bar.set_label("drift");
    model::ForwardOptions exact = fopts;
    exact.matmul.f16_prefill = kernels::cpu::F16Prefill::kF32Fma;
    model::Forward fwd(**m, *cache, exact);
    if (Status st = fwd.Prefill(prompt, 0, &logits); !st.ok()) return ReportError(st);
    drift = DriftOf(prefill_logits, logits);
  }
  const double file_bytes = static_cast<double>((*m)->weight_bytes());
  const double kv_bytes = static_cast<double>(cache->bytes());
  const PassCost cost = CostOf(**m, a.prompt);
  const Stats p = Summarise(pp), g = Summarise(tg);
  // Achieved rates and the ceilings measured now, in the same run.
  const double pp_flops = cost.prefill_flops / (a.prompt / p.median);
  const double tg_bytes = cost.weight_bytes_per_token * g.median;
  double bw = 0, triad = 0, gemm = 0;
  // Medians over the runs of each one's fraction of the bandwidth measured right after it: of
  // the fastest plain read, and of STREAM's triad (the yardstick, and llama.cpp users').
  double decode_fraction = 0, decode_fraction_triad = 0;
  kernels::cpu::InstructionPeaks peaks;
  if (a.ceilings) {
    bar.set_label("ceilings");
    bw = Summarise(bws).median;
    triad = Summarise(triads).median;
    std::vector<double> fractions, fractions_triad;
    for (size_t i = 0; i < tg.size(); ++i) {
      fractions.push_back(cost.weight_bytes_per_token * tg[i] / bws[i]);
      fractions_triad.push_back(cost.weight_bytes_per_token * tg[i] / triads[i]);
    }
    decode_fraction = Summarise(fractions).median;
    decode_fraction_triad = Summarise(fractions_triad).median;
    peaks = kernels::cpu::MeasureInstructionPeaks(pool);
    kernels::cpu::GemmShape s{2048, 2048, 256, fopts.matmul};
    auto f = kernels::cpu::MeasureGemm(cost.main_type, s, pool, 3);
    if (!f.ok()) return ReportError(f.status());
    gemm = *f;
  }
  bar.Done();
  // The instruction prefill's products run on: int8 dots for the block-quantized types packed
  // for them where the CPU has them, bf16 dots for BF16 (and F16 with --f16-bf16), f32 FMA
  // otherwise (packed F16 and BF16 keep their values).
  const bool int8 = kernels::TraitsOf(cost.main_type).block_elems > 1 &&
                    kernels::cpu::PacksWeights(cost.main_type) && peaks.int8_dot > 0;
  const bool bf16 = (cost.main_type == kernels::WeightType::kBF16 ||
                     (cost.main_type == kernels::WeightType::kF16 && a.f16_bf16)) &&
                    peaks.bf16_dot > 0;
  const bool fp16 = cost.main_type == kernels::WeightType::kF16 && a.f16_fp16 && rounds;
  const double peak = int8   ? peaks.int8_dot
                      : bf16 ? peaks.bf16_dot
                      : fp16 ? peaks.fp16_fma
                             : peaks.fma_f32;
  const char* peak_name = int8 ? "int8 dot" : bf16 ? "bf16 dot" : fp16 ? "fp16 FMA" : "f32 FMA";
  const int prefetch_bytes = kernels::cpu::DecodePrefetchDefault(cost.main_type);
  const int streams = kernels::cpu::DecodeStreamsDefault(cost.main_type);
  if (a.json) {
    nlohmann::json j = {{"model", a.model},
                        {"prompt_tokens", a.prompt},
                        {"gen_tokens", a.gen},
                        {"reps", a.reps},
                        {"threads", a.threads},
                        {"kernels", kernels::cpu::KernelTargets()},
                        {"decode_prefetch_bytes", prefetch_bytes},
                        {"decode_prefetch_level", kernels::cpu::DecodePrefetchLevelDefault()},
                        {"decode_page_burst", kernels::cpu::DecodePageBurstDefault()},
                        {"decode_streams_per_thread", streams},
                        {"f16_prefill_tile_tokens", kernels::cpu::F16PrefillTileDefault()},
                        {"f16_prefill", f16_prefill},
                        {"prefill_tokens_per_s", StatsJson(p)},
                        {"decode_tokens_per_s", StatsJson(g)},
                        {"prefill_gflop_s", pp_flops / 1e9},
                        {"decode_weight_gb_s", tg_bytes / 1e9},
                        {"peak_rss_bytes", peak_rss},
                        {"weights_bytes", file_bytes},
                        {"kv_bytes", kv_bytes}};
    if (drift) {
      j["prefill_logit_drift"] = {{"normalised_error", drift->normalised_error},
                                  {"max_abs_diff", drift->max_abs_diff},
                                  {"same_greedy_token", drift->same_argmax}};
    }
    if (a.ceilings) {
      j["ceilings"] = {{"read_bandwidth_gb_s", bw / 1e9},
                       {"triad_bandwidth_gb_s", triad / 1e9},
                       {"gemm_gflop_s", gemm / 1e9},
                       {"gemm_type", std::string(kernels::WeightTypeName(cost.main_type))}};
      j["ceilings"]["peak_fma_f32_gflop_s"] = peaks.fma_f32 / 1e9;
      j["ceilings"]["peak_bf16_dot_gflop_s"] = peaks.bf16_dot / 1e9;
      j["ceilings"]["peak_int8_dot_gop_s"] = peaks.int8_dot / 1e9;
      j["ceilings"]["peak_fp16_fma_gflop_s"] = peaks.fp16_fma / 1e9;
      j["prefill_fraction_of_gemm_ceiling"] = pp_flops / gemm;
      j["prefill_fraction_of_instruction_peak"] = pp_flops / peak;
      j["prefill_instruction"] = peak_name;
      j["decode_fraction_of_bandwidth"] = decode_fraction;
      j["decode_fraction_of_triad"] = decode_fraction_triad;
    }
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  // The per-vendor choices (docs/performance.md): which paths these numbers ran.
  std::printf(
      "kernels %s, %d threads; decode in %d stream%s per thread, prefetch %d bytes ahead into "
      "L%d%s; F16 prefill tile %d tokens\n",
      kernels::cpu::KernelTargets().c_str(), a.threads, streams, streams > 1 ? "s" : "",
      prefetch_bytes, kernels::cpu::DecodePrefetchLevelDefault(),
      kernels::cpu::DecodePageBurstDefault() ? " and page bursts" : "",
      kernels::cpu::F16PrefillTileDefault());
  std::printf("pp%-5d %10.2f tokens/s (min %.2f, max %.2f)  %7.1f GFLOP/s", a.prompt, p.median,
              p.min, p.max, pp_flops / 1e9);
  if (a.ceilings) {
    std::printf("  = %.0f%% of %s GEMM %.1f GFLOP/s, %.0f%% of %s peak %.1f", 100 * pp_flops / gemm,
                std::string(kernels::WeightTypeName(cost.main_type)).c_str(), gemm / 1e9,
                100 * pp_flops / peak, peak_name, peak / 1e9);
  }
  std::printf("\ntg%-5d %10.2f tokens/s (min %.2f, max %.2f)  %7.1f GB/s", a.gen, g.median, g.min,
              g.max, tg_bytes / 1e9);
  if (a.ceilings)
    std::printf(
        "  = %.0f%% of read bandwidth %.1f GB/s, %.0f%% of STREAM triad %.1f GB/s (each run "
        "against its own)",
        100 * decode_fraction, bw / 1e9, 100 * decode_fraction_triad, triad / 1e9);
  std::printf("\npeak RSS %.2f GiB = %.2f x weights (%.2f GiB) ; KV %.2f GiB\n",
              peak_rss / (1 << 30), peak_rss / file_bytes, file_bytes / (1 << 30),
              kv_bytes / (1 << 30));
  if (drift) {
    std::printf(
        "F16 prefill as %s: the prompt's last logits against exact products: normalised error "
        "%.2e, max |diff| %.4f, greedy token %s\n",
        f16_prefill, drift->normalised_error, drift->max_abs_diff,
        drift->same_argmax ? "the same" : "DIFFERENT");
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
  cmd->add_option("-r,--reps", a->reps, "Repetitions (single node)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  AddKvTypeOption(*cmd, a->kv_precision);
  cmd->add_option("-t,--threads", a->threads, "Threads (single node)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  CLI::Option* bf16 = cmd->add_flag("--f16-bf16", a->f16_bf16,
                                    "F16 prefill through bf16 products (faster, rounds weights; "
                                    "prints the logits' drift)");
  cmd->add_flag("--f16-fp16", a->f16_fp16,
                "F16 prefill through fp16 products (AVX-512 FP16: faster, rounds activations and "
                "sums; prints the logits' drift)")
      ->excludes(bf16);
  cmd->add_flag("!--no-ceilings", a->ceilings, "Skip measuring the ceilings (no ratios)");
  cmd->add_option("--prefill-node", a->cluster.prefill_node, "Compute-rich node host:port");
  cmd->add_option("--decode-node", a->cluster.decode_node, "Bandwidth-rich node host:port");
  cmd->add_option("--prompt-tokens", a->cluster.prompt_tokens, "Prompt tokens (pair)")
      ->capture_default_str()
      ->check(CLI::Range(2, 1 << 20));
  cmd->add_option("--gen-tokens", a->cluster.gen, "Generated tokens (pair)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--codec", a->cluster.codec, "KV wire codec: f16, q8")->capture_default_str();
  cmd->add_option("--chunk", a->cluster.chunk_tokens, "Prefill chunk tokens (0: whole prompt)");
  cmd->add_flag("--json", a->json, "Print one JSON object");
  cmd->callback([a, &exit_code] { exit_code = RunBench(*a); });
}

}  // namespace tandem::tools

// `tandem profile`: this machine's ceilings measured with our own kernels — memory read bandwidth
// over a buffer far larger than the last-level cache, decode GEMV bandwidth, GEMM FLOP/s per
// weight type at a prefill batch, and the peak of each dot-product instruction.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "base/thread_pool.h"
#include "kernels/cpu/ceilings.h"
#include "kernels/cpu/matmul.h"
#include "tools/commands.h"
#include "tools/profile_node.h"
#include "tools/progress.h"

namespace tandem::tools {
namespace {

struct ProfileArgs {
  int threads = base::ThreadPool::HardwareThreads();
  int buffer_mib = 1024;
  int tokens = 256;
  int reps = 5;
  bool json = false;
  bool node = false;
  bool threads_given = false;
  NodeProfileArgs node_args;
};

int RunProfile(ProfileArgs& a) {
  if (a.node || !a.node_args.emulate.empty() || !a.node_args.model.empty()) {
    if (a.node_args.model.empty()) {
      return ReportError(InvalidArgument("--node needs -m MODEL (the model the node serves)"));
    }
    a.node_args.threads = a.threads_given ? a.threads : 1;  // as `tandem node`
    a.node_args.json = a.json;
    return RunNodeProfile(a.node_args);
  }
  base::ThreadPool pool(a.threads);
  ProgressBar bar("memory read");
  nlohmann::json j;
  j["threads"] = a.threads;
  j["kernels"] = kernels::cpu::KernelTargets();
  double bw = 0, triad = 0;
  if (auto meter =
          kernels::cpu::ReadBandwidthMeter::Create(pool, static_cast<uint64_t>(a.buffer_mib) << 20);
      meter.ok()) {
    bw = meter->Measure(pool, a.reps, [&](double f) { bar.Update(0.25 * f); });
    triad = meter->MeasureTriad(pool, a.reps, [&](double f) { bar.Update(0.25 + 0.05 * f); });
  }
  j["read_bandwidth_gb_s"] = bw / 1e9;
  j["triad_bandwidth_gb_s"] = triad / 1e9;
  bar.set_label("instruction peaks");
  const kernels::cpu::InstructionPeaks peaks = kernels::cpu::MeasureInstructionPeaks(pool, a.reps);
  j["peak_fma_f32_gflop_s"] = peaks.fma_f32 / 1e9;
  j["peak_bf16_dot_gflop_s"] = peaks.bf16_dot / 1e9;
  j["peak_fp16_fma_gflop_s"] = peaks.fp16_fma / 1e9;
  j["peak_int8_dot_gop_s"] = peaks.int8_dot / 1e9;
  // Decode GEMV: a Q8_0 matrix of ~285 MB, one token.
  bar.set_label("decode GEMV");
  double gemv_bytes_s = 0;
  kernels::cpu::GemmShape gemv{8192, 32768, 1, {}};
  auto gemv_flops =
      kernels::cpu::MeasureGemm(kernels::WeightType::kQ8_0, gemv, pool, a.reps, &gemv_bytes_s);
  if (!gemv_flops.ok()) return ReportError(gemv_flops.status());
  j["decode_gemv_q8_0_gb_s"] = gemv_bytes_s / 1e9;
  bar.Update(0.4);
  struct Case {
    const char* name;
    kernels::WeightType type;
    kernels::cpu::F16Prefill f16;
  };
  const Case cases[] = {
      {"F32", kernels::WeightType::kF32, kernels::cpu::F16Prefill::kF32Fma},
      {"F16", kernels::WeightType::kF16, kernels::cpu::F16Prefill::kF32Fma},
      {"F16 as bf16", kernels::WeightType::kF16, kernels::cpu::F16Prefill::kBf16},
      {"F16 as fp16", kernels::WeightType::kF16, kernels::cpu::F16Prefill::kFp16},
      {"BF16", kernels::WeightType::kBF16, kernels::cpu::F16Prefill::kF32Fma},
      {"Q8_0", kernels::WeightType::kQ8_0, kernels::cpu::F16Prefill::kF32Fma},
      {"Q4_0", kernels::WeightType::kQ4_0, kernels::cpu::F16Prefill::kF32Fma},
      {"Q4_K", kernels::WeightType::kQ4_K, kernels::cpu::F16Prefill::kF32Fma},
      {"Q6_K", kernels::WeightType::kQ6_K, kernels::cpu::F16Prefill::kF32Fma},
  };
  // A rounding F16 mode this CPU lacks the instructions for runs the exact products: not measured
  // under its name.
  auto measured = [](const Case& c) {
    return c.f16 == kernels::cpu::F16Prefill::kF32Fma || kernels::cpu::F16PrefillRounds(c.f16);
  };
  nlohmann::json gemm = nlohmann::json::object();
  int done = 0;
  for (const Case& c : cases) {
    if (!measured(c)) continue;
    bar.set_label(std::string("GEMM ") + c.name);
    kernels::cpu::GemmShape s{2048, 2048, a.tokens, {}};
    s.options.f16_prefill = c.f16;
    auto f = kernels::cpu::MeasureGemm(c.type, s, pool, a.reps);
    if (!f.ok()) return ReportError(f.status());
    gemm[c.name] = *f / 1e9;
    bar.Update(0.4 + 0.6 * ++done / std::size(cases));
  }
  bar.Done();
  j["gemm_gflop_s"] = gemm;
  j["gemm_shape"] = {{"rows", 2048}, {"cols", 2048}, {"tokens", a.tokens}};
  if (a.json) {
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  std::printf("kernels            %s, %d threads\n", j["kernels"].get<std::string>().c_str(),
              a.threads);
  std::printf("memory read        %8.1f GB/s  (%d MiB buffer, median of %d)\n", bw / 1e9,
              a.buffer_mib, a.reps);
  std::printf("STREAM triad       %8.1f GB/s  (a = b + s*c, 24 bytes per element)\n", triad / 1e9);
  std::printf("decode GEMV Q8_0   %8.1f GB/s  (8192 x 32768, one token)\n", gemv_bytes_s / 1e9);
  std::printf("peak f32 FMA       %8.1f GFLOP/s\n", peaks.fma_f32 / 1e9);
  if (peaks.bf16_dot > 0) std::printf("peak bf16 dot      %8.1f GFLOP/s\n", peaks.bf16_dot / 1e9);
  if (peaks.fp16_fma > 0) std::printf("peak fp16 FMA      %8.1f GFLOP/s\n", peaks.fp16_fma / 1e9);
  if (peaks.int8_dot > 0) std::printf("peak int8 dot      %8.1f GOP/s\n", peaks.int8_dot / 1e9);
  for (const Case& c : cases) {
    if (!measured(c)) continue;
    std::printf("GEMM %-13s %8.1f GFLOP/s (2048 x 2048 x %d tokens)\n", c.name,
                gemm[c.name].get<double>(), a.tokens);
  }
  return 0;
}

}  // namespace

void AddProfileCommand(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<ProfileArgs>();
  CLI::App* cmd = app.add_subcommand(
      "profile", "Measure this machine's ceilings with our kernels: memory bandwidth, GEMM FLOP/s");
  CLI::Option* threads = cmd->add_option("-t,--threads", a->threads, "Threads (--node: 1)")
                             ->capture_default_str()
                             ->check(CLI::Range(1, 1024));
  cmd->add_option("--buffer-mib", a->buffer_mib, "Bandwidth buffer, MiB (far above the LLC)")
      ->capture_default_str()
      ->check(CLI::Range(64, 1 << 16));
  cmd->add_option("--tokens", a->tokens, "Tokens per GEMM (prefill batch)")
      ->capture_default_str()
      ->check(CLI::Range(1, 8192));
  cmd->add_option("-r,--reps", a->reps, "Repetitions (median)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  cmd->add_flag("--json", a->json, "Print one JSON object");
  cmd->add_flag("--node", a->node,
                "Measure the profile a `tandem node` plans with (FLOP/s, bandwidth, memory) for "
                "-m MODEL, paced to --emulate when given, and store it in the node's cache");
  cmd->add_option("-m,--model", a->node_args.model, "GGUF model (with --node)");
  cmd->add_option("--emulate", a->node_args.emulate,
                  "Measure the emulated device: flops=100G,bw=270M[,mem=8G] (implies --node)");
  cmd->add_option("--cache-dir", a->node_args.cache_dir,
                  "Profile cache (default: $TANDEM_CACHE_DIR, else $XDG_CACHE_HOME/tandem, else "
                  "~/.cache/tandem)");
  cmd->add_flag("!--no-cache", a->node_args.cache, "Do not store the node profile");
  cmd->callback([a, threads, &exit_code] {
    a->threads_given = threads->count() > 0;
    exit_code = RunProfile(*a);
  });
}

}  // namespace tandem::tools

#include <CLI/CLI.hpp>
#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "model/llama_model.h"
#include "tools/commands.h"

namespace tandem::tools {
namespace {

struct InfoOptions {
  std::string model;
  int64_t n_ctx = 0;  // 0: the model's training context
  bool json = false;
};

double MiB(uint64_t n) { return n / 1048576.0; }

int RunInfo(const InfoOptions& o) {
  auto m = model::LlamaModel::Load(o.model);
  if (!m.ok()) return ReportError(m.status());
  const model::LlamaConfig& c = (*m)->config();
  std::map<std::string, std::pair<int, uint64_t>> mix;  // type -> (tensors, bytes)
  for (const auto& t : (*m)->file().tensors()) {
    auto& e = mix[std::string(kernels::WeightTypeName(t.type))];
    ++e.first;
    e.second += t.n_bytes;
  }
  const int64_t n_ctx = o.n_ctx > 0 ? o.n_ctx : c.n_ctx_train;
  const int64_t kv_token_f32 = 2LL * c.n_layers * c.kv_dim() * 4;
  const uint64_t weights = (*m)->weight_bytes();
  nlohmann::json j = {
      {"file", o.model},
      {"gguf_version", (*m)->file().version()},
      {"architecture", c.arch},
      {"name", c.name},
      {"n_layers", c.n_layers},
      {"d_model", c.d_model},
      {"n_heads", c.n_heads},
      {"n_kv_heads", c.n_kv_heads},
      {"head_dim", c.head_dim},
      {"n_ff", c.n_ff},
      {"n_vocab", c.n_vocab},
      {"n_ctx_train", c.n_ctx_train},
      {"rope_base", c.rope_base},
      {"rope_dims", c.n_rot},
      {"rope_freq_factors", !(*m)->weights().rope_freqs.empty()},
      {"qkv_bias", c.qkv_bias},
      {"tied_output", c.tied_output},
      {"params", c.ParamsTotal()},
      {"params_per_layer", c.ParamsPerLayer()},
      {"weight_bytes", weights},
      {"kv_bytes_per_token_f32", kv_token_f32},
      {"kv_bytes_per_token_f16", kv_token_f32 / 2},
      {"n_ctx", n_ctx},
      {"memory_bytes", weights + kv_token_f32 * n_ctx},
      {"tokenizer", (*m)->tokenizer().vocab().model},
  };
  for (const auto& [type, e] : mix)
    j["weight_types"][type] = {{"tensors", e.first}, {"bytes", e.second}};
  if (o.json) {
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("model        %s (%s, GGUF v%u)\n", o.model.c_str(), c.name.c_str(),
              (*m)->file().version());
  std::printf("architecture %s, %d layers, d_model %d, %d heads / %d KV heads of %d, n_ff %d\n",
              c.arch.c_str(), c.n_layers, c.d_model, c.n_heads, c.n_kv_heads, c.head_dim, c.n_ff);
  std::printf("vocabulary   %d tokens (%s tokenizer), trained context %lld\n", c.n_vocab,
              (*m)->tokenizer().vocab().model.c_str(), static_cast<long long>(c.n_ctx_train));
  std::printf("rope         base %g, %d dims%s%s\n", c.rope_base, c.n_rot,
              (*m)->weights().rope_freqs.empty() ? "" : ", Llama 3.1 frequency factors",
              c.rope_freq_scale != 1.0f ? ", linear scaling" : "");
  std::printf("parameters   %.3f M (%.3f M per layer)%s%s\n", c.ParamsTotal() / 1e6,
              c.ParamsPerLayer() / 1e6, c.tied_output ? ", tied output" : "",
              c.qkv_bias ? ", q/k/v bias" : "");
  std::printf("weights      %.2f MiB:", MiB(weights));
  for (const auto& [type, e] : mix)
    std::printf(" %s %d tensors %.2f MiB;", type.c_str(), e.first, MiB(e.second));
  std::printf("\nKV cache     %lld bytes/token at F32 (%lld at F16)\n",
              static_cast<long long>(kv_token_f32), static_cast<long long>(kv_token_f32 / 2));
  std::printf("memory       %.2f MiB at %lld tokens of context (weights + F32 KV)\n",
              MiB(weights + kv_token_f32 * n_ctx), static_cast<long long>(n_ctx));
  return 0;
}

}  // namespace

void AddInfoCommand(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<InfoOptions>();
  CLI::App* cmd =
      app.add_subcommand("info", "Architecture, shapes, parameters and memory of a model");
  cmd->add_option("-m,--model", o->model, "GGUF model file")->required();
  cmd->add_option("-c,--ctx-size", o->n_ctx, "Context for the memory estimate (default: trained)");
  cmd->add_flag("--json", o->json, "Print one JSON object");
  cmd->callback([o, &exit_code] { exit_code = RunInfo(*o); });
}

}  // namespace tandem::tools

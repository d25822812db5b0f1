// Single-node generation: chunked prefill of the prompt, then sampled decode steps.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "base/status.h"
#include "kv/kv_cache.h"
#include "model/forward.h"
#include "model/llama_model.h"
#include "model/sampler.h"

namespace tandem::model {

struct GenerateOptions {
  int n_predict = 128;  // tokens to generate at most (< 0: until the context is full)
  int n_batch = 512;    // prompt tokens per prefill chunk
  SamplerConfig sampler;
  bool stop_at_end_of_generation = true;  // stop at EOS / EOT
  bool keep_all_logits = false;           // keep each step's logits (tests)
  ForwardObserver* observer = nullptr;    // e.g. device emulation; not owned
  ForwardOptions forward;                 // kernels and thread pool (not owned)
};

struct GenerateResult {
  std::vector<int32_t> generated;
  std::vector<std::vector<float>> logits;  // per step when keep_all_logits
  int64_t n_prompt = 0;
  double prefill_s = 0;  // prompt evaluation, to the first logits
  double decode_s = 0;   // the decode steps after the first token
  bool hit_end_of_generation = false;
  bool hit_context_limit = false;

  double prefill_tokens_per_s() const { return prefill_s > 0 ? n_prompt / prefill_s : 0; }
  // Decode steps are the tokens after the first (the first comes from the prefill logits).
  double decode_tokens_per_s() const;
};

// Called with each new token; return false to stop.
using TokenFn = std::function<bool(int32_t id)>;

// Runs `prompt` (must be non-empty and shorter than the cache) and generates.
StatusOr<GenerateResult> Generate(const LlamaModel& model, kv::KvCache& cache,
                                  std::span<const int32_t> prompt, const GenerateOptions& opts,
                                  const TokenFn& on_token = {});

// As Generate, when the cache already holds the K/V of prompt[0, n_cached) (computed here or
// received from another node): only prompt[n_cached, n) is evaluated before sampling.
StatusOr<GenerateResult> GenerateFrom(const LlamaModel& model, kv::KvCache& cache,
                                      std::span<const int32_t> prompt, int64_t n_cached,
                                      const GenerateOptions& opts, const TokenFn& on_token = {});

}  // namespace tandem::model

// Writes GGUF models with seeded random weights at a real architecture's shape, for tests and
// benchmarks at realistic sizes (`tandem make-model`).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "kernels/types.h"

namespace tandem::model {

struct ModelShape {
  std::string name;  // "llama-3.2-1b"
  std::string arch;  // "llama" or "qwen2"
  int n_layers = 0;
  int d_model = 0;
  int n_heads = 0;
  int n_kv_heads = 0;
  int n_ff = 0;
  int n_vocab = 0;  // when no vocabulary file is given
  int64_t n_ctx = 0;
  float rope_base = 10000.0f;
  float rope_llama3_factor = 0;  // > 0: Llama 3.1 frequency scaling (rope_freqs.weight)
  bool tied_output = false;
};

// The built-in shapes: stories-like (stories260K), demo (the `tandem demo` pair's model), tiny,
// llama-3.2-1b, llama-3.1-8b, qwen2.5-0.5b, mistral-7b.
const std::vector<ModelShape>& BuiltinShapes();
StatusOr<ModelShape> FindShape(std::string_view name);

// How the 2-D weights are typed: all `type`, or as llama-quantize's _M mixes (Q4_K_M, Q5_K_M):
// `type`, with Q6_K for output.weight and for attn_v / ffn_down in the first and last eighth of
// the layers and every third layer between; token_embd when it is also the output.
enum class QuantMix { kUniform, kMedium };

// The weights a type name asks for: one weight type ("F16", "q8_0", ...), or one of
// llama-quantize's _M mixes ("Q4_K_M", "Q5_K_M"), case-insensitive. Nothing for other names.
struct ModelWeights {
  kernels::WeightType type;
  QuantMix mix;
};
std::optional<ModelWeights> ParseModelWeights(std::string_view name);

struct MakeModelOptions {
  ModelShape shape;
  kernels::WeightType type = kernels::WeightType::kF16;  // 2-D weights; norms stay F32
  std::string vocab_path;  // copy tokenizer.* from this GGUF; empty: a synthetic byte-level SPM
  uint64_t seed = 1234;
  QuantMix mix = QuantMix::kUniform;  // kMedium: `type` must be Q4_K or Q5_K
};

// Writes the model to `path`. Matrices whose rows are not whole blocks of the type fall back as
// llama-quantize's do: Q4_K to Q5_0, Q5_K to Q5_1, Q6_K to Q8_0, others (and those again) to F16.
Status MakeModel(const MakeModelOptions& opts, const std::string& path);

}  // namespace tandem::model

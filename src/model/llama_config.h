// Hyperparameters of a Llama-family model (llama, qwen2), read from GGUF metadata.
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"
#include "kernels/ref/ops.h"

namespace tandem::model {

class GgufFile;

struct LlamaConfig {
  std::string arch;              // general.architecture: "llama" or "qwen2"
  std::string name;              // general.name, if any
  int n_layers = 0;              // {arch}.block_count
  int d_model = 0;               // {arch}.embedding_length
  int n_heads = 0;               // {arch}.attention.head_count
  int n_kv_heads = 0;            // {arch}.attention.head_count_kv (default n_heads)
  int head_dim = 0;              // {arch}.attention.key_length (default d_model / n_heads)
  int n_ff = 0;                  // {arch}.feed_forward_length
  int n_vocab = 0;               // rows of token_embd
  int64_t n_ctx_train = 0;       // {arch}.context_length
  float rms_eps = 1e-5f;         // {arch}.attention.layer_norm_rms_epsilon
  int n_rot = 0;                 // {arch}.rope.dimension_count (default head_dim)
  float rope_base = 10000.0f;    // {arch}.rope.freq_base
  float rope_freq_scale = 1.0f;  // 1 / {arch}.rope.scaling.factor when scaling.type is linear
  kernels::ref::RopeMode rope_mode = kernels::ref::RopeMode::kNormal;
  bool qkv_bias = false;     // qwen2
  bool tied_output = false;  // no output.weight: the LM head is token_embd

  static StatusOr<LlamaConfig> FromGguf(const GgufFile& file);
  Status Validate() const;

  int q_dim() const { return n_heads * head_dim; }
  int kv_dim() const { return n_kv_heads * head_dim; }
  // Parameters of one transformer block (attention, FFN, norms, biases).
  int64_t ParamsPerLayer() const;
  // All parameters, embedding and LM head counted once each (once if tied).
  int64_t ParamsTotal() const;
};

}  // namespace tandem::model

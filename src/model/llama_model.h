// A loaded Llama-family model: the mapped GGUF, its config, weights (views into the mapping,
// never copied) and tokenizer.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "kernels/cpu/packed.h"
#include "kernels/ref/ops.h"
#include "model/gguf.h"
#include "model/llama_config.h"
#include "model/tokenizer.h"

namespace tandem::model {

struct LayerWeights {
  std::vector<float> attn_norm;   // [d_model]
  kernels::ref::MatRef wq;        // [q_dim rows, d_model cols]
  kernels::ref::MatRef wk;        // [kv_dim, d_model]
  kernels::ref::MatRef wv;        // [kv_dim, d_model]
  kernels::ref::MatRef wo;        // [d_model, q_dim]
  std::vector<float> bq, bk, bv;  // qwen2 biases [q_dim], [kv_dim], [kv_dim]; empty otherwise
  std::vector<float> ffn_norm;    // [d_model]
  kernels::ref::MatRef w_gate;    // [n_ff, d_model]
  kernels::ref::MatRef w_up;      // [n_ff, d_model]
  kernels::ref::MatRef w_down;    // [d_model, n_ff]
};

struct LlamaWeights {
  kernels::ref::MatRef tok_embd;   // [n_vocab, d_model]
  std::vector<float> output_norm;  // [d_model]
  kernels::ref::MatRef output;     // [n_vocab, d_model] (tok_embd when tied)
  std::vector<float> rope_freqs;   // [n_rot / 2] Llama 3.1 frequency divisors, or empty
  std::vector<LayerWeights> layers;
};

struct LoadOptions {
  // Repack the matrices this CPU's kernels want in another layout (kernels/cpu/packed.h: Q8_0,
  // Q4_0, Q5_0 and the K-quants with AVX-512 VNNI), and copy the F32, F16 and BF16 ones as they
  // are, into one arena on huge pages, on every hardware thread; then drop their pages of the
  // file mapping, so that resident memory stays about the file's size. The reference kernels go
  // on reading the file's packed matrices; a copied matrix is read from the copy by every kernel.
  bool pack_weights = true;
};

class LlamaModel {
 public:
  // Maps the file, reads config, weights and tokenizer. Every error names the file.
  static StatusOr<std::unique_ptr<LlamaModel>> Load(const std::string& path,
                                                    const LoadOptions& options = {});

  const GgufFile& file() const { return *file_; }
  const LlamaConfig& config() const { return config_; }
  const LlamaWeights& weights() const { return weights_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  // Bytes of all tensor data (what a decode step reads, before the KV cache).
  uint64_t weight_bytes() const;
  // Hash of every tensor's name, shape and type: two nodes agree on the model iff these match.
  uint64_t fingerprint() const { return fingerprint_; }
  // Bytes of the repacked and copied matrices (0 when nothing was packed or copied).
  uint64_t packed_bytes() const { return packed_.size(); }

 private:
  LlamaModel() = default;
  std::unique_ptr<GgufFile> file_;
  LlamaConfig config_;
  LlamaWeights weights_;
  std::unique_ptr<Tokenizer> tokenizer_;
  uint64_t fingerprint_ = 0;
  kernels::cpu::AlignedBuffer packed_;

  Status PackWeights();
};

// Roofline inputs of one forward step over tokens [t0, t1) (device emulation, planning).
// FLOPs of one layer: 2·P_l per token for the matrices, 4·q_dim per (query, visible key) for
// causal attention (QK and PV).
double LayerFlops(const LlamaConfig& c, int64_t t0, int64_t t1);
// Bytes one layer reads: its weights once, plus its K and V rows [0, t1) at float32.
double LayerBytes(const LlamaWeights& w, const LlamaConfig& c, int layer, int64_t t1);
// The LM head for one token: FLOPs and bytes.
double HeadFlops(const LlamaConfig& c);
double HeadBytes(const LlamaWeights& w);

// Reads and shape-checks the weights of `config` from `file`.
StatusOr<LlamaWeights> LoadWeights(const GgufFile& file, const LlamaConfig& config);

}  // namespace tandem::model

// A model as the planner sees it: the shapes that set FLOPs and KV bytes, and the bytes its
// weights take in memory and per decode step. Filled from a GGUF (tools) or a built-in shape
// (sim/catalog.h) — no tensors, no I/O.
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"
#include "planner/dtypes.h"

namespace tandem::planner {

struct ModelShape {
  std::string name;
  int n_layers = 0;    // L
  int d_model = 0;     // hidden width
  int n_heads = 0;     // query heads
  int n_kv_heads = 0;  // n_kv (GQA: fewer than n_heads)
  int head_dim = 0;    // d_h
  int n_ff = 0;        // FFN width (SwiGLU: gate, up, down)
  int n_vocab = 0;
  bool tied_output = false;  // the LM head is the token embedding
  bool qkv_bias = false;     // qwen2

  // Weight storage. `dtype` picks the device's prefill FLOP/s; the byte counts are the real ones
  // (from the file) or derived by WithUniformDtype.
  WeightDtype dtype = WeightDtype::kF16;
  double weight_bytes = 0;        // W resident in memory: every tensor
  double layer_weight_bytes = 0;  // one block's tensors: what a layer's forward reads once
  double step_weight_bytes = 0;   // read per decode step: all blocks, final norm, LM head
  // Bytes per element of the KV cache a decode step reads (F16 cache).
  double kv_cache_elem_bytes = 2.0;

  int q_dim() const { return n_heads * head_dim; }  // the `d` of the attention FLOPs
  int kv_dim() const { return n_kv_heads * head_dim; }
  // P_l: parameters one token multiplies through in a block (wq, wk, wv, wo, gate, up, down);
  // a GEMM costs 2·P_l FLOPs per token. Norms and biases are not matmuls and are left out.
  int64_t MatmulParamsPerLayer() const;
  // All parameters of a block, norms and biases included (what it stores).
  int64_t StoredParamsPerLayer() const;
  int64_t EmbeddingParams() const { return static_cast<int64_t>(n_vocab) * d_model; }
  // Parameters stored: blocks, final norm, embedding, and the LM head unless tied.
  int64_t ParamsTotal() const;
  // KV bytes of one token in one layer on the wire (K and V): 2·n_kv·row bytes.
  double KvWireBytesPerTokenLayer(KvCodec codec) const;
  // KV cache bytes of one token, all layers (what a decode step reads per context token).
  double KvCacheBytesPerToken() const;

  // Shapes positive, heads dividing evenly, byte counts positive and consistent.
  Status Validate() const;
};

// The shape with every tensor stored as `dtype`: weight_bytes, layer_weight_bytes and
// step_weight_bytes from parameter counts × BytesPerWeight(dtype). Real files keep norms in F32
// and sometimes the embedding in another type; the difference is well under 1 %.
ModelShape WithUniformDtype(ModelShape shape, WeightDtype dtype);

}  // namespace tandem::planner

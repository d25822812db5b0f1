// The reference forward pass of a Llama-family model: batched prefill over a chunk of tokens and
// single-token decode, writing K/V into a KvCache, with a hook after each layer.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <span>
#include <vector>

#include "base/status.h"
#include "base/thread_pool.h"
#include "kernels/cpu/matmul.h"
#include "kv/kv_cache.h"
#include "model/llama_model.h"

namespace tandem::model {

// Called when `layer` has written K and V for positions [t0, t1) into the cache: the hook the KV
// streaming uses to ship that layer while the next one computes.
using LayerDoneFn = std::function<void(int layer, int64_t t0, int64_t t1)>;

// Sees every forward call: device emulation paces each layer to its roofline time here.
class ForwardObserver {
 public:
  virtual ~ForwardObserver() = default;
  virtual void OnForwardBegin(int64_t t0, int64_t t1) {}
  // Called before the LayerDoneFn of the same layer.
  virtual void OnLayerDone(int layer, int64_t t0, int64_t t1) {}
  virtual void OnForwardEnd(int64_t t0, int64_t t1, bool computed_logits) {}
};

// The cache layout a model needs for `n_ctx` positions.
kv::KvLayout KvLayoutFor(const LlamaConfig& config, int64_t n_ctx);

// Which kernels a Forward runs.
struct ForwardOptions {
  bool reference = false;            // the scalar kernels::ref oracle instead of kernels::cpu
  base::ThreadPool* pool = nullptr;  // not owned; null: a private single-thread pool
  kernels::cpu::MatMulOptions matmul;
  // Decode: q|k|v and gate|up as one product each where their packed copies lie back to back
  // (LlamaModel::PackWeights packs them in that order); the same products, row for row.
  bool stack_products = true;
};

class Forward {
 public:
  // `model` and `cache` (and options.pool) must outlive this object; the cache layout must
  // match the model.
  Forward(const LlamaModel& model, kv::KvCache& cache, const ForwardOptions& options = {});
  // Not owned; may be null.
  void set_observer(ForwardObserver* observer) { observer_ = observer; }

  // Runs `tokens` at positions [pos, pos + n) through every layer. When `logits` is not null it
  // receives the last token's logits [n_vocab]. Errors: bad ids, positions past the context.
  [[nodiscard]] Status Prefill(std::span<const int32_t> tokens, int64_t pos,
                               std::vector<float>* logits, const LayerDoneFn& on_layer_done = {});
  // One token at `pos`; logits [n_vocab].
  [[nodiscard]] Status Decode(int32_t token, int64_t pos, std::vector<float>* logits);

 private:
  Status CheckInput(std::span<const int32_t> tokens, int64_t pos) const;
  Status Attention(int layer, int64_t n, int64_t pos);  // q_ -> att_, cache rows [0, pos + n)
  Status FeedForward(int layer, int64_t n);             // x_ += FFN(norm(x_))
  Status Logits(int64_t n, std::vector<float>* logits);
  // y = x·wᵀ (x: [n, w.cols], y: [n, w.rows]) with the kernels the options chose.
  Status MatMul(const kernels::ref::MatRef& w, const float* x, int64_t n, float* y);
  // ys[i] = x·ws[i]ᵀ, i < 2 or 3; for one token (ys then back to back) as one product over the
  // stacked matrices when their packed panels lie back to back.
  Status MatMuls(std::initializer_list<const kernels::ref::MatRef*> ws, const float* x, int64_t n,
                 std::initializer_list<float*> ys);
  void RmsNorm(const float* x, const float* weight, float* out);  // one row of d_model
  // fn(t0, t1) over tokens [0, n): in blocks on the pool for a prompt, inline for a decode step.
  void ForTokens(int64_t n, const std::function<void(int64_t t0, int64_t t1)>& fn);

  const LlamaModel& model_;
  const LlamaConfig& cfg_;
  kv::KvCache& cache_;
  ForwardObserver* observer_ = nullptr;
  ForwardOptions options_;
  std::unique_ptr<base::ThreadPool> own_pool_;  // when options.pool is null
  base::ThreadPool* pool_;
  kernels::ref::RopeParams rope_;
  // Activations for a chunk of n tokens, grown on demand.
  std::vector<float> x_;        // [n, d_model] residual stream
  std::vector<float> xb_;       // [n, d_model] normalised input / projection output
  std::vector<float> qkv_;      // q_, k_, v_ back to back
  float* q_ = nullptr;          // [n, q_dim]
  float* k_ = nullptr;          // [n, kv_dim]
  float* v_ = nullptr;          // [n, kv_dim]
  std::vector<float> att_;      // [n, q_dim]
  std::vector<float> gate_up_;  // gate_, up_ back to back
  float* gate_ = nullptr;       // [n, n_ff]
  float* up_ = nullptr;         // [n, n_ff]
  std::vector<float> scores_;   // [n_ctx]
  std::vector<float> rope_cs_;  // [n, n_rot]: RopeAngles of positions pos .. pos + n - 1
};

}  // namespace tandem::model

#include "model/forward.h"

#include <algorithm>
#include <string>

#include "kernels/cpu/attention.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/packed.h"

namespace tandem::model {

kv::KvLayout KvLayoutFor(const LlamaConfig& c, int64_t n_ctx) {
  return kv::KvLayout{c.n_layers, n_ctx, c.n_kv_heads, c.head_dim};
}

Forward::Forward(const LlamaModel& model, kv::KvCache& cache, const ForwardOptions& options)
    : model_(model), cfg_(model.config()), cache_(cache), options_(options) {
  if (options_.pool == nullptr) own_pool_ = std::make_unique<base::ThreadPool>(1);
  pool_ = options_.pool != nullptr ? options_.pool : own_pool_.get();
  rope_.mode = cfg_.rope_mode;
  rope_.n_rot = cfg_.n_rot;
  rope_.freq_base = cfg_.rope_base;
  rope_.freq_scale = cfg_.rope_freq_scale;
  const auto& ff = model.weights().rope_freqs;
  rope_.freq_factors = ff.empty() ? nullptr : ff.data();
}

Status Forward::CheckInput(std::span<const int32_t> tokens, int64_t pos) const {
  if (cache_.layout() != KvLayoutFor(cfg_, cache_.layout().n_ctx)) {
    return InvalidArgument("KV cache layout does not match the model");
  }
  if (tokens.empty()) return InvalidArgument("no tokens to evaluate");
  const int64_t n_ctx = cache_.layout().n_ctx;
  if (pos < 0 || pos + static_cast<int64_t>(tokens.size()) > n_ctx) {
    return OutOfRange("positions " + std::to_string(pos) + ".." +
                      std::to_string(pos + static_cast<int64_t>(tokens.size())) +
                      " exceed the context of " + std::to_string(n_ctx) +
                      " tokens (shorten the prompt or raise -c)");
  }
  for (int32_t t : tokens) {
    if (t < 0 || t >= cfg_.n_vocab) {
      return InvalidArgument("token id " + std::to_string(t) + " is outside the vocabulary of " +
                             std::to_string(cfg_.n_vocab));
    }
  }
  return OkStatus();
}

Status Forward::Prefill(std::span<const int32_t> tokens, int64_t pos, std::vector<float>* logits,
                        const LayerDoneFn& on_layer_done) {
  RETURN_IF_ERROR(CheckInput(tokens, pos));
  const int64_t n = static_cast<int64_t>(tokens.size());
  const int64_t d = cfg_.d_model;
  x_.resize(n * d);
  xb_.resize(n * d);
  qkv_.resize(n * (cfg_.q_dim() + 2 * cfg_.kv_dim()));
  q_ = qkv_.data();
  k_ = q_ + n * cfg_.q_dim();
  v_ = k_ + n * cfg_.kv_dim();
  att_.resize(n * cfg_.q_dim());
  gate_up_.resize(2 * n * cfg_.n_ff);
  gate_ = gate_up_.data();
  up_ = gate_ + n * cfg_.n_ff;
  scores_.resize(cache_.layout().n_ctx);
  // Every layer rotates q and k by the same angles: computed once per position.
  const int n_rot = rope_.n_rot;
  rope_cs_.resize(n * n_rot);
  ForTokens(n, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      kernels::ref::RopeAngles(pos + t, rope_, rope_cs_.data() + t * n_rot);
    }
  });

  if (observer_ != nullptr) observer_->OnForwardBegin(pos, pos + n);
  // x = embedding rows of the tokens
  for (int64_t t = 0; t < n; ++t) {
    RETURN_IF_ERROR(kernels::ref::GetRow(model_.weights().tok_embd, tokens[t], &x_[t * d]));
  }
  for (int l = 0; l < cfg_.n_layers; ++l) {
    RETURN_IF_ERROR(Attention(l, n, pos));
    RETURN_IF_ERROR(FeedForward(l, n));
    if (observer_ != nullptr) observer_->OnLayerDone(l, pos, pos + n);
    if (on_layer_done) on_layer_done(l, pos, pos + n);
  }
  if (logits != nullptr) RETURN_IF_ERROR(Logits(n, logits));
  if (observer_ != nullptr) observer_->OnForwardEnd(pos, pos + n, logits != nullptr);
  return OkStatus();
}

Status Forward::Decode(int32_t token, int64_t pos, std::vector<float>* logits) {
  return Prefill(std::span<const int32_t>(&token, 1), pos, logits);
}

Status Forward::MatMul(const kernels::ref::MatRef& w, const float* x, int64_t n, float* y) {
  if (options_.reference) return kernels::ref::MatMul(w, x, n, y);
  return kernels::cpu::MatMul(w, x, n, y, *pool_, options_.matmul);
}

Status Forward::MatMuls(std::initializer_list<const kernels::ref::MatRef*> ws, const float* x,
                        int64_t n, std::initializer_list<float*> ys) {
  const kernels::ref::MatRef* const* w = ws.begin();
  float* const* y = ys.begin();
  // One token's outputs lie back to back (q_, k_, v_ and gate_, up_ do); the panels too when
  // every matrix but the last fills its panels (no padding rows between them).
  bool stack = options_.stack_products && !options_.reference && n == 1 && w[0]->packed != nullptr;
  kernels::ref::MatRef stacked = *w[0];
  for (size_t i = 1; stack && i < ws.size(); ++i) {
    const kernels::ref::MatRef& prev = *w[i - 1];
    stack =
        w[i]->type == prev.type && w[i]->cols == prev.cols &&
        prev.rows % kernels::cpu::kPanelRows == 0 &&
        w[i]->packed == prev.packed + kernels::cpu::PackedBytes(prev.type, prev.rows, prev.cols) &&
        y[i] == y[i - 1] + prev.rows;
    stacked.rows += w[i]->rows;
  }
  if (stack) return MatMul(stacked, x, n, y[0]);
  if (!options_.reference) {
    return kernels::cpu::MatMuls({w, ws.size()}, x, n, {y, ys.size()}, *pool_, options_.matmul);
  }
  for (size_t i = 0; i < ws.size(); ++i) RETURN_IF_ERROR(MatMul(*w[i], x, n, y[i]));
  return OkStatus();
}

// A prompt's per-token work between the products (norms, RoPE, SwiGLU, residual adds) ran on the
// caller alone while the other threads waited; in blocks on the pool, with RoPE's angles computed
// once per position instead of per layer and per q and k, pp512 (`tandem bench -p 512`, Q4_0,
// alternating binaries) rose in 5 of 6 pairs, by 1.8-5.8 % (286.7-302.7 against 281.7-293.9
// tokens/s). A decode step's is too short to pay for a parallel loop.
void Forward::ForTokens(int64_t n, const std::function<void(int64_t t0, int64_t t1)>& fn) {
  constexpr int64_t kMinTokens = 8;
  if (n < kMinTokens || pool_->size() == 1) return fn(0, n);
  const int64_t blocks = std::min<int64_t>(n, 4 * pool_->size());
  pool_->ParallelFor(blocks, [&](int64_t b, int) { fn(n * b / blocks, n * (b + 1) / blocks); });
}

void Forward::RmsNorm(const float* x, const float* weight, float* out) {
  if (options_.reference) return kernels::ref::RmsNorm(x, weight, cfg_.d_model, cfg_.rms_eps, out);
  kernels::cpu::RmsNorm(x, weight, cfg_.d_model, cfg_.rms_eps, out);
}

// x += Wo · attention(rope(Wq·norm(x)), rope(Wk·norm(x)), Wv·norm(x)); K and V go to the cache.
Status Forward::Attention(int layer, int64_t n, int64_t pos) {
  const LayerWeights& w = model_.weights().layers[layer];
  const int64_t d = cfg_.d_model, qd = cfg_.q_dim(), kvd = cfg_.kv_dim();
  ForTokens(n, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) RmsNorm(&x_[t * d], w.attn_norm.data(), &xb_[t * d]);
  });
  RETURN_IF_ERROR(MatMuls({&w.wq, &w.wk, &w.wv}, xb_.data(), n, {q_, k_, v_}));
  ForTokens(n, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      if (cfg_.qkv_bias) {
        for (int64_t i = 0; i < qd; ++i) q_[t * qd + i] += w.bq[i];
        for (int64_t i = 0; i < kvd; ++i) k_[t * kvd + i] += w.bk[i];
        for (int64_t i = 0; i < kvd; ++i) v_[t * kvd + i] += w.bv[i];
      }
      const float* cs = rope_cs_.data() + t * rope_.n_rot;
      kernels::ref::RopeRotate(&q_[t * qd], cfg_.n_heads, cfg_.head_dim, cs, rope_);
      kernels::ref::RopeRotate(&k_[t * kvd], cfg_.n_kv_heads, cfg_.head_dim, cs, rope_);
    }
  });
  cache_.Write(layer, pos, n, k_, v_);
  const void* kc = cache_.K(layer);
  const void* vc = cache_.V(layer);
  const bool f16 = cache_.precision() == kv::KvPrecision::kF16;
  const kernels::ref::AttentionShape shape{cfg_.n_heads, cfg_.n_kv_heads, cfg_.head_dim};
  if (options_.reference) {
    for (int64_t t = 0; t < n; ++t) {  // causal: token pos+t sees positions [0, pos+t]
      if (f16) {
        kernels::ref::Attention(&q_[t * qd], static_cast<const uint16_t*>(kc),
                                static_cast<const uint16_t*>(vc), pos + t + 1, shape,
                                scores_.data(), &att_[t * qd]);
      } else {
        kernels::ref::Attention(&q_[t * qd], static_cast<const float*>(kc),
                                static_cast<const float*>(vc), pos + t + 1, shape, scores_.data(),
                                &att_[t * qd]);
      }
    }
  } else {
    kernels::cpu::CausalAttention({q_, n, pos, kc, vc, shape, att_.data(), f16}, *pool_);
  }
  RETURN_IF_ERROR(MatMul(w.wo, att_.data(), n, xb_.data()));
  ForTokens(n, [&](int64_t t0, int64_t t1) {
    for (int64_t i = t0 * d; i < t1 * d; ++i) x_[i] += xb_[i];
  });
  return OkStatus();
}

// x += W_down · (silu(W_gate · norm(x)) * (W_up · norm(x)))
Status Forward::FeedForward(int layer, int64_t n) {
  const LayerWeights& w = model_.weights().layers[layer];
  const int64_t d = cfg_.d_model;
  ForTokens(n, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) RmsNorm(&x_[t * d], w.ffn_norm.data(), &xb_[t * d]);
  });
  RETURN_IF_ERROR(MatMuls({&w.w_gate, &w.w_up}, xb_.data(), n, {gate_, up_}));
  const int64_t ff = cfg_.n_ff;
  ForTokens(n, [&](int64_t t0, int64_t t1) {
    if (options_.reference) {
      kernels::ref::SwiGlu(gate_ + t0 * ff, up_ + t0 * ff, (t1 - t0) * ff);
    } else {
      kernels::cpu::SwiGlu(gate_ + t0 * ff, up_ + t0 * ff, (t1 - t0) * ff);
    }
  });
  RETURN_IF_ERROR(MatMul(w.w_down, gate_, n, xb_.data()));
  ForTokens(n, [&](int64_t t0, int64_t t1) {
    for (int64_t i = t0 * d; i < t1 * d; ++i) x_[i] += xb_[i];
  });
  return OkStatus();
}

// logits = W_out · norm(x[last])
Status Forward::Logits(int64_t n, std::vector<float>* logits) {
  const int64_t d = cfg_.d_model;
  std::vector<float> last(d);
  RmsNorm(&x_[(n - 1) * d], model_.weights().output_norm.data(), last.data());
  logits->resize(cfg_.n_vocab);
  return MatMul(model_.weights().output, last.data(), 1, logits->data());
}

}  // namespace tandem::model

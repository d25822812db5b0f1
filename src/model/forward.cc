#include "model/forward.h"

#include <algorithm>
#include <string>

#include "kernels/cpu/attention.h"
#include "kernels/cpu/elementwise.h"

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
  q_.resize(n * cfg_.q_dim());
  k_.resize(n * cfg_.kv_dim());
  v_.resize(n * cfg_.kv_dim());
  att_.resize(n * cfg_.q_dim());
  gate_.resize(n * cfg_.n_ff);
  up_.resize(n * cfg_.n_ff);
  scores_.resize(cache_.layout().n_ctx);

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

void Forward::RmsNorm(const float* x, const float* weight, float* out) {
  if (options_.reference) return kernels::ref::RmsNorm(x, weight, cfg_.d_model, cfg_.rms_eps, out);
  kernels::cpu::RmsNorm(x, weight, cfg_.d_model, cfg_.rms_eps, out);
}

// x += Wo · attention(rope(Wq·norm(x)), rope(Wk·norm(x)), Wv·norm(x)); K and V go to the cache.
Status Forward::Attention(int layer, int64_t n, int64_t pos) {
  const LayerWeights& w = model_.weights().layers[layer];
  const int64_t d = cfg_.d_model, qd = cfg_.q_dim(), kvd = cfg_.kv_dim();
  for (int64_t t = 0; t < n; ++t) {
    RmsNorm(&x_[t * d], w.attn_norm.data(), &xb_[t * d]);
  }
  RETURN_IF_ERROR(MatMul(w.wq, xb_.data(), n, q_.data()));
  RETURN_IF_ERROR(MatMul(w.wk, xb_.data(), n, k_.data()));
  RETURN_IF_ERROR(MatMul(w.wv, xb_.data(), n, v_.data()));
  for (int64_t t = 0; t < n; ++t) {
    if (cfg_.qkv_bias) {
      for (int64_t i = 0; i < qd; ++i) q_[t * qd + i] += w.bq[i];
      for (int64_t i = 0; i < kvd; ++i) k_[t * kvd + i] += w.bk[i];
      for (int64_t i = 0; i < kvd; ++i) v_[t * kvd + i] += w.bv[i];
    }
    kernels::ref::Rope(&q_[t * qd], cfg_.n_heads, cfg_.head_dim, pos + t, rope_);
    kernels::ref::Rope(&k_[t * kvd], cfg_.n_kv_heads, cfg_.head_dim, pos + t, rope_);
  }
  cache_.Write(layer, pos, n, k_.data(), v_.data());
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
    kernels::cpu::CausalAttention({q_.data(), n, pos, kc, vc, shape, att_.data(), f16}, *pool_);
  }
  RETURN_IF_ERROR(MatMul(w.wo, att_.data(), n, xb_.data()));
  for (int64_t i = 0; i < n * d; ++i) x_[i] += xb_[i];
  return OkStatus();
}

// x += W_down · (silu(W_gate · norm(x)) * (W_up · norm(x)))
Status Forward::FeedForward(int layer, int64_t n) {
  const LayerWeights& w = model_.weights().layers[layer];
  const int64_t d = cfg_.d_model;
  for (int64_t t = 0; t < n; ++t) {
    RmsNorm(&x_[t * d], w.ffn_norm.data(), &xb_[t * d]);
  }
  RETURN_IF_ERROR(MatMul(w.w_gate, xb_.data(), n, gate_.data()));
  RETURN_IF_ERROR(MatMul(w.w_up, xb_.data(), n, up_.data()));
  if (options_.reference) {
    kernels::ref::SwiGlu(gate_.data(), up_.data(), n * cfg_.n_ff);
  } else {
    kernels::cpu::SwiGlu(gate_.data(), up_.data(), n * cfg_.n_ff);
  }
  RETURN_IF_ERROR(MatMul(w.w_down, gate_.data(), n, xb_.data()));
  for (int64_t i = 0; i < n * d; ++i) x_[i] += xb_[i];
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

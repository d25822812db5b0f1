#include "planner/model_shape.h"

#include <cmath>

namespace tandem::planner {

int64_t ModelShape::MatmulParamsPerLayer() const {
  const int64_t d = d_model;
  const int64_t attention = d * q_dim() + 2 * d * kv_dim() + static_cast<int64_t>(q_dim()) * d;
  const int64_t ffn = 3 * d * n_ff;  // gate, up, down
  return attention + ffn;
}

int64_t ModelShape::StoredParamsPerLayer() const {
  int64_t p = MatmulParamsPerLayer() + 2LL * d_model;  // + attention and FFN norms
  if (qkv_bias) p += q_dim() + 2LL * kv_dim();
  return p;
}

int64_t ModelShape::ParamsTotal() const {
  return n_layers * StoredParamsPerLayer() + d_model + EmbeddingParams() * (tied_output ? 1 : 2);
}

double ModelShape::KvWireBytesPerTokenLayer(KvCodec codec) const {
  return 2.0 * n_kv_heads * static_cast<double>(KvHeadRowBytes(codec, head_dim));
}

double ModelShape::KvCacheBytesPerToken() const {
  return 2.0 * n_layers * kv_dim() * kv_cache_elem_bytes;
}

Status ModelShape::Validate() const {
  const std::string who = "model shape '" + name + "'";
  if (n_layers <= 0 || d_model <= 0 || n_heads <= 0 || n_kv_heads <= 0 || head_dim <= 0 ||
      n_ff <= 0 || n_vocab <= 0) {
    return InvalidArgument(who + ": layers, widths, heads and vocabulary must be positive");
  }
  if (n_heads % n_kv_heads != 0) {
    return InvalidArgument(who + ": " + std::to_string(n_heads) + " heads not divisible by " +
                           std::to_string(n_kv_heads) + " KV heads");
  }
  const bool bytes_ok = std::isfinite(weight_bytes) && layer_weight_bytes > 0 &&
                        step_weight_bytes > 0 && weight_bytes >= step_weight_bytes &&
                        step_weight_bytes >= n_layers * layer_weight_bytes * 0.999;
  if (!bytes_ok) {
    return InvalidArgument(who + ": weight bytes must satisfy 0 < L·layer <= step <= total " +
                           "(hint: WithUniformDtype fills them from the shapes)");
  }
  if (!(kv_cache_elem_bytes > 0)) return InvalidArgument(who + ": KV cache bytes must be > 0");
  return OkStatus();
}

ModelShape WithUniformDtype(ModelShape shape, WeightDtype dtype) {
  const double b = BytesPerWeight(dtype);
  shape.dtype = dtype;
  shape.layer_weight_bytes = shape.StoredParamsPerLayer() * b;
  // A decode step reads every block, the final norm and the LM head (the embedding table only
  // contributes one row, except when it is the LM head).
  shape.step_weight_bytes =
      shape.n_layers * shape.layer_weight_bytes + (shape.d_model + shape.EmbeddingParams()) * b;
  shape.weight_bytes = shape.ParamsTotal() * b;
  return shape;
}

}  // namespace tandem::planner

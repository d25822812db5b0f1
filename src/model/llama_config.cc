#include "model/llama_config.h"

#include "model/gguf.h"

namespace tandem::model {
namespace {

constexpr int kMaxLayers = 1024;
constexpr int kMaxWidth = 1 << 17;

StatusOr<int> GetDim(const GgufFile& f, const std::string& key, int64_t max) {
  ASSIGN_OR_RETURN(uint64_t v, f.GetUint(key));
  if (v == 0 || v > static_cast<uint64_t>(max)) {
    return OutOfRange(f.path() + ": " + key + " = " + std::to_string(v) + " is out of range (1.." +
                      std::to_string(max) + ")");
  }
  return static_cast<int>(v);
}

}  // namespace

StatusOr<LlamaConfig> LlamaConfig::FromGguf(const GgufFile& f) {
  LlamaConfig c;
  ASSIGN_OR_RETURN(c.arch, f.GetString("general.architecture"));
  if (c.arch != "llama" && c.arch != "qwen2") {
    return Unimplemented(f.path() + ": unknown architecture '" + c.arch +
                         "' (supported: llama, qwen2)");
  }
  if (f.Find(c.arch + ".expert_count") != nullptr) {
    ASSIGN_OR_RETURN(uint64_t experts, f.GetUint(c.arch + ".expert_count"));
    if (experts > 0)
      return Unimplemented(f.path() + ": mixture-of-experts models are not supported");
  }
  ASSIGN_OR_RETURN(c.name, f.GetStringOr("general.name", ""));
  const std::string a = c.arch + ".";
  ASSIGN_OR_RETURN(c.n_layers, GetDim(f, a + "block_count", kMaxLayers));
  ASSIGN_OR_RETURN(c.d_model, GetDim(f, a + "embedding_length", kMaxWidth));
  ASSIGN_OR_RETURN(c.n_heads, GetDim(f, a + "attention.head_count", 4096));
  c.n_kv_heads = c.n_heads;
  if (f.Find(a + "attention.head_count_kv")) {
    ASSIGN_OR_RETURN(c.n_kv_heads, GetDim(f, a + "attention.head_count_kv", 4096));
  }
  c.head_dim = c.d_model / c.n_heads;
  if (f.Find(a + "attention.key_length")) {
    ASSIGN_OR_RETURN(c.head_dim, GetDim(f, a + "attention.key_length", 4096));
  }
  ASSIGN_OR_RETURN(c.n_ff, GetDim(f, a + "feed_forward_length", kMaxWidth * 4));
  ASSIGN_OR_RETURN(uint64_t n_ctx, f.GetUintOr(a + "context_length", 2048));
  c.n_ctx_train = static_cast<int64_t>(std::min<uint64_t>(n_ctx, uint64_t{1} << 24));
  ASSIGN_OR_RETURN(double eps, f.GetFloatOr(a + "attention.layer_norm_rms_epsilon", 1e-5));
  c.rms_eps = static_cast<float>(eps);
  c.n_rot = c.head_dim;
  if (f.Find(a + "rope.dimension_count")) {
    ASSIGN_OR_RETURN(c.n_rot, GetDim(f, a + "rope.dimension_count", 4096));
  }
  ASSIGN_OR_RETURN(double base, f.GetFloatOr(a + "rope.freq_base", 10000.0));
  c.rope_base = static_cast<float>(base);
  ASSIGN_OR_RETURN(std::string scaling, f.GetStringOr(a + "rope.scaling.type", "none"));
  if (scaling == "linear") {
    ASSIGN_OR_RETURN(double factor, f.GetFloat(a + "rope.scaling.factor"));
    if (!(factor > 0)) return InvalidArgument(f.path() + ": rope.scaling.factor must be > 0");
    c.rope_freq_scale = static_cast<float>(1.0 / factor);
  } else if (scaling != "none" && scaling != "llama3") {
    // "llama3" scaling is carried by the rope_freqs.weight tensor.
    return Unimplemented(f.path() + ": RoPE scaling '" + scaling + "' is not supported");
  }
  c.rope_mode = c.arch == "qwen2" ? kernels::ref::RopeMode::kNeox : kernels::ref::RopeMode::kNormal;
  c.qkv_bias = c.arch == "qwen2";
  const GgufTensorInfo* embd = f.FindTensor("token_embd.weight");
  if (embd == nullptr) return NotFound(f.path() + ": tensor 'token_embd.weight' is missing");
  if (embd->shape.size() != 2 || embd->shape[1] > (1u << 24)) {
    return InvalidArgument(f.path() + ": token_embd.weight has shape " + embd->ShapeString());
  }
  c.n_vocab = static_cast<int>(embd->shape[1]);
  c.tied_output = f.FindTensor("output.weight") == nullptr;
  RETURN_IF_ERROR(c.Validate().WithContext(f.path()));
  return c;
}

Status LlamaConfig::Validate() const {
  if (n_heads % n_kv_heads != 0) {
    return InvalidArgument("head_count " + std::to_string(n_heads) +
                           " is not a multiple of head_count_kv " + std::to_string(n_kv_heads));
  }
  if (n_rot > head_dim || n_rot % 2 != 0) {
    return InvalidArgument("rope dimension " + std::to_string(n_rot) +
                           " must be even and at most the head size " + std::to_string(head_dim));
  }
  if (!(rms_eps > 0) || !(rope_base > 0)) {
    return InvalidArgument("rms epsilon and rope base must be positive");
  }
  return OkStatus();
}

int64_t LlamaConfig::ParamsPerLayer() const {
  const int64_t d = d_model;
  int64_t p = d * q_dim() + 2 * d * kv_dim() + q_dim() * d;  // wq, wk, wv, wo
  p += 3 * d * n_ff;                                         // gate, up, down
  p += 2 * d;                                                // two norms
  if (qkv_bias) p += q_dim() + 2 * kv_dim();
  return p;
}

int64_t LlamaConfig::ParamsTotal() const {
  const int64_t embd = static_cast<int64_t>(n_vocab) * d_model;
  return n_layers * ParamsPerLayer() + d_model + embd * (tied_output ? 1 : 2);
}

}  // namespace tandem::model

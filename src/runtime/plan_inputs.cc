#include "runtime/plan_inputs.h"

#include <map>

namespace tandem::runtime {

namespace {

// Nearest weight dtype with a FLOP/s figure: by stored bits per weight.
planner::WeightDtype NearestDtype(kernels::WeightType type) {
  if (type == kernels::WeightType::kBF16) return planner::WeightDtype::kBF16;
  const kernels::WeightTypeTraits t = kernels::TraitsOf(type);
  const double bytes = static_cast<double>(t.block_bytes) / t.block_elems;
  if (bytes >= 3.0) return planner::WeightDtype::kF32;
  if (bytes >= 1.5) return planner::WeightDtype::kF16;
  if (bytes >= 0.8) return planner::WeightDtype::kQ8_0;  // Q8_0, Q6_K
  return planner::WeightDtype::kQ4_0;                    // Q4_0, Q4_K, ...
}

}  // namespace

// The planner's view of a GGUF: shapes from the config, bytes from the tensors as stored.
planner::ModelShape PlannerShape(const model::LlamaModel& model, kv::KvPrecision kv_precision) {
  const model::LlamaConfig& c = model.config();
  planner::ModelShape s;
  s.name = c.name.empty() ? "model" : c.name;
  s.n_layers = c.n_layers;
  s.d_model = c.d_model;
  s.n_heads = c.n_heads;
  s.n_kv_heads = c.n_kv_heads;
  s.head_dim = c.head_dim;
  s.n_ff = c.n_ff;
  s.n_vocab = c.n_vocab;
  s.tied_output = c.tied_output;
  s.qkv_bias = c.qkv_bias;
  double total = 0, blocks = 0, embedding = 0;
  std::map<kernels::WeightType, double> block_bytes_by_type;
  for (const auto& t : model.file().tensors()) {
    total += t.n_bytes;
    if (t.name.rfind("blk.", 0) == 0) {
      blocks += t.n_bytes;
      block_bytes_by_type[t.type] += t.n_bytes;
    }
    if (t.name == "token_embd.weight") embedding = t.n_bytes;
  }
  auto dominant = block_bytes_by_type.begin();
  for (auto it = block_bytes_by_type.begin(); it != block_bytes_by_type.end(); ++it) {
    if (it->second > dominant->second) dominant = it;
  }
  if (dominant != block_bytes_by_type.end()) s.dtype = NearestDtype(dominant->first);
  s.weight_bytes = total;
  s.layer_weight_bytes = blocks / c.n_layers;
  // A decode step reads all but the embedding table (one row), unless that is the LM head.
  s.step_weight_bytes = total - (c.tied_output ? 0.0 : embedding);
  s.kv_cache_elem_bytes = kv::ElemBytes(kv_precision);
  return s;
}

}  // namespace tandem::runtime

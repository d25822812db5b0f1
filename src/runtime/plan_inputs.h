// What the planner needs from a loaded model: shapes and bytes (a node's device: node_profile.h).
#pragma once

#include "kv/kv_cache.h"
#include "model/llama_model.h"
#include "planner/model_shape.h"
#include "planner/profiles.h"

namespace tandem::runtime {

// The planner's view of a loaded model: shapes from the config, bytes from the tensors as stored,
// KV cache bytes at `kv_precision` (a node's --kv-type).
planner::ModelShape PlannerShape(const model::LlamaModel& model,
                                 kv::KvPrecision kv_precision = kv::KvPrecision::kF16);

}  // namespace tandem::runtime

// What the planner needs from a loaded model and a node: shapes, bytes, device profiles.
#pragma once

#include "model/llama_model.h"
#include "planner/model_shape.h"
#include "planner/profiles.h"
#include "runtime/emulation.h"

namespace tandem::runtime {

// The planner's view of a loaded model: shapes from the config, bytes from the tensors as stored.
planner::ModelShape PlannerShape(const model::LlamaModel& model);

// A node's device profile: the emulated device when emulation is on (efficiency 1: pacing makes
// the roofline exact), else measured figures.
planner::DeviceProfile EmulatedProfile(const std::string& name, const DeviceEmulation& emu,
                                       double memory_bytes);

}  // namespace tandem::runtime

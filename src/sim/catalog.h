// Built-in device, link and model profiles for `tandem sim` and `tandem plan`. Specs are the
// vendors' published peaks (sources in catalog.cc); the efficiency factors that turn them into
// what a prefill or decode reaches are documented beside each device.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "planner/model_shape.h"
#include "planner/placement.h"
#include "planner/profiles.h"

namespace tandem::sim {

std::vector<std::string> BuiltinDeviceNames();
std::vector<std::string> BuiltinLinkNames();
std::vector<std::string> BuiltinModelNames();

// NotFound, listing the known names, for an unknown one.
StatusOr<planner::DeviceProfile> BuiltinDevice(std::string_view name);
StatusOr<planner::LinkProfile> BuiltinLink(std::string_view name);
// The architecture of a known model with every tensor stored as `dtype`.
StatusOr<planner::ModelShape> BuiltinModel(std::string_view name, planner::WeightDtype dtype);

// Built-in devices named in `devices_csv` ("dgx-spark,m3-ultra"), every pair joined by the
// built-in `link`.
StatusOr<planner::Topology> BuiltinTopology(std::string_view devices_csv, std::string_view link);

}  // namespace tandem::sim

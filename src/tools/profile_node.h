// `tandem profile --node`: the profile a `tandem node` measures for itself and plans with.
#pragma once

#include <string>

namespace tandem::tools {

struct NodeProfileArgs {
  std::string model;
  std::string emulate;    // --emulate spec; empty: this machine
  std::string cache_dir;  // empty: runtime::DefaultProfileCacheDir()
  bool cache = true;      // store the measurement for the next node start
  int threads = 1;
  bool json = false;
};

int RunNodeProfile(const NodeProfileArgs& a);

}  // namespace tandem::tools

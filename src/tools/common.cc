#include <cstdio>

#include "tools/commands.h"

namespace tandem::tools {

int ReportError(const Status& status) {
  std::fprintf(stderr, "error: %s\n", status.ToString().c_str());
  return 1;
}

}  // namespace tandem::tools

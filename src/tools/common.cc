#include <CLI/CLI.hpp>
#include <cstdio>
#include <map>
#include <string>

#include "tools/commands.h"

namespace tandem::tools {

int ReportError(const Status& status) {
  std::fprintf(stderr, "error: %s\n", status.ToString().c_str());
  return 1;
}

void AddKvTypeOption(CLI::App& cmd, kv::KvPrecision& precision) {
  const std::map<std::string, kv::KvPrecision> types{{"f16", kv::KvPrecision::kF16},
                                                     {"f32", kv::KvPrecision::kF32}};
  precision = kv::KvPrecision::kF16;
  cmd.add_option("--kv-type", precision, "KV cache values: f16 (as llama.cpp) or f32")
      ->transform(CLI::CheckedTransformer(types))
      ->default_str("f16");
}

}  // namespace tandem::tools

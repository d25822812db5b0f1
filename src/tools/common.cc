#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "tools/commands.h"

namespace tandem::tools {

int ReportError(const Status& status) {
  std::fprintf(stderr, "error: %s\n", status.ToString().c_str());
  return 1;
}

void AddKvTypeOption(CLI::App& cmd, kv::KvPrecision& precision) {
  precision = kv::KvPrecision::kF16;
  const auto f16 = kv::KvPrecisionName(kv::KvPrecision::kF16);
  const auto f32 = kv::KvPrecisionName(kv::KvPrecision::kF32);
  cmd.add_option_function<std::string>(
         "--kv-type",
         [&precision, f32](const std::string& name) {
           precision = name == f32 ? kv::KvPrecision::kF32 : kv::KvPrecision::kF16;
         },
         "KV cache values: f16 (as llama.cpp) or f32")
      ->check(CLI::IsMember({std::string(f16), std::string(f32)}))
      ->default_str(f16);
}

}  // namespace tandem::tools

// The `tandem` subcommands. Each Add*Command registers its options and sets `exit_code` when it
// runs: 0 on success, 1 with a one-line "error: ..." on stderr otherwise.
#pragma once

#include "base/status.h"
#include "kv/kv_cache.h"

namespace CLI {
class App;
}

namespace tandem::tools {

void AddRunCommand(CLI::App& app, int& exit_code);
void AddTokenizeCommand(CLI::App& app, int& exit_code);
void AddInfoCommand(CLI::App& app, int& exit_code);
void AddMakeModelCommand(CLI::App& app, int& exit_code);
void AddNodeCommand(CLI::App& app, int& exit_code);
void AddBenchCommand(CLI::App& app, int& exit_code);
void AddProfileCommand(CLI::App& app, int& exit_code);
void AddDemoCommand(CLI::App& app, int& exit_code);
void AddPlanCommand(CLI::App& app, int& exit_code);
void AddSimCommand(CLI::App& app, int& exit_code);

// Adds --kv-type f16|f32: what the KV cache holds (f16 by default, as llama.cpp's cache).
void AddKvTypeOption(CLI::App& cmd, kv::KvPrecision& precision);

// Prints "error: <message>" to stderr and returns 1.
int ReportError(const Status& status);

}  // namespace tandem::tools

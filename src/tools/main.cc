// tandem: one binary, one subcommand per job.
#include <CLI/CLI.hpp>

#include "tools/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"tandem: one LLM served by a cluster of unlike machines"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "tandem 0.1.0");
  int exit_code = 0;
  tandem::tools::AddRunCommand(app, exit_code);
  tandem::tools::AddTokenizeCommand(app, exit_code);
  tandem::tools::AddInfoCommand(app, exit_code);
  tandem::tools::AddMakeModelCommand(app, exit_code);
  tandem::tools::AddNodeCommand(app, exit_code);
  tandem::tools::AddBenchCommand(app, exit_code);
  tandem::tools::AddProfileCommand(app, exit_code);
  tandem::tools::AddDemoCommand(app, exit_code);
  tandem::tools::AddPlanCommand(app, exit_code);
  tandem::tools::AddSimCommand(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return exit_code;
}

// Runs the real `tandem` binary for the CLI tests: exit code, stdout and stderr.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace tandem::tools::testing_util {

struct CliResult {
  int code = -1;
  std::string out;
  std::string err;
};

inline std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// `tandem ARGS` with `stdin_text` on standard input.
inline CliResult Tandem(const std::string& args, const std::string& stdin_text = "") {
  const std::string dir = testing::TempDir();
  const std::string in = dir + "/cli_in.txt", out = dir + "/cli_out.txt",
                    err = dir + "/cli_err.txt";
  std::ofstream(in, std::ios::binary) << stdin_text;
  const std::string cmd =
      std::string(TANDEM_BINARY) + " " + args + " <" + in + " >" + out + " 2>" + err;
  const int status = std::system(cmd.c_str());
  CliResult r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = Slurp(out);
  r.err = Slurp(err);
  return r;
}

// A failed command: exit 1 and exactly one line on stderr, starting "error: ", containing `want`.
inline void ExpectOneLineError(const CliResult& r, const std::string& want) {
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(want), std::string::npos) << "wanted '" << want << "' in: " << r.err;
}

}  // namespace tandem::tools::testing_util

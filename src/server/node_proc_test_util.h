// A real `tandem node` process for the server tests: spawned on free ports, waited for until it
// answers /health, stopped with SIGTERM (or killed) when the test is done.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "transport/tcp.h"

extern char** environ;

namespace tandem::server::testing_util {

inline uint16_t FreePort() {
  return std::move(transport::FrameListener::Listen("127.0.0.1", 0)).value()->port();
}

inline std::string KeyFile(const std::string& name, const std::string& key) {
  const std::string path = testing::TempDir() + "/" + name;
  std::ofstream(path) << key << "\n";
  return path;
}

class NodeProc {
 public:
  NodeProc(const std::string& model, const std::string& id, const std::string& key_file,
           std::vector<std::string> extra = {})
      : port_(FreePort()), log_(testing::TempDir() + "/node-" + id + ".log") {
    std::vector<std::string> args = {TANDEM_BINARY, "node",
                                     "-m",          model,
                                     "--port",      std::to_string(port_),
                                     "--data-port", std::to_string(FreePort()),
                                     "--node-id",   id};
    if (!key_file.empty()) {
      args.push_back("--cluster-key-file");
      args.push_back(key_file);
    }
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    // The log (stdout) and errors (stderr) both go to the log file.
    posix_spawn_file_actions_addopen(&fa, 1, log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    EXPECT_EQ(posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    httplib::Client cli("127.0.0.1", port_);
    // Up, and (an emulated node) done measuring its profile, which it does in the background.
    for (int i = 0; i < 600; ++i) {
      if (auto r = cli.Get("/health");
          r && r->status == 200 && r->body.find("\"declared\"") == std::string::npos) {
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "node " << id << " did not come up (or measure itself) in 30 s";
  }
  ~NodeProc() { Kill(SIGTERM); }
  void Kill(int sig) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    int st;
    ::waitpid(pid_, &st, 0);
    pid_ = -1;
  }
  std::string addr() const { return "127.0.0.1:" + std::to_string(port_); }
  uint16_t port() const { return port_; }
  const std::string& log_path() const { return log_; }

 private:
  uint16_t port_;
  std::string log_;
  pid_t pid_ = -1;
};

// POST /v1/generate; expects 200 and returns the parsed answer (an empty object on failure).
inline nlohmann::json Generate(const NodeProc& node, const nlohmann::json& body) {
  httplib::Client cli("127.0.0.1", node.port());
  cli.set_read_timeout(120);
  auto r = cli.Post("/v1/generate", body.dump(), "application/json");
  EXPECT_TRUE(r);
  if (!r) return nlohmann::json::object();
  EXPECT_EQ(r->status, 200) << r->body;
  return nlohmann::json::parse(r->body);
}

}  // namespace tandem::server::testing_util

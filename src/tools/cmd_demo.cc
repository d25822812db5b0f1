// `tandem demo`: two local nodes emulating a scaled compute-rich / bandwidth-rich pair (the
// reference ratios: compute 100:26, bandwidth 273:819), the reference table measured on them, and
// the per-layer timeline of the streamed run.
#include <httplib.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <thread>

#include "model/model_maker.h"
#include "tools/cluster_bench.h"
#include "tools/commands.h"
#include "transport/tcp.h"

extern char** environ;

namespace tandem::tools {
namespace {

struct DemoArgs {
  std::string model;  // empty: generate the demo model
  std::string shape = "demo";
  double scale = 4e-5;       // of the reference pair
  double link_factor = 100;  // link = 10 GbE x scale x link_factor (see --help)
  int prompt_tokens = 2048;
  int gen = 16;
  std::string codec = "f16";
  uint32_t chunk = 0;
  bool json = false;
};

uint16_t FreePort() {
  auto l = transport::FrameListener::Listen("127.0.0.1", 0);
  return l.ok() ? (*l)->port() : 0;
}

class NodeProcess {
 public:
  ~NodeProcess() { Stop(); }
  Status Spawn(const std::vector<std::string>& args, const std::string& log) {
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    const int rc = posix_spawn(&pid_, "/proc/self/exe", &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return Unavailable("cannot start a node process");
    return OkStatus();
  }
  void Stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int st = 0;
    ::waitpid(pid_, &st, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
};

Status WaitHealthy(uint16_t port, const std::string& log) {
  httplib::Client cli("127.0.0.1", port);
  cli.set_connection_timeout(1);
  for (int i = 0; i < 600; ++i) {
    // Up, and done measuring its emulated device (in the background, a few seconds).
    if (auto r = cli.Get("/health");
        r && r->status == 200 && r->body.find("\"declared\"") == std::string::npos) {
      return OkStatus();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return Unavailable("a demo node did not come up (and profile itself) in 60 s; see " + log);
}

std::string Fmt(double v) {
  char b[32];
  std::snprintf(b, sizeof(b), "%.6g", v);
  return b;
}

int RunDemo(const DemoArgs& a) {
  const std::string dir = "/tmp/tandem-demo-" + std::to_string(::getpid());
  ::mkdir(dir.c_str(), 0700);
  std::string model = a.model;
  if (model.empty()) {
    auto shape = model::FindShape(a.shape);
    if (!shape.ok()) return ReportError(shape.status());
    model = dir + "/" + a.shape + "-F16.gguf";
    std::fprintf(stderr, "making the demo model (%s shape, F16, random weights) ...\n",
                 a.shape.c_str());
    if (Status st = model::MakeModel({*shape, kernels::WeightType::kF16, "", 1}, model); !st.ok()) {
      return ReportError(st);
    }
  }
  const std::string key = dir + "/cluster.key";
  std::ofstream(key) << "demo-cluster-key-" << ::getpid() << "-0123456789abcdef\n";
  const double s = a.scale;
  const std::string rich_compute = "flops=" + Fmt(100e12 * s) + ",bw=" + Fmt(273e9 * s);
  const std::string rich_bandwidth = "flops=" + Fmt(26e12 * s) + ",bw=" + Fmt(819e9 * s);
  const double link = 1.25e9 * s * a.link_factor;
  const uint16_t pa = FreePort(), pb = FreePort();
  const std::string log = dir + "/nodes.log";
  NodeProcess na, nb;
  auto spawn = [&](NodeProcess& p, uint16_t port, const std::string& id, const std::string& emu) {
    return p.Spawn({"tandem", "node", "-m", model, "--port", std::to_string(port), "--data-port",
                    std::to_string(FreePort()), "--node-id", id, "--cluster-key-file", key,
                    "--emulate", emu, "--link-bw", Fmt(link)},
                   log);
  };
  if (Status st = spawn(na, pa, "compute-rich", rich_compute); !st.ok()) return ReportError(st);
  if (Status st = spawn(nb, pb, "bandwidth-rich", rich_bandwidth); !st.ok()) return ReportError(st);
  if (Status st = WaitHealthy(pa, log); !st.ok()) return ReportError(st);
  if (Status st = WaitHealthy(pb, log); !st.ok()) return ReportError(st);
  std::fprintf(
      stderr,
      "two nodes up (logs: %s)\n  compute-rich   %s\n  bandwidth-rich %s\n  link %.3g MB/s "
      "(token bucket)\nrunning the four configurations ...\n",
      log.c_str(), rich_compute.c_str(), rich_bandwidth.c_str(), link / 1e6);
  ClusterBenchOptions o;
  o.prefill_node = "127.0.0.1:" + std::to_string(pa);
  o.decode_node = "127.0.0.1:" + std::to_string(pb);
  o.prompt_tokens = a.prompt_tokens;
  o.gen = a.gen;
  o.codec = a.codec;
  o.chunk_tokens = a.chunk;
  auto r = RunClusterBench(o);
  na.Stop();
  nb.Stop();
  if (!r.ok()) return ReportError(r.status());
  if (a.json) {
    std::printf("%s\n", r->ToJson().c_str());
  } else {
    std::printf(
        "emulated pair at %.0e of the reference (DGX Spark -> M3 Ultra over 10 GbE), %d-token "
        "prompt, %d generated\n\n%s\n%s",
        s, a.prompt_tokens, a.gen, r->Table().c_str(), r->Timeline().c_str());
  }
  return 0;
}

}  // namespace

void AddDemoCommand(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<DemoArgs>();
  CLI::App* cmd = app.add_subcommand(
      "demo", "Two local nodes emulating a compute-rich and a bandwidth-rich device: the table");
  cmd->add_option("-m,--model", a->model, "GGUF model (default: generate the demo shape)");
  cmd->add_option("--shape", a->shape, "Shape of the generated model")->capture_default_str();
  cmd->add_option("--scale", a->scale, "Fraction of the reference devices")->capture_default_str();
  cmd->add_option("--link-factor", a->link_factor, "Link speed relative to 10 GbE x scale")
      ->capture_default_str();
  cmd->add_option("--prompt-tokens", a->prompt_tokens, "Prompt tokens")->capture_default_str();
  cmd->add_option("--gen-tokens", a->gen, "Generated tokens")->capture_default_str();
  cmd->add_option("--codec", a->codec, "KV wire codec: f16, q8")->capture_default_str();
  cmd->add_option("--chunk", a->chunk, "Prefill chunk tokens (0: whole prompt)");
  cmd->add_flag("--json", a->json, "Print one JSON object");
  cmd->callback([a, &exit_code] { exit_code = RunDemo(*a); });
}

}  // namespace tandem::tools

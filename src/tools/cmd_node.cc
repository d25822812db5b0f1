#include <CLI/CLI.hpp>
#include <csignal>
#include <memory>

#include "runtime/emulation.h"
#include "server/node.h"
#include "tools/commands.h"
#include "transport/auth.h"

namespace tandem::tools {
namespace {

struct NodeArgs {
  server::NodeOptions opts;
  std::string key_file;
  std::string emulate;
  std::string link_bw;
};

int RunNode(NodeArgs& a) {
  if (!a.key_file.empty()) {
    auto key = transport::ReadClusterKey(a.key_file);
    if (!key.ok()) return ReportError(key.status());
    a.opts.cluster_key = *key;
  }
  if (!a.emulate.empty()) {
    auto e = runtime::DeviceEmulation::Parse(a.emulate);
    if (!e.ok()) return ReportError(e.status());
    a.opts.emulation = *e;
  }
  if (!a.link_bw.empty()) {
    auto bw = runtime::ParseQuantity(a.link_bw);
    if (!bw.ok()) return ReportError(bw.status().WithContext("--link-bw"));
    a.opts.link_bytes_per_s = *bw;
  }
  // Block the stop signals in every thread; the main thread waits for them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  auto node = server::Node::Start(a.opts);
  if (!node.ok()) return ReportError(node.status());
  int sig = 0;
  sigwait(&set, &sig);
  (*node)->Stop();
  return 0;
}

}  // namespace

void AddNodeCommand(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<NodeArgs>();
  CLI::App* cmd = app.add_subcommand("node", "Serve a model to the cluster (control + data plane)");
  cmd->add_option("-m,--model", a->opts.model_path, "GGUF model file")->required();
  cmd->add_option("--host", a->opts.host, "Address to bind")->capture_default_str();
  cmd->add_option("--port", a->opts.http_port, "HTTP control-plane port")->capture_default_str();
  cmd->add_option("--data-port", a->opts.data_port, "KV data-plane port (default: port + 1)");
  cmd->add_option("--node-id", a->opts.node_id, "Name in traces (default: host:port)");
  cmd->add_option("--cluster-key-file", a->key_file,
                  "Shared secret; without it the node refuses remote work");
  cmd->add_option("--peer", a->opts.peers, "Another node's host:port (repeatable)");
  cmd->add_option("--emulate", a->emulate,
                  "Pace to an emulated device: flops=100G,bw=270M[,mem=8G]");
  cmd->add_option("--link-bw", a->link_bw,
                  "Shape the KV this node sends to BYTES/s with a token bucket (e.g. 2M)");
  AddKvTypeOption(*cmd, a->opts.kv_precision);
  cmd->add_option("-t,--threads", a->opts.threads, "Compute threads")->capture_default_str();
  cmd->add_flag("!--no-discovery", a->opts.discovery, "Do not send or listen for UDP beacons");
  cmd->add_option("--discovery-interface", a->opts.discovery_interface,
                  "Address for multicast beacons (default: --host)");
  cmd->add_option("--profile-cache-dir", a->opts.profile_cache_dir,
                  "Where the measured profile is kept (default: $TANDEM_CACHE_DIR, else "
                  "$XDG_CACHE_HOME/tandem, else ~/.cache/tandem)");
  cmd->add_flag("!--no-profile-cache", a->opts.profile_cache,
                "Measure the profile at every start; do not read or write the cache");
  cmd->add_option("--profile-refresh-delay", a->opts.profile_refresh_delay_s,
                  "Seconds after start before a cached profile is re-measured in the background")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 86400.0));
  cmd->callback([a, &exit_code] { exit_code = RunNode(*a); });
}

}  // namespace tandem::tools

// `tandem node`: a daemon that loads a model and serves a control plane (HTTP) and a data plane
// (framed TCP, KV streaming) on their own ports.
//
// HTTP:  GET  /health                      liveness, node id, ports
//        GET  /v1/node                     identity for peers (cluster key required)
//        GET  /v1/clock                    this node's clock, for offset estimates (key required)
//        POST /v1/generate                 run a request here, optionally prefilled by a peer
//        GET  /v1/requests/{id}/trace      the request's trace (JSON)
//        GET  /cluster                     topology: this node, discovered members, profiles
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "kv/kv_cache.h"
#include "runtime/emulation.h"

namespace tandem::server {

struct NodeOptions {
  std::string model_path;
  std::string node_id;             // default: host:http_port
  std::string host = "127.0.0.1";  // address both planes bind to
  uint16_t http_port = 8800;
  uint16_t data_port = 0;   // 0: http_port + 1
  std::string cluster_key;  // empty: refuse remote work
  runtime::DeviceEmulation emulation;
  double link_bytes_per_s = 0;     // token-bucket shaping of the KV we send; 0: off
  std::vector<std::string> peers;  // host:http_port of other nodes
  kv::KvPrecision kv_precision = kv::KvPrecision::kF16;
  int threads = 1;                  // compute threads shared by prefill and decode
  bool discovery = true;            // UDP multicast beacons (needs a cluster key)
  std::string discovery_interface;  // address to send/receive multicast on; default: host
  bool profile_cache = true;        // keep the measured profile on disk (runtime/profile_cache.h)
  std::string profile_cache_dir;    // empty: runtime::DefaultProfileCacheDir()
  double profile_refresh_delay_s = 2;  // after a cache hit, re-measure this long after start
};

class Node {
 public:
  static StatusOr<std::unique_ptr<Node>> Start(const NodeOptions& opts);
  ~Node();
  // Blocks until Stop() (or a signal handler calling it).
  void Wait();
  void Stop();
  uint16_t http_port() const;
  uint16_t data_port() const;

  struct Impl;

 private:
  explicit Node(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Header value that proves the cluster key on control calls.
std::string ControlToken(const std::string& cluster_key);

}  // namespace tandem::server

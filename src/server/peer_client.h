// Control-plane calls to another node: identity, data port and clock offset.
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"

namespace tandem::server {

struct PeerInfo {
  std::string node_id;
  std::string host;
  uint16_t http_port = 0;
  uint16_t data_port = 0;
  int64_t clock_offset_ns = 0;  // peer clock minus ours, from the lowest-RTT of a few round trips
  double rtt_ms = 0;
  // The peer's device as it states it (emulated device, or measured): 0 when unknown.
  double flops = 0;
  double bandwidth = 0;
  double memory = 0;               // total
  double memory_free = 0;          // what a placement may take there now
  double link_bytes_per_s = 0;     // its shaped link, 0 when not shaped
  uint64_t model_fingerprint = 0;  // of the model it serves (LlamaModel::fingerprint)
};

// "host:port" -> host, port.
StatusOr<std::pair<std::string, uint16_t>> SplitHostPort(const std::string& addr);

// Asks the node at `addr` (its HTTP port) who it is and measures the clock offset.
StatusOr<PeerInfo> ResolvePeer(const std::string& addr, const std::string& cluster_key);

// Link bandwidth from the node at `addr` to us, bytes/s: a short bulk probe (it sends `bytes`),
// the round trip of an empty probe subtracted.
StatusOr<double> ProbeLink(const std::string& addr, const std::string& cluster_key, uint64_t bytes);

inline constexpr uint64_t kMaxProbeBytes = 64ull << 20;

}  // namespace tandem::server

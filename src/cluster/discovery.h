// Finding the other nodes of a cluster with no configuration: every `interval` a node sends a
// beacon (cluster/beacon.h) to a UDP multicast group on IPv4 and IPv6 and listens on the same
// groups; static peers are polled with the same beacon by unicast where multicast is blocked,
// and answer it. Verified beacons feed a Membership; members not heard for `timeout` leave.
//
// One thread per Discovery (asio underneath, kept out of this header).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "cluster/membership.h"

namespace tandem::cluster {

inline constexpr uint16_t kDefaultGroupPort = 8765;
inline constexpr uint16_t kDefaultUnicastPort = 8766;

struct DiscoveryOptions {
  std::string node_id;      // at most kMaxNodeIdBytes
  std::string cluster_key;  // at least 16 bytes (transport::ReadClusterKey)
  uint16_t http_port = 0;   // advertised
  uint16_t data_port = 0;   // advertised
  std::chrono::milliseconds interval{1000};
  std::chrono::milliseconds timeout{3500};  // more than two intervals

  bool multicast = true;  // false: static peers only (both groups off)
  bool ipv4 = true;       // the IPv4 group
  std::string ipv4_group = "239.255.77.77";
  uint16_t group_port = kDefaultGroupPort;  // of both groups
  // IPv4 address of the interface to send, join and bind on: "127.0.0.1" in tests, the veth
  // address in a network namespace; "0.0.0.0": the kernel's choice.
  std::string interface_address = "0.0.0.0";
  // Link-local IPv6 group; a failure to join it is logged and IPv4 goes on.
  bool ipv6 = true;
  std::string ipv6_group = "ff02::7464:6b31";
  std::string ipv6_interface;  // e.g. "eth0"; empty: the kernel's choice

  // UDP port that static peers poll and that replies come back to; 0: any free (see
  // Discovery::unicast_port()).
  uint16_t unicast_port = kDefaultUnicastPort;
  // "host", "host:port" or "[v6]:port"; the port is the peer's unicast discovery port (default
  // kDefaultUnicastPort), not its HTTP port.
  std::vector<std::string> static_peers;

  size_t max_members = 256;
  // Called on the discovery thread for each join, change and leave, just after Members()
  // shows it; must not block or call Stop(). May be empty: poll version() instead.
  std::function<void(const MembershipChange&)> on_change;
};

struct DiscoveryStats {
  uint64_t beacons_sent = 0;
  uint64_t send_errors = 0;
  uint64_t datagrams_received = 0;
  uint64_t accepted = 0;        // verified, from another node, newer than the last
  uint64_t stale = 0;           // verified but not newer (duplicates over several paths, replays)
  uint64_t other_cluster = 0;   // cluster id of another key: ignored
  uint64_t rejected = 0;        // bad magic, version, proof or shape
  uint64_t replies_sent = 0;    // answers to unicast polls
  bool ipv4_multicast = false;  // joined and sending
  bool ipv6_multicast = false;
};

struct HostPort {
  std::string host;
  uint16_t port = 0;
};
// "host", "host:port", "[v6]", "[v6]:port"; a bare IPv6 address takes the default port.
StatusOr<HostPort> ParseHostPort(std::string_view text, uint16_t default_port);

class Discovery {
 public:
  // Validates the options, opens the sockets and starts beaconing. Fails if the unicast port
  // cannot be bound; multicast that cannot be set up is logged and left off (see stats()).
  static StatusOr<std::unique_ptr<Discovery>> Start(DiscoveryOptions options);
  ~Discovery();  // Stop()s
  Discovery(const Discovery&) = delete;
  Discovery& operator=(const Discovery&) = delete;

  // Stops sending and listening and joins the thread (within one receive); idempotent.
  void Stop();

  std::vector<Member> Members() const;  // the others, sorted by node id
  uint64_t version() const;             // Membership::version()
  uint16_t unicast_port() const;        // the bound IPv4 unicast port
  DiscoveryStats stats() const;
  const DiscoveryOptions& options() const;

  struct Impl;
  explicit Discovery(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem::cluster

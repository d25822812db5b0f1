#include "server/peer_client.h"

#include <httplib.h>

#include <charconv>
#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "server/node.h"

namespace tandem::server {

StatusOr<std::pair<std::string, uint16_t>> SplitHostPort(const std::string& addr) {
  const size_t colon = addr.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return InvalidArgument("'" + addr + "' is not host:port");
  }
  unsigned port = 0;
  const char* b = addr.data() + colon + 1;
  const char* e = addr.data() + addr.size();
  const auto [end, ec] = std::from_chars(b, e, port);
  if (ec != std::errc() || end != e || port == 0 || port > 65535) {
    return InvalidArgument("'" + addr + "' has a bad port");
  }
  return std::make_pair(addr.substr(0, colon), static_cast<uint16_t>(port));
}

StatusOr<PeerInfo> ResolvePeer(const std::string& addr, const std::string& cluster_key) {
  ASSIGN_OR_RETURN(auto hp, SplitHostPort(addr));
  if (cluster_key.empty()) {
    return Unavailable("this node has no cluster key, so it cannot use peer " + addr);
  }
  httplib::Client cli(hp.first, hp.second);
  cli.set_connection_timeout(2);
  cli.set_read_timeout(5);
  const httplib::Headers headers = {{"X-Tandem-Key", ControlToken(cluster_key)}};
  auto res = cli.Get("/v1/node", headers);
  if (!res)
    return Unavailable("peer " + addr + " is unreachable (" + httplib::to_string(res.error()) +
                       ")");
  if (res->status == 403) return InvalidArgument("peer " + addr + " rejected our cluster key");
  if (res->status != 200)
    return Unavailable("peer " + addr + " answered " + std::to_string(res->status));
  const auto j = nlohmann::json::parse(res->body, nullptr, false);
  if (j.is_discarded() || !j.contains("data_port"))
    return DataLoss("peer " + addr + " sent a bad /v1/node");
  PeerInfo p;
  p.node_id = j.value("node_id", addr);
  p.host = hp.first;
  p.http_port = hp.second;
  p.data_port = j.value("data_port", uint16_t{0});
  const auto profile = j.value("profile", nlohmann::json::object());
  p.flops = profile.value("flops", 0.0);
  p.bandwidth = profile.value("bandwidth", 0.0);
  p.memory = profile.value("memory", 0.0);
  p.memory_free = profile.value("memory_free", 0.0);
  p.link_bytes_per_s = j.value("link_bytes_per_s", 0.0);
  p.model_fingerprint = j.value("model_fingerprint", uint64_t{0});
  double best_rtt = 1e18;
  for (int i = 0; i < 5; ++i) {
    const int64_t t0 = NowNs();
    auto c = cli.Get("/v1/clock", headers);
    const int64_t t1 = NowNs();
    if (!c || c->status != 200) continue;
    const auto cj = nlohmann::json::parse(c->body, nullptr, false);
    if (cj.is_discarded()) continue;
    const double rtt = static_cast<double>(t1 - t0);
    if (rtt < best_rtt) {
      best_rtt = rtt;
      p.clock_offset_ns = cj.value("ns", int64_t{0}) - (t0 + t1) / 2;
    }
  }
  p.rtt_ms = best_rtt < 1e18 ? best_rtt / 1e6 : 0;
  return p;
}

}  // namespace tandem::server

namespace tandem::server {

StatusOr<double> ProbeLink(const std::string& addr, const std::string& cluster_key,
                           uint64_t bytes) {
  ASSIGN_OR_RETURN(auto hp, SplitHostPort(addr));
  httplib::Client cli(hp.first, hp.second);
  cli.set_connection_timeout(2);
  cli.set_read_timeout(30);
  const httplib::Headers headers = {{"X-Tandem-Key", ControlToken(cluster_key)}};
  auto timed = [&](uint64_t n) -> StatusOr<double> {
    const int64_t t0 = NowNs();
    auto r = cli.Get("/v1/probe?bytes=" + std::to_string(n), headers);
    if (!r || r->status != 200 || r->body.size() != n) {
      return Unavailable("link probe to " + addr + " failed");
    }
    return (NowNs() - t0) / 1e9;
  };
  ASSIGN_OR_RETURN(double empty_s, timed(0));
  ASSIGN_OR_RETURN(double full_s, timed(bytes));
  return bytes / std::max(full_s - empty_s, 1e-6);
}

}  // namespace tandem::server

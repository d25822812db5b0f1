#include "cluster/discovery.h"

#include <net/if.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <asio.hpp>
#include <charconv>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "base/clock.h"
#include "cluster/beacon.h"

namespace tandem::cluster {
namespace {

using asio::ip::udp;

constexpr size_t kMinClusterKeyBytes = 16;  // as transport::ReadClusterKey
constexpr int64_t kRejectLogEveryNs = 10'000'000'000;

// Starts at the wall clock in µs so that a restarted node's beacons are newer than its old ones.
uint64_t InitialSequence() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

Status ValidateOptions(const DiscoveryOptions& o) {
  if (o.node_id.empty() || o.node_id.size() > kMaxNodeIdBytes) {
    return InvalidArgument("discovery: node id must have 1 to " + std::to_string(kMaxNodeIdBytes) +
                           " bytes");
  }
  if (o.cluster_key.size() < kMinClusterKeyBytes) {
    return InvalidArgument("discovery: the cluster key must be at least 16 bytes");
  }
  if (o.interval.count() <= 0 || o.timeout < 2 * o.interval) {
    return InvalidArgument(
        "discovery: the interval must be positive and the timeout at least "
        "two intervals (a single lost beacon must not evict a node)");
  }
  if (o.max_members == 0) return InvalidArgument("discovery: max_members must be positive");
  return OkStatus();
}

Status SocketError(std::string_view what, const std::string& where, const asio::error_code& ec) {
  return Unavailable("discovery: " + std::string(what) + " " + where + ": " + ec.message());
}

struct Receiver {
  explicit Receiver(asio::io_context& io) : socket(io) {}
  udp::socket socket;
  std::array<uint8_t, kMaxBeaconBytes + 1> buf{};  // one byte more: oversized is detectable
  udp::endpoint from;
};

struct StaticPeer {
  HostPort where;
  std::optional<udp::endpoint> endpoint;  // resolved
};

}  // namespace

StatusOr<HostPort> ParseHostPort(std::string_view text, uint16_t default_port) {
  const std::string quoted = "'" + std::string(text) + "'";
  HostPort hp{std::string(text), default_port};
  std::string_view port_text;
  bool has_port = false;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) return InvalidArgument(quoted + ": missing ']'");
    hp.host = std::string(text.substr(1, close - 1));
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') {
      return InvalidArgument(quoted + ": expected ':port' after ']'");
    }
    has_port = !rest.empty();
    if (has_port) port_text = rest.substr(1);
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    const size_t colon = text.find(':');
    hp.host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
    has_port = true;
  }
  if (hp.host.empty()) return InvalidArgument(quoted + ": empty host (expected host[:port])");
  if (has_port) {
    unsigned port = 0;
    const auto [end, ec] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 ||
        port > 65535) {
      return InvalidArgument(quoted + ": the port must be a number from 1 to 65535");
    }
    hp.port = static_cast<uint16_t>(port);
  }
  return hp;
}

struct Discovery::Impl {
  explicit Impl(DiscoveryOptions o)
      : opts(std::move(o)),
        membership(MembershipOptions{
            std::chrono::duration_cast<std::chrono::nanoseconds>(opts.timeout).count(),
            opts.max_members}) {}

  Status ParsePeers();
  Status OpenUnicast4();
  Status OpenGroup4();
  Status OpenIpv6();
  void OpenMulticast();
  void Begin();
  void Receive(Receiver& r);
  void Handle(Receiver& r, size_t n);
  void NoteReject(const Status& s, const udp::endpoint& from);
  void Notify(const MembershipChange& c);
  void Tick();
  void PollPeers();
  bool SendBeacon(udp::socket& s, const udp::endpoint& to, uint8_t flags);
  void StopAndJoin();

  DiscoveryOptions opts;
  asio::io_context io;
  Receiver uni4{io}, uni6{io}, group4{io}, group6{io};
  udp::endpoint group4_ep, group6_ep;
  asio::steady_timer timer{io};
  std::vector<StaticPeer> peers;  // io thread only, after Begin()
  std::minstd_rand rng{std::random_device{}()};
  uint64_t sequence = InitialSequence();  // io thread only
  int64_t last_reject_log_ns = 0;         // io thread only
  bool warned_duplicate_id = false;       // io thread only
  uint16_t bound_port = 0;
  std::thread thread;

  mutable std::mutex mu;
  Membership membership;  // guarded by mu
  DiscoveryStats stats;   // guarded by mu
};

Status Discovery::Impl::ParsePeers() {
  for (const std::string& p : opts.static_peers) {
    ASSIGN_OR_RETURN(HostPort hp, ParseHostPort(p, kDefaultUnicastPort));
    peers.push_back({std::move(hp), std::nullopt});
  }
  return OkStatus();
}

Status Discovery::Impl::OpenUnicast4() {
  asio::error_code ec;
  const auto addr = asio::ip::make_address_v4(opts.interface_address, ec);
  if (ec) {
    return InvalidArgument("discovery: interface address '" + opts.interface_address +
                           "' is not an IPv4 address");
  }
  const udp::endpoint ep(addr, opts.unicast_port);
  const std::string where = opts.interface_address + ":" + std::to_string(opts.unicast_port);
  uni4.socket.open(udp::v4(), ec);
  if (!ec) uni4.socket.bind(ep, ec);
  if (ec) {
    return Unavailable("discovery: cannot bind UDP " + where + ": " + ec.message() +
                       " (another node on this port? choose another discovery port)");
  }
  bound_port = uni4.socket.local_endpoint(ec).port();
  return OkStatus();
}

// Joins the IPv4 group on the interface; beacons go out from the unicast socket (its source
// address and port are where replies and polls come back).
Status Discovery::Impl::OpenGroup4() {
  asio::error_code ec;
  const auto group = asio::ip::make_address_v4(opts.ipv4_group, ec);
  if (ec || !group.is_multicast()) {
    return InvalidArgument("discovery: '" + opts.ipv4_group + "' is not an IPv4 multicast group");
  }
  const auto iface = asio::ip::make_address_v4(opts.interface_address, ec);
  auto& s = group4.socket;
  s.open(udp::v4(), ec);
  if (!ec) s.set_option(udp::socket::reuse_address(true), ec);
  if (!ec) s.bind(udp::endpoint(group, opts.group_port), ec);
  if (!ec) s.set_option(asio::ip::multicast::join_group(group, iface), ec);
  if (!ec) uni4.socket.set_option(asio::ip::multicast::enable_loopback(true), ec);
  if (!ec) uni4.socket.set_option(asio::ip::multicast::hops(1), ec);
  if (!ec && !iface.is_unspecified()) {
    uni4.socket.set_option(asio::ip::multicast::outbound_interface(iface), ec);
  }
  if (ec) {
    s.close(ec);
    return SocketError("cannot join", opts.ipv4_group + " on " + opts.interface_address, ec);
  }
  group4_ep = udp::endpoint(group, opts.group_port);
  return OkStatus();
}

// The link-local IPv6 group, and an IPv6 socket (same port number as IPv4 if free) to send on.
Status Discovery::Impl::OpenIpv6() {
  unsigned ifindex = 0;
  if (!opts.ipv6_interface.empty()) {
    ifindex = if_nametoindex(opts.ipv6_interface.c_str());
    if (ifindex == 0) return NotFound("discovery: no interface '" + opts.ipv6_interface + "'");
  }
  asio::error_code ec;
  auto group = asio::ip::make_address_v6(opts.ipv6_group, ec);
  if (ec || !group.is_multicast()) {
    return InvalidArgument("discovery: '" + opts.ipv6_group + "' is not an IPv6 multicast group");
  }
  auto& g = group6.socket;
  g.open(udp::v6(), ec);
  if (!ec) g.set_option(asio::ip::v6_only(true), ec);
  if (!ec) g.set_option(udp::socket::reuse_address(true), ec);
  if (!ec) g.bind(udp::endpoint(asio::ip::address_v6::any(), opts.group_port), ec);
  if (!ec) g.set_option(asio::ip::multicast::join_group(group, ifindex), ec);
  auto& u = uni6.socket;
  if (!ec) u.open(udp::v6(), ec);
  if (!ec) u.set_option(asio::ip::v6_only(true), ec);
  if (!ec) {
    u.bind(udp::endpoint(asio::ip::address_v6::any(), bound_port), ec);
    if (ec) u.bind(udp::endpoint(asio::ip::address_v6::any(), 0), ec);  // port taken on v6
  }
  if (!ec) u.set_option(asio::ip::multicast::enable_loopback(true), ec);
  if (!ec) u.set_option(asio::ip::multicast::hops(1), ec);
  if (!ec && ifindex != 0) u.set_option(asio::ip::multicast::outbound_interface(ifindex), ec);
  if (ec) {
    g.close(ec);
    u.close(ec);
    return SocketError("cannot join", opts.ipv6_group, ec);
  }
  group.scope_id(ifindex);
  group6_ep = udp::endpoint(group, opts.group_port);
  return OkStatus();
}

void Discovery::Impl::OpenMulticast() {
  if (!opts.multicast) return;
  const Status v4 = opts.ipv4 ? OpenGroup4() : OkStatus();
  if (!v4.ok()) {
    spdlog::warn("node={} {} (IPv4 multicast off; static peers and IPv6 still work)", opts.node_id,
                 v4.message());
  }
  const Status v6 = opts.ipv6 ? OpenIpv6() : OkStatus();
  if (!v6.ok()) {
    spdlog::info("node={} {} (IPv6 multicast off; going on with IPv4)", opts.node_id, v6.message());
  }
  std::lock_guard lock(mu);
  stats.ipv4_multicast = opts.ipv4 && v4.ok();
  stats.ipv6_multicast = opts.ipv6 && v6.ok();
}

void Discovery::Impl::Begin() {
  for (Receiver* r : {&uni4, &uni6, &group4, &group6}) {
    if (r->socket.is_open()) Receive(*r);
  }
  asio::post(io, [this] { Tick(); });
  thread = std::thread([this] {
    try {
      io.run();
    } catch (const std::exception& e) {  // an on_change callback that threw
      spdlog::error("node={} discovery stopped: {}", opts.node_id, e.what());
    }
  });
}

void Discovery::Impl::Receive(Receiver& r) {
  r.socket.async_receive_from(asio::buffer(r.buf), r.from,
                              [this, &r](const asio::error_code& ec, size_t n) {
                                if (ec == asio::error::operation_aborted || !r.socket.is_open())
                                  return;
                                if (!ec) {
                                  {
                                    std::lock_guard lock(mu);
                                    ++stats.datagrams_received;
                                  }
                                  Handle(r, n);
                                }
                                Receive(r);
                              });
}

void Discovery::Impl::Handle(Receiver& r, size_t n) {
  auto b = DecodeBeacon(std::span<const uint8_t>(r.buf.data(), n), opts.cluster_key);
  if (!b.ok()) return NoteReject(b.status(), r.from);
  if (b->node_id == opts.node_id) {  // our own, looped back; or a twin
    if (b->http_port != opts.http_port && !warned_duplicate_id) {
      warned_duplicate_id = true;
      spdlog::warn("node={} another node at {} uses the same node id (give each a unique id)",
                   opts.node_id, r.from.address().to_string());
    }
    return;
  }
  Membership::Observation obs;
  {
    std::lock_guard lock(mu);
    obs = membership.Observe(*b, r.from.address().to_string(), NowNs());
    const bool stale = obs.outcome == Membership::Outcome::kStale;
    ++(stale ? stats.stale : stats.accepted);
  }
  if (obs.change) Notify(*obs.change);
  const bool fresh = obs.outcome == Membership::Outcome::kJoined ||
                     obs.outcome == Membership::Outcome::kChanged ||
                     obs.outcome == Membership::Outcome::kRefreshed;
  if (fresh && (b->flags & kBeaconWantsReply) != 0 && SendBeacon(r.socket, r.from, 0)) {
    std::lock_guard lock(mu);
    ++stats.replies_sent;
  }
}

void Discovery::Impl::NoteReject(const Status& s, const udp::endpoint& from) {
  const bool other_cluster = s.code() == StatusCode::kNotFound;
  {
    std::lock_guard lock(mu);
    ++(other_cluster ? stats.other_cluster : stats.rejected);
  }
  if (other_cluster) return;  // expected on a shared LAN
  const int64_t now = NowNs();
  if (now - last_reject_log_ns < kRejectLogEveryNs && last_reject_log_ns != 0) return;
  last_reject_log_ns = now;
  spdlog::warn("node={} ignored a datagram from {}: {} (logged at most every 10 s)", opts.node_id,
               from.address().to_string(), s.message());
}

void Discovery::Impl::Notify(const MembershipChange& c) {
  const Member& m = c.member;
  const char* what = "";
  switch (c.event) {
    case MemberEvent::kJoined: what = "joined"; break;
    case MemberEvent::kChanged: what = "changed"; break;
    case MemberEvent::kLeft: what = "left (not heard for the timeout)"; break;
  }
  spdlog::info("node={} member {} {}: {} http={} data={}", opts.node_id, m.node_id, what, m.address,
               m.http_port, m.data_port);
  if (opts.on_change) opts.on_change(c);
}

bool Discovery::Impl::SendBeacon(udp::socket& s, const udp::endpoint& to, uint8_t flags) {
  const Beacon b{flags, ++sequence, opts.node_id, opts.http_port, opts.data_port, bound_port};
  auto bytes = EncodeBeacon(b, opts.cluster_key);
  asio::error_code ec;
  if (bytes.ok()) s.send_to(asio::buffer(*bytes), to, 0, ec);
  std::lock_guard lock(mu);
  const bool sent = bytes.ok() && !ec;
  ++(sent ? stats.beacons_sent : stats.send_errors);
  return sent;
}

// Resolves (until it succeeds) and polls each static peer by unicast.
void Discovery::Impl::PollPeers() {
  for (StaticPeer& p : peers) {
    if (!p.endpoint) {
      asio::error_code ec;
      udp::resolver resolver(io);
      const auto results = resolver.resolve(p.where.host, std::to_string(p.where.port), ec);
      for (const auto& entry : results) {
        const udp::endpoint ep = entry.endpoint();
        if ((ep.address().is_v4() ? uni4 : uni6).socket.is_open()) {
          p.endpoint = ep;
          break;
        }
      }
      if (!p.endpoint) continue;  // unresolved yet, or IPv6 only and IPv6 is off: next tick
    }
    SendBeacon((p.endpoint->address().is_v4() ? uni4 : uni6).socket, *p.endpoint,
               kBeaconWantsReply);
  }
}

void Discovery::Impl::Tick() {
  if (group4.socket.is_open()) SendBeacon(uni4.socket, group4_ep, 0);
  if (group6.socket.is_open()) SendBeacon(uni6.socket, group6_ep, 0);
  PollPeers();
  std::vector<MembershipChange> left;
  {
    std::lock_guard lock(mu);
    left = membership.Expire(NowNs());
  }
  for (const auto& c : left) Notify(c);
  // ±10 % jitter so that nodes started together do not send in lockstep.
  const double jitter = 0.9 + 0.2 * std::uniform_real_distribution<double>(0, 1)(rng);
  timer.expires_after(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(opts.interval * jitter));
  timer.async_wait([this](const asio::error_code& ec) {
    if (!ec) Tick();
  });
}

void Discovery::Impl::StopAndJoin() {
  io.stop();
  if (!thread.joinable()) return;
  if (thread.get_id() == std::this_thread::get_id()) return;  // from a callback: misuse
  thread.join();
  asio::error_code ec;
  for (Receiver* r : {&uni4, &uni6, &group4, &group6}) r->socket.close(ec);
}

Discovery::Discovery(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Discovery::~Discovery() { Stop(); }

StatusOr<std::unique_ptr<Discovery>> Discovery::Start(DiscoveryOptions options) {
  RETURN_IF_ERROR(ValidateOptions(options));
  auto impl = std::make_unique<Impl>(std::move(options));
  RETURN_IF_ERROR(impl->ParsePeers());
  RETURN_IF_ERROR(impl->OpenUnicast4());
  impl->OpenMulticast();
  auto d = std::make_unique<Discovery>(std::move(impl));
  d->impl_->Begin();
  return d;
}

void Discovery::Stop() { impl_->StopAndJoin(); }

std::vector<Member> Discovery::Members() const {
  std::lock_guard lock(impl_->mu);
  return impl_->membership.Snapshot();
}

uint64_t Discovery::version() const {
  std::lock_guard lock(impl_->mu);
  return impl_->membership.version();
}

uint16_t Discovery::unicast_port() const { return impl_->bound_port; }

DiscoveryStats Discovery::stats() const {
  std::lock_guard lock(impl_->mu);
  return impl_->stats;
}

const DiscoveryOptions& Discovery::options() const { return impl_->opts; }

}  // namespace tandem::cluster

#include "cluster/discovery.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <random>
#include <thread>

namespace tandem::cluster {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kKey = "loopback-test-key-0123456789";

TEST(ParseHostPort, Table) {
  struct Case {
    const char* text;
    bool ok;
    const char* host;
    uint16_t port;
  };
  const Case cases[] = {
      {"10.0.0.2", true, "10.0.0.2", 8766},
      {"10.0.0.2:9000", true, "10.0.0.2", 9000},
      {"spark.local:1", true, "spark.local", 1},
      {"[fe80::1%eth0]:9000", true, "fe80::1%eth0", 9000},
      {"[::1]", true, "::1", 8766},
      {"fd00::2", true, "fd00::2", 8766},
      {"", false, "", 0},
      {":9000", false, "", 0},
      {"host:", false, "", 0},
      {"host:0", false, "", 0},
      {"host:65536", false, "", 0},
      {"host:12ab", false, "", 0},
      {"[::1", false, "", 0},
      {"[::1]x", false, "", 0},
      {"[]:80", false, "", 0},
  };
  for (const Case& c : cases) {
    auto got = ParseHostPort(c.text, kDefaultUnicastPort);
    ASSERT_EQ(got.ok(), c.ok) << c.text << ": " << got.status().ToString();
    if (!c.ok) continue;
    EXPECT_EQ(got->host, c.host) << c.text;
    EXPECT_EQ(got->port, c.port) << c.text;
  }
}

TEST(Discovery, StartValidatesOptions) {
  DiscoveryOptions o;
  o.cluster_key = std::string(kKey);
  o.unicast_port = 0;
  o.multicast = false;
  EXPECT_EQ(Discovery::Start(o).status().code(), StatusCode::kInvalidArgument);  // no node id
  o.node_id = "a";
  o.cluster_key = "short";
  EXPECT_EQ(Discovery::Start(o).status().code(), StatusCode::kInvalidArgument);
  o.cluster_key = std::string(kKey);
  o.timeout = o.interval;
  EXPECT_EQ(Discovery::Start(o).status().code(), StatusCode::kInvalidArgument);
  o.timeout = 3500ms;
  o.static_peers = {"host:notaport"};
  EXPECT_EQ(Discovery::Start(o).status().code(), StatusCode::kInvalidArgument);
  o.static_peers = {};
  o.interface_address = "not-an-address";
  EXPECT_EQ(Discovery::Start(o).status().code(), StatusCode::kInvalidArgument);
}

// A group port of its own per test, so that concurrent test runs do not hear each other.
uint16_t TestGroupPort() {
  std::random_device rd;
  return static_cast<uint16_t>(20000 + rd() % 30000);
}

DiscoveryOptions LoopbackOptions(std::string id, uint16_t group_port, uint16_t http_port) {
  DiscoveryOptions o;
  o.node_id = std::move(id);
  o.cluster_key = std::string(kKey);
  o.http_port = http_port;
  o.data_port = static_cast<uint16_t>(http_port + 1000);
  o.interface_address = "127.0.0.1";
  o.group_port = group_port;
  o.unicast_port = 0;
  o.ipv6 = false;
  return o;
}

std::unique_ptr<Discovery> StartOrDie(DiscoveryOptions o) {
  auto d = Discovery::Start(std::move(o));
  EXPECT_TRUE(d.ok()) << d.status().ToString();
  return d.ok() ? std::move(*d) : nullptr;
}

std::vector<std::string> Ids(const Discovery& d) {
  std::vector<std::string> ids;
  for (const Member& m : d.Members()) ids.push_back(m.node_id);
  return ids;
}

template <typename Pred>
bool WaitFor(Pred pred, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return pred();
}

using Ids_t = std::vector<std::string>;

TEST(DiscoveryLoopback, ThreeNodesFindEachOtherIgnoreAnotherClusterAndDropOneThatStops) {
  const uint16_t group = TestGroupPort();
  std::atomic<int> joins{0}, leaves{0};
  auto count = [&](const MembershipChange& c) {
    if (c.event == MemberEvent::kJoined) ++joins;
    if (c.event == MemberEvent::kLeft) ++leaves;
  };
  const auto t0 = std::chrono::steady_clock::now();
  auto oa = LoopbackOptions("a", group, 8001);
  oa.on_change = count;
  auto a = StartOrDie(oa);
  auto b = StartOrDie(LoopbackOptions("b", group, 8002));
  auto c = StartOrDie(LoopbackOptions("c", group, 8003));
  auto io = LoopbackOptions("intruder", group, 8004);
  io.cluster_key = "another-cluster-key-987654321";
  auto intruder = StartOrDie(io);
  ASSERT_TRUE(a && b && c && intruder);
  ASSERT_TRUE(a->stats().ipv4_multicast) << "IPv4 multicast on 127.0.0.1 could not be set up";

  ASSERT_TRUE(WaitFor(
      [&] {
        return Ids(*a) == Ids_t{"b", "c"} && Ids(*b) == Ids_t{"a", "c"} &&
               Ids(*c) == Ids_t{"a", "b"};
      },
      3s))
      << "a sees " << Ids(*a).size() << ", b " << Ids(*b).size() << ", c " << Ids(*c).size();
  const auto found_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  std::printf("three nodes found each other in %lld ms\n",
              static_cast<long long>(found_ms.count()));
  // The callback runs just after the change is visible in Members().
  EXPECT_TRUE(WaitFor([&] { return joins.load() == 2; }, 1s)) << joins.load();

  const Member mb = a->Members()[0];
  EXPECT_EQ(mb.address, "127.0.0.1");
  EXPECT_EQ(mb.http_port, 8002);
  EXPECT_EQ(mb.data_port, 9002);
  EXPECT_EQ(mb.discovery_port, b->unicast_port());

  // The other cluster's beacons arrive and are ignored, and it hears nobody either.
  std::this_thread::sleep_for(1200ms);
  EXPECT_GT(a->stats().other_cluster, 0u);
  EXPECT_EQ(a->stats().rejected, 0u);
  EXPECT_TRUE(Ids(*intruder).empty());
  EXPECT_EQ(Ids(*a), (Ids_t{"b", "c"}));

  // c stops: a and b drop it after the 3.5 s timeout (its last beacon may predate Stop by up
  // to 1.1 s).
  c->Stop();
  const auto stopped = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitFor([&] { return Ids(*a) == Ids_t{"b"} && Ids(*b) == Ids_t{"a"}; }, 6s));
  EXPECT_GT(std::chrono::steady_clock::now() - stopped, 2000ms);
  EXPECT_TRUE(WaitFor([&] { return leaves.load() == 1; }, 1s)) << leaves.load();
  EXPECT_EQ(Ids(*a), Ids_t{"b"});
}

TEST(DiscoveryLoopback, StaticPeerUnicastWithMulticastOff) {
  auto ob = LoopbackOptions("b", 0, 8002);
  ob.multicast = false;
  ob.interval = 200ms;
  ob.timeout = 700ms;
  auto b = StartOrDie(ob);
  ASSERT_TRUE(b);
  auto oa = LoopbackOptions("a", 0, 8001);
  oa.multicast = false;
  oa.interval = 200ms;
  oa.timeout = 700ms;
  oa.static_peers = {"127.0.0.1:" + std::to_string(b->unicast_port())};
  auto a = StartOrDie(oa);
  ASSERT_TRUE(a);
  EXPECT_FALSE(a->stats().ipv4_multicast);
  // a polls b; b answers, so each knows the other although only a was told.
  ASSERT_TRUE(WaitFor([&] { return Ids(*a) == Ids_t{"b"} && Ids(*b) == Ids_t{"a"}; }, 3s));
  EXPECT_GT(b->stats().replies_sent, 0u);
  EXPECT_EQ(a->Members()[0].discovery_port, b->unicast_port());
  // a stops: b drops it.
  a->Stop();
  EXPECT_TRUE(WaitFor([&] { return Ids(*b).empty(); }, 3s));
}

TEST(DiscoveryLoopback, UnusableIpv6IsLoggedAndIpv4GoesOn) {
  const uint16_t group = TestGroupPort();
  auto oa = LoopbackOptions("a", group, 8001);
  oa.ipv6 = true;
  oa.ipv6_interface = "no-such-if0";
  auto ob = LoopbackOptions("b", group, 8002);
  ob.ipv6 = true;
  ob.ipv6_interface = "no-such-if0";
  auto a = StartOrDie(oa);
  auto b = StartOrDie(ob);
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(a->stats().ipv6_multicast);
  EXPECT_TRUE(a->stats().ipv4_multicast);
  EXPECT_TRUE(WaitFor([&] { return Ids(*a) == Ids_t{"b"} && Ids(*b) == Ids_t{"a"}; }, 3s));
}

// IPv6 alone, where this machine can join the link-local group on its default interface.
TEST(DiscoveryLoopback, Ipv6GroupAlone) {
  const uint16_t group = TestGroupPort();
  auto oa = LoopbackOptions("a", group, 8001);
  oa.ipv4 = false;
  oa.ipv6 = true;
  auto ob = oa;
  ob.node_id = "b";
  ob.http_port = 8002;
  auto a = StartOrDie(oa);
  auto b = StartOrDie(ob);
  ASSERT_TRUE(a && b);
  if (!a->stats().ipv6_multicast) GTEST_SKIP() << "no IPv6 multicast on this machine";
  EXPECT_TRUE(WaitFor([&] { return Ids(*a) == Ids_t{"b"} && Ids(*b) == Ids_t{"a"}; }, 3s));
  if (!a->Members().empty()) {
    EXPECT_NE(a->Members()[0].address.find(':'), std::string::npos);
  }
}

}  // namespace
}  // namespace tandem::cluster

#include "cluster/membership.h"

#include <gtest/gtest.h>

namespace tandem::cluster {
namespace {

using Outcome = Membership::Outcome;
constexpr int64_t kMs = 1'000'000;

// One step of a scenario on a fake clock: a beacon heard, or an expiry pass (id empty).
struct Step {
  int64_t t_ms;
  std::string id;  // empty: Expire(t)
  uint64_t sequence = 0;
  std::string address = "10.0.0.1";
  uint16_t http_port = 80;
  Outcome outcome = Outcome::kRefreshed;  // for beacons
  std::vector<std::string> left = {};     // for Expire
  std::vector<std::string> members = {};  // after the step
};

struct Scenario {
  const char* name;
  std::vector<Step> steps;
};

std::vector<std::string> Ids(const std::vector<Member>& ms) {
  std::vector<std::string> ids;
  for (const auto& m : ms) ids.push_back(m.node_id);
  return ids;
}

void RunScenario(const Scenario& s, MembershipOptions options = {}) {
  Membership m(options);
  for (size_t i = 0; i < s.steps.size(); ++i) {
    const Step& st = s.steps[i];
    const std::string where = std::string(s.name) + " step " + std::to_string(i);
    const uint64_t v0 = m.version();
    const int64_t now = st.t_ms * kMs;
    if (st.id.empty()) {
      std::vector<std::string> left;
      for (const auto& c : m.Expire(now)) {
        EXPECT_EQ(c.event, MemberEvent::kLeft) << where;
        left.push_back(c.member.node_id);
      }
      EXPECT_EQ(left, st.left) << where;
      EXPECT_EQ(m.version() != v0, !left.empty()) << where;
    } else {
      const Beacon b{0, st.sequence, st.id, st.http_port, 9000, 8766};
      const auto obs = m.Observe(b, st.address, now);
      EXPECT_EQ(obs.outcome, st.outcome) << where;
      const bool changes = st.outcome == Outcome::kJoined || st.outcome == Outcome::kChanged;
      EXPECT_EQ(obs.change.has_value(), changes) << where;
      EXPECT_EQ(m.version() != v0, changes) << where;
    }
    EXPECT_EQ(Ids(m.Snapshot()), st.members) << where;
  }
}

TEST(Membership, Scenarios) {
  const std::vector<Scenario> scenarios = {
      {"join, refresh, leave after 3.5 s",
       {{0, "a", 1, "10.0.0.1", 80, Outcome::kJoined, {}, {"a"}},
        {1000, "a", 2, "10.0.0.1", 80, Outcome::kRefreshed, {}, {"a"}},
        {4500, "", 0, "", 0, {}, {}, {"a"}},  // 3.5 s after the last beacon: still in
        {4501, "", 0, "", 0, {}, {"a"}, {}}}},
      {"members sorted; each times out on its own",
       {{0, "b", 1, "10.0.0.2", 80, Outcome::kJoined, {}, {"b"}},
        {500, "a", 1, "10.0.0.1", 80, Outcome::kJoined, {}, {"a", "b"}},
        {3000, "a", 2, "10.0.0.1", 80, Outcome::kRefreshed, {}, {"a", "b"}},
        {4000, "", 0, "", 0, {}, {"b"}, {"a"}},
        {7000, "", 0, "", 0, {}, {"a"}, {}}}},
      {"duplicates and replays are stale and do not refresh",
       {{0, "a", 5, "10.0.0.1", 80, Outcome::kJoined, {}, {"a"}},
        {100, "a", 5, "10.0.0.1", 80, Outcome::kStale, {}, {"a"}},
        {3000, "a", 4, "10.0.0.1", 80, Outcome::kStale, {}, {"a"}},
        {3600, "", 0, "", 0, {}, {"a"}, {}}}},
      {"a replayed beacon does not bring back a member that left; a restart does",
       {{0, "a", 5, "10.0.0.1", 80, Outcome::kJoined, {}, {"a"}},
        {4000, "", 0, "", 0, {}, {"a"}, {}},
        {4100, "a", 5, "10.0.0.1", 80, Outcome::kStale, {}, {}},
        {4200, "a", 900, "10.0.0.1", 80, Outcome::kJoined, {}, {"a"}}}},
      {"new ports or address: changed",
       {{0, "a", 1, "10.0.0.1", 80, Outcome::kJoined, {}, {"a"}},
        {1000, "a", 2, "10.0.0.1", 81, Outcome::kChanged, {}, {"a"}},
        {2000, "a", 3, "10.0.0.9", 81, Outcome::kChanged, {}, {"a"}}}},
      {"IPv4 kept over IPv6; IPv6 replaced by IPv4",
       {{0, "a", 1, "fe80::1%eth0", 80, Outcome::kJoined, {}, {"a"}},
        {10, "a", 2, "10.0.0.1", 80, Outcome::kChanged, {}, {"a"}},
        {20, "a", 3, "fe80::1%eth0", 80, Outcome::kRefreshed, {}, {"a"}}}},
  };
  for (const auto& s : scenarios) RunScenario(s);
}

TEST(Membership, BoundedNumberOfMembers) {
  RunScenario({"full",
               {{0, "a", 1, "10.0.0.1", 80, Outcome::kJoined, {}, {"a"}},
                {0, "b", 1, "10.0.0.2", 80, Outcome::kJoined, {}, {"a", "b"}},
                {0, "c", 1, "10.0.0.3", 80, Outcome::kFull, {}, {"a", "b"}},
                {5000, "", 0, "", 0, {}, {"a", "b"}, {}},
                {5000, "c", 1, "10.0.0.3", 80, Outcome::kJoined, {}, {"c"}}}},
              MembershipOptions{3'500 * kMs, 2});
}

TEST(Membership, KeepsFirstSeenAndAddress) {
  Membership m;
  (void)m.Observe(Beacon{0, 1, "a", 80, 90, 8766}, "10.0.0.1", 100);
  (void)m.Observe(Beacon{0, 2, "a", 80, 90, 8766}, "10.0.0.1", 900);
  auto a = m.Find("a");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->first_seen_ns, 100);
  EXPECT_EQ(a->last_seen_ns, 900);
  EXPECT_EQ(a->address, "10.0.0.1");
  EXPECT_EQ(a->data_port, 90);
  EXPECT_EQ(a->last_sequence, 2u);
  EXPECT_FALSE(m.Find("b").has_value());
}

}  // namespace
}  // namespace tandem::cluster

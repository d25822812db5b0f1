// Who is in the cluster: members keyed by node id, refreshed by verified beacons, dropped when
// not heard for `timeout`. Pure: the caller passes the clock (steady nanoseconds, base/clock.h)
// and serialises access.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/beacon.h"

namespace tandem::cluster {

struct Member {
  std::string node_id;
  std::string address;  // source IP of its beacons ("192.0.2.7", "fe80::1%eth0")
  uint16_t http_port = 0;
  uint16_t data_port = 0;
  uint16_t discovery_port = 0;  // its unicast UDP port; 0: none
  int64_t first_seen_ns = 0;
  int64_t last_seen_ns = 0;
  uint64_t last_sequence = 0;
};

enum class MemberEvent {
  kJoined,
  kChanged,  // same node id, another address or ports (a restart)
  kLeft,     // not heard for the timeout
};

struct MembershipChange {
  MemberEvent event = MemberEvent::kJoined;
  Member member;  // as it is now (kLeft: as it was last heard)
};

struct MembershipOptions {
  int64_t timeout_ns = 3'500'000'000;
  size_t max_members = 256;  // beacons from further node ids are dropped (bounded memory)
};

class Membership {
 public:
  explicit Membership(MembershipOptions options = {}) : options_(options) {}

  enum class Outcome {
    kJoined,
    kChanged,
    kRefreshed,  // known member, newer sequence
    kStale,      // sequence not newer than the last one heard (also from a member that left):
                 // a duplicate, reordered or replayed beacon
    kFull,       // a new node id but max_members reached
  };
  struct Observation {
    Outcome outcome = Outcome::kRefreshed;
    std::optional<MembershipChange> change;  // set for kJoined and kChanged
  };

  // Records a verified beacon heard from `address` at `now_ns`. An IPv4 address is kept over an
  // IPv6 one (a node heard on both groups does not flap between them).
  Observation Observe(const Beacon& b, std::string_view address, int64_t now_ns);

  // Removes every member not heard since now_ns - timeout; returns their kLeft changes.
  std::vector<MembershipChange> Expire(int64_t now_ns);

  std::vector<Member> Snapshot() const;  // sorted by node id
  std::optional<Member> Find(std::string_view node_id) const;
  size_t size() const { return members_.size(); }
  // Bumped on every join, change and leave: compare to notice any of them.
  uint64_t version() const { return version_; }

 private:
  MembershipOptions options_;
  std::map<std::string, Member, std::less<>> members_;
  // Last sequence of members that left (at most max_members): a replayed old beacon of a node
  // that left does not bring it back.
  std::map<std::string, uint64_t, std::less<>> departed_;
  uint64_t version_ = 0;
};

}  // namespace tandem::cluster

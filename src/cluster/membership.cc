#include "cluster/membership.h"

namespace tandem::cluster {
namespace {

bool IsIpv6(std::string_view address) { return address.find(':') != std::string_view::npos; }

// The address to keep for a member now heard from `heard`.
bool ShouldMoveTo(const Member& m, std::string_view heard) {
  if (m.address == heard) return false;
  return IsIpv6(m.address) || !IsIpv6(heard);
}

}  // namespace

Membership::Observation Membership::Observe(const Beacon& b, std::string_view address,
                                            int64_t now_ns) {
  auto it = members_.find(b.node_id);
  if (it == members_.end()) {
    auto gone = departed_.find(b.node_id);
    if (gone != departed_.end() && b.sequence <= gone->second) {
      return {Outcome::kStale, std::nullopt};
    }
    if (members_.size() >= options_.max_members) return {Outcome::kFull, std::nullopt};
    if (gone != departed_.end()) departed_.erase(gone);
    Member m{
        b.node_id, std::string(address), b.http_port, b.data_port, b.discovery_port, now_ns, now_ns,
        b.sequence};
    members_.emplace(b.node_id, m);
    ++version_;
    return {Outcome::kJoined, MembershipChange{MemberEvent::kJoined, std::move(m)}};
  }
  Member& m = it->second;
  if (b.sequence <= m.last_sequence) return {Outcome::kStale, std::nullopt};
  m.last_sequence = b.sequence;
  m.last_seen_ns = now_ns;
  const bool moved = ShouldMoveTo(m, address);
  const bool ports = m.http_port != b.http_port || m.data_port != b.data_port ||
                     m.discovery_port != b.discovery_port;
  if (!moved && !ports) return {Outcome::kRefreshed, std::nullopt};
  if (moved) m.address = std::string(address);
  m.http_port = b.http_port;
  m.data_port = b.data_port;
  m.discovery_port = b.discovery_port;
  ++version_;
  return {Outcome::kChanged, MembershipChange{MemberEvent::kChanged, m}};
}

std::vector<MembershipChange> Membership::Expire(int64_t now_ns) {
  std::vector<MembershipChange> left;
  for (auto it = members_.begin(); it != members_.end();) {
    if (now_ns - it->second.last_seen_ns > options_.timeout_ns) {
      if (departed_.size() >= options_.max_members) departed_.erase(departed_.begin());
      departed_[it->first] = it->second.last_sequence;
      left.push_back({MemberEvent::kLeft, std::move(it->second)});
      it = members_.erase(it);
    } else {
      ++it;
    }
  }
  if (!left.empty()) ++version_;
  return left;
}

std::vector<Member> Membership::Snapshot() const {
  std::vector<Member> out;
  out.reserve(members_.size());
  for (const auto& [id, m] : members_) out.push_back(m);
  return out;
}

std::optional<Member> Membership::Find(std::string_view node_id) const {
  auto it = members_.find(node_id);
  if (it == members_.end()) return std::nullopt;
  return it->second;
}

}  // namespace tandem::cluster

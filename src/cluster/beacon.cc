#include "cluster/beacon.h"

#include <algorithm>
#include <cstring>

#include "base/bytes.h"
#include "transport/auth.h"

namespace tandem::cluster {
namespace {

constexpr std::string_view kClusterIdLabel = "tandem-cluster-id";
constexpr std::string_view kProofLabel = "tandem-beacon";

transport::Proof BeaconProof(std::string_view key, std::span<const uint8_t> signed_bytes) {
  return transport::ComputeProof(key, kProofLabel, transport::Nonce{}, signed_bytes);
}

Status CheckNodeId(std::string_view id) {
  if (id.empty()) return InvalidArgument("beacon: empty node id");
  if (id.size() > kMaxNodeIdBytes) {
    return OutOfRange("beacon: node id of " + std::to_string(id.size()) +
                      " bytes exceeds the limit of " + std::to_string(kMaxNodeIdBytes));
  }
  return OkStatus();
}

Status CheckSize(size_t n) {
  if (n < kMinBeaconBytes) {
    return DataLoss("beacon: " + std::to_string(n) + " bytes, a beacon has at least " +
                    std::to_string(kMinBeaconBytes) + " (truncated datagram?)");
  }
  if (n > kMaxBeaconBytes) {
    return OutOfRange("beacon: " + std::to_string(n) + " bytes exceeds the limit of " +
                      std::to_string(kMaxBeaconBytes));
  }
  return OkStatus();
}

// Reads the fields after the cluster id up to the proof; `r` must hold exactly those bytes.
Status ReadFields(ByteReader& r, Beacon* b) {
  RETURN_IF_ERROR(r.Get(&b->sequence));
  RETURN_IF_ERROR(r.Get(&b->http_port));
  RETURN_IF_ERROR(r.Get(&b->data_port));
  RETURN_IF_ERROR(r.Get(&b->discovery_port));
  RETURN_IF_ERROR(r.GetString(&b->node_id, kMaxNodeIdBytes));
  RETURN_IF_ERROR(r.ExpectDone());
  return CheckNodeId(b->node_id);
}

}  // namespace

uint64_t ClusterIdHash(std::string_view cluster_key) {
  const transport::Proof p = transport::ComputeProof(
      cluster_key, kClusterIdLabel, transport::Nonce{}, std::span<const uint8_t>());
  uint64_t id = 0;
  std::memcpy(&id, p.data(), sizeof(id));
  return id;
}

StatusOr<std::vector<uint8_t>> EncodeBeacon(const Beacon& b, std::string_view cluster_key) {
  RETURN_IF_ERROR(CheckNodeId(b.node_id));
  if ((b.flags & ~kBeaconKnownFlags) != 0) {
    return InvalidArgument("beacon: unknown flags " + std::to_string(b.flags));
  }
  ByteWriter w;
  w.Put<uint32_t>(kBeaconMagic);
  w.Put<uint16_t>(kBeaconVersion);
  w.Put<uint8_t>(b.flags);
  w.Put<uint8_t>(0);
  w.Put<uint64_t>(ClusterIdHash(cluster_key));
  w.Put<uint64_t>(b.sequence);
  w.Put<uint16_t>(b.http_port);
  w.Put<uint16_t>(b.data_port);
  w.Put<uint16_t>(b.discovery_port);
  w.PutString(b.node_id);
  const transport::Proof proof = BeaconProof(cluster_key, w.bytes());
  w.PutBytes(proof);
  return std::move(w.bytes());
}

StatusOr<Beacon> DecodeBeacon(std::span<const uint8_t> bytes, std::string_view cluster_key) {
  RETURN_IF_ERROR(CheckSize(bytes.size()));
  const auto signed_bytes = bytes.first(bytes.size() - kBeaconProofBytes);
  ByteReader r(signed_bytes, "beacon");
  uint32_t magic = 0;
  uint16_t version = 0;
  uint8_t reserved = 0;
  uint64_t cluster_id = 0;
  Beacon b;
  RETURN_IF_ERROR(r.Get(&magic));
  if (magic != kBeaconMagic) return InvalidArgument("beacon: not a Tandem beacon (bad magic)");
  RETURN_IF_ERROR(r.Get(&version));
  if (version != kBeaconVersion) {
    return Unimplemented("beacon: protocol version " + std::to_string(version) + ", this node " +
                         "speaks " + std::to_string(kBeaconVersion) + " (upgrade the older node)");
  }
  RETURN_IF_ERROR(r.Get(&b.flags));
  RETURN_IF_ERROR(r.Get(&reserved));
  if ((b.flags & ~kBeaconKnownFlags) != 0 || reserved != 0) {
    return InvalidArgument("beacon: unknown flags or reserved bits set");
  }
  RETURN_IF_ERROR(r.Get(&cluster_id));
  if (cluster_id != ClusterIdHash(cluster_key)) {
    return NotFound("beacon: from another cluster (different cluster key)");
  }
  RETURN_IF_ERROR(ReadFields(r, &b));
  transport::Proof got{};
  std::copy(bytes.end() - kBeaconProofBytes, bytes.end(), got.begin());
  if (!transport::ProofEquals(got, BeaconProof(cluster_key, signed_bytes))) {
    return InvalidArgument(
        "beacon: proof does not verify (forged, corrupted, or the same "
        "cluster id under another key)");
  }
  return b;
}

}  // namespace tandem::cluster

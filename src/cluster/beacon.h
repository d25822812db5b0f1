// Discovery beacons: one UDP datagram that says "node X of cluster C is here, on these ports".
// Pure encode/decode (fuzzable, no I/O).
//
//   u32 magic "TDB1" | u16 version | u8 flags | u8 zero | u64 cluster id | u64 sequence
//   | u16 http port | u16 data port | u16 discovery port | u32 n + node id | 32-byte proof
//
// cluster id = the first 8 bytes of HMAC-SHA256(key, "tandem-cluster-id"): nodes of another
// cluster are told apart without revealing the key. proof = HMAC-SHA256(key, "tandem-beacon" ‖
// zero nonce ‖ every byte before the proof); the sequence, inside the proof, grows with every
// datagram a node sends, so a receiver can drop replays.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace tandem::cluster {

inline constexpr uint32_t kBeaconMagic = 0x31424454;  // "TDB1" little-endian
inline constexpr uint16_t kBeaconVersion = 1;
inline constexpr uint32_t kMaxNodeIdBytes = 128;
inline constexpr size_t kBeaconFixedBytes = 4 + 2 + 1 + 1 + 8 + 8 + 2 * 3 + 4;  // before the id
inline constexpr size_t kBeaconProofBytes = 32;
inline constexpr size_t kMinBeaconBytes = kBeaconFixedBytes + kBeaconProofBytes;
inline constexpr size_t kMaxBeaconBytes = kMinBeaconBytes + kMaxNodeIdBytes;

// Flag bits.
inline constexpr uint8_t kBeaconWantsReply = 1;  // a unicast poll: answer with a beacon
inline constexpr uint8_t kBeaconKnownFlags = kBeaconWantsReply;

struct Beacon {
  uint8_t flags = 0;
  uint64_t sequence = 0;  // strictly increasing per sender, across restarts (starts at unix µs)
  std::string node_id;    // at most kMaxNodeIdBytes, not empty
  uint16_t http_port = 0;
  uint16_t data_port = 0;
  uint16_t discovery_port = 0;  // the sender's unicast UDP port; 0: none
};

// The cluster-id hash of a key (see the top of this file).
uint64_t ClusterIdHash(std::string_view cluster_key);

// Fails only on a node id that is empty or longer than kMaxNodeIdBytes, or unknown flags.
StatusOr<std::vector<uint8_t>> EncodeBeacon(const Beacon& b, std::string_view cluster_key);

// Rejects, in this order: a size outside [kMinBeaconBytes, kMaxBeaconBytes] (kDataLoss /
// kOutOfRange), another magic (kInvalidArgument), another version (kUnimplemented), another
// cluster (kNotFound), malformed fields (kDataLoss / kOutOfRange / kInvalidArgument), a proof
// that does not verify under `cluster_key` (kInvalidArgument, "proof").
StatusOr<Beacon> DecodeBeacon(std::span<const uint8_t> bytes, std::string_view cluster_key);

}  // namespace tandem::cluster

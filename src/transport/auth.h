// Cluster-key authentication of the data plane: HMAC-SHA256 proofs over the peer's fresh nonce.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "base/status.h"
#include "transport/frame.h"

namespace tandem::transport {

// Reads a cluster key file (its bytes, trailing newline removed); at least 16 bytes.
StatusOr<std::string> ReadClusterKey(const std::string& path);

Nonce RandomNonce();

// HMAC-SHA256(key, label ‖ peer_nonce ‖ fields).
Proof ComputeProof(std::string_view key, std::string_view label, const Nonce& peer_nonce,
                   std::span<const uint8_t> fields);

// Constant-time comparison.
bool ProofEquals(const Proof& a, const Proof& b);

}  // namespace tandem::transport

// The KV wire protocol: length-prefixed binary frames, pure encode/decode (fuzzable, no I/O).
//
//   decode node D                               prefill node P
//   Hello{nonce_d}                         ──►
//                                          ◄──  Hello{nonce_p, proof = HMAC(key, nonce_d‖P)}
//   PrefillRequest{tokens, proof(nonce_p)} ──►
//                                          ◄──  KvLayer{layer, t0, t1, K, V} × layers × chunks
//                                          ◄──  End{checksum, timings} | Error{code, message}
//
// Every frame: u32 magic "TDK1", u8 type, 3 bytes zero, u64 payload bytes, then the payload.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"

namespace tandem::transport {

inline constexpr uint32_t kProtocolVersion = 2;      // 2: PrefillRequest.kv_type
inline constexpr uint32_t kFrameMagic = 0x314b4454;  // "TDK1" little-endian
inline constexpr size_t kFrameHeaderBytes = 16;
inline constexpr uint64_t kMaxFrameBytes = uint64_t{1} << 30;  // one layer's K+V for a long prompt
inline constexpr uint32_t kMaxPromptTokens = 1u << 20;
inline constexpr uint32_t kMaxStringBytes = 4096;
inline constexpr uint32_t kMaxLayers = 1024;

enum class FrameType : uint8_t {
  kHello = 1,
  kPrefillRequest = 2,
  kKvLayer = 3,
  kEnd = 4,
  kError = 5,
};

struct FrameHeader {
  FrameType type = FrameType::kHello;
  uint64_t payload_bytes = 0;
};

using Nonce = std::array<uint8_t, 16>;
using Proof = std::array<uint8_t, 32>;  // HMAC-SHA256

struct Hello {
  uint32_t protocol_version = kProtocolVersion;
  std::string node_id;
  uint64_t model_fingerprint = 0;  // hash of tensor names, shapes, types
  uint64_t tokenizer_hash = 0;
  uint32_t n_layers = 0;  // KV layout
  uint32_t n_kv_heads = 0;
  uint32_t head_dim = 0;
  uint8_t codec = 0;  // kv::KvCodec
  Nonce nonce{};
  Proof proof{};  // zero in the first Hello (D has nothing to answer yet)
};

enum class PrefillMode : uint8_t { kStreamed = 1, kAfterPrefill = 2 };

struct PrefillRequest {
  std::string request_id;
  PrefillMode mode = PrefillMode::kStreamed;
  uint8_t codec = 0;
  uint8_t kv_type = 0;          // kv::KvPrecision of D's cache: P prefills into the same
  uint32_t chunk_tokens = 0;    // prefill chunk; 0: the whole prompt in one chunk
  std::vector<int32_t> tokens;  // prompt tokens [0, n-1)
  Proof proof{};
};

// The fixed part of a KvLayer frame; K bytes then V bytes follow.
struct KvLayerHeader {
  uint32_t layer = 0;
  uint32_t t0 = 0;
  uint32_t t1 = 0;
  uint8_t codec = 0;
  uint64_t k_bytes = 0;
  uint64_t v_bytes = 0;
  int64_t compute_done_ns = 0;  // P's clock
  int64_t send_start_ns = 0;
};
inline constexpr size_t kKvLayerHeaderBytes = 4 * 3 + 1 + 8 * 4;

struct KvLayerView {
  KvLayerHeader header;
  std::span<const uint8_t> k;
  std::span<const uint8_t> v;
};

struct End {
  uint64_t checksum = 0;         // XXH3-64 over every K and V byte, in order (KvChecksum)
  int64_t prefill_start_ns = 0;  // P's clock
  int64_t prefill_end_ns = 0;
  std::vector<int64_t> send_end_ns;  // per KvLayer frame, in order
};

struct ErrorFrame {
  uint32_t code = 0;  // tandem::StatusCode
  std::string message;
};

std::vector<uint8_t> EncodeFrameHeader(FrameType type, uint64_t payload_bytes);
StatusOr<FrameHeader> DecodeFrameHeader(std::span<const uint8_t> bytes);

std::vector<uint8_t> EncodeHello(const Hello& h);
StatusOr<Hello> DecodeHello(std::span<const uint8_t> payload);
// The bytes a Hello's proof covers: every field but the proof.
std::vector<uint8_t> HelloProofBytes(const Hello& h);

std::vector<uint8_t> EncodePrefillRequest(const PrefillRequest& r);
StatusOr<PrefillRequest> DecodePrefillRequest(std::span<const uint8_t> payload);
std::vector<uint8_t> PrefillRequestProofBytes(const PrefillRequest& r);

// The header part of a KvLayer payload (K and V are written after it).
std::vector<uint8_t> EncodeKvLayerHeader(const KvLayerHeader& h);
StatusOr<KvLayerView> DecodeKvLayer(std::span<const uint8_t> payload);

std::vector<uint8_t> EncodeEnd(const End& e);
StatusOr<End> DecodeEnd(std::span<const uint8_t> payload);

std::vector<uint8_t> EncodeError(const ErrorFrame& e);
StatusOr<ErrorFrame> DecodeError(std::span<const uint8_t> payload);

// Running XXH3-64 over the K and V bytes of a stream: each block's hash is folded into the state.
class KvChecksum {
 public:
  void Add(std::span<const uint8_t> bytes);
  uint64_t value() const { return h_; }

 private:
  uint64_t h_ = 0;
};

}  // namespace tandem::transport

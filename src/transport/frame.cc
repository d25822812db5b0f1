#include "transport/frame.h"

#include <xxhash.h>

#include "base/bytes.h"

namespace tandem::transport {
namespace {

template <size_t N>
void PutArray(ByteWriter& w, const std::array<uint8_t, N>& a) {
  w.PutBytes(a);
}

template <size_t N>
Status GetArray(ByteReader& r, std::array<uint8_t, N>* a) {
  std::span<const uint8_t> s;
  RETURN_IF_ERROR(r.GetSpan(N, &s));
  std::copy(s.begin(), s.end(), a->begin());
  return OkStatus();
}

void PutHelloFields(ByteWriter& w, const Hello& h) {
  w.Put(h.protocol_version);
  w.PutString(h.node_id);
  w.Put(h.model_fingerprint);
  w.Put(h.tokenizer_hash);
  w.Put(h.n_layers);
  w.Put(h.n_kv_heads);
  w.Put(h.head_dim);
  w.Put(h.codec);
  PutArray(w, h.nonce);
}

void PutRequestFields(ByteWriter& w, const PrefillRequest& r) {
  w.PutString(r.request_id);
  w.Put(static_cast<uint8_t>(r.mode));
  w.Put(r.codec);
  w.Put(r.kv_type);
  w.Put(r.chunk_tokens);
  w.Put(static_cast<uint32_t>(r.tokens.size()));
  for (int32_t t : r.tokens) w.Put(t);
}

}  // namespace

std::vector<uint8_t> EncodeFrameHeader(FrameType type, uint64_t payload_bytes) {
  ByteWriter w;
  w.Put(kFrameMagic);
  w.Put(static_cast<uint8_t>(type));
  w.Put<uint8_t>(0);
  w.Put<uint16_t>(0);
  w.Put(payload_bytes);
  return std::move(w.bytes());
}

StatusOr<FrameHeader> DecodeFrameHeader(std::span<const uint8_t> bytes) {
  ByteReader r(bytes, "frame header");
  uint32_t magic = 0;
  uint8_t type = 0, pad8 = 0;
  uint16_t pad16 = 0;
  FrameHeader h;
  RETURN_IF_ERROR(r.Get(&magic));
  if (magic != kFrameMagic) {
    return InvalidArgument("not a Tandem KV stream (bad frame magic; wrong port or protocol?)");
  }
  RETURN_IF_ERROR(r.Get(&type));
  RETURN_IF_ERROR(r.Get(&pad8));
  RETURN_IF_ERROR(r.Get(&pad16));
  RETURN_IF_ERROR(r.Get(&h.payload_bytes));
  if (type < static_cast<uint8_t>(FrameType::kHello) ||
      type > static_cast<uint8_t>(FrameType::kError)) {
    return InvalidArgument("unknown frame type " + std::to_string(type));
  }
  if (h.payload_bytes > kMaxFrameBytes) {
    return OutOfRange("frame of " + std::to_string(h.payload_bytes) +
                      " bytes exceeds the limit of " + std::to_string(kMaxFrameBytes));
  }
  h.type = static_cast<FrameType>(type);
  return h;
}

std::vector<uint8_t> HelloProofBytes(const Hello& h) {
  ByteWriter w;
  PutHelloFields(w, h);
  return std::move(w.bytes());
}

std::vector<uint8_t> EncodeHello(const Hello& h) {
  ByteWriter w;
  PutHelloFields(w, h);
  PutArray(w, h.proof);
  return std::move(w.bytes());
}

StatusOr<Hello> DecodeHello(std::span<const uint8_t> payload) {
  ByteReader r(payload, "Hello");
  Hello h;
  RETURN_IF_ERROR(r.Get(&h.protocol_version));
  RETURN_IF_ERROR(r.GetString(&h.node_id, kMaxStringBytes));
  RETURN_IF_ERROR(r.Get(&h.model_fingerprint));
  RETURN_IF_ERROR(r.Get(&h.tokenizer_hash));
  RETURN_IF_ERROR(r.Get(&h.n_layers));
  RETURN_IF_ERROR(r.Get(&h.n_kv_heads));
  RETURN_IF_ERROR(r.Get(&h.head_dim));
  RETURN_IF_ERROR(r.Get(&h.codec));
  RETURN_IF_ERROR(GetArray(r, &h.nonce));
  RETURN_IF_ERROR(GetArray(r, &h.proof));
  RETURN_IF_ERROR(r.ExpectDone());
  return h;
}

std::vector<uint8_t> PrefillRequestProofBytes(const PrefillRequest& req) {
  ByteWriter w;
  PutRequestFields(w, req);
  return std::move(w.bytes());
}

std::vector<uint8_t> EncodePrefillRequest(const PrefillRequest& req) {
  ByteWriter w;
  PutRequestFields(w, req);
  PutArray(w, req.proof);
  return std::move(w.bytes());
}

StatusOr<PrefillRequest> DecodePrefillRequest(std::span<const uint8_t> payload) {
  ByteReader r(payload, "PrefillRequest");
  PrefillRequest req;
  uint8_t mode = 0;
  uint32_t n = 0;
  RETURN_IF_ERROR(r.GetString(&req.request_id, kMaxStringBytes));
  RETURN_IF_ERROR(r.Get(&mode));
  if (mode != static_cast<uint8_t>(PrefillMode::kStreamed) &&
      mode != static_cast<uint8_t>(PrefillMode::kAfterPrefill)) {
    return InvalidArgument("PrefillRequest: unknown mode " + std::to_string(mode));
  }
  req.mode = static_cast<PrefillMode>(mode);
  RETURN_IF_ERROR(r.Get(&req.codec));
  RETURN_IF_ERROR(r.Get(&req.kv_type));
  RETURN_IF_ERROR(r.Get(&req.chunk_tokens));
  RETURN_IF_ERROR(r.Get(&n));
  if (n > kMaxPromptTokens) {
    return OutOfRange("PrefillRequest: " + std::to_string(n) + " tokens exceeds the limit of " +
                      std::to_string(kMaxPromptTokens));
  }
  if (r.remaining() < static_cast<size_t>(n) * 4) {
    return DataLoss("PrefillRequest: token list is cut short");
  }
  req.tokens.resize(n);
  for (auto& t : req.tokens) RETURN_IF_ERROR(r.Get(&t));
  RETURN_IF_ERROR(GetArray(r, &req.proof));
  RETURN_IF_ERROR(r.ExpectDone());
  return req;
}

std::vector<uint8_t> EncodeKvLayerHeader(const KvLayerHeader& h) {
  ByteWriter w;
  w.Put(h.layer);
  w.Put(h.t0);
  w.Put(h.t1);
  w.Put(h.codec);
  w.Put(h.k_bytes);
  w.Put(h.v_bytes);
  w.Put(h.compute_done_ns);
  w.Put(h.send_start_ns);
  return std::move(w.bytes());
}

StatusOr<KvLayerView> DecodeKvLayer(std::span<const uint8_t> payload) {
  ByteReader r(payload, "KvLayer");
  KvLayerView v;
  KvLayerHeader& h = v.header;
  RETURN_IF_ERROR(r.Get(&h.layer));
  RETURN_IF_ERROR(r.Get(&h.t0));
  RETURN_IF_ERROR(r.Get(&h.t1));
  RETURN_IF_ERROR(r.Get(&h.codec));
  RETURN_IF_ERROR(r.Get(&h.k_bytes));
  RETURN_IF_ERROR(r.Get(&h.v_bytes));
  RETURN_IF_ERROR(r.Get(&h.compute_done_ns));
  RETURN_IF_ERROR(r.Get(&h.send_start_ns));
  if (h.layer >= kMaxLayers || h.t1 <= h.t0 || h.t1 > kMaxPromptTokens) {
    return InvalidArgument("KvLayer: bad layer " + std::to_string(h.layer) + " or token range [" +
                           std::to_string(h.t0) + ", " + std::to_string(h.t1) + ")");
  }
  if (h.k_bytes != r.remaining() / 2 || h.k_bytes + h.v_bytes != r.remaining() ||
      h.k_bytes != h.v_bytes) {
    return DataLoss("KvLayer: K and V sizes do not match the frame");
  }
  RETURN_IF_ERROR(r.GetSpan(h.k_bytes, &v.k));
  RETURN_IF_ERROR(r.GetSpan(h.v_bytes, &v.v));
  return v;
}

std::vector<uint8_t> EncodeEnd(const End& e) {
  ByteWriter w;
  w.Put(e.checksum);
  w.Put(e.prefill_start_ns);
  w.Put(e.prefill_end_ns);
  w.Put(static_cast<uint32_t>(e.send_end_ns.size()));
  for (int64_t t : e.send_end_ns) w.Put(t);
  return std::move(w.bytes());
}

StatusOr<End> DecodeEnd(std::span<const uint8_t> payload) {
  ByteReader r(payload, "End");
  End e;
  uint32_t n = 0;
  RETURN_IF_ERROR(r.Get(&e.checksum));
  RETURN_IF_ERROR(r.Get(&e.prefill_start_ns));
  RETURN_IF_ERROR(r.Get(&e.prefill_end_ns));
  RETURN_IF_ERROR(r.Get(&n));
  if (n > kMaxLayers * 4096u || r.remaining() != static_cast<size_t>(n) * 8) {
    return DataLoss("End: timing list does not match the frame");
  }
  e.send_end_ns.resize(n);
  for (auto& t : e.send_end_ns) RETURN_IF_ERROR(r.Get(&t));
  return e;
}

std::vector<uint8_t> EncodeError(const ErrorFrame& e) {
  ByteWriter w;
  w.Put(e.code);
  w.PutString(e.message.substr(0, kMaxStringBytes));
  return std::move(w.bytes());
}

StatusOr<ErrorFrame> DecodeError(std::span<const uint8_t> payload) {
  ByteReader r(payload, "Error");
  ErrorFrame e;
  RETURN_IF_ERROR(r.Get(&e.code));
  RETURN_IF_ERROR(r.GetString(&e.message, kMaxStringBytes));
  RETURN_IF_ERROR(r.ExpectDone());
  return e;
}

void KvChecksum::Add(std::span<const uint8_t> bytes) {
  h_ = XXH3_64bits_withSeed(bytes.data(), bytes.size(), h_);
}

}  // namespace tandem::transport

// The two number formats the planner reasons about: how weights are stored (which sets the bytes a
// decode step reads and which GEMM a prefill runs) and how KV rows travel on the wire.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace tandem::planner {

// Weight storage types a device profile carries a prefill FLOP/s figure for.
enum class WeightDtype : uint8_t { kF32, kF16, kBF16, kQ8_0, kQ4_0 };
inline constexpr int kNumWeightDtypes = 5;

std::string_view WeightDtypeName(WeightDtype dtype);  // "f32", "f16", "bf16", "q8_0", "q4_0"
std::optional<WeightDtype> ParseWeightDtype(std::string_view name);  // case-insensitive
// Storage bytes per weight: f32 4, f16/bf16 2, q8_0 34/32 (32 int8 + fp16 scale per block),
// q4_0 18/32 (32 nibbles + fp16 scale per block).
double BytesPerWeight(WeightDtype dtype);

// KV wire encodings, as kv/kv_codec.h writes them:
//   F16: every element as IEEE half: b = 2 bytes per element.
//   Q8:  per (token, KV head): one fp16 scale, then head_dim int8 values:
//        b = 1 + 2 / head_dim bytes per element (1.0156 at head_dim 128; the ≈ 1.06 quoted for
//        llama.cpp's Q8_0 is the same idea with one scale per 32 elements).
enum class KvCodec : uint8_t { kF16, kQ8 };
inline constexpr KvCodec kAllKvCodecs[] = {KvCodec::kF16, KvCodec::kQ8};

std::string_view KvCodecName(KvCodec codec);                 // "F16", "Q8"
std::optional<KvCodec> ParseKvCodec(std::string_view name);  // "f16", "q8" (case-insensitive)
// Wire bytes of one token's K (or V) row of one KV head.
int64_t KvHeadRowBytes(KvCodec codec, int head_dim);
// Wire bytes per KV element (the `b` of the cost model).
double KvBytesPerElement(KvCodec codec, int head_dim);
// False for codecs that round more than the F16 cache does (Q8): on a near tie the planner
// prefers the lossless one.
bool KvCodecIsLossless(KvCodec codec);

}  // namespace tandem::planner

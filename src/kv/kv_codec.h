// Wire encodings of KV rows. A block is `rows` tokens of [n_kv_heads, head_dim] float32 values.
//   F16: each value as IEEE half, row-major.
//   Q8:  per (token, head): fp16 scale d = max|x| / 127, then head_dim int8 q with x ≈ d·q.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "base/status.h"

namespace tandem::kv {

enum class KvCodec : uint8_t { kF16 = 1, kQ8 = 2 };

std::string_view KvCodecName(KvCodec codec);
std::optional<KvCodec> ParseKvCodec(std::string_view name);  // "f16", "q8"
std::optional<KvCodec> KvCodecFromByte(uint8_t b);

// Encoded bytes of `rows` tokens.
uint64_t KvEncodedBytes(KvCodec codec, int64_t rows, int n_kv_heads, int head_dim);

// OK when `bytes` (from the network) is what `rows` tokens encode to; else DataLoss.
[[nodiscard]] Status CheckKvEncodedBytes(KvCodec codec, size_t bytes, int64_t rows, int n_kv_heads,
                                         int head_dim);

// src: [rows, n_kv_heads, head_dim]; dst: KvEncodedBytes(...) bytes.
void KvEncode(KvCodec codec, std::span<const float> src, int n_kv_heads, int head_dim,
              std::span<uint8_t> dst);

// Inverse of KvEncode; sizes are checked (the bytes come from the network).
[[nodiscard]] Status KvDecode(KvCodec codec, std::span<const uint8_t> src, int n_kv_heads,
                              int head_dim, std::span<float> dst);

}  // namespace tandem::kv

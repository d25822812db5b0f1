#include "kv/kv_codec.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "kernels/ref/convert.h"

namespace tandem::kv {

std::string_view KvCodecName(KvCodec codec) {
  switch (codec) {
    case KvCodec::kF16: return "f16";
    case KvCodec::kQ8: return "q8";
  }
  return "?";
}

std::optional<KvCodec> ParseKvCodec(std::string_view name) {
  if (name == "f16" || name == "F16") return KvCodec::kF16;
  if (name == "q8" || name == "Q8" || name == "q8_0") return KvCodec::kQ8;
  return std::nullopt;
}

std::optional<KvCodec> KvCodecFromByte(uint8_t b) {
  if (b == static_cast<uint8_t>(KvCodec::kF16)) return KvCodec::kF16;
  if (b == static_cast<uint8_t>(KvCodec::kQ8)) return KvCodec::kQ8;
  return std::nullopt;
}

uint64_t KvEncodedBytes(KvCodec codec, int64_t rows, int n_kv_heads, int head_dim) {
  const uint64_t heads = static_cast<uint64_t>(rows) * n_kv_heads;
  switch (codec) {
    case KvCodec::kF16: return heads * head_dim * 2;
    case KvCodec::kQ8: return heads * (2 + head_dim);
  }
  return 0;
}

void KvEncode(KvCodec codec, std::span<const float> src, int n_kv_heads, int head_dim,
              std::span<uint8_t> dst) {
  const size_t n_heads = src.size() / head_dim;
  switch (codec) {
    case KvCodec::kF16:
      for (size_t i = 0; i < src.size(); ++i) {
        const uint16_t h = kernels::F32ToFp16(src[i]);
        std::memcpy(&dst[2 * i], &h, 2);
      }
      return;
    case KvCodec::kQ8:
      for (size_t h = 0; h < n_heads; ++h) {
        const float* x = &src[h * head_dim];
        uint8_t* out = &dst[h * (2 + head_dim)];
        float amax = 0;
        for (int i = 0; i < head_dim; ++i) amax = std::max(amax, std::fabs(x[i]));
        const uint16_t d16 = kernels::F32ToFp16(amax / 127.0f);
        const float d = kernels::Fp16ToF32(d16);
        const float id = d > 0 ? 1.0f / d : 0.0f;
        std::memcpy(out, &d16, 2);
        for (int i = 0; i < head_dim; ++i) {
          const long q = std::lround(x[i] * id);
          out[2 + i] = static_cast<uint8_t>(static_cast<int8_t>(std::clamp(q, -127L, 127L)));
        }
      }
      return;
  }
}

Status CheckKvEncodedBytes(KvCodec codec, size_t bytes, int64_t rows, int n_kv_heads,
                           int head_dim) {
  if (bytes != KvEncodedBytes(codec, rows, n_kv_heads, head_dim)) {
    return DataLoss("KV block of " + std::to_string(bytes) + " bytes does not hold " +
                    std::to_string(rows) + " rows of " + std::string(KvCodecName(codec)));
  }
  return OkStatus();
}

Status KvDecode(KvCodec codec, std::span<const uint8_t> src, int n_kv_heads, int head_dim,
                std::span<float> dst) {
  const int64_t rows = static_cast<int64_t>(dst.size()) / (int64_t{n_kv_heads} * head_dim);
  RETURN_IF_ERROR(CheckKvEncodedBytes(codec, src.size(), rows, n_kv_heads, head_dim));
  switch (codec) {
    case KvCodec::kF16:
      for (size_t i = 0; i < dst.size(); ++i) {
        uint16_t h;
        std::memcpy(&h, &src[2 * i], 2);
        dst[i] = kernels::Fp16ToF32(h);
      }
      return OkStatus();
    case KvCodec::kQ8:
      for (size_t h = 0; h < dst.size() / head_dim; ++h) {
        const uint8_t* in = &src[h * (2 + head_dim)];
        uint16_t d16;
        std::memcpy(&d16, in, 2);
        const float d = kernels::Fp16ToF32(d16);
        for (int i = 0; i < head_dim; ++i) {
          dst[h * head_dim + i] = d * static_cast<int8_t>(in[2 + i]);
        }
      }
      return OkStatus();
  }
  return InvalidArgument("unknown KV codec");
}

}  // namespace tandem::kv

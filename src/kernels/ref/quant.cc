#include "kernels/ref/quant.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "kernels/ref/convert.h"

namespace tandem::kernels::ref {
namespace {

void DequantQ8_0(const uint8_t* src, float* dst, int64_t n) {
  for (int64_t b = 0; b < n / kQK8_0; ++b) {
    BlockQ8_0 blk;
    std::memcpy(&blk, src + b * sizeof(BlockQ8_0), sizeof(blk));
    const float d = Fp16ToF32(blk.d);
    for (int i = 0; i < kQK8_0; ++i) dst[b * kQK8_0 + i] = d * blk.qs[i];
  }
}

void DequantQ4_0(const uint8_t* src, float* dst, int64_t n) {
  for (int64_t b = 0; b < n / kQK4_0; ++b) {
    BlockQ4_0 blk;
    std::memcpy(&blk, src + b * sizeof(BlockQ4_0), sizeof(blk));
    const float d = Fp16ToF32(blk.d);
    float* y = dst + b * kQK4_0;
    for (int i = 0; i < kQK4_0 / 2; ++i) {
      y[i] = d * ((blk.qs[i] & 0x0f) - 8);
      y[i + kQK4_0 / 2] = d * ((blk.qs[i] >> 4) - 8);
    }
  }
}

void DequantQ4_1(const uint8_t* src, float* dst, int64_t n) {
  for (int64_t b = 0; b < n / kQK4_0; ++b) {
    BlockQ4_1 blk;
    std::memcpy(&blk, src + b * sizeof(BlockQ4_1), sizeof(blk));
    const float d = Fp16ToF32(blk.d), m = Fp16ToF32(blk.m);
    float* y = dst + b * kQK4_0;
    for (int i = 0; i < kQK4_0 / 2; ++i) {
      y[i] = d * (blk.qs[i] & 0x0f) + m;
      y[i + kQK4_0 / 2] = d * (blk.qs[i] >> 4) + m;
    }
  }
}

// Q5_0 and Q5_1: 5-bit q = nibble | (bit j of qh) << 4 for element j.
template <class Block, bool kMin>
void DequantQ5(const uint8_t* src, float* dst, int64_t n) {
  for (int64_t b = 0; b < n / kQK4_0; ++b) {
    Block blk;
    std::memcpy(&blk, src + b * sizeof(Block), sizeof(blk));
    uint32_t qh;
    std::memcpy(&qh, blk.qh, sizeof(qh));
    const float d = Fp16ToF32(blk.d);
    float* y = dst + b * kQK4_0;
    for (int i = 0; i < kQK4_0 / 2; ++i) {
      const int q0 = (blk.qs[i] & 0x0f) | ((qh >> i) & 1) << 4;
      const int q1 = (blk.qs[i] >> 4) | ((qh >> (i + 16)) & 1) << 4;
      if constexpr (kMin) {
        const float m = Fp16ToF32(blk.m);
        y[i] = d * q0 + m;
        y[i + kQK4_0 / 2] = d * q1 + m;
      } else {
        y[i] = d * (q0 - 16);
        y[i + kQK4_0 / 2] = d * (q1 - 16);
      }
    }
  }
}

// Q4_K, and Q5_K (Block = BlockQ5_K) whose fifth bit of element 64 g + l is bit 2g of qh[l]
// (low nibbles) or 2g + 1 (high).
template <class Block>
void DequantKWithMins(const uint8_t* src, float* dst, int64_t n) {
  constexpr bool kQ5 = sizeof(Block) == sizeof(BlockQ5_K);
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    Block blk;
    std::memcpy(&blk, src + b * sizeof(Block), sizeof(blk));
    const float d = Fp16ToF32(blk.d);
    const float dmin = Fp16ToF32(blk.dmin);
    float* y = dst + b * kQK_K;
    // Four groups of 64: 32 low nibbles (sub-block 2g) then 32 high nibbles (sub-block 2g+1).
    for (int g = 0; g < 4; ++g) {
      uint8_t sc0, m0, sc1, m1;
      KQuantScaleMin(2 * g, blk.scales, &sc0, &m0);
      KQuantScaleMin(2 * g + 1, blk.scales, &sc1, &m1);
      const uint8_t* q = blk.qs + 32 * g;
      for (int l = 0; l < 32; ++l) {
        int lo = q[l] & 0x0f, hi = q[l] >> 4;
        if constexpr (kQ5) {
          lo |= ((blk.qh[l] >> (2 * g)) & 1) << 4;
          hi |= ((blk.qh[l] >> (2 * g + 1)) & 1) << 4;
        }
        y[64 * g + l] = d * sc0 * lo - dmin * m0;
        y[64 * g + 32 + l] = d * sc1 * hi - dmin * m1;
      }
    }
  }
}

void DequantQ6_K(const uint8_t* src, float* dst, int64_t n) {
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    BlockQ6_K blk;
    std::memcpy(&blk, src + b * sizeof(BlockQ6_K), sizeof(blk));
    const float d = Fp16ToF32(blk.d);
    // Two halves of 128; each element's 6 bits = 4 from ql, 2 from qh, minus 32.
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = blk.ql + 64 * h;
      const uint8_t* qh = blk.qh + 32 * h;
      const int8_t* sc = blk.scales + 8 * h;
      float* y = dst + b * kQK_K + 128 * h;
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0xf) | ((qh[l] >> 0) & 3) << 4) - 32;
        const int q2 = ((ql[l + 32] & 0xf) | ((qh[l] >> 2) & 3) << 4) - 32;
        const int q3 = ((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32;
        const int q4 = ((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32;
        y[l] = d * sc[is] * q1;
        y[l + 32] = d * sc[is + 2] * q2;
        y[l + 64] = d * sc[is + 4] * q3;
        y[l + 96] = d * sc[is + 6] * q4;
      }
    }
  }
}

void QuantQ8_0(const float* x, uint8_t* dst, int64_t n) {
  for (int64_t b = 0; b < n / kQK8_0; ++b) {
    const float* v = x + b * kQK8_0;
    float amax = 0;
    for (int i = 0; i < kQK8_0; ++i) amax = std::max(amax, std::fabs(v[i]));
    const float d = amax / 127.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    BlockQ8_0 blk;
    blk.d = F32ToFp16(d);
    for (int i = 0; i < kQK8_0; ++i) blk.qs[i] = static_cast<int8_t>(std::lround(v[i] * id));
    std::memcpy(dst + b * sizeof(BlockQ8_0), &blk, sizeof(blk));
  }
}

void QuantQ4_0(const float* x, uint8_t* dst, int64_t n) {
  for (int64_t b = 0; b < n / kQK4_0; ++b) {
    const float* v = x + b * kQK4_0;
    float amax = 0, max = 0;  // the signed value of largest magnitude maps to -8
    for (int i = 0; i < kQK4_0; ++i) {
      if (std::fabs(v[i]) > amax) {
        amax = std::fabs(v[i]);
        max = v[i];
      }
    }
    const float d = max / -8.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    BlockQ4_0 blk;
    blk.d = F32ToFp16(d);
    for (int i = 0; i < kQK4_0 / 2; ++i) {
      const int lo = std::min(15, static_cast<int>(v[i] * id + 8.5f));
      const int hi = std::min(15, static_cast<int>(v[i + kQK4_0 / 2] * id + 8.5f));
      blk.qs[i] = static_cast<uint8_t>(lo | hi << 4);
    }
    std::memcpy(dst + b * sizeof(BlockQ4_0), &blk, sizeof(blk));
  }
}

// Q5_0: as Q4_0 with 5 bits: the value of largest magnitude maps to q = 0 (-16 d).
void QuantQ5_0(const float* x, uint8_t* dst, int64_t n) {
  for (int64_t b = 0; b < n / kQK4_0; ++b) {
    const float* v = x + b * kQK4_0;
    float amax = 0, max = 0;
    for (int i = 0; i < kQK4_0; ++i) {
      if (std::fabs(v[i]) > amax) {
        amax = std::fabs(v[i]);
        max = v[i];
      }
    }
    const float d = max / -16.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    BlockQ5_0 blk{};
    blk.d = F32ToFp16(d);
    uint32_t qh = 0;
    for (int i = 0; i < kQK4_0 / 2; ++i) {
      const int lo = std::min(31, static_cast<int>(v[i] * id + 16.5f));
      const int hi = std::min(31, static_cast<int>(v[i + kQK4_0 / 2] * id + 16.5f));
      blk.qs[i] = static_cast<uint8_t>((lo & 15) | (hi & 15) << 4);
      qh |= static_cast<uint32_t>(lo >> 4) << i | static_cast<uint32_t>(hi >> 4) << (i + 16);
    }
    std::memcpy(blk.qh, &qh, sizeof(qh));
    std::memcpy(dst + b * sizeof(BlockQ5_0), &blk, sizeof(blk));
  }
}

// Q5_1: per block of 32, x ≈ d * q + m with q in 0..31, m the block's minimum.
void QuantQ5_1(const float* x, uint8_t* dst, int64_t n) {
  for (int64_t b = 0; b < n / kQK4_0; ++b) {
    const float* v = x + b * kQK4_0;
    float lo = v[0], hi = v[0];
    for (int i = 0; i < kQK4_0; ++i) {
      lo = std::min(lo, v[i]);
      hi = std::max(hi, v[i]);
    }
    BlockQ5_1 blk{};
    blk.d = F32ToFp16((hi - lo) / 31.0f);
    blk.m = F32ToFp16(lo);
    const float d = Fp16ToF32(blk.d), m = Fp16ToF32(blk.m);
    uint32_t qh = 0;
    for (int i = 0; i < kQK4_0 / 2; ++i) {
      auto q = [&](float f) {
        return static_cast<int>(std::clamp(d > 0 ? std::lround((f - m) / d) : 0L, 0L, 31L));
      };
      const int q0 = q(v[i]), q1 = q(v[i + kQK4_0 / 2]);
      blk.qs[i] = static_cast<uint8_t>((q0 & 15) | (q1 & 15) << 4);
      qh |= static_cast<uint32_t>(q0 >> 4) << i | static_cast<uint32_t>(q1 >> 4) << (i + 16);
    }
    std::memcpy(blk.qh, &qh, sizeof(qh));
    std::memcpy(dst + b * sizeof(BlockQ5_1), &blk, sizeof(blk));
  }
}

// Q4_K (Block = BlockQ4_K) and Q5_K (BlockQ5_K): per sub-block of 32, x ≈ scale * q - min with q
// in 0..15 (0..31) and min ≥ 0 (as llama.cpp keeps the sub-block minimum at or below zero); the 8
// scales and 8 mins are then quantized to 6 bits against the super-block's d and dmin. Quants are
// rounded against the stored (fp16) scales.
template <class Block>
void QuantKWithMins(const float* x, uint8_t* dst, int64_t n) {
  constexpr bool kQ5 = sizeof(Block) == sizeof(BlockQ5_K);
  constexpr long kMaxQ = kQ5 ? 31 : 15;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const float* v = x + b * kQK_K;
    float scale[8], min[8], max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; ++j) {
      float lo = 0, hi = v[32 * j];
      for (int i = 0; i < 32; ++i) {
        lo = std::min(lo, v[32 * j + i]);
        hi = std::max(hi, v[32 * j + i]);
      }
      scale[j] = std::max(hi - lo, 0.0f) / kMaxQ;
      min[j] = -lo;
      max_scale = std::max(max_scale, scale[j]);
      max_min = std::max(max_min, min[j]);
    }
    Block blk{};
    blk.d = F32ToFp16(max_scale / 63.0f);
    blk.dmin = F32ToFp16(max_min / 63.0f);
    const float d = Fp16ToF32(blk.d), dmin = Fp16ToF32(blk.dmin);
    uint8_t sc[8], m[8];
    for (int j = 0; j < 8; ++j) {
      sc[j] = static_cast<uint8_t>(d > 0 ? std::min(63L, std::lround(scale[j] / d)) : 0);
      m[j] = static_cast<uint8_t>(dmin > 0 ? std::min(63L, std::lround(min[j] / dmin)) : 0);
    }
    for (int j = 0; j < 4; ++j) {
      blk.scales[j] = static_cast<uint8_t>(sc[j] | (sc[j + 4] >> 4) << 6);
      blk.scales[j + 4] = static_cast<uint8_t>(m[j] | (m[j + 4] >> 4) << 6);
      blk.scales[j + 8] = static_cast<uint8_t>((sc[j + 4] & 15) | (m[j + 4] & 15) << 4);
    }
    uint8_t q[kQK_K];
    for (int j = 0; j < 8; ++j) {
      const float ds = d * sc[j], dm = dmin * m[j];
      for (int i = 0; i < 32; ++i) {
        const long qi = ds > 0 ? std::lround((v[32 * j + i] + dm) / ds) : 0;
        q[32 * j + i] = static_cast<uint8_t>(std::clamp(qi, 0L, kMaxQ));
      }
    }
    for (int g = 0; g < 4; ++g) {
      for (int l = 0; l < 32; ++l) {
        const int lo = q[64 * g + l], hi = q[64 * g + 32 + l];
        blk.qs[32 * g + l] = static_cast<uint8_t>((lo & 15) | (hi & 15) << 4);
        if constexpr (kQ5) {
          blk.qh[l] |= static_cast<uint8_t>((lo >> 4) << (2 * g) | (hi >> 4) << (2 * g + 1));
        }
      }
    }
    std::memcpy(dst + b * sizeof(Block), &blk, sizeof(blk));
  }
}

// Q6_K: per sub-block of 16, x ≈ scale * (q - 32) with q in 0..63, the element of largest
// magnitude at q = 0; the 16 scales are int8 against the super-block's d.
void QuantQ6_K(const float* x, uint8_t* dst, int64_t n) {
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const float* v = x + b * kQK_K;
    float scale[16], max_abs_scale = 0;
    for (int s = 0; s < 16; ++s) {
      float amax = 0, max = 0;
      for (int i = 0; i < 16; ++i) {
        if (std::fabs(v[16 * s + i]) > amax) {
          amax = std::fabs(v[16 * s + i]);
          max = v[16 * s + i];
        }
      }
      scale[s] = max / -32.0f;
      max_abs_scale = std::max(max_abs_scale, std::fabs(scale[s]));
    }
    BlockQ6_K blk{};
    blk.d = F32ToFp16(max_abs_scale / 127.0f);
    const float d = Fp16ToF32(blk.d);
    uint8_t q[kQK_K];
    for (int s = 0; s < 16; ++s) {
      blk.scales[s] =
          static_cast<int8_t>(d > 0 ? std::clamp(std::lround(scale[s] / d), -127L, 127L) : 0);
      const float ds = d * blk.scales[s];
      for (int i = 0; i < 16; ++i) {
        const long qi = ds != 0 ? std::lround(v[16 * s + i] / ds) : 0;
        q[16 * s + i] = static_cast<uint8_t>(std::clamp(qi, -32L, 31L) + 32);
      }
    }
    for (int h = 0; h < 2; ++h) {
      const uint8_t* qq = q + 128 * h;
      for (int l = 0; l < 32; ++l) {
        blk.ql[64 * h + l] = static_cast<uint8_t>((qq[l] & 15) | (qq[l + 64] & 15) << 4);
        blk.ql[64 * h + l + 32] = static_cast<uint8_t>((qq[l + 32] & 15) | (qq[l + 96] & 15) << 4);
        blk.qh[32 * h + l] = static_cast<uint8_t>(qq[l] >> 4 | (qq[l + 32] >> 4) << 2 |
                                                  (qq[l + 64] >> 4) << 4 | (qq[l + 96] >> 4) << 6);
      }
    }
    std::memcpy(dst + b * sizeof(BlockQ6_K), &blk, sizeof(blk));
  }
}

Status CheckMultiple(WeightType type, int64_t n) {
  const WeightTypeTraits t = TraitsOf(type);
  if (n < 0 || n % t.block_elems != 0) {
    return InvalidArgument(std::to_string(n) + " elements is not a multiple of the " +
                           std::string(t.name) + " block size " + std::to_string(t.block_elems));
  }
  return OkStatus();
}

}  // namespace

void KQuantScaleMin(int j, const uint8_t* q, uint8_t* scale, uint8_t* min) {
  if (j < 4) {
    *scale = q[j] & 63;
    *min = q[j + 4] & 63;
  } else {
    *scale = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
    *min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

Status DequantizeRow(WeightType type, const uint8_t* src, float* dst, int64_t n) {
  RETURN_IF_ERROR(CheckMultiple(type, n));
  switch (type) {
    case WeightType::kF32: std::memcpy(dst, src, n * sizeof(float)); return OkStatus();
    case WeightType::kF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = Fp16ToF32(h);
      }
      return OkStatus();
    case WeightType::kBF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = Bf16ToF32(h);
      }
      return OkStatus();
    case WeightType::kQ8_0: DequantQ8_0(src, dst, n); return OkStatus();
    case WeightType::kQ4_0: DequantQ4_0(src, dst, n); return OkStatus();
    case WeightType::kQ4_1: DequantQ4_1(src, dst, n); return OkStatus();
    case WeightType::kQ5_0: DequantQ5<BlockQ5_0, false>(src, dst, n); return OkStatus();
    case WeightType::kQ5_1: DequantQ5<BlockQ5_1, true>(src, dst, n); return OkStatus();
    case WeightType::kQ4_K: DequantKWithMins<BlockQ4_K>(src, dst, n); return OkStatus();
    case WeightType::kQ5_K: DequantKWithMins<BlockQ5_K>(src, dst, n); return OkStatus();
    case WeightType::kQ6_K: DequantQ6_K(src, dst, n); return OkStatus();
    default:
      return Unimplemented("weight type " + std::string(WeightTypeName(type)) + " cannot be " +
                           "dequantized (supported: " + std::string(kSupportedWeightTypes) + ")");
  }
}

Status QuantizeRow(WeightType type, const float* src, uint8_t* dst, int64_t n) {
  RETURN_IF_ERROR(CheckMultiple(type, n));
  switch (type) {
    case WeightType::kF32: std::memcpy(dst, src, n * sizeof(float)); return OkStatus();
    case WeightType::kF16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = F32ToFp16(src[i]);
        std::memcpy(dst + 2 * i, &h, 2);
      }
      return OkStatus();
    case WeightType::kBF16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = F32ToBf16(src[i]);
        std::memcpy(dst + 2 * i, &h, 2);
      }
      return OkStatus();
    case WeightType::kQ8_0: QuantQ8_0(src, dst, n); return OkStatus();
    case WeightType::kQ4_0: QuantQ4_0(src, dst, n); return OkStatus();
    case WeightType::kQ5_0: QuantQ5_0(src, dst, n); return OkStatus();
    case WeightType::kQ5_1: QuantQ5_1(src, dst, n); return OkStatus();
    case WeightType::kQ4_K: QuantKWithMins<BlockQ4_K>(src, dst, n); return OkStatus();
    case WeightType::kQ5_K: QuantKWithMins<BlockQ5_K>(src, dst, n); return OkStatus();
    case WeightType::kQ6_K: QuantQ6_K(src, dst, n); return OkStatus();
    default:
      return Unimplemented(
          "cannot quantize to " + std::string(WeightTypeName(type)) +
          " (supported: F32, F16, BF16, Q8_0, Q4_0, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K)");
  }
}

}  // namespace tandem::kernels::ref

// Internal to kernels/cpu: the row-range kernels each weight type's translation unit exports.
#pragma once

#include <cstdint>

#include "kernels/types.h"

namespace tandem::kernels::cpu::internal {

// Activations quantized for the int8 kernels: per token, `cols` bytes q + 128 (so that they are
// unsigned for vpdpbusd) and one float scale per 32 elements: x ≈ d * q.
struct QuantizedActs {
  const uint8_t* q = nullptr;  // [n_tokens, cols]
  const float* d = nullptr;    // [n_tokens, cols / 32]
};

// Activations for the packed int8 kernels: signed q (no bias), x ≈ d * q per 32 elements, and
// c = -k * Σ q per block, which cancels the weights' +k offset (packed.h).
struct SignedActs {
  const int8_t* q = nullptr;   // [n_tokens, cols]
  const float* d = nullptr;    // [n_tokens, cols / 32]
  const int32_t* c = nullptr;  // [n_tokens, cols / 32]
};

// Activations for the packed K-quant kernels: per 256 elements one scale (x ≈ d * q), and the
// sums of q per 16 (Q6_K) or 32 (Q4_K) elements.
struct KActs {
  const int8_t* q = nullptr;   // [n_tokens, cols]
  const float* d = nullptr;    // [n_tokens, cols / 256]
  const int16_t* s = nullptr;  // [n_tokens, cols / sum_elems]
};

// How a packed decode kernel prefetches its stream (MatMulOptions::decode_prefetch,
// decode_prefetch_level and decode_page_burst): `bytes` ahead of its loads (0: not at all), into
// L1 or L2; and whether it loads the first 256 bytes of each 4 KiB page of a stream at once, on
// reaching the page (BurstAtPageStart).
struct DecodePrefetch {
  int64_t bytes = 0;
  bool into_l1 = false;
  bool page_burst = false;
  bool halves = false;  // Q8_0/Q4_0/Q5_0: the task's two halves of panels side by side
};

// One task of a matrix product: rows [r0, r1) of w times tokens [t0, t1) of x.
struct GemmArgs {
  WeightType type = WeightType::kF32;
  const uint8_t* w = nullptr;  // the whole weight matrix, row r at w + r * row_bytes
  uint64_t row_bytes = 0;
  int64_t cols = 0;
  const float* x = nullptr;         // [n_tokens, cols]
  QuantizedActs xq;                 // set for the int8 kernels
  const uint16_t* xbf = nullptr;    // [n_tokens, cols] bf16 activations, for the bf16 kernels
  SignedActs xs;                    // set for the packed Q8_0 / Q4_0 kernels
  KActs xk;                         // set for the packed Q4_K / Q6_K kernels
  const uint8_t* packed = nullptr;  // packed weights (packed.h); r0 and r1 then count panels
  uint64_t panel_stride = 0;
  int64_t rows = 0;    // rows of w (the last panel may be partial)
  float* y = nullptr;  // [n_tokens, ldy]
  int64_t ldy = 0;     // = rows of w
  int64_t r0 = 0, r1 = 0;
  int64_t t0 = 0, t1 = 0;
  DecodePrefetch prefetch = {};  // packed decode: how far ahead to prefetch, and into which cache
  // Packed F16/BF16 f32 prefill: x in token groups (GroupPairs) for the 1 panel x 14 tokens tile
  // (MatMulOptions::f16_prefill_tile), or null for 2 panels x 6 tokens.
  const float* xg = nullptr;
  // Packed F16 fp16 prefill (F16Prefill::kFp16): x scaled per token and rounded to fp16, in token
  // groups (GroupPairsFp16), and each token's inverse scale.
  const uint16_t* xh = nullptr;
  const float* xh_inv_scale = nullptr;
};

// The packed F16/BF16 14-token prefill tile's activations: tokens [0, n) of x ([n, cols]) in blocks
// of tb (the tasks' token blocks), each in groups of 14 tokens (the last of a block shorter). The
// group of T tokens starting at token s fills out[s * cp, (s + T) * cp), cp = cols rounded up to
// even, as [column pair][token][2]: the tile then finds token t's pair j at (j * T + t) * 2, one
// pointer for all its tokens. An odd last column is paired with 0.
inline constexpr int kPairGroupTokens = 14;
void GroupPairs(const float* x, int64_t n, int64_t cols, int64_t tb, float* out);
// The same groups in fp16 for GemmF16PackedFp16: each token scaled by a power of two that takes its
// largest magnitude into [32, 64), then rounded to fp16; inv_scale[t] (n of them) undoes it.
// Call only where HasAvx512Fp16().
void GroupPairsFp16(const float* x, int64_t n, int64_t cols, int64_t tb, uint16_t* out,
                    float* inv_scale);

// Portable kernels (Highway, dispatched to the best compiled target), one translation unit each.
void GemmF32(const GemmArgs& a);
void GemmF16(const GemmArgs& a);
void GemmBF16(const GemmArgs& a);
void GemmQ8_0(const GemmArgs& a);
void GemmQ4_0(const GemmArgs& a);
// Any type ref::DequantizeRow knows (a.type): rows widened to f32, then the f32 tiles.
void GemmDequantizedRows(const GemmArgs& a);

// x -> Q8 activations: q [n, cols] (biased by 128), d [n, cols / 32]. cols % 32 == 0.
void QuantizeActs(const float* x, int64_t n, int64_t cols, uint8_t* q, float* d);
// x -> signed Q8 activations with corrections c = -k * Σ q per block (SignedActs).
void QuantizeActsSigned(const float* x, int64_t n, int64_t cols, int8_t* q, float* d, int32_t* c,
                        int32_t k);
// x -> K-quant activations (KActs): cols % 256 == 0, sum_elems 16 or 32.
void QuantizeActsK(const float* x, int64_t n, int64_t cols, int8_t* q, float* d, int16_t* s,
                   int sum_elems);
// x -> bf16 (round to nearest even), n elements.
void ConvertToBf16(const float* x, int64_t n, uint16_t* out);

// AVX-512 intrinsics kernels (x86-64 only; call only when the CPU has the features).
bool HasAvx512Vnni();  // AVX512F+BW+VL+VNNI
bool HasAvx512Bf16();  // AVX512F+BW+VL+BF16
bool HasAvx512();      // AVX512F+BW+VL+DQ (with F16C and FMA)
bool HasAvx512Fp16();  // the same and AVX512-FP16
void GemmQ8_0Vnni(const GemmArgs& a);
void GemmQ4_0Vnni(const GemmArgs& a);
void GemmQ8_0Packed(const GemmArgs& a);  // a.packed, a.xs; rows [r0, r1) are panels
void GemmQ4_0Packed(const GemmArgs& a);
void GemmQ5_0Packed(const GemmArgs& a);
void GemmQ4_KPacked(const GemmArgs& a);  // a.packed, a.xk (sums per 32)
void GemmQ5_KPacked(const GemmArgs& a);  // a.packed, a.xk (sums per 32)
void GemmQ6_KPacked(const GemmArgs& a);  // a.packed, a.xk (sums per 16)
void GemmF16Packed(const GemmArgs& a);   // packed F16 (a.packed) times f32 a.x, exact
void GemmBF16Packed(const GemmArgs& a);  // packed BF16 (a.packed) times f32 a.x, exact
// Packed F16 (a.packed) times fp16 a.xh (GroupPairsFp16), fp16 products; a.x for exact redos.
void GemmF16PackedFp16(const GemmArgs& a);
void GemmF16Bf16Dot(const GemmArgs& a);   // F16 weights rounded to bf16, a.xbf
void GemmBF16Bf16Dot(const GemmArgs& a);  // BF16 weights, a.xbf
// The same through panels packed per task (prefill; cols % 32 == 0, rows in steps of 32).
void GemmF16Bf16Panels(const GemmArgs& a);
void GemmBF16Bf16Panels(const GemmArgs& a);
void GemmF16PackedBf16Panels(const GemmArgs& a);   // packed F16 (a.packed; r0, r1 in panels)
void GemmBF16PackedBf16Panels(const GemmArgs& a);  // packed BF16 (the same)
void ConvertToBf16Avx512(const float* x, int64_t n, uint16_t* out);  // = ConvertToBf16, vectorised

}  // namespace tandem::kernels::cpu::internal

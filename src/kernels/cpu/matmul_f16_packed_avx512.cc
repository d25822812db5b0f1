// Packed F16 and BF16 weights (packed.h) times f32 activations with AVX-512 FMA: exact products
// (fp16 and bf16 widen to f32 without rounding), as the portable kernels give.
//
// Per column pair j a panel holds 64 bytes: 16 rows' elements 2j and 2j + 1. Widened, the low 32
// bytes are rows 0-7 and the high 32 bytes rows 8-15, each row's two elements in adjacent lanes;
// each token's (x[2j], x[2j + 1]), broadcast as one 64-bit value, multiplies both. A tile is P
// panels times T tokens; at its end adjacent lanes are added, giving the 16 rows' sums in row
// order. Decode (P = T = 1) reads one panel after the other, each as two streams, its two halves
// side by side (PairTile). Prefill tiles 2 panels by 6 tokens, or 1 panel by 14
// (on activations grouped per 14 tokens, GemmArgs::xg): per column pair the second widens 2 weight
// vectors for 28 FMAs, the first 4 for 24. Intel runs vcvtph2ps on the FMA ports; there 1 x 14 took
// the 2048 x 2048 x 256 product from 243 to 270 GFLOP/s and F16 pp512 from 114-117 to 124-126
// tokens/s (kernels_bench BM_MatMul/1/2048/2048/256, tandem bench, alternating). It reads its
// activations grouped (GroupPairs), one pointer for its 14 tokens, in blocks of whole groups:
// 280-282 GFLOP/s, pp512 131-142.
#include "kernels/cpu/gemm_internal.h"

#if defined(__x86_64__)
#include <algorithm>
#include <cstring>

#include "kernels/cpu/packed.h"
#include "kernels/cpu/packed_driver-inl.h"
#include "kernels/cpu/x86_targets.h"

namespace tandem::kernels::cpu::internal {
namespace {

constexpr int kTokTile = 6;

// (x[0], x[1]) in every lane pair; (x[0], 0) for an odd last column.
TANDEM_TARGET_AVX512 inline __m512 PairOf(const float* x, bool both) {
  const float pair[2] = {x[0], both ? x[1] : 0.0f};
  double d;
  std::memcpy(&d, pair, sizeof(d));
  return _mm512_castpd_ps(_mm512_set1_pd(d));
}

// 16 weights at w (32-byte aligned) widened to f32, exactly: IEEE half or bf16.
template <bool kBf16>
TANDEM_TARGET_AVX512 inline __m512 Widen(const uint8_t* w) {
  const __m256i v = _mm256_load_si256(reinterpret_cast<const __m256i*>(w));
  if constexpr (kBf16) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(v), 16));
  return _mm512_cvtph_ps(v);
}

// acc += column pair j of P panels x T tokens. Token t's pair is at x + t * ldx + 2 * j, or, with
// the activations grouped (kGrouped, GroupPairs), at x + (j * T + t) * 2: one pointer and constant
// offsets, where GCC otherwise steps a pointer per token (T scalar adds per pair).
template <bool kBf16, int P, int T, bool kGrouped = false>
TANDEM_TARGET_AVX512 inline void PairStep(__m512 (&acc)[P][2][T], const uint8_t* panel,
                                          uint64_t stride, int64_t j, const float* x, int64_t ldx,
                                          bool both) {
  __m512 lo[P], hi[P];
#pragma GCC unroll 16
  for (int p = 0; p < P; ++p) {
    const uint8_t* w = panel + p * stride + j * 64;
    lo[p] = Widen<kBf16>(w);
    hi[p] = Widen<kBf16>(w + 32);
  }
#pragma GCC unroll 16
  for (int t = 0; t < T; ++t) {
    const __m512 xv = PairOf(kGrouped ? x + (j * T + t) * 2 : x + t * ldx + 2 * j, both);
#pragma GCC unroll 16
    for (int p = 0; p < P; ++p) {
      acc[p][0][t] = _mm512_fmadd_ps(lo[p], xv, acc[p][0][t]);
      acc[p][1][t] = _mm512_fmadd_ps(hi[p], xv, acc[p][1][t]);
    }
  }
}

// One step of decode's S streams: pair j of each of a panel's S parts (each `len` pairs), into
// accumulator set s. Each stream runs prefetch.bytes ahead (PrefetchAhead); `redirect` (0 or
// `stride`) moves the prefetches of all streams but the last to the next panel (PairTile).
template <bool kBf16, int S>
TANDEM_TARGET_AVX512 inline void StreamsStep(__m512 (&acc)[S][1][2][1], const uint8_t* panel,
                                             uint64_t stride, int64_t j, int64_t len,
                                             uint64_t redirect, const float* x,
                                             DecodePrefetch prefetch) {
#pragma GCC unroll 8
  for (int s = 0; s < S; ++s) BurstAtPageStart<256>(panel + (s * len + j) * 64, prefetch);
#pragma GCC unroll 8
  for (int s = 0; s < S; ++s) {
    PrefetchAhead<64>(
        reinterpret_cast<uintptr_t>(panel + (s * len + j) * 64) + (s + 1 < S ? redirect : 0),
        prefetch);
  }
#pragma GCC unroll 8
  for (int s = 0; s < S; ++s) PairStep<kBf16, 1, 1>(acc[s], panel, stride, s * len + j, x, 0, true);
}

template <bool kBf16, int P, int T, bool kGrouped = false>
TANDEM_TARGET_AVX512 void PairTile(const uint8_t* panel, uint64_t stride, int64_t cols,
                                   const float* x, int64_t ldx, float* y, int64_t ldy,
                                   int last_rows, DecodePrefetch prefetch) {
  // Decode: one set of accumulators per stream (below), which also halves the chains of dependent
  // FMAs.
  constexpr int kSets = P == 1 && T == 1 ? 2 : 1;
  __m512 acc[kSets][P][2][T];
#pragma GCC unroll 16
  for (int s = 0; s < kSets; ++s) {
#pragma GCC unroll 16
    for (int p = 0; p < P; ++p) {
#pragma GCC unroll 16
      for (int t = 0; t < T; ++t) acc[s][p][0][t] = acc[s][p][1][t] = _mm512_setzero_ps();
    }
  }
  const int64_t pairs = cols / 2;
  int64_t j = 0;
  if constexpr (kSets > 1) {
    // Decode: set 0 takes the first half of the pairs and set 1 the second, side by side: two
    // streams per core, each `prefetch` bytes ahead of its line (PrefetchAhead). On AMD Zen 5 one
    // stream per core fell short of the core's share of the bandwidth; two gave the whole F16
    // model's decode 3-10 % more tokens/s than even and odd pairs, in 6 of 6 alternating runs
    // (tandem bench -p 16 -n 48 -r 2; 18.0-19.0 against 18.7-20.7 tokens/s). Four streams
    // (quarters) lost 2-6 % against two in 4 of 4, and 10-14 % in 3 of 3 with the redirect below.
    // In its last `prefetch` bytes the first stream's prefetches would land in the second
    // stream's half, whose lines are already on their way; they go to the second half of the next
    // panel instead (`stride` bytes on: a task's panels lie back to back), which the second
    // stream reaches next. Without it the first `prefetch` bytes of each second half were never
    // asked for ahead: at 8 KiB, an eighth of a 2048-column matrix. The redirect took the F16
    // model's decode from 20.2-22.7 tokens/s (14.8 in one busy spell) to 21.6-25.1, higher in 6 of
    // 6 alternating runs, and let a shorter distance win (DecodePrefetchDefault).
    // Each stream also loads the first 256 bytes of each page at once (BurstAtPageStart).
    const int64_t len = pairs / kSets;
    const int64_t turn = std::max<int64_t>(0, len - prefetch.bytes / 64);
    for (; j < turn; ++j) StreamsStep<kBf16, kSets>(acc, panel, stride, j, len, 0, x, prefetch);
    for (; j < len; ++j) StreamsStep<kBf16, kSets>(acc, panel, stride, j, len, stride, x, prefetch);
    j = kSets * len;
  }
  for (; j < pairs; ++j) PairStep<kBf16, P, T, kGrouped>(acc[0], panel, stride, j, x, ldx, true);
  if (cols % 2 != 0) PairStep<kBf16, P, T, kGrouped>(acc[0], panel, stride, pairs, x, ldx, false);
  // Lanes (row, element of the pair) -> rows: even lanes of lo then hi, plus the odd lanes.
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
#pragma GCC unroll 16
  for (int p = 0; p < P; ++p) {
    const __mmask16 m = PanelRowMask(p, P, last_rows);
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) {
      __m512 lo = acc[0][p][0][t], hi = acc[0][p][1][t];
#pragma GCC unroll 8
      for (int s = 1; s < kSets; ++s) {
        lo = _mm512_add_ps(lo, acc[s][p][0][t]);
        hi = _mm512_add_ps(hi, acc[s][p][1][t]);
      }
      const __m512 sum =
          _mm512_add_ps(_mm512_permutex2var_ps(lo, even, hi), _mm512_permutex2var_ps(lo, odd, hi));
      _mm512_mask_storeu_ps(y + t * ldy + p * kPanelRows, m, sum);
    }
  }
}

// P panels from `panel` times tokens [t, t + T), or the largest tile under T that fits. Grouped:
// the activations of the group starting at t, from a.xg (GroupPairs; its groups are the tiles).
template <bool kBf16, int P, int T, bool kGrouped = false>
TANDEM_TARGET_AVX512 void RunTile(const GemmArgs& a, int64_t panel, int64_t t) {
  if constexpr (T > 1) {
    if (a.t1 - t < T) return RunTile<kBf16, P, T - 1, kGrouped>(a, panel, t);
  }
  const int64_t r = panel * kPanelRows;
  const int last_rows =
      static_cast<int>(std::min<int64_t>(kPanelRows, a.rows - r - (P - 1) * kPanelRows));
  const float* x = kGrouped ? a.xg + t * (a.cols + a.cols % 2) : a.x + t * a.cols;
  PairTile<kBf16, P, T, kGrouped>(a.packed + panel * a.panel_stride, a.panel_stride, a.cols, x,
                                  a.cols, a.y + t * a.ldy + r, a.ldy, last_rows, a.prefetch);
}

template <bool kBf16, int P, int T, bool kGrouped = false>
TANDEM_TARGET_AVX512 void PanelsTimesTokens(const GemmArgs& a, int64_t panel) {
  for (int64_t t = a.t0; t < a.t1; t += T) RunTile<kBf16, P, T, kGrouped>(a, panel, t);
}

template <bool kBf16>
TANDEM_TARGET_AVX512 void GemmPairsPacked(const GemmArgs& a) {
  int64_t p = a.r0;
  if (a.t1 - a.t0 == 1) {
    for (; p < a.r1; ++p) RunTile<kBf16, 1, 1>(a, p, a.t0);
    return;
  }
  // 1 panel x 14 tokens on activations in groups ([a.t0, a.t1) is a block of GroupPairs').
  if (a.xg != nullptr) {
    for (; p < a.r1; ++p) PanelsTimesTokens<kBf16, 1, kPairGroupTokens, true>(a, p);
    return;
  }
  for (; p + 2 <= a.r1; p += 2) PanelsTimesTokens<kBf16, 2, kTokTile>(a, p);
  if (p < a.r1) PanelsTimesTokens<kBf16, 1, kTokTile>(a, p);
}

}  // namespace

bool HasAvx512() {
  static const bool has =
      HasAvx512Base() && __builtin_cpu_supports("f16c") && __builtin_cpu_supports("fma");
  return has;
}

void GemmF16Packed(const GemmArgs& a) { GemmPairsPacked<false>(a); }
void GemmBF16Packed(const GemmArgs& a) { GemmPairsPacked<true>(a); }

}  // namespace tandem::kernels::cpu::internal

#else  // not x86-64

namespace tandem::kernels::cpu::internal {
bool HasAvx512() { return false; }
void GemmF16Packed(const GemmArgs&) {}
void GemmBF16Packed(const GemmArgs&) {}
}  // namespace tandem::kernels::cpu::internal

#endif

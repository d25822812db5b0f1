// Packed Q4_K / Q5_K / Q6_K weights (packed.h) times K activations (int8, one scale per 256) with
// AVX-512 VNNI.
//
// Per sub-block, vpdpbusd sums the unsigned quants times the token's activation bytes (broadcast
// to every lane) into int32 lanes = rows, as for Q8_0. The sub-block's integer scale multiplies
// that sum (vpmulld) into one int32 total per super-block, and only the total is converted to
// float and scaled by d_w * d_x: one float epilogue per 256 elements, not per 32.
//   Q4_K: w = d sc q - dmin m. The mins term is Σ_j m_j Σ_{i in j} q_x,i: one vpdpwssd per two
//         sub-blocks against the activations' sums per 32, scaled by dmin_w * d_x.
//   Q6_K: w = d sc (q - 32), q the 4 low bits from ql and 2 high bits from qh. Each sub-block's
//         sum starts at -32 Σ q_x over its 16 elements.
#include "kernels/cpu/gemm_internal.h"

#if defined(__x86_64__)
#include <type_traits>

#include "kernels/cpu/packed.h"
#include "kernels/cpu/packed_driver-inl.h"
#include "kernels/cpu/x86_targets.h"

namespace tandem::kernels::cpu::internal {
namespace {

// Decode (one token) loads each weight vector once (prefill loads some twice: its register tile
// takes all the registers), and touches a super-block's lines in order first (TouchInOrder).
template <int T>
constexpr bool kDecodeTile = T == 1;

// Q4_K, and Q5_K (kQ5) whose fifth bits add 16 to the nibbles they belong to.
template <bool kQ5, int P, int T>
struct Q4KTileOf {
  using Layout = std::conditional_t<kQ5, Q5KPanel, Q4KPanel>;
  TANDEM_TARGET_VNNI static void Run(const GemmArgs& a, const uint8_t* panel, int64_t t0, float* y,
                                     int last_rows) {
    const int64_t cols = a.cols, nb = cols / 256;
    const int8_t* xq = a.xk.q + t0 * cols;
    const float* xd = a.xk.d + t0 * nb;
    const int16_t* xs = a.xk.s + t0 * (cols / 32);
    constexpr bool kBothHalves = kDecodeTile<T>;
    // Q4_K decode (one panel) keeps the high nibbles in place (v & 0xf0, 16 times their value;
    // each sub-block's sum is shifted back, exactly) and takes the activations as embedded
    // broadcasts, as Q4_0 decode does (Q5_K's fifth bit would not fit above them). Against the
    // kernel before, same rounds (DecodeVsStream, 3 runs): one matrix 0.96 against 0.93-0.94 of
    // the stream, the 1B shape's stacked layers 0.85-0.86 against 0.82.
    constexpr bool kHighInPlace = kBothHalves && P == 1 && !kQ5;
    const __m512i low4 = _mm512_set1_epi8(0x0f);
    __m512 sum[P][T];
    FillTile<P, T>(sum, _mm512_setzero_ps());
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* sb = panel + b * Layout::kBytes;
      // The header (Q5_K: and the fifth bits, read with every chunk): decode reads it from a copy,
      // the one-token tails of prefill touch it first (CopyLines, TouchInOrder). Panel p's header
      // is at head + p * panel_stride.
      constexpr bool kCopyHeader = kDecodeTile<T> && P == 1;
      alignas(64) uint8_t header[kCopyHeader ? Layout::kQuants : 64];
      const uint8_t* head = sb;
      if constexpr (kCopyHeader) {
        PrefetchAhead<Layout::kQuants>(sb, a.prefetch);  // the quants' lines: with their loads
        head = CopyLines<Layout::kQuants>(sb, header);
      } else if constexpr (kDecodeTile<T>) {
        TouchInOrder<Layout::kQuants>(sb);
      }
      __m512i total[P][T];
      FillTile<P, T>(total, _mm512_setzero_si512());
      // Chunk j holds sub-blocks 2j (low nibbles) and 2j + 1 (high nibbles). Decode takes both
      // from each load; prefill, short of registers, takes one half per pass.
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) {
#pragma GCC unroll 2
        for (int pass = 0; pass < (kBothHalves ? 1 : 2); ++pass) {
          const int h0 = kBothHalves ? 0 : pass, h1 = kBothHalves ? 1 : pass;
          __m512i acc[2][P][T];
#pragma GCC unroll 2
          for (int h = h0; h <= h1; ++h) FillTile<P, T>(acc[h], _mm512_setzero_si512());
#pragma GCC unroll 8
          for (int g = 0; g < 8; ++g) {
            __m512i w[2][P];
#pragma GCC unroll 16
            for (int p = 0; p < P; ++p) {
              const uint8_t* line = sb + p * a.panel_stride + Layout::kQuants + j * 512 + g * 64;
              if constexpr (kCopyHeader) PrefetchAhead<64>(line, a.prefetch);
              const __m512i v = _mm512_load_si512(line);
              if (h0 == 0) w[0][p] = _mm512_and_si512(v, low4);
              if (h1 == 1) {
                w[1][p] = kHighInPlace ? _mm512_andnot_si512(low4, v)
                                       : _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
              }
              if constexpr (kQ5) {  // bit 2j (low nibbles) or 2j + 1 (high) of qh[4g + i]
                const uint8_t* qh = head + p * a.panel_stride + Layout::kQh + g * 64;
                const __m512i bits = _mm512_load_si512(qh);
                const __m512i sixteen = _mm512_set1_epi8(16);
#pragma GCC unroll 2
                for (int h = h0; h <= h1; ++h) {
                  const __mmask64 m = _mm512_test_epi8_mask(
                      bits, _mm512_set1_epi8(static_cast<char>(1 << (2 * j + h))));
                  w[h][p] = _mm512_mask_add_epi8(w[h][p], m, w[h][p], sixteen);
                }
              }
            }
            if constexpr (kHighInPlace) {
              const int8_t* x = xq + b * 256 + j * 64 + 4 * g;
              acc[0][0][0] = DpbusdBroadcast(acc[0][0][0], w[0][0], x);
              acc[1][0][0] = DpbusdBroadcast(acc[1][0][0], w[1][0], x + 32);
              continue;
            }
#pragma GCC unroll 2
            for (int h = h0; h <= h1; ++h) {
#pragma GCC unroll 16
              for (int t = 0; t < T; ++t) {
                const __m512i x =
                    _mm512_set1_epi32(Load4(xq + t * cols + b * 256 + j * 64 + h * 32 + 4 * g));
#pragma GCC unroll 16
                for (int p = 0; p < P; ++p) {
                  acc[h][p][t] = _mm512_dpbusd_epi32(acc[h][p][t], w[h][p], x);
                }
              }
            }
          }
#pragma GCC unroll 2
          for (int h = h0; h <= h1; ++h) {
#pragma GCC unroll 16
            for (int p = 0; p < P; ++p) {
              const __m512i sc =
                  _mm512_cvtepu8_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(
                      head + p * a.panel_stride + Layout::kScales + (2 * j + h) * kPanelRows)));
#pragma GCC unroll 16
              for (int t = 0; t < T; ++t) {
                const __m512i sum =
                    kHighInPlace && h == 1 ? _mm512_srai_epi32(acc[h][p][t], 4) : acc[h][p][t];
                total[p][t] = _mm512_add_epi32(total[p][t], _mm512_mullo_epi32(sum, sc));
              }
            }
          }
        }
      }
#pragma GCC unroll 16
      for (int p = 0; p < P; ++p) {
        const uint8_t* q = head + p * a.panel_stride;
        __m512i mins[4];
#pragma GCC unroll 4
        for (int k = 0; k < 4; ++k) {
          mins[k] = _mm512_cvtepu8_epi16(
              _mm256_load_si256(reinterpret_cast<const __m256i*>(q + Layout::kMins + k * 32)));
        }
        const __m512 d =
            _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(q + Layout::kD)));
        const __m512 dmin =
            _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(q + Layout::kDmin)));
#pragma GCC unroll 16
        for (int t = 0; t < T; ++t) {
          const int16_t* st = xs + t * (cols / 32) + b * 8;
          __m512i m = _mm512_setzero_si512();
#pragma GCC unroll 4
          for (int k = 0; k < 4; ++k) {
            m = _mm512_dpwssd_epi32(m, mins[k], _mm512_set1_epi32(Load4(st + 2 * k)));
          }
          const __m512 dx = _mm512_set1_ps(xd[t * nb + b]);
          sum[p][t] =
              _mm512_fmadd_ps(_mm512_cvtepi32_ps(total[p][t]), _mm512_mul_ps(d, dx), sum[p][t]);
          sum[p][t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(m), _mm512_mul_ps(dmin, dx), sum[p][t]);
        }
      }
    }
    StorePanelSums<P, T>(sum, y, a.ldy, last_rows);
  }
};

// Q6_K weight vectors of quarters k = 0..3 from one group's ql (quarters 0, 2), ql (1, 3) and qh
// lines: the 4 low bits, and qh's bits 2k, 2k + 1 moved to bits 4, 5.
// (k is a constant where it is inlined: unrolled loops or literals.)
TANDEM_TARGET_VNNI inline __m512i Q6Quarter(int k, __m512i ql, __m512i qh) {
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  const __m512i lo = _mm512_and_si512(k < 2 ? ql : _mm512_srli_epi16(ql, 4), low4);
  const __m512i hi = k == 0   ? _mm512_slli_epi16(qh, 4)
                     : k == 1 ? _mm512_slli_epi16(qh, 2)
                     : k == 2 ? qh
                              : _mm512_srli_epi16(qh, 2);
  return _mm512_ternarylogic_epi32(lo, hi, _mm512_set1_epi8(0x30), 0xF8);  // lo | (hi & 0x30)
}

// Q6_K decode, one panel: each quant line is loaded once, in ascending order. A group's three
// lines give the weight vectors of its 4 quarters, which belong to 4 sub-blocks (8 h + 2 k + gh),
// each summed in its own accumulator.
TANDEM_TARGET_VNNI inline void Q6KDecodePanel(const GemmArgs& a, const uint8_t* panel, int64_t t0,
                                              float* y, int last_rows) {
  const int64_t cols = a.cols, nb = cols / 256;
  const int8_t* xq = a.xk.q + t0 * cols;
  const float* xd = a.xk.d + t0 * nb;
  const int16_t* xs = a.xk.s + t0 * (cols / 16);
  __m512 sum = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* sb = panel + b * Q6KPanel::kBytes;
    alignas(64) uint8_t copy[Q6KPanel::kQuants];       // the scales and d, copied first (CopyLines)
    PrefetchAhead<Q6KPanel::kQuants>(sb, a.prefetch);  // the quants' lines: with their loads
    const uint8_t* header = CopyLines<Q6KPanel::kQuants>(sb, copy);
    const int8_t* xb = xq + b * 256;
    __m512i total = _mm512_setzero_si512();
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
#pragma GCC unroll 2
      for (int gh = 0; gh < 2; ++gh) {
        __m512i acc[4];
#pragma GCC unroll 4
        for (int k = 0; k < 4; ++k) {
          acc[k] = _mm512_set1_epi32(-32 * xs[b * 16 + 8 * h + 2 * k + gh]);
        }
#pragma GCC unroll 4
        for (int g = 4 * gh; g < 4 * gh + 4; ++g) {
          const uint8_t* v = sb + Q6KPanel::kQuants + (h * 8 + g) * 192;
          PrefetchAhead<192>(v, a.prefetch);
          const __m512i ql0 = _mm512_load_si512(v), ql1 = _mm512_load_si512(v + 64);
          const __m512i qh = _mm512_load_si512(v + 128);
          const int8_t* x = xb + 128 * h + 4 * g;
          acc[0] = _mm512_dpbusd_epi32(acc[0], Q6Quarter(0, ql0, qh), _mm512_set1_epi32(Load4(x)));
          acc[1] =
              _mm512_dpbusd_epi32(acc[1], Q6Quarter(1, ql1, qh), _mm512_set1_epi32(Load4(x + 32)));
          acc[2] =
              _mm512_dpbusd_epi32(acc[2], Q6Quarter(2, ql0, qh), _mm512_set1_epi32(Load4(x + 64)));
          acc[3] =
              _mm512_dpbusd_epi32(acc[3], Q6Quarter(3, ql1, qh), _mm512_set1_epi32(Load4(x + 96)));
        }
#pragma GCC unroll 4
        for (int k = 0; k < 4; ++k) {
          const __m512i sc = _mm512_cvtepi8_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(
              header + Q6KPanel::kScales + (8 * h + 2 * k + gh) * kPanelRows)));
          total = _mm512_add_epi32(total, _mm512_mullo_epi32(acc[k], sc));
        }
      }
    }
    const __m512 d =
        _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(header + Q6KPanel::kD)));
    sum = _mm512_fmadd_ps(_mm512_cvtepi32_ps(total), _mm512_mul_ps(d, _mm512_set1_ps(xd[b])), sum);
  }
  const __m512 sums[1][1] = {{sum}};
  StorePanelSums<1, 1>(sums, y, a.ldy, last_rows);
}

template <int P, int T>
struct Q6KTile {
  TANDEM_TARGET_VNNI static void Run(const GemmArgs& a, const uint8_t* panel, int64_t t0, float* y,
                                     int last_rows) {
    if constexpr (P == 1 && T == 1) return Q6KDecodePanel(a, panel, t0, y, last_rows);
    const int64_t cols = a.cols, nb = cols / 256;
    const int8_t* xq = a.xk.q + t0 * cols;
    const float* xd = a.xk.d + t0 * nb;
    const int16_t* xs = a.xk.s + t0 * (cols / 16);
    __m512 sum[P][T];
    FillTile<P, T>(sum, _mm512_setzero_ps());
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* sb = panel + b * Q6KPanel::kBytes;
      // All of it (one-token tails of prefill): the quants too are read out of order within the
      // super-block.
      if constexpr (kDecodeTile<T>) TouchInOrder<Q6KPanel::kBytes>(sb);
      __m512i total[P][T];
      FillTile<P, T>(total, _mm512_setzero_si512());
      // Sub-block s = 8 h + 2 k + gh holds elements 128 h + 32 k + 16 gh + [0, 16): groups
      // 4 gh .. 4 gh + 3 of half h, quarter k.
#pragma GCC unroll 2
      for (int h = 0; h < 2; ++h) {
#pragma GCC unroll 2
        for (int gh = 0; gh < 2; ++gh) {
#pragma GCC unroll 4
          for (int k = 0; k < 4; ++k) {
            const int s = 8 * h + 2 * k + gh;
            __m512i acc[P][T];
#pragma GCC unroll 16
            for (int t = 0; t < T; ++t) {
              const __m512i c = _mm512_set1_epi32(-32 * xs[t * (cols / 16) + b * 16 + s]);
#pragma GCC unroll 16
              for (int p = 0; p < P; ++p) acc[p][t] = c;
            }
#pragma GCC unroll 4
            for (int g = 4 * gh; g < 4 * gh + 4; ++g) {
              __m512i w[P];
#pragma GCC unroll 16
              for (int p = 0; p < P; ++p) {
                const uint8_t* v = sb + p * a.panel_stride + Q6KPanel::kQuants + (h * 8 + g) * 192;
                w[p] =
                    Q6Quarter(k, _mm512_load_si512(v + (k % 2) * 64), _mm512_load_si512(v + 128));
              }
#pragma GCC unroll 16
              for (int t = 0; t < T; ++t) {
                const __m512i x =
                    _mm512_set1_epi32(Load4(xq + t * cols + b * 256 + 128 * h + 32 * k + 4 * g));
#pragma GCC unroll 16
                for (int p = 0; p < P; ++p) acc[p][t] = _mm512_dpbusd_epi32(acc[p][t], w[p], x);
              }
            }
#pragma GCC unroll 16
            for (int p = 0; p < P; ++p) {
              const __m512i sc =
                  _mm512_cvtepi8_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(
                      sb + p * a.panel_stride + Q6KPanel::kScales + s * kPanelRows)));
#pragma GCC unroll 16
              for (int t = 0; t < T; ++t) {
                total[p][t] = _mm512_add_epi32(total[p][t], _mm512_mullo_epi32(acc[p][t], sc));
              }
            }
          }
        }
      }
#pragma GCC unroll 16
      for (int p = 0; p < P; ++p) {
        const __m512 d = _mm512_cvtph_ps(_mm256_load_si256(
            reinterpret_cast<const __m256i*>(sb + p * a.panel_stride + Q6KPanel::kD)));
#pragma GCC unroll 16
        for (int t = 0; t < T; ++t) {
          const __m512 dx = _mm512_set1_ps(xd[t * nb + b]);
          sum[p][t] =
              _mm512_fmadd_ps(_mm512_cvtepi32_ps(total[p][t]), _mm512_mul_ps(d, dx), sum[p][t]);
        }
      }
    }
    StorePanelSums<P, T>(sum, y, a.ldy, last_rows);
  }
};

}  // namespace

template <int P, int T>
using Q4KTile = Q4KTileOf<false, P, T>;
template <int P, int T>
using Q5KTile = Q4KTileOf<true, P, T>;

// Prefill: 2 panels x 4 tokens. Decode: one panel at a time.
void GemmQ4_KPacked(const GemmArgs& a) { GemmPackedPanels<Q4KTile, 4>(a); }
void GemmQ5_KPacked(const GemmArgs& a) { GemmPackedPanels<Q5KTile, 4>(a); }
void GemmQ6_KPacked(const GemmArgs& a) { GemmPackedPanels<Q6KTile, 4>(a); }

}  // namespace tandem::kernels::cpu::internal

#else  // not x86-64

namespace tandem::kernels::cpu::internal {
void GemmQ4_KPacked(const GemmArgs&) {}
void GemmQ5_KPacked(const GemmArgs&) {}
void GemmQ6_KPacked(const GemmArgs&) {}
}  // namespace tandem::kernels::cpu::internal

#endif

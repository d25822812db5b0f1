// Packed Q8_0 / Q4_0 weights (packed.h) times signed Q8 activations with AVX-512 VNNI.
//
// A tile is P panels (16 rows each) times T tokens. Per 32-element block: the int32 accumulators
// start at the token's correction c = -k Σ q_x; each vpdpbusd adds, in every lane (= row), the
// product of the row's 4 unsigned weight bytes with the token's 4 signed activation bytes
// broadcast to all lanes; then acc * d_x * d_w (16 rows' scales, one vector) joins the f32 sum.
// The weight vectors are loaded once per block and used by all T tokens; results are stored as
// 16 consecutive floats of y. Decode is the T = 1 tile, streaming each panel once.
#include "kernels/cpu/gemm_internal.h"

#if defined(__x86_64__)
#include <algorithm>
#include <cstring>

#include "kernels/cpu/packed.h"
#include "kernels/cpu/x86_targets.h"

namespace tandem::kernels::cpu::internal {
namespace {

inline int32_t Load4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

constexpr int kPrefetchAhead = 4096;

// Quant bytes per block and panel.
template <bool kQ4>
constexpr int kBlockBytes = kQ4 ? 256 : 512;

template <bool kQ4, int P, int T>
TANDEM_TARGET_VNNI void PackedTile(const uint8_t* panel, uint64_t stride, int64_t cols,
                                   const int8_t* xq, const float* xd, const int32_t* xc, float* y,
                                   int64_t ldy, int last_rows) {
  const int64_t nb = cols / 32;
  __m512 sum[P][T];
#pragma GCC unroll 16
  for (int p = 0; p < P; ++p) {
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) sum[p][t] = _mm512_setzero_ps();
  }
  const uint8_t* scales = panel + nb * kBlockBytes<kQ4>;
  // Decode: two accumulators per panel halve the chain of dependent vpdpbusd per block.
  constexpr bool kSplit = T == 1;
  for (int64_t b = 0; b < nb; ++b) {
    __m512i acc[P][T], acc2[P][T];
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) {
      const __m512i c = _mm512_set1_epi32(xc[t * nb + b]);
#pragma GCC unroll 16
      for (int p = 0; p < P; ++p) {
        acc[p][t] = c;
        if constexpr (kSplit) acc2[p][t] = _mm512_setzero_si512();
      }
    }
    const int8_t* xb = xq + b * 32;
    const uint8_t* wb = panel + b * kBlockBytes<kQ4>;
    if constexpr (T <= 2) {
      // Decode streams each panel once: keep more of it in flight than the prefetchers do.
#pragma GCC unroll 16
      for (int p = 0; p < P; ++p) {
#pragma GCC unroll 16
        for (int l = 0; l < kBlockBytes<kQ4>; l += 64) {
          _mm_prefetch(reinterpret_cast<const char*>(wb + p * stride + l + kPrefetchAhead),
                       _MM_HINT_T0);
        }
      }
    }
    if constexpr (!kQ4) {
#pragma GCC unroll 16
      for (int g = 0; g < 8; ++g) {
        __m512i w[P];
#pragma GCC unroll 16
        for (int p = 0; p < P; ++p) w[p] = _mm512_load_si512(wb + p * stride + g * 64);
#pragma GCC unroll 16
        for (int t = 0; t < T; ++t) {
          const __m512i x = _mm512_set1_epi32(Load4(xb + t * cols + 4 * g));
#pragma GCC unroll 16
          for (int p = 0; p < P; ++p) {
            if (kSplit && g % 2 == 1) {
              acc2[p][t] = _mm512_dpbusd_epi32(acc2[p][t], w[p], x);
            } else {
              acc[p][t] = _mm512_dpbusd_epi32(acc[p][t], w[p], x);
            }
          }
        }
      }
    } else {
      const __m512i low4 = _mm512_set1_epi8(0x0f);
#pragma GCC unroll 16
      for (int g = 0; g < 4; ++g) {
        __m512i lo[P], hi[P];
#pragma GCC unroll 16
        for (int p = 0; p < P; ++p) {
          const __m512i v = _mm512_load_si512(wb + p * stride + g * 64);
          lo[p] = _mm512_and_si512(v, low4);
          hi[p] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
        }
#pragma GCC unroll 16
        for (int t = 0; t < T; ++t) {
          const __m512i xl = _mm512_set1_epi32(Load4(xb + t * cols + 4 * g));
          const __m512i xh = _mm512_set1_epi32(Load4(xb + t * cols + 16 + 4 * g));
#pragma GCC unroll 16
          for (int p = 0; p < P; ++p) {
            acc[p][t] = _mm512_dpbusd_epi32(acc[p][t], lo[p], xl);
            if constexpr (kSplit) {
              acc2[p][t] = _mm512_dpbusd_epi32(acc2[p][t], hi[p], xh);
            } else {
              acc[p][t] = _mm512_dpbusd_epi32(acc[p][t], hi[p], xh);
            }
          }
        }
      }
    }
    __m512 dw[P];
#pragma GCC unroll 16
    for (int p = 0; p < P; ++p) {
      dw[p] = _mm512_cvtph_ps(_mm256_load_si256(
          reinterpret_cast<const __m256i*>(scales + p * stride + b * kPanelRows * 2)));
    }
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) {
      if constexpr (kSplit) {
#pragma GCC unroll 16
        for (int p = 0; p < P; ++p) acc[p][t] = _mm512_add_epi32(acc[p][t], acc2[p][t]);
      }
      const __m512 dx = _mm512_set1_ps(xd[t * nb + b]);
#pragma GCC unroll 16
      for (int p = 0; p < P; ++p) {
        sum[p][t] =
            _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(acc[p][t]), dx), dw[p], sum[p][t]);
      }
    }
  }
#pragma GCC unroll 16
  for (int p = 0; p < P; ++p) {
    const __mmask16 m = p == P - 1 && last_rows < kPanelRows
                            ? static_cast<__mmask16>((1u << last_rows) - 1)
                            : static_cast<__mmask16>(0xffff);
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(y + t * ldy + p * kPanelRows, m, sum[p][t]);
  }
}

constexpr int kTokTile = 6;

template <bool kQ4, int P, int T>
TANDEM_TARGET_VNNI void TokenTail(const GemmArgs& a, const uint8_t* panel, int64_t t, int64_t r,
                                  int last_rows) {
  const int64_t nb = a.cols / 32;
  const int64_t left = a.t1 - t;
  if constexpr (T > 1) {
    if (left < T) return TokenTail<kQ4, P, T - 1>(a, panel, t, r, last_rows);
  }
  PackedTile<kQ4, P, T>(panel, a.panel_stride, a.cols, a.xs.q + t * a.cols, a.xs.d + t * nb,
                        a.xs.c + t * nb, a.y + t * a.ldy + r, a.ldy, last_rows);
}

template <bool kQ4, int P>
TANDEM_TARGET_VNNI void PanelsTimesTokens(const GemmArgs& a, int64_t panel_index) {
  const int64_t nb = a.cols / 32;
  const int64_t r = panel_index * kPanelRows;
  const int last_rows =
      static_cast<int>(std::min<int64_t>(kPanelRows, a.rows - r - (P - 1) * kPanelRows));
  const uint8_t* panel = a.packed + panel_index * a.panel_stride;
  int64_t t = a.t0;
  for (; t + kTokTile <= a.t1; t += kTokTile) {
    PackedTile<kQ4, P, kTokTile>(panel, a.panel_stride, a.cols, a.xs.q + t * a.cols,
                                 a.xs.d + t * nb, a.xs.c + t * nb, a.y + t * a.ldy + r, a.ldy,
                                 last_rows);
  }
  if (t < a.t1) TokenTail<kQ4, P, kTokTile - 1>(a, panel, t, r, last_rows);
}

template <bool kQ4>
TANDEM_TARGET_VNNI void GemmPacked(const GemmArgs& a) {
  int64_t p = a.r0;
  if (a.t1 - a.t0 == 1) {  // decode: more panels streamed at once
    for (; p + 4 <= a.r1; p += 4) PanelsTimesTokens<kQ4, 4>(a, p);
  }
  for (; p + 2 <= a.r1; p += 2) PanelsTimesTokens<kQ4, 2>(a, p);
  if (p < a.r1) PanelsTimesTokens<kQ4, 1>(a, p);
}

}  // namespace

void GemmQ8_0Packed(const GemmArgs& a) { GemmPacked<false>(a); }
void GemmQ4_0Packed(const GemmArgs& a) { GemmPacked<true>(a); }

}  // namespace tandem::kernels::cpu::internal

#else  // not x86-64

namespace tandem::kernels::cpu::internal {
void GemmQ8_0Packed(const GemmArgs&) {}
void GemmQ4_0Packed(const GemmArgs&) {}
}  // namespace tandem::kernels::cpu::internal

#endif

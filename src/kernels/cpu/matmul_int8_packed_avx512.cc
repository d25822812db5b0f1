// Packed Q8_0 / Q4_0 / Q5_0 weights (packed.h) times signed Q8 activations with AVX-512 VNNI.
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

#include "kernels/cpu/packed.h"
#include "kernels/cpu/packed_driver-inl.h"
#include "kernels/cpu/x86_targets.h"

namespace tandem::kernels::cpu::internal {
namespace {

enum class Format { kQ8, kQ4, kQ5 };

// Quant bytes per block and panel.
template <Format F>
constexpr int kBlockBytes = QuantBytesPerBlock(F == Format::kQ8   ? WeightType::kQ8_0
                                               : F == Format::kQ4 ? WeightType::kQ4_0
                                                                  : WeightType::kQ5_0);

// kHalves (decode in two streams, P = 2, T = 1): the two panels lie `stride` bytes apart and their
// rows y_step floats apart in y, each read as a decode panel is.
template <Format F, int P, int T, bool kHalves = false>
TANDEM_TARGET_VNNI void PackedTile(const uint8_t* panel, uint64_t stride, int64_t cols,
                                   const int8_t* xq, const float* xd, const int32_t* xc, float* y,
                                   int64_t ldy, int last_rows, DecodePrefetch prefetch,
                                   int64_t y_step = kPanelRows) {
  const int64_t nb = cols / 32;
  __m512 sum[P][T];
  FillTile<P, T>(sum, _mm512_setzero_ps());
  // Decode (one panel, one token): two accumulators halve the chain of dependent vpdpbusd per
  // block. Q4_0 decode keeps the high nibbles in place (v & 0xf0, 16 times their value; the
  // block's sum is shifted back, exactly) and takes the activations as embedded broadcasts: one
  // instruction fewer per 64 bytes each. Rated against a plain stream pass by pass (the method of
  // kernels_bench DecodeVsStream), old and new kernels in the same rounds, Q4_0 rose by 0.01-0.04
  // of the stream in all 10 runs with quiet spells; embedded broadcasts made Q8_0 slower in all 7
  // (by 0.02-0.08), so it keeps vpbroadcastd.
  constexpr bool kDecode = T == 1 && (P == 1 || kHalves);
  constexpr bool kHighInPlace = kDecode && F == Format::kQ4;
  // Q4_0 prefill takes the activations as embedded broadcasts too, each loaded once per panel
  // instead of broadcast once into a register for all of them. Whole model, pp512 (alternating
  // binaries): Q4_0 higher in 4 of 4 pairs, by 1.2-2.8 % (297.9-305.6 against 291.3-302.0
  // tokens/s); Q8_0 -2.9 to +1.0 % in 3 pairs, so it keeps vpbroadcastd.
  constexpr bool kPrefillBroadcasts = !kDecode && F == Format::kQ4;
  // Decode loads each chunk's scale lines first, in order, into this copy, which the chunk's
  // blocks then read: the panel's lines are then all demand-loaded front to back.
  // (Reading the scales in place after each block's quants, or touching them first with
  // prefetcht0, left the cores waiting longer: kernels_bench DecodeLayers, one thread, 0.84-0.98
  // of the read ceiling against 0.77-0.88 for Q8_0, 0.83-0.92 against 0.81-0.86 for Q4_0.)
  constexpr bool kCopyScales = kDecode;
  alignas(64) uint8_t chunk_scales[kCopyScales ? P : 1][kCopyScales ? kChunkScaleBytes : 64];
  for (int64_t b = 0; b < nb; ++b) {
    __m512i acc[P][T], acc2[P][T];
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) {
      const __m512i c = _mm512_set1_epi32(xc[t * nb + b]);
#pragma GCC unroll 16
      for (int p = 0; p < P; ++p) {
        acc[p][t] = c;
        if constexpr (kDecode) acc2[p][t] = _mm512_setzero_si512();
      }
    }
    const int8_t* xb = xq + b * 32;
    const uint8_t* wb = panel + BlockQuantsOffset(b, kBlockBytes<F>);
    const uint8_t* scales = panel + BlockScalesOffset(b, kBlockBytes<F>);
    const uint8_t* sc[P];
#pragma GCC unroll 16
    for (int p = 0; p < P; ++p) sc[p] = scales + p * stride;
    if constexpr (kDecode) {  // the stream `prefetch` bytes ahead (PrefetchAhead)
#pragma GCC unroll 2
      for (int p = 0; p < P; ++p) {
        if (b % kChunkBlocks == 0) PrefetchAhead<kChunkScaleBytes>(sc[p], prefetch);
        PrefetchAhead<kBlockBytes<F>>(wb + p * stride, prefetch);
      }
      // Each page's first 256 bytes at once, where a page starts (BurstAtPageStart).
#pragma GCC unroll 2
      for (int p = 0; p < P; ++p) {
        if (b % kChunkBlocks == 0) BurstAtPageStart<256>(sc[p], prefetch);
#pragma GCC unroll 8
        for (int l = 0; l < kBlockBytes<F>; l += 64) {
          BurstAtPageStart<256>(wb + p * stride + l, prefetch);
        }
      }
    }
    if constexpr (kCopyScales) {
#pragma GCC unroll 2
      for (int p = 0; p < P; ++p) {
        if (b % kChunkBlocks == 0) {  // a short last chunk has all 256 scale bytes too
#pragma GCC unroll 4
          for (int l = 0; l < kChunkScaleBytes; l += 64) {
            _mm512_store_si512(chunk_scales[p] + l, _mm512_load_si512(sc[p] + l));
          }
        }
        sc[p] = chunk_scales[p] + (b % kChunkBlocks) * kPanelRows * 2;
      }
    }
    if constexpr (F == Format::kQ8) {
#pragma GCC unroll 16
      for (int g = 0; g < 8; ++g) {
        __m512i w[P];
#pragma GCC unroll 16
        for (int p = 0; p < P; ++p) w[p] = _mm512_load_si512(wb + p * stride + g * 64);
#pragma GCC unroll 16
        for (int t = 0; t < T; ++t) {
          if constexpr (kPrefillBroadcasts) {
#pragma GCC unroll 16
            for (int p = 0; p < P; ++p) {
              acc[p][t] = DpbusdBroadcast(acc[p][t], w[p], xb + t * cols + 4 * g);
            }
            continue;
          }
          const __m512i x = _mm512_set1_epi32(Load4(xb + t * cols + 4 * g));
#pragma GCC unroll 16
          for (int p = 0; p < P; ++p) {
            if (kDecode && g % 2 == 1) {
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
          hi[p] = kHighInPlace ? _mm512_andnot_si512(low4, v)
                               : _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
          if constexpr (F == Format::kQ5) {  // + 16 where the element's fifth bit is set
            // Byte g of each row's qh word (packed.h) to the row's 4 bytes; byte i then tests
            // bit i (element 4g + i) or 4 + i (element 16 + 4g + i).
            const __m512i row_byte_g = _mm512_add_epi8(
                _mm512_set4_epi32(0x0c0c0c0c, 0x08080808, 0x04040404, 0), _mm512_set1_epi8(g));
            const __m512i bits =
                _mm512_shuffle_epi8(_mm512_load_si512(wb + p * stride + 256), row_byte_g);
            const __m512i sixteen = _mm512_set1_epi8(16);
            lo[p] = _mm512_mask_add_epi8(
                lo[p], _mm512_test_epi8_mask(bits, _mm512_set1_epi32(0x08040201)), lo[p], sixteen);
            hi[p] = _mm512_mask_add_epi8(
                hi[p], _mm512_test_epi8_mask(bits, _mm512_set1_epi32(0x80402010)), hi[p], sixteen);
          }
        }
        if constexpr (kDecode && F == Format::kQ4) {
#pragma GCC unroll 2
          for (int p = 0; p < P; ++p) {
            acc[p][0] = DpbusdBroadcast(acc[p][0], lo[p], xb + 4 * g);
            acc2[p][0] = DpbusdBroadcast(acc2[p][0], hi[p], xb + 16 + 4 * g);
          }
          continue;
        }
#pragma GCC unroll 16
        for (int t = 0; t < T; ++t) {
          if constexpr (kPrefillBroadcasts) {
#pragma GCC unroll 16
            for (int p = 0; p < P; ++p) {
              acc[p][t] = DpbusdBroadcast(acc[p][t], lo[p], xb + t * cols + 4 * g);
              acc[p][t] = DpbusdBroadcast(acc[p][t], hi[p], xb + t * cols + 16 + 4 * g);
            }
            continue;
          }
          const __m512i xl = _mm512_set1_epi32(Load4(xb + t * cols + 4 * g));
          const __m512i xh = _mm512_set1_epi32(Load4(xb + t * cols + 16 + 4 * g));
#pragma GCC unroll 16
          for (int p = 0; p < P; ++p) {
            acc[p][t] = _mm512_dpbusd_epi32(acc[p][t], lo[p], xl);
            if constexpr (kDecode) {
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
      dw[p] = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(sc[p])));
    }
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) {
      if constexpr (kDecode) {
#pragma GCC unroll 2
        for (int p = 0; p < P; ++p) {
          acc[p][0] = _mm512_add_epi32(
              acc[p][0], kHighInPlace ? _mm512_srai_epi32(acc2[p][0], 4) : acc2[p][0]);
        }
      }
      const __m512 dx = _mm512_set1_ps(xd[t * nb + b]);
#pragma GCC unroll 16
      for (int p = 0; p < P; ++p) {
        sum[p][t] =
            _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(acc[p][t]), dx), dw[p], sum[p][t]);
      }
    }
  }
  StorePanelSums<P, T>(sum, y, ldy, last_rows, y_step);
}

// The driver's tile interface (packed_driver-inl.h).
template <Format F>
struct Tile {
  template <int P, int T>
  struct Of {
    TANDEM_TARGET_VNNI static void Run(const GemmArgs& a, const uint8_t* panel, int64_t t, float* y,
                                       int last_rows) {
      const int64_t nb = a.cols / 32;
      PackedTile<F, P, T>(panel, a.panel_stride, a.cols, a.xs.q + t * a.cols, a.xs.d + t * nb,
                          a.xs.c + t * nb, y, a.ldy, last_rows, a.prefetch);
    }
  };
};

// Decode in two streams (DecodePrefetch::halves): the task's first half of panels and its second,
// side by side, as pairs of panels half the task apart in one tile; a lone middle panel last.
// Each half is one stream front to back, which the prefetches follow across its panels.
template <Format F>
TANDEM_TARGET_VNNI void DecodeHalves(const GemmArgs& a) {
  const int64_t n = a.r1 - a.r0, h = (n + 1) / 2, nb = a.cols / 32;
  for (int64_t i = 0; i < n - h; ++i) {
    const int64_t pa = a.r0 + i, pb = a.r0 + h + i;
    const int last_rows = static_cast<int>(std::min<int64_t>(kPanelRows, a.rows - pb * kPanelRows));
    PackedTile<F, 2, 1, true>(a.packed + pa * a.panel_stride, h * a.panel_stride, a.cols,
                              a.xs.q + a.t0 * a.cols, a.xs.d + a.t0 * nb, a.xs.c + a.t0 * nb,
                              a.y + a.t0 * a.ldy + pa * kPanelRows, a.ldy, last_rows, a.prefetch,
                              h * kPanelRows);
  }
  if (n % 2 != 0) {
    const int64_t p = a.r0 + h - 1;
    const int last_rows = static_cast<int>(std::min<int64_t>(kPanelRows, a.rows - p * kPanelRows));
    Tile<F>::template Of<1, 1>::Run(a, a.packed + p * a.panel_stride, a.t0,
                                    a.y + a.t0 * a.ldy + p * kPanelRows, last_rows);
  }
}

template <Format F>
TANDEM_TARGET_VNNI void GemmInt8Packed(const GemmArgs& a) {
  if (a.t1 - a.t0 == 1 && a.prefetch.halves) return DecodeHalves<F>(a);
  GemmPackedPanels<Tile<F>::template Of, 6>(a);
}

}  // namespace

// Prefill: 2 panels x 6 tokens. Decode reads one panel after the other, front to back: one stream
// per core (or two, DecodeHalves), which the hardware prefetchers keep ahead of better than several
// panels at once. It loads each chunk's scale lines first, into a copy that the chunk's blocks
// read.
void GemmQ8_0Packed(const GemmArgs& a) { GemmInt8Packed<Format::kQ8>(a); }
void GemmQ4_0Packed(const GemmArgs& a) { GemmInt8Packed<Format::kQ4>(a); }
void GemmQ5_0Packed(const GemmArgs& a) { GemmInt8Packed<Format::kQ5>(a); }

}  // namespace tandem::kernels::cpu::internal

#else  // not x86-64

namespace tandem::kernels::cpu::internal {
void GemmQ8_0Packed(const GemmArgs&) {}
void GemmQ4_0Packed(const GemmArgs&) {}
void GemmQ5_0Packed(const GemmArgs&) {}
}  // namespace tandem::kernels::cpu::internal

#endif

// Packed F16 weights (packed.h) times activations rounded to fp16, with AVX-512 FP16 products
// (F16Prefill::kFp16, prefill only). One vfmadd231ph does 32 multiply-adds on the weights as they
// are stored: twice the lanes of an f32 FMA and no widening, so the product can run at up to twice
// the f32 FMA ceiling. x86-64 only.
//
// What rounds, and why it stays small:
// - Each token's activations are scaled by a power of two (exact) so that their largest magnitude
//   lies in [32, 64), then rounded to fp16 (11 significant bits, against bf16's 8).
// - Products and sums are fp16 for kFlushPairs column pairs at a time, then added into f32: a
//   lane's fp16 partial sum holds at most 64 products, and its rounding is relative to it.
// - A tile whose result is not finite (an fp16 partial sum overflowed, or the inputs were not
//   finite) is computed again with the exact f32 kernel, so a large weight or activation costs
//   time, never a wrong number.
// The drift against the exact product is measured by the tests (ForwardKernels.F16AsFp16...).
//
// Layout: per column pair j a panel holds 16 rows' (w[2j], w[2j + 1]) as 32 fp16 lanes (packed.h);
// token t's (x'[2j], x'[2j + 1]), one 32-bit value broadcast to every lane pair, multiplies them.
// At the end adjacent lanes are added, as the f32 kernel does. The activations come grouped per
// 14 tokens, [pair][token][2] fp16 (GroupPairsFp16), so a tile reads one pointer; tiles are
// 2 panels x 14 tokens: 28 fp16 accumulators, 2 weight vectors and a broadcast in 31 registers.
#include "kernels/cpu/gemm_internal.h"

#if defined(__x86_64__)
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/cpu/packed.h"
#include "kernels/cpu/x86_targets.h"

#define TANDEM_TARGET_FP16 \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512fp16,f16c,fma")))

namespace tandem::kernels::cpu::internal {
namespace {

// Column pairs summed in fp16 before a flush into f32.
constexpr int64_t kFlushPairs = 64;

// acc (32 fp16 lanes) widened and added into tot[0] (lanes 0-15) and tot[1] (lanes 16-31).
TANDEM_TARGET_FP16 inline void Flush(__m512h acc, __m512 (&tot)[2]) {
  const __m512i v = _mm512_castph_si512(acc);
  tot[0] = _mm512_add_ps(tot[0], _mm512_cvtph_ps(_mm512_castsi512_si256(v)));
  tot[1] = _mm512_add_ps(tot[1], _mm512_cvtph_ps(_mm512_extracti64x4_epi64(v, 1)));
}

// P panels from `panel` times the T tokens of the group at xg ([pair][T][2] fp16). Stores
// y[t, row] = (sum) * inv_scale[t] for the tile's rows, and returns whether all were finite.
template <int P, int T>
TANDEM_TARGET_FP16 bool Fp16Tile(const uint8_t* panel, uint64_t stride, int64_t pairs,
                                 const uint16_t* xg, const float* inv_scale, float* y, int64_t ldy,
                                 int last_rows) {
  __m512 tot[P][T][2];
#pragma GCC unroll 16
  for (int p = 0; p < P; ++p) {
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) tot[p][t][0] = tot[p][t][1] = _mm512_setzero_ps();
  }
  for (int64_t j0 = 0; j0 < pairs; j0 += kFlushPairs) {
    const int64_t j1 = std::min(pairs, j0 + kFlushPairs);
    __m512h acc[P][T];
#pragma GCC unroll 16
    for (int p = 0; p < P; ++p) {
#pragma GCC unroll 16
      for (int t = 0; t < T; ++t) acc[p][t] = _mm512_setzero_ph();
    }
    for (int64_t j = j0; j < j1; ++j) {
      __m512h w[P];
#pragma GCC unroll 16
      for (int p = 0; p < P; ++p) w[p] = _mm512_load_ph(panel + p * stride + j * 64);
      const uint16_t* xj = xg + j * T * 2;
#pragma GCC unroll 16
      for (int t = 0; t < T; ++t) {
        int32_t pair;
        std::memcpy(&pair, xj + 2 * t, sizeof(pair));
        const __m512h xv = _mm512_castsi512_ph(_mm512_set1_epi32(pair));
#pragma GCC unroll 16
        for (int p = 0; p < P; ++p) acc[p][t] = _mm512_fmadd_ph(w[p], xv, acc[p][t]);
      }
    }
#pragma GCC unroll 16
    for (int p = 0; p < P; ++p) {
#pragma GCC unroll 16
      for (int t = 0; t < T; ++t) Flush(acc[p][t], tot[p][t]);
    }
  }
  // Lanes (row, element of the pair) -> rows: even lanes of lo then hi, plus the odd lanes.
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  __mmask16 bad = 0;
#pragma GCC unroll 16
  for (int p = 0; p < P; ++p) {
    const __mmask16 m = PanelRowMask(p, P, last_rows);
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) {
      const __m512 lo = tot[p][t][0], hi = tot[p][t][1];
      const __m512 sum = _mm512_mul_ps(
          _mm512_add_ps(_mm512_permutex2var_ps(lo, even, hi), _mm512_permutex2var_ps(lo, odd, hi)),
          _mm512_set1_ps(inv_scale[t]));
      bad |= _mm512_mask_fpclass_ps_mask(m, sum, 0x99);  // QNaN, +inf, -inf, SNaN
      _mm512_mask_storeu_ps(y + t * ldy + p * kPanelRows, m, sum);
    }
  }
  return bad == 0;
}

// P panels from `panel` times the group of tokens starting at t (at most T of them; the last group
// of a block may be shorter). A tile that is not finite is computed again exactly.
template <int P, int T>
TANDEM_TARGET_FP16 void RunTile(const GemmArgs& a, int64_t panel, int64_t t) {
  if constexpr (T > 1) {
    if (a.t1 - t < T) return RunTile<P, T - 1>(a, panel, t);
  }
  const int64_t r = panel * kPanelRows;
  const int last_rows =
      static_cast<int>(std::min<int64_t>(kPanelRows, a.rows - r - (P - 1) * kPanelRows));
  const int64_t cp = a.cols + a.cols % 2;
  if (Fp16Tile<P, T>(a.packed + panel * a.panel_stride, a.panel_stride, cp / 2, a.xh + t * cp,
                     a.xh_inv_scale + t, a.y + t * a.ldy + r, a.ldy, last_rows)) {
    return;
  }
  GemmArgs exact = a;
  exact.xh = nullptr;
  exact.xg = nullptr;
  exact.r0 = panel;
  exact.r1 = panel + P;
  exact.t0 = t;
  exact.t1 = t + T;
  GemmF16Packed(exact);
}

template <int P>
TANDEM_TARGET_FP16 void PanelsTimesGroups(const GemmArgs& a, int64_t panel) {
  for (int64_t t = a.t0; t < a.t1; t += kPairGroupTokens) RunTile<P, kPairGroupTokens>(a, panel, t);
}

}  // namespace

bool HasAvx512Fp16() {
  static const bool has = HasAvx512() && __builtin_cpu_supports("avx512fp16");
  return has;
}

TANDEM_TARGET_FP16 void GemmF16PackedFp16(const GemmArgs& a) {
  int64_t p = a.r0;
  for (; p + 2 <= a.r1; p += 2) PanelsTimesGroups<2>(a, p);
  if (p < a.r1) PanelsTimesGroups<1>(a, p);
}

TANDEM_TARGET_AVX512 void GroupPairsFp16(const float* x, int64_t n, int64_t cols, int64_t tb,
                                         uint16_t* out, float* inv_scale) {
  const int64_t cp = cols + cols % 2;
  float scale[kPairGroupTokens];
  for (int64_t b0 = 0; b0 < n; b0 += tb) {
    const int64_t b1 = std::min(n, b0 + tb);
    for (int64_t s = b0; s < b1; s += kPairGroupTokens) {
      const int64_t T = std::min<int64_t>(kPairGroupTokens, b1 - s);
      const float* xs = x + s * cols;
      for (int64_t t = 0; t < T; ++t) {
        const float* xt = xs + t * cols;
        __m512 mx = _mm512_setzero_ps();
        int64_t k = 0;
        for (; k + 16 <= cols; k += 16)
          mx = _mm512_max_ps(mx, _mm512_abs_ps(_mm512_loadu_ps(xt + k)));
        float amax = _mm512_reduce_max_ps(mx);
        for (; k < cols; ++k) amax = std::max(amax, std::abs(xt[k]));
        // A power of two that takes the largest magnitude into [32, 64): exact, and far from
        // fp16's limits. Zero, or not finite: no scale (a non-finite tile is redone exactly).
        int shift = 0;
        if (amax > 0.0f && std::isfinite(amax)) shift = std::clamp(5 - std::ilogb(amax), -100, 100);
        scale[t] = std::ldexp(1.0f, shift);
        inv_scale[s + t] = std::ldexp(1.0f, -shift);
      }
      // 16 columns of the group's tokens at a time: their 8 pairs x T tokens are 8 * T * 4
      // contiguous bytes of the output, written while they are in L1 (token by token, each
      // token's pairs T * 4 bytes apart, the stores missed L1 and took 17 % of a product).
      uint32_t* g = reinterpret_cast<uint32_t*>(out + s * cp);  // [pair][T], 2 fp16 each
      int64_t k = 0;
      for (; k + 16 <= cols; k += 16) {
        uint32_t* gk = g + (k / 2) * T;
        for (int64_t t = 0; t < T; ++t) {
          const __m256i h = _mm512_cvtps_ph(
              _mm512_mul_ps(_mm512_loadu_ps(xs + t * cols + k), _mm512_set1_ps(scale[t])),
              _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
          alignas(32) uint32_t p8[8];
          _mm256_store_si256(reinterpret_cast<__m256i*>(p8), h);
#pragma GCC unroll 8
          for (int i = 0; i < 8; ++i) gk[i * T + t] = p8[i];
        }
      }
      for (; k < cp; k += 2) {  // the tail, an odd last column paired with 0
        for (int64_t t = 0; t < T; ++t) {
          const float* xt = xs + t * cols;
          const float x0 = xt[k] * scale[t], x1 = k + 1 < cols ? xt[k + 1] * scale[t] : 0.0f;
          const __m128i h = _mm_cvtps_ph(_mm_setr_ps(x0, x1, 0.0f, 0.0f),
                                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
          g[(k / 2) * T + t] = static_cast<uint32_t>(_mm_cvtsi128_si32(h));
        }
      }
    }
  }
}

}  // namespace tandem::kernels::cpu::internal

#else  // not x86-64

namespace tandem::kernels::cpu::internal {
bool HasAvx512Fp16() { return false; }
void GemmF16PackedFp16(const GemmArgs&) {}
void GroupPairsFp16(const float*, int64_t, int64_t, int64_t, uint16_t*, float*) {}
}  // namespace tandem::kernels::cpu::internal

#endif

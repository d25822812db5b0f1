// F16 and BF16 weights times bf16 activations for prefill, through panels packed on the fly.
//
// The row-major tiles (matmul_bf16_avx512.cc) end every row x token in a horizontal sum and
// convert F16 weights again for every token tile. Here a task first packs 32 rows x kKc columns
// of its weights as bf16 into a per-thread buffer laid out [column pair][32 rows][2] (a vector of
// 16 rows' pairs per 64 bytes), once, then multiplies it with all of its tokens: per column pair,
// two weight vectors, and each token's pair broadcast to every lane, one vdpbf16ps per 16 rows.
// Results land in lanes = rows. Partial sums over column chunks accumulate in y. F16 and BF16
// weights packed at load (packed.h) already hold a row's pair per 32-bit lane: the chunk is then
// one conversion (BF16: one copy) per 64 bytes of two panels.
#include "kernels/cpu/gemm_internal.h"

#if defined(__x86_64__)
#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/cpu/packed.h"
#include "kernels/cpu/x86_targets.h"

namespace tandem::kernels::cpu::internal {
namespace {

constexpr int kRows = 32;     // two 16-lane vectors
constexpr int64_t kKc = 512;  // columns per packed chunk: 32 KiB of bf16, stays in L1/L2
constexpr int kTok = 8;       // tokens per tile: 16 accumulators

// Packs rows [r, r + n_rows) x columns [k0, k0 + kc) of w into out[kc / 2][kRows][2] as bf16;
// rows past n_rows are zero.
template <bool kF16>
TANDEM_TARGET_BF16 void PackChunk(const uint8_t* w, uint64_t row_bytes, int n_rows, int64_t k0,
                                  int64_t kc, uint32_t* out) {
  for (int r = 0; r < kRows; ++r) {
    if (r >= n_rows) {
      for (int64_t kp = 0; kp < kc / 2; ++kp) out[kp * kRows + r] = 0;
      continue;
    }
    const auto* row = reinterpret_cast<const uint16_t*>(w + r * row_bytes) + k0;
    for (int64_t k = 0; k < kc; k += 32) {
      alignas(64) uint32_t pairs[16];
      __m512i v;
      if constexpr (kF16) {
        const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + k));
        const __m256i hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + k + 16));
        v = reinterpret_cast<__m512i>(
            _mm512_cvtne2ps_pbh(_mm512_cvtph_ps(hi), _mm512_cvtph_ps(lo)));
      } else {
        v = _mm512_loadu_si512(row + k);
      }
      _mm512_store_si512(pairs, v);
#pragma GCC unroll 16
      for (int i = 0; i < 16; ++i) out[(k / 2 + i) * kRows + r] = pairs[i];
    }
  }
}

// Packed F16 or BF16 (packed.h): column pairs [k0 / 2, (k0 + kc) / 2) of n_panels (1 or 2) panels
// from `panel` into out[kc / 2][kRows][2] as bf16. A panel's 64 bytes per pair are already a row's
// pair per 32-bit lane: one conversion each (BF16: a copy).
template <bool kF16>
TANDEM_TARGET_BF16 void PackChunkFromPanels(const uint8_t* panel, uint64_t stride, int n_panels,
                                            int64_t k0, int64_t kc, uint32_t* out) {
  for (int64_t kp = 0; kp < kc / 2; ++kp) {
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      __m512i v = _mm512_setzero_si512();
      if (h < n_panels) {
        const uint8_t* w = panel + h * stride + (k0 / 2 + kp) * 64;
        if constexpr (kF16) {
          const __m512 lo = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(w)));
          const __m512 hi =
              _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(w + 32)));
          v = reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(hi, lo));
        } else {
          v = _mm512_load_si512(w);
        }
      }
      _mm512_store_si512(out + kp * kRows + h * kPanelRows, v);
    }
  }
}

// y[t][0, 32) (+)= packed chunk x tokens t < T, over kc columns starting at x.
template <int T>
TANDEM_TARGET_BF16 void PanelTile(const uint32_t* packed, int64_t kc, const uint16_t* x,
                                  int64_t ldx, float* y, int64_t ldy, bool accumulate, __mmask16 m0,
                                  __mmask16 m1) {
  __m512 acc[2][T];
#pragma GCC unroll 16
  for (int t = 0; t < T; ++t) {
    acc[0][t] = accumulate ? _mm512_maskz_loadu_ps(m0, y + t * ldy) : _mm512_setzero_ps();
    acc[1][t] = accumulate ? _mm512_maskz_loadu_ps(m1, y + t * ldy + 16) : _mm512_setzero_ps();
  }
  for (int64_t kp = 0; kp < kc / 2; ++kp) {
    const __m512bh w0 = reinterpret_cast<__m512bh>(_mm512_load_si512(packed + kp * kRows));
    const __m512bh w1 = reinterpret_cast<__m512bh>(_mm512_load_si512(packed + kp * kRows + 16));
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) {
      uint32_t pair;
      std::memcpy(&pair, x + t * ldx + 2 * kp, sizeof(pair));
      const __m512bh xv = reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(pair)));
      acc[0][t] = _mm512_dpbf16_ps(acc[0][t], w0, xv);
      acc[1][t] = _mm512_dpbf16_ps(acc[1][t], w1, xv);
    }
  }
#pragma GCC unroll 16
  for (int t = 0; t < T; ++t) {
    _mm512_mask_storeu_ps(y + t * ldy, m0, acc[0][t]);
    _mm512_mask_storeu_ps(y + t * ldy + 16, m1, acc[1][t]);
  }
}

template <int T>
TANDEM_TARGET_BF16 void TokenTail(int64_t left, const uint32_t* packed, int64_t kc,
                                  const uint16_t* x, int64_t ldx, float* y, int64_t ldy,
                                  bool accumulate, __mmask16 m0, __mmask16 m1) {
  if constexpr (T > 1) {
    if (left < T) return TokenTail<T - 1>(left, packed, kc, x, ldx, y, ldy, accumulate, m0, m1);
  }
  PanelTile<T>(packed, kc, x, ldx, y, ldy, accumulate, m0, m1);
}

// The weights: F16 or BF16 rows, or packed F16 panels (a.packed; a.r0 and a.r1 count panels).
enum class Source { kF16Rows, kBf16Rows, kF16Panels, kBf16Panels };

template <Source S>
TANDEM_TARGET_BF16 void GemmPanels(const GemmArgs& a) {
  thread_local std::vector<uint32_t, std::allocator<uint32_t>> storage;
  storage.resize(kKc / 2 * kRows + 16);
  auto* packed = reinterpret_cast<uint32_t*>((reinterpret_cast<uintptr_t>(storage.data()) + 63) &
                                             ~uintptr_t{63});
  constexpr bool kPanels = S == Source::kF16Panels || S == Source::kBf16Panels;
  const int64_t r0 = kPanels ? a.r0 * kPanelRows : a.r0;
  const int64_t r1 = kPanels ? std::min(a.r1 * kPanelRows, a.rows) : a.r1;
  for (int64_t r = r0; r < r1; r += kRows) {
    const int n_rows = static_cast<int>(std::min<int64_t>(kRows, r1 - r));
    const __mmask16 m0 = static_cast<__mmask16>(n_rows >= 16 ? 0xffff : (1u << n_rows) - 1);
    const __mmask16 m1 = static_cast<__mmask16>(n_rows >= 32   ? 0xffff
                                                : n_rows <= 16 ? 0
                                                               : (1u << (n_rows - 16)) - 1);
    for (int64_t k0 = 0; k0 < a.cols; k0 += kKc) {
      const int64_t kc = std::min(kKc, a.cols - k0);
      if constexpr (kPanels) {
        PackChunkFromPanels<S == Source::kF16Panels>(a.packed + r / kPanelRows * a.panel_stride,
                                                     a.panel_stride, n_rows > kPanelRows ? 2 : 1,
                                                     k0, kc, packed);
      } else {
        PackChunk<S == Source::kF16Rows>(a.w + r * a.row_bytes, a.row_bytes, n_rows, k0, kc,
                                         packed);
      }
      for (int64_t t = a.t0; t < a.t1; t += kTok) {
        TokenTail<kTok>(a.t1 - t, packed, kc, a.xbf + t * a.cols + k0, a.cols, a.y + t * a.ldy + r,
                        a.ldy, k0 > 0, m0, m1);
      }
    }
  }
}

}  // namespace

TANDEM_TARGET_BF16 void ConvertToBf16Avx512(const float* x, int64_t n, uint16_t* out) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {  // vcvtneps2bf16: round to nearest even, as F32ToBf16
    const __m256bh v = _mm512_cvtneps_pbh(_mm512_loadu_ps(x + i));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), reinterpret_cast<__m256i>(v));
  }
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m256bh v = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, x + i));
    _mm256_mask_storeu_epi16(out + i, m, reinterpret_cast<__m256i>(v));
  }
}

void GemmF16Bf16Panels(const GemmArgs& a) { GemmPanels<Source::kF16Rows>(a); }
void GemmBF16Bf16Panels(const GemmArgs& a) { GemmPanels<Source::kBf16Rows>(a); }
void GemmF16PackedBf16Panels(const GemmArgs& a) { GemmPanels<Source::kF16Panels>(a); }
void GemmBF16PackedBf16Panels(const GemmArgs& a) { GemmPanels<Source::kBf16Panels>(a); }

}  // namespace tandem::kernels::cpu::internal

#else  // not x86-64

namespace tandem::kernels::cpu::internal {
void GemmF16Bf16Panels(const GemmArgs&) {}
void GemmBF16Bf16Panels(const GemmArgs&) {}
void GemmF16PackedBf16Panels(const GemmArgs&) {}
void GemmBF16PackedBf16Panels(const GemmArgs&) {}
void ConvertToBf16Avx512(const float* x, int64_t n, uint16_t* out) { ConvertToBf16(x, n, out); }
}  // namespace tandem::kernels::cpu::internal

#endif

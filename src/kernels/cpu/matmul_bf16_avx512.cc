// F16 and BF16 weights times bf16 activations with AVX-512 BF16 (vdpbf16ps: 32 products per
// instruction, f32 accumulation), which Highway 1.0.3 does not expose. F16 weights are rounded to
// bf16 on the fly (8 mantissa bits instead of 11): used for F16 prefill only when asked
// (F16Prefill::kBf16), with the drift reported by the tests. x86-64 only.
#include "kernels/cpu/gemm_internal.h"

#if defined(__x86_64__)
#include <algorithm>

#include "kernels/cpu/x86_targets.h"

namespace tandem::kernels::cpu::internal {
namespace {

// 32 weights starting at p (the first `n` of them; the rest read as zero) as bf16 pairs.
struct F16ToBf16 {
  TANDEM_TARGET_BF16 static inline __m512bh Load(const uint16_t* p, int n) {
    __m256i lo, hi;
    if (n >= 32) {
      lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
      hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 16));
    } else {
      const __m512i all = _mm512_maskz_loadu_epi16(static_cast<__mmask32>((1ull << n) - 1), p);
      lo = _mm512_castsi512_si256(all);
      hi = _mm512_extracti64x4_epi64(all, 1);
    }
    return _mm512_cvtne2ps_pbh(_mm512_cvtph_ps(hi), _mm512_cvtph_ps(lo));
  }
};
struct Bf16Direct {
  TANDEM_TARGET_BF16 static inline __m512bh Load(const uint16_t* p, int n) {
    const __m512i v = n >= 32
                          ? _mm512_loadu_si512(p)
                          : _mm512_maskz_loadu_epi16(static_cast<__mmask32>((1ull << n) - 1), p);
    return reinterpret_cast<__m512bh>(v);
  }
};

TANDEM_TARGET_BF16 inline __m512bh LoadX(const uint16_t* p, int n) {
  return Bf16Direct::Load(p, n);
}

template <class L, int R, int T>
TANDEM_TARGET_BF16 inline void TileBf16(const uint16_t* w, int64_t ldw, int64_t cols,
                                        const uint16_t* x, float* y, int64_t ldy) {
  __m512 acc[R][T];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
  }
  for (int64_t k = 0; k < cols; k += 32) {
    const int n = static_cast<int>(std::min<int64_t>(32, cols - k));
    __m512bh wv[R];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) wv[r] = L::Load(w + r * ldw + k, n);
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) {
      const __m512bh xv = LoadX(x + t * cols + k, n);
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) acc[r][t] = _mm512_dpbf16_ps(acc[r][t], wv[r], xv);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) y[t * ldy + r] = _mm512_reduce_add_ps(acc[r][t]);
  }
}

constexpr int kRowTile = 4;
constexpr int kTokTile = 4;

template <class L>
TANDEM_TARGET_BF16 void GemmBf16(const GemmArgs& a) {
  const int64_t ldw = static_cast<int64_t>(a.row_bytes / 2);
  const auto* w0 = reinterpret_cast<const uint16_t*>(a.w);
  auto x = [&](int64_t t) { return a.xbf + t * a.cols; };
  int64_t r = a.r0;
  for (; r + kRowTile <= a.r1; r += kRowTile) {
    int64_t t = a.t0;
    for (; t + kTokTile <= a.t1; t += kTokTile) {
      TileBf16<L, kRowTile, kTokTile>(w0 + r * ldw, ldw, a.cols, x(t), a.y + t * a.ldy + r, a.ldy);
    }
    for (; t < a.t1; ++t) {
      TileBf16<L, kRowTile, 1>(w0 + r * ldw, ldw, a.cols, x(t), a.y + t * a.ldy + r, a.ldy);
    }
  }
  for (; r < a.r1; ++r) {
    int64_t t = a.t0;
    for (; t + kTokTile <= a.t1; t += kTokTile) {
      TileBf16<L, 1, kTokTile>(w0 + r * ldw, ldw, a.cols, x(t), a.y + t * a.ldy + r, a.ldy);
    }
    for (; t < a.t1; ++t) {
      TileBf16<L, 1, 1>(w0 + r * ldw, ldw, a.cols, x(t), a.y + t * a.ldy + r, a.ldy);
    }
  }
}

}  // namespace

bool HasAvx512Bf16() {
  static const bool has = HasAvx512Base() && __builtin_cpu_supports("avx512bf16");
  return has;
}

void GemmF16Bf16Dot(const GemmArgs& a) { GemmBf16<F16ToBf16>(a); }
void GemmBF16Bf16Dot(const GemmArgs& a) { GemmBf16<Bf16Direct>(a); }

}  // namespace tandem::kernels::cpu::internal

#else  // not x86-64

namespace tandem::kernels::cpu::internal {
bool HasAvx512Bf16() { return false; }
void GemmF16Bf16Dot(const GemmArgs&) {}
void GemmBF16Bf16Dot(const GemmArgs&) {}
}  // namespace tandem::kernels::cpu::internal

#endif

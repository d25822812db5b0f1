// Q8_0 and Q4_0 weights times Q8 activations with AVX-512 VNNI (vpdpbusd), which Highway 1.0.3
// does not expose. Compiled for x86-64 only, with per-function target attributes; MatMul calls it
// only when the CPU has the features (HasAvx512Vnni).
//
// vpdpbusd multiplies unsigned by signed bytes. Activations are stored biased (q + 128, unsigned),
// so per 32-element block: sum (q_x + 128) * q_w = dot + 128 * sum(q_w); the accumulator starts at
// -128 * sum(q_w), itself one vpdpbusd of 0x80 bytes with the weights, shared by all tokens.
// Q4_0 nibbles become signed (n - 8) first. Two blocks (64 bytes) per 512-bit step; lanes 0-7
// hold the first block's partial sums, lanes 8-15 the second's, each scaled by d_w * d_x in f32.
#include "kernels/cpu/gemm_internal.h"

#if defined(__x86_64__)
#include "kernels/cpu/x86_targets.h"
#include "kernels/types.h"

namespace tandem::kernels::cpu::internal {
namespace {

// One row's two blocks, ready for vpdpbusd: signed weights, -128 * sum per lane, scale per lane.
struct WPair {
  __m512i q;
  __m512i negc;
  __m512 d;
};

TANDEM_TARGET_VNNI inline __m512 PairScale(float a, float b) {
  return _mm512_insertf32x8(_mm512_set1_ps(a), _mm256_set1_ps(b), 1);
}

TANDEM_TARGET_VNNI inline __m512i NegCorrection(__m512i q) {
  const __m512i c = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(-128), q);
  return _mm512_sub_epi32(_mm512_setzero_si512(), c);
}

struct Q8Loader {
  using Block = BlockQ8_0;
  // Blocks j and j + 1 of `row`; `two` false: block j only, upper half zero.
  TANDEM_TARGET_VNNI static inline WPair Load(const Block* row, int64_t j, bool two) {
    WPair p;
    const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row[j].qs));
    const float d0 = _cvtsh_ss(row[j].d);
    if (two) {
      const __m256i hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row[j + 1].qs));
      p.q = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
      p.d = PairScale(d0, _cvtsh_ss(row[j + 1].d));
    } else {
      p.q = _mm512_zextsi256_si512(lo);
      p.d = PairScale(d0, 0.0f);
    }
    p.negc = NegCorrection(p.q);
    return p;
  }
};

struct Q4Loader {
  using Block = BlockQ4_0;
  TANDEM_TARGET_VNNI static inline WPair Load(const Block* row, int64_t j, bool two) {
    WPair p;
    const __m128i r0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row[j].qs));
    const __m128i r1 = two ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(row[j + 1].qs))
                           : _mm_set1_epi8(static_cast<char>(0x88));
    const __m256i both = _mm256_inserti128_si256(_mm256_castsi128_si256(r0), r1, 1);
    // [r0 r1 r0>>4 r1>>4] & 0x0f, reordered to [lo0 hi0 lo1 hi1], minus 8.
    __m512i t = _mm512_inserti64x4(_mm512_castsi256_si512(both), _mm256_srli_epi16(both, 4), 1);
    t = _mm512_and_si512(t, _mm512_set1_epi8(0x0f));
    t = _mm512_shuffle_i64x2(t, t, _MM_SHUFFLE(3, 1, 2, 0));
    p.q = _mm512_sub_epi8(t, _mm512_set1_epi8(8));  // a missing second block (0x88) becomes 0
    const float d0 = _cvtsh_ss(row[j].d);
    p.d = PairScale(d0, two ? _cvtsh_ss(row[j + 1].d) : 0.0f);
    p.negc = NegCorrection(p.q);
    return p;
  }
};

constexpr int kPrefetchBytes = 1024;

// acc[r][t] over all blocks; y[t * ldy + r] = horizontal sums.
template <class L, int R, int T>
TANDEM_TARGET_VNNI inline void TileInt8(const uint8_t* w, uint64_t row_bytes, int64_t cols,
                                        const uint8_t* xq, const float* xd, float* y, int64_t ldy) {
  using Block = typename L::Block;
  const int64_t nb = cols / 32;
  const __m512i perm = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
  __m512 acc[R][T];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
  }
  int64_t j = 0;
  for (; j < nb; j += 2) {
    const bool two = j + 1 < nb;
    WPair wp[R];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const auto* row = reinterpret_cast<const Block*>(w + r * row_bytes);
      // Weights are usually a file mapping in 4 KiB pages, where the hardware prefetchers stop
      // at each page boundary: fetch ahead explicitly.
      _mm_prefetch(reinterpret_cast<const char*>(row + j) + kPrefetchBytes, _MM_HINT_T0);
      wp[r] = L::Load(row, j, two);
    }
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) {
      const uint8_t* xp = xq + t * cols + j * 32;
      const __m512i xv = two ? _mm512_loadu_si512(xp) : _mm512_maskz_loadu_epi8(0xffffffffull, xp);
      const float* dp = xd + t * nb + j;
      const __m512 dx = _mm512_permutexvar_ps(
          perm, _mm512_castps128_ps512(
                    two ? _mm_castsi128_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i_u*>(dp)))
                        : _mm_load_ss(dp)));
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        const __m512i p = _mm512_dpbusd_epi32(wp[r].negc, xv, wp[r].q);
        acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_mul_ps(wp[r].d, dx), acc[r][t]);
      }
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
TANDEM_TARGET_VNNI void GemmInt8(const GemmArgs& a) {
  const int64_t nb = a.cols / 32;
  auto xq = [&](int64_t t) { return a.xq.q + t * a.cols; };
  auto xd = [&](int64_t t) { return a.xq.d + t * nb; };
  int64_t r = a.r0;
  for (; r + kRowTile <= a.r1; r += kRowTile) {
    const uint8_t* w = a.w + r * a.row_bytes;
    int64_t t = a.t0;
    for (; t + kTokTile <= a.t1; t += kTokTile) {
      TileInt8<L, kRowTile, kTokTile>(w, a.row_bytes, a.cols, xq(t), xd(t), a.y + t * a.ldy + r,
                                      a.ldy);
    }
    for (; t < a.t1; ++t) {
      TileInt8<L, kRowTile, 1>(w, a.row_bytes, a.cols, xq(t), xd(t), a.y + t * a.ldy + r, a.ldy);
    }
  }
  for (; r < a.r1; ++r) {
    const uint8_t* w = a.w + r * a.row_bytes;
    int64_t t = a.t0;
    for (; t + kTokTile <= a.t1; t += kTokTile) {
      TileInt8<L, 1, kTokTile>(w, a.row_bytes, a.cols, xq(t), xd(t), a.y + t * a.ldy + r, a.ldy);
    }
    for (; t < a.t1; ++t) {
      TileInt8<L, 1, 1>(w, a.row_bytes, a.cols, xq(t), xd(t), a.y + t * a.ldy + r, a.ldy);
    }
  }
}

}  // namespace

bool HasAvx512Vnni() {
  static const bool has = HasAvx512Base() && __builtin_cpu_supports("avx512vnni");
  return has;
}

void GemmQ8_0Vnni(const GemmArgs& a) { GemmInt8<Q8Loader>(a); }
void GemmQ4_0Vnni(const GemmArgs& a) { GemmInt8<Q4Loader>(a); }

}  // namespace tandem::kernels::cpu::internal

#else  // not x86-64

namespace tandem::kernels::cpu::internal {
bool HasAvx512Vnni() { return false; }
void GemmQ8_0Vnni(const GemmArgs&) {}
void GemmQ4_0Vnni(const GemmArgs&) {}
}  // namespace tandem::kernels::cpu::internal

#endif

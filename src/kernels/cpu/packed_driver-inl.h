// Internal to the packed int8 kernels: walks one task's panels and tokens through a register
// tile. `Tile<P, T>::Run(a, panel, t, y, last_rows)` computes P panels (16 rows each, starting at
// `panel`) times tokens [t, t + T) into y, storing only `last_rows` rows of its last panel.
#pragma once

#include <algorithm>
#include <cstdint>

#include "kernels/cpu/gemm_internal.h"
#include "kernels/cpu/packed.h"
#include "kernels/cpu/x86_targets.h"

#if defined(__x86_64__)
namespace tandem::kernels::cpu::internal {

// Tokens [t, a.t1) when fewer than T are left: the largest tile that fits.
template <template <int, int> class Tile, int P, int T>
TANDEM_TARGET_VNNI inline void PackedTokenTail(const GemmArgs& a, const uint8_t* panel, int64_t t,
                                               float* y, int last_rows) {
  if constexpr (T > 1) {
    if (a.t1 - t < T) return PackedTokenTail<Tile, P, T - 1>(a, panel, t, y, last_rows);
  }
  Tile<P, T>::Run(a, panel, t, y, last_rows);
}

template <template <int, int> class Tile, int P, int kTokTile>
TANDEM_TARGET_VNNI inline void PackedPanelsTimesTokens(const GemmArgs& a, int64_t panel_index) {
  const int64_t r = panel_index * kPanelRows;
  const int last_rows =
      static_cast<int>(std::min<int64_t>(kPanelRows, a.rows - r - (P - 1) * kPanelRows));
  const uint8_t* panel = a.packed + panel_index * a.panel_stride;
  int64_t t = a.t0;
  for (; t + kTokTile <= a.t1; t += kTokTile) {
    Tile<P, kTokTile>::Run(a, panel, t, a.y + t * a.ldy + r, last_rows);
  }
  if constexpr (kTokTile > 1) {
    if (t < a.t1) {
      PackedTokenTail<Tile, P, kTokTile - 1>(a, panel, t, a.y + t * a.ldy + r, last_rows);
    }
  }
}

// Panels [a.r0, a.r1) times tokens [a.t0, a.t1): decode reads one panel after the other (below),
// prefill tiles 2 panels by kTokTile tokens.
template <template <int, int> class Tile, int kTokTile>
TANDEM_TARGET_VNNI inline void GemmPackedPanels(const GemmArgs& a) {
  int64_t p = a.r0;
  if (a.t1 - a.t0 == 1) {
    for (; p < a.r1; ++p) PackedPanelsTimesTokens<Tile, 1, 1>(a, p);
    return;
  }
  for (; p + 2 <= a.r1; p += 2) PackedPanelsTimesTokens<Tile, 2, kTokTile>(a, p);
  if (p < a.r1) PackedPanelsTimesTokens<Tile, 1, kTokTile>(a, p);
}

// Decode reads each panel once, front to back, one panel after the other: one stream per core,
// which the hardware prefetchers follow. They fell behind 4 to 8 panels read side by side, and
// prefetch instructions did not make up for it (their requests take the miss buffers the loads
// need). The K-quant kernels read a super-block's scales after its quants, so decode first copies
// the super-block's header (`CopyLines`, as Q8_0/Q4_0/Q5_0 copy their chunks' scale lines), and
// the one-token tails of prefill ask for it first (`TouchInOrder`): the prefetchers then see a
// panel's lines in ascending order. Touching took one core from memory from 20.5 to 26 GB/s
// (Q4_K), 15 to 22 (Q6_K), 16 to 21 (Q5_K). Copying, against touching, in the same rounds
// (kernels_bench DecodeVsStream, quiet spells, 3 runs), the 1B shape's layers: Q6_K 0.858-0.871
// of the stream against 0.836-0.854, Q5_K 0.855-0.859 against 0.837-0.850, Q4_K 0.860-0.874
// against 0.856-0.867. TouchInOrder is a plain loop: unrolled, Q6_K's 53 prefetches in a row ran
// a fifth slower.
template <int kBytes>
TANDEM_TARGET_VNNI inline void TouchInOrder(const uint8_t* p) {
  for (int l = 0; l < kBytes; l += 64) {
    _mm_prefetch(reinterpret_cast<const char*>(p + l), _MM_HINT_T0);
  }
}
// Copies kBytes from src to dst, a line at a time in order (the compiler barrier keeps GCC from
// scrambling the loads: Q5_K layers, whose 13 lines it loaded out of order, read 0.755 of the
// stream in two runs, and 0.886 in order in the next quiet one), and returns dst hidden from the
// optimiser, which would otherwise read the copy's bytes from src where they are used (after the
// quants) and drop the copy.
template <int kBytes>
TANDEM_TARGET_VNNI inline const uint8_t* CopyLines(const uint8_t* src, uint8_t* dst) {
#pragma GCC unroll 16
  for (int l = 0; l < kBytes; l += 64) {
    _mm512_store_si512(dst + l, _mm512_load_si512(src + l));
    asm volatile("" ::: "memory");
  }
  const uint8_t* copy = dst;
  asm("" : "+r"(copy));
  return copy;
}

// Asks for the kBytes of lines at p + pf.bytes into L2 (prefetcht1) or L1 (prefetcht0), one
// prefetch per line: a decode kernel calls it beside its loads, so that its stream runs pf.bytes
// ahead of them (GemmArgs::prefetch; nothing when it is 0). On Intel the hardware prefetchers alone
// left the cores short of lines in flight: kernels_bench DecodeLayers (the 1B shape's products, one
// token, 2 threads) read 0.60 of the read ceiling for Q4_0, 0.80 for Q8_0, 0.67 for F16 and 0.72
// for Q4_K without, 0.81, 0.90, 0.88 and 0.82-0.86 with 4 KiB (8 KiB about the same, 1-2 KiB less,
// into L1 less). The addresses may lie past the matrix's end (a prefetch never faults): they are
// computed as integers, not as pointers into the matrix.
template <int kBytes>
inline void PrefetchAhead(uintptr_t p, DecodePrefetch pf) {
  if (pf.bytes == 0) return;
  const uintptr_t ahead = p + static_cast<uintptr_t>(pf.bytes);
  if (pf.into_l1) {
#pragma GCC unroll 16
    for (int l = 0; l < kBytes; l += 64) {
      _mm_prefetch(reinterpret_cast<const char*>(ahead + l), _MM_HINT_T0);
    }
    return;
  }
#pragma GCC unroll 16
  for (int l = 0; l < kBytes; l += 64) {
    _mm_prefetch(reinterpret_cast<const char*>(ahead + l), _MM_HINT_T1);
  }
}

template <int kBytes>
inline void PrefetchAhead(const uint8_t* p, DecodePrefetch pf) {
  PrefetchAhead<kBytes>(reinterpret_cast<uintptr_t>(p), pf);
}

// When p is the start of a 4 KiB page and pf.page_burst is set, loads the page's first kBytes at
// once (each line into a register the optimiser must keep); otherwise nothing. A decode kernel
// calls it for each line of a stream before that line's own loads. On AMD Zen 5 four demand misses
// at a page's start, rather than one line at a time at the pace of the arithmetic, took one large
// F16 matrix's decode from 50-57 to 59-61 GB/s, and the whole model's decode 2-13 % higher for
// F16, Q8_0 and Q4_0 (docs/performance.md, "Decode: a burst at each page"). The hardware
// prefetchers do not cross a 4 KiB page; the burst seems to set them going in each new page
// sooner. The bytes read past p lie in p's page, so they never fault.
template <int kBytes>
TANDEM_TARGET_AVX512 inline void BurstAtPageStart(const uint8_t* p, DecodePrefetch pf) {
  if (!pf.page_burst || (reinterpret_cast<uintptr_t>(p) & 4095) != 0) return;
#pragma GCC unroll 16
  for (int l = 0; l < kBytes; l += 64) {
    const __m512i v = _mm512_load_si512(p + l);
    asm volatile("" : : "v"(v));
  }
}

// Sets every element of a tile's P x T accumulators.
template <int P, int T, class V>
TANDEM_TARGET_VNNI inline void FillTile(V (&v)[P][T], V value) {
#pragma GCC unroll 16
  for (int p = 0; p < P; ++p) {
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) v[p][t] = value;
  }
}

// Stores a tile's P x T float sums (16 rows each) into y (ldy apart per token).
template <int P, int T>
TANDEM_TARGET_VNNI inline void StorePanelSums(const __m512 (&sum)[P][T], float* y, int64_t ldy,
                                              int last_rows, int64_t y_step = kPanelRows) {
#pragma GCC unroll 16
  for (int p = 0; p < P; ++p) {
    const __mmask16 m = PanelRowMask(p, P, last_rows);
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(y + t * ldy + p * y_step, m, sum[p][t]);
  }
}

// acc + vpdpbusd(w, the 4 activation bytes at x broadcast to every lane), the broadcast folded
// into the instruction as its memory operand (GCC emits a separate vpbroadcastd for the
// intrinsics).
using UnalignedInt32 = int32_t __attribute__((aligned(1), may_alias));
TANDEM_TARGET_VNNI inline __m512i DpbusdBroadcast(__m512i acc, __m512i w, const int8_t* x) {
  asm("vpdpbusd %[x]%{1to16%}, %[w], %[acc]"
      : [acc] "+v"(acc)
      : [w] "v"(w), [x] "m"(*reinterpret_cast<const UnalignedInt32*>(x)));
  return acc;
}

inline int32_t Load4(const void* p) {
  int32_t v;
  __builtin_memcpy(&v, p, 4);
  return v;
}

}  // namespace tandem::kernels::cpu::internal
#endif

// Instruction throughput of the AVX-512 products the kernels are built on (vpdpbusd, vdpbf16ps,
// vfmadd231ph), for the peaks `tandem profile` prints. x86-64 only; 0 elsewhere.
#include "kernels/cpu/peaks_internal.h"

#if defined(__x86_64__)
#include <chrono>

#include "kernels/cpu/gemm_internal.h"
#include "kernels/cpu/x86_targets.h"

namespace tandem::kernels::cpu::internal {
namespace {

constexpr int kChains = 16;  // independent accumulators: more than latency x throughput

double Since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// `iters` times sixteen of one instruction, each into its own accumulator (c += y * x lane by
// lane), written out in asm on sixteen named variables; the accumulators are then stored to
// acc[0..15]. From intrinsics on an array, GCC at -O3 moved the accumulators between registers and
// through the stack every iteration, and that chain halved vpdpbusd's measured rate on a core that
// issues two per cycle (AMD Zen 5). Two statements of eight: an asm takes at most 30 operands, and
// each "+v" counts twice.
#define TANDEM_PEAK_ASM8(insn, c0, c1, c2, c3, c4, c5, c6, c7, x, y)                              \
  __asm__ volatile(                                                                               \
      insn " %[vx], %[vy], %0\n\t" insn " %[vx], %[vy], %1\n\t" insn " %[vx], %[vy], %2\n\t" insn \
           " %[vx], %[vy], %3\n\t" insn " %[vx], %[vy], %4\n\t" insn " %[vx], %[vy], %5\n\t" insn \
           " %[vx], %[vy], %6\n\t" insn " %[vx], %[vy], %7"                                       \
      : "+v"(c0), "+v"(c1), "+v"(c2), "+v"(c3), "+v"(c4), "+v"(c5), "+v"(c6), "+v"(c7)            \
      : [vx] "v"(x), [vy] "v"(y))
#define TANDEM_PEAK_LOOP(insn, V, acc, iters, x, y)                                     \
  do {                                                                                  \
    V c0 = acc[0], c1 = acc[1], c2 = acc[2], c3 = acc[3], c4 = acc[4], c5 = acc[5];     \
    V c6 = acc[6], c7 = acc[7], c8 = acc[8], c9 = acc[9], c10 = acc[10], c11 = acc[11]; \
    V c12 = acc[12], c13 = acc[13], c14 = acc[14], c15 = acc[15];                       \
    for (int64_t it = 0; it < (iters); ++it) {                                          \
      TANDEM_PEAK_ASM8(insn, c0, c1, c2, c3, c4, c5, c6, c7, x, y);                     \
      TANDEM_PEAK_ASM8(insn, c8, c9, c10, c11, c12, c13, c14, c15, x, y);               \
    }                                                                                   \
    acc[0] = c0, acc[1] = c1, acc[2] = c2, acc[3] = c3, acc[4] = c4, acc[5] = c5;       \
    acc[6] = c6, acc[7] = c7, acc[8] = c8, acc[9] = c9, acc[10] = c10, acc[11] = c11;   \
    acc[12] = c12, acc[13] = c13, acc[14] = c14, acc[15] = c15;                         \
  } while (0)

static_assert(kChains == 16, "TANDEM_PEAK_LOOP names 16 accumulators");

__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) double Int8DotRate(int64_t iters) {
  __m512i acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_epi32(i);
  const __m512i a = _mm512_set1_epi8(1);
  const __m512i b = _mm512_set1_epi8(2);
  const auto t0 = std::chrono::steady_clock::now();
  TANDEM_PEAK_LOOP("vpdpbusd", __m512i, acc, iters, b, a);
  const double s = Since(t0);
  __m512i sum = acc[0];
  for (int i = 1; i < kChains; ++i) sum = _mm512_or_si512(sum, acc[i]);
  // An OR, not a sum: the lanes have wrapped, and the scalar add of a reduction may not.
  volatile int sink = _mm512_reduce_or_epi32(sum);
  (void)sink;
  return static_cast<double>(iters) * kChains * 64 * 2 / s;  // 64 multiply-adds per instruction
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) double Bf16DotRate(int64_t iters) {
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i));
  const __m512i a = _mm512_set1_epi16(0x3f80);  // 1.0 in bf16
  const __m512i b = _mm512_set1_epi16(0x3f80);
  const auto t0 = std::chrono::steady_clock::now();
  TANDEM_PEAK_LOOP("vdpbf16ps", __m512, acc, iters, b, a);
  const double s = Since(t0);
  __m512 sum = acc[0];
  for (int i = 1; i < kChains; ++i) sum = _mm512_add_ps(sum, acc[i]);
  volatile float sink = _mm512_reduce_add_ps(sum);
  (void)sink;
  return static_cast<double>(iters) * kChains * 32 * 2 / s;  // 32 multiply-adds per instruction
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512fp16"))) double Fp16FmaRate(int64_t iters) {
  __m512h acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_setzero_ph();
  const __m512h a = _mm512_set1_ph(static_cast<_Float16>(0.5f));
  const __m512h b = _mm512_set1_ph(static_cast<_Float16>(0.25f));
  const auto t0 = std::chrono::steady_clock::now();
  TANDEM_PEAK_LOOP("vfmadd231ph", __m512h, acc, iters, b, a);
  const double s = Since(t0);
  __m512h sum = acc[0];
  for (int i = 1; i < kChains; ++i) sum = _mm512_add_ph(sum, acc[i]);
  volatile float sink = static_cast<float>(_mm512_reduce_add_ph(sum));  // inf after a while: fine
  (void)sink;
  return static_cast<double>(iters) * kChains * 32 * 2 / s;  // 32 multiply-adds per instruction
}

#undef TANDEM_PEAK_LOOP
#undef TANDEM_PEAK_ASM8

}  // namespace

double Int8DotOpsPerSecond(int64_t iters) { return HasAvx512Vnni() ? Int8DotRate(iters) : 0; }
double Bf16DotFlopsPerSecond(int64_t iters) { return HasAvx512Bf16() ? Bf16DotRate(iters) : 0; }
double Fp16FmaFlopsPerSecond(int64_t iters) { return HasAvx512Fp16() ? Fp16FmaRate(iters) : 0; }

}  // namespace tandem::kernels::cpu::internal

#else  // not x86-64

namespace tandem::kernels::cpu::internal {
double Int8DotOpsPerSecond(int64_t) { return 0; }
double Bf16DotFlopsPerSecond(int64_t) { return 0; }
double Fp16FmaFlopsPerSecond(int64_t) { return 0; }
}  // namespace tandem::kernels::cpu::internal

#endif

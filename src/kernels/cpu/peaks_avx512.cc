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

__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) double Int8DotRate(int64_t iters) {
  __m512i acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_epi32(i);
  __m512i a = _mm512_set1_epi8(1);
  const __m512i b = _mm512_set1_epi8(2);
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 16
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_dpbusd_epi32(acc[i], a, b);
    __asm__ volatile("" : "+v"(a));  // keep the loop from being folded
  }
  const double s = Since(t0);
  __m512i sum = acc[0];
  for (int i = 1; i < kChains; ++i) sum = _mm512_add_epi32(sum, acc[i]);
  // An OR, not a sum: the lanes have wrapped, and the scalar add of a reduction may not.
  volatile int sink = _mm512_reduce_or_epi32(sum);
  (void)sink;
  return static_cast<double>(iters) * kChains * 64 * 2 / s;  // 64 multiply-adds per instruction
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) double Bf16DotRate(int64_t iters) {
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i));
  __m512bh a = reinterpret_cast<__m512bh>(_mm512_set1_epi16(0x3f80));  // 1.0
  const __m512bh b = reinterpret_cast<__m512bh>(_mm512_set1_epi16(0x3f80));
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 16
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
    __asm__ volatile("" : "+v"(a));
  }
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
  __m512h a = _mm512_set1_ph(static_cast<_Float16>(0.5f));
  const __m512h b = _mm512_set1_ph(static_cast<_Float16>(0.25f));
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 16
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_fmadd_ph(a, b, acc[i]);
    __asm__ volatile("" : "+v"(a));
  }
  const double s = Since(t0);
  __m512h sum = acc[0];
  for (int i = 1; i < kChains; ++i) sum = _mm512_add_ph(sum, acc[i]);
  volatile float sink = static_cast<float>(_mm512_reduce_add_ph(sum));  // inf after a while: fine
  (void)sink;
  return static_cast<double>(iters) * kChains * 32 * 2 / s;  // 32 multiply-adds per instruction
}

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

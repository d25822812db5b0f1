// How one core reads a weight stream from memory, with decode-like arithmetic on every line (4
// vpdpbusd per 64 bytes, about what the Q4_0 decode tile spends): the experiment behind the packed
// decode layout (docs/performance.md, "One stream per core, in ascending order"). Patterns:
//   0  one stream, front to back
//   1  8 panels of 18 KiB side by side, 256 bytes of each in turn (the old Q4_0 decode order)
//   2  one 18 KiB panel at a time, each with a scales stream of 1/9 of its bytes at its end
//      (the old Q4_0 panel layout)
// arg 1: 1 = a prefetch instruction per line, 4 KiB ahead into L2.
#include <benchmark/benchmark.h>

#if defined(__x86_64__)
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/cpu/packed.h"

namespace tandem::kernels {
namespace {

constexpr uint64_t kBytes = uint64_t{1} << 30;
constexpr uint64_t kPanel = 18432;

template <bool kPrefetch>
__attribute__((target("avx512f,avx512bw,avx512vnni"))) inline void Line(const uint8_t* p,
                                                                        __m512i (&acc)[4]) {
  if constexpr (kPrefetch) _mm_prefetch(reinterpret_cast<const char*>(p + 4096), _MM_HINT_T1);
  const __m512i v = _mm512_load_si512(p);
  const __m512i x = _mm512_set1_epi32(0x01020304);
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) acc[i] = _mm512_dpbusd_epi32(acc[i], v, x);
}

template <bool kPrefetch>
__attribute__((target("avx512f,avx512bw,avx512vnni"))) int64_t Read(const uint8_t* buf,
                                                                    int pattern) {
  __m512i acc[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(),
                    _mm512_setzero_si512()};
  if (pattern == 0) {
    for (uint64_t o = 0; o < kBytes; o += 64) Line<kPrefetch>(buf + o, acc);
  } else if (pattern == 1) {
    for (uint64_t c = 0; c + 8 * kPanel <= kBytes; c += 8 * kPanel) {
      for (uint64_t o = 0; o < kPanel; o += 256) {
        for (int s = 0; s < 8; ++s) {
          for (int l = 0; l < 256; l += 64) Line<kPrefetch>(buf + c + s * kPanel + o + l, acc);
        }
      }
    }
  } else {
    constexpr uint64_t kQuants = kPanel / 9 * 8;
    for (uint64_t c = 0; c + kPanel <= kBytes; c += kPanel) {
      for (uint64_t o = 0; o < kQuants; o += 256) {
        for (int l = 0; l < 256; l += 64) Line<kPrefetch>(buf + c + o + l, acc);
        const __m512i sc = _mm512_maskz_loadu_epi32(0x00ff, buf + c + kQuants + o / 8);  // 32 bytes
        acc[0] = _mm512_add_epi32(acc[0], sc);
      }
    }
  }
  const __m512i sum =
      _mm512_add_epi32(_mm512_add_epi32(acc[0], acc[1]), _mm512_add_epi32(acc[2], acc[3]));
  int32_t lanes[16];
  _mm512_storeu_si512(lanes, sum);
  int64_t total = 0;
  for (int32_t v : lanes) total += v;
  return total;
}

void BM_ReadPattern(benchmark::State& state) {
  if (!__builtin_cpu_supports("avx512vnni")) {
    state.SkipWithError("needs AVX-512 VNNI");
    return;
  }
  auto buffer = cpu::AlignedBuffer::Allocate(kBytes);
  if (!buffer.ok()) {
    state.SkipWithError("cannot allocate");
    return;
  }
  std::memset(buffer->data(), 1, kBytes);
  const int pattern = static_cast<int>(state.range(0));
  for (auto _ : state) {
    benchmark::DoNotOptimize(state.range(1) ? Read<true>(buffer->data(), pattern)
                                            : Read<false>(buffer->data(), pattern));
  }
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(kBytes) * 1e-9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_ReadPattern)
    ->ArgsProduct({{0, 1, 2}, {0, 1}})
    ->Iterations(3)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace tandem::kernels
#endif

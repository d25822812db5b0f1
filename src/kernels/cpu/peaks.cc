// Peak f32 FMA throughput (Highway, the best target this CPU has) and the per-pool peaks.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/peaks.cc"
#include "kernels/cpu/hwy_config.h"
// clang-format off
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format on
#include <algorithm>
#include <chrono>
#include <vector>

#include "hwy/highway.h"
#include "kernels/cpu/ceilings.h"
#include "kernels/cpu/peaks_internal.h"

HWY_BEFORE_NAMESPACE();
namespace tandem::kernels::cpu::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// An empty asm that claims to change v: the loop cannot be folded into a closed form.
template <class V>
HWY_INLINE void KeepInRegister(V& v) {
#if HWY_ARCH_X86
  __asm__ volatile("" : "+v"(v.raw));
#elif HWY_ARCH_ARM
  __asm__ volatile("" : "+w"(v.raw));
#else
  __asm__ volatile("" : "+m"(v));
#endif
}

double FmaRateImpl(int64_t iters) {
  const hn::ScalableTag<float> df;
  using V = hn::Vec<decltype(df)>;
  constexpr int kChains = 16;
  V acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = hn::Set(df, static_cast<float>(i));
  V a = hn::Set(df, 1.0001f);
  const V b = hn::Set(df, 0.9999f);
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 16
    for (int i = 0; i < kChains; ++i) acc[i] = hn::MulAdd(acc[i], a, b);
    KeepInRegister(a);
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  V sum = acc[0];
  for (int i = 1; i < kChains; ++i) sum = hn::Add(sum, acc[i]);
  volatile float sink = hn::GetLane(hn::SumOfLanes(df, sum));
  (void)sink;
  return static_cast<double>(iters) * kChains * hn::Lanes(df) * 2 / s;
}

}  // namespace tandem::kernels::cpu::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace tandem::kernels::cpu {
HWY_EXPORT(FmaRateImpl);

namespace internal {
double FmaFlopsPerSecond(int64_t iters) { return HWY_DYNAMIC_DISPATCH(FmaRateImpl)(iters); }
}  // namespace internal

InstructionPeaks MeasureInstructionPeaks(base::ThreadPool& pool, int reps) {
  // Every thread at once (as the kernels run), each timing its own loop; the rates add up.
  constexpr int64_t kIters = 1 << 20;  // 16 M instructions: a few ms per thread
  auto rate = [&](double (*fn)(int64_t)) {
    std::vector<double> totals;
    for (int r = 0; r < reps; ++r) {
      std::vector<double> per(pool.size());
      pool.ParallelFor(pool.size(), [&](int64_t task, int) { per[task] = fn(kIters); });
      double total = 0;
      for (double v : per) total += v;
      totals.push_back(total);
    }
    std::sort(totals.begin(), totals.end());
    return totals[totals.size() / 2];
  };
  InstructionPeaks p;
  p.fma_f32 = rate(internal::FmaFlopsPerSecond);
  p.bf16_dot = rate(internal::Bf16DotFlopsPerSecond);
  p.int8_dot = rate(internal::Int8DotOpsPerSecond);
  p.fp16_fma = rate(internal::Fp16FmaFlopsPerSecond);
  return p;
}

}  // namespace tandem::kernels::cpu
#endif  // HWY_ONCE

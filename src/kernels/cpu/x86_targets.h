// Shared by the x86-64 intrinsics translation units of kernels/cpu: the per-function target
// attributes (the files are compiled for baseline x86-64; MatMul calls these functions only when
// the CPU has the features) and the GCC 12 warnings their intrinsics raise.
#pragma once

#if defined(__x86_64__)
// GCC 12 reports the deliberately undefined upper halves of its own intrinsics as uninitialized.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#define TANDEM_TARGET_VNNI \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,f16c,fma")))
#define TANDEM_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,f16c,fma")))
#define TANDEM_TARGET_BF16 \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,f16c,fma")))

namespace tandem::kernels::cpu::internal {
// The AVX-512 subsets every intrinsics kernel here needs besides its own extension.
inline bool HasAvx512Base() {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
}
}  // namespace tandem::kernels::cpu::internal
#endif

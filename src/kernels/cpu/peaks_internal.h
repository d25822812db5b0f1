// Internal to kernels/cpu: one thread's instruction throughput, `iters` x 16 instructions.
#pragma once

#include <cstdint>

namespace tandem::kernels::cpu::internal {

double FmaFlopsPerSecond(int64_t iters);      // f32 fused multiply-add, widest Highway vector
double Int8DotOpsPerSecond(int64_t iters);    // vpdpbusd; 0 without AVX-512 VNNI
double Bf16DotFlopsPerSecond(int64_t iters);  // vdpbf16ps; 0 without AVX-512 BF16
double Fp16FmaFlopsPerSecond(int64_t iters);  // vfmadd231ph; 0 without AVX-512 FP16

}  // namespace tandem::kernels::cpu::internal

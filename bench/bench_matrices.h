// Weight matrices for the kernel benchmarks: one random row quantized and repeated (speed does not
// depend on the values), packed where the CPU kernels pack the type, as a loaded model has them.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/status.h"
#include "kernels/cpu/packed.h"
#include "kernels/ref/ops.h"
#include "kernels/types.h"

namespace tandem::kernels::bench {

// n normally distributed floats (a fixed seed).
std::vector<float> Random(size_t n);

// Bytes of a rows x cols matrix of `type` as the CPU kernels read it: packed where the CPU packs
// the type, else the GGUF rows.
uint64_t KernelBytes(WeightType type, int64_t rows, int64_t cols);

// A rows x cols matrix of `type` written into dst (KernelBytes long, 64-byte aligned); the
// returned MatRef reads it as the kernels would.
StatusOr<ref::MatRef> MakeMatrix(WeightType type, int64_t rows, int64_t cols, uint8_t* dst);

struct Shape {
  int64_t rows, cols;
};
// One Llama-3.2-1B layer's products: q, k, v, o, gate, up, down.
inline constexpr Shape kLlama1BLayer[] = {{2048, 2048}, {512, 2048},  {512, 2048}, {2048, 2048},
                                          {8192, 2048}, {8192, 2048}, {2048, 8192}};

// Matrices of `shapes` in one arena, each 64-byte aligned, in order.
struct Matrices {
  cpu::AlignedBuffer arena;
  std::vector<ref::MatRef> mats;
  uint64_t bytes = 0;  // the arena's
};
StatusOr<Matrices> MakeMatrices(WeightType type, std::span<const Shape> shapes);

}  // namespace tandem::kernels::bench

// This machine's ceilings, measured with our own kernels: what `tandem profile` prints and what
// `tandem bench` divides by.
#pragma once

#include <cstdint>
#include <functional>

#include "base/status.h"
#include "base/thread_pool.h"
#include "kernels/cpu/matmul.h"
#include "kernels/types.h"

namespace tandem::kernels::cpu {

// Called with a fraction in [0, 1] while a measurement runs (progress bars).
using ProgressFn = std::function<void(double)>;

// Read bandwidth in bytes/s: the median of `reps` passes summing a `bytes` buffer (make it far
// larger than the last-level cache), split over the pool.
double MeasureReadBandwidth(base::ThreadPool& pool, uint64_t bytes, int reps,
                            const ProgressFn& progress = {});

struct GemmShape {
  int64_t rows = 2048, cols = 2048, n_tokens = 256;
  MatMulOptions options;
};
// Effective FLOP/s (2 * rows * cols * n_tokens per product, median of `reps`) of cpu::MatMul on
// random weights of `type`. n_tokens = 1 measures the decode GEMV; with a matrix far larger than
// the LLC its bytes/s is the decode bandwidth (returned in *bytes_per_s when not null).
StatusOr<double> MeasureGemm(WeightType type, const GemmShape& shape, base::ThreadPool& pool,
                             int reps, double* bytes_per_s = nullptr);

}  // namespace tandem::kernels::cpu

// This machine's ceilings, measured with our own kernels: what `tandem profile` prints and what
// `tandem bench` divides by.
#pragma once

#include <cstdint>
#include <functional>

#include "base/status.h"
#include "base/thread_pool.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/packed.h"
#include "kernels/types.h"

namespace tandem::kernels::cpu {

// Called with a fraction in [0, 1] while a measurement runs (progress bars).
using ProgressFn = std::function<void(double)>;

// Read bandwidth in bytes/s over a buffer it keeps (so that measuring again, as `tandem bench`
// does after every decode run, does not allocate and first-touch it again).
class ReadBandwidthMeter {
 public:
  // A `bytes` buffer (make it far larger than the last-level cache) on huge pages where the
  // kernel allows, first touched by the pool's threads.
  static StatusOr<ReadBandwidthMeter> Create(base::ThreadPool& pool, uint64_t bytes);
  // The median of `reps` passes summing the buffer, split over the pool; the fastest of five ways
  // to read it (one or eight streams per thread, software prefetch into L1 or L2; one stream
  // without prefetch instructions).
  double Measure(base::ThreadPool& pool, int reps, const ProgressFn& progress = {});
  // STREAM's triad (a = b + s * c over thirds of the buffer), as STREAM counts its bytes: 24 per
  // element, two read and one written. It overwrites the buffer's first third (Measure sums the
  // buffer whatever it holds). The median of `reps` passes.
  double MeasureTriad(base::ThreadPool& pool, int reps, const ProgressFn& progress = {});

 private:
  AlignedBuffer buffer_;
  int64_t n_ = 0;  // floats
};

// One measurement with a meter of its own; 0 when the buffer cannot be allocated.
double MeasureReadBandwidth(base::ThreadPool& pool, uint64_t bytes, int reps,
                            const ProgressFn& progress = {});

// What the multiply instructions the kernels use can do on all of the pool's threads at once, in
// FLOP/s (int8: OP/s, a multiply-add counted as 2): the roofline's compute ceilings. 0 where the
// CPU lacks the instruction. Median of `reps`.
struct InstructionPeaks {
  double fma_f32 = 0;   // f32 fused multiply-add on the widest vectors
  double bf16_dot = 0;  // vdpbf16ps (AVX-512 BF16)
  double int8_dot = 0;  // vpdpbusd (AVX-512 VNNI)
  double fp16_fma = 0;  // vfmadd231ph (AVX-512 FP16): F16 prefill with F16Prefill::kFp16
};
InstructionPeaks MeasureInstructionPeaks(base::ThreadPool& pool, int reps = 5);

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

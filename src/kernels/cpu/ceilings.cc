#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/ceilings.cc"
#include "kernels/cpu/hwy_config.h"
// clang-format off
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format on
#include <algorithm>
#include <chrono>
#include <random>
#include <vector>

#include "hwy/highway.h"
#include "kernels/cpu/ceilings.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/packed.h"
#include "kernels/ref/quant.h"

HWY_BEFORE_NAMESPACE();
namespace tandem::kernels::cpu::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Sum of n floats read as kStreams sequential streams side by side (one line of each in turn),
// with software prefetch 4 KiB ahead into L1 (kLocality 3) or L2 (2), or none (-1: the hardware
// prefetchers alone). Which reads fastest depends on the CPU's prefetchers and miss buffers.
template <int kLocality, int kStreams>
float SumFloats(const float* p, int64_t n) {
  const hn::ScalableTag<float> df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  constexpr int64_t kLine = 16;     // floats
  constexpr int64_t kAhead = 1024;  // floats
  const int64_t part = n / kStreams / kLine * kLine;
  using V = decltype(hn::Zero(df));
  V acc[kStreams];
  for (V& a : acc) a = hn::Zero(df);
  for (int64_t i = 0; i < part; i += kLine) {
    for (int s = 0; s < kStreams; ++s) {
      const float* q = p + s * part + i;
      if constexpr (kLocality >= 0) __builtin_prefetch(q + kAhead, 0, kLocality);
      for (int64_t j = 0; j < kLine; j += lanes) acc[s] = hn::Add(acc[s], hn::LoadU(df, q + j));
    }
  }
  for (int s = 1; s < kStreams; ++s) acc[0] = hn::Add(acc[0], acc[s]);
  float sum = hn::GetLane(hn::SumOfLanes(df, acc[0]));
  for (int64_t i = part * kStreams; i < n; ++i) sum += p[i];
  return sum;
}

// The read methods MeasureReadBandwidth tries: {1, 8} streams x prefetch into {L1, L2}, and one
// stream without prefetch instructions.
float SumFloatsImpl(const float* p, int64_t n, int method) {
  switch (method) {
    case 0: return SumFloats<3, 1>(p, n);
    case 1: return SumFloats<2, 1>(p, n);
    case 2: return SumFloats<3, 8>(p, n);
    case 3: return SumFloats<2, 8>(p, n);
    default: return SumFloats<-1, 1>(p, n);
  }
}

// STREAM's triad on n doubles: a = b + s * c, with ordinary stores (as STREAM compiles them).
void TriadImpl(double* HWY_RESTRICT a, const double* HWY_RESTRICT b, const double* HWY_RESTRICT c,
               double s, int64_t n) {
  const hn::ScalableTag<double> dd;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(dd));
  const auto vs = hn::Set(dd, s);
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    hn::StoreU(hn::MulAdd(vs, hn::LoadU(dd, c + i), hn::LoadU(dd, b + i)), dd, a + i);
  }
  for (; i < n; ++i) a[i] = b[i] + s * c[i];
}

}  // namespace tandem::kernels::cpu::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace tandem::kernels::cpu {
HWY_EXPORT(SumFloatsImpl);
HWY_EXPORT(TriadImpl);
namespace {

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double Seconds(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

}  // namespace

constexpr int64_t kChunkFloats = 1 << 18;  // 1 MiB per task

StatusOr<ReadBandwidthMeter> ReadBandwidthMeter::Create(base::ThreadPool& pool, uint64_t bytes) {
  ReadBandwidthMeter m;
  m.n_ = static_cast<int64_t>(bytes / sizeof(float));
  ASSIGN_OR_RETURN(m.buffer_, AlignedBuffer::Allocate(static_cast<uint64_t>(m.n_) * sizeof(float)));
  float* buf = reinterpret_cast<float*>(m.buffer_.data());
  const int64_t n = m.n_;
  pool.ParallelFor((n + kChunkFloats - 1) / kChunkFloats, [&](int64_t c, int) {
    const int64_t i0 = c * kChunkFloats, i1 = std::min(n, i0 + kChunkFloats);
    std::fill(buf + i0, buf + i1, 1.0f);  // first touch from the threads that read
  });
  return m;
}

double ReadBandwidthMeter::Measure(base::ThreadPool& pool, int reps, const ProgressFn& progress) {
  const int64_t n = n_, n_chunks = (n + kChunkFloats - 1) / kChunkFloats;
  const float* buf = reinterpret_cast<const float*>(buffer_.data());
  std::vector<float> sums(n_chunks);
  // Every read method, alternating; the ceiling is the fastest one's median.
  constexpr int kMethods = 5;  // SumFloatsImpl's
  std::vector<double> rates[kMethods];
  for (int r = 0; r < reps + 1; ++r) {  // the first pass warms up and is not counted
    for (int method = 0; method < kMethods; ++method) {
      const auto t0 = std::chrono::steady_clock::now();
      pool.ParallelFor(n_chunks, [&](int64_t c, int) {
        const int64_t i0 = c * kChunkFloats, i1 = std::min(n, i0 + kChunkFloats);
        sums[c] += HWY_DYNAMIC_DISPATCH(SumFloatsImpl)(buf + i0, i1 - i0, method);
      });
      const auto t1 = std::chrono::steady_clock::now();
      if (r > 0) rates[method].push_back(static_cast<double>(n) * sizeof(float) / Seconds(t0, t1));
    }
    if (progress) progress(static_cast<double>(r + 1) / (reps + 1));
  }
  volatile float sink = sums[0];  // keep the sums alive
  (void)sink;
  double best = 0;
  for (const auto& m : rates) best = std::max(best, Median(m));
  return best;
}

double ReadBandwidthMeter::MeasureTriad(base::ThreadPool& pool, int reps,
                                        const ProgressFn& progress) {
  // Three arrays of doubles, a third of the buffer each, cut into 1 MiB tasks.
  constexpr int64_t kChunk = int64_t{1} << 17;  // doubles
  const int64_t n = static_cast<int64_t>(buffer_.size() / sizeof(double)) / 3 / kChunk * kChunk;
  if (n == 0) return 0;
  double* a = reinterpret_cast<double*>(buffer_.data());
  const double* b = a + n;
  const double* c = b + n;
  std::vector<double> rates;
  for (int r = 0; r < reps + 1; ++r) {  // the first pass warms up and is not counted
    const auto t0 = std::chrono::steady_clock::now();
    pool.ParallelFor(n / kChunk, [&](int64_t t, int) {
      const int64_t i = t * kChunk;
      HWY_DYNAMIC_DISPATCH(TriadImpl)(a + i, b + i, c + i, 3.0, kChunk);
    });
    const auto t1 = std::chrono::steady_clock::now();
    // As STREAM counts it: two arrays read, one written (not the write-allocate reads).
    if (r > 0) rates.push_back(3.0 * static_cast<double>(n) * sizeof(double) / Seconds(t0, t1));
    if (progress) progress(static_cast<double>(r + 1) / (reps + 1));
  }
  return Median(rates);
}

double MeasureReadBandwidth(base::ThreadPool& pool, uint64_t bytes, int reps,
                            const ProgressFn& progress) {
  auto meter = ReadBandwidthMeter::Create(pool, bytes);
  return meter.ok() ? meter->Measure(pool, reps, progress) : 0;
}

StatusOr<double> MeasureGemm(WeightType type, const GemmShape& s, base::ThreadPool& pool, int reps,
                             double* bytes_per_s) {
  if (!MatMulSupports(type)) {
    return Unimplemented("no fast kernel for " + std::string(WeightTypeName(type)));
  }
  const uint64_t row_bytes = RowBytes(type, s.cols);
  std::vector<uint8_t> w(row_bytes * s.rows);
  std::mt19937 rng(5);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> row(s.cols);
  // Quantizing every row is slow for big matrices: quantize a few and repeat them.
  constexpr int64_t kDistinctRows = 64;
  for (int64_t r = 0; r < std::min(s.rows, kDistinctRows); ++r) {
    for (float& f : row) f = dist(rng);
    if (!ref::QuantizeRow(type, row.data(), w.data() + r * row_bytes, s.cols).ok()) {
      // K-quants have no quantizer here: random bytes time the same.
      for (uint64_t i = 0; i < row_bytes; ++i) w[r * row_bytes + i] = static_cast<uint8_t>(rng());
    }
  }
  for (int64_t r = kDistinctRows; r < s.rows; ++r) {
    std::copy_n(w.data() + (r % kDistinctRows) * row_bytes, row_bytes, w.data() + r * row_bytes);
  }
  std::vector<float> x(s.n_tokens * s.cols), y(s.n_tokens * s.rows);
  for (float& f : x) f = dist(rng);
  ref::MatRef m{type, w.data(), s.rows, s.cols};
  AlignedBuffer packed;  // as a loaded model has them
  if (PacksWeights(type)) {
    ASSIGN_OR_RETURN(packed, AlignedBuffer::Allocate(PackedBytes(type, s.rows, s.cols)));
    RETURN_IF_ERROR(PackWeights(m, packed.data(), packed.size()));
    m.packed = packed.data();
  }
  const uint64_t weight_bytes =
      m.packed != nullptr && s.options.allow_intrinsics ? packed.size() : w.size();
  std::vector<double> times;
  for (int r = 0; r < reps + 1; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    RETURN_IF_ERROR(MatMul(m, x.data(), s.n_tokens, y.data(), pool, s.options));
    const auto t1 = std::chrono::steady_clock::now();
    if (r > 0) times.push_back(Seconds(t0, t1));
  }
  const double t = Median(times);
  if (bytes_per_s != nullptr) *bytes_per_s = static_cast<double>(weight_bytes) / t;
  return 2.0 * s.rows * s.cols * s.n_tokens / t;
}

}  // namespace tandem::kernels::cpu
#endif  // HWY_ONCE

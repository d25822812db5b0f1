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

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "bench_matrices.h"
#include "kernels/cpu/ceilings.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/packed.h"
#include "kernels/types.h"

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

// One stream per thread (each thread its own half of the buffer, front to back, as decode's
// contiguous shares), with N vpdpbusd per line, on all of the pool's threads; "of read" is the
// median ratio to the read ceiling measured right after each pass (as BM_DecodeLayers). Against
// the kernels' own ratio it tells whether the bytes in flight per core, or the kernels' order of
// work, limit decode. args: threads, vpdpbusd per 64-byte line (the Q4_0 decode kernel has 2,
// among about 11 instructions per line).
template <int N>
__attribute__((target("avx512f,avx512bw,avx512vnni"))) int64_t Stream(const uint8_t* p,
                                                                      uint64_t n) {
  __m512i acc[8] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(),
                    _mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(),
                    _mm512_setzero_si512(), _mm512_setzero_si512()};
  const __m512i x = _mm512_set1_epi32(0x01020304);
  for (uint64_t o = 0; o < n; o += 64) {
    const __m512i v = _mm512_load_si512(p + o);
#pragma GCC unroll 16
    for (int i = 0; i < N; ++i) acc[i % 8] = _mm512_dpbusd_epi32(acc[i % 8], v, x);
  }
  for (int i = 1; i < 8; ++i) acc[0] = _mm512_add_epi32(acc[0], acc[i]);
  int32_t lanes[16];
  _mm512_storeu_si512(lanes, acc[0]);
  int64_t total = 0;
  for (int32_t v : lanes) total += v;
  return total;
}

void BM_StreamPerThread(benchmark::State& state) {
  if (!__builtin_cpu_supports("avx512vnni")) {
    state.SkipWithError("needs AVX-512 VNNI");
    return;
  }
  const int threads = static_cast<int>(state.range(0));
  base::ThreadPool pool(threads);
  constexpr uint64_t kStreamBytes = uint64_t{512} << 20;
  auto buffer = cpu::AlignedBuffer::Allocate(kStreamBytes);
  auto meter = cpu::ReadBandwidthMeter::Create(pool, kStreamBytes);
  if (!buffer.ok() || !meter.ok()) {
    state.SkipWithError("cannot allocate");
    return;
  }
  const uint64_t part = kStreamBytes / threads / 64 * 64;
  pool.ParallelForShares(threads, [&](int64_t t, int) {
    std::memset(buffer->data() + t * part, 1, part);  // first touch by the thread that reads
  });
  int64_t (*stream)(const uint8_t*, uint64_t) = state.range(1) == 2   ? Stream<2>
                                                : state.range(1) == 4 ? Stream<4>
                                                : state.range(1) == 8 ? Stream<8>
                                                                      : Stream<16>;
  std::vector<int64_t> sums(threads);
  std::vector<double> ratios;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    pool.ParallelForShares(
        threads, [&](int64_t t, int) { sums[t] += stream(buffer->data() + t * part, part); });
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state.SetIterationTime(seconds);
    ratios.push_back(static_cast<double>(part * threads) / seconds / meter->Measure(pool, 1));
  }
  benchmark::DoNotOptimize(sums.data());
  std::sort(ratios.begin(), ratios.end());
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(part * threads) * 1e-9,
                                              benchmark::Counter::kIsIterationInvariantRate);
  state.counters["of read"] = ratios[ratios.size() / 2];
}
BENCHMARK(BM_StreamPerThread)
    ->ArgsProduct({{2}, {2, 4, 8, 16}})
    ->Iterations(9)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// Decode kernels against the plain stream, pass by pass: each round runs one 2-thread pass of
// Stream<2> over 512 MiB and one decode token through each weight set, in a rotating order, and
// rates each set against that round's stream. Passes take 10-50 ms, so a set and its stream share
// one spell of this machine's bandwidth, which swings between about 33 and 69 GB/s within seconds;
// rounds whose stream read at least 0.8 of the fastest stream seen count as quiet. Counters:
// "<set> quiet" and "<set> busy", the median ratios; "quiet rounds". Each set has its own copy of
// its matrices, and copies with the same settings spread by 5-10 % (BM_DecodeSettings/2), so
// closer differences do not rank. (docs/performance.md, "Decode against a plain stream, pass by
// pass".)
struct DecodeSet {
  std::string name;
  WeightType type;
  std::vector<bench::Shape> shapes;
  cpu::MatMulOptions options = {};
};

void RateAgainstStream(benchmark::State& state, const std::vector<DecodeSet>& sets, int rounds) {
  if (!__builtin_cpu_supports("avx512vnni")) {
    state.SkipWithError("needs AVX-512 VNNI");
    return;
  }
  constexpr int kThreads = 2;
  base::ThreadPool pool(kThreads);
  constexpr uint64_t kStreamBytes = uint64_t{512} << 20;
  auto buffer = cpu::AlignedBuffer::Allocate(kStreamBytes);
  if (!buffer.ok()) {
    state.SkipWithError("cannot allocate");
    return;
  }
  const uint64_t part = kStreamBytes / kThreads;
  pool.ParallelForShares(kThreads,
                         [&](int64_t t, int) { std::memset(buffer->data() + t * part, 1, part); });
  struct Pass {
    const DecodeSet* set;
    bench::Matrices matrices;  // in one arena, as a loaded model has them
  };
  std::vector<Pass> work;
  for (const DecodeSet& set : sets) {
    auto matrices = bench::MakeMatrices(set.type, set.shapes);
    if (!matrices.ok()) {
      state.SkipWithError(matrices.status().ToString().c_str());
      return;
    }
    work.push_back({&set, std::move(*matrices)});
  }
  int64_t max_rows = 8192;
  for (const Pass& p : work) {
    for (const ref::MatRef& m : p.matrices.mats) max_rows = std::max(max_rows, m.rows);
  }
  std::vector<float> x(8192, 0.5f), y(max_rows);
  const int passes = static_cast<int>(work.size()) + 1;  // pass 0: the stream
  std::vector<std::vector<double>> rates(passes);
  std::vector<int64_t> sums(kThreads);
  for (auto _ : state) {
    for (int64_t r = 0; r < rounds; ++r) {
      for (int k = 0; k < passes; ++k) {
        const int pass = static_cast<int>((r + k) % passes);
        const auto t0 = std::chrono::steady_clock::now();
        uint64_t bytes = kStreamBytes;
        if (pass == 0) {
          pool.ParallelForShares(kThreads, [&](int64_t t, int) {
            sums[t] += Stream<2>(buffer->data() + t * part, part);
          });
        } else {
          const Pass& p = work[pass - 1];
          for (const ref::MatRef& m : p.matrices.mats) {
            if (!cpu::MatMul(m, x.data(), 1, y.data(), pool, p.set->options).ok()) {
              state.SkipWithError("MatMul");
            }
          }
          bytes = p.matrices.bytes;
        }
        rates[pass].push_back(
            static_cast<double>(bytes) /
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      }
    }
  }
  benchmark::DoNotOptimize(sums.data());
  benchmark::DoNotOptimize(y.data());
  const double fastest = *std::max_element(rates[0].begin(), rates[0].end());
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
  };
  int quiet_rounds = 0;
  for (double s : rates[0]) quiet_rounds += s >= 0.8 * fastest;
  for (int pass = 1; pass < passes; ++pass) {
    std::vector<double> quiet, busy;
    for (size_t r = 0; r < rates[0].size(); ++r) {
      (rates[0][r] >= 0.8 * fastest ? quiet : busy).push_back(rates[pass][r] / rates[0][r]);
    }
    const std::string& name = work[pass - 1].set->name;
    state.counters[name + " quiet"] = median(quiet);
    state.counters[name + " busy"] = median(busy);
  }
  state.counters["quiet rounds"] = quiet_rounds;
  state.counters["stream GB/s"] = fastest * 1e-9;
}

// The 1B shape's 16 layers (q, k, v, o, gate, up, down), one call each, and the same with q|k|v
// and gate|up stacked (64 calls instead of 112), as Forward runs decode where the packed copies
// lie back to back.
std::vector<bench::Shape> Llama1BLayers(bool stacked) {
  std::vector<bench::Shape> shapes;
  for (int l = 0; l < 16; ++l) {
    if (stacked) {
      for (bench::Shape s : {bench::Shape{3072, 2048}, bench::Shape{2048, 2048},
                             bench::Shape{16384, 2048}, bench::Shape{2048, 8192}}) {
        shapes.push_back(s);
      }
    } else {
      shapes.insert(shapes.end(), std::begin(bench::kLlama1BLayer), std::end(bench::kLlama1BLayer));
    }
  }
  return shapes;
}

// Per type one matrix of about 512 MiB (2048 columns) and the 1B shape's layers; Q4_0 also
// stacked. arg: rounds.
void BM_DecodeVsStream(benchmark::State& state) {
  constexpr uint64_t kMatrixBytes = uint64_t{512} << 20;
  const std::vector<bench::Shape> layers = Llama1BLayers(false);
  std::vector<DecodeSet> sets;
  for (WeightType type : {WeightType::kQ8_0, WeightType::kQ4_0, WeightType::kQ4_K,
                          WeightType::kQ5_K, WeightType::kQ6_K, WeightType::kF16}) {
    const int64_t rows = static_cast<int64_t>(kMatrixBytes / RowBytes(type, 2048)) / 16 * 16;
    sets.push_back({std::string(WeightTypeName(type)), type, {bench::Shape{rows, 2048}}});
  }
  for (WeightType type : {WeightType::kQ8_0, WeightType::kQ4_0, WeightType::kQ4_K,
                          WeightType::kQ5_K, WeightType::kQ6_K, WeightType::kF16}) {
    sets.push_back({std::string(WeightTypeName(type)) + " layers", type, layers});
  }
  sets.push_back({"Q4_0 stacked", WeightType::kQ4_0, Llama1BLayers(true)});
  RateAgainstStream(state, sets, static_cast<int>(state.range(0)));
}
BENCHMARK(BM_DecodeVsStream)->Arg(150)->Iterations(1)->Unit(benchmark::kMillisecond);

// Decode settings (MatMulOptions) against each other, pass by pass as BM_DecodeVsStream, 150
// rounds; a set's name gives its streams per thread and its prefetch distance in bytes. arg:
//   0  F16 layers, 2048 to 8192 bytes ahead of each of its two streams
//   1  Q4_0 (stacked layers) and Q8_0 (layers), one stream or two
//   2  the method's spread: three copies each of two Q4_0 settings
// (docs/performance.md, "F16 decode: the second stream's prefetch" and "Q8_0/Q4_0/Q5_0 decode in
// two streams: not kept".)
void BM_DecodeSettings(benchmark::State& state) {
  auto set = [](WeightType type, const std::string& what, std::vector<bench::Shape> shapes,
                int streams, int prefetch, const std::string& suffix = "") {
    DecodeSet s{std::string(WeightTypeName(type)) + " " + what + " " + std::to_string(streams) +
                    "x" + std::to_string(prefetch) + suffix,
                type, std::move(shapes)};
    s.options.decode_streams = streams;
    s.options.decode_prefetch = prefetch;
    return s;
  };
  const std::vector<bench::Shape> layers = Llama1BLayers(false), stacked = Llama1BLayers(true);
  std::vector<DecodeSet> sets;
  if (state.range(0) == 0) {
    for (int pf : {2048, 3072, 4096, 8192})
      sets.push_back(set(WeightType::kF16, "layers", layers, 2, pf));
  } else if (state.range(0) == 1) {
    sets.push_back(set(WeightType::kQ4_0, "stacked", stacked, 1, 8192));
    sets.push_back(set(WeightType::kQ4_0, "stacked", stacked, 2, 3072));
    sets.push_back(set(WeightType::kQ8_0, "layers", layers, 1, 8192));
    sets.push_back(set(WeightType::kQ8_0, "layers", layers, 1, 4096));
    sets.push_back(set(WeightType::kQ8_0, "layers", layers, 2, 3072));
  } else {
    for (const char* copy : {" a", " b", " c"}) {
      sets.push_back(set(WeightType::kQ4_0, "stacked", stacked, 1, 8192, copy));
      sets.push_back(set(WeightType::kQ4_0, "stacked", stacked, 2, 3072, copy));
    }
  }
  RateAgainstStream(state, sets, 150);
}
BENCHMARK(BM_DecodeSettings)->DenseRange(0, 2)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace tandem::kernels
#endif

// Google Benchmark micro-benchmarks of the CPU kernels, at Llama-3.2-1B shapes.
//   cmake --build build/release --target kernels_bench -j1 && build/release/kernels_bench
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <vector>

#include "base/thread_pool.h"
#include "bench_matrices.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/ceilings.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/gemm_internal.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/packed.h"
#include "kernels/ref/convert.h"
#include "kernels/ref/quant.h"

namespace tandem::kernels {
namespace {

using bench::KernelBytes;
using bench::MakeMatrix;
using bench::Random;

// args: weight type id, rows, cols, tokens, threads, F16 prefill products (0 exact, 1 bf16, 2 fp16)
void BM_MatMul(benchmark::State& state) {
  const auto type = static_cast<WeightType>(state.range(0));
  const int64_t rows = state.range(1), cols = state.range(2), n = state.range(3);
  base::ThreadPool pool(static_cast<int>(state.range(4)));
  const uint64_t weight_bytes = KernelBytes(type, rows, cols);
  auto buffer = cpu::AlignedBuffer::Allocate(weight_bytes);
  if (!buffer.ok()) {
    state.SkipWithError("cannot allocate");
    return;
  }
  const auto m = MakeMatrix(type, rows, cols, buffer->data());
  if (!m.ok()) {
    state.SkipWithError(m.status().ToString().c_str());
    return;
  }
  const std::vector<float> x = Random(n * cols);
  std::vector<float> y(n * rows);
  cpu::MatMulOptions options;
  if (state.range(5) == 1) options.f16_prefill = cpu::F16Prefill::kBf16;
  if (state.range(5) == 2) options.f16_prefill = cpu::F16Prefill::kFp16;
  for (auto _ : state) {
    if (!cpu::MatMul(*m, x.data(), n, y.data(), pool, options).ok()) {
      state.SkipWithError("MatMul failed");
    }
    benchmark::DoNotOptimize(y.data());
  }
  state.SetLabel(std::string(WeightTypeName(type)));
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * rows * cols * n * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(weight_bytes) * 1e-9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}

// args: weight type id, threads. One decode token's matrix-vector products through every layer
// of a Llama-3.2-1B shape (q, k, v, o, gate, up, down; 16 layers; distinct matrices in one arena
// as in a loaded model, so each comes from memory), without attention: what the per-call costs
// (dispatch, the prefetch ramp at each matrix's start, the join) take from the bandwidth of one
// large matrix. "of read": the median, over passes, of the pass's rate over the read ceiling
// measured right after it; "of read, no prefetch": the same without the decode prefetch.
void BM_DecodeLayers(benchmark::State& state) {
  const auto type = static_cast<WeightType>(state.range(0));
  base::ThreadPool pool(static_cast<int>(state.range(1)));
  std::vector<bench::Shape> shapes;
  for (int layer = 0; layer < 16; ++layer) {
    shapes.insert(shapes.end(), std::begin(bench::kLlama1BLayer), std::end(bench::kLlama1BLayer));
  }
  // One arena, as a loaded model packs into (huge pages where the kernel allows).
  auto matrices = bench::MakeMatrices(type, shapes);
  if (!matrices.ok()) {
    state.SkipWithError(matrices.status().ToString().c_str());
    return;
  }
  const std::vector<ref::MatRef>& mats = matrices->mats;
  const uint64_t bytes = matrices->bytes;
  // The read ceiling, measured after every pass over a buffer of the same size: this machine's
  // bandwidth swings within seconds, so each pass is compared with its neighbour.
  auto meter = cpu::ReadBandwidthMeter::Create(pool, bytes);
  if (!meter.ok()) {
    state.SkipWithError("cannot allocate");
    return;
  }
  const std::vector<float> x = Random(8192);
  std::vector<float> y(8192);
  // Each iteration also runs a pass without the decode prefetch (MatMulOptions::decode_prefetch =
  // 0), first or second in turn: "of read, no prefetch" rates this CPU's default against it in the
  // same spells.
  cpu::MatMulOptions no_prefetch;
  no_prefetch.decode_prefetch = 0;
  std::vector<double> ratios, ratios_no_prefetch, reads;
  auto pass = [&](const cpu::MatMulOptions& options) {
    const auto t0 = std::chrono::steady_clock::now();
    for (const ref::MatRef& m : mats) {
      if (!cpu::MatMul(m, x.data(), 1, y.data(), pool, options).ok()) {
        state.SkipWithError("MatMul");
      }
    }
    benchmark::DoNotOptimize(y.data());
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    reads.push_back(meter->Measure(pool, 1));
    return seconds;
  };
  bool odd = false;
  for (auto _ : state) {
    if ((odd = !odd)) {
      const double s = pass(no_prefetch);
      ratios_no_prefetch.push_back(static_cast<double>(bytes) / s / reads.back());
    }
    const double seconds = pass({});
    state.SetIterationTime(seconds);
    ratios.push_back(static_cast<double>(bytes) / seconds / reads.back());
    if (!odd) {
      const double s = pass(no_prefetch);
      ratios_no_prefetch.push_back(static_cast<double>(bytes) / s / reads.back());
    }
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
  };
  state.SetLabel(std::string(WeightTypeName(type)) + ", decode prefetch " +
                 std::to_string(cpu::DecodePrefetchDefault(type)) + " into L" +
                 std::to_string(cpu::DecodePrefetchLevelDefault()));
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(bytes) * 1e-9,
                                              benchmark::Counter::kIsIterationInvariantRate);
  state.counters["read GB/s"] = median(reads) * 1e-9;
  state.counters["of read"] = median(ratios);
  state.counters["of read, no prefetch"] = median(ratios_no_prefetch);
}
BENCHMARK(BM_DecodeLayers)
    ->Args({static_cast<int64_t>(WeightType::kQ8_0), 2})
    ->Args({static_cast<int64_t>(WeightType::kQ4_0), 2})
    ->Args({static_cast<int64_t>(WeightType::kQ4_K), 2})
    ->Args({static_cast<int64_t>(WeightType::kF16), 2})
    ->Args({static_cast<int64_t>(WeightType::kQ8_0), 1})
    ->Args({static_cast<int64_t>(WeightType::kQ4_0), 1})
    ->Args({static_cast<int64_t>(WeightType::kQ4_K), 1})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// The read bandwidth ceiling (1 GiB, the faster prefetch target), for the decode rows above.
void BM_ReadBandwidth(benchmark::State& state) {
  base::ThreadPool pool(static_cast<int>(state.range(0)));
  double bw = 0;
  for (auto _ : state) bw = cpu::MeasureReadBandwidth(pool, uint64_t{1} << 30, 1);
  state.counters["GB/s"] = bw * 1e-9;
}
BENCHMARK(BM_ReadBandwidth)->Arg(2)->Arg(1)->Iterations(3)->Unit(benchmark::kMillisecond);

void MatMulArgs(benchmark::internal::Benchmark* b) {
  for (auto t : {WeightType::kF32, WeightType::kF16, WeightType::kBF16, WeightType::kQ8_0,
                 WeightType::kQ4_0, WeightType::kQ4_K, WeightType::kQ6_K}) {
    b->Args({static_cast<int64_t>(t), 2048, 2048, 256, 2, 0});  // prefill GEMM
    b->Args({static_cast<int64_t>(t), 8192, 2048, 1, 2, 0});    // decode GEMV (w_gate shape)
    b->Args({static_cast<int64_t>(t), 32768, 8192, 1, 2, 0});   // decode, far larger than the LLC
  }
  b->Args({static_cast<int64_t>(WeightType::kF16), 2048, 2048, 256, 2, 1});  // F16 as bf16
  b->Args({static_cast<int64_t>(WeightType::kF16), 2048, 2048, 256, 2, 2});  // F16 as fp16
}
BENCHMARK(BM_MatMul)->Apply(MatMulArgs)->UseRealTime()->Unit(benchmark::kMillisecond);

// One thread, on the calling thread, timed by its CPU time: a kernel's speed per core, which a
// busy machine disturbs less than wall time (rates are per CPU second).
void MatMulOneThreadArgs(benchmark::internal::Benchmark* b) {
  for (auto t : {WeightType::kF16, WeightType::kQ8_0, WeightType::kQ4_0, WeightType::kQ4_K,
                 WeightType::kQ5_K, WeightType::kQ6_K}) {
    b->Args({static_cast<int64_t>(t), 512, 2048, 256, 1, 0});
    b->Args({static_cast<int64_t>(t), 2048, 2048, 1, 1, 0});
    b->Args({static_cast<int64_t>(t), 16384, 4096, 1, 1, 0});  // weights far larger than the LLC
  }
  b->Args({static_cast<int64_t>(WeightType::kF16), 512, 2048, 256, 1, 1});
  b->Args({static_cast<int64_t>(WeightType::kF16), 512, 2048, 256, 1, 2});
}
BENCHMARK(BM_MatMul)
    ->Name("BM_MatMulOneThread")
    ->Apply(MatMulOneThreadArgs)
    ->Unit(benchmark::kMillisecond);

// args: tokens, context before them, threads, cache f16 (0/1) (32 heads, 8 KV heads, head_dim 64)
void BM_CausalAttention(benchmark::State& state) {
  const int64_t n = state.range(0), pos = state.range(1);
  const bool f16 = state.range(3) != 0;
  base::ThreadPool pool(static_cast<int>(state.range(2)));
  const ref::AttentionShape s{32, 8, 64};
  const std::vector<float> q = Random(n * 32 * 64), k = Random((pos + n) * 8 * 64),
                           v = Random((pos + n) * 8 * 64);
  std::vector<uint16_t> k16(k.size()), v16(v.size());
  for (size_t i = 0; i < k.size(); ++i) k16[i] = F32ToFp16(k[i]);
  for (size_t i = 0; i < v.size(); ++i) v16[i] = F32ToFp16(v[i]);
  const void* kc = f16 ? static_cast<const void*>(k16.data()) : k.data();
  const void* vc = f16 ? static_cast<const void*>(v16.data()) : v.data();
  std::vector<float> out(n * 32 * 64);
  for (auto _ : state) {
    cpu::CausalAttention({q.data(), n, pos, kc, vc, s, out.data(), f16}, pool);
    benchmark::DoNotOptimize(out.data());
  }
  // Causal attention FLOPs: 4 per (query head, visible key, dim): q·k and p·v.
  state.counters["GFLOP/s"] =
      benchmark::Counter(4.0 * 32 * 64 * (n * pos + n * (n + 1) / 2.0) * 1e-9,
                         benchmark::Counter::kIsIterationInvariantRate);
  // The cache bytes one pass reads (every KV head's rows once).
  state.counters["KV GB/s"] = benchmark::Counter(2.0 * (pos + n) * 8 * 64 * (f16 ? 2 : 4) * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_CausalAttention)
    ->Args({512, 0, 2, 0})
    ->Args({512, 0, 2, 1})
    ->Args({2048, 0, 2, 1})
    ->Args({1, 640, 2, 0})
    ->Args({1, 640, 2, 1})
    ->Args({1, 4096, 2, 1})
    ->Args({1, 8192, 2, 0})
    ->Args({1, 8192, 2, 1})  // beyond the LLC, as a whole model's cache is
    ->Args({1, 16384, 2, 1})
    ->UseRealTime();

// SwiGLU in place, on fresh gate values each time (the copy, 32 KiB, is timed too): applied over
// and over to its own output, the gate shrank into subnormal floats within a few hundred
// iterations, whose arithmetic is several times slower (8.9 us where fresh values take 4.1).
void BM_SwiGlu(benchmark::State& state) {
  const std::vector<float> gate = Random(state.range(0)), u = Random(state.range(0));
  std::vector<float> g(gate.size());
  for (auto _ : state) {
    std::copy(gate.begin(), gate.end(), g.begin());
    cpu::SwiGlu(g.data(), u.data(), state.range(0));
    benchmark::DoNotOptimize(g.data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_SwiGlu)->Arg(8192);

// One token's activations rounded for the int8 kernels, on one thread (decode rounds each token
// on both threads before their first task). args: columns, form (0: per 32 with the offset sums,
// as Q8_0/Q4_0/Q5_0 take them; 1: per 256 with sums per 16, as Q6_K).
void BM_QuantizeActs(benchmark::State& state) {
  const int64_t cols = state.range(0);
  const std::vector<float> x = Random(cols);
  std::vector<int8_t> q(cols);
  std::vector<float> d(cols / 32);
  std::vector<int32_t> c(cols / 32);
  std::vector<int16_t> s(cols / 16);
  for (auto _ : state) {
    if (state.range(1) == 0) {
      cpu::internal::QuantizeActsSigned(x.data(), 1, cols, q.data(), d.data(), c.data(), 8);
    } else {
      cpu::internal::QuantizeActsK(x.data(), 1, cols, q.data(), d.data(), s.data(), 16);
    }
    benchmark::DoNotOptimize(q.data());
  }
  state.SetItemsProcessed(state.iterations() * cols);
}
BENCHMARK(BM_QuantizeActs)->Args({2048, 0})->Args({8192, 0})->Args({2048, 1})->Args({8192, 1});

}  // namespace
}  // namespace tandem::kernels

BENCHMARK_MAIN();

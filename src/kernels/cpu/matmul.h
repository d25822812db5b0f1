// Fast matrix products on the CPU: the same contract as ref::MatMul, multithreaded, with SIMD
// kernels chosen once per call for this CPU (Highway targets; AVX-512 VNNI / BF16 intrinsics where
// Highway 1.0.3 has no such instruction).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "base/status.h"
#include "base/thread_pool.h"
#include "kernels/ref/ops.h"

namespace tandem::kernels::cpu {

// How F16 weights are multiplied in prefill (n_tokens > 1). Decode always uses F32 FMA.
enum class F16Prefill {
  kF32Fma,  // exact products (weights widened to f32)
  kBf16,    // weights and activations rounded to bf16, f32 accumulation (2x the FMA ceiling)
  // Weights as they are, activations scaled per token and rounded to fp16, fp16 products summed in
  // fp16 for 64 column pairs at a time, then in f32 (AVX-512 FP16; 2x the FMA ceiling). Without
  // AVX-512 FP16, the exact products.
  kFp16,
};

struct MatMulOptions {
  F16Prefill f16_prefill = F16Prefill::kF32Fma;
  bool allow_intrinsics = true;  // false: the portable Highway kernels only (tests compare both)
  // How far ahead of its loads, in bytes, a packed decode kernel asks for its panels' lines: 0 not
  // at all, -1 this CPU's default for the weight type (DecodePrefetchDefault). Results do not
  // depend on it.
  int decode_prefetch = -1;
  // Into which cache that prefetch asks for the lines: 1 (L1, prefetcht0), 2 (L2, prefetcht1), or
  // 0 for this CPU's default (DecodePrefetchLevelDefault).
  int decode_prefetch_level = 0;
  // Whether the packed decode kernels (F16, BF16, Q8_0, Q4_0, Q5_0) load the first 256 bytes of
  // each 4 KiB page of their streams at once, on reaching the page: 1 yes, 0 no, -1 this CPU's
  // default (DecodePageBurstDefault). Results do not depend on it.
  int decode_page_burst = -1;
  // How many streams per thread the packed Q8_0/Q4_0/Q5_0 decode kernels read: 1 (one panel after
  // the other), 2 (the task's two halves of panels side by side), or 0 for this CPU's default for
  // the weight type (DecodeStreamsDefault). F16/BF16 decode always reads 2 (each panel's halves).
  // Results do not depend on it.
  int decode_streams = 0;
  // The packed F16/BF16 f32-FMA prefill tile, in tokens: 6 (2 panels x 6 tokens), 14 (1 panel x 14
  // tokens), or 0 for this CPU's default (F16PrefillTileDefault). Both are exact; a one-token tail
  // may sum its column pairs in another order (float rounding).
  int f16_prefill_tile = 0;
};

// The packed decode kernels' prefetch on this CPU, for weights of `type`, in bytes ahead of each
// stream's loads: 4096 into L2 on Intel; into L1 on AMD Zen 5, whose cores need it to keep enough
// lines in flight, 8192 ahead of the one stream of the quantized types and 3072 ahead of each of
// F16/BF16's two; none elsewhere (on AMD Zen 4 the hardware prefetchers alone followed the panels
// better). docs/performance.md, "Decode prefetch, per vendor" and "F16 decode: the second stream's
// prefetch".
int DecodePrefetchDefault(WeightType type);
int DecodePrefetchLevelDefault();  // 1: L1, 2: L2
// Whether packed decode loads each page's first 256 bytes at once: on AMD Zen 5 (measured there;
// docs/performance.md, "Decode: a burst at each page").
bool DecodePageBurstDefault();
// Streams per thread of packed decode (MatMulOptions::decode_streams): 2 for F16/BF16 (each
// panel's halves), 1 for the quantized types, on every CPU so far: two streams of Q4_0 panels won
// 4 of 4 alternating runs on AMD Zen 5 and then lost 5 of 5 (docs/performance.md, "Q8_0/Q4_0/Q5_0
// decode in two streams: not kept").
int DecodeStreamsDefault(WeightType type);

// The packed F16/BF16 f32-FMA prefill tile on this CPU: 14 tokens on Intel, whose cores widen fp16
// on the FMA ports (so fewer widenings per FMA pay), 6 elsewhere (measured best on AMD Zen 4).
int F16PrefillTileDefault();

// y[t, r] = sum_k w[r, k] * x[t, k] for t < n_tokens.   x: [n_tokens, cols]  y: [n_tokens, rows]
// Types: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K. Quantized weights multiply
// activations quantized to 8 bits per 32-element block (as llama.cpp does), so results differ from
// ref by that rounding.
[[nodiscard]] Status MatMul(const ref::MatRef& w, const float* x, int64_t n_tokens, float* y,
                            base::ThreadPool& pool, const MatMulOptions& options = {});

// ys[i] = x·ws[i]ᵀ for matrices that share x (q, k, v; gate, up). For several tokens through
// matrices of one type and width (at most 4), the activations are converted once and all the
// products' tasks run in one parallel loop; otherwise it is one MatMul each.
[[nodiscard]] Status MatMuls(std::span<const ref::MatRef* const> ws, const float* x,
                             int64_t n_tokens, std::span<float* const> ys, base::ThreadPool& pool,
                             const MatMulOptions& options = {});

// Whether this CPU has the instructions `mode` rounds with (AVX-512 BF16 for kBf16, AVX-512 FP16
// for kFp16): elsewhere F16 prefill keeps the exact products. False for kF32Fma.
bool F16PrefillRounds(F16Prefill mode);

// Whether MatMul supports `type`.
bool MatMulSupports(WeightType type);

// The code paths this CPU gets, e.g. "AVX3 (Highway) + AVX-512 VNNI + AVX-512 BF16".
std::string KernelTargets();

}  // namespace tandem::kernels::cpu

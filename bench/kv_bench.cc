// What the KV stream does to each value of an f16 cache over the F16 codec, per layer of 8192
// tokens of a Llama-3.2-1B shape (8 KV heads of 64): before, K and V widened to float32 and
// encoded on the sender, decoded and narrowed on the receiver; now the cache's halves are sent
// and stored as they are (docs/adr/003). Rates are values per second, K and V counted.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <vector>

#include "kv/kv_cache.h"
#include "kv/kv_codec.h"

namespace tandem::kv {
namespace {

const KvLayout kLayer{1, 8192, 8, 64};
const int64_t kValues = kLayer.n_ctx * kLayer.row_elems();

KvCache FilledCache() {
  auto c = std::move(KvCache::Create(kLayer, KvPrecision::kF16)).value();
  std::vector<float> rows(kValues);
  for (int64_t i = 0; i < kValues; ++i) rows[i] = static_cast<float>(i % 1000) * 0.01f - 5.0f;
  c.Write(0, 0, kLayer.n_ctx, rows.data(), rows.data());
  return c;
}

void BM_KvSendThroughFloat(benchmark::State& state) {
  const KvCache c = FilledCache();
  std::vector<float> rows(kValues);
  std::vector<uint8_t> k(kValues * 2), v(kValues * 2);
  for (auto _ : state) {
    c.ReadK(0, 0, kLayer.n_ctx, rows.data());
    KvEncode(KvCodec::kF16, rows, kLayer.n_kv_heads, kLayer.head_dim, k);
    c.ReadV(0, 0, kLayer.n_ctx, rows.data());
    KvEncode(KvCodec::kF16, rows, kLayer.n_kv_heads, kLayer.head_dim, v);
    benchmark::DoNotOptimize(k.data());
    benchmark::DoNotOptimize(v.data());
  }
  state.SetItemsProcessed(state.iterations() * 2 * kValues);
}
BENCHMARK(BM_KvSendThroughFloat)->Unit(benchmark::kMillisecond);

void BM_KvReceiveThroughFloat(benchmark::State& state) {
  KvCache c = FilledCache();
  std::vector<uint8_t> wire(kValues * 2);
  std::copy_n(c.HalfBytesK(0, 0, kLayer.n_ctx).data(), wire.size(), wire.data());
  std::vector<float> k(kValues), v(kValues);
  for (auto _ : state) {
    if (!KvDecode(KvCodec::kF16, wire, kLayer.n_kv_heads, kLayer.head_dim, k).ok() ||
        !KvDecode(KvCodec::kF16, wire, kLayer.n_kv_heads, kLayer.head_dim, v).ok()) {
      state.SkipWithError("decode");
    }
    c.Write(0, 0, kLayer.n_ctx, k.data(), v.data());
  }
  state.SetItemsProcessed(state.iterations() * 2 * kValues);
}
BENCHMARK(BM_KvReceiveThroughFloat)->Unit(benchmark::kMillisecond);

// The sender now passes the cache's bytes to the socket (no work here); the receiver copies
// the frame's bytes into its cache.
void BM_KvReceiveHalves(benchmark::State& state) {
  KvCache c = FilledCache();
  std::vector<uint8_t> wire(kValues * 2);
  std::copy_n(c.HalfBytesK(0, 0, kLayer.n_ctx).data(), wire.size(), wire.data());
  for (auto _ : state) {
    c.WriteHalfBytes(0, 0, kLayer.n_ctx, wire, wire);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * 2 * kValues);
}
BENCHMARK(BM_KvReceiveHalves)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace tandem::kv

BENCHMARK_MAIN();

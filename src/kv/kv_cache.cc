#include "kv/kv_cache.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <new>
#include <string>

#include "kernels/cpu/elementwise.h"

namespace tandem::kv {

StatusOr<KvCache> KvCache::Create(const KvLayout& layout, KvPrecision precision) {
  if (layout.n_layers <= 0 || layout.n_ctx <= 0 || layout.n_kv_heads <= 0 || layout.head_dim <= 0) {
    return InvalidArgument("KV cache layout must be positive in every dimension");
  }
  constexpr int64_t kMaxBytes = int64_t{1} << 40;
  const int64_t per_token = layout.bytes_per_token(ElemBytes(precision));
  if (layout.n_ctx > kMaxBytes / per_token) {
    return OutOfRange("KV cache for " + std::to_string(layout.n_ctx) +
                      " tokens is too large (reduce the context with -c)");
  }
  KvCache cache(layout, precision);
  const size_t n = static_cast<size_t>(layout.n_ctx * layout.row_elems());
  try {
    if (precision == KvPrecision::kF16) {
      cache.k16_.assign(layout.n_layers, std::vector<uint16_t>(n));
      cache.v16_.assign(layout.n_layers, std::vector<uint16_t>(n));
    } else {
      cache.k32_.assign(layout.n_layers, std::vector<float>(n));
      cache.v32_.assign(layout.n_layers, std::vector<float>(n));
    }
  } catch (const std::bad_alloc&) {
    return Unavailable("out of memory allocating the KV cache (" +
                       std::to_string(per_token * layout.n_ctx >> 20) +
                       " MiB; reduce the context with -c)");
  }
  return cache;
}

const void* KvCache::K(int layer) const {
  return precision_ == KvPrecision::kF16 ? static_cast<const void*>(k16_[layer].data())
                                         : static_cast<const void*>(k32_[layer].data());
}

const void* KvCache::V(int layer) const {
  return precision_ == KvPrecision::kF16 ? static_cast<const void*>(v16_[layer].data())
                                         : static_cast<const void*>(v32_[layer].data());
}

namespace {

void Store(const float* src, int64_t n, float* dst) { std::copy_n(src, n, dst); }
void Store(const float* src, int64_t n, uint16_t* dst) { kernels::cpu::F32ToF16(src, n, dst); }
void Load(const float* src, int64_t n, float* dst) { std::copy_n(src, n, dst); }
void Load(const uint16_t* src, int64_t n, float* dst) { kernels::cpu::F16ToF32(src, n, dst); }

}  // namespace

void KvCache::Write(int layer, int64_t t0, int64_t n, const float* k, const float* v) {
  Put(k16_, k32_, layer, t0, n, k);
  Put(v16_, v32_, layer, t0, n, v);
}

void KvCache::Put(std::vector<std::vector<uint16_t>>& half, std::vector<std::vector<float>>& full,
                  int layer, int64_t t0, int64_t n, const float* rows) {
  const int64_t off = t0 * layout_.row_elems(), count = n * layout_.row_elems();
  if (precision_ == KvPrecision::kF16) {
    Store(rows, count, half[layer].data() + off);
  } else {
    Store(rows, count, full[layer].data() + off);
  }
}

void KvCache::ReadK(int layer, int64_t t0, int64_t t1, float* k) const {
  Read(k16_, k32_, layer, t0, t1, k);
}

void KvCache::ReadV(int layer, int64_t t0, int64_t t1, float* v) const {
  Read(v16_, v32_, layer, t0, t1, v);
}

void KvCache::Read(const std::vector<std::vector<uint16_t>>& half,
                   const std::vector<std::vector<float>>& full, int layer, int64_t t0, int64_t t1,
                   float* out) const {
  const int64_t off = t0 * layout_.row_elems(), count = (t1 - t0) * layout_.row_elems();
  if (precision_ == KvPrecision::kF16) {
    Load(half[layer].data() + off, count, out);
  } else {
    Load(full[layer].data() + off, count, out);
  }
}

namespace {

static_assert(std::endian::native == std::endian::little,
              "the F16 wire codec's bytes are the cache's halves only on a little-endian host");

std::span<const uint8_t> HalfBytes(const std::vector<uint16_t>& half, int64_t row_elems, int64_t t0,
                                   int64_t t1) {
  return {reinterpret_cast<const uint8_t*>(half.data() + t0 * row_elems),
          static_cast<size_t>((t1 - t0) * row_elems * 2)};
}

}  // namespace

std::span<const uint8_t> KvCache::HalfBytesK(int layer, int64_t t0, int64_t t1) const {
  return HalfBytes(k16_[layer], layout_.row_elems(), t0, t1);
}

std::span<const uint8_t> KvCache::HalfBytesV(int layer, int64_t t0, int64_t t1) const {
  return HalfBytes(v16_[layer], layout_.row_elems(), t0, t1);
}

void KvCache::WriteHalfBytes(int layer, int64_t t0, int64_t n, std::span<const uint8_t> k,
                             std::span<const uint8_t> v) {
  const size_t bytes = static_cast<size_t>(n * layout_.row_elems() * 2);
  std::memcpy(k16_[layer].data() + t0 * layout_.row_elems(), k.data(), bytes);
  std::memcpy(v16_[layer].data() + t0 * layout_.row_elems(), v.data(), bytes);
}

}  // namespace tandem::kv

#include "kv/kv_cache.h"

#include <new>
#include <string>

namespace tandem::kv {

StatusOr<KvCache> KvCache::Create(const KvLayout& layout, KvPrecision precision) {
  if (layout.n_layers <= 0 || layout.n_ctx <= 0 || layout.n_kv_heads <= 0 || layout.head_dim <= 0) {
    return InvalidArgument("KV cache layout must be positive in every dimension");
  }
  constexpr int64_t kMaxBytes = int64_t{1} << 40;
  if (layout.n_ctx > kMaxBytes / layout.bytes_per_token()) {
    return OutOfRange("KV cache for " + std::to_string(layout.n_ctx) +
                      " tokens is too large (reduce the context with -c)");
  }
  KvCache cache(layout, precision);
  const size_t n = static_cast<size_t>(layout.n_ctx * layout.row_elems());
  try {
    cache.k_.assign(layout.n_layers, std::vector<float>(n));
    cache.v_.assign(layout.n_layers, std::vector<float>(n));
  } catch (const std::bad_alloc&) {
    return Unavailable("out of memory allocating the KV cache (" +
                       std::to_string(layout.bytes_per_token() * layout.n_ctx >> 20) +
                       " MiB; reduce the context with -c)");
  }
  return cache;
}

std::span<const float> KvCache::KRows(int layer, int64_t t0, int64_t t1) const {
  return std::span<const float>(k_[layer]).subspan(t0 * layout_.row_elems(),
                                                   (t1 - t0) * layout_.row_elems());
}

std::span<const float> KvCache::VRows(int layer, int64_t t0, int64_t t1) const {
  return std::span<const float>(v_[layer]).subspan(t0 * layout_.row_elems(),
                                                   (t1 - t0) * layout_.row_elems());
}

}  // namespace tandem::kv

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/attention.cc"
#include "kernels/cpu/hwy_config.h"
// clang-format off
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format on
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/fold_lanes-inl.h"
#include "kernels/ref/convert.h"

HWY_BEFORE_NAMESPACE();
namespace tandem::kernels::cpu::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

constexpr int64_t kKeyBlock = 64;  // keys per online-softmax step

HWY_INLINE float Dot(const float* a, const float* b, int64_t n) {
  const hn::ScalableTag<float> df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  auto acc = hn::Zero(df);
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes)
    acc = hn::MulAdd(hn::LoadU(df, a + i), hn::LoadU(df, b + i), acc);
  float s = hn::GetLane(hn::SumOfLanes(df, acc));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

// o = o * c + p * v
HWY_INLINE void ScaleAxpy(float c, float p, const float* v, float* o, int64_t n) {
  const hn::ScalableTag<float> df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  const auto vc = hn::Set(df, c), vp = hn::Set(df, p);
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    hn::StoreU(hn::MulAdd(vp, hn::LoadU(df, v + i), hn::Mul(vc, hn::LoadU(df, o + i))), df, o + i);
  }
  for (; i < n; ++i) o[i] = o[i] * c + p * v[i];
}

// s[i] = exp(s[i] - m) for i < n (n <= kKeyBlock); returns the sum.
HWY_INLINE float ExpShiftSum(float* s, int64_t n, float m) {
  const hn::ScalableTag<float> df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  const auto vm = hn::Set(df, m);
  auto sum = hn::Zero(df);
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    const auto e = hn::Exp(df, hn::Sub(hn::LoadU(df, s + i), vm));
    hn::StoreU(e, df, s + i);
    sum = hn::Add(sum, e);
  }
  float total = hn::GetLane(hn::SumOfLanes(df, sum));
  for (; i < n; ++i) {
    s[i] = std::exp(s[i] - m);
    total += s[i];
  }
  return total;
}

// kt[d * kKeyBlock + j] = K[j][d] for j < nk (rows `stride` floats apart), 0 for nk <= j <
// kKeyBlock: whole blocks by vector gathers of a column, 16 keys at a time.
HWY_INLINE void TransposeKeys(const float* k, int64_t stride, int64_t nk, int hd, float* kt) {
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  constexpr int64_t kN = HWY_LANES(float);
  if (nk == kKeyBlock && kKeyBlock * stride <= std::numeric_limits<int32_t>::max()) {
    const auto idx = hn::Mul(hn::Iota(di, 0), hn::Set(di, static_cast<int32_t>(stride)));
    const auto step = hn::Set(di, static_cast<int32_t>(kN * stride));
    for (int d = 0; d < hd; ++d) {
      auto i = idx;
#pragma GCC unroll 16
      for (int64_t j = 0; j < kKeyBlock; j += kN) {
        hn::StoreU(hn::GatherIndex(df, k + d, i), df, kt + d * kKeyBlock + j);
        i = hn::Add(i, step);
      }
    }
    return;
  }
  for (int d = 0; d < hd; ++d) {
    float* dst = kt + d * kKeyBlock;
    for (int64_t j = 0; j < nk; ++j) dst[j] = k[j * stride + d];
    for (int64_t j = nk; j < kKeyBlock; ++j) dst[j] = 0.0f;
  }
}

// A vector of floats, or of IEEE half widened to float.
template <class D>
HWY_INLINE hn::Vec<D> LoadRow(D df, const float* p) {
  return hn::LoadU(df, p);
}
template <class D>
HWY_INLINE hn::Vec<D> LoadRow(D df, const uint16_t* p) {
  const hn::Rebind<hwy::float16_t, D> dh;
  return hn::PromoteTo(df, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(p)));
}

// dst[j * hd + i] = src[j * stride + i] for j < n, i < hd: rows of IEEE half widened to float
// (a key or value block of an f16 cache, read once from memory for all the rows that use it).
HWY_INLINE void WidenRows(const uint16_t* src, int64_t stride, int64_t n, int hd, float* dst) {
  const hn::ScalableTag<float> df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  for (int64_t j = 0; j < n; ++j) {
    const uint16_t* row = src + j * stride;
    float* out = dst + j * hd;
    int64_t i = 0;
    for (; i + lanes <= hd; i += lanes) hn::StoreU(LoadRow(df, row + i), df, out + i);
    for (; i < hd; ++i) out[i] = Fp16ToF32(row[i]);
  }
}

// max(s[0, n)), n >= 1.
HWY_INLINE float MaxOf(const float* s, int64_t n) {
  const hn::ScalableTag<float> df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  float mx = -std::numeric_limits<float>::infinity();
  int64_t j = 0;
  if (n >= lanes) {
    auto v = hn::LoadU(df, s);
    for (j = lanes; j + lanes <= n; j += lanes) v = hn::Max(v, hn::LoadU(df, s + j));
    mx = hn::GetLane(hn::MaxOfLanes(df, v));
  }
  for (; j < n; ++j) mx = std::max(mx, s[j]);
  return mx;
}

// Query rows scored and valued together in prefill: each key (or value) vector loaded serves
// kRows rows (the 32 AVX-512 registers hold a 4-row tile; narrower targets take one row).
constexpr int kRows = HWY_LANES(float) >= 16 ? 4 : 1;

// Scores of up to kRows query rows against keys [0, n) without a transposed block (decode: a few
// rows), the keys read where they are, float or IEEE half (widened in registers): kN / kRows keys
// at a time, each key vector loaded once and multiplied with every row, and the kN dot products
// (rows x keys) folded into one vector by FoldLanes; the keys left over one at a time. hd is a
// multiple of the vector length.
template <class KT>
HWY_INLINE void DotRows(const float* const* q, int rows, const KT* k, int64_t stride, int64_t n,
                        int hd, float scale, float* s) {
  const hn::ScalableTag<float> df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  const float* qr[kRows];
  for (int r = 0; r < kRows; ++r) qr[r] = q[r < rows ? r : 0];
  int64_t j = 0;
#if HWY_TARGET != HWY_SCALAR
  constexpr size_t kN = HWY_LANES(float);
  constexpr int kKeys = static_cast<int>(kN) / kRows;  // keys per group
  if constexpr (kN >= 4 && kKeys >= 1) {
    if (static_cast<size_t>(lanes) == kN) {
      const auto vs = hn::Set(df, scale);
      for (; j + kKeys <= n; j += kKeys) {
        hn::Vec<decltype(df)> acc[kN];  // acc[r * kKeys + u]: row r, key j + u
#pragma GCC unroll 16
        for (size_t i = 0; i < kN; ++i) acc[i] = hn::Zero(df);
        for (int64_t d = 0; d < hd; d += lanes) {
#pragma GCC unroll 16
          for (int u = 0; u < kKeys; ++u) {
            const auto kv = LoadRow(df, k + (j + u) * stride + d);
#pragma GCC unroll 4
            for (int r = 0; r < kRows; ++r) {
              acc[r * kKeys + u] = hn::MulAdd(hn::LoadU(df, qr[r] + d), kv, acc[r * kKeys + u]);
            }
          }
        }
        HWY_ALIGN float dots[kN];
        const auto sums = FoldLanes(df, acc, [](auto a, auto b) { return hn::Add(a, b); });
        hn::Store(hn::Mul(sums, vs), df, dots);
        for (int r = 0; r < rows; ++r) {
#pragma GCC unroll 16
          for (int u = 0; u < kKeys; ++u) s[r * kKeyBlock + j + u] = dots[r * kKeys + u];
        }
      }
    }
  }
#endif
  for (; j < n; ++j) {
    const KT* kj = k + j * stride;
    hn::Vec<decltype(df)> acc[kRows];
#pragma GCC unroll 4
    for (int r = 0; r < kRows; ++r) acc[r] = hn::Zero(df);
    for (int64_t i = 0; i < hd; i += lanes) {
      const auto kv = LoadRow(df, kj + i);
#pragma GCC unroll 4
      for (int r = 0; r < kRows; ++r) {
        if (r < rows) acc[r] = hn::MulAdd(hn::LoadU(df, qr[r] + i), kv, acc[r]);
      }
    }
#pragma GCC unroll 4
    for (int r = 0; r < kRows; ++r) {
      if (r < rows) s[r * kKeyBlock + j] = hn::GetLane(hn::SumOfLanes(df, acc[r])) * scale;
    }
  }
}

// Scores of up to kRows query rows against a key block: s[r * kKeyBlock + j] = q_r · K[j] * scale
// for j < kKeyBlock, with the block transposed (kt[d * kKeyBlock + j]): vectors run over keys, so
// there are no horizontal sums. Rows past `rows` repeat row 0 and are not stored.
HWY_INLINE void BlockScores(const float* const* q, int rows, const float* kt, int hd, float scale,
                            float* s) {
  const hn::ScalableTag<float> df;
  constexpr size_t kN = HWY_LANES(float);
  constexpr size_t kVecs = kKeyBlock / kN;
  hn::Vec<decltype(df)> acc[kRows][kVecs];
#pragma GCC unroll 4
  for (int r = 0; r < kRows; ++r) {
#pragma GCC unroll 16
    for (size_t v = 0; v < kVecs; ++v) acc[r][v] = hn::Zero(df);
  }
  const float* qr[kRows];
  for (int r = 0; r < kRows; ++r) qr[r] = q[r < rows ? r : 0];
  for (int d = 0; d < hd; ++d) {
    hn::Vec<decltype(df)> k[kVecs];
#pragma GCC unroll 16
    for (size_t v = 0; v < kVecs; ++v) k[v] = hn::LoadU(df, kt + d * kKeyBlock + v * kN);
#pragma GCC unroll 4
    for (int r = 0; r < kRows; ++r) {
      const auto qd = hn::Set(df, qr[r][d]);
#pragma GCC unroll 16
      for (size_t v = 0; v < kVecs; ++v) acc[r][v] = hn::MulAdd(qd, k[v], acc[r][v]);
    }
  }
  const auto vs = hn::Set(df, scale);
#pragma GCC unroll 4
  for (int r = 0; r < kRows; ++r) {
    if (r >= rows) break;
#pragma GCC unroll 16
    for (size_t v = 0; v < kVecs; ++v) {
      hn::StoreU(hn::Mul(acc[r][v], vs), df, s + r * kKeyBlock + v * kN);
    }
  }
}

// For up to R rows r: o_r[0, hd) = o_r * c[r] + sum_j p[r * kKeyBlock + j] * V[j], j < n;
// V rows `stride` elements apart, float or IEEE half (VT = uint16_t: widened in registers, so
// decode reads an f16 cache's values once, with no widened copy); hd a multiple of the vector
// length. Each V vector loaded serves every row.
template <int R, class VT>
HWY_INLINE void BlockValues(const float* p, int rows, int64_t n, const VT* v, int64_t stride,
                            const float* c, float* const* o, int hd) {
  const hn::ScalableTag<float> df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  for (int64_t i = 0; i < hd; i += 4 * lanes) {  // up to 4 vectors of the head at a time
    const int64_t w = std::min<int64_t>(4, (hd - i) / lanes);
    hn::Vec<decltype(df)> acc[R][4];
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      const auto vc = hn::Set(df, r < rows ? c[r] : 0.0f);
#pragma GCC unroll 4
      for (int u = 0; u < 4; ++u) {
        acc[r][u] = u < w && r < rows ? hn::Mul(vc, hn::LoadU(df, o[r] + i + u * lanes)) : vc;
      }
    }
    for (int64_t j = 0; j < n; ++j) {
      const VT* vr = v + j * stride + i;
      hn::Vec<decltype(df)> vv[4];
#pragma GCC unroll 4
      for (int u = 0; u < 4; ++u) vv[u] = u < w ? LoadRow(df, vr + u * lanes) : hn::Zero(df);
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) {
        const auto pj = hn::Set(df, r < rows ? p[r * kKeyBlock + j] : 0.0f);
#pragma GCC unroll 4
        for (int u = 0; u < 4; ++u) acc[r][u] = hn::MulAdd(pj, vv[u], acc[r][u]);
      }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      if (r >= rows) break;
#pragma GCC unroll 4
      for (int u = 0; u < 4; ++u) {
        if (u < w) hn::StoreU(acc[r][u], df, o[r] + i + u * lanes);
      }
    }
  }
}

// Where AttendKeys reads key and value rows: row j of the cache at (j - first) rows (kv_stride
// elements each) from k and v, float or IEEE half.
struct KvRows {
  const void* k;
  const void* v;
  int64_t first;
  bool k_f16, v_f16;
};

// The online-softmax state of query tokens [t0, t1) of the `group` heads that read KV head `kvh`
// (row = (token - t0) * group + head in group: running max m, sum l, unnormalised output o) takes
// in keys [k_begin, k_end), each token's only up to its causal limit.
void AttendKeys(const AttentionBatch& b, const KvRows& src, int kvh, int64_t t0, int64_t t1,
                int64_t k_begin, int64_t k_end, float* m, float* l, float* o) {
  const int hd = b.shape.head_dim;
  const int group = b.shape.n_heads / b.shape.n_kv_heads;
  const int64_t q_stride = static_cast<int64_t>(b.shape.n_heads) * hd;
  const int64_t kv_stride = static_cast<int64_t>(b.shape.n_kv_heads) * hd;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  const int64_t n_rows = (t1 - t0) * group;  // row = (token, head in group)
  const hn::ScalableTag<float> df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  // Values accumulate in registers when a head is whole vectors. Scores come from a transposed
  // key block when enough rows share it to pay for the transposition (prefill; a decode step has
  // only the `group` rows of one token: plain dot products are cheaper).
  const bool vec_values = hd % lanes == 0;
  const bool blocked = vec_values && n_rows >= 16 && kKeyBlock % HWY_LANES(float) == 0 &&
                       static_cast<size_t>(lanes) == HWY_LANES(float);
  thread_local std::vector<float> s, kt, kw, vw;
  s.resize(static_cast<size_t>(kRows) * kKeyBlock);
  if (blocked) kt.resize(static_cast<size_t>(hd) * kKeyBlock);
  // Half values are read in place (widened in registers) when a decode step's few rows use each
  // once; prefill, whose row groups each read the block, widens them once into vw.
  const bool v_in_place = src.v_f16 && vec_values && !blocked;
  // So are half keys, whose vectors DotRows loads once for all the rows.
  const bool k_in_place = src.k_f16 && vec_values && !blocked;
  if (src.k_f16 && !k_in_place) kw.resize(static_cast<size_t>(hd) * kKeyBlock);
  if (src.v_f16 && !v_in_place) vw.resize(static_cast<size_t>(hd) * kKeyBlock);
  // Key and value rows of this block: in the cache (kv_stride apart), or widened from half into
  // kw and vw (hd apart).
  const int64_t k_stride = src.k_f16 && !k_in_place ? hd : kv_stride;
  const int64_t v_stride = src.v_f16 && !v_in_place ? hd : kv_stride;
  for (int64_t k0 = k_begin; k0 < k_end; k0 += kKeyBlock) {
    const int64_t nk = std::min(kKeyBlock, k_end - k0);
    const int64_t first = (k0 - src.first) * kv_stride + static_cast<int64_t>(kvh) * hd;
    // This head's rows are a short piece of every cache row (kv_stride apart), which the hardware
    // prefetchers follow poorly: ask for the next block's rows into L2 while this one is scored.
    if (k0 + kKeyBlock < k_end) {
      const int k_elem = src.k_f16 ? 2 : 4, v_elem = src.v_f16 ? 2 : 4;
      const auto* kn = static_cast<const char*>(src.k) + (first + kKeyBlock * kv_stride) * k_elem;
      const auto* vn = static_cast<const char*>(src.v) + (first + kKeyBlock * kv_stride) * v_elem;
      const int64_t n_next = std::min(kKeyBlock, k_end - k0 - kKeyBlock);
      for (int64_t j = 0; j < n_next; ++j) {
        for (int64_t off = 0; off < int64_t{hd} * k_elem; off += 64) {
          __builtin_prefetch(kn + j * kv_stride * k_elem + off, 0, 2);
        }
        for (int64_t off = 0; off < int64_t{hd} * v_elem; off += 64) {
          __builtin_prefetch(vn + j * kv_stride * v_elem + off, 0, 2);
        }
      }
    }
    const float* kbase = kw.data();
    const float* vbase = vw.data();
    const uint16_t *khalf = nullptr, *vhalf = nullptr;
    if (k_in_place) {
      khalf = static_cast<const uint16_t*>(src.k) + first;
    } else if (src.k_f16) {
      WidenRows(static_cast<const uint16_t*>(src.k) + first, kv_stride, nk, hd, kw.data());
    } else {
      kbase = static_cast<const float*>(src.k) + first;
    }
    if (v_in_place) {
      vhalf = static_cast<const uint16_t*>(src.v) + first;
    } else if (src.v_f16) {
      WidenRows(static_cast<const uint16_t*>(src.v) + first, kv_stride, nk, hd, vw.data());
    } else {
      vbase = static_cast<const float*>(src.v) + first;
    }
    if (blocked) TransposeKeys(kbase, k_stride, nk, hd, kt.data());
    // Rows kRows at a time when a head is whole vectors, else one at a time; a row's keys in this
    // block end at its causal limit.
    const int step = vec_values ? kRows : 1;
    for (int64_t row0 = 0; row0 < n_rows; row0 += step) {
      const int rows = static_cast<int>(std::min<int64_t>(step, n_rows - row0));
      const float* qs[kRows];
      float* os[kRows];
      float corr[kRows];
      int64_t n_row[kRows], n_max = 0;
      for (int r = 0; r < rows; ++r) {
        const int64_t row = row0 + r;
        const int64_t t = t0 + row / group;
        const int h = kvh * group + static_cast<int>(row % group);
        n_row[r] = std::max<int64_t>(0, std::min(k0 + nk, b.pos + t + 1) - k0);
        n_max = std::max(n_max, n_row[r]);
        qs[r] = b.q + t * q_stride + static_cast<int64_t>(h) * hd;
        os[r] = o + row * hd;
      }
      if (n_max == 0) continue;
      if (blocked) {
        BlockScores(qs, rows, kt.data(), hd, scale, s.data());
      } else if (vec_values) {
        if (khalf != nullptr) {
          DotRows(qs, rows, khalf, k_stride, n_max, hd, scale, s.data());
        } else {
          DotRows(qs, rows, kbase, k_stride, n_max, hd, scale, s.data());
        }
      } else {
        for (int64_t j = 0; j < n_row[0]; ++j) s[j] = Dot(qs[0], kbase + j * k_stride, hd) * scale;
      }
      for (int r = 0; r < rows; ++r) {
        float* sr = s.data() + r * kKeyBlock;
        const int64_t n = n_row[r];
        const int64_t row = row0 + r;
        if (n == 0) {  // past this row's causal limit: it keeps its sums
          corr[r] = 1.0f;
          std::fill(sr, sr + n_max, 0.0f);
          continue;
        }
        const float m_new = std::max(m[row], MaxOf(sr, n));
        corr[r] = std::exp(m[row] - m_new);  // 0 on the first block (m = -inf)
        l[row] = l[row] * corr[r] + ExpShiftSum(sr, n, m_new);
        m[row] = m_new;
        std::fill(sr + n, sr + n_max, 0.0f);  // keys past the limit weigh nothing
      }
      if (vhalf != nullptr) {
        BlockValues<kRows>(s.data(), rows, n_max, vhalf, v_stride, corr, os, hd);
      } else if (vec_values) {
        BlockValues<kRows>(s.data(), rows, n_max, vbase, v_stride, corr, os, hd);
      } else {
        float c = corr[0];
        for (int64_t j = 0; j < n_row[0]; ++j) {
          ScaleAxpy(c, s[j], vbase + j * v_stride, os[0], hd);
          c = 1.0f;
        }
      }
    }
  }
}

// Prefill: query tokens [t0, t1) of the heads that read KV head `kvh`, over all their keys.
void AttentionTaskImpl(const AttentionBatch& b, int kvh, int64_t t0, int64_t t1) {
  const int hd = b.shape.head_dim;
  const int group = b.shape.n_heads / b.shape.n_kv_heads;
  const int64_t q_stride = static_cast<int64_t>(b.shape.n_heads) * hd;
  const int64_t n_rows = (t1 - t0) * group;
  thread_local std::vector<float> m, l, o;
  m.assign(n_rows, -std::numeric_limits<float>::infinity());
  l.assign(n_rows, 0.0f);
  o.assign(n_rows * hd, 0.0f);
  AttendKeys(b, {b.k, b.v, 0, b.kv_f16, b.kv_f16}, kvh, t0, t1, 0, b.pos + t1, m.data(), l.data(),
             o.data());  // token t1 - 1 sees all the keys
  for (int64_t row = 0; row < n_rows; ++row) {
    const int64_t t = t0 + row / group;
    const int h = kvh * group + static_cast<int>(row % group);
    float* out = b.out + t * q_stride + static_cast<int64_t>(h) * hd;
    const float inv = 1.0f / l[row];
    for (int i = 0; i < hd; ++i) out[i] = o[row * hd + i] * inv;
  }
}

// Decode: every query row (all tokens, all heads) over keys [k_begin, k_end), a key block at a
// time with every KV head inside it, so the cache is read front to back (a head's own rows are
// short pieces far apart). Rows are ordered (KV head, token, head in group); the state stays
// unnormalised, for AttentionByKeySplits to merge.
void AttendKeySplitImpl(const AttentionBatch& b, int64_t k_begin, int64_t k_end, float* m, float* l,
                        float* o) {
  const int hd = b.shape.head_dim;
  const int64_t n_rows = b.n_tokens * (b.shape.n_heads / b.shape.n_kv_heads);  // per KV head
  const int64_t total = n_rows * b.shape.n_kv_heads;
  std::fill(m, m + total, -std::numeric_limits<float>::infinity());
  std::fill(l, l + total, 0.0f);
  std::fill(o, o + total * hd, 0.0f);
  const int n_kvh = b.shape.n_kv_heads;
  const int64_t kv_stride = int64_t{n_kvh} * hd;
  const int64_t row_bytes = kv_stride * (b.kv_f16 ? 2 : 4);  // one token, every head
  // Keys and values of an f16 cache are read in place (AttendKeys widens them in registers).
  const KvRows src{b.k, b.v, 0, b.kv_f16, b.kv_f16};
  for (int64_t k0 = k_begin; k0 < k_end; k0 += kKeyBlock) {
    const int64_t k1 = std::min(k0 + kKeyBlock, k_end);
    // Meanwhile the rows of the block after next (contiguous) come into L2, a share before each
    // head (one block ahead was too late: 1.7–2.0 against 1.4–2.0 ms per layer at 8192 keys).
    const int64_t k2 = std::min(k1 + kKeyBlock, k_end);
    const int64_t next_bytes = (std::min(k2 + kKeyBlock, k_end) - k2) * row_bytes;
    const auto* kn = static_cast<const char*>(b.k) + k2 * row_bytes;
    const auto* vn = static_cast<const char*>(b.v) + k2 * row_bytes;
    for (int kvh = 0; kvh < n_kvh; ++kvh) {
      for (int64_t off = next_bytes * kvh / n_kvh / 64 * 64; off < next_bytes * (kvh + 1) / n_kvh;
           off += 64) {
        __builtin_prefetch(kn + off, 0, 2);
        __builtin_prefetch(vn + off, 0, 2);
      }
      const int64_t r = kvh * n_rows;
      AttendKeys(b, src, kvh, 0, b.n_tokens, k0, k1, m + r, l + r, o + r * hd);
    }
  }
}

}  // namespace tandem::kernels::cpu::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace tandem::kernels::cpu {
HWY_EXPORT(AttentionTaskImpl);
HWY_EXPORT(AttendKeySplitImpl);

namespace {

// Decode over a long context: the keys split into ranges of whole kSplitKeys, one task each over
// every head (AttendKeySplitImpl), and the ranges' softmax states merged. The ranges go out in
// contiguous shares (ParallelForShares): each thread reads the cache front to back (16384 keys,
// f16, 2 threads: 2.45 against 2.66 ms per layer, medians of 5 alternating runs).
constexpr int64_t kSplitKeys = 256;

void AttentionByKeySplits(const AttentionBatch& b, base::ThreadPool& pool) {
  const int hd = b.shape.head_dim;
  const int group = b.shape.n_heads / b.shape.n_kv_heads;
  const int64_t n_keys = b.pos + b.n_tokens;
  const int64_t units = (n_keys + kSplitKeys - 1) / kSplitKeys;
  const int64_t n_splits = std::min<int64_t>(units, 2 * pool.size());
  const int64_t rows = b.n_tokens * b.shape.n_heads;  // (KV head, token, head in group)
  std::vector<float> m(n_splits * rows), l(n_splits * rows), o(n_splits * rows * hd);
  pool.ParallelForShares(n_splits, [&](int64_t i, int) {
    const int64_t k0 = units * i / n_splits * kSplitKeys;
    const int64_t k1 = std::min(n_keys, units * (i + 1) / n_splits * kSplitKeys);
    HWY_DYNAMIC_DISPATCH(AttendKeySplitImpl)
    (b, k0, k1, &m[i * rows], &l[i * rows], &o[i * rows * hd]);
  });
  const int64_t q_stride = int64_t{b.shape.n_heads} * hd, per_kvh = b.n_tokens * group;
  std::vector<float> acc(hd);
  for (int64_t r = 0; r < rows; ++r) {
    float m_max = -std::numeric_limits<float>::infinity();
    for (int64_t i = 0; i < n_splits; ++i) m_max = std::max(m_max, m[i * rows + r]);
    float sum = 0;
    std::fill(acc.begin(), acc.end(), 0.0f);
    for (int64_t i = 0; i < n_splits; ++i) {
      if (l[i * rows + r] == 0.0f) continue;  // a range wholly past this token's causal limit
      const float w = std::exp(m[i * rows + r] - m_max);
      sum += w * l[i * rows + r];
      const float* oi = &o[(i * rows + r) * hd];
      for (int d = 0; d < hd; ++d) acc[d] += w * oi[d];
    }
    const int64_t kvh = r / per_kvh, t = r % per_kvh / group;
    const int64_t h = kvh * group + r % group;
    float* out = b.out + t * q_stride + h * hd;
    for (int d = 0; d < hd; ++d) out[d] = acc[d] / sum;
  }
}

}  // namespace

void CausalAttention(const AttentionBatch& b, base::ThreadPool& pool) {
  // A decode step (a few query rows per KV head) over a long context: split by keys.
  const int group = b.shape.n_heads / b.shape.n_kv_heads;
  if (b.n_tokens * group < 16 && b.pos + b.n_tokens >= 4 * kSplitKeys) {
    return AttentionByKeySplits(b, pool);
  }
  // Query tokens per task: many, so that each transposed key block serves many rows; fewer
  // while that leaves under 4 tasks per thread.
  const int n_kvh = b.shape.n_kv_heads;
  int64_t qb = 64;
  while (qb > 16 && (b.n_tokens + qb - 1) / qb * n_kvh < 4 * pool.size()) qb /= 2;
  const int64_t n_qb = (b.n_tokens + qb - 1) / qb;
  pool.ParallelFor(n_qb * n_kvh, [&](int64_t task, int) {
    // Later query blocks see more keys: hand them out first for a better balance.
    const int64_t blk = n_qb - 1 - task / n_kvh;
    const int kvh = static_cast<int>(task % n_kvh);
    const int64_t t0 = blk * qb, t1 = std::min(b.n_tokens, t0 + qb);
    HWY_DYNAMIC_DISPATCH(AttentionTaskImpl)(b, kvh, t0, t1);
  });
}

}  // namespace tandem::kernels::cpu
#endif  // HWY_ONCE

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

// Scores of one query row against a key block: s[j] = q · K[j] * scale for j < kKeyBlock, with
// the block transposed (kt[d * kKeyBlock + j]): vectors run over keys, so there are no horizontal
// sums, and kKeyBlock / lanes independent accumulators.
HWY_INLINE void BlockScores(const float* q, const float* kt, int hd, float scale, float* s) {
  const hn::ScalableTag<float> df;
  constexpr size_t kN = HWY_LANES(float);
  constexpr size_t kVecs = kKeyBlock / kN;
  hn::Vec<decltype(df)> acc[kVecs];
#pragma GCC unroll 16
  for (size_t v = 0; v < kVecs; ++v) acc[v] = hn::Zero(df);
  for (int d = 0; d < hd; ++d) {
    const auto qd = hn::Set(df, q[d]);
#pragma GCC unroll 16
    for (size_t v = 0; v < kVecs; ++v) {
      acc[v] = hn::MulAdd(qd, hn::LoadU(df, kt + d * kKeyBlock + v * kN), acc[v]);
    }
  }
  const auto vs = hn::Set(df, scale);
#pragma GCC unroll 16
  for (size_t v = 0; v < kVecs; ++v) hn::StoreU(hn::Mul(acc[v], vs), df, s + v * kN);
}

// o[0, hd) = o * c + sum_j p[j] * V[j] for j < n; V rows `stride` floats apart.
HWY_INLINE void BlockValues(const float* p, int64_t n, const float* v, int64_t stride, float c,
                            float* o, int hd) {
  const hn::ScalableTag<float> df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  const auto vc = hn::Set(df, c);
  for (int64_t i = 0; i < hd; i += 4 * lanes) {  // hd % lanes == 0; up to 4 vectors at a time
    const int64_t w = std::min<int64_t>(4, (hd - i) / lanes);
    hn::Vec<decltype(df)> acc[4];
#pragma GCC unroll 4
    for (int u = 0; u < 4; ++u) acc[u] = u < w ? hn::Mul(vc, hn::LoadU(df, o + i + u * lanes)) : vc;
    for (int64_t j = 0; j < n; ++j) {
      const auto pj = hn::Set(df, p[j]);
      const float* vr = v + j * stride + i;
#pragma GCC unroll 4
      for (int u = 0; u < 4; ++u) {
        if (u < w) acc[u] = hn::MulAdd(pj, hn::LoadU(df, vr + u * lanes), acc[u]);
      }
    }
#pragma GCC unroll 4
    for (int u = 0; u < 4; ++u) {
      if (u < w) hn::StoreU(acc[u], df, o + i + u * lanes);
    }
  }
}

// Query tokens [t0, t1) of the `group` heads that read KV head `kvh`.
void AttentionTaskImpl(const AttentionBatch& b, int kvh, int64_t t0, int64_t t1) {
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
  thread_local std::vector<float> m, l, o, s, kt;
  m.assign(n_rows, -std::numeric_limits<float>::infinity());
  l.assign(n_rows, 0.0f);
  o.assign(n_rows * hd, 0.0f);
  s.resize(kKeyBlock);
  if (blocked) kt.resize(static_cast<size_t>(hd) * kKeyBlock);
  const int64_t n_keys = b.pos + t1;  // the last token sees [0, pos + t1)
  for (int64_t k0 = 0; k0 < n_keys; k0 += kKeyBlock) {
    const int64_t nk = std::min(kKeyBlock, n_keys - k0);
    const float* kbase = b.k + k0 * kv_stride + static_cast<int64_t>(kvh) * hd;
    if (blocked) {
      for (int d = 0; d < hd; ++d) {
        float* dst = kt.data() + d * kKeyBlock;
        for (int64_t j = 0; j < nk; ++j) dst[j] = kbase[j * kv_stride + d];
        for (int64_t j = nk; j < kKeyBlock; ++j) dst[j] = 0.0f;
      }
    }
    for (int64_t row = 0; row < n_rows; ++row) {
      const int64_t t = t0 + row / group;
      const int h = kvh * group + static_cast<int>(row % group);
      const int64_t k_end = std::min(k0 + kKeyBlock, b.pos + t + 1);  // causal limit
      if (k_end <= k0) continue;
      const int64_t n = k_end - k0;
      const float* qh = b.q + t * q_stride + static_cast<int64_t>(h) * hd;
      if (blocked) {
        BlockScores(qh, kt.data(), hd, scale, s.data());
      } else {
        for (int64_t j = 0; j < n; ++j) s[j] = Dot(qh, kbase + j * kv_stride, hd) * scale;
      }
      float mx = -std::numeric_limits<float>::infinity();
      for (int64_t j = 0; j < n; ++j) mx = std::max(mx, s[j]);
      const float m_new = std::max(m[row], mx);
      const float corr = std::exp(m[row] - m_new);  // 0 on the first block (m = -inf)
      l[row] = l[row] * corr + ExpShiftSum(s.data(), n, m_new);
      m[row] = m_new;
      float* orow = o.data() + row * hd;
      const float* vbase = b.v + k0 * kv_stride + static_cast<int64_t>(kvh) * hd;
      if (vec_values) {
        BlockValues(s.data(), n, vbase, kv_stride, corr, orow, hd);
      } else {
        float c = corr;
        for (int64_t j = 0; j < n; ++j) {
          ScaleAxpy(c, s[j], vbase + j * kv_stride, orow, hd);
          c = 1.0f;
        }
      }
    }
  }
  for (int64_t row = 0; row < n_rows; ++row) {
    const int64_t t = t0 + row / group;
    const int h = kvh * group + static_cast<int>(row % group);
    float* out = b.out + t * q_stride + static_cast<int64_t>(h) * hd;
    const float inv = 1.0f / l[row];
    for (int i = 0; i < hd; ++i) out[i] = o[row * hd + i] * inv;
  }
}

}  // namespace tandem::kernels::cpu::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace tandem::kernels::cpu {
HWY_EXPORT(AttentionTaskImpl);

void CausalAttention(const AttentionBatch& b, base::ThreadPool& pool) {
  const int64_t qb = 16;
  const int64_t n_qb = (b.n_tokens + qb - 1) / qb;
  const int n_kvh = b.shape.n_kv_heads;
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

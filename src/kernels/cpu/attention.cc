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

// Query tokens [t0, t1) of the `group` heads that read KV head `kvh`.
void AttentionTaskImpl(const AttentionBatch& b, int kvh, int64_t t0, int64_t t1) {
  const int hd = b.shape.head_dim;
  const int group = b.shape.n_heads / b.shape.n_kv_heads;
  const int64_t q_stride = static_cast<int64_t>(b.shape.n_heads) * hd;
  const int64_t kv_stride = static_cast<int64_t>(b.shape.n_kv_heads) * hd;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  const int64_t n_rows = (t1 - t0) * group;  // row = (token, head in group)
  thread_local std::vector<float> m, l, o, s;
  m.assign(n_rows, -std::numeric_limits<float>::infinity());
  l.assign(n_rows, 0.0f);
  o.assign(n_rows * hd, 0.0f);
  s.resize(kKeyBlock);
  const int64_t n_keys = b.pos + t1;  // the last token sees [0, pos + t1)
  for (int64_t k0 = 0; k0 < n_keys; k0 += kKeyBlock) {
    for (int64_t row = 0; row < n_rows; ++row) {
      const int64_t t = t0 + row / group;
      const int h = kvh * group + static_cast<int>(row % group);
      const int64_t k_end = std::min(k0 + kKeyBlock, b.pos + t + 1);  // causal limit
      if (k_end <= k0) continue;
      const float* qh = b.q + t * q_stride + static_cast<int64_t>(h) * hd;
      float mx = -std::numeric_limits<float>::infinity();
      for (int64_t j = k0; j < k_end; ++j) {
        s[j - k0] = Dot(qh, b.k + j * kv_stride + static_cast<int64_t>(kvh) * hd, hd) * scale;
        mx = std::max(mx, s[j - k0]);
      }
      const float m_new = std::max(m[row], mx);
      const float corr = std::exp(m[row] - m_new);  // 0 on the first block (m = -inf)
      l[row] = l[row] * corr + ExpShiftSum(s.data(), k_end - k0, m_new);
      m[row] = m_new;
      float* orow = o.data() + row * hd;
      float c = corr;
      for (int64_t j = k0; j < k_end; ++j) {
        ScaleAxpy(c, s[j - k0], b.v + j * kv_stride + static_cast<int64_t>(kvh) * hd, orow, hd);
        c = 1.0f;
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

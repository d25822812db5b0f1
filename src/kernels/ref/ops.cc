#include "kernels/ref/ops.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "kernels/ref/convert.h"
#include "kernels/ref/quant.h"

namespace tandem::kernels::ref {

Status MatMul(const MatRef& w, const float* x, int64_t n_tokens, float* y) {
  std::vector<float> row(w.cols);
  const uint64_t row_bytes = RowBytes(w.type, w.cols);
  for (int64_t r = 0; r < w.rows; ++r) {
    RETURN_IF_ERROR(DequantizeRow(w.type, w.data + r * row_bytes, row.data(), w.cols));
    for (int64_t t = 0; t < n_tokens; ++t) {
      const float* xt = x + t * w.cols;
      double acc = 0;
      for (int64_t k = 0; k < w.cols; ++k) acc += static_cast<double>(row[k]) * xt[k];
      y[t * w.rows + r] = static_cast<float>(acc);
    }
  }
  return OkStatus();
}

Status GetRow(const MatRef& w, int64_t row, float* out) {
  if (row < 0 || row >= w.rows) {
    return OutOfRange("row " + std::to_string(row) + " of a " + std::to_string(w.rows) +
                      "-row matrix");
  }
  return DequantizeRow(w.type, w.data + row * RowBytes(w.type, w.cols), out, w.cols);
}

void RmsNorm(const float* x, const float* weight, int64_t n, float eps, float* out) {
  double ss = 0;
  for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  const float scale = static_cast<float>(1.0 / std::sqrt(ss / n + eps));
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * scale * weight[i];
}

void Softmax(float* x, int64_t n) {
  const float max = *std::max_element(x, x + n);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void SwiGlu(float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    gate[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void RopeAngles(int64_t pos, const RopeParams& p, float* cs) {
  for (int i = 0; i < p.n_rot / 2; ++i) {
    // theta_i = pos * scale * base^(-2i / n_rot) / factor_i
    double theta = static_cast<double>(pos) * p.freq_scale *
                   std::pow(static_cast<double>(p.freq_base), -2.0 * i / p.n_rot);
    if (p.freq_factors != nullptr) theta /= p.freq_factors[i];
    cs[2 * i] = static_cast<float>(std::cos(theta));
    cs[2 * i + 1] = static_cast<float>(std::sin(theta));
  }
}

void RopeRotate(float* x, int n_heads, int head_dim, const float* cs, const RopeParams& p) {
  for (int i = 0; i < p.n_rot / 2; ++i) {
    const float c = cs[2 * i], s = cs[2 * i + 1];
    const int a = p.mode == RopeMode::kNormal ? 2 * i : i;
    const int b = p.mode == RopeMode::kNormal ? 2 * i + 1 : i + p.n_rot / 2;
    for (int h = 0; h < n_heads; ++h) {
      float* v = x + static_cast<int64_t>(h) * head_dim;
      const float x0 = v[a], x1 = v[b];
      v[a] = x0 * c - x1 * s;
      v[b] = x0 * s + x1 * c;
    }
  }
}

void Rope(float* x, int n_heads, int head_dim, int64_t pos, const RopeParams& p) {
  std::vector<float> cs(p.n_rot);
  RopeAngles(pos, p, cs.data());
  RopeRotate(x, n_heads, head_dim, cs.data(), p);
}

namespace {

inline float Widen(float x) { return x; }
inline float Widen(uint16_t h) { return Fp16ToF32(h); }

template <class T>
void AttentionOver(const float* q, const T* k, const T* v, int64_t n_pos, const AttentionShape& s,
                   float* scores, float* out) {
  const int group = s.n_heads / s.n_kv_heads;
  const int64_t kv_stride = static_cast<int64_t>(s.n_kv_heads) * s.head_dim;
  const double scale = 1.0 / std::sqrt(static_cast<double>(s.head_dim));
  for (int h = 0; h < s.n_heads; ++h) {
    const int kvh = h / group;
    const float* qh = q + static_cast<int64_t>(h) * s.head_dim;
    for (int64_t t = 0; t < n_pos; ++t) {
      const T* kt = k + t * kv_stride + static_cast<int64_t>(kvh) * s.head_dim;
      double dot = 0;
      for (int d = 0; d < s.head_dim; ++d) dot += static_cast<double>(qh[d]) * Widen(kt[d]);
      scores[t] = static_cast<float>(dot * scale);
    }
    Softmax(scores, n_pos);
    float* oh = out + static_cast<int64_t>(h) * s.head_dim;
    for (int d = 0; d < s.head_dim; ++d) {
      double acc = 0;
      for (int64_t t = 0; t < n_pos; ++t) {
        acc += static_cast<double>(scores[t]) * Widen(v[t * kv_stride + kvh * s.head_dim + d]);
      }
      oh[d] = static_cast<float>(acc);
    }
  }
}

}  // namespace

void Attention(const float* q, const float* k, const float* v, int64_t n_pos,
               const AttentionShape& s, float* scores, float* out) {
  AttentionOver(q, k, v, n_pos, s, scores, out);
}

void Attention(const float* q, const uint16_t* k, const uint16_t* v, int64_t n_pos,
               const AttentionShape& s, float* scores, float* out) {
  AttentionOver(q, k, v, n_pos, s, scores, out);
}

}  // namespace tandem::kernels::ref

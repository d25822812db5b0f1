#include "bench_matrices.h"

#include <algorithm>
#include <random>

#include "kernels/ref/quant.h"

namespace tandem::kernels::bench {

std::vector<float> Random(size_t n) {
  std::mt19937 rng(1);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& f : v) f = d(rng);
  return v;
}

uint64_t KernelBytes(WeightType type, int64_t rows, int64_t cols) {
  return cpu::PacksWeights(type) ? cpu::PackedBytes(type, rows, cols) : RowBytes(type, cols) * rows;
}

StatusOr<ref::MatRef> MakeMatrix(WeightType type, int64_t rows, int64_t cols, uint8_t* dst) {
  const uint64_t row_bytes = RowBytes(type, cols);
  const std::vector<float> src = Random(cols);
  std::vector<uint8_t> w(row_bytes * rows);
  RETURN_IF_ERROR(ref::QuantizeRow(type, src.data(), w.data(), cols));
  for (int64_t r = 1; r < rows; ++r) std::copy_n(w.data(), row_bytes, &w[r * row_bytes]);
  if (!cpu::PacksWeights(type)) {
    std::copy(w.begin(), w.end(), dst);
    return ref::MatRef{type, dst, rows, cols};
  }
  RETURN_IF_ERROR(
      cpu::PackWeights({type, w.data(), rows, cols}, dst, KernelBytes(type, rows, cols)));
  return ref::MatRef{type, nullptr, rows, cols, dst};  // the kernels read the packed copy only
}

StatusOr<Matrices> MakeMatrices(WeightType type, std::span<const Shape> shapes) {
  auto size_of = [&](const Shape& s) { return (KernelBytes(type, s.rows, s.cols) + 63) / 64 * 64; };
  Matrices m;
  for (const Shape& s : shapes) m.bytes += size_of(s);
  ASSIGN_OR_RETURN(m.arena, cpu::AlignedBuffer::Allocate(m.bytes));
  uint64_t offset = 0;
  for (const Shape& s : shapes) {
    ASSIGN_OR_RETURN(ref::MatRef mat, MakeMatrix(type, s.rows, s.cols, m.arena.data() + offset));
    m.mats.push_back(mat);
    offset += size_of(s);
  }
  return m;
}

}  // namespace tandem::kernels::bench

// Block-quantized weights without a kernel of their own here (Q4_1, Q5_0, Q5_1, Q5_K, and Q4_K /
// Q6_K where the CPU has no AVX-512 VNNI): rows widened to f32 a tile at a time by the reference
// dequantizer, then the f32 FMA tiles.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/matmul_dequantized.cc"
#include "kernels/cpu/hwy_config.h"
// clang-format off
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format on
#include "hwy/highway.h"
#include "kernels/cpu/gemm-inl.h"
#include "kernels/ref/quant.h"

HWY_BEFORE_NAMESPACE();
namespace tandem::kernels::cpu::HWY_NAMESPACE {

void GemmDequantizedImpl(const internal::GemmArgs& a) {
  GemmDequantized(a, [type = a.type](const uint8_t* row, float* out, int64_t n) {
    (void)ref::DequantizeRow(type, row, out, n);  // type and size checked by MatMul
  });
}

}  // namespace tandem::kernels::cpu::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace tandem::kernels::cpu {
HWY_EXPORT(GemmDequantizedImpl);
namespace internal {
void GemmDequantizedRows(const GemmArgs& a) { HWY_DYNAMIC_DISPATCH(GemmDequantizedImpl)(a); }
}  // namespace internal
}  // namespace tandem::kernels::cpu
#endif  // HWY_ONCE

// Q4_K weights, portable path: rows dequantized a tile at a time, then FMA tiles. (x86 with
// AVX-512 VNNI uses matmul_int8_avx512.cc instead where it has a kernel for the type.)
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/matmul_q4_k.cc"
#include "kernels/cpu/hwy_config.h"
// clang-format off
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format on
#include "hwy/highway.h"
#include "kernels/cpu/gemm-inl.h"
#include "kernels/ref/quant.h"

HWY_BEFORE_NAMESPACE();
namespace tandem::kernels::cpu::HWY_NAMESPACE {

void GemmQ4_KImpl(const internal::GemmArgs& a) {
  GemmDequantized(a, [](const uint8_t* row, float* out, int64_t n) {
    (void)ref::DequantizeRow(WeightType::kQ4_K, row, out, n);  // type and size checked by MatMul
  });
}

}  // namespace tandem::kernels::cpu::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace tandem::kernels::cpu {
HWY_EXPORT(GemmQ4_KImpl);
namespace internal {
void GemmQ4_K(const GemmArgs& a) { HWY_DYNAMIC_DISPATCH(GemmQ4_KImpl)(a); }
}  // namespace internal
}  // namespace tandem::kernels::cpu
#endif  // HWY_ONCE

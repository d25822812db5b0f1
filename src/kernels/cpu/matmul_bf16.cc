// BF16 weights: portable FMA tiles reading the weights in place.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/matmul_bf16.cc"
#include "kernels/cpu/hwy_config.h"
// clang-format off
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format on
#include "hwy/highway.h"
#include "kernels/cpu/gemm-inl.h"

HWY_BEFORE_NAMESPACE();
namespace tandem::kernels::cpu::HWY_NAMESPACE {

void GemmBF16Impl(const internal::GemmArgs& a) { GemmDirect<BF16W>(a); }

}  // namespace tandem::kernels::cpu::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace tandem::kernels::cpu {
HWY_EXPORT(GemmBF16Impl);
namespace internal {
void GemmBF16(const GemmArgs& a) { HWY_DYNAMIC_DISPATCH(GemmBF16Impl)(a); }
}  // namespace internal
}  // namespace tandem::kernels::cpu
#endif  // HWY_ONCE

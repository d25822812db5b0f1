// F16 weights: portable FMA tiles reading the weights in place.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/matmul_f16.cc"
#include "kernels/cpu/hwy_config.h"
// clang-format off
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format on
#include "hwy/highway.h"
#include "kernels/cpu/gemm-inl.h"

HWY_BEFORE_NAMESPACE();
namespace tandem::kernels::cpu::HWY_NAMESPACE {

void GemmF16Impl(const internal::GemmArgs& a) { GemmDirect<F16W>(a); }

}  // namespace tandem::kernels::cpu::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace tandem::kernels::cpu {
HWY_EXPORT(GemmF16Impl);
namespace internal {
void GemmF16(const GemmArgs& a) { HWY_DYNAMIC_DISPATCH(GemmF16Impl)(a); }
}  // namespace internal
}  // namespace tandem::kernels::cpu
#endif  // HWY_ONCE

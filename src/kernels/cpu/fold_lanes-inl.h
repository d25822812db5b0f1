// Folding kN vectors of kN lanes each into one vector whose lane u reduces the lanes of the u-th,
// for the Highway kernels. Included after hwy/foreach_target.h; re-included per target.
#if defined(TANDEM_KERNELS_CPU_FOLD_LANES_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef TANDEM_KERNELS_CPU_FOLD_LANES_INL_H_
#undef TANDEM_KERNELS_CPU_FOLD_LANES_INL_H_
#else
#define TANDEM_KERNELS_CPU_FOLD_LANES_INL_H_
#endif

#include <cstddef>

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace tandem::kernels::cpu::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

#if HWY_TARGET != HWY_SCALAR
// Lane u of the result = op over the lanes of v[u], for kN = lanes vectors v: pairs of vectors
// fold into one by combining their even and odd lanes, log2(kN) times: 3 (kN - 1) operations for
// kN reductions, where a horizontal reduction per vector costs about 2 log2(kN), each waiting on
// the one before. A level per recursion, so that every level is unrolled (a loop halving its
// count kept the vectors in memory).
template <size_t kN, class D, class V, class Op>
HWY_INLINE V FoldLanes(D d, const V (&v)[kN], Op op) {
  if constexpr (kN == 1) {
    return v[0];
  } else {
    V half[kN / 2];
#pragma GCC unroll 16
    for (size_t i = 0; i < kN / 2; ++i) {
      half[i] =
          op(hn::ConcatEven(d, v[2 * i + 1], v[2 * i]), hn::ConcatOdd(d, v[2 * i + 1], v[2 * i]));
    }
    return FoldLanes(d, half, op);
  }
}
#endif

}  // namespace tandem::kernels::cpu::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // TANDEM_KERNELS_CPU_FOLD_LANES_INL_H_ toggle

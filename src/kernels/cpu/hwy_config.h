// Included before any Highway header by every kernels/cpu translation unit, so all agree on the
// compiled targets. SVE targets are left out: the kernels keep small arrays of vectors, which
// sizeless SVE types do not allow; aarch64 gets NEON.
#pragma once

#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS (HWY_SVE | HWY_SVE2 | HWY_SVE_256 | HWY_SVE2_128)
#endif

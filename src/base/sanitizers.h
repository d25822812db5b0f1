// Whether this build runs under a sanitizer. Timing bounds in tests (emulated devices, paced
// profiles, the demo's speedups) need an optimised build: sanitizers slow the host below the
// emulated devices, so those bounds are skipped when this is true.
#pragma once

namespace tandem::base {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif

}  // namespace tandem::base

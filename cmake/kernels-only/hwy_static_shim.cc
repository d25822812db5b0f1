// The few libhwy symbols the kernels and their tests use, for a build with one static Highway
// target (HWY_COMPILE_ONLY_STATIC: NEON on aarch64) and no libhwy: Debian ships no static
// libhwy.a, and the qemu-user here cannot run dynamically linked threaded aarch64 binaries.
#include <cstdarg>
#include <cstdio>
#include <cstdlib>

#include "hwy/base.h"
#include "hwy/targets.h"

namespace hwy {

HWY_NORETURN void HWY_FORMAT(3, 4) Abort(const char* file, int line, const char* format, ...) {
  va_list args;
  va_start(args, format);
  std::fprintf(stderr, "Abort at %s:%d: ", file, line);
  std::vfprintf(stderr, format, args);
  va_end(args);
  std::fputc('\n', stderr);
  std::abort();
}

int64_t SupportedTargets() { return HWY_STATIC_TARGET; }
void DisableTargets(int64_t) {}
void SetSupportedTargetsForTest(int64_t) {}
ChosenTarget& GetChosenTarget() {
  static ChosenTarget chosen;
  return chosen;
}

}  // namespace hwy

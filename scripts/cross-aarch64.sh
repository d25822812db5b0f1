#!/usr/bin/env bash
# Cross-builds the kernels and their tests for aarch64 (NEON through Highway) and runs the tests
# under qemu-user. Needs (Debian 12): g++-aarch64-linux-gnu qemu-user libhwy-dev (headers), and
# the arm64 GoogleTest through multiarch:
#   dpkg --add-architecture arm64 && apt-get update && apt-get install libgtest-dev:arm64
# The tests are linked statically with Highway from headers only (one static NEON target, no
# runtime dispatch on arm): see cmake/kernels-only/CMakeLists.txt for why.
# Usage: scripts/cross-aarch64.sh [build-dir]   (default build/aarch64). ~35 s here.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build/aarch64}"
for tool in aarch64-linux-gnu-g++ qemu-aarch64; do
  command -v "$tool" >/dev/null || { echo "error: $tool missing (apt-get install g++-aarch64-linux-gnu qemu-user)" >&2; exit 1; }
done
if [ ! -e /usr/include/hwy/highway.h ] || [ ! -e /usr/lib/aarch64-linux-gnu/libgtest.a ]; then
  echo "error: Highway headers or arm64 GoogleTest missing (HINT: apt-get install libhwy-dev;" \
       "dpkg --add-architecture arm64; apt-get update; apt-get install libgtest-dev:arm64)" >&2
  exit 1
fi
start=$(date +%s)
cmake -S "$root/cmake/kernels-only" -B "$build" -G Ninja \
  -DCMAKE_TOOLCHAIN_FILE="$root/cmake/aarch64.cmake" -DCMAKE_BUILD_TYPE=Release
cmake --build "$build" -j1
built=$(date +%s)
# qemu-user emulates one aarch64 CPU with NEON (and no SVE: those targets are compiled out).
QEMU_LD_PREFIX=/usr/aarch64-linux-gnu qemu-aarch64 -L /usr/aarch64-linux-gnu "$build/kernels_tests"
echo "aarch64: build $((built - start)) s, tests under qemu $(( $(date +%s) - built )) s"

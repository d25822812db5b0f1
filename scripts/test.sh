#!/usr/bin/env bash
# Builds a preset (default: dev) and runs every test. Usage: scripts/test.sh [dev|asan|release]
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-dev}"
cmake --preset "$preset" >/dev/null
cmake --build "build/$preset" -j2
ctest --test-dir "build/$preset" --output-on-failure -j2 --timeout 900

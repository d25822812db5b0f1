#!/usr/bin/env bash
# Installs the Debian 12 packages Tandem builds and tests with. Idempotent; needs root (or sudo).
set -euo pipefail
PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git clang-format
  libpcre2-dev nlohmann-json3-dev libcli11-dev libspdlog-dev libfmt-dev
  libasio-dev libcpp-httplib-dev libhwy-dev
  libssl-dev libxxhash-dev
  libgtest-dev libgmock-dev libbenchmark-dev
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

#!/usr/bin/env bash
# Installs what scripts/cross-aarch64.sh needs on Debian 12: the aarch64 cross compiler, qemu-user
# and the arm64 GoogleTest (multiarch). Idempotent; needs root (or sudo).
set -euo pipefail
SUDO=""
[[ $(id -u) -eq 0 ]] || SUDO=sudo
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
if have g++-aarch64-linux-gnu && have qemu-user && have libgtest-dev:arm64; then exit 0; fi
if ! dpkg --print-foreign-architectures | grep -qx arm64; then $SUDO dpkg --add-architecture arm64; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
  g++-aarch64-linux-gnu qemu-user libgtest-dev:arm64

#!/usr/bin/env bash
# Sets up a Debian 12 machine for attn-mlir and builds it: installs the
# packages the build and the tests need (only those missing), configures
# build/ with clang-22 + lld + Ninja against LLVM/MLIR 22, and builds.
# Idempotent: a second run installs nothing and rebuilds only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  cmake ninja-build             # build system
  clang-22 lld-22               # compiler and linker
  llvm-22-dev libmlir-22-dev    # LLVM and MLIR headers, libMLIR.so, CMake files
  mlir-22-tools                 # mlir-tblgen; stock mlir-opt for the plugin test
  python3-numpy                 # the float64 reference (python/attn)
  python3-pytest                # the Python front end tests (python/tests)
  llvm-22-tools                 # lit, FileCheck, not
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
    --no-install-recommends "${missing[@]}"
fi

if [ ! -f build/build.ninja ]; then
  cmake -G Ninja -S . -B build \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
    -DLLVM_USE_LINKER=lld \
    -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir
fi
cmake --build build

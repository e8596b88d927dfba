#!/usr/bin/env bash
# Configures and builds build-san/: every attn library and tool with
# AddressSanitizer + UndefinedBehaviorSanitizer (errors are fatal), plus the
# libFuzzer targets (tools/attn-fuzz) with coverage instrumentation of our
# code. Upstream libMLIR.so stays uninstrumented; the sanitizer runtime is
# a shared library (-shared-libsan), so that our shared libraries (attnrt,
# the C API, the plugin) link with -z defs. Then:
#   ASAN_OPTIONS=detect_leaks=0:allow_user_poisoning=0 \
#   LD_PRELOAD=$(clang-22 -print-file-name=libclang_rt.asan-x86_64.so) \
#     ninja -C build-san check-attn           # the suite under the sanitizers
# LD_PRELOAD puts the ASan runtime into the processes that load our
# instrumented libraries without being instrumented themselves (Python,
# mlir-runner). allow_user_poisoning=0: LLVM's BumpPtrAllocator is inlined
# into our (instrumented) code and poisons the context's slabs, which the
# uninstrumented libMLIR.so then uses without unpoisoning — false reports.
# Leak checking is off: MLIR contexts and pass registries live until exit.
#   bash tools/attn-fuzz/run.sh 600           # each fuzzer for 600 s
set -euo pipefail
cd "$(dirname "$0")/.."
bash cmake/setup.sh >/dev/null  # packages (and the normal build)
# The sanitizer and libFuzzer runtimes.
if ! dpkg-query -W -f='${Status}' libclang-rt-22-dev 2>/dev/null |
    grep -q "install ok installed"; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
    --no-install-recommends libclang-rt-22-dev
fi
flags="-fsanitize=address,undefined,fuzzer-no-link -fno-sanitize=vptr"
flags+=" -fno-sanitize-recover=all -fno-omit-frame-pointer -g1"
if [ ! -f build-san/build.ninja ]; then
  cmake -G Ninja -S . -B build-san \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
    -DLLVM_USE_LINKER=lld \
    -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
    -DCMAKE_EXE_LINKER_FLAGS=-shared-libsan \
    -DCMAKE_SHARED_LINKER_FLAGS=-shared-libsan \
    -DCMAKE_MODULE_LINKER_FLAGS=-shared-libsan \
    -DATTN_ENABLE_FUZZERS=ON \
    -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir
fi
cmake --build build-san

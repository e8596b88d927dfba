#!/usr/bin/env bash
# Runs each libFuzzer target of build-san/ (cmake/sanitizer-build.sh) for
# SECONDS (default 300) on 2 jobs, seeded from the test files; corpora grow
# in build-san/fuzz/<target>/ and crashes land in build-san/fuzz/crashes/.
# Every crash found becomes a regression test (see docs/testing.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-300}
root=build-san/fuzz
mkdir -p "$root/crashes" "$root/seeds-mlir" "$root/seeds-runtime"
# Seeds: the test and example specs; manifests followed by a NUL and bytes.
find test examples -name '*.mlir' -size -64k | while read -r f; do
  cp "$f" "$root/seeds-mlir/$(echo "$f" | tr / _)"
done
build/bin/attn-translate --emit=gpu-manifest test/Target/GPU/Inputs/gpu-specs.mlir \
  -o "$root/seeds-runtime/gpu-specs.manifest"
printf '\0\1\2\3\4\5\6\7' >> "$root/seeds-runtime/gpu-specs.manifest"
build/bin/attn-translate --emit=gpu-manifest test/Runtime/Inputs/dsa-program.mlir \
  -o "$root/seeds-runtime/dsa-program.manifest"
printf '\0\1\2\3\4\5\6\7' >> "$root/seeds-runtime/dsa-program.manifest"
build/bin/attn-translate --emit=gpu-manifest test/Runtime/Inputs/routed-program.mlir \
  -o "$root/seeds-runtime/routed-program.manifest"
printf '\0\1\2\3\4\5\6\7' >> "$root/seeds-runtime/routed-program.manifest"
# The sanitizer runtime is shared (-shared-libsan); see
# cmake/sanitizer-build.sh for the ASan options.
export LD_PRELOAD="$(clang-22 -print-file-name=libclang_rt.asan-x86_64.so)"
export ASAN_OPTIONS=detect_leaks=0:allow_user_poisoning=0
build-san/bin/attn-fuzz-parse -runs=0 >/dev/null 2>&1 ||
  { echo "run.sh: build-san/bin/attn-fuzz-parse does not start" >&2; exit 1; }
for target in attn-fuzz-parse attn-fuzz-pipeline attn-fuzz-runtime; do
  seeds=$root/seeds-mlir
  [ "$target" = attn-fuzz-runtime ] && seeds=$root/seeds-runtime
  # The whole CPU pipeline on a 10 KB spec file takes 0.5-2 s in the
  # release build and 20-40 s under ASan with coverage: not a hang.
  timeout=30
  [ "$target" = attn-fuzz-pipeline ] && timeout=120
  mkdir -p "$root/$target"
  echo "== $target ($seconds s)"
  build-san/bin/$target "$root/$target" "$seeds" -max_total_time="$seconds" \
    -max_len=65536 -timeout="$timeout" -rss_limit_mb=6000 -artifact_prefix="$root/crashes/$target-" \
    -print_final_stats=1 2>&1 | grep -E "^(#|stat::|==|SUMMARY|Done)" | tail -8 || true
done
ls "$root/crashes"

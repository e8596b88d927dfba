// RUN: attn-opt %s --attn-cpu-pipeline="q-tile=32 k-tile=32" | FileCheck %s
// RUN: attn-opt %s --attn-cpu-pipeline | attn-translate --mlir-to-llvmir | FileCheck %s --check-prefix=LLVMIR
// RUN: not attn-opt %s --attn-cpu-pipeline="q-tile=0" 2>&1 | FileCheck %s --check-prefix=BADTILE

// The named pipeline takes a spec to the LLVM dialect.
// CHECK-LABEL: llvm.func @spec
// CHECK-NOT: attn.
// CHECK-NOT: scf.
// CHECK-NOT: memref.
// LLVMIR: define { ptr, ptr, i64, [4 x i64], [4 x i64] } @spec(
// BADTILE: expected positive tile sizes, got q-tile=0 and k-tile=64

func.func @spec(%q: tensor<1x4x128x32xf16>, %w: index) -> tensor<1x4x128x32xf32> {
  %o = attn.attention %q, %q, %q mask(#attn.or<#attn.window<left = ?>, #attn.key_prefix<len = 4>>, %w : index) score([#attn.softcap<cap = 30.0>]) : tensor<1x4x128x32xf16>, tensor<1x4x128x32xf16>, tensor<1x4x128x32xf16> -> tensor<1x4x128x32xf32>
  return %o : tensor<1x4x128x32xf32>
}

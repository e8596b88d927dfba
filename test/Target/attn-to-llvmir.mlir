// RUN: attn-translate --attn-to-llvmir %s -split-input-file -verify-diagnostics | FileCheck %s

// Lowered input translates to LLVM IR.
// CHECK-LABEL: define float @scale
// CHECK: fmul float
llvm.func @scale(%x: f32) -> f32 {
  %c = llvm.mlir.constant(0.125 : f32) : f32
  %y = llvm.fmul %x, %c : f32
  llvm.return %y : f32
}

// -----

// attn ops must be lowered first: a located error, not an unknown dialect.
func.func @spec(%q: tensor<1x1x8x8xf32>) -> tensor<1x1x8x8xf32> {
  // expected-error @+1 {{expected attn ops to be lowered before translation to LLVM IR}}
  %o = attn.attention %q, %q, %q : tensor<1x1x8x8xf32>, tensor<1x1x8x8xf32>, tensor<1x1x8x8xf32> -> tensor<1x1x8x8xf32>
  return %o : tensor<1x1x8x8xf32>
}

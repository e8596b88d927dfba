// RUN: attn-opt %s -attn-approximate-math | FileCheck %s

// exp and tanh on f32 vectors and scalars become arith only; log (used once
// per row for LSE) is left to libm.
// CHECK-LABEL: func @exp_vector
// CHECK-NOT: math.exp
// CHECK: arith.mulf {{.*}} : vector<16xf32>
// CHECK: arith.bitcast {{.*}} : vector<16xi32> to vector<16xf32>
func.func @exp_vector(%x: vector<16xf32>) -> vector<16xf32> {
  %e = math.exp %x : vector<16xf32>
  return %e : vector<16xf32>
}

// CHECK-LABEL: func @scalars
// CHECK-NOT: math.exp
// CHECK-NOT: math.tanh
// CHECK: math.log
func.func @scalars(%x: f32) -> (f32, f32, f32) {
  %e = math.exp %x : f32
  %t = math.tanh %x : f32
  %l = math.log %x : f32
  return %e, %t, %l : f32, f32, f32
}

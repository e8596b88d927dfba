// RUN: attn-opt %s -attn-approximate-math | FileCheck %s

// exp and tanh on f32 vectors and scalars become arith (and math.fma,
// math.roundeven) only; log (used once per row for LSE) is left to libm.
// exp: round(x / ln 2), the Cody-Waite reduction, a degree-6 polynomial,
// 2^n from exponent bits in two halves, and 0 below the normal range.
// CHECK-LABEL: func @exp_vector
// CHECK-NOT: math.exp
// CHECK: arith.minimumf {{.*}} : vector<16xf32>
// CHECK: math.roundeven {{.*}} : vector<16xf32>
// CHECK-COUNT-8: math.fma {{.*}} : vector<16xf32>
// CHECK: arith.fptosi {{.*}} : vector<16xf32> to vector<16xi32>
// CHECK: arith.shrsi
// CHECK: arith.bitcast {{.*}} : vector<16xi32> to vector<16xf32>
// CHECK: arith.cmpf olt
// CHECK: arith.select
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

// RUN: attn-opt %s -attn-approximate-math | FileCheck %s
// RUN: attn-opt %s -attn-approximate-math=nvvm | FileCheck %s --check-prefix=NVVM

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

// With nvvm (GPU kernels): the special-function unit through NVVM
// intrinsics, and no math op that the GPU conversion would turn into a
// libdevice call (roundeven by 1.5 * 2^23, absf by the sign bit).
// NVVM-LABEL: func @exp_vector
// NVVM-NOT: math.roundeven
// NVVM: arith.constant dense<0x4B400000> : vector<16xf32>
// NVVM-LABEL: func @scalars
// NVVM-NOT: math.log
// NVVM: %[[LG:.*]] = llvm.call_intrinsic "llvm.nvvm.lg2.approx.f"(%{{.*}}) : (f32) -> f32
// NVVM: arith.mulf %[[LG]], %{{.*}} : f32
// NVVM-LABEL: func @gpu_math
// NVVM-NOT: math.
// NVVM: arith.constant dense<2147483647> : vector<2xi32>
// NVVM: arith.andi
// NVVM-COUNT-2: llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f32"
// NVVM: llvm.call_intrinsic "llvm.nvvm.rsqrt.approx.f"
// NVVM: llvm.call_intrinsic "llvm.nvvm.lg2.approx.f"
// NVVM: llvm.call_intrinsic "llvm.nvvm.ex2.approx.f32"
// NVVM: llvm.call_intrinsic "llvm.nvvm.div.approx.f"
// NVVM: arith.ori
// NVVM-NOT: math.
// CHECK-LABEL: func @gpu_math
// CHECK: math.exp2
// CHECK: math.rsqrt
func.func @gpu_math(%v: vector<2xf32>, %x: f32) -> (vector<2xf32>, vector<2xf32>, f32, f32, f32) {
  %a = math.absf %v : vector<2xf32>
  %e = math.exp2 %v : vector<2xf32>
  %r = math.rsqrt %x : f32
  %l = math.log2 %x : f32
  %t = math.tanh %x : f32
  return %a, %e, %r, %l, %t : vector<2xf32>, vector<2xf32>, f32, f32, f32
}

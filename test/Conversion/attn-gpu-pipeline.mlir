// RUN: attn-opt %s -attn-gpu-pipeline="chip=sm_90a format=isa" | FileCheck %s
// RUN: attn-opt %s -attn-gpu-pipeline="chip=sm_80 format=llvm" | FileCheck %s --check-prefix=NVVM
// RUN: not attn-opt %s -attn-gpu-pipeline="block-size=48 mma=false" 2>&1 | FileCheck %s --check-prefix=BLOCK
// RUN: not attn-opt %s -attn-gpu-pipeline="chip=sm_80 mma-k-tile=128" 2>&1 | FileCheck %s --check-prefix=KTILE
// RUN: not attn-opt %s -attn-gpu-pipeline="mma-q-tile=96" 2>&1 | FileCheck %s --check-prefix=QTILE

// Spec in, a gpu.binary with the PTX out (the instructions are checked in
// test/Target/GPU/emit-ptx.test); dynamic shared memory is an .extern
// array; sm_90a gets warpgroup MMAs, sm_80 the m16n8k16 body.
// CHECK: gpu.binary @attn_kernels
// CHECK-SAME: #nvvm.target<O = 3, chip = "sm_90a">
// CHECK-SAME: .target sm_90a
// CHECK-SAME: .extern .shared .align 1024 .b8 __dynamic_shmem__0[];
// CHECK-SAME: .entry causal(
// CHECK-SAME: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16

// NVVM: gpu.module @attn_kernels [#nvvm.target<O = 3, chip = "sm_80">]
// NVVM: llvm.mlir.global external @__dynamic_shmem__0
// NVVM: llvm.func @causal({{.*}}) attributes {{{.*}}gpu.kernel{{.*}}nvvm.kernel
// NVVM-NOT: nvgpu.
// NVVM-NOT: scf.
// NVVM: nvvm.mma.sync

// BLOCK: error: expected block-size to be a multiple of 32 in [32, 1024], got 48
// 128-key tiles need warpgroup MMAs (sm_90a).
// KTILE: error: expected mma-k-tile to be 0, 64 or (with wgmma) 128, got 128
// QTILE: error: expected mma-q-tile to be 0, 64 or 128, got 96
func.func @causal(%q: tensor<1x2x200x64xbf16>, %k: tensor<1x1x300x64xbf16>,
                  %v: tensor<1x1x300x64xbf16>) -> tensor<1x2x200x64xbf16> {
  %o = attn.attention %q, %k, %v mask(#attn.causal)
      : tensor<1x2x200x64xbf16>, tensor<1x1x300x64xbf16>, tensor<1x1x300x64xbf16>
      -> tensor<1x2x200x64xbf16>
  return %o : tensor<1x2x200x64xbf16>
}

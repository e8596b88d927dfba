// RUN: attn-opt %s -attn-extern-shared-memory | FileCheck %s

// The zero-sized shared-memory global of gpu.dynamic_shared_memory becomes
// external (PTX `.extern .shared ... []`), aligned to the 1024-byte period
// of 128-byte swizzling; other globals keep their linkage.
// CHECK: llvm.mlir.global external @__dynamic_shmem__0() {addr_space = 3 : i32, alignment = 1024 : i64} : !llvm.array<0 x i8>
// CHECK: llvm.mlir.global internal @static_shared() {addr_space = 3 : i32} : !llvm.array<4 x i8>
// CHECK: llvm.mlir.global internal @global_zero() {addr_space = 1 : i32} : !llvm.array<0 x i8>
gpu.module @kernels {
  llvm.mlir.global internal @__dynamic_shmem__0() {addr_space = 3 : i32, alignment = 16 : i64} : !llvm.array<0 x i8>
  llvm.mlir.global internal @static_shared() {addr_space = 3 : i32} : !llvm.array<4 x i8>
  llvm.mlir.global internal @global_zero() {addr_space = 1 : i32} : !llvm.array<0 x i8>
}

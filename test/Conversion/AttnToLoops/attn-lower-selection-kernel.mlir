// RUN: attn-opt %s -attn-lower-selection=kernel-abi=true -canonicalize | FileCheck %s

// With kernel-abi, a function whose one op is a selection on its arguments
// returning its results (a program's step) becomes a host kernel: inputs
// as buffers, one output buffer per result, then thread and threads; the
// op's rows are dealt out to the threads (row r on thread r mod T) and its
// results are written to the output buffers.

// CHECK-LABEL: func.func @head_step(
// CHECK-SAME: %[[LOGITS:.*]]: memref<2x5x4xf32>, %[[KEEP:.*]]: memref<2x4x5xi1>, %[[W:.*]]: memref<2x5x4xf32>, %[[T:.*]]: i64, %[[NT:.*]]: i64)
// CHECK-SAME: attributes {attn.kernel, llvm.emit_c_interface}
// CHECK-DAG: %[[THREAD:.*]] = arith.index_cast %[[T]] : i64 to index
// CHECK-DAG: %[[THREADS:.*]] = arith.index_cast %[[NT]] : i64 to index
// CHECK: scf.for %[[R:.*]] = %[[THREAD]] to %{{.*}} step %[[THREADS]] {
// CHECK: memref.store %{{.*}}, %[[KEEP]]
// CHECK: memref.store %{{.*}}, %[[W]]
// CHECK: return
// CHECK-NOT: memref.alloc()
func.func @head_step(%logits: tensor<2x5x4xf32>) -> (tensor<2x4x5xi1>, tensor<2x5x4xf32>) {
  %keep, %w = attn.head_topk %logits k = 2 : tensor<2x5x4xf32> -> tensor<2x4x5xi1>, tensor<2x5x4xf32>
  return %keep, %w : tensor<2x4x5xi1>, tensor<2x5x4xf32>
}

// Pooling: the threads split the outermost dimension.
// CHECK-LABEL: func.func @pool_step(
// CHECK-SAME: %{{.*}}: memref<2x9x8xf32>, %[[OUT:.*]]: memref<2x3x8xf32>, %[[T:.*]]: i64, %[[NT:.*]]: i64)
// CHECK-DAG: %[[THREAD:.*]] = arith.index_cast %[[T]] : i64 to index
// CHECK-DAG: %[[THREADS:.*]] = arith.index_cast %[[NT]] : i64 to index
// CHECK: scf.for %{{.*}} = %[[THREAD]] to %{{.*}} step %[[THREADS]] {
// CHECK: arith.maximumf
// CHECK: memref.store %{{.*}}, %[[OUT]]
func.func @pool_step(%x: tensor<2x9x8xf32>) -> tensor<2x3x8xf32> {
  %p = attn.pool %x dim = 1 block = 4 kind = max : tensor<2x9x8xf32> -> tensor<2x3x8xf32>
  return %p : tensor<2x3x8xf32>
}

// An attention's top-k step (only its top-k results returned): a kernel of
// the top-k loops, the attention itself gone.
// CHECK-LABEL: func.func @topk_step(
// CHECK-SAME: memref<1x2x8x16xf32>, %{{.*}}: memref<1x2x8x16xf32>, %{{.*}}: memref<1x2x8x16xf32>, %{{.*}}: memref<1x2x8xi32>, %{{.*}}: memref<1x2x8x3xi32>, %{{.*}}: i64, %{{.*}}: i64)
// CHECK-NOT: attn.attention
// CHECK: return
func.func @topk_step(%q: tensor<1x2x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>) -> (tensor<1x2x8xi32>, tensor<1x2x8x3xi32>) {
  %o, %c, %i = attn.attention %q, %k, %v mask(#attn.causal) : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32> -> tensor<1x2x8x16xf32>, topk tensor<1x2x8xi32>, tensor<1x2x8x3xi32>
  return %c, %i : tensor<1x2x8xi32>, tensor<1x2x8x3xi32>
}

// Not a step (a result left out): lowered at tensor level as without
// kernel-abi.
// CHECK-LABEL: func.func @not_a_step(
// CHECK-SAME: tensor<2x5x4xf32>) -> tensor<2x5x4xf32>
// CHECK: memref.alloc
// CHECK: bufferization.to_tensor
func.func @not_a_step(%logits: tensor<2x5x4xf32>) -> tensor<2x5x4xf32> {
  %keep, %w = attn.head_topk %logits k = 2 : tensor<2x5x4xf32> -> tensor<2x4x5xi1>, tensor<2x5x4xf32>
  return %w : tensor<2x5x4xf32>
}

// The indexer on the host: the batch's keys transposed to f32 [Di][Sk]
// once (per thread), then per row the keys up to the hull 64 lanes at a
// time (each lane the scalar form's sums, in its order), the mask tested
// only on lanes of blocks the closed form cannot decide, and the last keys
// in the scalar form.
// CHECK-LABEL: func.func @indexer_step(
// CHECK: %[[KT:.*]] = memref.alloc() : memref<3200xf32>
// CHECK: arith.extf %{{.*}} : bf16 to f32
// CHECK: memref.store %{{.*}}, %[[KT]]
// CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %c64 {
// CHECK: vector.broadcast %{{.*}} : f32 to vector<64xf32>
// CHECK: vector.load %[[KT]][%{{.*}}] : memref<3200xf32>, vector<64xf32>
// CHECK: arith.mulf %{{.*}} : vector<64xf32>
// CHECK: arith.maximumf %{{.*}} : vector<64xf32>
// CHECK: vector.store %{{.*}} : memref<200xi32>, vector<64xi32>
func.func @indexer_step(%qi: tensor<1x200x2x16xbf16>, %ki: tensor<1x200x16xbf16>, %w: tensor<1x200x2xf32>) -> (tensor<1x1x200xi32>, tensor<1x1x200x8xi32>) {
  %c, %i = attn.indexer_topk %qi, %ki, %w k = 8 mask(#attn.causal) : tensor<1x200x2x16xbf16>, tensor<1x200x16xbf16>, tensor<1x200x2xf32> -> tensor<1x1x200xi32>, tensor<1x1x200x8xi32>
  return %c, %i : tensor<1x1x200xi32>, tensor<1x1x200x8xi32>
}

// RUN: attn-opt %s | attn-opt | FileCheck %s
// RUN: attn-opt %s --mlir-print-op-generic | attn-opt | FileCheck %s

// Round trips of content-based selection (D1-D7), mixture of heads and
// value-derived masks (G2, G4), and hybrid heads and layers (H1-H4). Index
// sets are plain tensors: sharing one between heads (H2) or layers (H3) is
// SSA use.

// D1: DeepSeek-style indexer top-k, attention over the selected keys only.
// CHECK-LABEL: func @d1_indexer_topk
// CHECK: %[[C:.*]], %[[I:.*]] = attn.indexer_topk %{{.*}}, %{{.*}}, %{{.*}} k = 64 mask(#attn.causal) : tensor<1x256x4x32xbf16>, tensor<1x256x32xbf16>, tensor<1x256x4xf32> -> tensor<1x1x256xi32>, tensor<1x1x256x64xi32>
// CHECK: attn.attention %{{.*}}, %{{.*}}, %{{.*}} mask(#attn.and<#attn.causal, #attn.tokens>, %[[C]], %[[I]] : tensor<1x1x256xi32>, tensor<1x1x256x64xi32>)
func.func @d1_indexer_topk(%q: tensor<1x8x256x64xbf16>, %k: tensor<1x1x256x64xbf16>, %v: tensor<1x1x256x64xbf16>, %qi: tensor<1x256x4x32xbf16>, %ki: tensor<1x256x32xbf16>, %w: tensor<1x256x4xf32>) -> tensor<1x8x256x64xbf16> {
  %c, %i = attn.indexer_topk %qi, %ki, %w k = 64 mask(#attn.causal) : tensor<1x256x4x32xbf16>, tensor<1x256x32xbf16>, tensor<1x256x4xf32> -> tensor<1x1x256xi32>, tensor<1x1x256x64xi32>
  %o = attn.attention %q, %k, %v mask(#attn.and<#attn.causal, #attn.tokens>, %c, %i : tensor<1x1x256xi32>, tensor<1x1x256x64xi32>) : tensor<1x8x256x64xbf16>, tensor<1x1x256x64xbf16>, tensor<1x1x256x64xbf16> -> tensor<1x8x256x64xbf16>
  return %o : tensor<1x8x256x64xbf16>
}

// D2: hierarchical indexer: top-4 key blocks of 32 from pooled indexer keys,
// then top-64 tokens inside the kept blocks.
// CHECK-LABEL: func @d2_hierarchical
// CHECK: attn.pool %{{.*}} dim = 1 block = 32 kind = mean : tensor<1x256x32xbf16> -> tensor<1x8x32xbf16>
// CHECK: attn.indexer_topk %{{.*}}, %{{.*}}, %{{.*}} k = 4 mask(#attn.causal) {key_block = 32 : i64}
// CHECK: attn.indexer_topk %{{.*}}, %{{.*}}, %{{.*}} k = 64 within(%{{.*}}, %{{.*}} : tensor<1x1x256xi32>, tensor<1x1x256x4xi32>) mask(#attn.causal) {block_size = 32 : i64}
func.func @d2_hierarchical(%q: tensor<1x8x256x64xbf16>, %k: tensor<1x1x256x64xbf16>, %v: tensor<1x1x256x64xbf16>, %qi: tensor<1x256x4x32xbf16>, %ki: tensor<1x256x32xbf16>, %w: tensor<1x256x4xf32>) -> tensor<1x8x256x64xbf16> {
  %kp = attn.pool %ki dim = 1 block = 32 kind = mean : tensor<1x256x32xbf16> -> tensor<1x8x32xbf16>
  %bc, %bi = attn.indexer_topk %qi, %kp, %w k = 4 mask(#attn.causal) {key_block = 32 : i64} : tensor<1x256x4x32xbf16>, tensor<1x8x32xbf16>, tensor<1x256x4xf32> -> tensor<1x1x256xi32>, tensor<1x1x256x4xi32>
  %c, %i = attn.indexer_topk %qi, %ki, %w k = 64 within(%bc, %bi : tensor<1x1x256xi32>, tensor<1x1x256x4xi32>) mask(#attn.causal) {block_size = 32 : i64} : tensor<1x256x4x32xbf16>, tensor<1x256x32xbf16>, tensor<1x256x4xf32> -> tensor<1x1x256xi32>, tensor<1x1x256x64xi32>
  %o = attn.attention %q, %k, %v mask(#attn.and<#attn.causal, #attn.tokens>, %c, %i : tensor<1x1x256xi32>, tensor<1x1x256x64xi32>) : tensor<1x8x256x64xbf16>, tensor<1x1x256x64xbf16>, tensor<1x1x256x64xbf16> -> tensor<1x8x256x64xbf16>
  return %o : tensor<1x8x256x64xbf16>
}

// D3: block routing, top-2 of 64-token blocks plus the local block.
// CHECK-LABEL: func @d3_block_topk
// CHECK: attn.block_topk %{{.*}}, %{{.*}} blocks(64, 64) k = 2 pool = mean mask(#attn.causal) {include_local}
// CHECK: mask(#attn.and<#attn.causal, #attn.blocks<q_block = 64, k_block = 64>>, %{{.*}}, %{{.*}} : tensor<1x8x4xi32>, tensor<1x8x4x2xi32>)
func.func @d3_block_topk(%q: tensor<1x8x256x64xbf16>, %k: tensor<1x2x256x64xbf16>, %v: tensor<1x2x256x64xbf16>) -> tensor<1x8x256x64xbf16> {
  %c, %i = attn.block_topk %q, %k blocks(64, 64) k = 2 pool = mean mask(#attn.causal) {include_local} : tensor<1x8x256x64xbf16>, tensor<1x2x256x64xbf16> -> tensor<1x8x4xi32>, tensor<1x8x4x2xi32>
  %o = attn.attention %q, %k, %v mask(#attn.and<#attn.causal, #attn.blocks<q_block = 64, k_block = 64>>, %c, %i : tensor<1x8x4xi32>, tensor<1x8x4x2xi32>) : tensor<1x8x256x64xbf16>, tensor<1x2x256x64xbf16>, tensor<1x2x256x64xbf16> -> tensor<1x8x256x64xbf16>
  return %o : tensor<1x8x256x64xbf16>
}

// D4: hierarchical pruning (HiP), binary tree search down to 4 blocks of 32.
// CHECK-LABEL: func @d4_hip
// CHECK: attn.hip_topk %{{.*}}, %{{.*}} blocks(64, 32) k = 4 branch = 2 mask(#attn.causal)
func.func @d4_hip(%q: tensor<1x8x256x64xbf16>, %k: tensor<1x2x256x64xbf16>, %v: tensor<1x2x256x64xbf16>) -> tensor<1x8x256x64xbf16> {
  %c, %i = attn.hip_topk %q, %k blocks(64, 32) k = 4 branch = 2 mask(#attn.causal) : tensor<1x8x256x64xbf16>, tensor<1x2x256x64xbf16> -> tensor<1x8x4xi32>, tensor<1x8x4x4xi32>
  %o = attn.attention %q, %k, %v mask(#attn.and<#attn.causal, #attn.blocks<q_block = 64, k_block = 32>>, %c, %i : tensor<1x8x4xi32>, tensor<1x8x4x4xi32>) : tensor<1x8x256x64xbf16>, tensor<1x2x256x64xbf16>, tensor<1x2x256x64xbf16> -> tensor<1x8x256x64xbf16>
  return %o : tensor<1x8x256x64xbf16>
}

// D5: cumulative-threshold selection with a data-dependent budget.
// CHECK-LABEL: func @d5_threshold
// CHECK: attn.threshold_blocks %{{.*}}, %{{.*}} blocks(64, 64) gamma = 9.000000e-01 mask(#attn.causal) {min_blocks = 2 : i64} : tensor<1x8x256x64xbf16>, tensor<1x2x256x64xbf16> -> tensor<1x8x4xi32>, tensor<1x8x4x4xi32>
func.func @d5_threshold(%q: tensor<1x8x256x64xbf16>, %k: tensor<1x2x256x64xbf16>, %v: tensor<1x2x256x64xbf16>) -> tensor<1x8x256x64xbf16> {
  %c, %i = attn.threshold_blocks %q, %k blocks(64, 64) gamma = 0.9 mask(#attn.causal) {min_blocks = 2 : i64} : tensor<1x8x256x64xbf16>, tensor<1x2x256x64xbf16> -> tensor<1x8x4xi32>, tensor<1x8x4x4xi32>
  %o = attn.attention %q, %k, %v mask(#attn.and<#attn.causal, #attn.blocks<q_block = 64, k_block = 64>>, %c, %i : tensor<1x8x4xi32>, tensor<1x8x4x4xi32>) : tensor<1x8x256x64xbf16>, tensor<1x2x256x64xbf16>, tensor<1x2x256x64xbf16> -> tensor<1x8x256x64xbf16>
  return %o : tensor<1x8x256x64xbf16>
}

// D6: pyramid pooled KV: a pooling level (or drop) per block pair.
// CHECK-LABEL: func @d6_pyramid
// CHECK: attn.pyramid_levels %{{.*}}, %{{.*}} blocks(64, 64) thresholds = [5.000000e-02, 1.000000e-02, 1.000000e-03] mask(#attn.causal)
// CHECK: mask(#attn.and<#attn.causal, #attn.pyramid<q_block = 64, k_block = 64, max_level = 2>>, %{{.*}} : tensor<1x8x4x4xi8>)
func.func @d6_pyramid(%q: tensor<1x8x256x64xbf16>, %k: tensor<1x2x256x64xbf16>, %v: tensor<1x2x256x64xbf16>) -> tensor<1x8x256x64xbf16> {
  %l = attn.pyramid_levels %q, %k blocks(64, 64) thresholds = [0.05, 0.01, 0.001] mask(#attn.causal) : tensor<1x8x256x64xbf16>, tensor<1x2x256x64xbf16> -> tensor<1x8x4x4xi8>
  %o = attn.attention %q, %k, %v mask(#attn.and<#attn.causal, #attn.pyramid<q_block = 64, k_block = 64, max_level = 2>>, %l : tensor<1x8x4x4xi8>) : tensor<1x8x256x64xbf16>, tensor<1x2x256x64xbf16>, tensor<1x2x256x64xbf16> -> tensor<1x8x256x64xbf16>
  return %o : tensor<1x8x256x64xbf16>
}

// D7: query-aware token selection: text queries pick at most 64 video tokens
// (stopping at 75% of the mass); the selection is shared by every query.
// CHECK-LABEL: func @d7_query_topk
// CHECK: attn.query_topk %{{.*}}, %{{.*}} max_tokens = 64 {threshold = 7.500000e-01 : f64}
// CHECK: mask(#attn.tokens, %{{.*}}, %{{.*}} : tensor<1x1x1xi32>, tensor<1x1x1x64xi32>)
func.func @d7_query_topk(%qt: tensor<1x8x16x64xf32>, %q: tensor<1x8x256x64xf32>, %k: tensor<1x8x256x64xf32>, %v: tensor<1x8x256x64xf32>) -> tensor<1x8x256x64xf32> {
  %c, %i = attn.query_topk %qt, %k max_tokens = 64 {threshold = 0.75 : f64} : tensor<1x8x16x64xf32>, tensor<1x8x256x64xf32> -> tensor<1x1x1xi32>, tensor<1x1x1x64xi32>
  %o = attn.attention %q, %k, %v mask(#attn.tokens, %c, %i : tensor<1x1x1xi32>, tensor<1x1x1x64xi32>) : tensor<1x8x256x64xf32>, tensor<1x8x256x64xf32>, tensor<1x8x256x64xf32> -> tensor<1x8x256x64xf32>
  return %o : tensor<1x8x256x64xf32>
}

// G2: mixture of heads: top-2 heads per token, dropped rows never computed,
// outputs scaled by the routing weights.
// CHECK-LABEL: func @g2_mixture_of_heads
// CHECK: %[[KEEP:.*]], %[[W:.*]] = attn.head_topk %{{.*}} k = 2 : tensor<2x128x8xf32> -> tensor<2x8x128xi1>, tensor<2x128x8xf32>
// CHECK: mask(#attn.and<#attn.causal, #attn.keep<query>>, %[[KEEP]] : tensor<2x8x128xi1>) gate(#attn.output_gate<activation = linear, granularity = head>, %[[W]] : tensor<2x128x8xf32>)
func.func @g2_mixture_of_heads(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>, %logits: tensor<2x128x8xf32>) -> tensor<2x8x128x64xf32> {
  %keep, %w = attn.head_topk %logits k = 2 : tensor<2x128x8xf32> -> tensor<2x8x128xi1>, tensor<2x128x8xf32>
  %o = attn.attention %q, %k, %v mask(#attn.and<#attn.causal, #attn.keep<query>>, %keep : tensor<2x8x128xi1>) gate(#attn.output_gate<activation = linear, granularity = head>, %w : tensor<2x128x8xf32>) : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  return %o : tensor<2x8x128x64xf32>
}

// G4: value-derived dynamic mask: top-32 keys per KV head, plus causal, with
// the value scores as an additive bias.
// CHECK-LABEL: func @g4_value_topk
// CHECK: attn.value_topk %{{.*}}, %{{.*}} k = 32 : tensor<1x2x128x64xf32>, tensor<2x64xf32> -> tensor<1x2x1xi32>, tensor<1x2x1x32xi32>, tensor<1x2x128xf32>
func.func @g4_value_topk(%q: tensor<1x8x128x64xf32>, %k: tensor<1x2x128x64xf32>, %v: tensor<1x2x128x64xf32>, %wv: tensor<2x64xf32>) -> tensor<1x8x128x64xf32> {
  %c, %i, %s = attn.value_topk %v, %wv k = 32 : tensor<1x2x128x64xf32>, tensor<2x64xf32> -> tensor<1x2x1xi32>, tensor<1x2x1x32xi32>, tensor<1x2x128xf32>
  %o = attn.attention %q, %k, %v mask(#attn.and<#attn.causal, #attn.tokens>, %c, %i : tensor<1x2x1xi32>, tensor<1x2x1x32xi32>) : tensor<1x8x128x64xf32>, tensor<1x2x128x64xf32>, tensor<1x2x128x64xf32> -> tensor<1x8x128x64xf32>
  return %o : tensor<1x8x128x64xf32>
}

// H1: per-head patterns: heads 0-1 full (retrieval heads), the rest a
// causal window.
// CHECK-LABEL: func @h1_per_head
// CHECK: mask(#attn.or<#attn.and<#attn.heads<begin = 0, end = 2>, #attn.causal>, #attn.and<#attn.not<#attn.heads<begin = 0, end = 2>>, #attn.window<left = 32>>>)
func.func @h1_per_head(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>) -> tensor<2x8x128x64xf32> {
  %o = attn.attention %q, %k, %v mask(#attn.or<#attn.and<#attn.heads<begin = 0, end = 2>, #attn.causal>, #attn.and<#attn.not<#attn.heads<begin = 0, end = 2>>, #attn.window<left = 32, right = 0>>>) : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  return %o : tensor<2x8x128x64xf32>
}

// H2: retrieval heads select (top-k of their own attention), the other heads
// reuse the selection: one head group (size-1 head dimension) for all heads.
// CHECK-LABEL: func @h2_shared_selection
// CHECK: %{{.*}}, %[[C:.*]], %[[I:.*]] = attn.attention {{.*}} -> tensor<1x2x128x64xf32>, topk tensor<1x2x128xi32>, tensor<1x2x128x16xi32>
// CHECK: mask(#attn.and<#attn.causal, #attn.tokens>, %[[C]], %[[I]] : tensor<1x2x128xi32>, tensor<1x2x128x16xi32>)
func.func @h2_shared_selection(%qr: tensor<1x2x128x64xf32>, %q: tensor<1x8x128x64xf32>, %k: tensor<1x2x128x64xf32>, %v: tensor<1x2x128x64xf32>) -> (tensor<1x2x128x64xf32>, tensor<1x8x128x64xf32>) {
  %or, %c, %i = attn.attention %qr, %k, %v mask(#attn.causal) : tensor<1x2x128x64xf32>, tensor<1x2x128x64xf32>, tensor<1x2x128x64xf32> -> tensor<1x2x128x64xf32>, topk tensor<1x2x128xi32>, tensor<1x2x128x16xi32>
  %o = attn.attention %q, %k, %v mask(#attn.and<#attn.causal, #attn.tokens>, %c, %i : tensor<1x2x128xi32>, tensor<1x2x128x16xi32>) : tensor<1x8x128x64xf32>, tensor<1x2x128x64xf32>, tensor<1x2x128x64xf32> -> tensor<1x8x128x64xf32>
  return %or, %o : tensor<1x2x128x64xf32>, tensor<1x8x128x64xf32>
}

// H3: cross-layer reuse: layer 1 returns its top-16 keys per query with its
// output and LSE; layer 2 attends only to them.
// CHECK-LABEL: func @h3_cross_layer
// CHECK: %{{.*}}, %{{.*}}, %[[C:.*]], %[[I:.*]] = attn.attention {{.*}} lse tensor<1x8x128xf32>, topk tensor<1x8x128xi32>, tensor<1x8x128x16xi32>
// CHECK: mask(#attn.tokens, %[[C]], %[[I]] : tensor<1x8x128xi32>, tensor<1x8x128x16xi32>)
func.func @h3_cross_layer(%q1: tensor<1x8x128x64xf32>, %k1: tensor<1x8x128x64xf32>, %v1: tensor<1x8x128x64xf32>, %q2: tensor<1x8x128x64xf32>, %k2: tensor<1x8x128x64xf32>, %v2: tensor<1x8x128x64xf32>) -> (tensor<1x8x128x64xf32>, tensor<1x8x128x64xf32>) {
  %o1, %lse, %c, %i = attn.attention %q1, %k1, %v1 mask(#attn.causal) : tensor<1x8x128x64xf32>, tensor<1x8x128x64xf32>, tensor<1x8x128x64xf32> -> tensor<1x8x128x64xf32>, lse tensor<1x8x128xf32>, topk tensor<1x8x128xi32>, tensor<1x8x128x16xi32>
  %o2 = attn.attention %q2, %k2, %v2 mask(#attn.tokens, %c, %i : tensor<1x8x128xi32>, tensor<1x8x128x16xi32>) : tensor<1x8x128x64xf32>, tensor<1x8x128x64xf32>, tensor<1x8x128x64xf32> -> tensor<1x8x128x64xf32>
  return %o1, %o2 : tensor<1x8x128x64xf32>, tensor<1x8x128x64xf32>
}

// H4: runtime routing between a full and a sparse variant (per layer or per
// request): ordinary control flow around two attention ops.
// CHECK-LABEL: func @h4_routed
// CHECK: scf.if
// CHECK: attn.attention {{.*}} mask(#attn.and<#attn.causal, #attn.blocks<q_block = 64, k_block = 64>>
// CHECK: } else {
// CHECK: attn.attention {{.*}} mask(#attn.causal)
func.func @h4_routed(%sparse: i1, %q: tensor<1x8x256x64xbf16>, %k: tensor<1x2x256x64xbf16>, %v: tensor<1x2x256x64xbf16>) -> tensor<1x8x256x64xbf16> {
  %o = scf.if %sparse -> tensor<1x8x256x64xbf16> {
    %c, %i = attn.block_topk %q, %k blocks(64, 64) k = 2 pool = mean mask(#attn.causal) {include_local} : tensor<1x8x256x64xbf16>, tensor<1x2x256x64xbf16> -> tensor<1x8x4xi32>, tensor<1x8x4x2xi32>
    %s = attn.attention %q, %k, %v mask(#attn.and<#attn.causal, #attn.blocks<q_block = 64, k_block = 64>>, %c, %i : tensor<1x8x4xi32>, tensor<1x8x4x2xi32>) : tensor<1x8x256x64xbf16>, tensor<1x2x256x64xbf16>, tensor<1x2x256x64xbf16> -> tensor<1x8x256x64xbf16>
    scf.yield %s : tensor<1x8x256x64xbf16>
  } else {
    %f = attn.attention %q, %k, %v mask(#attn.causal) : tensor<1x8x256x64xbf16>, tensor<1x2x256x64xbf16>, tensor<1x2x256x64xbf16> -> tensor<1x8x256x64xbf16>
    scf.yield %f : tensor<1x8x256x64xbf16>
  }
  return %o : tensor<1x8x256x64xbf16>
}

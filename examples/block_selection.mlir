// Block-level selection: D3 block routing, D4 hierarchical pruning (HiP),
// D5 cumulative-threshold selection (FlexPrefill), D6 pyramid pooled KV (PSA).
//
// Semantics: docs/Patterns.md. Compiled for the CPU by
//   build/bin/attn-opt --attn-cpu-pipeline examples/block_selection.mlir
// and checked numerically in test/Integration/CPU/selection.test.

!q = tensor<2x8x128x64xbf16>
!kv = tensor<2x2x128x64xbf16>
!o = tensor<2x8x128x64xbf16>
!lse = tensor<2x8x128xf32>

// D3 block routing: top-2 key blocks of 32 per query block, plus the local
// block, dense attention inside the kept blocks.
func.func @d3(%q: !q, %k: !kv, %v: !kv) -> !o {
  %c, %i = attn.block_topk %q, %k blocks(32, 32) k = 2 pool = mean mask(#attn.causal) {include_local} : !q, !kv -> tensor<2x8x4xi32>, tensor<2x8x4x2xi32>
  %o = attn.attention %q, %k, %v mask(#attn.and<#attn.causal, #attn.blocks<q_block = 32, k_block = 32>>, %c, %i : tensor<2x8x4xi32>, tensor<2x8x4x2xi32>) : !q, !kv, !kv -> !o
  return %o : !o
}

// D4 hierarchical pruning (HiP): binary tree search down to 2 blocks of 16.
func.func @d4(%q: !q, %k: !kv, %v: !kv) -> !o {
  %c, %i = attn.hip_topk %q, %k blocks(32, 16) k = 2 branch = 2 mask(#attn.causal) : !q, !kv -> tensor<2x8x4xi32>, tensor<2x8x4x2xi32>
  %o = attn.attention %q, %k, %v mask(#attn.and<#attn.causal, #attn.blocks<q_block = 32, k_block = 16>>, %c, %i : tensor<2x8x4xi32>, tensor<2x8x4x2xi32>) : !q, !kv, !kv -> !o
  return %o : !o
}

// D5 cumulative-threshold selection (FlexPrefill): blocks until 90% of the
// estimated mass; the budget is data dependent (`counts`).
func.func @d5(%q: !q, %k: !kv, %v: !kv) -> !o {
  %c, %i = attn.threshold_blocks %q, %k blocks(32, 32) gamma = 0.9 mask(#attn.causal) : !q, !kv -> tensor<2x8x4xi32>, tensor<2x8x4x4xi32>
  %o = attn.attention %q, %k, %v mask(#attn.and<#attn.causal, #attn.blocks<q_block = 32, k_block = 32>>, %c, %i : tensor<2x8x4xi32>, tensor<2x8x4x4xi32>) : !q, !kv, !kv -> !o
  return %o : !o
}

// D6 pyramid pooled KV (PSA): a pooling level or a drop per block pair.
func.func @d6(%q: !q, %k: !kv, %v: !kv) -> !o {
  %l = attn.pyramid_levels %q, %k blocks(32, 32) thresholds = [0.05, 0.01, 0.001] mask(#attn.causal) : !q, !kv -> tensor<2x8x4x4xi8>
  %o = attn.attention %q, %k, %v mask(#attn.and<#attn.causal, #attn.pyramid<q_block = 32, k_block = 32, max_level = 2>>, %l : tensor<2x8x4x4xi8>) : !q, !kv, !kv -> !o
  return %o : !o
}

// Token-level selection: D2 hierarchical indexer, D7 query-aware selection
// (QTSplus), G4 value-derived dynamic mask.
//
// Semantics: docs/Patterns.md. Compiled for the CPU by
//   build/bin/attn-opt --attn-cpu-pipeline examples/token_selection.mlir
// and checked numerically in test/Integration/CPU/selection.test.

!q = tensor<2x8x128x64xbf16>
!kv = tensor<2x2x128x64xbf16>
!o = tensor<2x8x128x64xbf16>
!lse = tensor<2x8x128xf32>

// D2 hierarchical indexer: score pooled key blocks of 16 first, keep 4 blocks
// per query, run the token indexer only inside them.
func.func @d2(%q: !q, %k: !kv, %v: !kv, %qi: tensor<2x128x4x32xbf16>, %ki: tensor<2x128x32xbf16>, %w: tensor<2x128x4xf32>) -> !o {
  %kp = attn.pool %ki dim = 1 block = 16 kind = mean : tensor<2x128x32xbf16> -> tensor<2x8x32xbf16>
  %bc, %bi = attn.indexer_topk %qi, %kp, %w k = 4 mask(#attn.causal) {key_block = 16 : i64} : tensor<2x128x4x32xbf16>, tensor<2x8x32xbf16>, tensor<2x128x4xf32> -> tensor<2x1x128xi32>, tensor<2x1x128x4xi32>
  %c, %i = attn.indexer_topk %qi, %ki, %w k = 32 within(%bc, %bi : tensor<2x1x128xi32>, tensor<2x1x128x4xi32>) mask(#attn.causal) {block_size = 16 : i64} : tensor<2x128x4x32xbf16>, tensor<2x128x32xbf16>, tensor<2x128x4xf32> -> tensor<2x1x128xi32>, tensor<2x1x128x32xi32>
  %o = attn.attention %q, %k, %v mask(#attn.and<#attn.causal, #attn.tokens>, %c, %i : tensor<2x1x128xi32>, tensor<2x1x128x32xi32>) : !q, !kv, !kv -> !o
  return %o : !o
}

// D7 query-aware token selection (QTSplus): 16 guiding queries keep at most
// 64 tokens, fewer once 90% of the mass is covered; every query of the
// consuming attention shares the selection.
func.func @d7(%guide: tensor<2x8x16x64xbf16>, %q: !q, %k: !kv, %v: !kv) -> !o {
  %c, %i = attn.query_topk %guide, %k max_tokens = 64 {threshold = 0.9 : f64} : tensor<2x8x16x64xbf16>, !kv -> tensor<2x1x1xi32>, tensor<2x1x1x64xi32>
  %o = attn.attention %q, %k, %v mask(#attn.tokens, %c, %i : tensor<2x1x1xi32>, tensor<2x1x1x64xi32>) : !q, !kv, !kv -> !o
  return %o : !o
}

// G4 value-derived dynamic mask: top-32 keys per KV head ranked from V,
// intersected with causality, their scores added as a bias.
func.func @g4(%q: !q, %k: !kv, %v: !kv, %wv: tensor<2x64xf32>) -> !o {
  %c, %i, %s = attn.value_topk %v, %wv k = 32 : !kv, tensor<2x64xf32> -> tensor<2x2x1xi32>, tensor<2x2x1x32xi32>, tensor<2x2x128xf32>
  %o = attn.attention %q, %k, %v mask(#attn.and<#attn.causal, #attn.tokens>, %c, %i : tensor<2x2x1xi32>, tensor<2x2x1x32xi32>) : !q, !kv, !kv -> !o
  return %o : !o
}

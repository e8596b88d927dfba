// H3 cross-layer reuse of an attention's top-k keys, H4 a runtime choice
// between a full and a sparse variant.
//
// Semantics: docs/Patterns.md. Compiled for the CPU by
//   build/bin/attn-opt --attn-cpu-pipeline examples/reuse_and_routing.mlir
// and checked numerically in test/Integration/CPU/selection.test.

!q = tensor<2x8x128x64xbf16>
!kv = tensor<2x2x128x64xbf16>
!o = tensor<2x8x128x64xbf16>
!lse = tensor<2x8x128xf32>

// H3 cross-layer reuse: layer 1's top-16 keys drive layer 2.
func.func @h3(%q1: !q, %q2: !q, %k1: !kv, %v1: !kv, %k2: !kv, %v2: !kv) -> (!o, !o) {
  %o1, %c, %i = attn.attention %q1, %k1, %v1 mask(#attn.causal) : !q, !kv, !kv -> !o, topk tensor<2x8x128xi32>, tensor<2x8x128x16xi32>
  %o2 = attn.attention %q2, %k2, %v2 mask(#attn.tokens, %c, %i : tensor<2x8x128xi32>, tensor<2x8x128x16xi32>) : !q, !kv, !kv -> !o
  return %o1, %o2 : !o, !o
}

// H4 routed variant: a runtime choice between a full and a sparse variant is
// ordinary control flow (per request: route each batch row by splitting the
// batch, or capture a per-batch flag in a predicate). On the GPU this is a
// program whose steps the flag argument picks at launch.
func.func @h4(%sparse: i1, %q: !q, %k: !kv, %v: !kv) -> !o {
  %o = scf.if %sparse -> !o {
    %c, %i = attn.block_topk %q, %k blocks(32, 32) k = 2 pool = mean mask(#attn.causal) {include_local} : !q, !kv -> tensor<2x8x4xi32>, tensor<2x8x4x2xi32>
    %s = attn.attention %q, %k, %v mask(#attn.and<#attn.causal, #attn.blocks<q_block = 32, k_block = 32>>, %c, %i : tensor<2x8x4xi32>, tensor<2x8x4x2xi32>) : !q, !kv, !kv -> !o
    scf.yield %s : !o
  } else {
    %f = attn.attention %q, %k, %v mask(#attn.causal) : !q, !kv, !kv -> !o
    scf.yield %f : !o
  }
  return %o : !o
}

// Heads: G2 mixture of heads, H1 per-head patterns, H2 shared selection
// (retrieval heads select, the others reuse).
//
// Semantics: docs/Patterns.md. Compiled for the CPU by
//   build/bin/attn-opt --attn-cpu-pipeline examples/head_patterns.mlir
// and checked numerically in test/Integration/CPU/selection.test.

!q = tensor<2x8x128x64xbf16>
!kv = tensor<2x2x128x64xbf16>
!o = tensor<2x8x128x64xbf16>
!lse = tensor<2x8x128xf32>

// G2 mixture of heads: top-2 heads per token; rows of unselected heads are
// fully masked (never computed), outputs are scaled by the routing weights.
func.func @g2(%q: !q, %k: !kv, %v: !kv, %router: tensor<2x128x8xf32>) -> !o {
  %keep, %w = attn.head_topk %router k = 2 : tensor<2x128x8xf32> -> tensor<2x8x128xi1>, tensor<2x128x8xf32>
  %o = attn.attention %q, %k, %v
      mask(#attn.and<#attn.causal, #attn.keep<query>>, %keep : tensor<2x8x128xi1>)
      gate(#attn.output_gate<activation = linear, granularity = head>, %w : tensor<2x128x8xf32>) : !q, !kv, !kv -> !o
  return %o : !o
}

// H1 per-head patterns: heads 0-1 causal (retrieval heads), the others a
// causal window.
func.func @h1(%q: !q, %k: !kv, %v: !kv) -> !o {
  %o = attn.attention %q, %k, %v mask(#attn.or<#attn.and<#attn.heads<begin = 0, end = 2>, #attn.causal>, #attn.and<#attn.not<#attn.heads<begin = 0, end = 2>>, #attn.window<left = 32, right = 0>>>) : !q, !kv, !kv -> !o
  return %o : !o
}

// H2 shared selection: two retrieval heads return their top-16 keys; all
// eight heads reuse them (head group `g = h / 4`).
func.func @h2(%qr: tensor<2x2x128x64xbf16>, %q: !q, %k: !kv, %v: !kv) -> !o {
  %or, %c, %i = attn.attention %qr, %k, %v mask(#attn.causal) : tensor<2x2x128x64xbf16>, !kv, !kv -> tensor<2x2x128x64xbf16>, topk tensor<2x2x128xi32>, tensor<2x2x128x16xi32>
  %o = attn.attention %q, %k, %v mask(#attn.and<#attn.causal, #attn.tokens>, %c, %i : tensor<2x2x128xi32>, tensor<2x2x128x16xi32>) : !q, !kv, !kv -> !o
  return %o : !o
}

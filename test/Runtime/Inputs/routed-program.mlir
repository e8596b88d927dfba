// H4: a runtime choice between D3 routing and full causal attention, an
// scf.if on a flag argument (test/Runtime/programs.test).
func.func @routed(%sparse: i1, %q: tensor<1x4x128x64xbf16>, %k: tensor<1x2x128x64xbf16>, %v: tensor<1x2x128x64xbf16>) -> tensor<1x4x128x64xbf16> {
  %o = scf.if %sparse -> tensor<1x4x128x64xbf16> {
    %c, %i = attn.block_topk %q, %k blocks(64, 64) k = 1 pool = mean mask(#attn.causal) {include_local} : tensor<1x4x128x64xbf16>, tensor<1x2x128x64xbf16> -> tensor<1x4x2xi32>, tensor<1x4x2x1xi32>
    %s = attn.attention %q, %k, %v mask(#attn.and<#attn.causal, #attn.blocks<q_block = 64, k_block = 64>>, %c, %i : tensor<1x4x2xi32>, tensor<1x4x2x1xi32>) : tensor<1x4x128x64xbf16>, tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16> -> tensor<1x4x128x64xbf16>
    scf.yield %s : tensor<1x4x128x64xbf16>
  } else {
    %f = attn.attention %q, %k, %v mask(#attn.causal) : tensor<1x4x128x64xbf16>, tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16> -> tensor<1x4x128x64xbf16>
    scf.yield %f : tensor<1x4x128x64xbf16>
  }
  return %o : tensor<1x4x128x64xbf16>
}

// A D1 program (DeepSeek Sparse Attention shape, small): the indexer top-k
// feeds the attention over the selected tokens of all 4 query heads.
func.func @dsa(%q: tensor<2x4x200x64xbf16>, %k: tensor<2x1x200x64xbf16>, %v: tensor<2x1x200x64xbf16>,
               %qi: tensor<2x200x2x32xbf16>, %ki: tensor<2x200x32xbf16>, %w: tensor<2x200x2xf32>) -> tensor<2x4x200x64xbf16> {
  %count, %idx = attn.indexer_topk %qi, %ki, %w k = 64 mask(#attn.causal)
      : tensor<2x200x2x32xbf16>, tensor<2x200x32xbf16>, tensor<2x200x2xf32>
      -> tensor<2x1x200xi32>, tensor<2x1x200x64xi32>
  %o = attn.attention %q, %k, %v
      mask(#attn.and<#attn.causal, #attn.tokens>,
           %count, %idx : tensor<2x1x200xi32>, tensor<2x1x200x64xi32>)
      : tensor<2x4x200x64xbf16>, tensor<2x1x200x64xbf16>,
        tensor<2x1x200x64xbf16> -> tensor<2x4x200x64xbf16>
  return %o : tensor<2x4x200x64xbf16>
}

func.func @spec(%q: tensor<2x2x96x16xbf16>, %k: tensor<2x2x96x16xbf16>, %v: tensor<2x2x96x16xbf16>, %doc: tensor<2x96xi32>) -> (tensor<2x2x96x16xf32>, tensor<2x2x96xf32>) {
  %o, %l = attn.attention %q, %k, %v mask(#attn.and<#attn.causal, #attn.document>, %doc, %doc : tensor<2x96xi32>, tensor<2x96xi32>) : tensor<2x2x96x16xbf16>, tensor<2x2x96x16xbf16>, tensor<2x2x96x16xbf16> -> tensor<2x2x96x16xf32>, lse tensor<2x2x96xf32>
  return %o, %l : tensor<2x2x96x16xf32>, tensor<2x2x96xf32>
}

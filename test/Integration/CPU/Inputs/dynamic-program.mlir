// A program (an attention whose top-k results make it more than one
// kernel) with dynamic sizes: attn-run asks for static shapes.
func.func @p(%q: tensor<1x2x?x16xf32>, %k: tensor<1x2x?x16xf32>, %v: tensor<1x2x?x16xf32>) -> tensor<1x2x?x16xf32> {
  %o, %c, %i = attn.attention %q, %k, %v mask(#attn.causal) : tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32> -> tensor<1x2x?x16xf32>, topk tensor<1x2x?xi32>, tensor<1x2x?x4xi32>
  return %o : tensor<1x2x?x16xf32>
}

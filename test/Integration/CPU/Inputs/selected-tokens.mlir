// Selected tokens (D1 consumer): causal and per-row lists of distinct keys
// for each of the 2 key-head groups.
func.func @tok(%q: tensor<2x4x100x32xf32>, %k: tensor<2x2x130x32xf32>, %v: tensor<2x2x130x16xf32>, %c: tensor<2x2x100xi32>, %i: tensor<2x2x100x16xi32>) -> (tensor<2x4x100x16xf32>, tensor<2x4x100xf32>) {
  %o, %l = attn.attention %q, %k, %v mask(#attn.and<#attn.causal<align = bottom_right>, #attn.tokens>, %c, %i : tensor<2x2x100xi32>, tensor<2x2x100x16xi32>) : tensor<2x4x100x32xf32>, tensor<2x2x130x32xf32>, tensor<2x2x130x16xf32> -> tensor<2x4x100x16xf32>, lse tensor<2x4x100xf32>
  return %o, %l : tensor<2x4x100x16xf32>, tensor<2x4x100xf32>
}

func.func @spec(%q: tensor<2x4x?x?xf32>, %k: tensor<2x2x?x?xf32>, %v: tensor<2x2x?x?xf32>, %w: index, %plen: tensor<2xi32>) -> (tensor<2x4x?x?xf32>, tensor<2x4x?xf32>) {
  %o, %l = attn.attention %q, %k, %v mask(#attn.and<#attn.window<left = ?, align = bottom_right>, #attn.key_prefix<len = ?>>, %w, %plen : index, tensor<2xi32>) score([#attn.softcap<cap = 20.0>]) : tensor<2x4x?x?xf32>, tensor<2x2x?x?xf32>, tensor<2x2x?x?xf32> -> tensor<2x4x?x?xf32>, lse tensor<2x4x?xf32>
  return %o, %l : tensor<2x4x?x?xf32>, tensor<2x4x?xf32>
}

func.func @spec(%q: tensor<2x4x100x32xf32>, %k: tensor<2x2x130x32xf32>, %v: tensor<2x2x130x16xf32>, %w: index, %plen: tensor<2xi32>) -> (tensor<2x4x100x16xf32>, tensor<2x4x100xf32>) {
  %o, %l = attn.attention %q, %k, %v mask(#attn.and<#attn.window<left = ?, align = bottom_right>, #attn.key_prefix<len = ?>>, %w, %plen : index, tensor<2xi32>) score([#attn.softcap<cap = 20.0>]) : tensor<2x4x100x32xf32>, tensor<2x2x130x32xf32>, tensor<2x2x130x16xf32> -> tensor<2x4x100x16xf32>, lse tensor<2x4x100xf32>
  return %o, %l : tensor<2x4x100x16xf32>, tensor<2x4x100xf32>
}

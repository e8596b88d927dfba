func.func @spec(%q: tensor<2x4x37x64xbf16>, %k: tensor<2x2x53x64xbf16>, %v: tensor<2x2x53x32xbf16>) -> (tensor<2x4x37x32xf32>, tensor<2x4x37xf32>) {
  %o, %l = attn.attention %q, %k, %v mask(#attn.or<#attn.window<left = 9, align = bottom_right>, #attn.key_prefix<len = 3>>) score([#attn.softcap<cap = 20.0>]) : tensor<2x4x37x64xbf16>, tensor<2x2x53x64xbf16>, tensor<2x2x53x32xbf16> -> tensor<2x4x37x32xf32>, lse tensor<2x4x37xf32>
  return %o, %l : tensor<2x4x37x32xf32>, tensor<2x4x37xf32>
}

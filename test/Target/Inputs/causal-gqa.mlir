func.func @spec(%q: tensor<2x4x37x16xf32>, %k: tensor<2x2x37x16xf32>, %v: tensor<2x2x37x8xf32>) -> (tensor<2x4x37x8xf32>, tensor<2x4x37xf32>) {
  %o, %l = attn.attention %q, %k, %v mask(#attn.causal) : tensor<2x4x37x16xf32>, tensor<2x2x37x16xf32>, tensor<2x2x37x8xf32> -> tensor<2x4x37x8xf32>, lse tensor<2x4x37xf32>
  return %o, %l : tensor<2x4x37x8xf32>, tensor<2x4x37xf32>
}

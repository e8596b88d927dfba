// Kernels of the GPU emission tests: the tensor-core body (bf16, D = 128,
// causal, GQA, LSE), the f16 tensor-core body (D = 64, BSHD, softcap), the
// row form (f32 inputs, a runtime window; a D6 pyramid with i8 levels);
// GQA decoding from a paged K/V pool (the tensor-core body, the two query
// heads of a KV head packed into one work item); a dilated window (M7),
// whose tokens attn-group-residues groups by residue.
func.func @causal_bf16(%q: tensor<1x4x300x128xbf16>, %k: tensor<1x2x300x128xbf16>,
                       %v: tensor<1x2x300x128xbf16>)
    -> (tensor<1x4x300x128xbf16>, tensor<1x4x300xf32>) {
  %o, %l = attn.attention %q, %k, %v mask(#attn.causal)
      : tensor<1x4x300x128xbf16>, tensor<1x2x300x128xbf16>, tensor<1x2x300x128xbf16>
      -> tensor<1x4x300x128xbf16>, lse tensor<1x4x300xf32>
  return %o, %l : tensor<1x4x300x128xbf16>, tensor<1x4x300xf32>
}

func.func @softcap_f16(%q: tensor<2x100x4x64xf16>, %k: tensor<2x100x4x64xf16>,
                       %v: tensor<2x100x4x64xf16>) -> tensor<2x100x4x64xf32> {
  %o = attn.attention %q, %k, %v layout(bshd, bshd)
      score([#attn.softcap<cap = 30.0>])
      : tensor<2x100x4x64xf16>, tensor<2x100x4x64xf16>, tensor<2x100x4x64xf16>
      -> tensor<2x100x4x64xf32>
  return %o : tensor<2x100x4x64xf32>
}

func.func @window_f32(%q: tensor<2x4x?x16xf32>, %k: tensor<2x2x?x16xf32>,
                      %v: tensor<2x2x?x8xf32>, %left: index)
    -> tensor<2x4x?x8xf32> {
  %o = attn.attention %q, %k, %v mask(#attn.window<left = ?>, %left : index)
      : tensor<2x4x?x16xf32>, tensor<2x2x?x16xf32>, tensor<2x2x?x8xf32>
      -> tensor<2x4x?x8xf32>
  return %o : tensor<2x4x?x8xf32>
}

func.func @pyramid_f32(%q: tensor<1x2x64x16xf32>, %k: tensor<1x2x64x16xf32>,
                       %v: tensor<1x2x64x16xf32>, %levels: tensor<1x2x4x4xi8>)
    -> tensor<1x2x64x16xf32> {
  %o = attn.attention %q, %k, %v
      mask(#attn.and<#attn.causal, #attn.pyramid<q_block = 16, k_block = 16, max_level = 2>>,
           %levels : tensor<1x2x4x4xi8>)
      : tensor<1x2x64x16xf32>, tensor<1x2x64x16xf32>, tensor<1x2x64x16xf32>
      -> tensor<1x2x64x16xf32>
  return %o : tensor<1x2x64x16xf32>
}

func.func @paged_bf16(%q: tensor<?x4x1x128xbf16>, %kc: tensor<?x?x2x128xbf16>,
                      %vc: tensor<?x?x2x128xbf16>, %table: tensor<?x?xi32>,
                      %lens: tensor<?xi32>) -> tensor<?x4x1x128xbf16> {
  %o = attn.attention %q, %kc, %vc layout(bhsd, paged)
      mask(#attn.causal<align = bottom_right>)
      block_table(%table : tensor<?x?xi32>) kv_lens(%lens : tensor<?xi32>)
      : tensor<?x4x1x128xbf16>, tensor<?x?x2x128xbf16>, tensor<?x?x2x128xbf16>
      -> tensor<?x4x1x128xbf16>
  return %o : tensor<?x4x1x128xbf16>
}

func.func @dilated_bf16(%q: tensor<1x4x300x128xbf16>, %k: tensor<1x2x300x128xbf16>,
                        %v: tensor<1x2x300x128xbf16>) -> tensor<1x4x300x128xbf16> {
  %o = attn.attention %q, %k, %v
      mask(#attn.and<#attn.window<left = 64, right = 64>, #attn.dilated<dilation = 4>>)
      : tensor<1x4x300x128xbf16>, tensor<1x2x300x128xbf16>, tensor<1x2x300x128xbf16>
      -> tensor<1x4x300x128xbf16>
  return %o : tensor<1x4x300x128xbf16>
}

func.func @neighborhood_bf16(%q: tensor<1x4x1024x128xbf16>, %k: tensor<1x4x1024x128xbf16>,
                             %v: tensor<1x4x1024x128xbf16>) -> tensor<1x4x1024x128xbf16> {
  %o = attn.attention %q, %k, %v
      mask(#attn.neighborhood<grid = [32, 32], kernel = [13, 13]>)
      : tensor<1x4x1024x128xbf16>, tensor<1x4x1024x128xbf16>, tensor<1x4x1024x128xbf16>
      -> tensor<1x4x1024x128xbf16>
  return %o : tensor<1x4x1024x128xbf16>
}

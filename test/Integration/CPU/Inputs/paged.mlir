// X2 decoding over a paged KV cache: a page pool [P, page, Hkv, D] read
// through a block table, one length per sequence.

// One query per sequence (Sq = 1), GQA 8:2, 64 pages of 16 tokens, up to
// 12 pages per sequence, bf16 cache.
func.func @decode(%q: tensor<4x8x1x64xbf16>, %kc: tensor<64x16x2x64xbf16>,
                  %vc: tensor<64x16x2x64xbf16>, %table: tensor<4x12xi32>,
                  %lens: tensor<4xi32>) -> (tensor<4x8x1x64xf32>, tensor<4x8x1xf32>) {
  %o, %l = attn.attention %q, %kc, %vc layout(bhsd, paged)
      block_table(%table : tensor<4x12xi32>) kv_lens(%lens : tensor<4xi32>)
      : tensor<4x8x1x64xbf16>, tensor<64x16x2x64xbf16>, tensor<64x16x2x64xbf16>
      -> tensor<4x8x1x64xf32>, lse tensor<4x8x1xf32>
  return %o, %l : tensor<4x8x1x64xf32>, tensor<4x8x1xf32>
}

// Speculative decoding: 5 queries (BSHD) at the end of each sequence
// (bottom-right causal), a sliding window, a softcap; pages of 8.
func.func @speculative(%q: tensor<3x5x4x32xf32>, %kc: tensor<40x8x4x32xf32>,
                       %vc: tensor<40x8x4x16xf32>, %table: tensor<3x9xi32>,
                       %lens: tensor<3xi32>) -> (tensor<3x5x4x16xf32>, tensor<3x4x5xf32>) {
  %o, %l = attn.attention %q, %kc, %vc layout(bshd, paged)
      mask(#attn.and<#attn.causal<align = bottom_right>, #attn.window<left = 20, align = bottom_right>>)
      score([#attn.softcap<cap = 5.0>])
      block_table(%table : tensor<3x9xi32>) kv_lens(%lens : tensor<3xi32>)
      : tensor<3x5x4x32xf32>, tensor<40x8x4x32xf32>, tensor<40x8x4x16xf32>
      -> tensor<3x5x4x16xf32>, lse tensor<3x4x5xf32>
  return %o, %l : tensor<3x5x4x16xf32>, tensor<3x4x5xf32>
}

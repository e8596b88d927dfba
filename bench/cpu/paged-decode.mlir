// X2 decoding on the CPU: 8 sequences of 8192 cached tokens, one new query
// each, 16 query heads over 2 KV heads, D = 128, bf16; the cache as a page
// pool (pages of 16 tokens, 4096 pages, 512 per sequence) next to the same
// cache stored contiguously. Inputs: bench/cpu/paged-decode.py.

func.func @paged(%q: tensor<8x16x1x128xbf16>, %kc: tensor<4096x16x2x128xbf16>,
                 %vc: tensor<4096x16x2x128xbf16>, %block_table: tensor<8x512xi32>,
                 %kv_lens: tensor<8xi32>) -> tensor<8x16x1x128xf32> {
  %o = attn.attention %q, %kc, %vc layout(bhsd, paged)
      block_table(%block_table : tensor<8x512xi32>) kv_lens(%kv_lens : tensor<8xi32>)
      : tensor<8x16x1x128xbf16>, tensor<4096x16x2x128xbf16>, tensor<4096x16x2x128xbf16>
      -> tensor<8x16x1x128xf32>
  return %o : tensor<8x16x1x128xf32>
}

func.func @contiguous(%q: tensor<8x16x1x128xbf16>, %k: tensor<8x2x8192x128xbf16>,
                      %v: tensor<8x2x8192x128xbf16>) -> tensor<8x16x1x128xf32> {
  %o = attn.attention %q, %k, %v
      : tensor<8x16x1x128xbf16>, tensor<8x2x8192x128xbf16>, tensor<8x2x8192x128xbf16>
      -> tensor<8x16x1x128xf32>
  return %o : tensor<8x16x1x128xf32>
}

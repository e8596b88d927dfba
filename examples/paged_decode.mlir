// X2 decoding from a paged KV cache (vLLM / FlashInfer style): 8 sequences,
// one new token each, 16 query heads over 2 KV heads, a pool of 512 pages of
// 16 tokens, up to 64 pages (1024 tokens) per sequence. Sequence b reads
// token j from slot j % 16 of page block_table[b, j / 16]; its keys are its
// first kv_lens[b] tokens.
//
//   build/bin/attn-run examples/paged_decode.mlir --random 0 --check

func.func @paged_decode(%q: tensor<8x16x1x128xbf16>,
                        %k_cache: tensor<512x16x2x128xbf16>,
                        %v_cache: tensor<512x16x2x128xbf16>,
                        %block_table: tensor<8x64xi32>,
                        %kv_lens: tensor<8xi32>)
    -> (tensor<8x16x1x128xf32>, tensor<8x16x1xf32>) {
  %o, %lse = attn.attention %q, %k_cache, %v_cache layout(bhsd, paged)
      block_table(%block_table : tensor<8x64xi32>) kv_lens(%kv_lens : tensor<8xi32>)
      : tensor<8x16x1x128xbf16>, tensor<512x16x2x128xbf16>, tensor<512x16x2x128xbf16>
      -> tensor<8x16x1x128xf32>, lse tensor<8x16x1xf32>
  return %o, %lse : tensor<8x16x1x128xf32>, tensor<8x16x1xf32>
}

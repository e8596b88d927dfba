// 2-D neighborhood attention (catalog M9) on a 32x32 token grid with a
// 13x13 window, NATTEN semantics: windows near the border shift inwards so
// every query sees exactly 169 keys. The mask is closed form: a compiler
// derives the non-empty key tiles of each query tile without a table.
// The pipelines visit the tokens in 8 x 8 patches of the grid
// (attn-order-patches) where that visits fewer key tiles: here 6.25 per
// 64-query tile instead of 7 in row order (on 128 x 128 tokens, 8.3
// instead of 26):
//
//   build/bin/attn-opt --attn-order-patches examples/neighborhood_2d.mlir
//
//   build/bin/attn-opt --canonicalize examples/neighborhood_2d.mlir

func.func @neighborhood_2d(%q: tensor<1x8x1024x64xbf16>,
                           %k: tensor<1x8x1024x64xbf16>,
                           %v: tensor<1x8x1024x64xbf16>)
    -> tensor<1x8x1024x64xbf16> {
  %o = attn.attention %q, %k, %v
      mask(#attn.neighborhood<grid = [32, 32], kernel = [13, 13]>)
      : tensor<1x8x1024x64xbf16>, tensor<1x8x1024x64xbf16>,
        tensor<1x8x1024x64xbf16> -> tensor<1x8x1024x64xbf16>
  return %o : tensor<1x8x1024x64xbf16>
}

// Dilated variant (GNA): every other token along each axis.
func.func @dilated_neighborhood(%q: tensor<1x8x1024x64xbf16>,
                                %k: tensor<1x8x1024x64xbf16>,
                                %v: tensor<1x8x1024x64xbf16>)
    -> tensor<1x8x1024x64xbf16> {
  %o = attn.attention %q, %k, %v
      mask(#attn.neighborhood<grid = [32, 32], kernel = [7, 7], dilation = [2, 2]>)
      : tensor<1x8x1024x64xbf16>, tensor<1x8x1024x64xbf16>,
        tensor<1x8x1024x64xbf16> -> tensor<1x8x1024x64xbf16>
  return %o : tensor<1x8x1024x64xbf16>
}

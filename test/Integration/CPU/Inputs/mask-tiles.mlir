// An explicit mask with its tile summary (attn-summarize-masks' form):
// lengths not multiples of the 64-token tile, the batch broadcast, GQA.
func.func @spec(%q: tensor<2x4x200x64xbf16>, %k: tensor<2x2x208x64xbf16>,
                %v: tensor<2x2x208x32xbf16>, %m: tensor<1x4x200x208xi1>)
    -> tensor<2x4x200x32xf32> {
  %t = attn.mask_tiles %m : tensor<1x4x200x208xi1> -> tensor<1x4x4x2xi32>
  %o = attn.attention %q, %k, %v
      mask(#attn.dense<tiles>, %m, %t : tensor<1x4x200x208xi1>, tensor<1x4x4x2xi32>)
      : tensor<2x4x200x64xbf16>, tensor<2x2x208x64xbf16>, tensor<2x2x208x32xbf16>
      -> tensor<2x4x200x32xf32>
  return %o : tensor<2x4x200x32xf32>
}

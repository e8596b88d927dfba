func.func @spec(%q: tensor<2x8x512x64xbf16>, %k: tensor<2x2x512x64xbf16>, %v: tensor<2x2x512x64xbf16>) -> tensor<2x8x512x64xbf16> {
  %c256 = arith.constant 256 : index
  %o = attn.attention %q, %k, %v mask(#attn.and<#attn.causal, #attn.window<left = ?, right = 0>>, %c256 : index) : tensor<2x8x512x64xbf16>, tensor<2x2x512x64xbf16>, tensor<2x2x512x64xbf16> -> tensor<2x8x512x64xbf16>
  return %o : tensor<2x8x512x64xbf16>
}

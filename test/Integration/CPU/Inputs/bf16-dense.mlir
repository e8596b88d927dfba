func.func @spec(%q: tensor<1x2x70x64xbf16>, %k: tensor<1x2x90x64xbf16>, %v: tensor<1x2x90x32xbf16>) -> tensor<1x2x70x32xf32> {
  %o = attn.attention %q, %k, %v : tensor<1x2x70x64xbf16>, tensor<1x2x90x64xbf16>, tensor<1x2x90x32xbf16> -> tensor<1x2x70x32xf32>
  return %o : tensor<1x2x70x32xf32>
}

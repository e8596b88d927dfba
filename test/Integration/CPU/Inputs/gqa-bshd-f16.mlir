func.func @spec(%q: tensor<1x70x8x32xf16>, %k: tensor<1x90x2x32xf16>, %v: tensor<1x90x2x32xf16>, %slopes: tensor<8xf32>, %sinks: tensor<8xf32>) -> tensor<1x70x8x32xf16> {
  %o = attn.attention %q, %k, %v layout(bshd, bshd) mask(#attn.causal<align = bottom_right>) score([#attn.alibi], %slopes : tensor<8xf32>) norm(#attn.sink_softmax<logit = ?>, %sinks : tensor<8xf32>) : tensor<1x70x8x32xf16>, tensor<1x90x2x32xf16>, tensor<1x90x2x32xf16> -> tensor<1x70x8x32xf16>
  return %o : tensor<1x70x8x32xf16>
}

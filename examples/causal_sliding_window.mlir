// Causal sliding-window attention with attention sinks (Mistral /
// StreamingLLM style, catalog M3 + M4), GQA (X1), softcapped scores (S5),
// returning the log-sum-exp for a later backward pass.
//
// The window size is a runtime value: changing it does not recompile.
//
//   build/bin/attn-opt --canonicalize examples/causal_sliding_window.mlir

func.func @causal_sliding_window(%q: tensor<2x8x1024x64xbf16>,
                                 %k: tensor<2x2x1024x64xbf16>,
                                 %v: tensor<2x2x1024x64xbf16>,
                                 %window: index)
    -> (tensor<2x8x1024x64xbf16>, tensor<2x8x1024xf32>) {
  %cap = arith.constant 50.0 : f32
  %o, %lse = attn.attention %q, %k, %v
      // Causal, at most `window` keys back, plus the first 4 tokens.
      mask(#attn.or<#attn.and<#attn.causal, #attn.window<left = ?, right = 0>>,
                    #attn.key_prefix<len = 4>>, %window : index)
      // The constant cap folds into the attribute on canonicalization.
      score([#attn.softcap<cap = ?>], %cap : f32)
      : tensor<2x8x1024x64xbf16>, tensor<2x2x1024x64xbf16>,
        tensor<2x2x1024x64xbf16>
      -> tensor<2x8x1024x64xbf16>, lse tensor<2x8x1024xf32>
  return %o, %lse : tensor<2x8x1024x64xbf16>, tensor<2x8x1024xf32>
}

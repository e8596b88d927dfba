// Document masks that attn-summarize-masks gives their ids' ranges: one
// ids value for both sides, and distinct query and key ids.
func.func @self_docs(%q: tensor<1x2x200x64xbf16>, %doc: tensor<1x200xi32>)
    -> tensor<1x2x200x64xbf16> {
  %o = attn.attention %q, %q, %q
      mask(#attn.and<#attn.causal, #attn.document>, %doc, %doc : tensor<1x200xi32>, tensor<1x200xi32>)
      : tensor<1x2x200x64xbf16>, tensor<1x2x200x64xbf16>, tensor<1x2x200x64xbf16>
      -> tensor<1x2x200x64xbf16>
  return %o : tensor<1x2x200x64xbf16>
}

func.func @cross_docs(%q: tensor<1x2x100x64xbf16>, %k: tensor<1x2x300x64xbf16>,
                      %qd: tensor<1x100xi32>, %kd: tensor<1x300xi32>)
    -> tensor<1x2x100x64xbf16> {
  %o = attn.attention %q, %k, %k
      mask(#attn.document, %qd, %kd : tensor<1x100xi32>, tensor<1x300xi32>)
      : tensor<1x2x100x64xbf16>, tensor<1x2x300x64xbf16>, tensor<1x2x300x64xbf16>
      -> tensor<1x2x100x64xbf16>
  return %o : tensor<1x2x100x64xbf16>
}

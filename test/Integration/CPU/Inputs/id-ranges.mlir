// Document ids with their ranges per 64 tokens (attn-summarize-masks'
// form): Sq != Sk, lengths not multiples of 64, GQA, B = 2, causal with an
// offset (Sk - Sq), LSE.
func.func @spec(%q: tensor<2x4x200x64xbf16>, %k: tensor<2x2x333x64xbf16>,
                %v: tensor<2x2x333x32xbf16>, %qd: tensor<2x200xi32>,
                %kd: tensor<2x333xi32>)
    -> (tensor<2x4x200x32xf32>, tensor<2x4x200xf32>) {
  %rq = attn.id_ranges %qd : tensor<2x200xi32> -> tensor<2x4x2xi32>
  %rk = attn.id_ranges %kd : tensor<2x333xi32> -> tensor<2x6x2xi32>
  %o, %l = attn.attention %q, %k, %v
      mask(#attn.and<#attn.causal, #attn.document<ranges>>, %qd, %kd, %rq, %rk
           : tensor<2x200xi32>, tensor<2x333xi32>, tensor<2x4x2xi32>, tensor<2x6x2xi32>)
      : tensor<2x4x200x64xbf16>, tensor<2x2x333x64xbf16>, tensor<2x2x333x32xbf16>
      -> tensor<2x4x200x32xf32>, lse tensor<2x4x200xf32>
  return %o, %l : tensor<2x4x200x32xf32>, tensor<2x4x200xf32>
}

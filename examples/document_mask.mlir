// Packed documents (catalog M6): several sequences share one row of the
// batch; a token attends causally within its own document only. Document
// ids are runtime data, so the compiler builds the list of non-empty tiles
// in generated code, not on the host.
//
//   build/bin/attn-opt --canonicalize examples/document_mask.mlir

func.func @document_mask(%q: tensor<1x8x2048x64xf16>,
                         %k: tensor<1x8x2048x64xf16>,
                         %v: tensor<1x8x2048x64xf16>,
                         %doc: tensor<1x2048xi32>) -> tensor<1x8x2048x64xf16> {
  %o = attn.attention %q, %k, %v
      mask(#attn.and<#attn.causal, #attn.document>,
           %doc, %doc : tensor<1x2048xi32>, tensor<1x2048xi32>)
      : tensor<1x8x2048x64xf16>, tensor<1x8x2048x64xf16>,
        tensor<1x8x2048x64xf16> -> tensor<1x8x2048x64xf16>
  return %o : tensor<1x8x2048x64xf16>
}

// The same documents as a padding-free variable-length batch (X3): four
// sequences packed into 2048 tokens, described by cumulative lengths.
func.func @varlen(%q: tensor<2048x8x64xf16>, %k: tensor<2048x8x64xf16>,
                  %v: tensor<2048x8x64xf16>, %cu: tensor<5xi32>)
    -> tensor<2048x8x64xf16> {
  %o = attn.attention %q, %k, %v layout(thd, thd) mask(#attn.causal)
      cu_seqlens_q(%cu : tensor<5xi32>) cu_seqlens_kv(%cu : tensor<5xi32>)
      : tensor<2048x8x64xf16>, tensor<2048x8x64xf16>, tensor<2048x8x64xf16>
      -> tensor<2048x8x64xf16>
  return %o : tensor<2048x8x64xf16>
}

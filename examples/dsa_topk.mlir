// DeepSeek Sparse Attention style selection (catalog D1, H2): a lightweight
// indexer with 4 small heads scores every (query, key) pair, keeps the 2048
// best causal keys per query, and all 16 attention heads attend to exactly
// those keys. The index set is an ordinary SSA value: another layer could
// reuse it (H3) by taking %idx as an operand.
//
//   build/bin/attn-opt --canonicalize examples/dsa_topk.mlir

func.func @dsa_topk(%q: tensor<1x16x16384x128xbf16>,
                    %k: tensor<1x1x16384x128xbf16>,
                    %v: tensor<1x1x16384x128xbf16>,
                    %qi: tensor<1x16384x4x64xbf16>,
                    %ki: tensor<1x16384x64xbf16>,
                    %w: tensor<1x16384x4xf32>) -> tensor<1x16x16384x128xbf16> {
  %count, %idx = attn.indexer_topk %qi, %ki, %w k = 2048 mask(#attn.causal)
      : tensor<1x16384x4x64xbf16>, tensor<1x16384x64xbf16>, tensor<1x16384x4xf32>
      -> tensor<1x1x16384xi32>, tensor<1x1x16384x2048xi32>
  %o = attn.attention %q, %k, %v
      mask(#attn.and<#attn.causal, #attn.tokens>,
           %count, %idx : tensor<1x1x16384xi32>, tensor<1x1x16384x2048xi32>)
      : tensor<1x16x16384x128xbf16>, tensor<1x1x16384x128xbf16>,
        tensor<1x1x16384x128xbf16> -> tensor<1x16x16384x128xbf16>
  return %o : tensor<1x16x16384x128xbf16>
}

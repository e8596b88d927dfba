// DeepSeek Sparse Attention style selection (catalog D1, H2): a lightweight
// indexer with 4 small heads scores every (query, key) pair, keeps the 256
// best causal keys per query (DSA keeps 2048 of up to 128K; here 1/8 of a
// 2048-token sequence, small enough to check on a CPU), and all 16
// attention heads attend to exactly those keys. The index set is an
// ordinary SSA value: another layer could reuse it (H3) by taking %idx as
// an operand. The GPU benchmark runs the real sizes (bench/gpu/selection.py).
//
//   build/bin/attn-run examples/dsa_topk.mlir --random 0 --check

func.func @dsa_topk(%q: tensor<1x16x2048x128xbf16>,
                    %k: tensor<1x1x2048x128xbf16>,
                    %v: tensor<1x1x2048x128xbf16>,
                    %qi: tensor<1x2048x4x64xbf16>,
                    %ki: tensor<1x2048x64xbf16>,
                    %w: tensor<1x2048x4xf32>) -> tensor<1x16x2048x128xbf16> {
  %count, %idx = attn.indexer_topk %qi, %ki, %w k = 256 mask(#attn.causal)
      : tensor<1x2048x4x64xbf16>, tensor<1x2048x64xbf16>, tensor<1x2048x4xf32>
      -> tensor<1x1x2048xi32>, tensor<1x1x2048x256xi32>
  %o = attn.attention %q, %k, %v
      mask(#attn.and<#attn.causal, #attn.tokens>,
           %count, %idx : tensor<1x1x2048xi32>, tensor<1x1x2048x256xi32>)
      : tensor<1x16x2048x128xbf16>, tensor<1x1x2048x128xbf16>,
        tensor<1x1x2048x128xbf16> -> tensor<1x16x2048x128xbf16>
  return %o : tensor<1x16x2048x128xbf16>
}

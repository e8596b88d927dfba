// One selection op as the whole function: it runs as a one-step program
// when it returns all of its results (names of %r#N results: r_N), and
// is refused with a located error otherwise.
func.func @partial(%logits: tensor<2x5x4xf32>) -> tensor<2x5x4xf32> {
  %keep, %w = attn.head_topk %logits k = 2 : tensor<2x5x4xf32> -> tensor<2x4x5xi1>, tensor<2x5x4xf32>
  return %w : tensor<2x5x4xf32>
}
func.func @both(%logits: tensor<2x5x4xf32>) -> (tensor<2x4x5xi1>, tensor<2x5x4xf32>) {
  %r:2 = attn.head_topk %logits k = 2 : tensor<2x5x4xf32> -> tensor<2x4x5xi1>, tensor<2x5x4xf32>
  return %r#0, %r#1 : tensor<2x4x5xi1>, tensor<2x5x4xf32>
}

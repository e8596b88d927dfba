// D1-style sparse attention on the CPU: 256 selected keys (random, distinct)
// of 4096 per query, B = 1, H = 8, D = 64 (docs/benchmarks.md).
//   build/bin/attn-run bench/cpu/selected-tokens-4096.mlir --random 1 --threads 2 --bench 5 --json
func.func @tok(%q: tensor<1x8x4096x64xf32>, %k: tensor<1x8x4096x64xf32>, %v: tensor<1x8x4096x64xf32>, %c: tensor<1x1x4096xi32>, %i: tensor<1x1x4096x256xi32>) -> tensor<1x8x4096x64xf32> {
  %o = attn.attention %q, %k, %v mask(#attn.tokens, %c, %i : tensor<1x1x4096xi32>, tensor<1x1x4096x256xi32>) : tensor<1x8x4096x64xf32>, tensor<1x8x4096x64xf32>, tensor<1x8x4096x64xf32> -> tensor<1x8x4096x64xf32>
  return %o : tensor<1x8x4096x64xf32>
}

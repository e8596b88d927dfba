// Self-attention on one argument (q = k = v) with a 3-D neighborhood
// (row-major boxes of frames and rows in the tile classification).
func.func @video(%x: tensor<1x2x320x16xf32>) -> (tensor<1x2x320x16xf32>, tensor<1x2x320xf32>) {
  %o, %l = attn.attention %x, %x, %x mask(#attn.neighborhood<grid = [5, 8, 8], kernel = [3, 5, 3], dilation = [1, 1, 2]>) : tensor<1x2x320x16xf32>, tensor<1x2x320x16xf32>, tensor<1x2x320x16xf32> -> tensor<1x2x320x16xf32>, lse tensor<1x2x320xf32>
  return %o, %l : tensor<1x2x320x16xf32>, tensor<1x2x320xf32>
}

// RUN: attn-opt %s -split-input-file -attn-order-patches | FileCheck %s
// RUN: attn-opt %s -split-input-file -attn-order-patches -attn-classify-tiles="q-tile=64 k-tile=64" | FileCheck %s --check-prefix=TILES
// RUN: attn-opt %s -split-input-file -attn-order-patches="patch-rows=4 patch-cols=16" | FileCheck %s --check-prefix=WIDE
// RUN: not attn-opt %s -split-input-file -attn-order-patches="tile=0" 2>&1 | FileCheck %s --check-prefix=BADTILE
// RUN: not attn-opt %s -split-input-file -attn-order-patches="patch-cols=0" 2>&1 | FileCheck %s --check-prefix=BADPATCH

// BADTILE: expected a positive tile and patch extents, got tile=0, patch-rows=8, patch-cols=8
// BADPATCH: expected a positive tile and patch extents, got tile=64, patch-rows=8, patch-cols=0

// M9 (13 x 13 on a 128 x 128 grid): a 64-query tile in row order is half
// a grid row whose keys are 13 whole grid rows (26 key tiles); as an 8 x 8
// patch it sees 3 x 3 patches. Per head: 256 query tiles x 26 = 6656
// partial tiles in row order, 2116 in patch order (fewer at the borders).
// CHECK-LABEL: func @neighborhood
// CHECK: mask(#attn.neighborhood<grid = [128, 128], kernel = [13, 13]>) {patches = array<i64: 8, 8>}
// TILES-LABEL: func @neighborhood
// TILES: attn.tile_counts = array<i64: 63420, 0, 2116>
// WIDE-LABEL: func @neighborhood
// WIDE: {patches = array<i64: 4, 16>}
func.func @neighborhood(%q: tensor<1x1x16384x64xbf16>) -> tensor<1x1x16384x64xbf16> {
  %o = attn.attention %q, %q, %q mask(#attn.neighborhood<grid = [128, 128], kernel = [13, 13]>) : tensor<1x1x16384x64xbf16>, tensor<1x1x16384x64xbf16>, tensor<1x1x16384x64xbf16> -> tensor<1x1x16384x64xbf16>
  return %o : tensor<1x1x16384x64xbf16>
}

// -----

// Dilation, stride and causal axes keep the order's benefit (the LSE and
// BSHD layouts are kept), also where head 0 has no keys (the pass counts
// every head); per-head neighborhoods under an `or` make more
// key runs in patch order than the classification keeps apart (8), so
// row order visits fewer tiles there and the op is left alone.
// CHECK-LABEL: func @variants
// CHECK: kernel = [7, 7], dilation = [2, 1], stride = [1, 3]>) {patches = array<i64: 8, 8>}
// CHECK: layout(bshd, bshd) mask(#attn.and<#attn.heads<begin = 1, end = 2>, #attn.neighborhood<grid = [64, 64], kernel = [9, 9], causal = [true, false]>>) {patches = array<i64: 8, 8>}
// CHECK: attn.attention %{{.*}} mask(#attn.or<{{.*}}>) :
// TILES-LABEL: func @variants
// TILES: attn.tile_counts = array<i64: 14448, 0, 1936>
// TILES: attn.tile_counts = array<i64: 7862, 0, 330>
// TILES: attn.tile_counts = array<i64: 7332, 0, 860>
func.func @variants(%q: tensor<2x4x4096x64xf32>, %x: tensor<1x4096x2x64xf16>) -> (tensor<2x4x4096x64xf32>, tensor<2x4x4096xf32>, tensor<1x4096x2x64xf16>) {
  %o, %l = attn.attention %q, %q, %q mask(#attn.neighborhood<grid = [64, 64], kernel = [7, 7], dilation = [2, 1], stride = [1, 3]>) : tensor<2x4x4096x64xf32>, tensor<2x4x4096x64xf32>, tensor<2x4x4096x64xf32> -> tensor<2x4x4096x64xf32>, lse tensor<2x4x4096xf32>
  %p = attn.attention %x, %x, %x layout(bshd, bshd) mask(#attn.and<#attn.heads<begin = 1, end = 2>, #attn.neighborhood<grid = [64, 64], kernel = [9, 9], causal = [true, false]>>) : tensor<1x4096x2x64xf16>, tensor<1x4096x2x64xf16>, tensor<1x4096x2x64xf16> -> tensor<1x4096x2x64xf16>
  %r = attn.attention %x, %x, %x layout(bshd, bshd) mask(#attn.or<#attn.and<#attn.heads<begin = 0, end = 1>, #attn.neighborhood<grid = [64, 64], kernel = [9, 9], causal = [true, false]>>, #attn.and<#attn.heads<begin = 1, end = 2>, #attn.neighborhood<grid = [64, 64], kernel = [5, 5]>>>) : tensor<1x4096x2x64xf16>, tensor<1x4096x2x64xf16>, tensor<1x4096x2x64xf16> -> tensor<1x4096x2x64xf16>
  return %o, %l, %r : tensor<2x4x4096x64xf32>, tensor<2x4x4096xf32>, tensor<1x4096x2x64xf16>
}

// -----

// Left alone: a window as wide as the grid rows (row order is already
// compact), a grid the patch does not divide, a 3-D grid, a position mask
// beside the neighborhood, an order already chosen.
// CHECK-LABEL: func @left_alone
// CHECK-NOT: patches = array<i64: 8, 8>
// CHECK: {patches = array<i64: 2, 2>}
func.func @left_alone(%a: tensor<1x2x256x64xf32>, %b: tensor<1x2x144x64xf32>, %c: tensor<1x2x4096x64xf32>) -> (tensor<1x2x256x64xf32>, tensor<1x2x144x64xf32>, tensor<1x2x4096x64xf32>, tensor<1x2x4096x64xf32>, tensor<1x2x4096x64xf32>) {
  %0 = attn.attention %a, %a, %a mask(#attn.neighborhood<grid = [32, 8], kernel = [3, 8]>) : tensor<1x2x256x64xf32>, tensor<1x2x256x64xf32>, tensor<1x2x256x64xf32> -> tensor<1x2x256x64xf32>
  %1 = attn.attention %b, %b, %b mask(#attn.neighborhood<grid = [12, 12], kernel = [3, 3]>) : tensor<1x2x144x64xf32>, tensor<1x2x144x64xf32>, tensor<1x2x144x64xf32> -> tensor<1x2x144x64xf32>
  %2 = attn.attention %c, %c, %c mask(#attn.neighborhood<grid = [4, 32, 32], kernel = [3, 7, 7]>) : tensor<1x2x4096x64xf32>, tensor<1x2x4096x64xf32>, tensor<1x2x4096x64xf32> -> tensor<1x2x4096x64xf32>
  %3 = attn.attention %c, %c, %c mask(#attn.and<#attn.neighborhood<grid = [64, 64], kernel = [13, 13]>, #attn.causal>) : tensor<1x2x4096x64xf32>, tensor<1x2x4096x64xf32>, tensor<1x2x4096x64xf32> -> tensor<1x2x4096x64xf32>
  %4 = attn.attention %c, %c, %c mask(#attn.neighborhood<grid = [64, 64], kernel = [13, 13]>) {patches = array<i64: 2, 2>} : tensor<1x2x4096x64xf32>, tensor<1x2x4096x64xf32>, tensor<1x2x4096x64xf32> -> tensor<1x2x4096x64xf32>
  return %0, %1, %2, %3, %4 : tensor<1x2x256x64xf32>, tensor<1x2x144x64xf32>, tensor<1x2x4096x64xf32>, tensor<1x2x4096x64xf32>, tensor<1x2x4096x64xf32>
}

// RUN: attn-opt %s -split-input-file -attn-classify-tiles="q-tile=64 k-tile=64" | FileCheck %s
// RUN: not attn-opt %s -split-input-file -attn-classify-tiles="q-tile=0" 2>&1 | FileCheck %s --check-prefix=BADTILE

// BADTILE: expected positive tile sizes, got q-tile=0 and k-tile=64

// Causal, 256 x 256, 64 x 64 tiles: per head 6 empty, 6 full, 4 diagonal
// partial tiles.
// CHECK-LABEL: func @causal
// CHECK: attn.core = "[0, min((i0 + 1), Sk))"
// CHECK-SAME: attn.hull = "[0, min(i1, Sk))"
// CHECK-SAME: attn.key_tiles = "[0, ceildiv(min(i1, Sk), 64))"
// CHECK-SAME: attn.tile_counts = array<i64: 12, 12, 8>
func.func @causal(%q: tensor<1x2x256x64xf32>) -> tensor<1x2x256x64xf32> {
  %o = attn.attention %q, %q, %q mask(#attn.causal) : tensor<1x2x256x64xf32>, tensor<1x2x256x64xf32>, tensor<1x2x256x64xf32> -> tensor<1x2x256x64xf32>
  return %o : tensor<1x2x256x64xf32>
}

// -----

// A runtime window: the closed form reads mask operand %0; no counts.
// CHECK-LABEL: func @runtime_window
// CHECK: attn.core = "[max(((i1 - 1) - %0), 0), max(min((i0 + 1), Sk), max(((i1 - 1) - %0), 0)))"
// CHECK-SAME: attn.hull = "[max((i0 - %0), 0), max(min(i1, Sk), max((i0 - %0), 0)))"
// CHECK-NOT: attn.tile_counts
func.func @runtime_window(%q: tensor<1x2x256x64xf32>, %w: index) -> tensor<1x2x256x64xf32> {
  %o = attn.attention %q, %q, %q mask(#attn.window<left = ?>, %w : index) : tensor<1x2x256x64xf32>, tensor<1x2x256x64xf32>, tensor<1x2x256x64xf32> -> tensor<1x2x256x64xf32>
  return %o : tensor<1x2x256x64xf32>
}

// -----

// Bottom-right causal decode (Sq = 4, Sk = 1000): the diagonal is Sk - Sq.
// CHECK-LABEL: func @bottom_right
// CHECK: attn.hull = "[0, max(min((i1 + (Sk - Sq)), Sk), 0))"
// CHECK-SAME: attn.tile_counts = array<i64: 0, 15, 1>
func.func @bottom_right(%q: tensor<1x1x4x64xf32>, %k: tensor<1x1x1000x64xf32>) -> tensor<1x1x4x64xf32> {
  %o = attn.attention %q, %k, %k mask(#attn.causal<align = bottom_right>) : tensor<1x1x4x64xf32>, tensor<1x1x1000x64xf32>, tensor<1x1x1000x64xf32> -> tensor<1x1x4x64xf32>
  return %o : tensor<1x1x4x64xf32>
}

// -----

// Sinks + causal window: two disjoint key ranges, the sink prefix and the
// band. 1024 keys, window 128, 16 x 16 tiles: query tile t sees key tile
// t - 2 (partial), t - 1 (full), t (partial, diagonal) and tile 0 (partial,
// sinks): exact, 15 full + 43 partial of 256.
// CHECK-LABEL: func @sink_window
// CHECK: attn.core = "[max((i1 - 129), 0), max(min((i0 + 1), Sk), max((i1 - 129), 0))) u [0, min(4, Sk))"
// CHECK: attn.tile_counts = array<i64: 198, 15, 43>
func.func @sink_window(%q: tensor<1x1x1024x64xf32>) -> tensor<1x1x1024x64xf32> {
  %o = attn.attention %q, %q, %q mask(#attn.or<#attn.window<left = 128>, #attn.key_prefix<len = 4>>) : tensor<1x1x1024x64xf32>, tensor<1x1x1024x64xf32>, tensor<1x1x1024x64xf32> -> tensor<1x1x1024x64xf32>
  return %o : tensor<1x1x1024x64xf32>
}

// -----

// Runtime data (document ids): every tile may hold allowed pairs.
// CHECK-LABEL: func @document
// CHECK: attn.core = "{}"
// CHECK-SAME: attn.hull = "[0, Sk)"
// CHECK-SAME: attn.tile_counts = array<i64: 0, 0, 16>
func.func @document(%q: tensor<1x1x256x64xf32>, %doc: tensor<1x256xi32>) -> tensor<1x1x256x64xf32> {
  %o = attn.attention %q, %q, %q mask(#attn.document, %doc, %doc : tensor<1x256xi32>, tensor<1x256xi32>) : tensor<1x1x256x64xf32>, tensor<1x1x256x64xf32>, tensor<1x1x256x64xf32> -> tensor<1x1x256x64xf32>
  return %o : tensor<1x1x256x64xf32>
}

// -----

// Residue groups (attn-group-residues of a +-512 window dilated by 4 on
// 1024 tokens): tiles over each group's 256 positions, where the window is
// +-128: per group 10 full, 4 partial and 2 empty tiles of 16.
// CHECK-LABEL: func @residue_groups
// CHECK: attn.tile_counts = array<i64: 8, 40, 16>
func.func @residue_groups(%q: tensor<1x1x1024x64xf32>) -> tensor<1x1x1024x64xf32> {
  %o = attn.attention %q, %q, %q mask(#attn.window<left = 128, right = 128>) {residue_groups = 4 : i64} : tensor<1x1x1024x64xf32>, tensor<1x1x1024x64xf32>, tensor<1x1x1024x64xf32> -> tensor<1x1x1024x64xf32>
  return %o : tensor<1x1x1024x64xf32>
}

// -----

// A 3-D neighborhood (16 frames of 32 x 32, window 3 x 7 x 7) in row-major
// order: per key frame one run of grid rows. A 64-query tile (2 grid rows)
// sees rows y - 3 .. y + 4 of 3 frames: 5 tiles of 2 rows per frame, 15
// per tile inside the video (fewer at its edges; whole frames would be 48).
// CHECK-LABEL: func @video
// CHECK: attn.tile_counts = array<i64: 61888, 0, 3648>
func.func @video(%q: tensor<1x1x16384x64xbf16>) -> tensor<1x1x16384x64xbf16> {
  %o = attn.attention %q, %q, %q mask(#attn.neighborhood<grid = [16, 32, 32], kernel = [3, 7, 7]>) : tensor<1x1x16384x64xbf16>, tensor<1x1x16384x64xbf16>, tensor<1x1x16384x64xbf16> -> tensor<1x1x16384x64xbf16>
  return %o : tensor<1x1x16384x64xbf16>
}

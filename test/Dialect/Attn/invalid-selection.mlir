// RUN: attn-opt %s -split-input-file -verify-diagnostics

// Verifier errors of the selection ops, attn.pool and
// attn.linear_attention: one case per block.

func.func @indexer_query_rank(%q: tensor<1x256x32xbf16>, %k: tensor<1x256x32xbf16>, %w: tensor<1x256x4xf32>) {
  // expected-error @+1 {{expected query of rank 4, got 'tensor<1x256x32xbf16>'}}
  %c, %i = attn.indexer_topk %q, %k, %w k = 8 : tensor<1x256x32xbf16>, tensor<1x256x32xbf16>, tensor<1x256x4xf32> -> tensor<1x1x256xi32>, tensor<1x1x256x8xi32>
  return
}

// -----

func.func @indexer_k_too_large(%q: tensor<1x256x4x32xbf16>, %k: tensor<1x256x32xbf16>, %w: tensor<1x256x4xf32>) {
  // expected-error @+1 {{expected k to be at most the number of keys 256, got 512}}
  %c, %i = attn.indexer_topk %q, %k, %w k = 512 : tensor<1x256x4x32xbf16>, tensor<1x256x32xbf16>, tensor<1x256x4xf32> -> tensor<1x1x256xi32>, tensor<1x1x256x512xi32>
  return
}

// -----

func.func @indexer_k_zero(%q: tensor<1x256x4x32xbf16>, %k: tensor<1x256x32xbf16>, %w: tensor<1x256x4xf32>) {
  // expected-error @+1 {{expected positive k, got 0}}
  %c, %i = attn.indexer_topk %q, %k, %w k = 0 : tensor<1x256x4x32xbf16>, tensor<1x256x32xbf16>, tensor<1x256x4xf32> -> tensor<1x1x256xi32>, tensor<1x1x256x0xi32>
  return
}

// -----

func.func @indexer_key_block(%q: tensor<1x256x4x32xbf16>, %k: tensor<1x8x32xbf16>, %w: tensor<1x256x4xf32>) {
  // expected-error @+1 {{expected positive key_block, got 0}}
  %c, %i = attn.indexer_topk %q, %k, %w k = 4 {key_block = 0 : i64} : tensor<1x256x4x32xbf16>, tensor<1x8x32xbf16>, tensor<1x256x4xf32> -> tensor<1x1x256xi32>, tensor<1x1x256x4xi32>
  return
}

// -----

func.func @indexer_within_without_block_size(%q: tensor<1x256x4x32xbf16>, %k: tensor<1x256x32xbf16>, %w: tensor<1x256x4xf32>, %bc: tensor<1x1x256xi32>, %bi: tensor<1x1x256x4xi32>) {
  // expected-error @+1 {{expected block_size exactly when within(...) is given}}
  %c, %i = attn.indexer_topk %q, %k, %w k = 64 within(%bc, %bi : tensor<1x1x256xi32>, tensor<1x1x256x4xi32>) : tensor<1x256x4x32xbf16>, tensor<1x256x32xbf16>, tensor<1x256x4xf32> -> tensor<1x1x256xi32>, tensor<1x1x256x64xi32>
  return
}

// -----

func.func @indexer_block_size(%q: tensor<1x256x4x32xbf16>, %k: tensor<1x256x32xbf16>, %w: tensor<1x256x4xf32>, %bc: tensor<1x1x256xi32>, %bi: tensor<1x1x256x4xi32>) {
  // expected-error @+1 {{expected positive block_size, got -32}}
  %c, %i = attn.indexer_topk %q, %k, %w k = 64 within(%bc, %bi : tensor<1x1x256xi32>, tensor<1x1x256x4xi32>) {block_size = -32 : i64} : tensor<1x256x4x32xbf16>, tensor<1x256x32xbf16>, tensor<1x256x4xf32> -> tensor<1x1x256xi32>, tensor<1x1x256x64xi32>
  return
}

// -----

func.func @indexer_predicate(%q: tensor<1x256x4x32xbf16>, %k: tensor<1x256x32xbf16>, %w: tensor<1x256x4xf32>) {
  // expected-error @+1 {{expected no #attn.predicate: only attn.attention has a predicate region}}
  %c, %i = attn.indexer_topk %q, %k, %w k = 8 mask(#attn.predicate) : tensor<1x256x4x32xbf16>, tensor<1x256x32xbf16>, tensor<1x256x4xf32> -> tensor<1x1x256xi32>, tensor<1x1x256x8xi32>
  return
}

// -----

func.func @pool_dim(%x: tensor<1x256x32xbf16>) {
  // expected-error @+1 {{expected pooled dimension in [0, 3), got 3}}
  %p = attn.pool %x dim = 3 block = 32 kind = mean : tensor<1x256x32xbf16> -> tensor<1x8x32xbf16>
  return
}

// -----

func.func @pool_block(%x: tensor<1x256x32xbf16>) {
  // expected-error @+1 {{expected positive block, got 0}}
  %p = attn.pool %x dim = 1 block = 0 kind = max : tensor<1x256x32xbf16> -> tensor<1x8x32xbf16>
  return
}

// -----

func.func @pool_shape(%x: tensor<1x250x32xbf16>) {
  // expected-error @+1 {{expected output of shape 1x8x32, got 'tensor<1x7x32xbf16>'}}
  %p = attn.pool %x dim = 1 block = 32 kind = mean : tensor<1x250x32xbf16> -> tensor<1x7x32xbf16>
  return
}

// -----

func.func @pool_element(%x: tensor<1x256x32xbf16>) {
  // expected-error @+1 {{expected output element type 'bf16', got 'f32'}}
  %p = attn.pool %x dim = 1 block = 32 kind = mean : tensor<1x256x32xbf16> -> tensor<1x8x32xf32>
  return
}

// -----

func.func @pool_input_element(%x: tensor<1x256x32xi32>) {
  // expected-error @+1 {{expected input element type to be f16, bf16 or f32, got 'i32'}}
  %p = attn.pool %x dim = 1 block = 32 kind = mean : tensor<1x256x32xi32> -> tensor<1x8x32xi32>
  return
}

// -----

func.func @block_topk_gqa(%q: tensor<1x8x256x64xbf16>, %k: tensor<1x3x256x64xbf16>) {
  // expected-error @+1 {{expected key head count to divide query head count, got 8 and 3}}
  %c, %i = attn.block_topk %q, %k blocks(64, 64) k = 2 pool = mean : tensor<1x8x256x64xbf16>, tensor<1x3x256x64xbf16> -> tensor<1x8x4xi32>, tensor<1x8x4x2xi32>
  return
}

// -----

func.func @block_topk_budget(%q: tensor<1x8x256x64xbf16>, %k: tensor<1x2x256x64xbf16>) {
  // expected-error @+1 {{expected k to be at most the number of key blocks 4, got 5}}
  %c, %i = attn.block_topk %q, %k blocks(64, 64) k = 5 pool = mean : tensor<1x8x256x64xbf16>, tensor<1x2x256x64xbf16> -> tensor<1x8x4xi32>, tensor<1x8x4x5xi32>
  return
}

// -----

func.func @block_topk_blocks(%q: tensor<1x8x256x64xbf16>, %k: tensor<1x2x256x64xbf16>) {
  // expected-error @+1 {{expected positive block sizes, got 0 and 64}}
  %c, %i = attn.block_topk %q, %k blocks(0, 64) k = 2 pool = mean : tensor<1x8x256x64xbf16>, tensor<1x2x256x64xbf16> -> tensor<1x8x4xi32>, tensor<1x8x4x2xi32>
  return
}

// -----

func.func @block_topk_results(%q: tensor<1x8x256x64xbf16>, %k: tensor<1x2x256x64xbf16>) {
  // expected-error @+1 {{expected indices of shape 1x8x4x2, got 'tensor<1x8x4x3xi32>'}}
  %c, %i = attn.block_topk %q, %k blocks(64, 64) k = 2 pool = max : tensor<1x8x256x64xbf16>, tensor<1x2x256x64xbf16> -> tensor<1x8x4xi32>, tensor<1x8x4x3xi32>
  return
}

// -----

func.func @block_topk_mask(%q: tensor<1x8x256x64xbf16>, %k: tensor<1x2x256x64xbf16>) {
  // expected-error @+1 {{expected a mask attribute, got #attn.alibi}}
  %c, %i = attn.block_topk %q, %k blocks(64, 64) k = 2 pool = mean mask(#attn.alibi) : tensor<1x8x256x64xbf16>, tensor<1x2x256x64xbf16> -> tensor<1x8x4xi32>, tensor<1x8x4x2xi32>
  return
}

// -----

func.func @hip_branch(%q: tensor<1x8x256x64xbf16>, %k: tensor<1x2x256x64xbf16>) {
  // expected-error @+1 {{expected branch factor of at least 2, got 1}}
  %c, %i = attn.hip_topk %q, %k blocks(64, 32) k = 4 branch = 1 : tensor<1x8x256x64xbf16>, tensor<1x2x256x64xbf16> -> tensor<1x8x4xi32>, tensor<1x8x4x4xi32>
  return
}

// -----

func.func @threshold_gamma(%q: tensor<1x8x256x64xbf16>, %k: tensor<1x2x256x64xbf16>) {
  // expected-error @+1 {{expected gamma in (0, 1], got 1.5}}
  %c, %i = attn.threshold_blocks %q, %k blocks(64, 64) gamma = 1.5 : tensor<1x8x256x64xbf16>, tensor<1x2x256x64xbf16> -> tensor<1x8x4xi32>, tensor<1x8x4x4xi32>
  return
}

// -----

func.func @threshold_min_blocks(%q: tensor<1x8x256x64xbf16>, %k: tensor<1x2x256x64xbf16>) {
  // expected-error @+1 {{expected min_blocks to be at most the number of key blocks 4, got 9}}
  %c, %i = attn.threshold_blocks %q, %k blocks(64, 64) gamma = 0.9 {min_blocks = 9 : i64} : tensor<1x8x256x64xbf16>, tensor<1x2x256x64xbf16> -> tensor<1x8x4xi32>, tensor<1x8x4x4xi32>
  return
}

// -----

func.func @pyramid_no_thresholds(%q: tensor<1x8x256x64xbf16>, %k: tensor<1x2x256x64xbf16>) {
  // expected-error @+1 {{expected at least one threshold}}
  %l = attn.pyramid_levels %q, %k blocks(64, 64) thresholds = [] : tensor<1x8x256x64xbf16>, tensor<1x2x256x64xbf16> -> tensor<1x8x4x4xi8>
  return
}

// -----

func.func @pyramid_thresholds_order(%q: tensor<1x8x256x64xbf16>, %k: tensor<1x2x256x64xbf16>) {
  // expected-error @+1 {{expected thresholds in (0, 1] and strictly decreasing, got 5.000000e-01 at level 1}}
  %l = attn.pyramid_levels %q, %k blocks(64, 64) thresholds = [0.1, 0.5] : tensor<1x8x256x64xbf16>, tensor<1x2x256x64xbf16> -> tensor<1x8x4x4xi8>
  return
}

// -----

func.func @pyramid_levels_count(%q: tensor<1x8x256x64xbf16>, %k: tensor<1x2x256x64xbf16>) {
  // expected-error @+1 {{expected at most log2(k_block) + 1 = 2 levels, got 3}}
  %l = attn.pyramid_levels %q, %k blocks(64, 2) thresholds = [0.5, 0.2, 0.1] : tensor<1x8x256x64xbf16>, tensor<1x2x256x64xbf16> -> tensor<1x8x4x128xi8>
  return
}

// -----

func.func @pyramid_levels_type(%q: tensor<1x8x256x64xbf16>, %k: tensor<1x2x256x64xbf16>) {
  // expected-error @+1 {{expected levels element type to be i8, got 'i32'}}
  %l = attn.pyramid_levels %q, %k blocks(64, 64) thresholds = [0.1] : tensor<1x8x256x64xbf16>, tensor<1x2x256x64xbf16> -> tensor<1x8x4x4xi32>
  return
}

// -----

func.func @query_topk_threshold(%q: tensor<1x8x16x64xf32>, %k: tensor<1x8x256x64xf32>) {
  // expected-error @+1 {{expected threshold in (0, 1], got 0}}
  %c, %i = attn.query_topk %q, %k max_tokens = 64 {threshold = 0.0 : f64} : tensor<1x8x16x64xf32>, tensor<1x8x256x64xf32> -> tensor<1x1x1xi32>, tensor<1x1x1x64xi32>
  return
}

// -----

func.func @query_topk_budget(%q: tensor<1x8x16x64xf32>, %k: tensor<1x8x256x64xf32>) {
  // expected-error @+1 {{expected max_tokens to be at most the number of keys 256, got 300}}
  %c, %i = attn.query_topk %q, %k max_tokens = 300 : tensor<1x8x16x64xf32>, tensor<1x8x256x64xf32> -> tensor<1x1x1xi32>, tensor<1x1x1x300xi32>
  return
}

// -----

func.func @value_topk_weight(%v: tensor<1x2x128x64xf32>, %w: tensor<2x32xf32>) {
  // expected-error @+1 {{expected weight of shape 2x64, got 'tensor<2x32xf32>'}}
  %c, %i, %s = attn.value_topk %v, %w k = 32 : tensor<1x2x128x64xf32>, tensor<2x32xf32> -> tensor<1x2x1xi32>, tensor<1x2x1x32xi32>, tensor<1x2x128xf32>
  return
}

// -----

func.func @value_topk_scores(%v: tensor<1x2x128x64xf32>, %w: tensor<2x64xf32>) {
  // expected-error @+1 {{expected scores element type to be f32, got 'f16'}}
  %c, %i, %s = attn.value_topk %v, %w k = 32 : tensor<1x2x128x64xf32>, tensor<2x64xf32> -> tensor<1x2x1xi32>, tensor<1x2x1x32xi32>, tensor<1x2x128xf16>
  return
}

// -----

func.func @head_topk_k(%l: tensor<2x128x8xf32>) {
  // expected-error @+1 {{expected k to be at most the number of heads 8, got 9}}
  %keep, %w = attn.head_topk %l k = 9 : tensor<2x128x8xf32> -> tensor<2x8x128xi1>, tensor<2x128x8xf32>
  return
}

// -----

func.func @head_topk_keep(%l: tensor<2x128x8xf32>) {
  // expected-error @+1 {{expected keep element type to be i1, got 'i8'}}
  %keep, %w = attn.head_topk %l k = 2 : tensor<2x128x8xf32> -> tensor<2x8x128xi8>, tensor<2x128x8xf32>
  return
}

// -----

func.func @linear_lengths(%q: tensor<1x8x256x64xf32>, %k: tensor<1x2x128x64xf32>, %v: tensor<1x2x128x64xf32>) {
  // expected-error @+1 {{expected equal query and key lengths for linear attention, got 256 and 128}}
  %o = attn.linear_attention %q, %k, %v feature_map = identity : tensor<1x8x256x64xf32>, tensor<1x2x128x64xf32>, tensor<1x2x128x64xf32> -> tensor<1x8x256x64xf32>
  return
}

// -----

func.func @linear_chunk(%q: tensor<1x8x256x64xf32>, %k: tensor<1x2x256x64xf32>, %v: tensor<1x2x256x64xf32>) {
  // expected-error @+1 {{expected positive chunk, got 0}}
  %o = attn.linear_attention %q, %k, %v feature_map = relu {chunk = 0 : i64} : tensor<1x8x256x64xf32>, tensor<1x2x256x64xf32>, tensor<1x2x256x64xf32> -> tensor<1x8x256x64xf32>
  return
}

// -----

func.func @linear_element(%q: tensor<1x8x256x64xf32>, %k: tensor<1x2x256x64xf32>, %v: tensor<1x2x256x64xf16>) {
  // expected-error @+1 {{expected key and value element types to match the query element type}}
  %o = attn.linear_attention %q, %k, %v feature_map = identity : tensor<1x8x256x64xf32>, tensor<1x2x256x64xf32>, tensor<1x2x256x64xf16> -> tensor<1x8x256x64xf32>
  return
}

// -----

func.func @linear_decay(%q: tensor<1x8x256x64xf32>, %k: tensor<1x2x256x64xf32>, %v: tensor<1x2x256x64xf32>, %g: tensor<1x2x256xf32>) {
  // expected-error @+1 {{expected decay of shape 1x8x256, got 'tensor<1x2x256xf32>'}}
  %o = attn.linear_attention %q, %k, %v decay(%g : tensor<1x2x256xf32>) feature_map = identity {causal} : tensor<1x8x256x64xf32>, tensor<1x2x256x64xf32>, tensor<1x2x256x64xf32> -> tensor<1x8x256x64xf32>
  return
}

// -----

func.func @mask_tiles_element(%m: tensor<1x1x64x64xi8>) {
  // expected-error @+1 {{expected mask element type to be i1, got 'i8'}}
  %t = attn.mask_tiles %m : tensor<1x1x64x64xi8> -> tensor<1x1x1x2xi32>
  return
}

// -----

func.func @mask_tiles_shape(%m: tensor<1x2x65x2049xi1>) {
  // expected-error @+1 {{expected tiles of shape 1x2x2x4, got 'tensor<1x2x2x2xi32>'}}
  %t = attn.mask_tiles %m : tensor<1x2x65x2049xi1> -> tensor<1x2x2x2xi32>
  return
}

// -----

func.func @id_ranges_element(%d: tensor<1x64xi64>) {
  // expected-error @+1 {{expected ids element type to be i32, got 'i64'}}
  %r = attn.id_ranges %d : tensor<1x64xi64> -> tensor<1x1x2xi32>
  return
}

// -----

func.func @id_ranges_shape(%d: tensor<2x129xi32>) {
  // expected-error @+1 {{expected ranges of shape 2x3x2, got 'tensor<2x2x2xi32>'}}
  %r = attn.id_ranges %d : tensor<2x129xi32> -> tensor<2x2x2xi32>
  return
}

// -----

func.func @document_ranges_outside_attention(%q: tensor<1x2x64x64xbf16>, %d: tensor<1x64xi32>) {
  %r = attn.id_ranges %d : tensor<1x64xi32> -> tensor<1x1x2xi32>
  // expected-error @+1 {{expected #attn.document<ranges> only in attn.attention}}
  %c, %i = attn.block_topk %q, %q blocks(64, 64) k = 1 pool = mean mask(#attn.document<ranges>, %d, %d, %r, %r : tensor<1x64xi32>, tensor<1x64xi32>, tensor<1x1x2xi32>, tensor<1x1x2xi32>) : tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16> -> tensor<1x2x1xi32>, tensor<1x2x1x1xi32>
  return
}

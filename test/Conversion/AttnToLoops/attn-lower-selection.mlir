// RUN: attn-opt %s -split-input-file -attn-lower-selection -verify-diagnostics | FileCheck %s

// D1: per (b, i) a row of ordered keys (0 where the mask rules a key out),
// the indexer score as relu'd dot products weighted per indexer head, then
// the radix select: four histogram passes of 256 bins over the row (the
// bin found by a scan from the top), and one pass in ascending key order
// that writes the kept keys; the rest of the row is padded with -1.
// CHECK-LABEL: func @indexer
// CHECK: %[[ROW:.*]] = memref.alloc(%{{.*}}) : memref<?xi32>
// CHECK: %[[HIST:.*]] = memref.alloca() : memref<256xi32>
// CHECK: scf.for %[[B:.*]] =
// CHECK: scf.for %[[I:.*]] =
// CHECK: arith.cmpi sle
// CHECK: scf.if
// CHECK: arith.maximumf
// CHECK: arith.bitcast %{{.*}} : f32 to i32
// CHECK: arith.shrsi
// CHECK: arith.xori
// CHECK: arith.maxui
// CHECK: memref.store %{{.*}}, %[[ROW]]
// CHECK-COUNT-4: scf.while
// CHECK: arith.cmpi ugt
// CHECK: arith.constant -1 : i32
// CHECK: memref.store %{{.*}} : memref<2x1x45xi32>
// CHECK: bufferization.to_tensor
// CHECK-NOT: attn.indexer_topk
func.func @indexer(%qi: tensor<2x45x3x8xf32>, %ki: tensor<2x45x8xf32>, %w: tensor<2x45x3xf32>) -> (tensor<2x1x45xi32>, tensor<2x1x45x8xi32>) {
  %c, %i = attn.indexer_topk %qi, %ki, %w k = 8 mask(#attn.causal) : tensor<2x45x3x8xf32>, tensor<2x45x8xf32>, tensor<2x45x3xf32> -> tensor<2x1x45xi32>, tensor<2x1x45x8xi32>
  return %c, %i : tensor<2x1x45xi32>, tensor<2x1x45x8xi32>
}

// -----

// D2, second stage: only the keys of the row's listed blocks are scored
// (the count clamped to the list, each block's key range clamped to the
// keys).
// CHECK-LABEL: func @within
// CHECK: memref.load %{{.*}} : memref<2x1x45xi32>
// CHECK: arith.minsi
// CHECK: arith.maxsi
// CHECK: scf.for
// CHECK: memref.load %{{.*}} : memref<2x1x45x3xi32>
// CHECK: arith.muli %{{.*}}, %c8
func.func @within(%qi: tensor<2x45x3x8xf32>, %ki: tensor<2x45x8xf32>, %w: tensor<2x45x3xf32>, %bc: tensor<2x1x45xi32>, %bi: tensor<2x1x45x3xi32>) -> (tensor<2x1x45xi32>, tensor<2x1x45x6xi32>) {
  %c, %i = attn.indexer_topk %qi, %ki, %w k = 6 within(%bc, %bi : tensor<2x1x45xi32>, tensor<2x1x45x3xi32>) mask(#attn.causal) {block_size = 8 : i64} : tensor<2x45x3x8xf32>, tensor<2x45x8xf32>, tensor<2x45x3xf32> -> tensor<2x1x45xi32>, tensor<2x1x45x6xi32>
  return %c, %i : tensor<2x1x45xi32>, tensor<2x1x45x6xi32>
}

// -----

// Pooling: one loop per output dimension, a reduction over the block's
// actual length (the last block is shorter), mean divides by it.
// CHECK-LABEL: func @pool
// CHECK: memref.alloc() : memref<2x6x8xbf16>
// CHECK: scf.for
// CHECK: scf.for
// CHECK: scf.for
// CHECK: arith.minsi
// CHECK: scf.for {{.*}} -> (f32)
// CHECK: arith.addf
// CHECK: arith.sitofp
// CHECK: arith.divf
// CHECK: arith.truncf %{{.*}} : f32 to bf16
// CHECK-NOT: attn.pool
func.func @pool(%x: tensor<2x45x8xbf16>) -> tensor<2x6x8xbf16> {
  %p = attn.pool %x dim = 1 block = 8 kind = mean : tensor<2x45x8xbf16> -> tensor<2x6x8xbf16>
  return %p : tensor<2x6x8xbf16>
}

// -----

// G2: per token, ordered keys of the router logits, the same radix select
// over the heads into a list of k kept heads, then keep flags and a softmax
// over the kept logits (0 for the others).
// CHECK-LABEL: func @heads
// CHECK: memref.alloc() : memref<2x4x45xi1>
// CHECK: memref.alloc() : memref<2x45x4xf32>
// CHECK-COUNT-4: scf.while
// CHECK: arith.maximumf
// CHECK: math.exp
// CHECK: memref.store %true{{.*}} : memref<2x4x45xi1>
// CHECK: arith.divf
// CHECK-NOT: attn.head_topk
func.func @heads(%logits: tensor<2x45x4xf32>) -> (tensor<2x4x45xi1>, tensor<2x45x4xf32>) {
  %keep, %w = attn.head_topk %logits k = 2 : tensor<2x45x4xf32> -> tensor<2x4x45xi1>, tensor<2x45x4xf32>
  return %keep, %w : tensor<2x4x45xi1>, tensor<2x45x4xf32>
}

// -----

// D3: per (b, h, query block) the pooled query block (mean) is scored
// against every pooled key block; a block pair is a candidate when the mask
// allows any of its pairs (the closed-form ranges decide, and only partial
// blocks search their pairs, stopping at the first allowed one); the local
// block gets the largest key.
// CHECK-LABEL: func @blocks
// CHECK: arith.ceildivsi
// CHECK: arith.divf
// CHECK: scf.if %{{.*}} -> (i1)
// CHECK: scf.while ({{.*}}) : (index, index, i1) -> (index, index, i1)
// CHECK: arith.cmpi sle
// CHECK: arith.ori
// CHECK: arith.select %{{.*}}, %c-1_i32
// CHECK-COUNT-4: scf.while
// CHECK-NOT: attn.block_topk
func.func @blocks(%q: tensor<1x2x64x16xf32>, %k: tensor<1x2x64x16xf32>) -> (tensor<1x2x4xi32>, tensor<1x2x4x2xi32>) {
  %c, %i = attn.block_topk %q, %k blocks(16, 16) k = 2 pool = mean mask(#attn.causal) {include_local} : tensor<1x2x64x16xf32>, tensor<1x2x64x16xf32> -> tensor<1x2x4xi32>, tensor<1x2x4x2xi32>
  return %c, %i : tensor<1x2x4xi32>, tensor<1x2x4x2xi32>
}

// -----

// G4: per (b, key head) the value-derived scores (written out), keys the
// mask allows for some query (here: below a prefix), the radix select.
// CHECK-LABEL: func @values
// CHECK: memref.alloc() : memref<1x2x40xf32>
// CHECK: arith.mulf
// CHECK: memref.store %{{.*}} : memref<1x2x40xf32>
// CHECK: scf.if %{{.*}} -> (i1)
// CHECK: scf.while ({{.*}}) : (index, index, i1) -> (index, index, i1)
// CHECK: arith.cmpi slt
// CHECK-COUNT-4: scf.while
// CHECK-NOT: attn.value_topk
func.func @values(%v: tensor<1x2x40x8xf32>, %w: tensor<2x8xf32>) -> (tensor<1x2x1xi32>, tensor<1x2x1x5xi32>, tensor<1x2x40xf32>) {
  %c, %i, %s = attn.value_topk %v, %w k = 5 mask(#attn.key_prefix<len = 30>) : tensor<1x2x40x8xf32>, tensor<2x8xf32> -> tensor<1x2x1xi32>, tensor<1x2x1x5xi32>, tensor<1x2x40xf32>
  return %c, %i, %s : tensor<1x2x1xi32>, tensor<1x2x1x5xi32>, tensor<1x2x40xf32>
}

// -----

// D7: per batch the attention mass of every key from the guiding queries
// (scale 1/sqrt(D), a softmax per query and head: each guiding row's max
// and sum first, then each key's mass over the rows in order), the radix
// select of
// max_tokens keys, then with a threshold the largest of them until the
// fraction of the total mass is reached, written in ascending order.
// CHECK-LABEL: func @queries
// CHECK: math.rsqrt
// CHECK: arith.maximumf
// CHECK: math.exp
// CHECK: arith.divf
// CHECK-COUNT-4: scf.while
// CHECK: arith.cmpf olt
// CHECK: arith.cmpi ugt
// CHECK-NOT: attn.query_topk
func.func @queries(%q: tensor<1x8x32x64xf32>, %kv: tensor<1x8x512x64xf32>) -> (tensor<1x1x1xi32>, tensor<1x1x1x64xi32>) {
  %c, %i = attn.query_topk %q, %kv max_tokens = 64 {threshold = 0.95} : tensor<1x8x32x64xf32>, tensor<1x8x512x64xf32> -> tensor<1x1x1xi32>, tensor<1x1x1x64xi32>
  return %c, %i : tensor<1x1x1xi32>, tensor<1x1x1x64xi32>
}

// -----

// D4: the candidate blocks in a list; a tree search over ranges of it
// (scf.while until every range is one block): split into `branch` parts,
// score each by the pooled query block . the first key of its first block,
// keep the k best parts by the radix select, remember the longest.
// CHECK-LABEL: func @hip
// CHECK: memref.alloc() : memref<2x8x4x2xi32>
// CHECK: memref.alloc(%{{.*}}) : memref<?xindex>
// CHECK: scf.if %{{.*}} -> (i1)
// CHECK: scf.while ({{.*}}) : (index, index, i1) -> (index, index, i1)
// CHECK: scf.while (%{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}) : (index, index) -> (index, index)
// CHECK: arith.cmpi sgt
// CHECK: scf.condition
// CHECK: arith.divui
// CHECK: memref.load %{{.*}} : memref<2x4x128x64xf32>
// CHECK-COUNT-4: scf.while
// CHECK: arith.maxsi
// CHECK: scf.yield
// CHECK: memref.store %{{.*}} : memref<2x8x4x2xi32>
// CHECK-NOT: attn.hip_topk
func.func @hip(%q: tensor<2x8x128x64xf32>, %k: tensor<2x4x128x64xf32>) -> (tensor<2x8x4xi32>, tensor<2x8x4x2xi32>) {
  %c, %i = attn.hip_topk %q, %k blocks(32, 16) k = 2 branch = 2 mask(#attn.causal) : tensor<2x8x128x64xf32>, tensor<2x4x128x64xf32> -> tensor<2x8x4xi32>, tensor<2x8x4x2xi32>
  return %c, %i : tensor<2x8x4xi32>, tensor<2x8x4x2xi32>
}

// -----

// D5: the last query of each query block against the mean-pooled candidate
// key blocks (scale 1/sqrt(D)); masses n_j exp(s_j - max) normalized; the
// largest taken until gamma of the total (or fewer than min_blocks), then
// the list in ascending order. No radix select: the budget is the mass.
// CHECK-LABEL: func @threshold
// CHECK: math.rsqrt
// CHECK: scf.if %{{.*}} -> (i1)
// CHECK: scf.while ({{.*}}) : (index, index, i1) -> (index, index, i1)
// CHECK: arith.maximumf
// CHECK: math.exp
// CHECK: math.exp
// CHECK: arith.divf
// CHECK-NOT: scf.while
// CHECK: arith.cmpf olt
// CHECK: arith.cmpi slt
// CHECK: arith.ori
// CHECK: arith.cmpi ugt
// CHECK: arith.minsi
// CHECK: memref.store %{{.*}} : memref<1x2x3x3xi32>
// CHECK-NOT: attn.threshold_blocks
func.func @threshold(%q: tensor<1x2x96x16xf32>, %k: tensor<1x2x96x16xf32>) -> (tensor<1x2x3xi32>, tensor<1x2x3x3xi32>) {
  %c, %i = attn.threshold_blocks %q, %k blocks(32, 32) gamma = 0.9 mask(#attn.causal) : tensor<1x2x96x16xf32>, tensor<1x2x96x16xf32> -> tensor<1x2x3xi32>, tensor<1x2x3x3xi32>
  return %c, %i : tensor<1x2x3xi32>, tensor<1x2x3x3xi32>
}

// -----

// D6: per query block the mean-pooled query block against the mean-pooled
// candidate key blocks (scale 1/sqrt(D)); importance n_j exp(s_j - max)
// normalized; the level is the first threshold the importance reaches
// (thresholds compared from the last to the first), -1 otherwise.
// CHECK-LABEL: func @pyramid_levels
// CHECK: memref.alloc() : memref<2x8x4x4xi8>
// CHECK: math.rsqrt
// CHECK: scf.if %{{.*}} -> (i1)
// CHECK: scf.while ({{.*}}) : (index, index, i1) -> (index, index, i1)
// CHECK: arith.maximumf
// CHECK: math.exp
// CHECK: arith.cmpf oge, %{{.*}}, %cst{{.*}} : f32
// CHECK: arith.select %{{.*}}, %c1_i8
// CHECK: arith.select %{{.*}}, %c0_i8
// CHECK: memref.store %{{.*}} : memref<2x8x4x4xi8>
// CHECK-NOT: attn.pyramid_levels
func.func @pyramid_levels(%q: tensor<2x8x128x64xf32>, %k: tensor<2x8x128x64xf32>) -> tensor<2x8x4x4xi8> {
  %l = attn.pyramid_levels %q, %k blocks(32, 32) thresholds = [0.05, 0.01] mask(#attn.causal) : tensor<2x8x128x64xf32>, tensor<2x8x128x64xf32> -> tensor<2x8x4x4xi8>
  return %l : tensor<2x8x4x4xi8>
}

// -----

// H3: an attention's own top-k keys. Per (b, h, i) the mask and the score
// modifiers for every key (-inf where not allowed), the radix select; the
// attention is rebuilt without its top-k results for the streaming
// lowering.
// CHECK-LABEL: func @attention_topk
// CHECK: memref.alloc() : memref<1x4x32xi32>
// CHECK: memref.alloc() : memref<1x4x32x4xi32>
// CHECK: arith.cmpi sle
// CHECK: scf.if
// CHECK: math.tanh
// CHECK: arith.cmpf ogt
// CHECK-COUNT-4: scf.while
// CHECK: %[[O:.*]] = attn.attention %{{.*}} mask(#attn.causal) score([#attn.softcap<cap = 2.000000e+00>]) : tensor<1x4x32x16xf32>, tensor<1x2x32x16xf32>, tensor<1x2x32x8xf32> -> tensor<1x4x32x8xf32>
// CHECK-NOT: topk
// CHECK: return %[[O]]
func.func @attention_topk(%q: tensor<1x4x32x16xf32>, %k: tensor<1x2x32x16xf32>, %v: tensor<1x2x32x8xf32>) -> (tensor<1x4x32x8xf32>, tensor<1x4x32xi32>, tensor<1x4x32x4xi32>) {
  %o, %c, %i = attn.attention %q, %k, %v mask(#attn.causal) score([#attn.softcap<cap = 2.0>]) : tensor<1x4x32x16xf32>, tensor<1x2x32x16xf32>, tensor<1x2x32x8xf32> -> tensor<1x4x32x8xf32>, topk tensor<1x4x32xi32>, tensor<1x4x32x4xi32>
  return %o, %c, %i : tensor<1x4x32x8xf32>, tensor<1x4x32xi32>, tensor<1x4x32x4xi32>
}

// -----

func.func @attention_topk_paged(%q: tensor<2x4x8x16xf32>, %kc: tensor<16x4x2x16xf32>, %t: tensor<2x4xi32>, %l: tensor<2xi32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected top-k results with the bhsd or bshd layouts (not implemented yet for bhsd/paged)}}
  %o, %c, %i = attn.attention %q, %kc, %kc layout(bhsd, paged) block_table(%t : tensor<2x4xi32>) kv_lens(%l : tensor<2xi32>) : tensor<2x4x8x16xf32>, tensor<16x4x2x16xf32>, tensor<16x4x2x16xf32> -> tensor<2x4x8x16xf32>, topk tensor<2x4x8xi32>, tensor<2x4x8x4xi32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

// Summaries computed in the function (attn.id_ranges, attn.mask_tiles) are
// dropped: the masks go back to #attn.document and #attn.dense (the loops
// read the mask itself) and the unused summary ops are erased; a summary
// that is also returned is lowered as usual.
// CHECK-LABEL: func @summaries
// CHECK-NOT: attn.id_ranges
// CHECK-NOT: attn.mask_tiles
// CHECK: scf.for
// CHECK: arith.minsi
// CHECK: arith.maxsi
// CHECK-NOT: attn.id_ranges
// CHECK-NOT: attn.mask_tiles
// CHECK: mask(#attn.and<#attn.causal, #attn.document>, %{{.*}}, %{{.*}} : tensor<1x200xi32>, tensor<1x200xi32>)
// CHECK-NOT: attn.mask_tiles
// CHECK: mask(#attn.dense, %{{.*}} : tensor<1x1x200x200xi1>)
// CHECK: return
func.func @summaries(%q: tensor<1x2x200x64xbf16>, %d: tensor<1x200xi32>, %m: tensor<1x1x200x200xi1>)
    -> (tensor<1x2x200x64xbf16>, tensor<1x2x200x64xbf16>, tensor<1x4x2xi32>) {
  %r = attn.id_ranges %d : tensor<1x200xi32> -> tensor<1x4x2xi32>
  %o = attn.attention %q, %q, %q mask(#attn.and<#attn.causal, #attn.document<ranges>>, %d, %d, %r, %r : tensor<1x200xi32>, tensor<1x200xi32>, tensor<1x4x2xi32>, tensor<1x4x2xi32>) : tensor<1x2x200x64xbf16>, tensor<1x2x200x64xbf16>, tensor<1x2x200x64xbf16> -> tensor<1x2x200x64xbf16>
  %t = attn.mask_tiles %m : tensor<1x1x200x200xi1> -> tensor<1x1x4x2xi32>
  %p = attn.attention %q, %q, %q mask(#attn.dense<tiles>, %m, %t : tensor<1x1x200x200xi1>, tensor<1x1x4x2xi32>) : tensor<1x2x200x64xbf16>, tensor<1x2x200x64xbf16>, tensor<1x2x200x64xbf16> -> tensor<1x2x200x64xbf16>
  return %o, %p, %r : tensor<1x2x200x64xbf16>, tensor<1x2x200x64xbf16>, tensor<1x4x2xi32>
}

// -----

// In a program step the summaries are arguments: kept.
// CHECK-LABEL: func @step_summaries
// CHECK: mask(#attn.document<ranges>, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} :
func.func @step_summaries(%q: tensor<1x2x200x64xbf16>, %d: tensor<1x200xi32>, %r: tensor<1x4x2xi32>)
    -> tensor<1x2x200x64xbf16> attributes {attn.step} {
  %o = attn.attention %q, %q, %q mask(#attn.document<ranges>, %d, %d, %r, %r : tensor<1x200xi32>, tensor<1x200xi32>, tensor<1x4x2xi32>, tensor<1x4x2xi32>) : tensor<1x2x200x64xbf16>, tensor<1x2x200x64xbf16>, tensor<1x2x200x64xbf16> -> tensor<1x2x200x64xbf16>
  return %o : tensor<1x2x200x64xbf16>
}

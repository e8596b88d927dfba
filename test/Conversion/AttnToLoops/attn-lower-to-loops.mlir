// RUN: attn-opt %s -split-input-file -attn-lower-to-loops="q-tile=16 k-tile=32 tile-body=false" -verify-diagnostics | FileCheck %s
// RUN: attn-opt %s -split-input-file -attn-lower-to-loops="q-tile=16 k-tile=32 kernel-abi tile-body=false" -verify-diagnostics | FileCheck %s --check-prefix=KERNEL
// RUN: attn-opt %s -split-input-file -attn-lower-to-loops="q-tile=16 k-tile=32" -verify-diagnostics | FileCheck %s --check-prefix=TILE
// RUN: attn-opt %s -split-input-file -attn-lower-to-loops="q-tile=16 k-tile=32 amx" -verify-diagnostics | FileCheck %s --check-prefix=AMX

// Causal: one loop over the (batch, head, query tile) work items; per row,
// one key-tile loop whose upper bound is the closed form
// ceildiv(min(i1, Sk), 32); the full-tile test (core [0, i0 + 1)) guards the
// mask; an online softmax carries (m, l). No Sq x Sk buffer: the only
// allocations are O, LSE and one accumulator row.
// CHECK-LABEL: func @causal
// CHECK-DAG: %[[Q:.*]] = bufferization.to_buffer %{{.*}} read_only
// CHECK-DAG: %[[O:.*]] = memref.alloc() : memref<2x4x100x8xf32>
// CHECK-DAG: %[[LSE:.*]] = memref.alloc() : memref<2x4x100xf32>
// CHECK-DAG: %[[ACC:.*]] = memref.alloca() : memref<8xf32>
// CHECK-NOT: memref.alloc
// CHECK: scf.for %[[W:.*]] = %{{.*}} to %{{.*}} step
// CHECK: %[[QT:.*]] = arith.remui %[[W]]
// CHECK: %[[I0:.*]] = arith.muli %[[QT]], %c16
// CHECK: %[[I1:.*]] = arith.minsi
// CHECK: %[[HI:.*]] = arith.minsi %[[I1]], %{{.*}} : index
// CHECK: %[[T1:.*]] = arith.ceildivsi %[[HI]], %c32
// CHECK: scf.for %[[I:.*]] = %[[I0]] to %[[I1]]
// CHECK: %[[QROW:.*]] = vector.load %[[Q]][{{.*}}] : memref<2x4x100x16xf32>, vector<16xf32>
// CHECK: scf.for %[[KT:.*]] = %{{.*}} to %[[T1]] {{.*}} iter_args(%[[M:.*]] = %{{.*}}, %[[L:.*]] = %{{.*}}) -> (f32, f32)
// CHECK: %[[FULL:.*]] = arith.andi
// CHECK: scf.for %[[J:.*]] = {{.*}} iter_args
// CHECK: %[[ALLOWED:.*]] = scf.if %[[FULL]] -> (i1)
// CHECK: } else {
// CHECK: arith.cmpi sle, %[[J]]
// CHECK: scf.if %[[ALLOWED]] -> (f32, f32)
// CHECK: %[[KROW:.*]] = vector.load {{.*}} vector<16xf32>
// CHECK: %[[PROD:.*]] = arith.mulf %[[QROW]], %[[KROW]] : vector<16xf32>
// CHECK: vector.reduction <add>, %[[PROD]]
// CHECK: arith.maximumf
// CHECK: math.exp
// CHECK: vector.store %{{.*}}, %[[ACC]]
// CHECK: memref.store %{{.*}}, %[[LSE]]
// CHECK: memref.store %{{.*}}, %[[O]]
// CHECK: bufferization.to_tensor %[[O]] restrict writable
// CHECK: bufferization.to_tensor %[[LSE]] restrict writable
// CHECK-NOT: attn.attention
// The tile body (default): f32 tile buffers per thread (query tile
// transposed, value tile padded to 16 lanes since Dv = 8, scores key x
// query, accumulator, m, l, rescale); f32 K is read in place. Per query
// tile a 16x16 transpose of scale * Q; per key tile a 16-accumulator FMA
// block for the scores, the element pass only off the full tiles (the
// mask of 16 queries at a time as vector ops), a
// vertical max and vector exp, and an FMA block for P V.
// TILE-LABEL: func @causal
// TILE-DAG: %[[QB:.*]] = memref.alloca() {alignment = 64 : i64} : memref<16x16xf32>
// TILE-DAG: %[[S:.*]] = memref.alloca() {alignment = 64 : i64} : memref<32x16xf32>
// TILE-DAG: %[[VT:.*]] = memref.alloca() {alignment = 64 : i64} : memref<32x16xf32>
// TILE-NOT: memref.alloca() : memref<8xf32>
// TILE: %[[NQT:.*]] = arith.ceildivsi %{{.*}}, %c16
// TILE: scf.for %[[W:.*]] = %{{.*}} to %{{.*}} step
// TILE: arith.remui %[[W]], %[[NQT]]
// TILE: %[[T1:.*]] = arith.ceildivsi
// TILE: vector.transpose %{{.*}}, [1, 0] : vector<16x16xf32> to vector<16x16xf32>
// TILE: vector.store %{{.*}}, %[[QB]]
// TILE: scf.for %[[KTI:.*]] = %{{.*}} to %[[T1]]
// TILE: vector.store %{{.*}}, %[[VT]]{{.*}} vector<8xf32>
// TILE: %[[SC:.*]]:16 = scf.for {{.*}} -> (vector<16xf32>, vector<16xf32>
// TILE: vector.load %[[QB]]
// TILE: memref.load %{{.*}} : memref<2x2x100x16xf32>
// TILE: vector.fma
// TILE: vector.store %[[SC]]#0, %[[S]]
// TILE: %[[PART:.*]] = arith.xori
// TILE: scf.if %[[PART]] {
// TILE: scf.if %{{.*}} -> (vector<16xf32>)
// TILE: arith.cmpi sle, %{{.*}} : vector<16xindex>
// TILE: arith.select %{{.*}} : vector<16xi1>, vector<16xf32>
// TILE: vector.store %{{.*}}, %[[S]]
// TILE: arith.maxnumf %{{.*}} : vector<16xf32>
// TILE: math.exp %{{.*}} : vector<16xf32>
// TILE: scf.for {{.*}} -> (vector<16xf32>, vector<16xf32>
// TILE: vector.load %[[VT]]
// TILE: memref.load %[[S]]
// TILE: vector.fma
// TILE: memref.store %{{.*}}, %{{.*}} : memref<2x4x100xf32>
// TILE: memref.store %{{.*}}, %{{.*}} : memref<2x4x100x8xf32>
func.func @causal(%q: tensor<2x4x100x16xf32>, %k: tensor<2x2x100x16xf32>, %v: tensor<2x2x100x8xf32>) -> (tensor<2x4x100x8xf32>, tensor<2x4x100xf32>) {
  %o, %lse = attn.attention %q, %k, %v mask(#attn.causal) : tensor<2x4x100x16xf32>, tensor<2x2x100x16xf32>, tensor<2x2x100x8xf32> -> tensor<2x4x100x8xf32>, lse tensor<2x4x100xf32>
  return %o, %lse : tensor<2x4x100x8xf32>, tensor<2x4x100xf32>
}

// -----

// Dynamic shapes and a BSHD layout: sizes come from memref.dim; the scale
// is 1/sqrt(D) computed at run time; dynamic head dims use scalar loops.
// CHECK-LABEL: func @dynamic_bshd
// CHECK: memref.dim
// CHECK: memref.alloc(%{{.*}}, %{{.*}}) : memref<1x?x8x?xbf16>
// CHECK: math.rsqrt
// CHECK: memref.alloca(%{{.*}}) : memref<?xf32>
// CHECK-NOT: vector.load
func.func @dynamic_bshd(%q: tensor<1x?x8x?xbf16>, %k: tensor<1x?x2x?xbf16>, %v: tensor<1x?x2x?xbf16>) -> tensor<1x?x8x?xbf16> {
  %o = attn.attention %q, %k, %v layout(bshd, bshd) : tensor<1x?x8x?xbf16>, tensor<1x?x2x?xbf16>, tensor<1x?x2x?xbf16> -> tensor<1x?x8x?xbf16>
  return %o : tensor<1x?x8x?xbf16>
}

// -----

// A key selection that the whole mask implies (#attn.tokens here, a child
// of the top-level and) replaces the key tiles: per row, the list's group
// and row are found once, its count is clamped to the list's capacity and
// at 0, and the listed keys are taken 16 at a time: 16 index loads (each
// key clamped into the keys), 16 dot products with a reassociating
// reduction, the rest of the mask (causal) per key, then one vector max,
// one vector exp and 16 FMAs of value rows per chunk. The tile body is not
// used: with it enabled the row loop is the same.
// CHECK-LABEL: func @selected_tokens
// CHECK: memref.load %{{.*}} : memref<1x1x64xi32>
// CHECK: %[[CAP:.*]] = memref.dim %{{.*}} : memref<1x1x64x8xi32>
// CHECK: arith.minsi %{{.*}}, %[[CAP]] : index
// CHECK: arith.maxsi
// CHECK: %[[N:.*]] = arith.select
// CHECK: scf.for %{{.*}} = %{{.*}} to %[[N]] step %c16{{.*}} iter_args(
// CHECK-COUNT-16: memref.load %{{.*}} : memref<1x1x64x8xi32>
// CHECK: vector.reduction <add>, %{{.*}} fastmath<reassoc> : vector<16xf32> into f32
// CHECK: arith.cmpi sle
// CHECK: vector.insert
// CHECK: vector.reduction <maximumf>
// CHECK: math.exp %{{.*}} : vector<16xf32>
// CHECK: vector.fma
// CHECK-NOT: scf.for %{{.*}} iter_args(%{{.*}} = %false) -> (i1)
// CHECK: return
// TILE-LABEL: func @selected_tokens
// TILE-NOT: vector.gather
// TILE: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %c16{{.*}} iter_args(
func.func @selected_tokens(%q: tensor<1x4x64x16xf32>, %c: tensor<1x1x64xi32>, %i: tensor<1x1x64x8xi32>) -> tensor<1x4x64x16xf32> {
  %o = attn.attention %q, %q, %q mask(#attn.and<#attn.causal, #attn.tokens>, %c, %i : tensor<1x1x64xi32>, tensor<1x1x64x8xi32>) : tensor<1x4x64x16xf32>, tensor<1x4x64x16xf32>, tensor<1x4x64x16xf32> -> tensor<1x4x64x16xf32>
  return %o : tensor<1x4x64x16xf32>
}

// -----

// #attn.pyramid (D6) replaces the key tiles too: per row, each key block's
// level (one byte; clamped to max_level, -1 drops the block); a kept block
// is read in groups of 2^level keys: a first pass scores the group's
// allowed keys (kept in a scratch row, -inf where the rest of the mask
// rules a key out) and sums them, a second pass folds them with the mean.
// CHECK-LABEL: func @pyramid
// CHECK: %[[SCORES:.*]] = memref.alloca() : memref<16xf32>
// CHECK: memref.load %{{.*}} : memref<1x2x4x4xi8>
// CHECK: arith.minsi %{{.*}}, %c2{{.*}} : index
// CHECK: arith.cmpi sge
// CHECK: %[[SIZE:.*]] = arith.shli %c1{{.*}}, %{{.*}} : index
// CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %[[SIZE]] iter_args(
// CHECK: arith.cmpi sle
// CHECK: memref.store %{{.*}}, %[[SCORES]]
// CHECK: %[[MEAN:.*]] = arith.divf
// CHECK: memref.load %[[SCORES]]
// CHECK: arith.maximumf %{{.*}}, %[[MEAN]] : f32
// TILE-LABEL: func @pyramid
// TILE-NOT: vector.fma
// TILE: arith.shli
func.func @pyramid(%q: tensor<1x2x64x16xf32>, %k: tensor<1x2x64x16xf32>, %v: tensor<1x2x64x16xf32>, %l: tensor<1x2x4x4xi8>) -> tensor<1x2x64x16xf32> {
  %o = attn.attention %q, %k, %v mask(#attn.and<#attn.causal, #attn.pyramid<q_block = 16, k_block = 16, max_level = 2>>, %l : tensor<1x2x4x4xi8>) : tensor<1x2x64x16xf32>, tensor<1x2x64x16xf32>, tensor<1x2x64x16xf32> -> tensor<1x2x64x16xf32>
  return %o : tensor<1x2x64x16xf32>
}

// -----

// Decoding (Sq = 1, static): the row form even where the tile body applies
// (a 16-lane query tile would be mostly padding).
// TILE-LABEL: func @decode_rows
// TILE-NOT: memref<16x
// TILE: vector.reduction <add>
// TILE: return
func.func @decode_rows(%q: tensor<2x8x1x64xf32>, %k: tensor<2x2x512x64xf32>, %v: tensor<2x2x512x64xf32>) -> tensor<2x8x1x64xf32> {
  %o = attn.attention %q, %k, %v : tensor<2x8x1x64xf32>, tensor<2x2x512x64xf32>, tensor<2x2x512x64xf32> -> tensor<2x8x1x64xf32>
  return %o : tensor<2x8x1x64xf32>
}

// -----

// Under an `or`, a block list is a per-element predicate: the key's block
// j / k_block is searched among the query block's listed blocks.
// CHECK-LABEL: func @blocks_or_window
// CHECK: arith.constant 32 : index
// CHECK: arith.divui
// CHECK: arith.constant 16 : index
// CHECK: arith.divui
// CHECK: scf.for %{{.*}} iter_args(%[[FOUND:.*]] = %false{{.*}}) -> (i1)
// CHECK: arith.cmpi eq
// CHECK: arith.ori %[[FOUND]]
func.func @blocks_or_window(%q: tensor<1x4x64x16xf32>, %c: tensor<1x1x2xi32>, %i: tensor<1x1x2x3xi32>) -> tensor<1x4x64x16xf32> {
  %o = attn.attention %q, %q, %q mask(#attn.or<#attn.window<left = 2>, #attn.blocks<q_block = 32, k_block = 16>>, %c, %i : tensor<1x1x2xi32>, tensor<1x1x2x3xi32>) : tensor<1x4x64x16xf32>, tensor<1x4x64x16xf32>, tensor<1x4x64x16xf32> -> tensor<1x4x64x16xf32>
  return %o : tensor<1x4x64x16xf32>
}

// -----

// The paged K/V layout (X2): a pool [P, page, Hkv, D] read through the
// block table. Per sequence, the key length is kv_lens[b] clamped to the
// table's capacity; token j is slot j - (j / page) * page of page
// table[b, j / page] (one 32-bit division), the page clamped into the
// pool. The row form (no key tiles).
// CHECK-LABEL: func @paged
// CHECK: memref.load %{{.*}} : memref<2xi32>
// CHECK: %[[CAP:.*]] = arith.muli %{{.*}}, %{{.*}} : index
// CHECK: arith.minsi %{{.*}}, %[[CAP]] : index
// CHECK: %[[WHICH:.*]] = arith.divui %{{.*}} : i32
// CHECK: %[[ROUNDED:.*]] = arith.muli %[[WHICH]], %{{.*}} : i32
// CHECK: %[[SLOT:.*]] = arith.subi %{{.*}}, %[[ROUNDED]] : i32
// CHECK: memref.load %{{.*}} : memref<2x4xi32>
// CHECK: arith.minsi
// CHECK: %[[PAGE:.*]] = arith.maxsi
// CHECK: %[[AT:.*]] = arith.index_castui %[[SLOT]] : i32 to index
// CHECK: vector.load %{{.*}}[%[[PAGE]], %[[AT]], %{{.*}}, %{{.*}}] : memref<16x4x2x16xf32>, vector<16xf32>
// TILE-LABEL: func @paged
// TILE-NOT: vector.fma
// TILE: memref.load %{{.*}} : memref<2x4xi32>
func.func @paged(%q: tensor<2x4x8x16xf32>, %kc: tensor<16x4x2x16xf32>, %t: tensor<2x4xi32>, %l: tensor<2xi32>) -> tensor<2x4x8x16xf32> {
  %o = attn.attention %q, %kc, %kc layout(bhsd, paged) block_table(%t : tensor<2x4xi32>) kv_lens(%l : tensor<2xi32>) : tensor<2x4x8x16xf32>, tensor<16x4x2x16xf32>, tensor<16x4x2x16xf32> -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

// Packed sequences: per-sequence lengths and offsets from cu_seqlens; query
// tiles past a sequence's end are skipped.
// CHECK-LABEL: func @varlen
// CHECK: scf.for
// CHECK: %[[CU0:.*]] = memref.load %{{.*}}[%{{.*}}] : memref<3xi32>
// CHECK: %[[Q0:.*]] = arith.index_cast %[[CU0]]
// CHECK: %[[CU1:.*]] = memref.load %{{.*}}[%{{.*}}] : memref<3xi32>
// CHECK: %[[Q1:.*]] = arith.index_cast %[[CU1]]
// CHECK: %[[LEN:.*]] = arith.subi %[[Q1]], %[[Q0]]
// CHECK: %[[LIVE:.*]] = arith.cmpi slt, %{{.*}}, %[[LEN]]
// CHECK: scf.if %[[LIVE]]
// CHECK: memref.store %{{.*}}, %{{.*}}[%{{.*}}, %{{.*}}] : memref<4x100xf32>
func.func @varlen(%q: tensor<100x4x16xf32>, %cu: tensor<3xi32>) -> (tensor<100x4x16xf32>, tensor<4x100xf32>) {
  %o, %l = attn.attention %q, %q, %q layout(thd, thd) mask(#attn.causal) cu_seqlens_q(%cu : tensor<3xi32>) cu_seqlens_kv(%cu : tensor<3xi32>) : tensor<100x4x16xf32>, tensor<100x4x16xf32>, tensor<100x4x16xf32> -> tensor<100x4x16xf32>, lse tensor<4x100xf32>
  return %o, %l : tensor<100x4x16xf32>, tensor<4x100xf32>
}

// -----

func.func @unsupported_topk(%q: tensor<1x4x64x16xf32>) -> tensor<1x4x64x16xf32> {
  // expected-error @+1 {{expected the streaming lowering to support top-k results (not implemented yet)}}
  %o, %c, %i = attn.attention %q, %q, %q : tensor<1x4x64x16xf32>, tensor<1x4x64x16xf32>, tensor<1x4x64x16xf32> -> tensor<1x4x64x16xf32>, topk tensor<1x4x64xi32>, tensor<1x4x64x4xi32>
  return %o : tensor<1x4x64x16xf32>
}

// -----

// The kernel ABI: the spec function becomes a destination-passing kernel on
// buffers with the thread index and count; the work items go out in rounds
// of T, every other round reversed: thread t of T computes items rT + t in
// even rounds and rT + T - 1 - t in odd ones (none where t >= T).
// KERNEL-LABEL: func @kernel(
// KERNEL-SAME: %[[Q:.*]]: memref<1x4x64x16xf32>, %[[W:.*]]: index, %[[O:.*]]: memref<1x4x64x16xf32>, %[[T:.*]]: i64, %[[N:.*]]: i64)
// KERNEL-SAME: attributes {attn.kernel, llvm.emit_c_interface}
// KERNEL: %[[TI:.*]] = arith.index_cast %[[T]] : i64 to index
// KERNEL: %[[NI:.*]] = arith.index_cast %[[N]] : i64 to index
// KERNEL: %[[BH:.*]] = arith.muli %{{.*}}, %{{.*}} : index
// KERNEL-NEXT: %[[WORK:.*]] = arith.muli %[[BH]], %{{.*}} : index
// KERNEL: %[[MINE:.*]] = arith.cmpi ult, %[[TI]], %[[NI]] : index
// KERNEL: %[[SAFE:.*]] = arith.maxui %[[NI]], %{{.*}} : index
// KERNEL: %[[ALL:.*]] = arith.ceildivui %[[WORK]], %[[SAFE]] : index
// KERNEL: %[[ROUNDS:.*]] = arith.select %[[MINE]], %[[ALL]], %{{.*}} : index
// KERNEL: scf.for %[[R:.*]] = %{{.*}} to %[[ROUNDS]] step %{{.*}} {
// KERNEL: %[[PARITY:.*]] = arith.remui %[[R]], %{{.*}} : index
// KERNEL: %[[ODD:.*]] = arith.cmpi ne, %[[PARITY]], %{{.*}} : index
// KERNEL: %[[LAST:.*]] = arith.subi %[[NI]], %{{.*}} : index
// KERNEL: %[[BACK:.*]] = arith.subi %[[LAST]], %[[TI]] : index
// KERNEL: %[[LANE:.*]] = arith.select %[[ODD]], %[[BACK]], %[[TI]] : index
// KERNEL: %[[BASE:.*]] = arith.muli %[[R]], %[[NI]] : index
// KERNEL: %[[ITEM:.*]] = arith.addi %[[BASE]], %[[LANE]] : index
// KERNEL: %[[IN:.*]] = arith.cmpi ult, %[[ITEM]], %[[WORK]] : index
// KERNEL: scf.if %[[IN]] {
// KERNEL: memref.store %{{.*}}, %[[O]]
// KERNEL: return
func.func @kernel(%q: tensor<1x4x64x16xf32>, %w: index) -> tensor<1x4x64x16xf32> {
  %o = attn.attention %q, %q, %q mask(#attn.window<left = ?>, %w : index) : tensor<1x4x64x16xf32>, tensor<1x4x64x16xf32>, tensor<1x4x64x16xf32> -> tensor<1x4x64x16xf32>
  return %o : tensor<1x4x64x16xf32>
}

// -----

// Linear attention (N6): per (batch, head, value column e) a column of the
// D x Dv state, decayed by exp(decay) and updated with phi(k) v[e] at every
// step; causal outputs read the state of their step.
// CHECK-LABEL: func @linear
// CHECK: %[[STATE:.*]] = memref.alloca(%{{.*}}) : memref<?xf32>
// CHECK: scf.for %{{.*}} = %c0 to %{{.*}} step %c1
// CHECK: math.exp
// CHECK: memref.store %{{.*}}, %[[STATE]]
// CHECK: memref.load %[[STATE]]
// CHECK-NOT: attn.linear_attention
func.func @linear(%q: tensor<1x2x16x8xf32>, %g: tensor<1x2x16xf32>) -> tensor<1x2x16x8xf32> {
  %o = attn.linear_attention %q, %q, %q decay(%g : tensor<1x2x16xf32>) feature_map = relu {causal} : tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32> -> tensor<1x2x16x8xf32>
  return %o : tensor<1x2x16x8xf32>
}

// -----

// The element pass of the tile body evaluates the mask for 16 queries at
// once: the query document ids are gathered (the key's id is one scalar
// load), the causal test is a vector compare; a predicate region's
// tensor.extract of a captured tensor has no vector form and runs once per
// lane, its arith ops are vectorized.
// Document ids refine the tile classification at run time: the min and
// max id of the query tile (once), of each key tile, and the key tile is
// visited only if the ranges meet.
// TILE-LABEL: func @lanes
// TILE: scf.for {{.*}} -> (i32, i32)
// TILE: arith.minsi {{.*}} : i32
// TILE: arith.maxsi {{.*}} : i32
// TILE: scf.for %[[KT:.*]] =
// TILE: scf.for {{.*}} -> (i32, i32)
// TILE: %[[MEET:.*]] = arith.xori
// TILE: %[[AND:.*]] = arith.andi %{{.*}}, %[[MEET]]
// TILE: %[[VISIT:.*]] = arith.andi %[[AND]], %{{.*}}
// TILE: scf.if %[[VISIT]] {
// TILE: scf.if %{{.*}} -> (vector<16xf32>)
// TILE: vector.gather %{{.*}} : memref<1x100xi32>, vector<16xindex>, vector<16xi1>, vector<16xi32> into vector<16xi32>
// TILE: arith.cmpi eq, %{{.*}} : vector<16xi32>
// TILE-COUNT-16: tensor.extract %{{.*}} : tensor<4xf32>
// TILE: vector.from_elements
// TILE: arith.cmpf ogt, %{{.*}} : vector<16xf32>
func.func @lanes(%q: tensor<1x2x100x16xf32>, %k: tensor<1x2x100x16xf32>, %v: tensor<1x2x100x16xf32>, %d: tensor<1x100xi32>, %c: tensor<4xf32>) -> tensor<1x2x100x16xf32> {
  %o = attn.attention %q, %k, %v mask(#attn.and<#attn.causal, #attn.document, #attn.predicate>, %d, %d : tensor<1x100xi32>, tensor<1x100xi32>) captures(%c : tensor<4xf32>) predicate {
  ^bb0(%b: index, %h: index, %i: index, %j: index, %t: tensor<4xf32>):
    %c4 = arith.constant 4 : index
    %r = arith.remui %i, %c4 : index
    %x = tensor.extract %t[%r] : tensor<4xf32>
    %zero = arith.constant 0.0 : f32
    %keep = arith.cmpf ogt, %x, %zero : f32
    attn.yield %keep : i1
  } : tensor<1x2x100x16xf32>, tensor<1x2x100x16xf32>, tensor<1x2x100x16xf32> -> tensor<1x2x100x16xf32>
  return %o : tensor<1x2x100x16xf32>
}

// -----

// With `amx`, bf16 products run on AMX tiles: the kernel asks Linux for the
// tile state (arch_prctl through syscall), packs Q^T in VNNI pairs once per
// query tile; per key tile V goes to VNNI pairs (rows interleaved), S^T =
// K Q^T runs on tdpbf16ps, the shared softmax writes bf16 rows of P through
// 16x16 word transposes, and O += P V runs on tdpbf16ps with O in memory.
// f32 inputs keep the vector FMA body.
// AMX-LABEL: func @amx_bf16
// AMX: call @syscall(%{{.*}}, %{{.*}}, %{{.*}}) : (i64, i64, i64) -> i64
// AMX: vector.transpose %{{.*}}, [1, 0] : vector<16x16xf32> to vector<16x16xf32>
// AMX: vector.interleave %{{.*}} : vector<32xbf16> -> vector<64xbf16>
// AMX: amx.tile_zero : !amx.tile<16x16xf32>
// AMX: amx.tile_load %{{.*}} : memref<32x64xbf16> into !amx.tile<16x32xbf16>
// AMX: amx.tile_load %{{.*}} : memref<32x32xbf16> into !amx.tile<16x32xbf16>
// AMX: amx.tile_mulf %{{.*}} : !amx.tile<16x32xbf16>, !amx.tile<16x32xbf16>, !amx.tile<16x16xf32>
// AMX: amx.tile_store %{{.*}} : memref<32x16xf32>, !amx.tile<16x16xf32>
// AMX: math.exp %{{.*}} : vector<16xf32>
// AMX: vector.interleave %{{.*}} : vector<16xbf16> -> vector<32xbf16>
// AMX: vector.transpose
// AMX: vector.store %{{.*}} : memref<16x32xbf16>, vector<32xbf16>
// AMX: amx.tile_load %{{.*}} : memref<16x32xf32> into !amx.tile<16x16xf32>
// AMX: amx.tile_load %{{.*}} : memref<16x32xbf16> into !amx.tile<16x32xbf16>
// AMX: amx.tile_load %{{.*}} : memref<16x64xbf16> into !amx.tile<16x32xbf16>
// AMX: amx.tile_mulf
// AMX: amx.tile_store %{{.*}} : memref<16x32xf32>, !amx.tile<16x16xf32>
// AMX-LABEL: func @amx_f32
// AMX-NOT: amx.
// AMX: vector.fma
func.func @amx_bf16(%q: tensor<1x2x40x64xbf16>, %k: tensor<1x2x50x64xbf16>, %v: tensor<1x2x50x32xbf16>) -> tensor<1x2x40x32xf32> {
  %o = attn.attention %q, %k, %v mask(#attn.causal) : tensor<1x2x40x64xbf16>, tensor<1x2x50x64xbf16>, tensor<1x2x50x32xbf16> -> tensor<1x2x40x32xf32>
  return %o : tensor<1x2x40x32xf32>
}
func.func @amx_f32(%q: tensor<1x2x40x64xf32>, %k: tensor<1x2x50x64xf32>, %v: tensor<1x2x50x32xf32>) -> tensor<1x2x40x32xf32> {
  %o = attn.attention %q, %k, %v : tensor<1x2x40x64xf32>, tensor<1x2x50x64xf32>, tensor<1x2x50x32xf32> -> tensor<1x2x40x32xf32>
  return %o : tensor<1x2x40x32xf32>
}

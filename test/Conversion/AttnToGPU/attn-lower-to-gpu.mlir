// RUN: attn-opt %s -split-input-file -attn-lower-to-gpu -verify-diagnostics | FileCheck %s
// RUN: attn-opt %s -split-input-file -attn-lower-to-gpu="mma=false block-size=64" -verify-diagnostics | FileCheck %s --check-prefix=ROWS
// RUN: attn-opt %s -split-input-file -attn-lower-to-gpu="split-kv=false" -verify-diagnostics | FileCheck %s --check-prefix=NOSPLIT
// RUN: attn-opt %s -split-input-file -attn-lower-to-gpu="wgmma mma-q-tile=64 mma-k-tile=64" -verify-diagnostics | FileCheck %s --check-prefix=WG
// RUN: attn-opt %s -split-input-file -attn-lower-to-gpu="wgmma" -verify-diagnostics | FileCheck %s --check-prefix=WG128
// RUN: attn-opt %s -split-input-file -attn-lower-to-gpu="wgmma tma=false" -verify-diagnostics | FileCheck %s --check-prefix=WG128CP
// RUN: attn-opt %s -split-input-file -attn-lower-to-gpu -verify-diagnostics -o %t
// RUN: grep -m1 -B12 "memref.load .*memref<1x1x200x310xi1>" %t | FileCheck %s --check-prefix=CLAMP

// bf16, D = 128, causal: the tensor-core body. A block of 128 threads per
// 64-query tile (the work loop steps over blocks, the last query tile
// first); Q, then three K/V stages in dynamic shared memory (16 + 48 + 48
// KiB); Q to registers by ldmatrix; the first tile's copies (a tile inside
// the keys from one address per thread plus constants, else row by row
// with the rows clamped); per visited key tile: its copies awaited, the
// barrier, the next tile's copies issued, the previous tile's O += P V on
// transposed ldmatrix fragments of V, S by bf16 MMAs on ldmatrix fragments
// of K, the mask only on partial tiles, row maxima by two xor shuffles,
// exp2, O rescaled only where a maximum of the warp changed; after the
// loop the last tile's O += P V.
// CHECK-LABEL: module attributes {gpu.container_module}
// CHECK: gpu.module @attn_kernels
// CHECK: gpu.func @causal(%[[Q:.*]]: memref<1x2x200x128xbf16>, %[[K:.*]]: memref<1x1x300x128xbf16>, %[[V:.*]]: memref<1x1x300x128xbf16>, %[[O:.*]]: memref<1x2x200x128xbf16>, %[[LSE:.*]]: memref<1x2x200xf32>, %[[WS:.*]]: memref<?xf32>, %[[COUNTS:.*]]: memref<?xi32>, %[[SPLITS:.*]]: index) kernel
// CHECK-SAME: attn.items_per_block = 1 : i64, attn.layout = "bhsd", attn.q_tile = 64 : i64, attn.shared_bytes = 114688 : i64, attn.split_kv = 64 : i64, known_block_size = array<i32: 128, 1, 1>, nvvm.maxnreg = 255 : i32
// CHECK: %[[S:.*]] = arith.maxui %[[SPLITS]], %c1
// CHECK: %[[TID:.*]] = gpu.thread_id x
// CHECK: %[[BID:.*]] = gpu.block_id x
// CHECK: %[[GRID:.*]] = gpu.grid_dim x
// CHECK: %[[SMEM:.*]] = gpu.dynamic_shared_memory
// CHECK: %[[SQ:.*]] = memref.view %[[SMEM]][%{{.*}}][] {{.*}} to memref<2x64x64xbf16, #gpu.address_space<workgroup>>
// CHECK: %[[SK:.*]] = memref.view %[[SMEM]][%{{.*}}][] {{.*}} to memref<3x2x64x64xbf16, #gpu.address_space<workgroup>>
// CHECK: %[[SV:.*]] = memref.view %[[SMEM]][%{{.*}}][] {{.*}} to memref<3x2x64x64xbf16, #gpu.address_space<workgroup>>
// The output tile is staged over the value stages (same offset).
// CHECK: %[[SO:.*]] = memref.view %[[SMEM]][%{{.*}}][] {{.*}} to memref<2x64x64xbf16, #gpu.address_space<workgroup>>
// CHECK: scf.for %[[W:.*]] = %[[BID]] to %{{.*}} step %[[GRID]]
// CHECK: arith.remui %[[W]], %[[S]]
// CHECK: arith.divui %[[W]], %[[S]]
// CHECK: arith.ceildivui %{{.*}}, %[[S]]
// CHECK: gpu.barrier
// CHECK: nvgpu.device_async_copy %[[Q]][{{.*}}], %[[SQ]][{{.*}}], 8 {bypassL1}
// CHECK: nvgpu.device_async_wait %{{.*}} {numGroups = 0 : i32}
// CHECK: nvgpu.ldmatrix %[[SQ]][{{.*}}] {numTiles = 4 : i32, transpose = false}
// CHECK: scf.while
// CHECK: %[[INSIDE:.*]] = arith.cmpi sle, %{{.*}}, %dim{{.*}} : index
// CHECK-NEXT: scf.if %[[INSIDE]]
// CHECK: memref.extract_strided_metadata %[[K]]
// CHECK-COUNT-8: nvvm.cp.async.shared.global %{{.*}}, %{{.*}}, 16, cache =  cg
// CHECK: memref.extract_strided_metadata %[[V]]
// CHECK-COUNT-8: nvvm.cp.async.shared.global %{{.*}}, %{{.*}}, 16, cache =  cg
// CHECK: nvvm.cp.async.commit.group
// CHECK: } else {
// CHECK: arith.minsi
// CHECK: nvgpu.device_async_copy %[[K]][{{.*}}], %[[SK]][{{.*}}], 8 {bypassL1}
// CHECK: nvgpu.device_async_copy %[[V]][{{.*}}], %[[SV]][{{.*}}], 8 {bypassL1}
// From visited tile to visited tile: the next one found (a while over the
// positions' tests) and prefetched into the third stage.
// CHECK: scf.while
// CHECK: scf.while
// CHECK: nvvm.cp.async.wait.group 0
// CHECK-NEXT: gpu.barrier
// CHECK: nvvm.cp.async.shared.global
// CHECK: nvgpu.ldmatrix %[[SV]][{{.*}}] {numTiles = 4 : i32, transpose = true}
// CHECK: nvvm.mma.sync
// CHECK: nvgpu.ldmatrix %[[SK]][{{.*}}] {numTiles = 4 : i32, transpose = false}
// CHECK: nvvm.mma.sync {{.*}} multiplicandAPtxType = #nvvm.mma_type<bf16>, multiplicandBPtxType = #nvvm.mma_type<bf16>, shape = #nvvm.shape<m = 16, n = 8, k = 16>
// CHECK: scf.if
// CHECK: arith.cmpi sle
// CHECK: gpu.shuffle  xor
// CHECK: gpu.shuffle  xor
// CHECK: math.exp2
// CHECK: %[[SETTLED:.*]] = nvvm.vote.sync  all %{{.*}}, %{{.*}} -> i1
// CHECK: scf.if %[[SETTLED]]
// CHECK: } else {
// CHECK: arith.mulf
// CHECK-NOT: gpu.barrier
// CHECK: scf.yield
// CHECK: nvgpu.ldmatrix %[[SV]][{{.*}}] {numTiles = 4 : i32, transpose = true}
// CHECK: nvvm.mma.sync
// Split keys (a launch with S > 1): this split's O and LSE to the
// workspace, the count on the item's counter by one thread between
// gpu-scope fences, and in the item's last block the combine over the
// splits; else O and LSE directly.
// CHECK: %[[SPLIT:.*]] = arith.cmpi ugt, %[[S]], %c1
// CHECK: scf.if %[[SPLIT]]
// CHECK: vector.store %{{.*}}, %[[WS]][{{.*}}] : memref<?xf32>, vector<2xf32>
// CHECK: memref.store %{{.*}}, %[[WS]]
// CHECK: gpu.barrier
// CHECK: nvvm.memory.barrier <gpu>
// CHECK: memref.atomic_rmw addi %{{.*}}, %[[COUNTS]]
// CHECK: gpu.barrier
// CHECK: nvvm.memory.barrier <gpu>
// CHECK: scf.for %{{.*}} = %[[TID]]
// CHECK: memref.load %[[WS]]
// CHECK: arith.maximumf
// CHECK: math.exp
// CHECK: memref.store %{{.*}}, %[[O]]
// CHECK: memref.store %{{.*}}, %[[LSE]]
// CHECK: } else {
// Else the rows through shared memory: pairs in, 16-byte chunks out.
// CHECK: gpu.barrier
// CHECK: vector.store %{{.*}}, %[[SO]][{{.*}}] : memref<2x64x64xbf16, #gpu.address_space<workgroup>>, vector<2xbf16>
// CHECK: memref.store %{{.*}}, %[[LSE]]
// CHECK: gpu.barrier
// CHECK-COUNT-8: vector.store %{{.*}}, %[[O]][{{.*}}] {alignment = 16 : i64} : memref<1x2x200x128xbf16>, vector<8xbf16>
// CHECK: gpu.return

// Without split keys: the kernel arguments end with the outputs.
// NOSPLIT-LABEL: gpu.func @causal
// NOSPLIT-SAME: %{{.*}}: memref<1x2x200xf32>) kernel
// NOSPLIT-NOT: attn.split_kv
// NOSPLIT-NOT: memref.atomic_rmw
// NOSPLIT: gpu.return

// With wgmma (sm_90a): the proxy fence by each copying thread before the
// barrier; per tile, S by eight m64n64k16 warpgroup MMAs on shared-memory
// descriptors (the first without the input accumulator) and the previous
// tile's O += P V by four m64n128k16 MMAs with P in registers, committed
// as two groups; the mask and the softmax after the first group's wait,
// the second's wait inside both sides of the rescale branch.
// WG-LABEL: gpu.func @causal
// Q's copy completes with the first key tile's: no wait between them.
// WG: nvgpu.device_async_create_group
// WG-NOT: nvgpu.device_async_wait
// WG: nvvm.cp.async.commit.group
// WG: nvvm.cp.async.wait.group 0
// WG-NEXT: nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>, space = #nvvm.shared_space<cta>}
// WG-NEXT: gpu.barrier
// WG: nvvm.wgmma.fence.aligned
// WG: nvvm.wgmma.mma_async {{.*}}, <m = 64, n = 64, k = 16>, D[<f32>, <zero>], A[<bf16>, <one>, <row>], B[<bf16>, <one>, <col>]
// WG-COUNT-7: nvvm.wgmma.mma_async {{.*}} D[<f32>, <one>]
// WG: nvvm.wgmma.commit.group.sync.aligned
// WG-COUNT-4: llvm.inline_asm has_side_effects asm_dialect = att "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16
// WG: nvvm.wgmma.commit.group.sync.aligned
// WG-NEXT: nvvm.wgmma.wait.group.sync.aligned 1
// WG: math.exp2
// WG: nvvm.vote.sync  all
// WG: scf.if
// WG-NEXT: nvvm.wgmma.wait.group.sync.aligned 0
// WG: } else {
// WG-NEXT: nvvm.wgmma.wait.group.sync.aligned 0

// Chosen with wgmma for D = Dv = 128 under a causal mask: 128 x 128 tiles,
// two warpgroups (256 threads) sharing K/V tiles of 128 keys; Q (32 KiB)
// and three stages (3 x 64 KiB) in shared memory. Per tile, S by eight
// m64n128k16 MMAs on descriptors and the previous tile's P V by eight
// with P in registers.
// Q and the K/V tiles come by TMA (the tensor maps: the last argument):
// at the item's start thread 0 initializes the stages' and Q's
// mbarriers; it issues Q and the first three tiles (a slab of 64 columns
// per copy); each tile waits for its stage's phase; after the previous
// tile's value product each warp counts itself in that stage's release
// counter, and the eighth refills the stage two positions ahead.
// WG128-LABEL: gpu.func @causal
// WG128-SAME: %arg8: memref<?xi8>
// WG128-SAME: attn.q_tile = 128 : i64, attn.shared_bytes = 229424 : i64, attn.split_kv = 128 : i64, attn.tma = 128 : i64, known_block_size = array<i32: 256, 1, 1>
// WG128: memref.view {{.*}} to memref<3x2x128x64xbf16, #gpu.address_space<workgroup>>
// WG128: nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>, space = #nvvm.shared_space<cta>}
// WG128-COUNT-4: "mbarrier.init.shared::cta.b64 [$0], $1;"
// WG128: "fence.mbarrier_init.release.cluster;"
// WG128: "mbarrier.arrive.expect_tx.shared::cta.b64 _, [$0], $1;"
// WG128-COUNT-2: cp.async.bulk.tensor.4d
// WG128: "mbarrier.arrive.expect_tx.shared::cta.b64 _, [$0], $1;"
// WG128-COUNT-4: cp.async.bulk.tensor.4d
// WG128: mbarrier.try_wait.parity
// WG128: scf.while
// WG128: mbarrier.try_wait.parity
// WG128-NOT: gpu.barrier
// WG128: nvvm.wgmma.mma_async {{.*}}, <m = 64, n = 128, k = 16>, D[<f32>, <zero>]
// WG128-COUNT-7: nvvm.wgmma.mma_async {{.*}} <m = 64, n = 128, k = 16>, D[<f32>, <one>]
// WG128: nvvm.wgmma.commit.group.sync.aligned
// WG128-COUNT-8: llvm.inline_asm has_side_effects asm_dialect = att "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16
// WG128: nvvm.wgmma.commit.group.sync.aligned
// WG128-NEXT: nvvm.wgmma.wait.group.sync.aligned 1
// WG128: memref.atomic_rmw addi {{.*}} : (i32, memref<3xi32, #gpu.address_space<workgroup>>) -> i32
// WG128: cp.async.bulk.tensor.4d

// Without TMA loads: cp.async copies and a block barrier per tile.
// WG128CP-LABEL: gpu.func @causal
// WG128CP-SAME: attn.q_tile = 128 : i64, attn.shared_bytes = 229376 : i64, attn.split_kv = 128 : i64, known_block_size = array<i32: 256, 1, 1>
// WG128CP-NOT: mbarrier
// WG128CP: nvgpu.device_async_copy
// WG128CP: nvvm.cp.async.wait.group 0
// WG128CP: gpu.barrier

// The row form: a thread per query row, blocks of `block-size` threads.
// ROWS-LABEL: gpu.func @causal
// ROWS-SAME: attn.items_per_block = 64 : i64, attn.layout = "bhsd", attn.q_tile = 1 : i64, attn.shared_bytes = 0 : i64, known_block_size = array<i32: 64, 1, 1>
// ROWS-NOT: nvgpu
// ROWS: memref.alloca() : memref<128xf32>
// ROWS: scf.for
// ROWS-NOT: nvgpu.
// ROWS: gpu.return
func.func @causal(%q: tensor<1x2x200x128xbf16>, %k: tensor<1x1x300x128xbf16>,
                  %v: tensor<1x1x300x128xbf16>)
    -> (tensor<1x2x200x128xbf16>, tensor<1x2x200xf32>) {
  %o, %l = attn.attention %q, %k, %v mask(#attn.causal)
      : tensor<1x2x200x128xbf16>, tensor<1x1x300x128xbf16>, tensor<1x1x300x128xbf16>
      -> tensor<1x2x200x128xbf16>, lse tensor<1x2x200xf32>
  return %o, %l : tensor<1x2x200x128xbf16>, tensor<1x2x200xf32>
}

// -----

// f16, D = 64: nvgpu.mma.sync; score modifiers on every tile, in natural
// units, then to base 2; BSHD output indices.
// CHECK-LABEL: gpu.func @softcap_f16
// CHECK-SAME: attn.shared_bytes = 57344 : i64
// CHECK: nvgpu.mma.sync({{.*}}) {mmaShape = [16, 8, 16]} : (vector<4x2xf16>, vector<2x2xf16>, vector<2x2xf32>) -> vector<2x2xf32>
// CHECK: math.tanh
// CHECK: math.exp2
// ROWS-LABEL: gpu.func @softcap_f16
func.func @softcap_f16(%q: tensor<2x100x4x64xf16>, %k: tensor<2x100x4x64xf16>,
                       %v: tensor<2x100x4x64xf16>) -> tensor<2x100x4x64xf32> {
  %o = attn.attention %q, %k, %v layout(bshd, bshd)
      score([#attn.softcap<cap = 30.0>])
      : tensor<2x100x4x64xf16>, tensor<2x100x4x64xf16>, tensor<2x100x4x64xf16>
      -> tensor<2x100x4x64xf32>
  return %o : tensor<2x100x4x64xf32>
}

// -----

// f32 inputs, or a head dim other than 64/128, or N3-N5 and key gates:
// the row form.
// CHECK-LABEL: gpu.func @f32_rows
// CHECK-SAME: attn.items_per_block = 128 : i64, attn.layout = "bhsd", attn.q_tile = 1 : i64
// CHECK-NOT: nvgpu.
// CHECK: gpu.return
func.func @f32_rows(%q: tensor<1x1x10x64xf32>, %k: tensor<1x1x10x64xf32>,
                    %v: tensor<1x1x10x64xf32>) -> tensor<1x1x10x64xf32> {
  %o = attn.attention %q, %k, %v
      : tensor<1x1x10x64xf32>, tensor<1x1x10x64xf32>, tensor<1x1x10x64xf32>
      -> tensor<1x1x10x64xf32>
  return %o : tensor<1x1x10x64xf32>
}

// -----

// The output gate (G1: sigmoid per element; G2: a weight per head) on tensor
// cores: the epilogue multiplies each accumulator pair by act(g) of its
// row (a 2-element load of the gate, or one broadcast) before the 16-bit
// tile leaves through shared memory; gated kernels do not split keys.
// CHECK-LABEL: gpu.func @gated_mma
// CHECK-SAME: attn.items_per_block = 1 : i64
// CHECK-NOT: attn.split_kv
// CHECK: nvgpu.ldmatrix
// CHECK: vector.load %{{.*}} : memref<1x128x2x64xbf16>, vector<2xbf16>
// CHECK: arith.extf %{{.*}} : vector<2xbf16> to vector<2xf32>
// CHECK: math.exp
// CHECK: arith.divf
// CHECK: arith.mulf %{{.*}} : vector<2xf32>
// CHECK: gpu.return
// ROWS-LABEL: gpu.func @gated_mma
// ROWS-SAME: attn.q_tile = 1 : i64
func.func @gated_mma(%q: tensor<1x2x128x64xbf16>, %k: tensor<1x2x128x64xbf16>,
                     %v: tensor<1x2x128x64xbf16>, %g: tensor<1x128x2x64xbf16>)
    -> tensor<1x2x128x64xbf16> {
  %o = attn.attention %q, %k, %v mask(#attn.causal)
      gate(#attn.output_gate<activation = sigmoid, granularity = element>,
           %g : tensor<1x128x2x64xbf16>)
      : tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>
      -> tensor<1x2x128x64xbf16>
  return %o : tensor<1x2x128x64xbf16>
}

// -----

// One token list shared by every query of a KV head (D7, G4: counts
// [B, G, 1]): whole 64-query tiles on tensor cores, their key tiles
// gathered from the list (row r of key tile p holds entry 64 p + r).
// CHECK-LABEL: gpu.func @shared_tokens
// CHECK-SAME: attn.items_per_block = 1 : i64
// CHECK-SAME: attn.q_tile = 64 : i64
// CHECK: memref.load %{{.*}} : memref<1x2x1x96xi32>
// CHECK: nvgpu.device_async_copy
// CHECK: nvgpu.ldmatrix
// CHECK: gpu.return
func.func @shared_tokens(%q: tensor<1x2x128x64xbf16>, %k: tensor<1x2x300x64xbf16>,
                         %v: tensor<1x2x300x64xbf16>, %c: tensor<1x2x1xi32>,
                         %i: tensor<1x2x1x96xi32>) -> tensor<1x2x128x64xbf16> {
  %o = attn.attention %q, %k, %v
      mask(#attn.and<#attn.causal<align = bottom_right>, #attn.tokens>,
           %c, %i : tensor<1x2x1xi32>, tensor<1x2x1x96xi32>)
      : tensor<1x2x128x64xbf16>, tensor<1x2x300x64xbf16>, tensor<1x2x300x64xbf16>
      -> tensor<1x2x128x64xbf16>
  return %o : tensor<1x2x128x64xbf16>
}

// -----

// Linear attention (N6): a thread per (batch, head, value column), its
// column of the state in a D-element buffer, the recurrence over time.
// CHECK-LABEL: gpu.func @linear
// CHECK-SAME: attn.items_per_block = 128 : i64, attn.layout = "bhsd", attn.q_tile = 1 : i64
// CHECK: %[[STATE:.*]] = memref.alloca({{.*}}) : memref<?xf32>
// CHECK: scf.for %[[W:.*]] = %{{.*}} to %{{.*}} step
// CHECK: scf.for %[[C:.*]] =
// CHECK: memref.store %{{.*}}, %[[STATE]][%[[C]]]
// CHECK: scf.for %[[I:.*]] =
// CHECK: scf.for %[[D:.*]] =
// CHECK: memref.store %{{.*}}, %[[STATE]][%[[D]]]
// CHECK: gpu.return
// ROWS-LABEL: gpu.func @linear
func.func @linear(%q: tensor<1x1x8x4xf32>, %k: tensor<1x1x8x4xf32>,
                  %v: tensor<1x1x8x4xf32>) -> tensor<1x1x8x4xf32> {
  %o = attn.linear_attention %q, %k, %v feature_map = identity
      : tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>
      -> tensor<1x1x8x4xf32>
  return %o : tensor<1x1x8x4xf32>
}

// -----

// Document ids: the runtime tile test of every key tile (a thread per
// tile over the tile's ids) fills two bit vectors in
// shared memory before the key loop (visit bits, then full bits: a word
// each for 8 tiles, 16 bytes), cleared first and set by warp ballots; the
// key loop finds the next visited tile a word at a time (count trailing
// zeros) to decide its prefetch and its visit. The ids have no head
// dimension, but on 64-row tiles a block per work item balances best (no
// tag: the heads sharing a block with a tag, see @explicit_mask, take
// 128-row tiles, two heads per block).
// CHECK-LABEL: gpu.func @documents
// CHECK-SAME: attn.items_per_block = 1 : i64
// CHECK-SAME: attn.shared_bytes = 57360 : i64
// CHECK: %[[FLAGS:.*]] = memref.view %{{.*}}[%{{.*}}][] : {{.*}} to memref<4xi32, #gpu.address_space<workgroup>>
// CHECK: gpu.shuffle  xor
// CHECK: scf.for %{{.*}} = %thread_id_x to %c2{{.*}} step %c128
// CHECK: memref.store %c0_i32{{.*}}, %[[FLAGS]]
// CHECK: gpu.barrier
// CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %c128
// A whole tile of 16-byte aligned ids: four per load; else one per load.
// CHECK: memref.extract_aligned_pointer_as_index
// CHECK: scf.if
// CHECK-COUNT-16: vector.load %{{.*}} {alignment = 16 : i64} : memref<1x512xi32>, vector<4xi32>
// CHECK: vector.reduction <minsi>
// CHECK: vector.reduction <maxsi>
// CHECK: } else {
// CHECK: arith.minsi
// CHECK: arith.maxsi
// CHECK: %[[VISIT:.*]] = nvvm.vote.sync  ballot
// CHECK: %[[FULL:.*]] = nvvm.vote.sync  ballot
// CHECK: memref.atomic_rmw ori %[[VISIT]], %[[FLAGS]]
// CHECK: memref.atomic_rmw ori %[[FULL]], %[[FLAGS]]
// CHECK: gpu.barrier
// CHECK: scf.while
// CHECK: memref.load %[[FLAGS]]
// CHECK: math.cttz
// ROWS-LABEL: gpu.func @documents
func.func @documents(%q: tensor<1x2x512x64xbf16>, %k: tensor<1x2x512x64xbf16>,
                     %v: tensor<1x2x512x64xbf16>, %doc: tensor<1x512xi32>)
    -> tensor<1x2x512x64xbf16> {
  %o = attn.attention %q, %k, %v
      mask(#attn.and<#attn.causal, #attn.document>, %doc, %doc : tensor<1x512xi32>, tensor<1x512xi32>)
      : tensor<1x2x512x64xbf16>, tensor<1x2x512x64xbf16>, tensor<1x2x512x64xbf16>
      -> tensor<1x2x512x64xbf16>
  return %o : tensor<1x2x512x64xbf16>
}

// -----

// Keep flags per head group depend on the head: a block per work item.
// CHECK-LABEL: gpu.func @keep_per_head
// CHECK-SAME: attn.items_per_block = 1 : i64
// ROWS-LABEL: gpu.func @keep_per_head
func.func @keep_per_head(%q: tensor<1x2x512x64xbf16>, %k: tensor<1x2x512x64xbf16>,
                         %v: tensor<1x2x512x64xbf16>, %keep: tensor<1x2x512xi1>)
    -> tensor<1x2x512x64xbf16> {
  %o = attn.attention %q, %k, %v
      mask(#attn.and<#attn.causal, #attn.keep<key>>, %keep : tensor<1x2x512xi1>)
      : tensor<1x2x512x64xbf16>, tensor<1x2x512x64xbf16>, tensor<1x2x512x64xbf16>
      -> tensor<1x2x512x64xbf16>
  return %o : tensor<1x2x512x64xbf16>
}

// -----

// An explicit boolean mask with rows of whole 16-byte chunks: block
// summaries in the flag bits, 16 flags per load where the tensor is
// 16-byte aligned (four words: their OR, and whether one has a zero
// byte; else one flag per load), eight rows per step. The mask
// has no head dimension: a block runs both heads of a query tile (work
// items head-slowest), and a tag next to the table (set to none first)
// says which (batch, query tile) it holds, so the second head skips the
// summaries.
// CHECK-LABEL: gpu.func @explicit_mask
// CHECK-SAME: attn.items_per_block = 2 : i64
// CHECK: %[[FLAGS:.*]] = memref.view %{{.*}}[%{{.*}}][] : {{.*}} to memref<4xi32, #gpu.address_space<workgroup>>
// CHECK: %[[TAG:.*]] = memref.view %{{.*}}[%{{.*}}][] : {{.*}} to memref<1xi32, #gpu.address_space<workgroup>>
// CHECK: memref.store %c0_i32{{.*}}, %[[TAG]]
// CHECK: %[[TILES:.*]] = arith.ceildivsi
// CHECK: %[[BH0:.*]] = arith.muli %[[BATCH:.*]], %{{.*}} : index
// CHECK: scf.for %[[W:.*]] = %block_id_x
// CHECK: %[[BH:.*]] = arith.divui %{{.*}}, %[[TILES]] : index
// CHECK-NEXT: arith.remui %[[BH]], %[[BATCH]] : index
// CHECK-NEXT: arith.divui %[[BH]], %[[BATCH]] : index
// CHECK: %[[OLD:.*]] = memref.load %[[TAG]]
// CHECK: %[[STALE:.*]] = arith.cmpi ne, %[[OLD]]
// CHECK: scf.if %[[STALE]]
// CHECK: memref.extract_aligned_pointer_as_index
// CHECK: scf.if
// CHECK: scf.for {{.*}} step %c8
// CHECK-COUNT-8: llvm.load %{{.*}} {alignment = 16 : i64} : !llvm.ptr -> vector<4xi32>
// CHECK: vector.reduction <or>
// CHECK: vector.reduction <or>
// CHECK: } else {
// CHECK: memref.load %{{.*}} : memref<1x1x200x320xi1>
// CHECK: nvvm.vote.sync  ballot
// CHECK: memref.atomic_rmw ori %{{.*}}, %[[FLAGS]]
// CHECK: gpu.barrier
// CHECK: memref.store %{{.*}}, %[[TAG]]
// ROWS-LABEL: gpu.func @explicit_mask
func.func @explicit_mask(%q: tensor<1x2x200x64xbf16>, %k: tensor<1x2x320x64xbf16>,
                         %v: tensor<1x2x320x64xbf16>, %m: tensor<1x1x200x320xi1>)
    -> tensor<1x2x200x64xbf16> {
  %o = attn.attention %q, %k, %v mask(#attn.dense, %m : tensor<1x1x200x320xi1>)
      : tensor<1x2x200x64xbf16>, tensor<1x2x320x64xbf16>, tensor<1x2x320x64xbf16>
      -> tensor<1x2x200x64xbf16>
  return %o : tensor<1x2x200x64xbf16>
}

// -----

// A mask per head: a block per work item, no tag.
// CHECK-LABEL: gpu.func @per_head_mask
// CHECK-SAME: attn.items_per_block = 1 : i64
func.func @per_head_mask(%q: tensor<1x2x200x64xbf16>, %k: tensor<1x2x320x64xbf16>,
                         %v: tensor<1x2x320x64xbf16>, %m: tensor<1x2x200x320xi1>)
    -> tensor<1x2x200x64xbf16> {
  %o = attn.attention %q, %k, %v mask(#attn.dense, %m : tensor<1x2x200x320xi1>)
      : tensor<1x2x200x64xbf16>, tensor<1x2x320x64xbf16>, tensor<1x2x320x64xbf16>
      -> tensor<1x2x200x64xbf16>
  return %o : tensor<1x2x200x64xbf16>
}

// -----

// Without block summaries (rows of 310 flags), the tensor-core body reads
// the mask per element: rows past the query tile and keys past the
// sequence are clamped to the last ones before the load (their scores are
// dropped or set to -inf), so the last tiles never read past the tensor.
// (The CLAMP run sees the lines before the first element load only.)
// CLAMP: %[[LASTKEY:.*]] = arith.subi %{{.*}}, %c1{{.*}} : index
// CLAMP: %[[LASTROW:.*]] = arith.subi %{{.*}}, %c1{{.*}} : index
// CLAMP: %[[ROW:.*]] = arith.minsi %{{.*}}, %[[LASTROW]] : index
// CLAMP: %[[KEY:.*]] = arith.minsi %{{.*}}, %[[LASTKEY]] : index
// CLAMP: memref.load %{{.*}}[%{{.*}}, %{{.*}}, %[[ROW]], %[[KEY]]] : memref<1x1x200x310xi1>
// CHECK-LABEL: gpu.func @element_mask
// ROWS-LABEL: gpu.func @element_mask
func.func @element_mask(%q: tensor<1x2x200x64xbf16>, %k: tensor<1x2x310x64xbf16>,
                        %v: tensor<1x2x310x64xbf16>, %m: tensor<1x1x200x310xi1>)
    -> tensor<1x2x200x64xbf16> {
  %o = attn.attention %q, %k, %v mask(#attn.dense, %m : tensor<1x1x200x310xi1>)
      : tensor<1x2x200x64xbf16>, tensor<1x2x310x64xbf16>, tensor<1x2x310x64xbf16>
      -> tensor<1x2x200x64xbf16>
  return %o : tensor<1x2x200x64xbf16>
}

// -----

// #attn.pyramid (D6) takes the row form as well: a thread per query row
// reads its key blocks' levels and the groups of 2^level keys.
// CHECK-LABEL: gpu.func @pyramid
// CHECK-SAME: attn.q_tile = 1 : i64
// CHECK-NOT: nvgpu.
// CHECK: memref.load %{{.*}} : memref<1x2x4x4xi8>
// CHECK: arith.shli
// CHECK: gpu.return
// ROWS-LABEL: gpu.func @pyramid
func.func @pyramid(%q: tensor<1x2x64x64xbf16>, %k: tensor<1x2x64x64xbf16>, %v: tensor<1x2x64x64xbf16>, %l: tensor<1x2x4x4xi8>) -> tensor<1x2x64x64xbf16> {
  %o = attn.attention %q, %k, %v mask(#attn.and<#attn.causal, #attn.pyramid<q_block = 16, k_block = 16, max_level = 2>>, %l : tensor<1x2x4x4xi8>) : tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16> -> tensor<1x2x64x64xbf16>
  return %o : tensor<1x2x64x64xbf16>
}

// -----

// A key selection takes the row form even where the tensor-core body would
// apply (bf16, D = 64): a thread per query row iterates over the row's
// listed keys (clamped count, then one key per entry).
// CHECK-LABEL: gpu.func @selected_tokens
// CHECK-SAME: attn.q_tile = 1 : i64
// CHECK-NOT: nvgpu.
// CHECK: memref.load %{{.*}} : memref<1x1x300xi32>
// CHECK: arith.minsi
// CHECK: scf.for {{.*}} iter_args(
// CHECK: memref.load %{{.*}} : memref<1x1x300x32xi32>
// CHECK-NOT: nvgpu.
// CHECK: gpu.return
// ROWS-LABEL: gpu.func @selected_tokens
func.func @selected_tokens(%q: tensor<1x2x300x64xbf16>, %k: tensor<1x2x300x64xbf16>,
                           %v: tensor<1x2x300x64xbf16>, %c: tensor<1x1x300xi32>,
                           %i: tensor<1x1x300x32xi32>) -> tensor<1x2x300x64xbf16> {
  %o = attn.attention %q, %k, %v
      mask(#attn.and<#attn.causal, #attn.tokens>, %c, %i : tensor<1x1x300xi32>, tensor<1x1x300x32xi32>)
      : tensor<1x2x300x64xbf16>, tensor<1x2x300x64xbf16>, tensor<1x2x300x64xbf16>
      -> tensor<1x2x300x64xbf16>
  return %o : tensor<1x2x300x64xbf16>
}

// -----

// The paged K/V layout (decoding from a page pool): the sequence's length
// from kv_lens, and every K/V row copied from its page,
// block_table[b, s / page] clamped into the pool, slot s % page. GQA with
// 3 queries: the 2 query heads of a KV head share a work item (items per
// (batch, KV head, 32 queries)); tile row r is query r / 2 of head
// 2 g + r % 2, for Q's copy as for the accumulators.
// CHECK-LABEL: gpu.func @paged
// CHECK-SAME: attn.kv_layout = "paged"
// CHECK-SAME: attn.packed_heads = 2 : i64, attn.q_tile = 32 : i64
// CHECK: %[[G:.*]] = arith.remui %[[BG:.*]], %[[HKV:dim_[0-9]+]] : index
// CHECK-NEXT: %[[B:.*]] = arith.divui %[[BG]], %[[HKV]] : index
// CHECK: %[[HEAD0:.*]] = arith.muli %[[G]], %{{.*}} : index
// CHECK: %[[Q0:.*]] = arith.muli %{{.*}}, %c32
// CHECK: memref.load %{{.*}}[%[[B]]] : memref<2xi32>
// CHECK: gpu.barrier
// CHECK: %[[CHUNK:.*]] = arith.addi %thread_id_x
// CHECK: %[[R:.*]] = arith.divui %[[CHUNK]]
// CHECK: %[[HEAD_IN_GROUP:.*]] = arith.remui %[[R]], %c2
// CHECK: %[[HEAD:.*]] = arith.addi %[[HEAD0]], %[[HEAD_IN_GROUP]]
// CHECK: %[[QUERY:.*]] = arith.divui %[[R]], %c2
// CHECK: arith.addi %[[Q0]], %[[QUERY]]
// CHECK: nvgpu.device_async_copy %arg0[%[[B]], %[[HEAD]], %{{.*}}, %{{.*}}]
// CHECK: %[[ENTRY:.*]] = memref.load %{{.*}} : memref<2x5xi32>
// CHECK: %[[PAGE:.*]] = arith.index_cast %[[ENTRY]]
// CHECK: arith.minsi %[[PAGE]]
// CHECK: nvgpu.device_async_copy %{{.*}}, %{{.*}} : memref<10x16x2x64xbf16> to memref<3x1x64x64xbf16, #gpu.address_space<workgroup>>
// CHECK: nvvm.mma.sync
// ROWS-LABEL: gpu.func @paged
// ROWS: memref.load %{{.*}} : memref<2xi32>
// ROWS: memref.load %{{.*}} : memref<2x5xi32>
// ROWS-NOT: nvgpu.
// ROWS: gpu.return
func.func @paged(%q: tensor<2x4x3x64xbf16>, %kc: tensor<10x16x2x64xbf16>,
                 %t: tensor<2x5xi32>, %l: tensor<2xi32>) -> tensor<2x4x3x64xbf16> {
  %o = attn.attention %q, %kc, %kc layout(bhsd, paged)
      mask(#attn.causal<align = bottom_right>)
      block_table(%t : tensor<2x5xi32>) kv_lens(%l : tensor<2xi32>)
      : tensor<2x4x3x64xbf16>, tensor<10x16x2x64xbf16>, tensor<10x16x2x64xbf16>
      -> tensor<2x4x3x64xbf16>
  return %o : tensor<2x4x3x64xbf16>
}

// -----

// A per-head mask (H1) keeps one head per work item: the key ranges of the
// group's heads differ.
// CHECK-LABEL: gpu.func @per_head_decode
// CHECK-NOT: attn.packed_heads
// CHECK-SAME: attn.q_tile = 64 : i64
func.func @per_head_decode(%q: tensor<2x4x1x64xbf16>, %k: tensor<2x2x300x64xbf16>,
                           %v: tensor<2x2x300x64xbf16>) -> tensor<2x4x1x64xbf16> {
  %o = attn.attention %q, %k, %v
      mask(#attn.or<#attn.window<left = 16, align = bottom_right>, #attn.heads<begin = 0, end = 1>>)
      : tensor<2x4x1x64xbf16>, tensor<2x2x300x64xbf16>, tensor<2x2x300x64xbf16>
      -> tensor<2x4x1x64xbf16>
  return %o : tensor<2x4x1x64xbf16>
}

// -----

// Decoding (queries that fit one tile), GQA 4:2 packed in pairs: the
// split combine keeps many loads in flight. A warp per row folds max and
// sum of the weights in one pass and merges the lanes with butterflies
// (the row's LSE); then the warps take the splits round-robin, four at a
// time, each lane summing eight 4-float vectors at once, and shared memory
// adds the warps' sums. (Kernels with more queries keep the compact
// combine above.)
// CHECK-LABEL: gpu.func @decode_split
// CHECK-SAME: %[[O:[^:]*]]: memref<2x4x1x64xbf16>, %[[LSE:[^:]*]]: memref<2x4x1xf32>, %[[WS:[^:]*]]: memref<?xf32>, %[[COUNTS:[^:]*]]: memref<?xi32>, %[[SPLITS:[^:]*]]: index) kernel
// CHECK-SAME: attn.packed_heads = 2
// CHECK: %[[S:.*]] = arith.maxui %[[SPLITS]], %c1
// CHECK: %[[TID:.*]] = gpu.thread_id x
// CHECK: memref.atomic_rmw addi %{{.*}}, %[[COUNTS]]
// CHECK: nvvm.memory.barrier <gpu>
// CHECK: %[[STATS:.*]] = memref.view %{{.*}}[%c16{{.*}}][] : memref<{{.*}}xi8, #gpu.address_space<workgroup>> to memref<128xf32, #gpu.address_space<workgroup>>
// CHECK: %[[LANE:.*]] = arith.remui %[[TID]], %c32
// CHECK: %[[WARP:.*]] = arith.divui %[[TID]], %c32
// CHECK: scf.for %[[ROW:.*]] = %[[WARP]] to %{{.*}} step %c4
// CHECK: scf.for %{{.*}} = %[[LANE]] to %[[S]] step %c32{{.*}} iter_args({{.*}}) -> (f32, f32)
// CHECK: memref.load %[[WS]]
// CHECK: arith.maximumf
// CHECK: math.exp2
// CHECK-COUNT-10: gpu.shuffle xor
// CHECK: memref.store %{{.*}}, %[[STATS]][%[[ROW]]]
// CHECK: math.log
// CHECK: memref.store %{{.*}}, %[[LSE]]
// CHECK: gpu.barrier
// CHECK: %[[SUMS:.*]] = memref.view %{{.*}}[%c528][] : memref<?xi8, #gpu.address_space<workgroup>> to memref<4096xf32, #gpu.address_space<workgroup>>
// CHECK: scf.for %[[ROUND:.*]] = %c0{{.*}} to %{{.*}} step %c256
// CHECK: scf.for %{{.*}} = %{{.*}} to %[[S]] step %c16{{.*}} iter_args({{.*}}) -> (vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>)
// CHECK: vector.load %[[WS]][%{{.*}}] {alignment = 16 : i64} : memref<?xf32>, vector<4xf32>
// CHECK: math.exp2
// CHECK: vector.fma
// CHECK: arith.minui
// CHECK: vector.load %[[WS]][%{{.*}}] {alignment = 16 : i64} : memref<?xf32>, vector<4xf32>
// CHECK: math.exp2
// CHECK: arith.select
// CHECK: vector.fma
// CHECK-COUNT-8: vector.store %{{.*}}, %[[SUMS]]
// CHECK: gpu.barrier
// CHECK-COUNT-4: vector.load %[[SUMS]]
// CHECK: vector.store %{{.*}}, %[[O]]
// CHECK: gpu.barrier

// CHECK: gpu.return
func.func @decode_split(%q: tensor<2x4x1x64xbf16>, %k: tensor<2x2x300x64xbf16>,
                        %v: tensor<2x2x300x64xbf16>)
    -> (tensor<2x4x1x64xbf16>, tensor<2x4x1xf32>) {
  %o, %lse = attn.attention %q, %k, %v
      : tensor<2x4x1x64xbf16>, tensor<2x2x300x64xbf16>, tensor<2x2x300x64xbf16>
      -> tensor<2x4x1x64xbf16>, lse tensor<2x4x1xf32>
  return %o, %lse : tensor<2x4x1x64xbf16>, tensor<2x4x1xf32>
}

// -----

// Block lists of whole key tiles (#attn.blocks, k_block a multiple of 64,
// q_block of the query tile): the tensor-core body loops over list
// positions; position p is tile entry[p / 2] * 2 + p % 2 (128-key blocks),
// a listed block outside the keys is not visited, and the rest of the
// mask (causal) is evaluated on every listed tile with the list assumed.
// CHECK-LABEL: gpu.func @selected_blocks
// CHECK: %[[COUNT:.*]] = memref.load %{{.*}} : memref<1x1x4xi32>
// CHECK: %[[CLAMPED:.*]] = arith.maxsi
// CHECK: %[[POSITIONS:.*]] = arith.muli %[[CLAMPED]], %c2
// CHECK: memref.load %{{.*}} : memref<1x1x4x3xi32>
// CHECK: nvgpu.device_async_copy
// CHECK: nvvm.mma.sync
// CHECK-NOT: memref<1x1x4x3xi32>
// CHECK: arith.cmpi sle
// CHECK: gpu.return
func.func @selected_blocks(%q: tensor<1x2x256x64xbf16>, %k: tensor<1x2x300x64xbf16>,
                           %v: tensor<1x2x300x64xbf16>, %c: tensor<1x1x4xi32>,
                           %i: tensor<1x1x4x3xi32>) -> tensor<1x2x256x64xbf16> {
  %o = attn.attention %q, %k, %v
      mask(#attn.and<#attn.causal, #attn.blocks<q_block = 64, k_block = 128>>,
           %c, %i : tensor<1x1x4xi32>, tensor<1x1x4x3xi32>)
      : tensor<1x2x256x64xbf16>, tensor<1x2x300x64xbf16>, tensor<1x2x300x64xbf16>
      -> tensor<1x2x256x64xbf16>
  return %o : tensor<1x2x256x64xbf16>
}

// -----

// A block list that is the whole mask: a listed tile inside the keys is
// full (no per-element mask), the last one's keys past the length are
// masked.
// CHECK-LABEL: gpu.func @listed_blocks
// CHECK: scf.while
// CHECK: memref.load %{{.*}} : memref<1x1x4x3xi32>
// CHECK: %[[J0:.*]] = arith.muli %{{.*}}, %c64{{.*}} : index
// CHECK: arith.minsi
// CHECK: %[[END:.*]] = arith.addi %[[J0]], %c64{{.*}} : index
// CHECK: %[[FULL:.*]] = arith.cmpi sle, %[[END]], %{{.*}} : index
// CHECK: arith.cmpi sge, %[[J0]], %c0
// CHECK: scf.yield %{{.*}}, %[[FULL]] : i1, i1
func.func @listed_blocks(%q: tensor<1x2x256x64xbf16>, %k: tensor<1x2x300x64xbf16>,
                         %v: tensor<1x2x300x64xbf16>, %c: tensor<1x1x4xi32>,
                         %i: tensor<1x1x4x3xi32>) -> tensor<1x2x256x64xbf16> {
  %o = attn.attention %q, %k, %v
      mask(#attn.blocks<q_block = 64, k_block = 128>,
           %c, %i : tensor<1x1x4xi32>, tensor<1x1x4x3xi32>)
      : tensor<1x2x256x64xbf16>, tensor<1x2x300x64xbf16>, tensor<1x2x300x64xbf16>
      -> tensor<1x2x256x64xbf16>
  return %o : tensor<1x2x256x64xbf16>
}

// -----

// A block list alone of whole 128 x 128 tiles (M12 as FlexAttention's
// BlockMask) takes the 128 x 128 body with TMA loads, visiting the listed
// tiles in list order (a listed block outside the keys is skipped, never
// loaded). Every thread finds the first three visited tiles (each by a
// scan from the one before: a runtime tile test may use the whole warp),
// then thread 0 issues Q and their loads; a stage's phase follows the
// visited tile's ordinal, and the loop carries the next visit, finds the
// one after it, and the last warp to release a stage loads that tile.
// WG128-LABEL: gpu.func @tile_blocks
// WG128-SAME: attn.tma = 128 : i64
// WG128: scf.while
// WG128: memref.load %{{.*}} : memref<1x1x2x3xi32>
// WG128: %[[SECOND:.*]]:2 = scf.while
// WG128: %[[THIRD:.*]]:2 = scf.while
// WG128: arith.cmpi eq, %thread_id_x, %c0
// WG128-COUNT-14: cp.async.bulk.tensor.4d
// WG128: mbarrier.try_wait.parity
// WG128: scf.while ({{.*}}%[[ORD:arg[0-9]+]] = %c0{{[_0-9]*}}, %{{.*}} = %[[SECOND]]#0, %{{.*}} = %[[SECOND]]#1) : (
// WG128: arith.divui %[[ORD]], %c3
// WG128: mbarrier.try_wait.parity
// WG128: memref.atomic_rmw addi
// WG128: cp.async.bulk.tensor.4d
// WG128: arith.addi %[[ORD]], %c1
func.func @tile_blocks(%q: tensor<1x2x256x128xbf16>, %k: tensor<1x2x300x128xbf16>,
                       %v: tensor<1x2x300x128xbf16>, %c: tensor<1x1x2xi32>,
                       %i: tensor<1x1x2x3xi32>) -> tensor<1x2x256x128xbf16> {
  %o = attn.attention %q, %k, %v
      mask(#attn.blocks<q_block = 128, k_block = 128>,
           %c, %i : tensor<1x1x2xi32>, tensor<1x1x2x3xi32>)
      : tensor<1x2x256x128xbf16>, tensor<1x2x300x128xbf16>, tensor<1x2x300x128xbf16>
      -> tensor<1x2x256x128xbf16>
  return %o : tensor<1x2x256x128xbf16>
}

// -----

// An explicit mask (M12) on 128 x 128 tiles with TMA loads: the key
// tiles' visit and not-full bits from the mask's rows (ballots into
// shared memory; three key tiles fill one word, so each of the eight
// warps reads a slice of 16 rows of them), then the first visited tiles
// and each refill found by scanning the visit bits (a count of trailing
// zeros per word).
// WG128-LABEL: gpu.func @tile_dense
// WG128-SAME: attn.q_tile = 128 : i64, {{.*}}attn.tma = 128 : i64
// WG128: scf.for %{{.*}} = %thread_id_x to %c2{{[_0-9]*}} step %c256
// WG128: gpu.barrier
// WG128: %[[FIRST:.*]] = arith.addi %{{.*}}, %{{.*}} : index
// WG128-NEXT: %[[BEGIN:.*]] = arith.minsi %[[FIRST]], %[[END:.*]] : index
// WG128-NEXT: %[[SLICE:.*]] = arith.constant 16 : index
// WG128-NEXT: %[[LAST:.*]] = arith.addi %[[FIRST]], %[[SLICE]] : index
// WG128-NEXT: arith.minsi %[[LAST]], %[[END]] : index
// WG128: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %c32
// WG128: scf.for %{{.*}} = %[[BEGIN]] to %{{.*}} step %c8
// WG128: nvvm.vote.sync  ballot
// WG128: memref.atomic_rmw ori
// WG128: math.cttz
// WG128: math.cttz
// WG128: math.cttz
// WG128: cp.async.bulk.tensor.4d
// WG128: scf.while ({{.*}}%[[ORD:arg[0-9]+]] = %c0{{[_0-9]*}}, %{{.*}}) : (
// WG128: math.cttz
// WG128: arith.divui %[[ORD]], %c3
// WG128: memref.atomic_rmw addi
// WG128: cp.async.bulk.tensor.4d
func.func @tile_dense(%q: tensor<1x2x256x128xbf16>, %k: tensor<1x2x384x128xbf16>,
                      %v: tensor<1x2x384x128xbf16>, %m: tensor<1x1x256x384xi1>)
    -> tensor<1x2x256x128xbf16> {
  %o = attn.attention %q, %k, %v mask(#attn.dense, %m : tensor<1x1x256x384xi1>)
      : tensor<1x2x256x128xbf16>, tensor<1x2x384x128xbf16>, tensor<1x2x384x128xbf16>
      -> tensor<1x2x256x128xbf16>
  return %o : tensor<1x2x256x128xbf16>
}

// -----

// An explicit mask with its tile summary (#attn.dense<tiles>, a program
// step's argument from attn.mask_tiles): the flag table's words come from
// the summary, each a word of its 64 x 64 tiles (the first query tile's
// row), stored by a thread each before the barrier; no ballots, no tag, a
// block per work item. On 128 x 128 tiles (WG128), the two summary rows of
// the query tile are or-ed and pairs of 64-key bits folded into one bit
// (or of bits 2k and 2k + 1, in five shift-and-mask steps), the high half
// from the next word where the summary has it.
// CHECK-LABEL: gpu.func @dense_tiles
// CHECK-SAME: attn.items_per_block = 1 : i64
// CHECK: %[[FLAGS:.*]] = memref.view %{{.*}}[%{{.*}}][] : {{.*}} to memref<4xi32, #gpu.address_space<workgroup>>
// CHECK-NOT: nvvm.vote.sync
// CHECK: scf.for %[[W:.*]] = %{{.*}} to %c4{{[_0-9]*}} step %c128
// CHECK: memref.load %{{.*}} : memref<1x1x4x4xi32>
// CHECK: memref.store %{{.*}}, %[[FLAGS]][%[[W]]]
// CHECK: gpu.barrier
// CHECK: gpu.return
// WG128-LABEL: gpu.func @dense_tiles
// WG128: scf.for %{{.*}} = %thread_id_x to %c2{{[_0-9]*}} step %c256
// WG128: memref.load %{{.*}} : memref<1x1x4x4xi32>
// WG128: memref.load %{{.*}} : memref<1x1x4x4xi32>
// WG128: arith.ori
// WG128: arith.andi %{{.*}}, %c1431655765_i32
// WG128: arith.andi %{{.*}}, %c858993459_i32
// WG128: arith.andi %{{.*}}, %c252645135_i32
// WG128: arith.andi %{{.*}}, %c16711935_i32
// WG128: arith.andi %{{.*}}, %c65535_i32
// WG128: arith.cmpi ult, %{{.*}}, %c2
// WG128: arith.shli %{{.*}}, %c16_i32
// WG128: memref.store
// WG128: gpu.barrier
// WG128-NOT: nvvm.vote.sync
// WG128: cp.async.bulk.tensor.4d
func.func @dense_tiles(%q: tensor<1x2x200x128xbf16>, %k: tensor<1x2x2112x128xbf16>,
                       %v: tensor<1x2x2112x128xbf16>, %m: tensor<1x1x200x2112xi1>,
                       %t: tensor<1x1x4x4xi32>) -> tensor<1x2x200x128xbf16>
    attributes {attn.step} {
  %o = attn.attention %q, %k, %v
      mask(#attn.dense<tiles>, %m, %t : tensor<1x1x200x2112xi1>, tensor<1x1x4x4xi32>)
      : tensor<1x2x200x128xbf16>, tensor<1x2x2112x128xbf16>, tensor<1x2x2112x128xbf16>
      -> tensor<1x2x200x128xbf16>
  return %o : tensor<1x2x200x128xbf16>
}

// -----

// attn.mask_tiles: a block of 256 threads per (batch, head, 64-query tile)
// row; the row's words zeroed, then (16-byte aligned rows) each thread
// reads a 16-byte chunk of each of the 64 mask rows, 16 rows per step,
// the four threads of a key tile or their flags by xor shuffles, and the
// first sets the tile's bits by atomic ors; else a thread per key tile
// over single flags.
// CHECK-LABEL: gpu.func @mask_tiles
// CHECK-SAME: attn.select_rows = 8 : i64
// CHECK: scf.for %{{.*}} = %block_id_x to %c8{{[_0-9]*}} step %grid_dim_x
// CHECK: memref.store %c0_i32{{.*}} : memref<2x1x4x2xi32>
// CHECK: gpu.barrier
// CHECK: scf.if
// CHECK: scf.for %{{.*}} to %c1{{[_0-9]*}} step %c1
// CHECK: scf.for {{.*}} step %c16
// CHECK-COUNT-16: llvm.load %{{.*}} {alignment = 16 : i64} : !llvm.ptr -> vector<4xi32>
// CHECK: gpu.shuffle  xor %{{.*}}, %c1_i32
// CHECK: gpu.shuffle  xor %{{.*}}, %c2_i32
// CHECK: memref.atomic_rmw ori %{{.*}} : (i32, memref<2x1x4x2xi32>) -> i32
// CHECK: } else {
// CHECK: memref.load %{{.*}} : memref<2x1x200x320xi1>
// CHECK: memref.atomic_rmw ori
func.func @mask_tiles(%m: tensor<2x1x200x320xi1>) -> tensor<2x1x4x2xi32> {
  %t = attn.mask_tiles %m : tensor<2x1x200x320xi1> -> tensor<2x1x4x2xi32>
  return %t : tensor<2x1x4x2xi32>
}

// -----

// ALiBi alone on the tensor-core body: per row and tile the slope in log2
// units and (tile key - row) times it, then two FMAs per element (the
// column's offset times the slope plus that base; the score times log2 e
// plus the bias).
// CHECK-LABEL: gpu.func @alibi
// CHECK: %[[SLOPE:.*]] = memref.load %{{.*}} : memref<2xf32>
// CHECK: %[[STEP:.*]] = arith.mulf %[[SLOPE]], %{{.*}} : f32
// CHECK: %[[DIST:.*]] = arith.subf
// CHECK: %[[BASE:.*]] = arith.mulf %[[DIST]], %[[STEP]] : f32
// CHECK: %[[BIAS:.*]] = math.fma %{{.*}}, %[[STEP]], %[[BASE]] : f32
// CHECK: math.fma %{{.*}}, %{{.*}}, %[[BIAS]] : f32
func.func @alibi(%q: tensor<1x2x128x64xbf16>, %k: tensor<1x2x128x64xbf16>,
                 %v: tensor<1x2x128x64xbf16>, %slopes: tensor<2xf32>)
    -> tensor<1x2x128x64xbf16> {
  %o = attn.attention %q, %k, %v mask(#attn.causal) score([#attn.alibi], %slopes : tensor<2xf32>)
      : tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>
      -> tensor<1x2x128x64xbf16>
  return %o : tensor<1x2x128x64xbf16>
}

// -----

// attn.id_ranges: a warp per (batch, 64-token tile) entry (8 per block of
// 256 threads: ceil(2 * 5 / 8) = 2 blocks); each lane reads two ids of the
// tile (positions past its end read its last id), the warp's min and max
// by xor shuffles, lane 0 stores the entry.
// CHECK-LABEL: gpu.func @id_ranges
// CHECK-SAME: attn.select_rows = 2 : i64
// CHECK: scf.for %{{.*}} = %{{.*}} to %c10{{[_0-9]*}} step
// CHECK: memref.load %{{.*}} : memref<2x300xi32>
// CHECK: memref.load %{{.*}} : memref<2x300xi32>
// CHECK: gpu.shuffle  xor %{{.*}}, %c16_i32
// CHECK: gpu.shuffle  xor %{{.*}}, %c1_i32
// CHECK: scf.if
// CHECK: memref.store %{{.*}} : memref<2x5x2xi32>
// CHECK: memref.store %{{.*}} : memref<2x5x2xi32>
func.func @id_ranges(%d: tensor<2x300xi32>) -> tensor<2x5x2xi32> {
  %r = attn.id_ranges %d : tensor<2x300xi32> -> tensor<2x5x2xi32>
  return %r : tensor<2x5x2xi32>
}

// -----

// #attn.document<ranges> (a program step's arguments from attn.id_ranges):
// the query tile's bounds from its ranges' entries, each key tile's from
// the key ranges before the ballots; the ids themselves only in the
// element pass of partial tiles.
// CHECK-LABEL: gpu.func @document_ranges
// CHECK-SAME: known_block_size
// CHECK-NOT: memref<1x2112xi32>
// CHECK: memref.load %{{.*}} : memref<1x4x2xi32>
// CHECK-NOT: memref<1x2112xi32>
// CHECK: memref.load %{{.*}} : memref<1x33x2xi32>
// CHECK-NOT: memref<1x2112xi32>
// CHECK: nvvm.vote.sync  ballot
// CHECK: memref.load %{{.*}} : memref<1x2112xi32>
// On 128 x 128 tiles (D = 128) a block per work item; ids without ranges
// share a block between two heads.
// WG128-LABEL: gpu.func @document_ranges
// WG128-SAME: attn.items_per_block = 1 : i64
// WG128-LABEL: gpu.func @document_no_ranges
// WG128-SAME: attn.items_per_block = 2 : i64
func.func @document_ranges(%q: tensor<1x2x200x128xbf16>, %k: tensor<1x2x2112x128xbf16>,
                           %v: tensor<1x2x2112x128xbf16>, %d: tensor<1x200xi32>,
                           %e: tensor<1x2112xi32>, %rd: tensor<1x4x2xi32>,
                           %re: tensor<1x33x2xi32>) -> tensor<1x2x200x128xbf16>
    attributes {attn.step} {
  %o = attn.attention %q, %k, %v
      mask(#attn.and<#attn.causal, #attn.document<ranges>>, %d, %e, %rd, %re
           : tensor<1x200xi32>, tensor<1x2112xi32>, tensor<1x4x2xi32>, tensor<1x33x2xi32>)
      : tensor<1x2x200x128xbf16>, tensor<1x2x2112x128xbf16>, tensor<1x2x2112x128xbf16>
      -> tensor<1x2x200x128xbf16>
  return %o : tensor<1x2x200x128xbf16>
}
func.func @document_no_ranges(%q: tensor<1x2x200x128xbf16>, %k: tensor<1x2x2112x128xbf16>,
                              %v: tensor<1x2x2112x128xbf16>, %d: tensor<1x200xi32>,
                              %e: tensor<1x2112xi32>) -> tensor<1x2x200x128xbf16> {
  %o = attn.attention %q, %k, %v
      mask(#attn.and<#attn.causal, #attn.document>, %d, %e
           : tensor<1x200xi32>, tensor<1x2112xi32>)
      : tensor<1x2x200x128xbf16>, tensor<1x2x2112x128xbf16>, tensor<1x2x2112x128xbf16>
      -> tensor<1x2x200x128xbf16>
  return %o : tensor<1x2x200x128xbf16>
}

// -----

// Blocks smaller than a key tile take the row form.
// CHECK-LABEL: gpu.func @small_blocks
// CHECK-SAME: attn.q_tile = 1 : i64
// CHECK-NOT: nvgpu.
// CHECK: gpu.return
func.func @small_blocks(%q: tensor<1x2x256x64xbf16>, %k: tensor<1x2x300x64xbf16>,
                        %v: tensor<1x2x300x64xbf16>, %c: tensor<1x1x16xi32>,
                        %i: tensor<1x1x16x3xi32>) -> tensor<1x2x256x64xbf16> {
  %o = attn.attention %q, %k, %v
      mask(#attn.blocks<q_block = 16, k_block = 16>,
           %c, %i : tensor<1x1x16xi32>, tensor<1x1x16x3xi32>)
      : tensor<1x2x256x64xbf16>, tensor<1x2x300x64xbf16>, tensor<1x2x300x64xbf16>
      -> tensor<1x2x256x64xbf16>
  return %o : tensor<1x2x256x64xbf16>
}

// -----

// Token lists shared by the query heads of a KV head (D1/DSA: 16 heads,
// one KV head, one list per query token): a tile holds one query's 16
// heads (q_tile 1, packed_heads 16), its key tiles are the list's entries
// 64 at a time, K/V rows gathered by entry (clamped into the keys), and
// every element masks entries past the count or outside the keys.
// CHECK-LABEL: gpu.func @selected_tokens_heads
// CHECK-SAME: attn.packed_heads = 16 : i64, attn.q_tile = 1 : i64
// CHECK: %[[COUNT:.*]] = memref.load %{{.*}} : memref<1x1x300xi32>
// CHECK: arith.ceildivsi %{{.*}}, %c64
// CHECK: %[[ENTRY:.*]] = memref.load %{{.*}} : memref<1x1x300x96xi32>
// CHECK: %[[KEY:.*]] = arith.index_cast %[[ENTRY]]
// CHECK: %[[CLAMPED:.*]] = arith.minsi %[[KEY]]
// CHECK: %[[ROW:.*]] = arith.maxsi %[[CLAMPED]]
// CHECK: nvgpu.device_async_copy %{{.*}}[%{{.*}}, %{{.*}}, %[[ROW]], %{{.*}}]
// CHECK: nvvm.mma.sync
// CHECK: memref.load %{{.*}} : memref<1x1x300x96xi32>
// CHECK: arith.cmpi slt
// CHECK: arith.select
// CHECK: gpu.return
func.func @selected_tokens_heads(%q: tensor<1x16x300x64xbf16>, %k: tensor<1x1x300x64xbf16>,
                                 %v: tensor<1x1x300x64xbf16>, %c: tensor<1x1x300xi32>,
                                 %i: tensor<1x1x300x96xi32>) -> tensor<1x16x300x64xbf16> {
  %o = attn.attention %q, %k, %v
      mask(#attn.and<#attn.causal, #attn.tokens>, %c, %i : tensor<1x1x300xi32>, tensor<1x1x300x96xi32>)
      : tensor<1x16x300x64xbf16>, tensor<1x1x300x64xbf16>, tensor<1x1x300x64xbf16>
      -> tensor<1x16x300x64xbf16>
  return %o : tensor<1x16x300x64xbf16>
}

// -----

// The D1 indexer top-k: a block of 256 threads per (batch, query) row
// over a capped grid; the row's indexer queries and weights staged in
// workgroup memory as f32 (16-byte aligned: LLVM vectorizes their loads); 3 keys per thread share each staged element;
// the row's ordered keys in the block's row of the workspace (the last
// argument, 64 keys x 4 bytes per block), the passes reading them only up
// to the last candidate, in 16-byte groups of 4 keys, four groups per
// thread loaded before their uses while whole, then one at a time (the
// first pass's histogram counts the candidates: no pass of its own);
// histograms in workgroup memory by atomic adds,
// their threshold bin by a block-wide scan (no thread scans the bins
// alone); warp prefix sums for the ordered compaction; the launcher reads
// the rows and scratch bytes.
// CHECK-LABEL: gpu.func @indexer(
// CHECK-SAME: %{{.*}}: memref<1x1x64xi32>, %{{.*}}: memref<1x1x64x8xi32>, %[[WSB:.*]]: memref<?xi8>)
// CHECK-SAME: workgroup(%[[HIST:.*]] : memref<256xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %[[STATE:.*]] : memref<5xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %[[KEPT:.*]] : memref<16xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %[[QS:.*]] : memref<32xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %[[WS2:.*]] : memref<2xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// CHECK-SAME: attn.scratch_bytes = 256 : i64, attn.select_rows = 64 : i64
// CHECK-SAME: known_block_size = array<i32: 256, 1, 1>
// CHECK: %[[WS:.*]] = memref.view %[[WSB]][%{{.*}}][%{{.*}}] : memref<?xi8> to memref<?xi32>
// CHECK: %[[BID:.*]] = gpu.block_id x
// CHECK: %[[GRID:.*]] = gpu.grid_dim x
// CHECK: scf.for %{{.*}} = %[[BID]] to %c64{{.*}} step %[[GRID]]
// CHECK: memref.store %{{.*}}, %[[QS]]
// CHECK: memref.store %{{.*}}, %[[WS2]]
// CHECK: gpu.barrier
// CHECK: %[[X:.*]] = memref.load %[[QS]]
// CHECK-COUNT-3: arith.mulf %[[X]],
// CHECK-NOT: arith.mulf %[[X]],
// CHECK: memref.load %[[QS]]
// CHECK: memref.store %{{.*}}, %[[WS]]
// CHECK: memref.atomic_rmw maxs %{{.*}}, %[[STATE]]
// CHECK: gpu.barrier
// CHECK-NOT: memref.atomic_rmw addi %{{.*}}, %[[STATE]]
// CHECK: scf.for %{{.*}} step %c4096
// CHECK-COUNT-4: vector.load %[[WS]][%{{.*}}] {alignment = 16 : i64} : memref<?xi32>, vector<4xi32>
// CHECK-COUNT-16: memref.atomic_rmw addi %{{.*}}, %[[HIST]]
// CHECK: scf.for %{{.*}} step %c1024
// CHECK: vector.load %[[WS]]
// CHECK-NOT: vector.load
// CHECK-COUNT-4: memref.atomic_rmw addi %{{.*}}, %[[HIST]]
// CHECK: gpu.barrier
// CHECK: gpu.shuffle up
// CHECK: memref.store %{{.*}}, %[[KEPT]]
// CHECK: gpu.barrier
// CHECK: memref.store %{{.*}}, %[[STATE]]
// CHECK: gpu.barrier
// CHECK-NOT: scf.while
// CHECK: gpu.shuffle xor
// CHECK: memref.store %{{.*}}, %[[KEPT]]
// CHECK: gpu.shuffle up
// CHECK: gpu.shuffle idx
// CHECK: gpu.return
// ROWS-LABEL: gpu.func @indexer(
func.func @indexer(%qi: tensor<1x64x2x16xbf16>, %ki: tensor<1x64x16xbf16>, %w: tensor<1x64x2xf32>)
    -> (tensor<1x1x64xi32>, tensor<1x1x64x8xi32>) {
  %c, %i = attn.indexer_topk %qi, %ki, %w k = 8 mask(#attn.causal)
      : tensor<1x64x2x16xbf16>, tensor<1x64x16xbf16>, tensor<1x64x2xf32> -> tensor<1x1x64xi32>, tensor<1x1x64x8xi32>
  return %c, %i : tensor<1x1x64xi32>, tensor<1x1x64x8xi32>
}

// -----

// The indexer on tensor cores (16-bit queries and keys, an indexer dim of
// a multiple of 32, no block lists): a block per tile of 16 query rows (2
// batches x 3 tiles), 16 rows of whole 256-key chunks of scratch (300 keys
// -> 512 slots); the rows' queries read once as A fragments in 16-byte
// loads (2 heads x 1 chunk of 32 dims, rows g and g + 8); chunks of 256 keys
// up to the hull's end, each computed only where the hull meets it: the
// warp's four 8-key tiles loaded (16 bytes a lane) before their products,
// 2 heads x 2 k16 steps of m16n8k16 per tile, ReLU and weights, the ordered
// keys stored in pairs; the rows' candidate ends by atomic max; then the
// radix select row by row (rows under 4096 keys: no first-digit bins, no
// dynamic shared memory; two blocks per SM). Without tensor cores (ROWS),
// the block-per-row kernel.
// CHECK-LABEL: gpu.func @indexer_tiles(
// CHECK-SAME: %[[QI:.*]]: memref<2x40x2x32xbf16>, %[[KI:.*]]: memref<2x300x32xbf16>
// CHECK-SAME: workgroup(%[[HIST:.*]] : memref<256xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<3xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<16xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %[[ENDS:.*]] : memref<16xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// CHECK-SAME: attn.scratch_bytes = 32768 : i64, attn.select_rows = 6 : i64, attn.shared_bytes = 0 : i64
// CHECK-SAME: nvvm.minctasm = 2 : i32
// CHECK: %[[WS:.*]] = memref.view
// CHECK: scf.for %{{.*}} = %{{.*}} to %c6{{.*}} step
// CHECK-COUNT-4: vector.load %[[QI]]{{.*}} {alignment = 16 : i64} : memref<2x40x2x32xbf16>, vector<8xbf16>
// CHECK-NOT: vector.load %[[QI]]
// CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %c256 iter_args
// CHECK: scf.if %{{.*}} -> (i32, i32, i32, i32, i32, i32, i32, i32, i32, i32, i32, i32, i32, i32, i32, i32)
// CHECK-COUNT-4: vector.load %[[KI]]{{.*}} {alignment = 16 : i64} : memref<2x300x32xbf16>, vector<8xbf16>
// CHECK-COUNT-4: nvvm.mma.sync {{.*}} shape = #nvvm.shape<m = 16, n = 8, k = 16>
// CHECK: arith.maximumf
// CHECK: scf.while
// CHECK: vector.store %{{.*}}, %[[WS]][%{{.*}}] {alignment = 8 : i64} : memref<?xi32>, vector<2xi32>
// CHECK: memref.atomic_rmw maxs %{{.*}}, %[[ENDS]]
// CHECK: gpu.barrier
// CHECK: scf.for
// CHECK: memref.load %[[ENDS]]
// CHECK-COUNT-4: vector.load %[[WS]]{{.*}} : memref<?xi32>, vector<4xi32>
// CHECK: memref.atomic_rmw addi %{{.*}}, %[[HIST]]
// CHECK: gpu.return
// ROWS-LABEL: gpu.func @indexer_tiles(
// ROWS-SAME: attn.scratch_bytes = 1200 : i64, attn.select_rows = 80 : i64
func.func @indexer_tiles(%qi: tensor<2x40x2x32xbf16>, %ki: tensor<2x300x32xbf16>, %w: tensor<2x40x2xf32>)
    -> (tensor<2x1x40xi32>, tensor<2x1x40x8xi32>) {
  %c, %i = attn.indexer_topk %qi, %ki, %w k = 8 mask(#attn.causal)
      : tensor<2x40x2x32xbf16>, tensor<2x300x32xbf16>, tensor<2x40x2xf32> -> tensor<2x1x40xi32>, tensor<2x1x40x8xi32>
  return %c, %i : tensor<2x1x40xi32>, tensor<2x1x40x8xi32>
}

// -----

// Rows of at least 4096 keys: the scores' first 11-bit digit counted while
// scoring, per row in dynamic shared memory (16 rows x 2048 bins, 128 KiB,
// zeroed per tile); per row the threshold bin by a block-wide scan (8 bins
// a thread), then, where the bin and those above hold at most 8192 keys (or
// the row's slots), the ordered compaction of those keys and their
// positions into the row's kept region and the select over them only; the
// row-wide select otherwise. Workspace per block: 16 rows of 4352 slots,
// 16 x 4352 kept keys and as many positions.
// CHECK-LABEL: gpu.func @indexer_binned(
// CHECK-SAME: attn.scratch_bytes = 835584 : i64
// CHECK-SAME: attn.shared_bytes = 131072 : i64
// CHECK-NOT: nvvm.minctasm
// CHECK: %[[WS:.*]] = memref.view %{{.*}} : memref<?xi8> to memref<?xi32>
// CHECK: %[[DYN:.*]] = gpu.dynamic_shared_memory
// CHECK: %[[BINS:.*]] = memref.view %[[DYN]][%{{.*}}][] : memref<?xi8, #gpu.address_space<workgroup>> to memref<32768xi32, #gpu.address_space<workgroup>>
// CHECK: vector.store %{{.*}}, %[[BINS]]
// CHECK: nvvm.mma.sync
// CHECK: arith.shrui %{{.*}}, %c21_i32
// CHECK: memref.atomic_rmw addi %{{.*}}, %[[BINS]]
// CHECK: gpu.barrier
// CHECK-COUNT-8: memref.load %[[BINS]]
// CHECK: gpu.shuffle up
// CHECK: gpu.barrier
// CHECK: scf.if %{{.*}} -> (i32)
// CHECK: vector.load %[[WS]]
// CHECK: memref.store %{{.*}}, %[[WS]]
// CHECK-NEXT: arith.index_cast
// CHECK: memref.store %{{.*}}, %[[WS]]
// CHECK: gpu.barrier
// CHECK: memref.atomic_rmw addi
// CHECK: } else {
// CHECK: memref.atomic_rmw addi
// CHECK: gpu.return
func.func @indexer_binned(%qi: tensor<1x20x2x32xbf16>, %ki: tensor<1x4100x32xbf16>, %w: tensor<1x20x2xf32>)
    -> (tensor<1x1x20xi32>, tensor<1x1x20x8xi32>) {
  %c, %i = attn.indexer_topk %qi, %ki, %w k = 8 mask(#attn.causal<align = bottom_right>)
      : tensor<1x20x2x32xbf16>, tensor<1x4100x32xbf16>, tensor<1x20x2xf32> -> tensor<1x1x20xi32>, tensor<1x1x20x8xi32>
  return %c, %i : tensor<1x1x20xi32>, tensor<1x1x20x8xi32>
}

// -----

// attn.pool (D2's pooled keys): a thread per output element, the
// element's block reduced as on the CPU; no scratch.
// CHECK-LABEL: gpu.func @pool(
// CHECK-SAME: attn.scratch_bytes = 0 : i64, attn.select_rows = 1 : i64
// CHECK: scf.for %{{.*}} = %{{.*}} to %c64{{.*}} step
// CHECK: arith.divf
// CHECK: memref.store %{{.*}} : memref<1x4x16xbf16>
func.func @pool(%ki: tensor<1x64x16xbf16>) -> tensor<1x4x16xbf16> {
  %p = attn.pool %ki dim = 1 block = 16 kind = mean : tensor<1x64x16xbf16> -> tensor<1x4x16xbf16>
  return %p : tensor<1x4x16xbf16>
}

// -----

// Programs are launched from the manifest: only their steps become kernels.
// CHECK-LABEL: gpu.module @attn_kernels
// CHECK-NOT: func.func @program
func.func @program(%q: tensor<1x1x64x16xf32>) -> tensor<1x1x64x16xf32> attributes {attn.program} {
  return %q : tensor<1x1x64x16xf32>
}
func.func @step(%q: tensor<1x1x64x16xf32>) -> tensor<1x1x64x16xf32> {
  %o = attn.attention %q, %q, %q : tensor<1x1x64x16xf32>, tensor<1x1x64x16xf32>, tensor<1x1x64x16xf32> -> tensor<1x1x64x16xf32>
  return %o : tensor<1x1x64x16xf32>
}

// -----

// D4's tree search: a block per (batch, head, query block) — 80 rows —
// pools the query block into shared memory, flags the candidate key blocks
// (counted by atomic adds) and lists them by the ordered compaction; then
// rounds while a kept range holds more than one block: thread 0 lays out
// the parts, the threads score one each, the block-wide select keeps 5.
// Workspace per block: 2 x 32 list slots, 2 x 8 range slots, 3 x 16 part
// slots and 8 chosen (136 i32).
// CHECK-LABEL: gpu.func @hip_rows(
// CHECK-SAME: %[[C:[a-z0-9]*]]: memref<2x4x10xi32>, %[[I:[a-z0-9]*]]: memref<2x4x10x5xi32>
// CHECK-SAME: %[[ROUND:[a-z0-9]*]] : memref<4xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %[[PQ:[a-z0-9]*]] : memref<64xf32, #gpu.address_space<workgroup>>
// CHECK-SAME: attn.scratch_bytes = 544 : i64, attn.select_rows = 80 : i64
// CHECK: scf.for %{{.*}} = %block_id_x to %c80{{.*}} step %grid_dim_x
// CHECK: memref.store %{{.*}}, %[[PQ]]
// CHECK: memref.atomic_rmw addi %{{.*}}, %[[ROUND]]
// CHECK: gpu.shuffle  up
// CHECK: scf.while : () -> () {
// CHECK: scf.condition
// CHECK: } do {
// CHECK: memref.load %[[PQ]]
// CHECK: memref.atomic_rmw addi
// CHECK: memref.store %{{.*}}, %[[ROUND]]
// CHECK: scf.yield
// CHECK: memref.store %{{.*}}, %[[I]]
// CHECK: memref.store %{{.*}}, %[[C]]
// CHECK: gpu.return
func.func @hip_rows(%q: tensor<2x4x300x64xbf16>, %k: tensor<2x2x1000x64xbf16>) -> (tensor<2x4x10xi32>, tensor<2x4x10x5xi32>) {
  %c, %i = attn.hip_topk %q, %k blocks(32, 32) k = 5 branch = 3 mask(#attn.causal<align = bottom_right>) : tensor<2x4x300x64xbf16>, tensor<2x2x1000x64xbf16> -> tensor<2x4x10xi32>, tensor<2x4x10x5xi32>
  return %c, %i : tensor<2x4x10xi32>, tensor<2x4x10x5xi32>
}

// -----

// D7's query-aware selection over the whole grid (`attn.grid_sync`: attnrt
// keeps every block resident, at most one per SM, and zeroes the counter
// after the scratch). The blocks share one workspace (scores, the rows'
// statistics, masses and their keys: 12680 words, then the counter at byte
// 50720) and take (KV head, chunk of 64 keys) units (2 x 5 = 10): each
// stages its chunk dim-major in shared memory (64 dims of 68 floats) and
// scores the head's guiding rows against it, 4 keys a thread from 16-byte
// loads (the query 8 bf16 at a time); a grid-wide barrier (memory barriers,
// an atomic arrival, spinning on atomic reads); the rows' statistics, a
// thread of the grid per row; a barrier; the keys' masses, a thread per
// key, as ordered sums 8 terms' loads at a time; a barrier; block 0 then
// selects: the max_tokens best, with the threshold the listed keys
// bitonic-sorted by mass in 64 i64 slots and taken by thread 0.
// CHECK-LABEL: gpu.func @query_rows(
// CHECK-SAME: %[[Q:[a-z0-9]*]]: memref<2x4x10x64xbf16>, %{{.*}}: memref<2x2x300x64xbf16>, %[[C:[a-z0-9]*]]: memref<2x1x1xi32>, %[[I:[a-z0-9]*]]: memref<2x1x1x50xi32>, %[[WS:[a-z0-9]*]]: memref<?xi8>)
// CHECK-SAME: %[[STAGED:[a-z0-9]*]] : memref<4352xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %[[SORT:[a-z0-9]*]] : memref<64xi64, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// CHECK-SAME: attn.grid_sync
// CHECK-SAME: attn.scratch_bytes = 50720 : i64, attn.select_rows = 10 : i64
// CHECK: memref.view %[[WS]][%{{.*}}][] : memref<?xi8> to memref<12680xf32>
// CHECK: %[[COUNTER:.*]] = memref.view %[[WS]][%c50720][] : memref<?xi8> to memref<1xi32>
// CHECK: memref.store %{{.*}}, %[[STAGED]]
// CHECK: gpu.barrier
// CHECK: vector.load %[[Q]]{{.*}} : memref<2x4x10x64xbf16>, vector<8xbf16>
// CHECK-COUNT-8: vector.load %[[STAGED]]{{.*}} {alignment = 16 : i64} : memref<4352xf32, #gpu.address_space<workgroup>>, vector<4xf32>
// CHECK: nvvm.memory.barrier <gpu>
// CHECK: memref.atomic_rmw addi %c1_i32, %[[COUNTER]]
// CHECK: scf.while
// CHECK: memref.atomic_rmw addi %c0_i32{{.*}}, %[[COUNTER]]
// CHECK: nvvm.memory.barrier <gpu>
// CHECK-COUNT-8: math.exp
// CHECK: memref.atomic_rmw addi %c1_i32, %[[COUNTER]]
// CHECK: memref.atomic_rmw addi %c1_i32, %[[COUNTER]]
// CHECK: memref.store %{{.*}}, %[[SORT]]
// CHECK: scf.while
// CHECK: memref.store %{{.*}}, %[[I]]
// CHECK: memref.store %{{.*}}, %[[C]]
// CHECK: gpu.return
func.func @query_rows(%q: tensor<2x4x10x64xbf16>, %k: tensor<2x2x300x64xbf16>) -> (tensor<2x1x1xi32>, tensor<2x1x1x50xi32>) {
  %c, %i = attn.query_topk %q, %k max_tokens = 50 {threshold = 0.6 : f64} : tensor<2x4x10x64xbf16>, tensor<2x2x300x64xbf16> -> tensor<2x1x1xi32>, tensor<2x1x1x50xi32>
  return %c, %i : tensor<2x1x1xi32>, tensor<2x1x1x50xi32>
}

// -----

// G4's value top-k: a block per (batch, KV head) row — 8 of them — scores
// its keys (16-byte loads of a value row, the products in dim order), writes
// the scores result and the ordered keys (0 where no query sees the key)
// to its row of the workspace (3000 slots), then selects block-wide.
// CHECK-LABEL: gpu.func @value_rows(
// CHECK-SAME: %[[V:[a-z0-9]*]]: memref<2x4x3000x128xbf16>, %{{.*}}: memref<4x128xf32>, %[[C:[a-z0-9]*]]: memref<2x4x1xi32>, %[[I:[a-z0-9]*]]: memref<2x4x1x300xi32>, %[[S:[a-z0-9]*]]: memref<2x4x3000xf32>
// CHECK-SAME: attn.scratch_bytes = 12000 : i64, attn.select_rows = 8 : i64
// CHECK: %[[WS:.*]] = memref.view
// CHECK: scf.for %{{.*}} = %block_id_x to %c8{{.*}} step %grid_dim_x
// CHECK: vector.load %[[V]]{{.*}} {alignment = 16 : i64} : memref<2x4x3000x128xbf16>, vector<8xbf16>
// CHECK: memref.store %{{.*}}, %[[S]]
// CHECK: memref.store %{{.*}}, %[[WS]]
// CHECK: gpu.barrier
// CHECK: vector.load %[[WS]]{{.*}} : memref<?xi32>, vector<4xi32>
// CHECK: memref.atomic_rmw addi
// CHECK: memref.store %{{.*}}, %[[I]]
// CHECK: memref.store %{{.*}}, %[[C]]
// CHECK: gpu.return
func.func @value_rows(%v: tensor<2x4x3000x128xbf16>, %w: tensor<4x128xf32>) -> (tensor<2x4x1xi32>, tensor<2x4x1x300xi32>, tensor<2x4x3000xf32>) {
  %c, %i, %s = attn.value_topk %v, %w k = 300 mask(#attn.not<#attn.key_prefix<len = 10>>) : tensor<2x4x3000x128xbf16>, tensor<4x128xf32> -> tensor<2x4x1xi32>, tensor<2x4x1x300xi32>, tensor<2x4x3000xf32>
  return %c, %i, %s : tensor<2x4x1xi32>, tensor<2x4x1x300xi32>, tensor<2x4x3000xf32>
}

// -----

// The other selection ops take the GPU row form: the CPU's loops with
// the independent rows (here the tokens of both batches) dealt out to the
// grid's threads, scratch rows (the heads' keys, the kept heads) as
// per-thread views into the workspace: 256 threads x (32 + 8) bytes.
// CHECK-LABEL: gpu.func @head_router(
// CHECK-SAME: %[[LOGITS:.*]]: memref<2x128x8xf32>, %[[KEEP:.*]]: memref<2x8x128xi1>, %[[W:.*]]: memref<2x128x8xf32>, %[[WS:.*]]: memref<?xi8>)
// CHECK-SAME: attn.scratch_bytes = 10240 : i64, attn.select_rows = 1 : i64
// CHECK: memref.view %[[WS]][%{{.*}}][] : memref<?xi8> to memref<8xi32>
// CHECK: memref.view %[[WS]][%{{.*}}][] : memref<?xi8> to memref<2xi32>
// CHECK: scf.for %{{.*}} = %{{.*}} to %c256{{.*}} step
// CHECK: memref.store %{{.*}}, %[[KEEP]]
// CHECK: memref.store %{{.*}}, %[[W]]
func.func @head_router(%logits: tensor<2x128x8xf32>) -> (tensor<2x8x128xi1>, tensor<2x128x8xf32>) {
  %keep, %w = attn.head_topk %logits k = 2 : tensor<2x128x8xf32> -> tensor<2x8x128xi1>, tensor<2x128x8xf32>
  return %keep, %w : tensor<2x8x128xi1>, tensor<2x128x8xf32>
}

// -----

// expected-error @below {{expected a spec function for the GPU: one attn.attention on the function arguments, returning its top-k results only (attn-split-program{split-topk} computes O in a step of its own)}}
func.func @attention_topk(%q: tensor<1x2x128x64xf32>) -> (tensor<1x2x128x64xf32>, tensor<1x2x128xi32>, tensor<1x2x128x16xi32>) {
  %o, %c, %i = attn.attention %q, %q, %q mask(#attn.causal) : tensor<1x2x128x64xf32>, tensor<1x2x128x64xf32>, tensor<1x2x128x64xf32> -> tensor<1x2x128x64xf32>, topk tensor<1x2x128xi32>, tensor<1x2x128x16xi32>
  return %o, %c, %i : tensor<1x2x128x64xf32>, tensor<1x2x128xi32>, tensor<1x2x128x16xi32>
}

// -----

// D6 on tensor cores: pyramid blocks of whole 64 x 64 tiles. The levels are
// a runtime tile test (a thread per key tile loads its block pair's level
// into the bit vectors: dropped pairs are neither copied nor computed); a
// visited tile loads its level again and, above 0, replaces each allowed
// score by the mean of its group's allowed scores — the column pair, then
// xor shuffles across the quad (levels 2, 3), then n-tiles (level 4) — one
// division per n-tile and row at the tile's level, before the softmax.
// CHECK-LABEL: gpu.func @pyramid_tiles(
// CHECK-SAME: %[[L:[a-z0-9]*]]: memref<1x2x2x3xi8>
// CHECK: memref.load %[[L]]
// CHECK: nvvm.vote.sync  ballot
// CHECK: nvvm.mma.sync
// CHECK: memref.load %[[L]]
// CHECK: arith.cmpi sgt, %{{.*}}, %c0{{.*}} : index
// CHECK: scf.if %{{.*}} -> (vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>)
// CHECK-COUNT-16: gpu.shuffle  xor %{{.*}}, %c1_i32
// CHECK-COUNT-16: gpu.shuffle  xor %{{.*}}, %c2_i32
// CHECK-COUNT-8: arith.divf
// CHECK-NOT: arith.divf
// CHECK: gpu.shuffle  xor %{{.*}}, %c1_i32
// CHECK: math.exp2
// CHECK: gpu.return
func.func @pyramid_tiles(%q: tensor<1x2x128x64xbf16>, %k: tensor<1x2x192x64xbf16>, %v: tensor<1x2x192x64xbf16>, %l: tensor<1x2x2x3xi8>) -> tensor<1x2x128x64xbf16> {
  %o = attn.attention %q, %k, %v mask(#attn.and<#attn.causal<align = bottom_right>, #attn.pyramid<q_block = 64, k_block = 64, max_level = 4>>, %l : tensor<1x2x2x3xi8>) : tensor<1x2x128x64xbf16>, tensor<1x2x192x64xbf16>, tensor<1x2x192x64xbf16> -> tensor<1x2x128x64xbf16>
  return %o : tensor<1x2x128x64xbf16>
}

// -----

// An attention's top-k step with 16-bit Q and K (a head dim of a multiple
// of 32) takes the score-tile kernel of the indexer: a block per tile of
// 16 query rows of a (batch, query head) — 2 x 4 x 3 tiles — the rows'
// queries read once (bshd: head in dim 2) as one head of A fragments, the
// keys of the KV head h / 2, 4 k16 steps per 8-key tile, the score scaled
// (1/sqrt(64)) and soft-capped per pair, -inf and NaN no candidates. The
// row form without tensor cores (ROWS).
// CHECK-LABEL: gpu.func @attention_topk_tiles(
// CHECK-SAME: %[[Q:.*]]: memref<2x40x4x64xbf16>, %[[K:.*]]: memref<2x300x2x64xbf16>, %{{.*}}: memref<2x300x2x64xbf16>, %[[C:.*]]: memref<2x4x40xi32>, %[[I:.*]]: memref<2x4x40x8xi32>
// CHECK-SAME: attn.scratch_bytes = 32768 : i64, attn.select_rows = 24 : i64
// CHECK: arith.constant 1.250000e-01 : f32
// CHECK-COUNT-4: vector.load %[[Q]]{{.*}} {alignment = 16 : i64} : memref<2x40x4x64xbf16>, vector<8xbf16>
// CHECK-NOT: vector.load %[[Q]]
// CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %c256 iter_args
// CHECK: vector.load %[[K]]{{.*}} {alignment = 16 : i64} : memref<2x300x2x64xbf16>, vector<8xbf16>
// CHECK-COUNT-4: nvvm.mma.sync {{.*}} shape = #nvvm.shape<m = 16, n = 8, k = 16>
// CHECK: arith.mulf %{{.*}}, %cst
// CHECK: math.tanh
// CHECK: arith.cmpf ogt
// CHECK: memref.atomic_rmw maxs
// CHECK: memref.store %{{.*}}, %[[I]]
// CHECK: memref.store %{{.*}}, %[[C]]
// CHECK: gpu.return
// ROWS-LABEL: gpu.func @attention_topk_tiles(
// ROWS-SAME: attn.scratch_bytes = 307200 : i64, attn.select_rows = 1 : i64
// ROWS-NOT: nvvm.mma.sync
// ROWS: gpu.return
func.func @attention_topk_tiles(%q: tensor<2x40x4x64xbf16>, %k: tensor<2x300x2x64xbf16>, %v: tensor<2x300x2x64xbf16>)
    -> (tensor<2x4x40xi32>, tensor<2x4x40x8xi32>) {
  %o, %c, %i = attn.attention %q, %k, %v layout(bshd, bshd) mask(#attn.causal<align = bottom_right>) score([#attn.softcap<cap = 30.0>])
      : tensor<2x40x4x64xbf16>, tensor<2x300x2x64xbf16>, tensor<2x300x2x64xbf16> -> tensor<2x40x4x64xbf16>, topk tensor<2x4x40xi32>, tensor<2x4x40x8xi32>
  return %c, %i : tensor<2x4x40xi32>, tensor<2x4x40x8xi32>
}

// -----

// D3 block routing: a block per (batch, head, strided set of query blocks)
// — 528 work items wanted, here 2 heads x 4 query blocks — pools the key
// blocks its queries can see into its region of the workspace (16-byte
// loads, f32 sums), then scores four pooled query blocks (workgroup
// memory) per pass over them, and selects block-wide.
// CHECK-LABEL: gpu.func @routing(
// CHECK-SAME: %[[WSB:[a-z0-9]*]]: memref<?xi8>) workgroup(%[[HIST:.*]] : memref<256xi32, {{.*}}, %[[STATE:.*]] : memref<7xi32, {{.*}}, %{{.*}} : memref<16xi32, {{.*}}, %[[PQ:.*]] : memref<256xf32, {{.*}})
// CHECK-SAME: attn.scratch_bytes = 1088 : i64, attn.select_rows = 8 : i64
// CHECK: %[[F32:.*]] = memref.view %[[WSB]][%{{.*}}][%{{.*}}] : memref<?xi8> to memref<?xf32>
// CHECK: %[[I32:.*]] = memref.view %[[WSB]][%{{.*}}][%{{.*}}] : memref<?xi8> to memref<?xi32>
// CHECK: scf.for %{{.*}} = %block_id_x to %c8{{.*}} step %grid_dim_x
// CHECK: vector.load %{{.*}} : memref<1x1x256x64xbf16>, vector<8xbf16>
// CHECK: vector.store %{{.*}}, %[[F32]]
// CHECK: vector.load %{{.*}} : memref<1x2x256x64xbf16>, vector<8xbf16>
// CHECK: vector.store %{{.*}}, %[[PQ]]
// CHECK: gpu.barrier
// CHECK: vector.load %[[F32]]{{.*}} : memref<?xf32>, vector<4xf32>
// CHECK: memref.store %{{.*}}, %[[I32]]
// CHECK: memref.atomic_rmw maxs %{{.*}}, %[[STATE]]
// CHECK: gpu.barrier
// CHECK: memref.atomic_rmw addi %{{.*}}, %[[HIST]]
// CHECK: gpu.return
func.func @routing(%q: tensor<1x2x256x64xbf16>, %k: tensor<1x1x256x64xbf16>) -> (tensor<1x2x4xi32>, tensor<1x2x4x2xi32>) {
  %c, %i = attn.block_topk %q, %k blocks(64, 64) k = 2 pool = mean mask(#attn.causal) : tensor<1x2x256x64xbf16>, tensor<1x1x256x64xbf16> -> tensor<1x2x4xi32>, tensor<1x2x4x2xi32>
  return %c, %i : tensor<1x2x4xi32>, tensor<1x2x4x2xi32>
}

// -----

// D5 on the same kernel: a row's query is its block's last query (pooled
// alone), its slots the candidates' scores (scale . dot, -inf elsewhere);
// a row is finished by its maximum (warp shuffles, then the warps'), its
// total and its masses' sum added by thread 0 in ascending order, the
// candidates bitonic-sorted by mass in 32 i64 slots of shared memory (15
// compare-exchange steps, 16 pairs each), taken by thread 0 while below
// gamma of the sum, and listed in ascending order.
// CHECK-LABEL: gpu.func @threshold(
// CHECK-SAME: %[[C:[a-z0-9]*]]: memref<2x4x10xi32>, %[[I:[a-z0-9]*]]: memref<2x4x10x32xi32>, %[[WSB:[a-z0-9]*]]: memref<?xi8>) workgroup(
// CHECK-SAME: %[[SORT:[a-z0-9]*]] : memref<32xi64, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// CHECK-SAME: attn.select_rows = 80 : i64
// CHECK: math.rsqrt
// CHECK: arith.select %{{.*}}, %{{.*}}, %cst{{.*}} : f32
// CHECK: arith.bitcast %{{.*}} : f32 to i32
// CHECK: gpu.shuffle  xor
// CHECK: math.exp
// CHECK: arith.divf
// CHECK: arith.shli
// CHECK: memref.store %{{.*}}, %[[SORT]]
// CHECK-COUNT-15: scf.for %{{.*}} = %thread_id_x to %c16{{.*}} step
// CHECK: scf.while
// CHECK: memref.store %{{.*}}, %[[I]]
// CHECK: memref.store %{{.*}}, %[[C]]
// CHECK: gpu.return
func.func @threshold(%q: tensor<2x4x300x64xbf16>, %k: tensor<2x2x1000x64xbf16>) -> (tensor<2x4x10xi32>, tensor<2x4x10x32xi32>) {
  %c, %i = attn.threshold_blocks %q, %k blocks(32, 32) gamma = 0.9 mask(#attn.causal<align = bottom_right>) {min_blocks = 3 : i64} : tensor<2x4x300x64xbf16>, tensor<2x2x1000x64xbf16> -> tensor<2x4x10xi32>, tensor<2x4x10x32xi32>
  return %c, %i : tensor<2x4x10xi32>, tensor<2x4x10x32xi32>
}

// -----

// D6: the same rows' maximum and total, then a thread per key block: its
// importance, its level from the thresholds (i8, -1 below the last).
// CHECK-LABEL: gpu.func @levels(
// CHECK-SAME: %[[L:[a-z0-9]*]]: memref<2x4x10x32xi8>
// CHECK-NOT: xi64
// CHECK: gpu.shuffle  xor
// CHECK: math.exp
// CHECK: arith.maximumf %{{.*}}, %cst
// CHECK: scf.for %{{.*}} = %thread_id_x to %c32{{.*}} step
// CHECK: arith.divf
// CHECK-COUNT-3: arith.cmpf oge
// CHECK: memref.store %{{.*}}, %[[L]]
// CHECK: gpu.return
func.func @levels(%q: tensor<2x4x300x64xbf16>, %k: tensor<2x2x1000x64xbf16>) -> tensor<2x4x10x32xi8> {
  %l = attn.pyramid_levels %q, %k blocks(32, 32) thresholds = [0.1, 0.02, 0.005] mask(#attn.causal<align = bottom_right>) : tensor<2x4x300x64xbf16>, tensor<2x2x1000x64xbf16> -> tensor<2x4x10x32xi8>
  return %l : tensor<2x4x10x32xi8>
}

// -----

// Pooled query blocks wider than the block-wide kernel keeps in shared
// memory (4 x 4096 f32): the GPU row form, a thread per (head, query
// block), no workgroup buffers.
// CHECK-LABEL: gpu.func @wide_routing(
// CHECK-NOT: workgroup(
// CHECK-SAME: attn.select_rows = 1 : i64
func.func @wide_routing(%q: tensor<1x1x128x4096xf32>, %k: tensor<1x1x128x4096xf32>) -> (tensor<1x1x2xi32>, tensor<1x1x2x1xi32>) {
  %c, %i = attn.block_topk %q, %k blocks(64, 64) k = 1 pool = mean mask(#attn.causal) : tensor<1x1x128x4096xf32>, tensor<1x1x128x4096xf32> -> tensor<1x1x2xi32>, tensor<1x1x2x1xi32>
  return %c, %i : tensor<1x1x2xi32>, tensor<1x1x2x1xi32>
}

// -----

func.func @dynamic_indexer(%qi: tensor<1x?x2x16xbf16>, %ki: tensor<1x64x16xbf16>, %w: tensor<1x?x2xf32>)
    -> (tensor<1x1x?xi32>, tensor<1x1x?x8xi32>) {
  // expected-error @below {{'attn.indexer_topk' op expected static shapes on the GPU (the kernel's grid and scratch are sized at compile time), got 'tensor<1x?x2x16xbf16>'}}
  %c, %i = attn.indexer_topk %qi, %ki, %w k = 8
      : tensor<1x?x2x16xbf16>, tensor<1x64x16xbf16>, tensor<1x?x2xf32> -> tensor<1x1x?xi32>, tensor<1x1x?x8xi32>
  return %c, %i : tensor<1x1x?xi32>, tensor<1x1x?x8xi32>
}

// -----

// expected-error @below {{expected a spec function for the GPU: one attn.pool on the function arguments, returning its results}}
func.func @pool_twice(%ki: tensor<1x64x16xbf16>) -> tensor<1x4x16xbf16> {
  %p = attn.pool %ki dim = 1 block = 4 kind = mean : tensor<1x64x16xbf16> -> tensor<1x16x16xbf16>
  %r = attn.pool %p dim = 1 block = 4 kind = max : tensor<1x16x16xbf16> -> tensor<1x4x16xbf16>
  return %r : tensor<1x4x16xbf16>
}

// -----

// Control flow around attn ops other than a program's branch on a flag
// argument (attn-split-program) stays on the host.
func.func @computed_branch(%n: index, %q: tensor<1x1x64x16xf32>) -> tensor<1x1x64x16xf32> {
  %c0 = arith.constant 0 : index
  %long = arith.cmpi sgt, %n, %c0 : index
  %o = scf.if %long -> tensor<1x1x64x16xf32> {
    // expected-error @below {{'attn.attention' op is inside control flow (scf.if), which the GPU cannot run: branch on a flag argument (an scf.if whose branches hold only attn ops, a program), or compile each variant as its own spec function}}
    %a = attn.attention %q, %q, %q mask(#attn.causal) : tensor<1x1x64x16xf32>, tensor<1x1x64x16xf32>, tensor<1x1x64x16xf32> -> tensor<1x1x64x16xf32>
    scf.yield %a : tensor<1x1x64x16xf32>
  } else {
    scf.yield %q : tensor<1x1x64x16xf32>
  }
  return %o : tensor<1x1x64x16xf32>
}

// -----

// The tile choice with wgmma: D = 128 under a causal mask with dynamic
// lengths takes 128 x 128 tiles; a sliding window (partial diagonal tiles)
// and D = 64 keep 64 x 64; so do fewer than 128 queries.
// WG128-LABEL: gpu.func @causal_dynamic
// WG128-SAME: attn.q_tile = 128 : i64, attn.shared_bytes = 229424 : i64, attn.split_kv = 128 : i64, attn.tma = 128 : i64, known_block_size = array<i32: 256, 1, 1>
// WG128-LABEL: gpu.func @window_d128
// WG128-SAME: attn.q_tile = 64 : i64, attn.shared_bytes = 114688 : i64, attn.split_kv = 64 : i64, known_block_size = array<i32: 128, 1, 1>
// WG128-LABEL: gpu.func @causal_d64
// WG128-SAME: attn.q_tile = 64 : i64, attn.shared_bytes = 57344 : i64, attn.split_kv = 64 : i64, known_block_size = array<i32: 128, 1, 1>
// WG128-LABEL: gpu.func @causal_few_queries
// WG128-SAME: attn.q_tile = 64 : i64, attn.shared_bytes = 114688 : i64, attn.split_kv = 64 : i64, known_block_size = array<i32: 128, 1, 1>
func.func @causal_dynamic(%q: tensor<1x2x?x128xbf16>, %k: tensor<1x2x?x128xbf16>,
                          %v: tensor<1x2x?x128xbf16>) -> tensor<1x2x?x128xbf16> {
  %o = attn.attention %q, %k, %v mask(#attn.causal)
      : tensor<1x2x?x128xbf16>, tensor<1x2x?x128xbf16>, tensor<1x2x?x128xbf16>
      -> tensor<1x2x?x128xbf16>
  return %o : tensor<1x2x?x128xbf16>
}
func.func @window_d128(%q: tensor<1x2x512x128xbf16>, %k: tensor<1x2x512x128xbf16>,
                       %v: tensor<1x2x512x128xbf16>) -> tensor<1x2x512x128xbf16> {
  %o = attn.attention %q, %k, %v mask(#attn.window<left = 256>)
      : tensor<1x2x512x128xbf16>, tensor<1x2x512x128xbf16>, tensor<1x2x512x128xbf16>
      -> tensor<1x2x512x128xbf16>
  return %o : tensor<1x2x512x128xbf16>
}
func.func @causal_d64(%q: tensor<1x2x512x64xbf16>, %k: tensor<1x2x512x64xbf16>,
                      %v: tensor<1x2x512x64xbf16>) -> tensor<1x2x512x64xbf16> {
  %o = attn.attention %q, %k, %v mask(#attn.causal)
      : tensor<1x2x512x64xbf16>, tensor<1x2x512x64xbf16>, tensor<1x2x512x64xbf16>
      -> tensor<1x2x512x64xbf16>
  return %o : tensor<1x2x512x64xbf16>
}
func.func @causal_few_queries(%q: tensor<1x2x100x128xbf16>, %k: tensor<1x2x512x128xbf16>,
                              %v: tensor<1x2x512x128xbf16>) -> tensor<1x2x100x128xbf16> {
  %o = attn.attention %q, %k, %v mask(#attn.causal<align = bottom_right>)
      : tensor<1x2x100x128xbf16>, tensor<1x2x512x128xbf16>, tensor<1x2x512x128xbf16>
      -> tensor<1x2x100x128xbf16>
  return %o : tensor<1x2x100x128xbf16>
}

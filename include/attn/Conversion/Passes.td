//===- Passes.td - attn conversion passes ------------------*- tablegen -*-===//
//
// Passes that lower attn ops towards loops and machine code.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_CONVERSION_PASSES_TD
#define ATTN_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def AttnLowerSelectionPass : Pass<"attn-lower-selection"> {
  let summary = "lower the selection ops (indexer top-k, pooling) to loops";
  let description = [{
    Replaces `attn.indexer_topk` (D1; with `key_block` and `within` both
    stages of the hierarchical indexer D2), `attn.block_topk` (D3: pooled
    query blocks choose key blocks, optionally always the local one),
    `attn.hip_topk` (D4: a tree search over the candidate blocks),
    `attn.threshold_blocks` (D5: blocks until a fraction of the estimated
    mass), `attn.pyramid_levels` (D6: a pooling level per block pair),
    `attn.value_topk` (G4: keys ranked by V . weight), `attn.query_topk`
    (D7: keys ranked by guiding queries, with an optional mass budget),
    `attn.head_topk` (G2: the top-k heads per token, their keep flags and
    softmax weights), `attn.pool`, and the `topk` results of
    `attn.attention` (H2, H3: each query's keys of largest probability) by
    loops on buffers, at tensor level (inputs through
    `bufferization.to_buffer`, results through `bufferization.to_tensor`),
    so that their results feed `#attn.tokens` / `#attn.blocks` /
    `#attn.pyramid` masks of a later attention. An attention with `topk`
    results is rebuilt without them.

    Per row, the score of every candidate key (the mask, and with `within`
    the listed blocks, decide the candidates) becomes an order-preserving
    32-bit key; a radix select (four 8-bit histogram passes) finds the k-th
    largest and one pass in ascending key order writes the kept keys: the k
    best, ties to the smaller index, ascending, padded with -1, in O(5 Sk)
    per row. Pooling averages (over the block's actual length) or takes the
    max of each block. docs/Patterns.md defines every op precisely.

    With `kernel-abi`, a spec function whose one op is a selection on its
    arguments, returning its results (a program's step, see
    attn-split-program), becomes a host kernel of attn-lower-to-loops'
    kernel ABI instead: its inputs as buffers, one output buffer per result,
    then `thread` and `threads` (i64); thread `t` computes the op's rows
    `t, t + T, ...` (what rows share, such as a batch's pooled blocks, each
    thread computes itself), so a runtime calls it from T threads at once.

    Postcondition: no selection op, `attn.pool` or attention `topk` result
    remains.
  }];
  let options = [
    Option<"kernelAbi", "kernel-abi", "bool", /*default=*/"false",
           "turn selection steps into destination-passing kernels with a "
           "thread split">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::bufferization::BufferizationDialect",
    "::mlir::func::FuncDialect",
    "::mlir::math::MathDialect", "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect", "::mlir::vector::VectorDialect",
  ];
}

def AttnLowerToLoopsPass : Pass<"attn-lower-to-loops"> {
  let summary = "lower attn.attention to a streaming online-softmax loop nest";
  let description = [{
    Replaces every `attn.attention` by the FlashAttention-2 recurrence on
    buffers: loops over batch, head and query tiles of `q-tile` rows; for
    each query tile, the key tiles of `k-tile` keys that the closed-form
    tile classification keeps (empty tiles are never visited); full tiles
    skip the mask, partial tiles evaluate it per element. Score modifiers
    (S1-S7), normalizations N1-N5 (N3 with a statistics pass and a weighted
    pass, N4 with a running count and value sum), the output gate and the
    LSE result are fused.
    Inputs are read through `bufferization.to_buffer`, results are new
    buffers returned through `bufferization.to_tensor`; one-shot
    bufferization removes the bridge.

    With `kernel-abi`, each spec function (one `attn.attention` on the
    function arguments, returning its results) becomes a kernel for host
    runtimes instead: the same arguments as buffers, then one output buffer
    per result, then `thread` and `threads` (i64); thread `t` computes the
    work items (batch, head, query tile) `t, t + T, t + 2T, ...`, so
    a runtime calls it from T threads at once. It carries
    `llvm.emit_c_interface` (C entry `_mlir_ciface_<name>`).

    `attn.linear_attention` (N6) becomes its recurrence: per (batch, head) a
    D x Dv state, decayed and updated at every step.

    The body comes in two forms. The tile form (default, `tile-body`)
    computes a whole query tile per work item on f32 tile buffers: the key
    tile is packed transposed, the score tile is a register-blocked
    product of vector FMAs, the online softmax takes one row max and one
    vector exp per row and key tile, and the accumulator update is another
    register-blocked product; score modifiers and the mask run only on
    the tiles that need them. It needs static head dims, a key tile of
    whole 16-lane vectors, and a normalization without per-key state
    (softmax, sink softmax, sigmoid). Otherwise, and with
    `tile-body=false`, the row form streams one query row at a time.

    Postcondition: no attn.attention or attn.linear_attention remains; an
    attention with `topk` results (`attn-lower-selection` rewrites them)
    fails the pass with a located error. Packed variable-length batches (`thd`) read each
    sequence's bounds from `cu_seqlens` and skip query tiles past its end.

    ```mlir
    %o = attn.attention %q, %k, %v mask(#attn.causal) : ...
    // becomes
    scf.for %b ... { scf.for %h ... { scf.for %qt ... {
      scf.for %i = %i0 to %i1 {
        %r:2 = scf.for %kt = %c0 to %t1 iter_args(%m, %l) { ... } ...
    ```
  }];
  let options = [
    Option<"queryTile", "q-tile", "int64_t", /*default=*/"64",
           "query rows per tile">,
    Option<"keyTile", "k-tile", "int64_t", /*default=*/"64",
           "keys per tile">,
    Option<"kernelAbi", "kernel-abi", "bool", /*default=*/"false",
           "turn spec functions into destination-passing kernels">,
    Option<"amx", "amx", "bool", /*default=*/"false",
           "use AMX tiles for the bf16 products of the tile body (the "
           "target CPU must have amx-bf16)">,
    Option<"tileBody", "tile-body", "bool", /*default=*/"true",
           "compute a query tile at a time (score tiles by vector FMAs) "
           "where the op allows it; false keeps the row form">,
  ];
  let dependentDialects = [
    "::mlir::amx::AMXDialect",
    "::mlir::arith::ArithDialect", "::mlir::bufferization::BufferizationDialect",
    "::mlir::func::FuncDialect",
    "::mlir::math::MathDialect", "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect", "::mlir::vector::VectorDialect"];
}

def AttnLowerToGPUPass : Pass<"attn-lower-to-gpu", "::mlir::ModuleOp"> {
  let summary = "compile attn spec functions to GPU kernels";
  let description = [{
    Replaces every spec function (one `attn.attention` on the function
    arguments, returning its results) by a `gpu.func` kernel of the same
    name in `gpu.module @attn_kernels`, and marks the module
    `gpu.container_module`. The kernel takes the arguments as buffers, then
    one output buffer per result (the CPU kernel ABI without the thread
    arguments), and runs the streaming lowering of `attn-lower-to-loops`:
    the same closed-form tile classification (key tiles of `k-tile` keys;
    empty tiles never visited, full tiles without the mask), the same
    online softmax, score modifiers, normalizations, gates and LSE.

    Two bodies. The tensor-core body (f16/bf16 Q, K, V; D and Dv of 64 or
    128; softmax without an output gate; block lists `#attn.blocks` of
    whole key tiles, whose listed tiles it visits; token lists
    `#attn.tokens` shared by the query heads of a KV head, gathered into
    tiles of one query's heads) gives each block of 4 warps a
    64-query tile and streams K/V tiles of 64 keys through three cp.async
    stages in 128-byte swizzled shared memory, computing the products with
    ldmatrix + m16n8k16 MMAs, or, with `wgmma` (sm_90a, a warpgroup per 64
    rows), with warpgroup MMAs, the previous tile's value product running
    beside this tile's softmax; the online softmax stays in registers.
    With `wgmma`, D = Dv = 128 and a mask of long key ranges (none,
    causal, key prefixes) the tile is 128 x 128 on 8 warps sharing the
    K/V tiles; `mma-q-tile` and `mma-k-tile` fix the tile instead.
    Everything else takes the row form below.

    Work is split over the grid: thread `t` of `T` computes the query rows
    (batch, head, row) `t, t + T, ...`, so any grid is correct; a launcher
    should use blocks of `block-size` threads (recorded as the kernel's
    `known_block_size`) and one thread per row. The kernel also carries
    `attn.q_tile` (rows per work item) and `attn.layout` (the query
    layout), from which `attnrt` computes the grid.

    Split keys (`split-kv`, tensor-core body; for decoding, where the
    (batch, head, query tile) items are fewer than the GPU's
    multiprocessors): the kernel takes three more arguments after the
    outputs, a workspace `memref<?xf32>`, counters `memref<?xi32>` (one
    per item, zero at launch) and the split count S (`index`). Work item
    `w` of `items x S` computes item `w / S` over the `w % S`-th share of
    its key tiles (the closed-form ranges, concatenated and cut evenly),
    writes its normalized O and LSE to the workspace, and the last of the
    item's blocks to finish (an atomic count) combines the S partial
    results in split order (deterministic). With S = 1 the kernel is the
    unsplit one. The kernel records `attn.split_kv` (its key tile).

    Linear attention (N6) becomes a kernel with a thread per (batch, head,
    value column) running the recurrence on its column of the state.

    Postcondition: no `attn.attention` or `attn.linear_attention` remains;
    `topk` results and spec functions with more than one op (selection ops
    feeding an attention) fail with a located error.

    ```mlir
    func.func @spec(%q: tensor<1x8x4096x64xbf16>, ...) -> tensor<...> {
      %o = attn.attention %q, %k, %v mask(#attn.causal) : ...
      return %o : ...
    }
    // becomes
    gpu.module @attn_kernels {
      gpu.func @spec(%q: memref<1x8x4096x64xbf16>, ..., %o: memref<...>)
          kernel attributes {known_block_size = array<i32: 128, 1, 1>, ...} {
        scf.for %w = %thread to %rows step %threads { ... }
    ```
  }];
  let options = [
    Option<"keyTile", "k-tile", "int64_t", /*default=*/"64",
           "keys per tile of the classification and the row form (the "
           "tensor-core body's: mma-k-tile)">,
    Option<"blockSize", "block-size", "int64_t", /*default=*/"128",
           "threads per block of the row form (a multiple of 32, at most "
           "1024)">,
    Option<"mma", "mma", "bool", /*default=*/"true",
           "use the tensor-core body where it applies (f16/bf16, D and Dv "
           "of 64 or 128, softmax); false keeps the row form">,
    Option<"mmaQueryTile", "mma-q-tile", "int64_t", /*default=*/"0",
           "query rows per block of the tensor-core body: 64 (4 warps), "
           "128 (8 warps) or 0 (chosen per op: see mma-k-tile)">,
    Option<"mmaKeyTile", "mma-k-tile", "int64_t", /*default=*/"0",
           "keys per tile of the tensor-core body: 64, 128 (with wgmma, "
           "where the body supports it: no block or token lists, pyramids "
           "or packed heads) or 0 (chosen per op: 128 query rows by 128 "
           "keys with wgmma for D = Dv = 128 under masks of long key "
           "ranges — none, causal, key prefixes — else 64 by 64)">,
    Option<"wgmma", "wgmma", "bool", /*default=*/"false",
           "compute S = Q K^T and O += P V with sm_90a warpgroup MMAs (a "
           "warpgroup per 64 query rows; the target must be sm_90a)">,
    Option<"splitKV", "split-kv", "bool", /*default=*/"true",
           "tensor-core kernels may split each work item's key tiles over "
           "several blocks (the count chosen at launch; partial results "
           "in a launcher-provided workspace, combined by the item's last "
           "block)">,
    Option<"tma", "tma", "bool", /*default=*/"true",
           "the 128 x 128 warpgroup body loads Q and its K/V tiles by TMA "
           "(tensor maps from the launcher, an argument after the others) "
           "with mbarriers, instead of cp.async and a block barrier per "
           "tile">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::bufferization::BufferizationDialect",
    "::mlir::gpu::GPUDialect", "::mlir::LLVM::LLVMDialect",
    "::mlir::math::MathDialect", "::mlir::memref::MemRefDialect",
    "::mlir::NVVM::NVVMDialect", "::mlir::nvgpu::NVGPUDialect",
    "::mlir::scf::SCFDialect", "::mlir::vector::VectorDialect"];
}

def AttnExternSharedMemoryPass : Pass<"attn-extern-shared-memory"> {
  let summary = "make dynamic shared memory an .extern array for NVPTX";
  let description = [{
    Gives external linkage to the zero-sized `addr_space = 3` globals that
    `convert-gpu-to-nvvm` creates for `gpu.dynamic_shared_memory`. With the
    internal linkage of the upstream lowering, LLVM's NVPTX backend demotes
    the global to a one-byte `.shared` variable and the optimizer deletes
    every access past its (zero) size as undefined behaviour; external
    linkage prints `.extern .shared .align 16 .b8 name[]`, the PTX form of
    dynamic shared memory. Runs on the LLVM dialect, before
    `gpu-module-to-binary`.

    ```mlir
    llvm.mlir.global internal @__dynamic_shmem__0() {addr_space = 3 : i32,
        alignment = 16 : i64} : !llvm.array<0 x i8>
    // becomes
    llvm.mlir.global external @__dynamic_shmem__0() {addr_space = 3 : i32,
        alignment = 16 : i64} : !llvm.array<0 x i8>
    ```
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

def AttnApproximateMathPass : Pass<"attn-approximate-math"> {
  let summary = "replace f32 exp and tanh by polynomial approximations";
  let description = [{
    Rewrites `math.exp` on f32 scalars and vectors into arith only: n =
    round(x / ln 2), a Cody-Waite reduction r = x - n ln 2, a degree-6
    polynomial for e^r and 2^n from exponent bits (about 20 vector ops,
    relative error 2e-7, tested on 6,000 points); results below the
    smallest normal f32, -inf included, are exactly 0, so that masked
    scores give exact zeros and no denormal reaches the products.
    `math.tanh` (softcaps) uses MLIR's polynomial approximation. Without
    this pass, LLVM turns a `math.exp` on a vector into one `expf` call per
    lane; with it, the per-tile softmax exponentials of the streaming
    lowering stay in vector registers.

    With `nvvm` (GPU kernels), f32 `math.exp2`, `math.log2`, `math.log`
    and `math.rsqrt` become the approximate special-function instructions
    of NVIDIA GPUs (`ex2.approx`, `lg2.approx`, `rsqrt.approx`, relative
    errors near 2^-22) through LLVM intrinsics, `math.tanh` becomes
    sign(x) (1 - 2 / (ex2(2 |x| log2 e) + 1)) on `ex2.approx` and
    `div.approx` (absolute error near 1e-7), and `math.absf` and
    `math.roundeven` become arith (sign bit, 1.5 * 2^23 rounding): otherwise
    `convert-gpu-to-nvvm` turns them into libdevice calls, and the PTX is
    only complete where the CUDA toolkit's libdevice was found at compile
    time.

    ```mlir
    %p = math.exp %x : vector<16xf32>
    // becomes a range reduction, a polynomial and an exponent insertion
    ```
  }];
  let options = [
    Option<"nvvm", "nvvm", "bool", /*default=*/"false",
           "also lower exp2, log2, log and rsqrt to NVVM approximate "
           "intrinsics (GPU kernels)">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::LLVM::LLVMDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::vector::VectorDialect"];
}

#endif // ATTN_CONVERSION_PASSES_TD

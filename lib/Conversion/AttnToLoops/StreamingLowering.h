//===- StreamingLowering.h - the streaming loop nest (private) --*- C++ -*-===//
//
// The builder shared by the tensor-level rewrite and the kernel ABI of
// attn-lower-to-loops: work loop, per-row key streaming with the online
// softmax, and the fused epilogue.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTOLOOPS_STREAMINGLOWERING_H
#define ATTN_LIB_CONVERSION_ATTNTOLOOPS_STREAMINGLOWERING_H

#include "attn/Analysis/TileClassification.h"
#include "attn/Conversion/AttnToLoops/ElementEmitter.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::attn {

/// Positions of (batch, head, sequence) dimensions of a 4-D tensor.
struct DimOrder {
  unsigned batch = 0, head, seq;
};

inline DimOrder dimOrder(Layout layout) {
  return layout == Layout::bshd ? DimOrder{0, 2, 1} : DimOrder{0, 1, 2};
}

/// Indices of element (bb, hh, s, d) of a 4-D tensor in dimension order o.
inline SmallVector<Value> placeIndices(DimOrder o, Value bb, Value hh, Value s,
                                       Value d) {
  SmallVector<Value> result(4);
  result[o.batch] = bb;
  result[o.head] = hh;
  result[o.seq] = s;
  result[3] = d;
  return result;
}

struct MMATileContext;

/// Keys per tile of the tensor-core body unless chooseMMATile picks 128
/// (the body is written for any multiple of 16). Block lists and pyramids
/// are checked against it.
constexpr int64_t kMMAKeyTile = 64;

/// Where a spec function's kernel runs.
enum class KernelTarget {
  /// A host function called from `threads` threads with its index.
  Host,
  /// A `gpu.func` kernel; the thread index and count come from the grid.
  GPU,
};

/// Builds the loop nest of one attention op.
class StreamingLowering {
public:
  StreamingLowering(AttentionOp op, RewriterBase &rewriter, int64_t queryTile,
                    int64_t keyTile, bool tileBody, bool amx)
      : op(op), b(rewriter), loc(op.getLoc()), queryTile(queryTile),
        keyTile(keyTile), tileBody(tileBody), amx(amx) {}

  /// Replaces the op on tensors (the `attn-lower-to-loops` default).
  LogicalResult lower();
  /// Replaces the spec function `func` by a destination-passing kernel on
  /// buffers with a (thread, threads) work split: a host function, or a
  /// `gpu.func` in the module's `gpu.module @attn_kernels`.
  LogicalResult lowerToKernel(func::FuncOp func, KernelTarget target);
  /// Threads per block of the GPU kernels of the row form, and whether
  /// the tensor-core body may be used where it applies.
  /// `mmaRows` and `mmaKeys` fix the tile of the tensor-core body (0:
  /// chooseMMATile decides).
  /// `tma`: the 128 x 128 warpgroup body loads its tiles by TMA.
  void setGPUOptions(int64_t threads, bool mma, int64_t mmaRows,
                     int64_t mmaKeys, bool wgmma, bool splitKV, bool tma) {
    tmaLoads = tma;
    gpuBlockSize = threads;
    mmaBody = mma;
    requestedMMARows = mmaRows;
    requestedMMAKeys = mmaKeys;
    mmaQueryTile = mmaRows ? mmaRows : 64;
    wgmmaScores = wgmma;
    splitKeys = splitKV;
  }

private:
  /// Rejects, with a located error, what no streaming body implements.
  LogicalResult checkSupport();
  /// Creates the GPU kernel of `func` with arguments `types` (AttnToGPU.cpp).
  gpu::GPUFuncOp createGPUKernel(func::FuncOp func, ArrayRef<Type> types);
  /// The global thread index and the thread count of the grid (index).
  std::pair<Value, Value> gpuThreadIndex();
  /// Emits the work loop over (batch, head, query tile); all items when
  /// `thread` is null, else this thread's share (index values): cyclic, or
  /// with `zigzag` (host threads) in rounds alternately reversed.
  void emitLoops(Value thread, Value threads, bool zigzag = false);
  /// The tensors a residue group replaces by views (to restore them).
  struct GroupViews {
    Value q, k, v, out, lse;
  };
  /// Replaces q, k, v, out and lse by strided views of residue group
  /// `group` of `groups` (`residue_groups`) and the lengths by the group's;
  /// returns the tensors it replaced.
  GroupViews viewResidueGroup(Value group, int64_t groups, Value &queryLen,
                              Value &keyLen);
  Value toBuffer(Value value);
  SmallVector<Value> toBuffers(ValueRange values);
  Value idx(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
  Value f32(double v) {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
  }
  Value dim(Value memref, unsigned d) {
    return memref::DimOp::create(b, loc, memref, d);
  }
  /// Indices of element (bb, hh, s, d) of a tensor in `layout`; `offset`
  /// is the first token of the sequence for the packed `thd` layout. A
  /// `paged` K/V token s of sequence bb is slot s % page of the pool's page
  /// block_table[bb, s / page] (clamped into the pool, so that a bad table
  /// cannot read out of bounds).
  SmallVector<Value> indices(Layout layout, Value bb, Value hh, Value s,
                             Value d, Value offset) {
    if (layout == Layout::thd)
      return {arith::AddIOp::create(b, loc, offset, s), hh, d};
    if (layout == Layout::paged) {
      // One 32-bit division (tokens are below kv_lens, an i32; a 64-bit
      // division is a long software sequence on GPUs); a static page size
      // folds it into shifts or a multiply.
      auto cast = [&](Type type, Value x) -> Value {
        return arith::IndexCastUIOp::create(b, loc, type, x);
      };
      Value page32 = pageSize32;
      Value slot32 = cast(b.getI32Type(), s);
      Value which = arith::DivUIOp::create(b, loc, slot32, page32);
      slot32 = arith::SubIOp::create(
          b, loc, slot32, arith::MulIOp::create(b, loc, which, page32));
      Value entry = memref::LoadOp::create(
          b, loc, blockTable, ValueRange{bb, cast(b.getIndexType(), which)});
      Value page = arith::MaxSIOp::create(
          b, loc,
          arith::MinSIOp::create(
              b, loc,
              arith::IndexCastOp::create(b, loc, b.getIndexType(), entry),
              lastPage),
          arith::ConstantIndexOp::create(b, loc, 0));
      return {page, cast(b.getIndexType(), slot32), hh, d};
    }
    return placeIndices(dimOrder(layout), bb, hh, tokenAt(s), d);
  }
  /// The memory position of token `s` of the visiting order: `s` itself,
  /// or under `patches` the row-major position of the s-th token counted
  /// patch by patch (TokenOrder.cpp).
  Value tokenAt(Value s);
  /// Loads the row (bb, hh, s, 0 .. width) as a vector of f32 (the last
  /// dimension is contiguous in every layout).
  Value loadRow(Value memref, Layout layout, Value bb, Value hh, Value s,
                Value offset, int64_t width) {
    Type element = cast<MemRefType>(memref.getType()).getElementType();
    Value zero = arith::ConstantIndexOp::create(b, loc, 0);
    Value row = vector::LoadOp::create(
        b, loc, VectorType::get({width}, element), memref,
        indices(layout, bb, hh, s, zero, offset));
    if (element.isF32())
      return row;
    return arith::ExtFOp::create(b, loc,
                                 VectorType::get({width}, b.getF32Type()), row);
  }
  /// Loads element (bb, hh, s, d) as f32.
  Value load(Value memref, Layout layout, Value bb, Value hh, Value s, Value d,
             Value offset) {
    Value x = memref::LoadOp::create(b, loc, memref,
                                     indices(layout, bb, hh, s, d, offset));
    return x.getType().isF32()
               ? x
               : arith::ExtFOp::create(b, loc, b.getF32Type(), x).getResult();
  }
  using Bounds = SmallVector<std::pair<Value, Value>>;
  /// Computes one query row: streams its key tiles and writes O and LSE.
  void emitRow(ElementEmitter &emitter, const LoopValues &values, Value g,
               const Bounds &tiles, const Bounds &core);
  /// Per allowed key with a finite score `s`: returns the next loop-carried
  /// state from `state`.
  using Update = llvm::function_ref<SmallVector<Value>(
      Value s, const LoopValues &values, ValueRange state)>;
  /// Streams the key tiles of one row (empty tiles never visited, full
  /// tiles without the mask) and folds `update` over the allowed keys.
  SmallVector<Value> streamKeys(const LoopValues &row, Value g,
                                const Bounds &tiles, const Bounds &core,
                                ValueRange init, Update update);
  /// scf.yield of `values`, unless they are empty and the block already
  /// ends in the terminator the builder gave it.
  void yieldUnlessTerminated(ValueRange values);
  /// Whether the mask allows the key of `values` (a key selection assumed
  /// to hold: the loop visits only its keys).
  Value keyAllowed(const LoopValues &values);
  /// The score of the key of `values`: scale * q.k, then the modifiers.
  Value keyScore(const LoopValues &values, Value g);
  /// streamKeys under #attn.pyramid (StreamPyramid.cpp): the key blocks of
  /// the row's query block at their levels, each group's allowed keys
  /// folded with the group's mean score.
  SmallVector<Value> pyramidKeys(const LoopValues &row, Value g,
                                 ValueRange init, Update update);
  /// Whether the tensor-core body reads the mask's #attn.pyramid: its
  /// levels a runtime tile test (visit at level >= 0), each key tile's
  /// scores replaced by their groups' means (pyramidMeansMMA).
  bool mmaPyramid() const;
  /// The tensor-core body under #attn.pyramid (StreamPyramid.cpp): the
  /// scores `s` (m16n8 accumulator fragments of the key tile from j0, the
  /// mask applied) at the tile's level l — every allowed score of a group
  /// of 2^l keys replaced by the mean of the group's allowed scores: within
  /// a lane's column pair, across the quad's lanes, across n-tiles.
  SmallVector<Value> pyramidMeansMMA(const LoopValues &values,
                                     ArrayRef<Value> s, Value j0);
  /// Folds over the allowed keys of [j0, j1) (`full`: no mask evaluation),
  /// from and to the loop-carried state.
  using KeyRangeFn = llvm::function_ref<SmallVector<Value>(
      Value j0, Value j1, Value full, ValueRange state)>;
  /// streamKeys for a key selection: iterates over the row's selected keys
  /// (or key blocks) instead of key tiles.
  SmallVector<Value> selectedKeys(const LoopValues &row, ValueRange init,
                                  KeyRangeFn keyRange);
  /// The current row's list of the key selection: where its entries are
  /// (the head group h / (Hq / G) and the list row, a size-1 row dimension
  /// shared by all rows, computed once) and its length clamped to [0, N].
  struct SelectionRow {
    Value indices, group, listRow, count;
    BlocksAttr blocks; // null for #attn.tokens
  };
  SelectionRow selectionRow(const LoopValues &row);
  /// The MMA body's block list for the current query tile (#attn.blocks):
  /// its loop runs over list positions instead of key tiles.
  std::optional<SelectionRow> mmaList;
  /// Entry `t` of the row's list (an index value).
  Value selectionEntry(const SelectionRow &list, const LoopValues &row,
                       Value t);
  /// Whether the row form takes the key selection 16 keys at a time
  /// (StreamSelection.cpp): softmax or sink softmax, static head dims.
  bool canChunkSelection();
  /// The (m, l) of the row over its selected keys, accumulating into `acc`
  /// chunk by chunk.
  std::pair<Value, Value> streamSelectionChunks(const LoopValues &row, Value g);
  /// One chunk: `keys` (16 index values, in bounds) where `valid`; folds
  /// them into (m, l) and `acc`, returns the new (m, l).
  std::pair<Value, Value> emitSelectionChunk(const LoopValues &row, Value g,
                                             ArrayRef<Value> keys,
                                             ArrayRef<Value> valid, Value m,
                                             Value l);
  /// The online-softmax step: (m, l) and the accumulator row rescaled.
  SmallVector<Value> onlineSoftmax(Value s, Value weightOverride,
                                   ValueRange state);
  /// acc[d] = acc[d] * rescale + weight * V[j, d] (and vsum[d] += V[j, d]).
  void accumulate(const LoopValues &values, Value g, Value rescale,
                  Value weight, bool withValueSum);
  /// Reads element d (index) of the current row's accumulator (f32).
  using AccessRow = llvm::function_ref<Value(Value d)>;
  /// Normalizes, gates and stores one query row from its statistics (m, l,
  /// and the allowed-key count for N4) and accumulator; also writes LSE.
  void finalizeRow(ElementEmitter &rowEmitter, const LoopValues &row, Value m,
                   Value l, Value count, AccessRow accAt);

  // The tile body (StreamTiles.cpp): a query tile at a time, scores
  // transposed (key x query) so that vectors run along queries: the score
  // and value products are register-blocked vector FMAs with broadcast K
  // and P scalars, and the online softmax is vertical (no reductions).

  /// Whether the tile body can compute `op` (static head dims, a
  /// normalization without per-key state, query tiles of whole vectors).
  bool canStreamTiles();
  /// Allocates the per-thread tile buffers (before the work loop).
  void allocateTileBuffers();
  /// Computes the query tile [i0, i1) of `values`.
  void emitQueryTile(ElementEmitter &emitter, const LoopValues &values, Value g,
                     const Bounds &tiles, const Bounds &core);
  /// Row `r` of K or V (f32 vector of `width`), clamped to the last key.
  Value keyRow(Value memref, const LoopValues &values, Value g, Value j,
               int64_t width);
  /// qT[d][i] = scale * Q[i0 + i][d], 16x16 blocks transposed in registers.
  void packQueryTile(const LoopValues &values, Value lastRow);
  /// Copies key tile [j0, j0 + Tk) of V, and of K where it is not f32, to
  /// f32 buffers; keys at or past `j1` repeat key j1 - 1.
  void packKeyTile(const LoopValues &values, Value g, Value j0, Value j1);
  /// sT[jj][i] = qT[:, i] . K[j0 + jj].
  void emitScoreTile(const LoopValues &values, Value g, Value j0, Value j1);
  /// Score modifiers and the mask on the score tile (-inf where a key is
  /// not allowed or past the end).
  void emitElementPass(const LoopValues &values, Value j0, Value keysValid,
                       Value full);
  /// Online softmax over the score tile: m, l, the rescale factor per
  /// query, and the probabilities (or sigmoid weights) in place of scores.
  void emitTileSoftmax(Value sigmoidBias);
  /// Emits the per-query-tile parts of the runtime tile test (closed-form
  /// ranges, query-side summaries) for `test` and its children.
  void emitQueryTileTest(ElementEmitter &emitter, const LoopValues &values,
                         const RuntimeTileTest &test);
  /// (some pair may be allowed, every pair is allowed) for the key tile
  /// [j0, j1) of the current query tile (RuntimeTileTests.cpp).
  std::pair<Value, Value> emitKeyTileTest(ElementEmitter &emitter,
                                          const LoopValues &values,
                                          const RuntimeTileTest &test, Value j0,
                                          Value j1);
  /// The lane index for warp-cooperative runtime tile summaries (GPU
  /// tensor-core body), else null (one thread summarizes).
  Value summaryLane() {
    return useMMA && !serialSummaries
               ? arith::RemUIOp::create(b, loc, mmaThread, idx(32)).getResult()
               : Value();
  }
  /// acc = acc * alpha + P V for the first `rows` query rows.
  void emitValueTile(Value rows);

  // The AMX variant of the tile body (StreamTilesAMX.cpp): bf16 products on
  // AMX tiles, S^T = K Q^T and O^T = V^T P^T; the element pass and the
  // vertical online softmax are the f32 tile body's.

  /// Whether the AMX body applies: `amx` requested, bf16 Q, K and V, D a
  /// multiple of 32, Dv of 16, the key tile of 32.
  bool canUseAMX();
  /// Allocates the AMX buffers (from allocateTileBuffers).
  void allocateAMXBuffers();
  /// Asks the OS for the AMX tile state (Linux arch_prctl, once per call).
  void requestAMXPermission();
  /// Q^T of the query tile in VNNI pairs: qV[d / 2][2 i + d % 2].
  void packQueryTileAMX(const LoopValues &values, Value lastRow);
  /// K rows [Tk][D] and V in VNNI pairs [Tk/2][2 Dv] of the key tile.
  void packKeyTileAMX(const LoopValues &values, Value g, Value j0, Value j1);
  /// sT = scale * K qT on AMX tiles.
  void emitScoreTileAMX();
  /// Writes the weights of the 16 queries from `queryColumn` for all keys
  /// of the tile as bf16 rows of P; `weigh(key)` gives (exp(s - m), weight)
  /// vectors. Returns the sum of exp(s - m) over the keys.
  Value emitWeightsAMX(Value queryColumn,
                       llvm::function_ref<std::pair<Value, Value>(Value)> weigh,
                       Value zeros);
  /// O = O * alpha + P V on AMX tiles.
  void emitValueTileAMX();

  // The tensor-core body for NVIDIA GPUs (StreamTilesMMA.cpp, with
  // MMAPlan.cpp, MMAFragments.cpp, MMAOutput.cpp, WarpgroupMMA.cpp): one
  // block of four warps per 64-query tile (or eight per 128), K/V tiles
  // through three shared-memory stages, m16n8k16 or warpgroup MMAs, the
  // online softmax in registers.

  /// Whether the MMA body applies: f16 or bf16 Q, K, V; D and Dv of 64 or
  /// 128; BHSD/BSHD; softmax without an output gate.
  bool canUseMMA();
  /// The (query rows, keys) of the tensor-core body's tile: what the
  /// options ask for, else 128 x 128 (two warpgroups sharing K/V tiles of
  /// 128 keys: FlashAttention-3's tile for D = 128) where warpgroup MMAs
  /// compute D = Dv = 128 under a mask of long key ranges, else 64 x 64.
  std::pair<int64_t, int64_t> chooseMMATile();
  /// Whether the warpgroup body is plain enough for 128-key tiles and TMA
  /// loads: closed-form key ranges whose tiles are all visited (no block
  /// or token lists, pyramids, runtime tile tests, explicit masks,
  /// predicate regions, residue groups or patches), contiguous K/V, and
  /// enough queries to fill 128 rows (no packed heads).
  bool plainMMABody();
  /// Dynamic shared memory of the MMA body, in bytes.
  int64_t mmaSharedBytes();
  /// Whether the mask is one explicit boolean tensor (#attn.dense) of
  /// static shape with rows of whole 16-byte chunks: its tiles get block
  /// summaries in the flag table.
  bool denseMaskFlags();
  /// (any, all) of the explicit mask over the current query tile and keys
  /// [j0, j1), by 16-byte loads where the mask is 16-byte aligned.
  std::pair<Value, Value> emitDenseTileSummary(const LoopValues &values,
                                               Value j0, Value j1);
  /// With `#attn.dense<tiles>`: the flag table's words for the current
  /// query tile from the summary operand (attn.mask_tiles: 64 x 64 tiles,
  /// OR-combined into this body's), word w of `2 * words` by thread
  /// `thread` + k `threads`; the caller's barrier follows.
  void emitMaskTileWords(const LoopValues &values, Value flags, Value thread,
                         int64_t threads, int64_t words);
  /// Whether the mask is `#attn.dense<tiles>` (its summary computed once).
  bool denseMaskTiles();
  /// 32-bit words of a bit vector over the key tiles, where the runtime
  /// tile tests are precomputed (0 without runtime tests or with a dynamic
  /// key length).
  int64_t mmaFlagWords();
  /// The same for key tiles of `tile` keys.
  int64_t flagWords(int64_t tile);
  /// Bytes of the key-tile flags: the visit bits, then the not-full bits
  /// (mmaFlagWords each), rounded up to 16, and the tag of maskSharingHeads.
  int64_t mmaTileFlags();
  /// Views the dynamic shared memory as the Q tile and the K/V stages.
  void allocateMMABuffers();
  /// Computes the query tile of `values` with the MMA body.
  void emitQueryTileMMA(ElementEmitter &emitter, const LoopValues &values,
                        Value g, const Bounds &tiles, const Bounds &core);
  /// Normalizes this thread's rows of the MMA accumulators `state` and
  /// stores O and LSE, or (`partial`) this split's O and LSE (f32) in its
  /// workspace slot.
  /// (head, query offset in the tile) of tile row `r`: query r of
  /// values.head, or with packed heads query r / G of head values.head +
  /// r % G (values.head: the group's first).
  std::pair<Value, Value> tileRowQuery(const LoopValues &values, Value r);
  /// act(g) of the output gate (G1, G2) for query `query` of (batch, head)
  /// at value column `col`: an f32, or `width` columns from col on as a
  /// vector<width x f32> (one value broadcast for a per-head gate).
  Value outputGate(Value batch, Value query, Value head, Value col,
                   int64_t width = 1);
  void storeRowsMMA(const MMATileContext &context, const LoopValues &values,
                    ArrayRef<Value> state, bool partial);

  // Split keys (StreamSplitKV.cpp): the key tiles of a work item shared by
  // several blocks, partial results combined by the item's last block.

  /// The share of split `splitIndex` of `splitCount` of the key tile
  /// intervals `tiles` (concatenated, cut into equal parts).
  Bounds splitTileRanges(const Bounds &tiles);
  /// Workspace offset of (query row `row` of the tile, column `col`) of
  /// split `split`'s O for the current item, or (col null) of its LSE.
  Value splitSlotOffset(Value split, Value row, Value col);
  /// After every thread stored its partial rows: counts this split as done
  /// and, in the item's last block, combines the partial results of all
  /// splits into O and LSE.
  void emitSplitCombine(const LoopValues &values);
  /// Whether the combine keeps many loads in flight (the statistics and
  /// sums below): in kernels whose queries fit one tile (decoding), where
  /// splits are the rule. Elsewhere a launch rarely splits, and the
  /// larger combine's code cost the main loop 5-9 % on an H100 (register
  /// allocation), so a thread per element loops over the splits
  /// (emitSplitRowsCompact).
  bool splitCombineInFlight();
  /// The compact combine: a thread per element of the tile's `rows` rows.
  void emitSplitRowsCompact(const LoopValues &values, Value rows);
  /// The combine's first step, a warp per tile row: `stats` [row] = the
  /// shift (max_s L_s, 0 without any key), [slot rows + row] = 1 / sum of
  /// the weights (0 without any key); the LSE output.
  void emitSplitRowStatistics(const LoopValues &values, Value rows,
                              Value stats);
  /// The combine's second step: O = sum_s w_s O_s / sum_s w_s.
  void emitSplitRowSums(const LoopValues &values, Value rows, Value stats);
  /// (query, head) of tile row `row` (packed heads: row % G is the head).
  std::pair<Value, Value> splitRowQuery(const LoopValues &values, Value row);
  /// The combined LSE of a tile row (max_s L_s, sum_s exp(L_s - max), and
  /// whether any split allowed a key) to the LSE output.
  void storeCombinedLse(const LoopValues &values, Value query, Value head,
                        Value maximum, Value total, Value any);
  /// exp(L_s - shift) for split `split` and tile row `row`.
  Value splitWeight(Value split, Value row, Value shift);
  /// Shared-memory bytes the combine uses from offset 0 (the flag, the
  /// rows' statistics, the warps' sums); the tile buffers cover them.
  int64_t splitCombineBytes() const;

  /// Streams one key tile [j0, j1) from `stage` and finishes the one
  /// before it: S = Q K^T, mask and modifiers, online softmax of this tile;
  /// O += P V of the previous tile (from `prevStage`; P zero before the
  /// first tile). `carried` and the result: the accumulators, m and l of
  /// the thread's two rows, then P (keyTile / 16 A fragments; the
  /// result's is this tile's).
  /// `afterValueProduct` (if given) is emitted once the previous tile's
  /// value product completed (TMA loads release its stage there).
  SmallVector<Value>
  emitKeyTileMMA(MMATileContext &context, const LoopValues &values,
                 ValueRange carried, Value stage, Value prevStage, Value j0,
                 Value j1, Value full,
                 function_ref<void()> afterValueProduct = nullptr);
  /// acc + P V for the value tile of `stage`, completed.
  SmallVector<Value> emitValueProductMMA(MMATileContext &context,
                                         ArrayRef<Value> acc,
                                         ArrayRef<Value> pFrag, Value stage);
  /// Issues S = Q K^T of the stage's key tile as sm_90a warpgroup MMAs
  /// with both operands in shared memory (128-byte swizzled slabs) and
  /// commits them as a group; returns the (pending) accumulator struct.
  Value issueScoresWGMMA(Value stage);
  /// Issues acc + P V for the stage's value tile as sm_90a warpgroup MMAs,
  /// P (the A fragments of the m16n8k16 body) from registers, V from shared
  /// memory, and commits them as a group; returns the (pending) accumulator
  /// registers in wgmma order.
  SmallVector<Value> issueValuesWGMMA(ArrayRef<Value> pFrag, Value stage,
                                      ArrayRef<Value> acc);

  // TMA loads (TMALoads.cpp): Q and the K/V tiles of the 128 x 128
  // warpgroup body copied by the tensor memory accelerator from attnrt's
  // tensor maps, completion tracked by mbarriers.

  /// Whether the body takes TMA loads (after the tile and head decisions).
  bool canUseTMA();
  /// Shared-memory bytes of the mbarriers and stage release counters (0
  /// without TMA loads), at tmaBarrierOffset.
  int64_t tmaSharedBytes();
  /// The 32-bit shared address of byte `offset` of the dynamic shared
  /// memory.
  Value tmaShared(Value offset);
  /// The stages' release counters (i32).
  Value tmaCounters();
  /// The shared address of mbarrier `i` (stages, then Q).
  Value tmaBarrier(Value i);
  /// At an item's start: every warp done with shared memory, the barriers
  /// initialized (phase 0) and the release counters zeroed.
  void emitTMAItemStart();
  /// Copies `rows` rows of `width` columns from row `row` of (batch, head)
  /// of tensor map `map` (0 Q, 1 K, 2 V) in `layout` to the slabs at shared
  /// address `dst`, completing on `barrier`.
  void issueTMARows(int64_t map, Layout layout, Value dst, Value barrier,
                    Value batch, Value head, Value row, int64_t width,
                    int64_t rows);
  /// The Q tile (one thread).
  void issueTMAQuery(const LoopValues &values);
  /// K/V tile `kt` of KV head `g` into `stage` (one thread).
  void issueTMAKeyTile(const LoopValues &values, Value g, Value kt,
                       Value stage);
  void waitTMABarrier(Value barrier, Value parity);
  /// Waits for the `ordinal`-th visited tile of the item, in `stage`.
  void waitTMAStage(Value stage, Value ordinal);
  /// After the `ordinal`-th visited tile's value product: releases `stage`
  /// (the previous tile's) for this warp; the block's last warp to release
  /// it calls `refill` (one thread), which loads the tile kStages - 1
  /// visits ahead, if any, into it.
  void releaseTMAStage(Value stage, Value ordinal, function_ref<void()> refill);

  /// The (head, sequence position) of row `row` (index) of a tile.
  using TileRowFn = llvm::function_ref<std::pair<Value, Value>(Value row)>;
  /// Issues the block's asynchronous copies of the rows of `src` that fill
  /// `dst` (tile row r from `rowAt(r)`), `width` elements each, into `dst`
  /// (at `stage` if not null), swizzled; appends the tokens.
  void copyTileAsync(Value dst, Value stage, Value src, Layout layout,
                     const LoopValues &values, TileRowFn rowAt, int64_t width,
                     SmallVector<Value> &tokens);
  /// The same for consecutive rows `first`, `first` + 1, ... of head
  /// `head` of a `bhsd` or `bshd` tensor: a thread's copies are its first
  /// one's addresses plus constants (or a stride multiple), no address
  /// arithmetic per copy. Commits nothing.
  void copyRowsAsync(Value dst, Value stage, Value src, Layout layout,
                     const LoopValues &values, Value head, Value first,
                     int64_t width);
  /// Whether copyRowsAsync can copy a whole key tile of rows `width`
  /// elements wide (under patches: a tile that is one patch).
  bool copyRowsFit(int64_t width);
  /// Query heads per work item of the MMA body: G > 1 packs the G query
  /// heads of a KV head into the tile's rows (row r: query r / G of the
  /// tile, head r % G of the group), so that decoding with GQA reads each
  /// K/V tile once for the group. Chosen for static small query lengths.
  int64_t choosePackedHeads();
  int64_t packedHeads = 1;
  /// The op's `patches` (empty without) and the width of its grid: the
  /// positions of the loops count tokens patch by patch (tokenAt).
  SmallVector<int64_t> patches;
  int64_t patchGridCols = 0;
  /// Query heads whose work items one block of the MMA body runs, one after
  /// the other, sharing its dense mask's tile table: a divisor G of the
  /// static query heads when the mask is a dense tensor without a head
  /// dimension (its tile table is the same for every head), else 1. Work
  /// items then run head-slowest, so a block's items (w, w + grid, ...;
  /// the grid is B x tiles x splits x H / G) are G heads of one (batch,
  /// query tile).
  int64_t chooseMaskSharingHeads();
  int64_t maskSharingHeads = 1;
  /// Query heads per KV head where both counts are static and the group
  /// divides the tile's rows, else 1.
  int64_t staticHeadGroup();
  /// The query heads of one KV head that share a token list (#attn.tokens)
  /// and fill a tile of one query whose keys are the list's (1: none).
  int64_t tokenTileHeads();
  /// One token list shared by every query of a head group ([B, G, 1, n]):
  /// whole query tiles visit key tiles gathered from it.
  bool sharedTokenList();
  /// The MMA body gathers the keys of token lists (one query per tile, or
  /// whole query tiles over a shared list).
  bool tokenTiles = false;
  /// Token lists: the key of entry `t` of `mmaList` (clamped into the keys,
  /// read only below `end`) and whether it counts (t < end, the entry
  /// within the keys).
  std::pair<Value, Value> listedKey(const LoopValues &values, Value t,
                                    Value end);

  AttentionOp op;
  RewriterBase &b;
  Location loc;
  int64_t queryTile, keyTile;
  bool tileBody, amx;
  int64_t gpuBlockSize = 128;
  bool mmaBody = true;
  /// Query rows per block of the tensor-core body (64 or 128), a warp per
  /// 16 rows.
  int64_t mmaQueryTile = 64;
  /// The tile the options ask for (0: chosen).
  int64_t requestedMMARows = 0, requestedMMAKeys = 0;
  int64_t mmaThreads() const { return mmaQueryTile * 2; }
  /// S = Q K^T and O += P V by warpgroup MMAs (sm_90a), a warpgroup per
  /// 64 query rows of the block.
  bool wgmmaScores = false, useWGMMA = false;
  /// TMA loads: allowed (an option), used; the kernel's tensor maps (Q, K,
  /// V: 128 bytes each) and where the barriers are in shared memory.
  bool tmaLoads = true, useTMA = false;
  Value tensorMaps;
  int64_t tmaBarrierOffset = 0;

  Value q, k, v, out, lse, acc;
  /// Static head dims select the vector form of the per-key work (dot
  /// product and accumulator update); dynamic ones use scalar loops.
  int64_t staticHeadDim = ShapedType::kDynamic;
  int64_t staticValueDim = ShapedType::kDynamic;
  /// The current query row as a vector (vector form only).
  Value queryRow;
  /// cu_seqlens of the packed `thd` layout, and the first query and key
  /// token of the current sequence (null otherwise).
  Value cuQuery, cuKey, queryOffset, keyOffset;
  /// Sum of V over the allowed keys, for the affine-scaled softmax (N4).
  Value valueSum;
  /// The `paged` K/V layout: the block table [B, N], the sequence lengths
  /// [B], the page size and the pool's last page (index).
  Value blockTable, kvLens, pageSize, lastPage;
  /// The page size as an i32, at most 2^31 - 1 (larger pages hold every
  /// token an i32 length allows).
  Value pageSize32;
  /// Row form under #attn.pyramid: the scores of one group's keys.
  Value pyramidScores;
  /// Tile body buffers (f32): the scaled query tile transposed [Dp][Tq],
  /// the key tile [Tk][D] where K is not f32 (else null: read in place),
  /// the value tile [Tk][Dvp] (always), scores/probabilities
  /// transposed [Tk][Tq], the accumulator [Tq][Dvp] and per-query m, l and
  /// rescale factors [Tq] (Dp, Dvp: D, Dv rounded up to whole vectors).
  struct TileBuffers {
    Value q, k, v, s, acc, m, l, alpha;
  } tb;
  /// AMX body buffers (bf16): Q^T in VNNI pairs [D/2][2Tq], K rows
  /// [Tk][D], V in VNNI pairs [Tk/2][2Dv], P rows [Tq][Tk].
  struct AMXBuffers {
    Value qV, k, vV, p;
  } ab;
  bool useAMX = false;
  /// MMA body: shared-memory views (Q, K and V stages in slabs of 64
  /// columns)
  /// and the thread's index in its block.
  struct MMABuffers {
    /// flags (i32): bit t % 32 of word t / 32 says that key tile t is
    /// visited, of word mmaFlagWords() + t / 32 that it is full.
    /// flagsTag (i32 [1]): with maskSharingHeads, 1 + the (batch, query
    /// tile) the flags are for (0: none yet). o: the output tile in the
    /// value stages' bytes (16-bit outputs; null otherwise), where the
    /// accumulators are staged so that rows leave in 16-byte chunks.
    Value raw, q, k, v, flags, flagsTag, o;
  } mb;
  /// Split keys: requested (an option), and in the kernel the workspace
  /// (f32), the per-item counters (i32), the split count, and the current
  /// work item's index and split.
  bool splitKeys = false;
  Value workspace, counters, splitCount, splitItem, splitIndex;
  /// Runtime tile summaries by one thread even in the MMA body (while it
  /// fills the flag table, a thread per tile).
  bool serialSummaries = false;
  bool useMMA = false;
  Value mmaThread;
  int64_t paddedHeadDim = 0, paddedValueDim = 0;
  /// The runtime refinement of the tile classification (data masks), and
  /// the values its nodes computed for the current query tile: closed-form
  /// hull and core bounds, or a query-side summary (min and max document
  /// id; any and all keep flags).
  std::optional<RuntimeTileTest> runtimeTest;
  struct TestValues {
    Bounds hull, core;
    Value first, second;
  };
  llvm::DenseMap<const RuntimeTileTest *, TestValues> testValues;
  SmallVector<Value> maskOps, scoreOps, normOps, gateOps, captures;
  /// The key selection of the mask, if any: the row form iterates over it.
  std::optional<KeySelection> keySelection;
  Value scale, headDim, valueDim;
};

/// Replaces linear attention (N6) by its recurrence on buffers.
LogicalResult lowerLinearAttention(LinearAttentionOp op,
                                   RewriterBase &rewriter);
/// Replaces the spec function of linear attention `op` by a host kernel with
/// the attention kernels' ABI (buffers, then the thread index and count).
LogicalResult lowerLinearAttentionToKernel(LinearAttentionOp op,
                                           RewriterBase &rewriter);
/// Replaces the spec function of linear attention `op` by a GPU kernel (a
/// thread per (batch, head, value column), blocks of `blockSize`).
LogicalResult lowerLinearAttentionToGPU(LinearAttentionOp op,
                                        RewriterBase &rewriter,
                                        int64_t blockSize);

/// Replaces the spec function of `op` (its only op) by a GPU kernel: a
/// block per (batch, query) row, a block-wide radix select
/// (SelectionToGPU.cpp); with `tensorCores`, where
/// indexerScoresOnTensorCores(op), lowerIndexerTilesToGPU's kernel.
LogicalResult lowerSelectionToGPU(IndexerTopkOp op, func::FuncOp func,
                                  RewriterBase &b, bool tensorCores);
/// Whether `op` scores on tensor cores (IndexerTilesToGPU.cpp): f16/bf16
/// indexer queries and keys of one type, an indexer dim that is a multiple
/// of 32, no block lists.
bool indexerScoresOnTensorCores(IndexerTopkOp op);
/// `attn.indexer_topk` as a kernel whose blocks take tiles of 16 query rows:
/// the rows' scores on tensor cores into the workspace, then the block-wide
/// radix select row by row (IndexerTilesToGPU.cpp).
LogicalResult lowerIndexerTilesToGPU(IndexerTopkOp op, func::FuncOp func,
                                     RewriterBase &b);
/// The top-k step of an attention (its top-k results only): with
/// `tensorCores`, where attentionTopkOnTensorCores(op), the score-tile
/// kernel (AttentionTopkToGPU.cpp), else the GPU row form.
LogicalResult lowerSelectionToGPU(AttentionOp op, func::FuncOp func,
                                  RewriterBase &b, bool tensorCores);
/// Whether an attention's top-k scores on tensor cores: f16/bf16 queries and
/// keys of one type, static shapes, the bhsd or bshd layouts, a head dim
/// that is a multiple of 32.
bool attentionTopkOnTensorCores(AttentionOp op);
/// Likewise for `attn.block_topk` (D3): a block per (batch, head, range of
/// query blocks) that pools the head's key blocks once, scores them
/// block-wide and selects with the same radix select (BlockRowsToGPU.cpp).
LogicalResult lowerSelectionToGPU(BlockTopkOp op, func::FuncOp func,
                                  RewriterBase &b);
/// Likewise for `attn.hip_topk` (D4): a block per (batch, head, query
/// block) runs the tree search's rounds block-wide (HipTopkToGPU.cpp).
LogicalResult lowerSelectionToGPU(HipTopkOp op, func::FuncOp func,
                                  RewriterBase &b);
/// Likewise for `attn.query_topk` (D7): the whole grid (grid-wide
/// barriers) scores the guiding rows once from staged key chunks, then
/// takes the rows' statistics and the keys' masses; block 0 selects
/// (QueryTopkToGPU.cpp).
LogicalResult lowerSelectionToGPU(QueryTopkOp op, func::FuncOp func,
                                  RewriterBase &b);
/// Likewise for `attn.value_topk` (G4): a block per (batch, KV head)
/// Likewise for `attn.id_ranges`: a warp per (batch, 64-token tile) reads
/// the tile's ids once, coalesced (IdRanges.cpp).
LogicalResult lowerSelectionToGPU(IdRangesOp op, func::FuncOp func,
                                  RewriterBase &b);
/// Likewise for `attn.mask_tiles`: a block per (batch, head, 64-query
/// tile) reads the tile's mask rows once, coalesced (MaskTiles.cpp).
LogicalResult lowerSelectionToGPU(MaskTilesOp op, func::FuncOp func,
                                  RewriterBase &b);
/// scores its keys and selects them block-wide (ValueTopkToGPU.cpp).
LogicalResult lowerSelectionToGPU(ValueTopkOp op, func::FuncOp func,
                                  RewriterBase &b);
/// Likewise for `attn.threshold_blocks` (D5) and `attn.pyramid_levels`
/// (D6): the same kernel, each row finished from its candidates' masses
/// (BlockMassToGPU.cpp).
LogicalResult lowerSelectionToGPU(ThresholdBlocksOp op, func::FuncOp func,
                                  RewriterBase &b);
LogicalResult lowerSelectionToGPU(PyramidLevelsOp op, func::FuncOp func,
                                  RewriterBase &b);
/// Likewise for the other selection ops: the CPU loops of SelectionBuilder
/// with their independent rows dealt out to the grid's threads (a thread
/// per row) and their scratch rows in the workspace.
LogicalResult lowerSelectionRowsToGPU(Operation *op, func::FuncOp func,
                                      RewriterBase &b);
/// Likewise for `attn.pool`: a thread per output element.
LogicalResult lowerSelectionToGPU(PoolOp op, func::FuncOp func,
                                  RewriterBase &b);

/// The kernel arguments of spec function `func`: its arguments, then one
/// output per result, tensors as buffers (memrefs of their shapes).
SmallVector<Type> kernelBufferTypes(func::FuncOp func);

/// A host kernel of the kernel ABI in place of spec function `func` (same
/// name; `func` is left for the caller to erase): arguments `buffers`, then
/// the thread index and count (i64), with `llvm.emit_c_interface` and
/// `attn.kernel`. The builder is left at the start of its body; `thread`
/// and `threads` are the two last arguments as index.
struct HostKernel {
  func::FuncOp func;
  Block *body;
  Value thread, threads;
};
HostKernel createHostKernel(OpBuilder &b, func::FuncOp func,
                            ArrayRef<Type> buffers);

/// Maps the arguments of `func` to the first arguments of kernel `body`,
/// tensors through `bufferization.to_tensor` of their buffers (the lowering
/// of a cloned op reads them as before; bufferization folds the round
/// trip).
void mapKernelInputs(OpBuilder &b, Location loc, func::FuncOp func, Block *body,
                     IRMapping &mapping);

/// Creates the `gpu.func` kernel of spec function `func` with arguments
/// `types` in the module's `gpu.module @attn_kernels` (created if needed),
/// with the launch attributes attnrt reads (AttnToGPU.cpp).
gpu::GPUFuncOp createGPUKernelFunction(OpBuilder &b, func::FuncOp func,
                                       ArrayRef<Type> types, int64_t threads,
                                       int64_t queryTile, int64_t itemsPerBlock,
                                       int64_t sharedBytes, StringRef layout);
/// The global thread index and the thread count of the grid (index).
std::pair<Value, Value> gpuGridThreads(OpBuilder &b, Location loc);

/// c + a b for one m16n8k16 tensor-core tile of f16 or bf16 `element`: `a`
/// vector<4x2xelement> (rows g, g + 8, g, g + 8 of the lane's group g =
/// lane / 4; columns 2 (lane % 4) + {0, 1}, the last two + 8), `bOperand`
/// vector<2x2xelement> (column g; rows as a's columns), `c` vector<2x2xf32>
/// (rows g and g + 8; columns 2 (lane % 4) + {0, 1}).
Value mmaSync16816(OpBuilder &b, Location loc, Type element, Value a,
                   Value bOperand, Value c);

} // namespace mlir::attn

#endif // ATTN_LIB_CONVERSION_ATTNTOLOOPS_STREAMINGLOWERING_H

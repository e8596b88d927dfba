//===- StreamTilesMMA.cpp - the tensor-core body for NVIDIA GPUs ----------===//
//
// The FlashAttention-2 structure on tensor cores: a block of four warps (one
// warpgroup) per (batch, head, 64-query tile), each warp owning 16 query
// rows (128-query tiles on two warpgroups for D = 128 under causal-like
// masks, MMAPlan.cpp). Q is copied to shared memory once; K and V tiles
// stream through three shared-memory stages filled by asynchronous copies
// (the next tile loads while this one computes). On sm_90a, S = Q K^T and
// O += P V are warpgroup MMAs (wgmma; P from registers; WarpgroupMMA.cpp);
// elsewhere m16n8k16 MMAs on fragments loaded with ldmatrix (V
// transposed), Q held in registers. The
// online softmax runs on the S accumulators in registers (row statistics
// with two warp shuffles), in base-2 units with the scale folded in, and P
// becomes the A operand of the value product without leaving registers.
//
// Tiles are stored in slabs of 64 columns whose 16-byte chunks are swizzled
// by the row (chunk ^ row % 8, the SWIZZLE_128B layout): ldmatrix reads 8
// rows at the same column, which the XOR spreads over all banks, and wgmma
// descriptors read the same layout. The key tiles come from the same
// closed-form classification as on the CPU: empty tiles are never visited,
// full tiles skip the mask, data masks use the same runtime tile tests
// (precomputed per query tile into a flag table), and the mask and score
// modifiers are the element emitter's scalar IR, evaluated per accumulator
// element.
//
//===----------------------------------------------------------------------===//

#include "MMABody.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::attn;

using arith::CmpFPredicate;
using arith::CmpIPredicate;

/// Whether ALiBi is the only score modifier of `op` (its slopes the one
/// score operand).
static bool alibiOnly(AttentionOp op) {
  ArrayAttr score = op.getScoreAttr();
  return score && score.size() == 1 && isa<AlibiAttr>(score[0]);
}

std::pair<Value, Value> StreamingLowering::listedKey(const LoopValues &values,
                                                     Value t, Value end) {
  Value zero = idx(0), one = idx(1);
  Value last = arith::SubIOp::create(b, loc, end, one);
  Value entry = selectionEntry(
      *mmaList, values,
      arith::MaxSIOp::create(b, loc, arith::MinSIOp::create(b, loc, t, last),
                             zero));
  auto cmp = [&](CmpIPredicate p, Value x, Value y) -> Value {
    return arith::CmpIOp::create(b, loc, p, x, y);
  };
  Value valid = arith::AndIOp::create(
      b, loc, cmp(CmpIPredicate::slt, t, end),
      arith::AndIOp::create(b, loc, cmp(CmpIPredicate::sge, entry, zero),
                            cmp(CmpIPredicate::slt, entry, values.keyLen)));
  Value key = arith::MaxSIOp::create(
      b, loc,
      arith::MinSIOp::create(
          b, loc, entry, arith::SubIOp::create(b, loc, values.keyLen, one)),
      zero);
  return {key, valid};
}


void StreamingLowering::copyTileAsync(Value dst, Value stage, Value src,
                                      Layout layout, const LoopValues &values,
                                      TileRowFn rowAt, int64_t width,
                                      SmallVector<Value> &tokens) {
  MMAEmitter e{b, loc, cast<MemRefType>(src.getType()).getElementType()};
  int64_t chunksPerRow = width / kChunk;
  ArrayRef<int64_t> shape = cast<MemRefType>(dst.getType()).getShape();
  int64_t rows = shape[shape.size() - 2];
  int64_t chunks = rows * chunksPerRow;
  for (int64_t c = 0; c < chunks; c += mmaThreads()) {
    Value chunk = e.add(mmaThread, idx(c));
    Value row = e.div(chunk, chunksPerRow);
    Value col = e.mul(e.rem(chunk, chunksPerRow), idx(kChunk));
    auto [head, s] = rowAt(row);
    SmallVector<Value> dstIndices;
    if (stage)
      dstIndices.push_back(stage);
    dstIndices.push_back(e.div(col, kSlab));
    dstIndices.push_back(row);
    dstIndices.push_back(e.swizzle(e.rem(col, kSlab), e.rem(row, 8)));
    tokens.push_back(nvgpu::DeviceAsyncCopyOp::create(
        b, loc, nvgpu::DeviceAsyncTokenType::get(b.getContext()), dst,
        dstIndices, src, indices(layout, values.batch, head, s, col, nullptr),
        b.getIndexAttr(kChunk), /*srcElements=*/Value(),
        /*bypassL1=*/b.getUnitAttr()));
  }
}

bool StreamingLowering::copyRowsFit(int64_t width) {
  if (patches.empty())
    return true;
  // A thread's rows r0 + k * rowsPerStep of a tile that is one patch:
  // the same column of the patch when rowsPerStep is a multiple of pw.
  int64_t rowsPerStep = mmaThreads() / (width / kChunk);
  return keyTile == patches[0] * patches[1] && rowsPerStep % patches[1] == 0;
}

void StreamingLowering::copyRowsAsync(Value dst, Value stage, Value src,
                                      Layout layout, const LoopValues &values,
                                      Value head, Value first, int64_t width) {
  MMAEmitter e{b, loc, cast<MemRefType>(src.getType()).getElementType()};
  MLIRContext *context = b.getContext();
  Type i64 = b.getI64Type();
  int64_t chunksPerRow = width / kChunk, threads = mmaThreads();
  ArrayRef<int64_t> shape = cast<MemRefType>(dst.getType()).getShape();
  int64_t rows = shape[shape.size() - 2];
  // A thread copies the same 16-byte column of every rowsPerStep-th row
  // (a multiple of 8: the same swizzle).
  int64_t rowsPerStep = threads / chunksPerRow;
  Value row0 = e.div(mmaThread, chunksPerRow);
  Value col = e.mul(e.rem(mmaThread, chunksPerRow), idx(kChunk));
  auto toI64 = [&](Value x) -> Value {
    return arith::IndexCastOp::create(b, loc, i64, x);
  };
  // The source element of the thread's first row, as a global pointer.
  auto meta = memref::ExtractStridedMetadataOp::create(b, loc, src);
  SmallVector<Value> at =
      indices(layout, values.batch, head, e.add(first, row0), col, nullptr);
  Value linear = meta.getOffset();
  for (auto [i, x] : llvm::enumerate(at))
    linear = e.add(linear, e.mul(x, meta.getStrides()[i]));
  // Under patches a tile is one patch (copyRowsFit): rowsPerStep rows
  // further is rowsPerStep / pw rows of the grid further.
  int64_t stepRows =
      patches.empty() ? rowsPerStep : rowsPerStep / patches[1] * patchGridCols;
  Value rowBytes =
      toI64(e.mul(meta.getStrides()[dimOrder(layout).seq], idx(stepRows * 2)));
  Value srcAddress = arith::AddIOp::create(
      b, loc,
      toI64(memref::ExtractAlignedPointerAsIndexOp::create(b, loc, src)),
      toI64(e.mul(linear, idx(2))));
  Value srcBase = LLVM::AddrSpaceCastOp::create(
      b, loc, LLVM::LLVMPointerType::get(context, 1),
      LLVM::IntToPtrOp::create(b, loc, LLVM::LLVMPointerType::get(context),
                               srcAddress));
  // The destination chunk of that row, as a shared pointer.
  Value slab = e.div(col, kSlab);
  Value slabIndex =
      stage ? e.add(e.mul(stage, idx(shape[shape.size() - 3])), slab) : slab;
  Value element =
      e.add(e.mul(e.add(e.mul(slabIndex, idx(rows)), row0), idx(kSlab)),
            e.swizzle(e.rem(col, kSlab), e.rem(row0, 8)));
  Value dstAddress = arith::AddIOp::create(
      b, loc,
      toI64(memref::ExtractAlignedPointerAsIndexOp::create(b, loc, dst)),
      toI64(e.mul(element, idx(2))));
  Value dstBase = LLVM::IntToPtrOp::create(
      b, loc, LLVM::LLVMPointerType::get(context, 3), dstAddress);
  Type i8 = b.getI8Type();
  for (int64_t step = 0; step * threads < rows * chunksPerRow; ++step) {
    Value srcOffset = arith::MulIOp::create(
        b, loc, rowBytes, arith::ConstantIntOp::create(b, loc, step, 64));
    Value from = LLVM::GEPOp::create(b, loc, srcBase.getType(), i8, srcBase,
                                     ArrayRef<LLVM::GEPArg>{srcOffset});
    Value to = LLVM::GEPOp::create(
        b, loc, dstBase.getType(), i8, dstBase,
        ArrayRef<LLVM::GEPArg>{int32_t(step * rowsPerStep * kSlab * 2)});
    NVVM::CpAsyncOp::create(b, loc, to, from, b.getI32IntegerAttr(16),
                            NVVM::LoadCacheModifierKindAttr::get(
                                context, NVVM::LoadCacheModifierKind::CG),
                            /*cpSize=*/Value());
  }
}

void StreamingLowering::emitQueryTileMMA(ElementEmitter &emitter,
                                         const LoopValues &values, Value g,
                                         const Bounds &tiles,
                                         const Bounds &core) {
  Type element = cast<MemRefType>(q.getType()).getElementType();
  MMAEmitter e{b, loc, element};
  Type f32Type = b.getF32Type();
  auto accType = VectorType::get({2, 2}, f32Type);
  Value zero = idx(0), one = idx(1);
  int64_t d = staticHeadDim, dv = staticValueDim;
  Layout ql = op.getQLayout(), kl = op.getKvLayout();
  Value lane = e.rem(mmaThread, 32), warp = e.div(mmaThread, 32);
  Value lane8 = e.rem(lane, 8), quad = e.div(lane, 4), inQuad = e.rem(lane, 4);
  Value ldGroup = e.div(lane, 8); // which 8x8 matrix this lane addresses
  auto tokenType = nvgpu::DeviceAsyncTokenType::get(b.getContext());
  auto group = [&](ArrayRef<Value> tokens) {
    return nvgpu::DeviceAsyncCreateGroupOp::create(b, loc, tokenType, tokens)
        .getResult();
  };
  auto wait = [&](Value token, int32_t pending) {
    nvgpu::DeviceAsyncWaitOp::create(b, loc, token,
                                     b.getI32IntegerAttr(pending));
  };
  auto barrier = [&] { gpu::BarrierOp::create(b, loc); };

  // Q tile to shared memory, then to registers as A fragments.
  // Rows past the end repeat the last row: finite data that the mask
  // (keys) or the store (queries) discards.
  Value lastQuery = arith::SubIOp::create(b, loc, values.queryEnd, one);
  auto clampedQuery = [&](Value offset) -> Value {
    return arith::MinSIOp::create(b, loc, e.add(values.queryBegin, offset),
                                  lastQuery);
  };
  auto queryRow = [&](Value r) -> std::pair<Value, Value> {
    auto [head, query] = tileRowQuery(values, r);
    return {head, clampedQuery(query)};
  };
  // TMA loads copy Q with the first key tiles (TMALoads.cpp).
  if (useTMA) {
    emitTMAItemStart();
  } else {
    barrier(); // the previous work item's warps are done with shared memory
    SmallVector<Value> tokens;
    copyTileAsync(mb.q, nullptr, q, ql, values, queryRow, d, tokens);
    // Warpgroup MMAs read Q from shared memory at the first tile: its copy
    // completes with the first key tile's (the wait and barrier at the top
    // of the key loop), so that the two loads overlap — an item waited for
    // Q, then for its first key tile. (Each item ends with no copy in
    // flight: see the wait after the key loop.)
    Value qGroup = group(tokens);
    if (!useWGMMA) {
      wait(qGroup, 0);
      barrier();
    }
  }
  // The m16n8k16 products hold Q in registers; warpgroup MMAs read it
  // from shared memory.
  SmallVector<Value> qFrag;
  Value qRow = e.add(e.mul(warp, idx(kWarpRows)), e.rem(lane, 16));
  Value qCol = e.mul(e.div(lane, 16), idx(kChunk));
  for (int64_t ks = 0; !useWGMMA && ks < d / 16; ++ks)
    qFrag.push_back(e.ldmatrix(
        mb.q, e.slabAt(nullptr, qRow, 16 * ks, qCol, lane8), false));

  // Scores are in base-2 units: exp2 with the scale (and log2 e) folded
  // into one multiply. Score modifiers see natural units first.
  bool scoreMods = op.getScoreAttr() && !op.getScoreAttr().empty();
  const double log2e = 1.0 / std::log(2.0);
  Value scoreScale =
      scoreMods ? scale
                : arith::MulFOp::create(b, loc, scale, f32(log2e)).getResult();
  // Tile rows, queries and heads of this thread's accumulator elements.
  Value tileRow = e.add(e.mul(warp, idx(kWarpRows)), quad);
  Value tileRows[2] = {tileRow, e.add(tileRow, idx(8))};
  Value rows[2], heads[2];
  for (int64_t r = 0; r < 2; ++r) {
    auto [head, query] = tileRowQuery(values, tileRows[r]);
    rows[r] = e.add(values.queryBegin, query);
    heads[r] = head;
  }
  Value colBase = e.mul(inQuad, idx(2));

  Value accZero = arith::ConstantOp::create(b, loc, b.getZeroAttr(accType));
  SmallVector<Value> state(dv / 8, accZero);
  state.append({f32(-kInf), f32(-kInf), f32(0.0), f32(0.0)});
  if (runtimeTest)
    emitQueryTileTest(emitter, values, *runtimeTest);
  MMATileContext context{e,
                         scoreScale,
                         scoreMods,
                         {rows[0], rows[1]},
                         {heads[0], heads[1]},
                         {tileRows[0], tileRows[1]},
                         colBase,
                         lane8,
                         ldGroup,
                         qFrag};

  Value lastKey = arith::SubIOp::create(b, loc, values.keyLen, one);
  auto copyKeyTile = [&](Value kt, Value stage) {
    Value j0 = e.mul(kt, idx(keyTile));
    // Token lists: row r of tile kt is the key of entry 64 kt + r.
    Value entries = tokenTiles ? mmaList->count : Value();
    auto copy = [&](bool whole) {
      SmallVector<Value> kvTokens;
      auto keyRow = [&](Value r) -> std::pair<Value, Value> {
        if (tokenTiles)
          return {g, listedKey(values, e.add(j0, r), entries).first};
        if (whole)
          return {g, e.add(j0, r)};
        return {g, arith::MinSIOp::create(b, loc, e.add(j0, r), lastKey)};
      };
      if (whole && (kl == Layout::bhsd || kl == Layout::bshd) &&
          copyRowsFit(d) && copyRowsFit(dv)) {
        copyRowsAsync(mb.k, stage, k, kl, values, g, j0, d);
        copyRowsAsync(mb.v, stage, v, kl, values, g, j0, dv);
        NVVM::CpAsyncCommitGroupOp::create(b, loc);
        return;
      }
      copyTileAsync(mb.k, stage, k, kl, values, keyRow, d, kvTokens);
      copyTileAsync(mb.v, stage, v, kl, values, keyRow, dv, kvTokens);
      group(kvTokens);
    };
    if (tokenTiles)
      return copy(false);
    // A tile inside the keys copies its rows as they are: the addresses
    // of a thread's copies then differ by constants (the clamp of the
    // last tile's rows cost a minimum and the address arithmetic per copy).
    auto inside = scf::IfOp::create(
        b, loc,
        arith::CmpIOp::create(b, loc, CmpIPredicate::sle,
                              e.add(j0, idx(keyTile)), values.keyLen),
        /*withElseRegion=*/true);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(inside.thenBlock());
    copy(true);
    b.setInsertionPointToStart(inside.elseBlock());
    copy(false);
  };
  // A neighborhood's key rows in patch order, a few tiles each: one loop
  // over their concatenation, positions [0, total), so that the pipeline
  // runs across them — the first tile of a row is copied while the
  // previous row's last one is computed (M9 on the H100: +3-12 %). Long
  // ranges keep a loop each: the position-to-tile selects cost more than
  // a pipeline start there (M5, a causal range and a prefix: -4-11 %).
  // spans: (first tile, first position) of each range. TMA loads run
  // across the ranges in the same way (the loads ahead cross them).
  SmallVector<std::pair<Value, Value>> spans;
  Bounds loopTiles = tiles;
  if (!mmaList && tiles.size() > 1 && (useTMA || !patches.empty())) {
    Value total = zero;
    for (auto [t0, t1] : tiles) {
      spans.push_back({t0, total});
      total = e.add(total,
                    arith::MaxSIOp::create(
                        b, loc, arith::SubIOp::create(b, loc, t1, t0), zero));
    }
    loopTiles = {{zero, total}};
  }
  // The key tile at loop position p: p itself, the tile of the range that
  // holds position p, or with a block list the tiles of the listed blocks
  // in list order.
  auto tileAt = [&](Value p) -> Value {
    if (!spans.empty()) {
      // The last range starting at or before p (empty ranges share their
      // start with the next one, which wins).
      Value tile = e.add(spans.front().first, p);
      for (auto [t0, start] : ArrayRef(spans).drop_front())
        tile = arith::SelectOp::create(
            b, loc, arith::CmpIOp::create(b, loc, CmpIPredicate::sge, p, start),
            e.add(t0, arith::SubIOp::create(b, loc, p, start)), tile);
      return tile;
    }
    if (!mmaList || tokenTiles)
      return p;
    int64_t perBlock = mmaList->blocks.getKBlock() / keyTile;
    Value entry = selectionEntry(*mmaList, values, e.div(p, perBlock));
    return e.add(arith::MulIOp::create(b, loc, entry, idx(perBlock)),
                 e.rem(p, perBlock));
  };
  // Keys [j0, j1) of tile kt; with token lists, its entries.
  auto keyRange = [&](Value kt) -> std::pair<Value, Value> {
    Value j0 = e.mul(kt, idx(keyTile));
    return {j0, arith::MinSIOp::create(b, loc, e.add(j0, idx(keyTile)),
                                       tokenTiles ? mmaList->count
                                                  : values.keyLen)};
  };
  // Runtime tile tests: every key tile's (visit, not full) at once into two
  // bit vectors, a thread per tile (its summaries are independent loads),
  // so that the loop over the tiles finds the next visited tile 32 tiles at
  // a time instead of waiting for global memory at every tile it skips.
  // (A byte per tile, read one at a time, was a fifth of M12's time and of
  // M6's on the H100, where 3 of 4 tiles are skipped.)
  int64_t flagWords = mmaFlagWords();
  if (mb.flags && denseMaskTiles()) {
    // The explicit mask's summary, computed once per call: a few words
    // per item. (Each block group summarizing its rows of the mask read
    // the whole mask once per group: M12 at 0.83-0.92x FlexAttention,
    // 1.5x slower than the same blocks as a block list.)
    // The previous item's scans ended before this item's first barrier.
    emitMaskTileWords(values, mb.flags, mmaThread, mmaThreads(), flagWords);
    barrier();
  } else if (mb.flags) {
    Type i32 = b.getI32Type();
    // With maskSharingHeads, the block's previous item (another head of
    // this batch and query tile) left the flags; only the first computes
    // them. The tag is written after the barrier that follows, and read
    // after the next item's first barrier: every thread sees the same.
    scf::IfOp stale;
    Value tag;
    if (mb.flagsTag) {
      tag = arith::IndexCastOp::create(
          b, loc, i32,
          e.add(e.add(e.mul(values.batch, values.queryLen), values.queryBegin),
                idx(1)));
      stale = scf::IfOp::create(
          b, loc,
          arith::CmpIOp::create(
              b, loc, CmpIPredicate::ne,
              memref::LoadOp::create(b, loc, mb.flagsTag, ValueRange{idx(0)}),
              tag),
          /*withElseRegion=*/false);
      b.setInsertionPointToStart(stale.thenBlock());
    }
    {
      // The previous item's scans ended before this item's first barrier.
      auto clear = scf::ForOp::create(b, loc, mmaThread, idx(2 * flagWords),
                                      idx(mmaThreads()));
      OpBuilder::InsertionGuard clearGuard(b);
      b.setInsertionPointToStart(clear.getBody());
      memref::StoreOp::create(b, loc,
                              arith::ConstantIntOp::create(b, loc, 0, 32),
                              mb.flags, ValueRange{clear.getInductionVar()});
    }
    barrier();
    // An explicit mask's rows are the cost of its test: where the key tiles
    // fill fewer words than there are warps, `parts` warps share a word's
    // tiles, each summarizing a slice of the query tile's rows (any: or,
    // all: and over the slices). One warp per word, M12 at S = 4K (32 key
    // tiles of 128) waited for a single warp to read 16 KB per lane while
    // seven stood at the barrier.
    int64_t warps = mmaThreads() / 32;
    int64_t parts = 1;
    if (!runtimeTest)
      while (parts * 2 * flagWords <= warps && mmaQueryTile / (parts * 2) >= 8)
        parts *= 2;
    int64_t wordWarps = warps / parts;
    Value lane = e.rem(mmaThread, 32), warp = e.div(mmaThread, 32);
    Value warpFirst = e.mul(e.rem(warp, wordWarps), idx(32));
    LoopValues slice = values;
    if (parts > 1) {
      int64_t rows = mmaQueryTile / parts;
      Value begin =
          e.add(values.queryBegin, e.mul(e.div(warp, wordWarps), idx(rows)));
      slice.queryBegin = arith::MinSIOp::create(b, loc, begin, values.queryEnd);
      slice.queryEnd = arith::MinSIOp::create(b, loc, e.add(begin, idx(rows)),
                                              values.queryEnd);
    }
    for (auto [t0, t1] : tiles) {
      // Warps take 32 tiles from a multiple of 32 (a word each); the loop
      // is warp-uniform for the ballots.
      Value base = e.mul(e.div(t0, 32), idx(32));
      auto fill = scf::ForOp::create(b, loc, e.add(base, warpFirst), t1,
                                     idx(32 * wordWarps));
      OpBuilder::InsertionGuard fillGuard(b);
      b.setInsertionPointToStart(fill.getBody());
      Value first = fill.getInductionVar();
      Value kt = e.add(first, lane);
      Value inside = arith::AndIOp::create(
          b, loc, arith::CmpIOp::create(b, loc, CmpIPredicate::sge, kt, t0),
          arith::CmpIOp::create(b, loc, CmpIPredicate::slt, kt, t1));
      Type i1 = b.getI1Type();
      auto test = scf::IfOp::create(b, loc, TypeRange{i1, i1}, inside,
                                    /*withElseRegion=*/true);
      {
        OpBuilder::InsertionGuard testGuard(b);
        b.setInsertionPointToStart(test.thenBlock());
        auto [j0, j1] = keyRange(kt);
        Value maybe, all;
        if (runtimeTest) {
          serialSummaries = true;
          std::tie(maybe, all) =
              emitKeyTileTest(emitter, values, *runtimeTest, j0, j1);
          serialSummaries = false;
        } else {
          std::tie(maybe, all) = emitDenseTileSummary(slice, j0, j1);
        }
        // The second vector holds "not all allowed" (or-combined).
        scf::YieldOp::create(b, loc, ValueRange{maybe, e.negate(all)});
        b.setInsertionPointToStart(test.elseBlock());
        Value no = arith::ConstantIntOp::create(b, loc, 0, 1);
        scf::YieldOp::create(b, loc, ValueRange{no, no});
      }
      auto ballot = [&](Value x) -> Value {
        return NVVM::VoteSyncOp::create(
            b, loc, i32, arith::ConstantIntOp::create(b, loc, -1, 32), x,
            NVVM::VoteSyncKind::ballot);
      };
      Value visitBits = ballot(test.getResult(0));
      Value notFullBits = ballot(test.getResult(1));
      // A word can hold tiles of two ranges: or, not store.
      auto leader = scf::IfOp::create(
          b, loc,
          arith::CmpIOp::create(b, loc, CmpIPredicate::eq, lane, idx(0)),
          /*withElseRegion=*/false);
      b.setInsertionPointToStart(leader.thenBlock());
      Value word = e.div(first, 32);
      memref::AtomicRMWOp::create(b, loc, arith::AtomicRMWKind::ori, visitBits,
                                  mb.flags, ValueRange{word});
      memref::AtomicRMWOp::create(b, loc, arith::AtomicRMWKind::ori,
                                  notFullBits, mb.flags,
                                  ValueRange{e.add(word, idx(flagWords))});
    }
    if (stale)
      b.setInsertionPointAfter(stale);
    barrier();
    if (stale) {
      // After the barrier: every thread has read the old tag.
      auto first = scf::IfOp::create(
          b, loc,
          arith::CmpIOp::create(b, loc, CmpIPredicate::eq, mmaThread, idx(0)),
          /*withElseRegion=*/false);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(first.thenBlock());
      memref::StoreOp::create(b, loc, tag, mb.flagsTag, ValueRange{idx(0)});
    }
  }
  // Bit kt of the bit vector at word `offset` of the flags.
  auto flagBit = [&](Value kt, int64_t offset) -> Value {
    Type i32 = b.getI32Type();
    Value word = memref::LoadOp::create(
        b, loc, mb.flags, ValueRange{e.add(e.div(kt, 32), idx(offset))});
    Value shift = arith::IndexCastOp::create(b, loc, i32, e.rem(kt, 32));
    return arith::TruncIOp::create(b, loc, b.getI1Type(),
                                   arith::ShRUIOp::create(b, loc, word, shift));
  };
  // (visit, full) of key tile kt: the runtime test where the mask reads
  // data (a tile it rules out is neither loaded nor computed), the core
  // intervals of the closed form.
  auto testTile = [&](Value kt) -> std::pair<Value, Value> {
    Value full = arith::ConstantIntOp::create(b, loc, 0, 1);
    // Every tile of entries is visited; a listed block where it holds keys
    // (a bad entry is skipped, never read); always with the mask.
    if (tokenTiles)
      return {arith::ConstantIntOp::create(b, loc, 1, 1), full};
    auto [j0, j1] = keyRange(kt);
    if (mmaList) {
      // A listed block is all allowed where the list is the whole mask:
      // its whole tiles skip the mask (the last one's keys past the
      // length do not).
      if (isa<BlocksAttr>(op.getMaskAttr()))
        full = arith::CmpIOp::create(b, loc, CmpIPredicate::sle,
                                     e.add(j0, idx(keyTile)), values.keyLen);
      return {arith::AndIOp::create(
                  b, loc,
                  arith::CmpIOp::create(b, loc, CmpIPredicate::sge, j0, idx(0)),
                  arith::CmpIOp::create(b, loc, CmpIPredicate::slt, j0,
                                        values.keyLen)),
              full};
    }
    for (auto [c0, c1] : core)
      full = arith::OrIOp::create(
          b, loc, full,
          arith::AndIOp::create(
              b, loc, arith::CmpIOp::create(b, loc, CmpIPredicate::sle, c0, j0),
              arith::CmpIOp::create(b, loc, CmpIPredicate::sle, j1, c1)));
    if (!runtimeTest && !mb.flags)
      return {arith::ConstantIntOp::create(b, loc, 1, 1), full};
    if (mb.flags) // (the second vector: not all allowed)
      return {
          flagBit(kt, 0),
          arith::OrIOp::create(b, loc, full, e.negate(flagBit(kt, flagWords)))};
    auto [maybe, all] = emitKeyTileTest(emitter, values, *runtimeTest, j0, j1);
    return {maybe, arith::OrIOp::create(b, loc, full, all)};
  };
  auto i1 = b.getI1Type();
  for (const auto &interval : loopTiles) {
    auto [t0, t1] = interval;
    auto nonEmpty = scf::IfOp::create(
        b, loc, ValueRange(state).getTypes(),
        arith::CmpIOp::create(b, loc, CmpIPredicate::slt, t0, t1),
        /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(nonEmpty.elseBlock());
      scf::YieldOp::create(b, loc, state);
      b.setInsertionPointToStart(nonEmpty.thenBlock());
      // The first position at or after `from` whose tile is visited (t1 if
      // none), and whether that tile is full. Tiles in between are never
      // copied: the prefetch of a visited tile overlaps the computation of
      // the one before it however many are skipped (one position at a
      // time, a visited tile after a skipped one waited for its copy).
      Type index = b.getIndexType();
      Value end = t1;
      // A search from `from`: while q < end and `step` (given q and
      // q < end) says to go on, q advances by `advance`; returns q and
      // the value `step` carries out.
      auto search =
          [&](Value from, Type carried,
              function_ref<std::pair<Value, Value>(Value, Value)> step,
              function_ref<Value(Value)> advance) -> std::pair<Value, Value> {
        auto loop = scf::WhileOp::create(b, loc, TypeRange{index, carried},
                                         ValueRange{from});
        OpBuilder::InsertionGuard searchGuard(b);
        Block *before = b.createBlock(&loop.getBefore(), {}, {index}, {loc});
        Value q = before->getArgument(0);
        auto [more, out] =
            step(q, arith::CmpIOp::create(b, loc, CmpIPredicate::slt, q, end));
        scf::ConditionOp::create(b, loc, more, ValueRange{q, out});
        Block *after =
            b.createBlock(&loop.getAfter(), {}, {index, carried}, {loc, loc});
        scf::YieldOp::create(b, loc,
                             ValueRange{advance(after->getArgument(0))});
        return {loop.getResult(0), loop.getResult(1)};
      };
      // Precomputed tests, positions that are tiles: a word of visit bits
      // per step, the lowest set bit at or after `from`.
      auto nextVisitedBit = [&](Value from) -> std::pair<Value, Value> {
        Type i32 = b.getI32Type();
        Value none = arith::ConstantIntOp::create(b, loc, 0, 32);
        auto [at, bits] = search(
            from, i32,
            [&](Value q, Value inside) -> std::pair<Value, Value> {
              // Past the end the word is read in bounds and ignored.
              Value word = memref::LoadOp::create(
                  b, loc, mb.flags,
                  ValueRange{arith::MinSIOp::create(b, loc, e.div(q, 32),
                                                    idx(flagWords - 1))});
              Value bits = arith::SelectOp::create(
                  b, loc, inside,
                  arith::ShRUIOp::create(
                      b, loc, word,
                      arith::IndexCastOp::create(b, loc, i32, e.rem(q, 32))),
                  none);
              return {arith::AndIOp::create(
                          b, loc, inside,
                          arith::CmpIOp::create(b, loc, CmpIPredicate::eq, bits,
                                                none)),
                      bits};
            },
            [&](Value q) {
              return e.add(arith::SubIOp::create(b, loc, q, e.rem(q, 32)),
                           idx(32));
            });
        // cttz(0) = 32: a search that ran out ends at or past `end`.
        Value pos = arith::MinSIOp::create(
            b, loc,
            e.add(at, arith::IndexCastOp::create(
                          b, loc, index,
                          math::CountTrailingZerosOp::create(b, loc, bits))),
            end);
        Value full =
            testTile(arith::MinSIOp::create(
                         b, loc, pos, arith::SubIOp::create(b, loc, end, one)))
                .second;
        return {pos, full};
      };
      auto nextVisited = [&](Value from) -> std::pair<Value, Value> {
        if (mb.flags && spans.empty() && !mmaList && !tokenTiles)
          return nextVisitedBit(from);
        return search(
            from, i1,
            [&](Value q, Value inside) -> std::pair<Value, Value> {
              auto test = scf::IfOp::create(b, loc, TypeRange{i1, i1}, inside,
                                            /*withElseRegion=*/true);
              OpBuilder::InsertionGuard testGuard(b);
              b.setInsertionPointToStart(test.thenBlock());
              auto [visitQ, fullQ] = testTile(tileAt(q));
              scf::YieldOp::create(b, loc, ValueRange{visitQ, fullQ});
              b.setInsertionPointToStart(test.elseBlock());
              Value no = arith::ConstantIntOp::create(b, loc, 0, 1);
              scf::YieldOp::create(b, loc, ValueRange{no, no});
              b.setInsertionPointAfter(test);
              Value more = arith::AndIOp::create(b, loc, inside,
                                                 e.negate(test.getResult(0)));
              return {more, test.getResult(1)};
            },
            [&](Value q) { return e.add(q, one); });
      };
      // The first visited tile into stage 0; the loop goes from visited
      // tile to visited tile, carrying the full test of the tile it
      // computes, its stage, the previous tile's stage and P (the value
      // product of a tile runs in the next iteration, beside the softmax
      // of that iteration's tile; zero before the first).
      auto [pos0, full0] = nextVisited(t0);
      // TMA loads of the tile at position `at` into `stage`, if `at` is a
      // visit (below the end; one thread).
      auto issueVisit = [&](Value at, Value stage) {
        OpBuilder::InsertionGuard issueGuard(b);
        b.setInsertionPointToStart(
            scf::IfOp::create(
                b, loc,
                arith::CmpIOp::create(b, loc, CmpIPredicate::slt, at, end),
                /*withElseRegion=*/false)
                .thenBlock());
        issueTMAKeyTile(values, g, tileAt(at), stage);
      };
      // TMA loads: the first kStages visited positions (and full tests),
      // found by every thread before one issues their loads — a runtime
      // tile test may be warp-cooperative (shuffles), so no scan runs in
      // a single thread's branch.
      SmallVector<std::pair<Value, Value>> visits{{pos0, full0}};
      for (int64_t i = 1; useTMA && i < kStages; ++i)
        visits.push_back(nextVisited(e.add(visits.back().first, one)));
      Value any = arith::CmpIOp::create(b, loc, CmpIPredicate::slt, pos0, t1);
      auto first = scf::IfOp::create(b, loc, any, /*withElseRegion=*/false);
      {
        OpBuilder::InsertionGuard firstGuard(b);
        b.setInsertionPointToStart(first.thenBlock());
        if (useTMA) {
          // Q and the first kStages visited tiles, by one thread; then
          // Q's arrival.
          auto issue = scf::IfOp::create(
              b, loc,
              arith::CmpIOp::create(b, loc, CmpIPredicate::eq, mmaThread, zero),
              /*withElseRegion=*/false);
          {
            OpBuilder::InsertionGuard issueGuard(b);
            b.setInsertionPointToStart(issue.thenBlock());
            issueTMAQuery(values);
            for (int64_t i = 0; i < kStages; ++i)
              issueVisit(visits[i].first, idx(i));
          }
          waitTMABarrier(tmaBarrier(idx(kStages)),
                         arith::ConstantIntOp::create(b, loc, 0, 32));
        } else {
          // After an earlier interval, whose last value product (of any
          // warp) may still read stage 0: no iteration ends in a barrier.
          if (&interval != &loopTiles.front())
            barrier();
          copyKeyTile(tileAt(pos0), zero);
        }
      }
      SmallVector<Value> init = state;
      Value pZero = arith::ConstantOp::create(
          b, loc, b.getZeroAttr(VectorType::get({4, 2}, element)));
      init.append(keyTile / 16, pZero);
      int64_t posArgument = init.size();
      init.append({pos0, full0, zero, zero});
      // TMA loads: the visited tile's ordinal in the item (a stage's
      // phase), then the positions (and full tests) of the next
      // kStages - 2 visits, found ahead of their loads.
      if (useTMA) {
        init.push_back(zero);
        for (auto [at, atFull] : ArrayRef(visits).drop_front().drop_back())
          init.append({at, atFull});
      }
      int64_t lookahead = useTMA ? kStages - 2 : 0;
      SmallVector<Type> carriedTypes(ValueRange(init).getTypes());
      auto loop = scf::WhileOp::create(b, loc, carriedTypes, init);
      {
        OpBuilder::InsertionGuard loopGuard(b);
        SmallVector<Location> locs(carriedTypes.size(), loc);
        Block *before =
            b.createBlock(&loop.getBefore(), {}, carriedTypes, locs);
        Value pos = before->getArgument(posArgument);
        scf::ConditionOp::create(
            b, loc, arith::CmpIOp::create(b, loc, CmpIPredicate::slt, pos, t1),
            before->getArguments());
        Block *after = b.createBlock(&loop.getAfter(), {}, carriedTypes, locs);
        SmallVector<Value> carried(after->getArguments());
        SmallVector<std::pair<Value, Value>> ahead;
        for (int64_t i = 0; i < lookahead; ++i) {
          Value atFull = carried.pop_back_val();
          ahead.insert(ahead.begin(), {carried.pop_back_val(), atFull});
        }
        Value ordinal = useTMA ? carried.pop_back_val() : Value();
        Value prevStage = carried.pop_back_val(),
              stage = carried.pop_back_val(), full = carried.pop_back_val();
        Value p = carried.pop_back_val(), kt = tileAt(p);
        // Stages rotate: the one after this tile's held the tile before
        // the previous one, whose value product the previous iteration
        // finished.
        Value nextStage = arith::SelectOp::create(
            b, loc,
            arith::CmpIOp::create(b, loc, CmpIPredicate::eq, stage,
                                  idx(kStages - 1)),
            zero, e.add(stage, one));
        // The next visit; with TMA loads, the one kStages - 1 visits
        // ahead too (every thread scans: see `visits`).
        Value next, fullNext;
        if (useTMA) {
          std::tie(next, fullNext) = ahead.front();
          ahead.erase(ahead.begin());
          ahead.push_back(nextVisited(
              e.add(ahead.empty() ? next : ahead.back().first, one)));
          // This tile's arrival; the previous tile's stage is released
          // (and refilled) once its value product completed.
          waitTMAStage(stage, ordinal);
        } else {
          std::tie(next, fullNext) = nextVisited(e.add(p, one));
          // This tile's copies (the only group in flight), made visible to
          // wgmma's async proxy by each copying thread, then to every warp.
          NVVM::CpAsyncWaitGroupOp::create(b, loc, 0);
          if (useWGMMA)
            NVVM::FenceProxyOp::create(
                b, loc, NVVM::ProxyKind::async_shared,
                NVVM::SharedSpaceAttr::get(b.getContext(),
                                           NVVM::SharedSpace::shared_cta));
          barrier(); // also: every warp is done with the next stage
          auto prefetch = scf::IfOp::create(
              b, loc,
              arith::CmpIOp::create(b, loc, CmpIPredicate::slt, next, t1),
              /*withElseRegion=*/false);
          OpBuilder::InsertionGuard prefetchGuard(b);
          b.setInsertionPointToStart(prefetch.thenBlock());
          copyKeyTile(tileAt(next), nextStage);
        }
        auto [j0, j1] = keyRange(kt);
        // The last warp to release the previous tile's stage loads the
        // tile kStages - 1 visits ahead into it.
        auto release = [&] {
          releaseTMAStage(prevStage, ordinal,
                          [&] { issueVisit(ahead.back().first, prevStage); });
        };
        SmallVector<Value> updated = emitKeyTileMMA(
            context, values, carried, stage, prevStage, j0, j1, full,
            useTMA ? function_ref<void()>(release) : nullptr);
        updated.append({next, fullNext, nextStage, stage});
        if (useTMA) {
          updated.push_back(e.add(ordinal, one));
          for (int64_t i = 0; i < lookahead; ++i)
            updated.append({ahead[i].first, ahead[i].second});
        }
        scf::YieldOp::create(b, loc, updated);
      }
      // The last visited tile's value product.
      SmallVector<Value> results(loop.getResults());
      if (useTMA) // the ordinal and the visits ahead
        results.resize(results.size() - 1 - 2 * lookahead);
      auto last = scf::IfOp::create(b, loc, ValueRange(state).getTypes(), any,
                                    /*withElseRegion=*/true);
      {
        OpBuilder::InsertionGuard lastGuard(b);
        b.setInsertionPointToStart(last.thenBlock());
        SmallVector<Value> finished(results.begin(),
                                    results.begin() + state.size());
        ArrayRef<Value> pLast =
            ArrayRef<Value>(results).slice(state.size(), keyTile / 16);
        SmallVector<Value> acc = emitValueProductMMA(
            context, ArrayRef<Value>(finished).take_front(dv / 8), pLast,
            results.back());
        std::copy(acc.begin(), acc.end(), finished.begin());
        scf::YieldOp::create(b, loc, finished);
        b.setInsertionPointToStart(last.elseBlock());
        scf::YieldOp::create(b, loc,
                             ArrayRef<Value>(results).take_front(state.size()));
      }
      scf::YieldOp::create(b, loc, last.getResults());
    }
    state.assign(nonEmpty.getResults().begin(), nonEmpty.getResults().end());
  }
  // Q's copy, where no key tile was visited (shared memory is reused by
  // the output tile, the split combine and the next item). TMA loads
  // issue Q only where a tile is visited, and wait for it.
  if (useWGMMA && !useTMA)
    NVVM::CpAsyncWaitGroupOp::create(b, loc, 0);

  if (!splitCount) {
    storeRowsMMA(context, values, state, /*partial=*/false);
    return;
  }
  // Split keys: partial results and the combine, unless the launch asked
  // for one split.
  auto split = scf::IfOp::create(
      b, loc,
      arith::CmpIOp::create(b, loc, CmpIPredicate::ugt, splitCount, one),
      /*withElseRegion=*/true);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(split.thenBlock());
  storeRowsMMA(context, values, state, /*partial=*/true);
  emitSplitCombine(values);
  b.setInsertionPointToStart(split.elseBlock());
  storeRowsMMA(context, values, state, /*partial=*/false);
}

std::pair<Value, Value>
StreamingLowering::tileRowQuery(const LoopValues &values, Value r) {
  if (packedHeads == 1)
    return {values.head, r};
  Value groupSize = idx(packedHeads);
  return {arith::AddIOp::create(b, loc, values.head,
                                arith::RemUIOp::create(b, loc, r, groupSize)),
          arith::DivUIOp::create(b, loc, r, groupSize)};
}

SmallVector<Value> StreamingLowering::emitKeyTileMMA(
    MMATileContext &context, const LoopValues &values, ValueRange carried,
    Value stage, Value prevStage, Value j0, Value j1, Value full,
    function_ref<void()> afterValueProduct) {
  MMAEmitter &e = context.e;
  Value *rows = context.rows;
  Value colBase = context.colBase, lane8 = context.lane8,
        ldGroup = context.ldGroup;
  ArrayRef<Value> qFrag = context.qFrag;
  Type f32Type = b.getF32Type();
  auto accType = VectorType::get({2, 2}, f32Type);
  int64_t d = staticHeadDim, dv = staticValueDim;
  Value accZero = arith::ConstantOp::create(b, loc, b.getZeroAttr(accType));

  // Without score modifiers and with a positive scale, the scale stays
  // out of S: the row maximum is scaled once, and exp2 takes s * scale - m
  // as one FMA.
  std::optional<APFloat> staticScale = op.getScale();
  bool fold = !context.scoreMods &&
              (!staticScale || staticScale->convertToDouble() > 0.0);
  Value factor = fold ? context.scoreScale : f32(1.0);
  // ALiBi alone on whole key tiles (not token lists, not one-patch tiles):
  // the scale goes into the bias FMA of `elements` instead of a multiply.
  // Key tiles that are one patch of the grid (attn-order-patches).
  bool patchTiles = !patches.empty() && keyTile == patches[0] * patches[1];
  bool alibiFast = alibiOnly(op) && !tokenTiles && !patchTiles;

  // The previous tile's O += P V and this tile's S = Q K^T. On sm_90a
  // both are warpgroup MMAs issued together (S from shared memory, P from
  // registers): the value product runs while this tile's mask and softmax
  // do (`pending`: its accumulators), and is waited for before O is
  // rescaled. Else m16n8k16 MMAs, two n-tiles of 8 keys per ldmatrix.
  SmallVector<Value> pPrev(carried.drop_front(dv / 8 + 4));
  auto products = [&](SmallVector<Value> &acc, SmallVector<Value> &pending) {
    SmallVector<Value> s(keyTile / 8, accZero);
    if (useWGMMA) {
      NVVM::WgmmaFenceAlignedOp::create(b, loc);
      Value scores = issueScoresWGMMA(stage);
      pending = issueValuesWGMMA(pPrev, prevStage, acc);
      NVVM::WgmmaWaitGroupSyncOp::create(b, loc, 1);
      s = accumulatorFragments(
          b, loc, pinRegisters(b, loc, structFields(b, loc, scores)));
    } else {
      acc = emitValueProductMMA(context, acc, pPrev, prevStage);
      Value kRow = e.add(e.mul(e.div(ldGroup, 2), idx(8)), lane8);
      Value kCol = e.mul(e.rem(ldGroup, 2), idx(kChunk));
      e.product(s, qFrag, mb.k, stage, keyTile / 16, d / 16,
                /*transpose=*/false, lane8, [&](int64_t n2, int64_t ks) {
                  return std::tuple{e.add(idx(16 * n2), kRow), 16 * ks, kCol};
                });
    }
    if (!fold && !alibiFast) {
      Value scale2 =
          vector::BroadcastOp::create(b, loc, accType, context.scoreScale);
      for (Value &x : s)
        x = arith::MulFOp::create(b, loc, x, scale2);
    }
    return s;
  };

  // Per element: (row, key) of element (n, r, c) of the accumulators.
  // In the tiles at the edges, rows past the query tile and keys past the
  // sequence are clamped to the last ones before the mask and the
  // modifiers read their operands (their results are never stored, or
  // masked below); interior tiles read them as they are.
  auto elements = [&](ArrayRef<Value> in, bool withMask, bool clamp) {
    SmallVector<Value> result(in.begin(), in.end());
    Value lastKey, lastRow;
    Value atRows[2] = {rows[0], rows[1]};
    if (clamp) {
      lastKey = arith::SubIOp::create(b, loc, values.keyLen, idx(1));
      lastRow = arith::SubIOp::create(b, loc, values.queryEnd, idx(1));
      for (Value &row : atRows)
        row = arith::MinSIOp::create(b, loc, row, lastRow);
    }
    // A key tile that is one patch (the keys are then never past the
    // end): its origin on the grid, and each column's grid coordinates
    // as constant offsets from it, so that the mask's per-axis tests are
    // shared by the columns of a grid row or column.
    Value patchRow, patchCol;
    int64_t pw = patches.empty() ? 0 : patches[1];
    // The keys as f32 for the score modifiers (ALiBi's j - i): one
    // conversion per tile, a constant added per column (exact below 2^24)
    // instead of a conversion per column. Keys past the end are not
    // clamped here: their scores are masked.
    Value tileKeyF32;
    if (!withMask && !tokenTiles)
      tileKeyF32 = arith::SIToFPOp::create(
          b, loc, f32Type,
          arith::IndexCastOp::create(b, loc, b.getI32Type(),
                                     e.add(j0, colBase)));
    if (patchTiles)
      std::tie(patchRow, patchCol) =
          patchCoordinates(b, loc, j0, patches, patchGridCols);
    // ALiBi alone, in log2 units: (scale s + slope (j - i)) log2 e as
    // fma(s, scale log2 e, fma(8 n + c, slope log2 e, (j0 + colBase - i)
    // slope log2 e)), the last term once per row and tile: two operations
    // per element instead of five (S3 was 24-28 % slower than causal
    // alone). The tile's key minus the row stays an exact integer.
    Value alibiStep[2], alibiBase[2], alibiScale;
    if (tileKeyF32 && alibiFast) {
      alibiScale = arith::MulFOp::create(b, loc, context.scoreScale,
                                         f32(1.0 / std::log(2.0)));
      for (int64_t r = 0; r < 2; ++r) {
        Value slope = memref::LoadOp::create(b, loc, scoreOps.front(),
                                             ValueRange{context.heads[r]});
        if (slope.getType() != f32Type)
          slope = arith::ExtFOp::create(b, loc, f32Type, slope);
        alibiStep[r] =
            arith::MulFOp::create(b, loc, slope, f32(1.0 / std::log(2.0)));
        Value row = arith::SIToFPOp::create(
            b, loc, f32Type,
            arith::IndexCastOp::create(b, loc, b.getI32Type(), atRows[r]));
        alibiBase[r] = arith::MulFOp::create(
            b, loc, arith::SubFOp::create(b, loc, tileKeyF32, row),
            alibiStep[r]);
      }
    }
    // Element (n, r, c): the key of column 8 n + c (once for both rows;
    // with token lists the column's entry gives the key, clamped, and
    // whether it counts) against row r.
    auto element = [&](int64_t n, int64_t r, int64_t c) {
      Value key = e.add(e.add(j0, idx(8 * n + c)), colBase), listed;
      Value keyRow, keyCol;
      if (patchRow) {
        // Offset 8 n + c + colBase (colBase + c < 8) in the patch.
        Value inside = e.add(colBase, idx(c));
        if (pw % 8 == 0) {
          keyRow = e.add(patchRow, idx(8 * n / pw));
          keyCol = e.add(patchCol, e.add(inside, idx(8 * n % pw)));
        } else {
          Value offset = e.add(inside, idx(8 * n));
          keyRow = e.add(patchRow, e.div(offset, pw));
          keyCol = e.add(patchCol, e.rem(offset, pw));
        }
      }
      if (tokenTiles)
        std::tie(key, listed) = listedKey(values, key, j1);
      Value atKey =
          clamp && !tokenTiles
              ? arith::MinSIOp::create(b, loc, key, lastKey).getResult()
              : key;
      LoopValues at = values;
      at.query = atRows[r];
      at.head = context.heads[r];
      at.key = atKey;
      at.keyRow = keyRow;
      at.keyCol = keyCol;
      if (tileKeyF32)
        at.keyF32 = arith::AddFOp::create(b, loc, tileKeyF32,
                                          f32(static_cast<double>(8 * n + c)));
      ElementEmitter emitter(b, loc, at, maskOps);
      if (keySelection) // the loop visits the listed tiles only
        emitter.assumeSelected(keySelection->operand);
      Value x =
          vector::ExtractOp::create(b, loc, result[n], ArrayRef<int64_t>{r, c});
      if (alibiStep[r]) {
        Value bias =
            math::FmaOp::create(b, loc, f32(static_cast<double>(8 * n + c)),
                                alibiStep[r], alibiBase[r]);
        x = math::FmaOp::create(b, loc, x, alibiScale, bias);
      } else if (withMask) {
        Value allowed =
            emitter.emitMask(op.getMaskAttr(), op.getPredicate(), captures);
        if (listed)
          allowed = arith::AndIOp::create(b, loc, allowed, listed);
        else if (!patchRow)
          allowed = arith::AndIOp::create(
              b, loc, allowed,
              arith::CmpIOp::create(b, loc, CmpIPredicate::slt, key, j1));
        x = arith::SelectOp::create(b, loc, allowed, x, f32(-kInf));
      } else {
        x = emitter.emitScore(x, op.getScoreAttr(), scoreOps, op.getScoreFn(),
                              captures);
        x = arith::MulFOp::create(b, loc, x, f32(1.0 / std::log(2.0)));
      }
      result[n] = vector::InsertOp::create(b, loc, x, result[n],
                                           ArrayRef<int64_t>{r, c});
    };
    // Row by row in a patch (the row's window tests die with it), else
    // column by column (the column's key serves both rows).
    for (int64_t r = 0; patchRow && r < 2; ++r)
      for (int64_t n = 0; n < keyTile / 8; ++n)
        for (int64_t c = 0; c < 2; ++c)
          element(n, r, c);
    for (int64_t n = 0; !patchRow && n < keyTile / 8; ++n)
      for (int64_t c = 0; c < 2; ++c)
        for (int64_t r = 0; r < 2; ++r)
          element(n, r, c);
    return result;
  };
  // Token tiles: rows past the query's heads are always clamped.
  Value edge = arith::OrIOp::create(
      b, loc,
      arith::CmpIOp::create(b, loc, CmpIPredicate::ne,
                            arith::SubIOp::create(b, loc, j1, j0),
                            idx(keyTile)),
      arith::CmpIOp::create(
          b, loc, CmpIPredicate::ne,
          arith::SubIOp::create(b, loc, values.queryEnd, values.queryBegin),
          idx(queryTile)));
  // Token tiles always test their entries (and rows past a tile of one
  // query's heads).
  if (tokenTiles)
    edge = arith::ConstantIntOp::create(b, loc, 1, 1);
  auto elementwise = [&](ArrayRef<Value> in, bool withMask) {
    auto edgeIf = scf::IfOp::create(b, loc, ValueRange(in).getTypes(), edge,
                                    /*withElseRegion=*/true);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(edgeIf.thenBlock());
    scf::YieldOp::create(b, loc, elements(in, withMask, /*clamp=*/true));
    b.setInsertionPointToStart(edgeIf.elseBlock());
    scf::YieldOp::create(b, loc, elements(in, withMask, /*clamp=*/false));
    return SmallVector<Value>(edgeIf.getResults());
  };
  // Partial tiles: the mask, and keys past the end.
  Value whole = arith::CmpIOp::create(b, loc, CmpIPredicate::eq,
                                      arith::SubIOp::create(b, loc, j1, j0),
                                      idx(keyTile));
  Value partial = e.negate(arith::AndIOp::create(b, loc, full, whole));
  // The online softmax of scores `s`, then O (`acc`, the previous tile's
  // value product pending on sm_90a) rescaled, and P.
  auto softmax = [&](SmallVector<Value> s, SmallVector<Value> acc,
                     ArrayRef<Value> pending) -> SmallVector<Value> {
    // Online softmax per row (two rows per thread).
    SmallVector<Value> next;
    Value alpha[2], m[2], l[2];
    for (int64_t r = 0; r < 2; ++r) {
      Value rowMax = f32(-kInf);
      for (Value x : s)
        for (int64_t c = 0; c < 2; ++c)
          rowMax = arith::MaximumFOp::create(
              b, loc, rowMax,
              vector::ExtractOp::create(b, loc, x, ArrayRef<int64_t>{r, c}));
      rowMax = e.quadReduce(rowMax, /*max=*/true);
      if (fold)
        rowMax = arith::MulFOp::create(b, loc, rowMax, factor);
      Value mOld = carried[dv / 8 + r];
      m[r] = arith::MaximumFOp::create(b, loc, mOld, rowMax);
      // A row without an allowed key so far keeps m = -inf; subtract 0.
      Value safe = arith::SelectOp::create(
          b, loc,
          arith::CmpFOp::create(b, loc, CmpFPredicate::OEQ, m[r], f32(-kInf)),
          f32(0.0), m[r]);
      alpha[r] = math::Exp2Op::create(
          b, loc, arith::SubFOp::create(b, loc, mOld, safe));
      Value rowSum = f32(0.0);
      auto pairType = VectorType::get({2}, f32Type);
      Value negSafe2 = vector::BroadcastOp::create(
          b, loc, pairType, arith::NegFOp::create(b, loc, safe));
      Value factor2 = vector::BroadcastOp::create(b, loc, pairType, factor);
      for (Value &x : s) {
        Value row = vector::ExtractOp::create(b, loc, x, ArrayRef<int64_t>{r});
        Value p = math::Exp2Op::create(
            b, loc, math::FmaOp::create(b, loc, row, factor2, negSafe2));
        x = vector::InsertOp::create(b, loc, p, x, ArrayRef<int64_t>{r});
        for (int64_t c = 0; c < 2; ++c)
          rowSum = arith::AddFOp::create(
              b, loc, rowSum,
              vector::ExtractOp::create(b, loc, p, ArrayRef<int64_t>{c}));
      }
      l[r] = arith::AddFOp::create(
          b, loc,
          arith::MulFOp::create(b, loc, carried[dv / 8 + 2 + r], alpha[r]),
          rowSum);
    }
    Value alphaVec = vector::FromElementsOp::create(
        b, loc, accType, ValueRange{alpha[0], alpha[0], alpha[1], alpha[1]});
    // O *= alpha only where a row maximum of the warp changed: once the
    // maxima settle (most tiles of a long row), the warp skips the
    // rescale, a multiply per accumulator — as many as the tile's exps.
    Value settled =
        arith::AndIOp::create(b, loc,
                              arith::CmpFOp::create(b, loc, CmpFPredicate::OEQ,
                                                    m[0], carried[dv / 8]),
                              arith::CmpFOp::create(b, loc, CmpFPredicate::OEQ,
                                                    m[1], carried[dv / 8 + 1]));
    Value warpSettled = NVVM::VoteSyncOp::create(
        b, loc, b.getI1Type(), arith::ConstantIntOp::create(b, loc, -1, 32),
        settled, NVVM::VoteSyncKind::all);
    // The value product's wait inside both sides of the branch: ptxas
    // schedules a wgmma wait by its own latency model within a block (it
    // put this one among the first exps, serializing the product with the
    // softmax), but does not move it above the block's end.
    auto completed = [&]() -> SmallVector<Value> {
      return useWGMMA ? completeValuesWGMMA(b, loc, pending) : acc;
    };
    auto rescale = scf::IfOp::create(b, loc, ValueRange(acc).getTypes(),
                                     warpSettled, /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(rescale.thenBlock());
      scf::YieldOp::create(b, loc, completed());
      b.setInsertionPointToStart(rescale.elseBlock());
      SmallVector<Value> scaled = completed();
      for (Value &x : scaled)
        x = arith::MulFOp::create(b, loc, x, alphaVec);
      scf::YieldOp::create(b, loc, scaled);
    }
    acc.assign(rescale.getResults().begin(), rescale.getResults().end());
    if (afterValueProduct)
      afterValueProduct();

    // P as A fragments: keys 16t .. 16t + 15 are n-tiles 2t and 2t + 1.
    Type element = e.element;
    auto halfType = VectorType::get({2, 2}, element);
    SmallVector<Value> pFrag;
    for (int64_t t = 0; t < keyTile / 16; ++t) {
      Value a = arith::ConstantOp::create(
          b, loc, b.getZeroAttr(VectorType::get({4, 2}, element)));
      for (int64_t h = 0; h < 2; ++h)
        a = e.insertRows(
            arith::TruncFOp::create(b, loc, halfType, s[2 * t + h]), a, 2 * h);
      pFrag.push_back(a);
    }
    // P is read by the next iteration's value product, while it runs: its
    // registers are defined after this tile's last wait.
    if (useWGMMA)
      for (Value &a : pFrag)
        a = pinFragment(b, loc, a);
    next = acc;
    next.append({m[0], m[1], l[0], l[1]});
    next.append(pFrag);
    return next;
  };
  SmallVector<Value> acc(carried.begin(), carried.begin() + dv / 8), pending;
  SmallVector<Value> s = products(acc, pending);
  if (context.scoreMods)
    s = elementwise(s, /*withMask=*/false);
  auto masked = scf::IfOp::create(b, loc, ValueRange(s).getTypes(), partial,
                                  /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(masked.thenBlock());
    scf::YieldOp::create(b, loc, elementwise(s, /*withMask=*/true));
    b.setInsertionPointToStart(masked.elseBlock());
    scf::YieldOp::create(b, loc, s);
  }
  s.assign(masked.getResults().begin(), masked.getResults().end());
  if (mmaPyramid())
    s = pyramidMeansMMA(values, s, j0);
  return softmax(s, acc, pending);
}

SmallVector<Value>
StreamingLowering::emitValueProductMMA(MMATileContext &context,
                                       ArrayRef<Value> acc,
                                       ArrayRef<Value> pFrag, Value stage) {
  if (useWGMMA) {
    NVVM::WgmmaFenceAlignedOp::create(b, loc);
    return completeValuesWGMMA(b, loc, issueValuesWGMMA(pFrag, stage, acc));
  }
  // V^T fragments by transposing ldmatrix.
  MMAEmitter &e = context.e;
  Value vRow = e.add(e.mul(e.rem(context.ldGroup, 2), idx(8)), context.lane8);
  Value vCol = e.mul(e.div(context.ldGroup, 2), idx(kChunk));
  SmallVector<Value> result(acc.begin(), acc.end());
  e.product(result, pFrag, mb.v, stage, staticValueDim / 16, keyTile / 16,
            /*transpose=*/true, context.lane8, [&](int64_t n2, int64_t t) {
              return std::tuple{e.add(idx(16 * t), vRow), 16 * n2, vCol};
            });
  return result;
}

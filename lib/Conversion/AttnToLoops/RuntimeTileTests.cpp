//===- RuntimeTileTests.cpp - tile classification from runtime data ------===//
//
// Masks over runtime data (document ids, keep flags) classify as partial
// everywhere in closed form. Generated code refines that per tile pair from
// cheap summaries: the min and max document id of the query tile (once per
// query tile) and of the key tile (once per key tile) — disjoint ranges
// mean no allowed pair, one shared id means every pair is allowed — and
// any/all of the keep flags. Structured subtrees keep their closed forms.
// No ordering of the ids is assumed; the summaries are exact bounds, so
// the refinement is sound for any data. An explicit boolean mask
// (#attn.dense) on the GPU is summarized per key tile from its rows of
// flags, 16 at a time (emitDenseTileSummary), or read from its summary
// computed once per call (#attn.dense<tiles>: emitMaskTileWords).
//
//===----------------------------------------------------------------------===//

#include "FlagChunks.h"
#include "StreamingLowering.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::attn;

using arith::CmpIPredicate;
using Kind = RuntimeTileTest::Kind;

namespace {
/// (min, max) of the document ids, or (any, all) of the keep flags, at
/// positions [lo, hi) (lo < hi) of batch `batch`, head `head`. With `lane`
/// (GPU blocks, all 32 lanes of each warp present), the lanes take
/// positions lo + lane, lo + lane + 32, ... and combine their partial
/// results with butterfly shuffles; otherwise one thread loops over all.
std::pair<Value, Value> summarizePositions(OpBuilder &b, Location loc,
                                           ElementEmitter &emitter, Kind kind,
                                           Value operand,
                                           const LoopValues &values, Value lo,
                                           Value hi, Value lane);

/// The (min, max) of the document ids at [lo, hi) (lo a multiple of
/// `width`) by one GPU thread when the range is `width` ids (a multiple of
/// 4) and the ids are 16-byte aligned: four ids per load, as many loads in
/// flight as the range has chunks. One id per load, the tile tests of a query
/// tile's key tiles were a third of M6's samples at D = 64 on the H100 (a
/// warp's 32 threads each loading from its own 256-byte tile, 64 times). Other
/// ranges, ids and alignments take summarizePositions (an id per load).
std::pair<Value, Value>
summarizeDocumentChunks(OpBuilder &b, Location loc, ElementEmitter &emitter,
                        Value operand, const LoopValues &values, Value lo,
                        Value hi, int64_t width) {
  auto type = cast<MemRefType>(operand.getType());
  auto serial = [&] {
    return summarizePositions(b, loc, emitter, Kind::Document, operand, values,
                              lo, hi, Value());
  };
  int64_t row = type.getShape().back();
  if (width % 4 || !type.getLayout().isIdentity() ||
      ShapedType::isDynamic(row) || row % 4 ||
      !type.getElementType().isInteger(32))
    return serial();
  Type i32 = type.getElementType();
  Value base = memref::ExtractAlignedPointerAsIndexOp::create(b, loc, operand);
  Value chunked = arith::AndIOp::create(
      b, loc,
      arith::CmpIOp::create(
          b, loc, CmpIPredicate::eq,
          arith::RemUIOp::create(b, loc, base, emitter.index(16)),
          emitter.index(0)),
      arith::CmpIOp::create(b, loc, CmpIPredicate::eq,
                            arith::SubIOp::create(b, loc, hi, lo),
                            emitter.index(width)));
  auto branch = scf::IfOp::create(b, loc, TypeRange{i32, i32}, chunked,
                                  /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(branch.thenBlock());
    auto chunkType = VectorType::get({4}, i32);
    Value lowest, highest;
    for (int64_t c = 0; c < width; c += 4) {
      Value x = vector::LoadOp::create(
          b, loc, chunkType, operand,
          ValueRange{values.batch,
                     arith::AddIOp::create(b, loc, lo, emitter.index(c))},
          /*nontemporal=*/false, llvm::MaybeAlign(16));
      lowest = c ? arith::MinSIOp::create(b, loc, lowest, x).getResult() : x;
      highest = c ? arith::MaxSIOp::create(b, loc, highest, x).getResult() : x;
    }
    scf::YieldOp::create(
        b, loc,
        ValueRange{vector::ReductionOp::create(
                       b, loc, vector::CombiningKind::MINSI, lowest),
                   vector::ReductionOp::create(
                       b, loc, vector::CombiningKind::MAXSI, highest)});
    b.setInsertionPointToStart(branch.elseBlock());
    auto [lo2, hi2] = serial();
    scf::YieldOp::create(b, loc, ValueRange{lo2, hi2});
  }
  return {branch.getResult(0), branch.getResult(1)};
}

/// The (min, max) of the document ids at [lo, hi) (lo < hi) bounded by the
/// ranges of their 64-token tiles (attn.id_ranges): entries lo / 64 through
/// (hi - 1) / 64, one or two for the tiles of the kernels. The bound over
/// whole tiles contains the exact one, and a single id over the whole tiles
/// is the single id of [lo, hi): both tests of a document leaf stay sound
/// for any positions and exact for whole tiles.
std::pair<Value, Value> boundFromRanges(OpBuilder &b, Location loc,
                                        ElementEmitter &emitter, Value ranges,
                                        const LoopValues &values, Value lo,
                                        Value hi) {
  auto at = [&](Value entry, int64_t side) -> Value {
    return memref::LoadOp::create(
        b, loc, ranges, ValueRange{values.batch, entry, emitter.index(side)});
  };
  Value tile = emitter.index(kIdTile);
  Value first = arith::DivUIOp::create(b, loc, lo, tile);
  Value last = arith::DivUIOp::create(
      b, loc, arith::SubIOp::create(b, loc, hi, emitter.index(1)), tile);
  auto loop = scf::ForOp::create(
      b, loc, arith::AddIOp::create(b, loc, first, emitter.index(1)),
      arith::AddIOp::create(b, loc, last, emitter.index(1)), emitter.index(1),
      ValueRange{at(first, 0), at(first, 1)});
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    Value e = loop.getInductionVar();
    scf::YieldOp::create(
        b, loc,
        ValueRange{arith::MinSIOp::create(b, loc, loop.getRegionIterArgs()[0],
                                          at(e, 0)),
                   arith::MaxSIOp::create(b, loc, loop.getRegionIterArgs()[1],
                                          at(e, 1))});
  }
  return {loop.getResult(0), loop.getResult(1)};
}

std::pair<Value, Value> summarizePositions(OpBuilder &b, Location loc,
                                           ElementEmitter &emitter, Kind kind,
                                           Value operand,
                                           const LoopValues &values, Value lo,
                                           Value hi, Value lane) {
  auto at = [&](Value position) -> Value {
    if (kind == Kind::Document)
      return memref::LoadOp::create(b, loc, operand,
                                    ValueRange{values.batch, position});
    return emitter.loadBroadcast(operand, {values.batch, values.head, position},
                                 {false, false, false}, {false, true, false});
  };
  auto combine = [&](Value x, Value y, bool second) -> Value {
    if (kind == Kind::Document)
      return second ? arith::MaxSIOp::create(b, loc, x, y).getResult()
                    : arith::MinSIOp::create(b, loc, x, y).getResult();
    return second ? arith::AndIOp::create(b, loc, x, y).getResult()
                  : arith::OrIOp::create(b, loc, x, y).getResult();
  };
  Value first = at(lo);
  // One thread alone takes kUnroll positions per step (those past the end
  // repeat the last one, which changes neither bound), so that as many
  // loads are in flight: one at a time, a GPU thread filling the tile
  // flags of a query tile waited for each load in turn (measured: document
  // masks latency-bound, a quarter of the stalls on global loads).
  constexpr int64_t kUnroll = 8;
  Value start = lane ? arith::AddIOp::create(b, loc, lo, lane).getResult() : lo;
  auto loop =
      scf::ForOp::create(b, loc, start, hi, emitter.index(lane ? 32 : kUnroll),
                         ValueRange{first, first});
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    Value i = loop.getInductionVar();
    SmallVector<Value> acc(loop.getRegionIterArgs());
    if (lane) {
      Value x = at(i);
      acc = {combine(acc[0], x, false), combine(acc[1], x, true)};
    } else {
      Value last = arith::SubIOp::create(b, loc, hi, emitter.index(1));
      for (int64_t u = 0; u < kUnroll; ++u) {
        Value x = at(arith::MinSIOp::create(
            b, loc, arith::AddIOp::create(b, loc, i, emitter.index(u)), last));
        acc = {combine(acc[0], x, false), combine(acc[1], x, true)};
      }
    }
    scf::YieldOp::create(b, loc, acc);
  }
  Value result[2] = {loop.getResult(0), loop.getResult(1)};
  if (!lane)
    return {result[0], result[1]};
  // Shuffles move 32-bit values: flags travel as i32.
  for (int which = 0; which < 2; ++which) {
    Value x = result[which];
    Type type = x.getType();
    bool flag = type.isInteger(1);
    if (flag)
      x = arith::ExtUIOp::create(b, loc, b.getI32Type(), x);
    for (int32_t offset : {16, 8, 4, 2, 1}) {
      Value other = gpu::ShuffleOp::create(b, loc, x, offset, 32,
                                           gpu::ShuffleMode::XOR)
                        .getShuffleResult();
      if (flag)
        x = which ? arith::AndIOp::create(b, loc, x, other).getResult()
                  : arith::OrIOp::create(b, loc, x, other).getResult();
      else
        x = combine(x, other, which == 1);
    }
    if (flag)
      x = arith::TruncIOp::create(b, loc, type, x);
    result[which] = x;
  }
  return {result[0], result[1]};
}
} // namespace

void StreamingLowering::emitQueryTileTest(ElementEmitter &emitter,
                                          const LoopValues &values,
                                          const RuntimeTileTest &test) {
  TestValues &result = testValues[&test];
  switch (test.kind) {
  case Kind::Ranges:
    for (const KeyInterval &x : test.ranges.hull)
      result.hull.push_back(
          {emitter.emitTileExpr(x.begin), emitter.emitTileExpr(x.end)});
    for (const KeyInterval &x : test.ranges.core)
      result.core.push_back(
          {emitter.emitTileExpr(x.begin), emitter.emitTileExpr(x.end)});
    return;
  case Kind::Document:
    if (test.rangesOperand) {
      std::tie(result.first, result.second) =
          boundFromRanges(b, loc, emitter, maskOps[*test.rangesOperand], values,
                          values.queryBegin, values.queryEnd);
      return;
    }
    [[fallthrough]];
  case Kind::KeepQueries:
    std::tie(result.first, result.second) = summarizePositions(
        b, loc, emitter, test.kind, maskOps[test.queryOperand], values,
        values.queryBegin, values.queryEnd, summaryLane());
    return;
  case Kind::KeepKeys:
  case Kind::Pyramid:
    return;
  case Kind::And:
  case Kind::Or:
  case Kind::Not:
    for (const RuntimeTileTest &child : test.children)
      emitQueryTileTest(emitter, values, child);
    return;
  }
}

std::pair<Value, Value>
StreamingLowering::emitKeyTileTest(ElementEmitter &emitter,
                                   const LoopValues &values,
                                   const RuntimeTileTest &test, Value j0,
                                   Value j1) {
  auto constant = [&](bool x) -> Value {
    return arith::ConstantIntOp::create(b, loc, x ? 1 : 0, 1);
  };
  auto cmp = [&](CmpIPredicate p, Value x, Value y) -> Value {
    return arith::CmpIOp::create(b, loc, p, x, y);
  };
  auto andI = [&](Value x, Value y) -> Value {
    return arith::AndIOp::create(b, loc, x, y);
  };
  auto orI = [&](Value x, Value y) -> Value {
    return arith::OrIOp::create(b, loc, x, y);
  };
  const TestValues &mine = testValues.lookup(&test);
  switch (test.kind) {
  case Kind::Ranges:
    return emitter.emitIntervalTest(mine.hull, mine.core, j0, j1);
  case Kind::Document: {
    Value ids = maskOps[test.keyOperand];
    auto [kMin, kMax] =
        test.rangesOperand
            ? boundFromRanges(b, loc, emitter, maskOps[*test.rangesOperand + 1],
                              values, j0, j1)
        : useMMA && serialSummaries
            ? summarizeDocumentChunks(b, loc, emitter, ids, values, j0, j1,
                                      keyTile)
            : summarizePositions(b, loc, emitter, test.kind, ids, values, j0,
                                 j1, summaryLane());
    Value disjoint = orI(cmp(CmpIPredicate::slt, mine.second, kMin),
                         cmp(CmpIPredicate::slt, kMax, mine.first));
    Value one = andI(andI(cmp(CmpIPredicate::eq, mine.first, mine.second),
                          cmp(CmpIPredicate::eq, kMin, kMax)),
                     cmp(CmpIPredicate::eq, mine.first, kMin));
    return {arith::XOrIOp::create(b, loc, disjoint, constant(true)), one};
  }
  case Kind::KeepQueries:
    return {mine.first, mine.second};
  case Kind::KeepKeys:
    return summarizePositions(b, loc, emitter, test.kind,
                              maskOps[test.keyOperand], values, j0, j1,
                              summaryLane());
  case Kind::Pyramid: {
    // The level of the tile's block pair (the tiles lie in one of each:
    // canUseMMA); blocks past the levels are dropped.
    auto pyramid = cast<PyramidAttr>(keySelection->attr);
    Value levels = maskOps[test.keyOperand];
    Value kb =
        arith::DivUIOp::create(b, loc, j0, emitter.index(pyramid.getKBlock()));
    Value inside =
        cmp(CmpIPredicate::slt, kb, memref::DimOp::create(b, loc, levels, 3));
    Value level = emitter.loadBroadcast(
        levels,
        {values.batch, values.head,
         arith::DivUIOp::create(b, loc, values.queryBegin,
                                emitter.index(pyramid.getQBlock())),
         arith::MinSIOp::create(
             b, loc, kb,
             arith::SubIOp::create(b, loc,
                                   memref::DimOp::create(b, loc, levels, 3),
                                   emitter.index(1)))},
        {false, false, true, false}, {false, true, false, false});
    Value kept = andI(
        inside, cmp(CmpIPredicate::sge, level,
                    arith::ConstantIntOp::create(b, loc, level.getType(), 0)));
    return {kept, kept};
  }
  case Kind::And:
  case Kind::Or: {
    bool conj = test.kind == Kind::And;
    Value maybe = constant(conj), all = constant(conj);
    for (const RuntimeTileTest &child : test.children) {
      auto [m, a] = emitKeyTileTest(emitter, values, child, j0, j1);
      maybe = conj ? andI(maybe, m) : orI(maybe, m);
      all = conj ? andI(all, a) : orI(all, a);
    }
    return {maybe, all};
  }
  case Kind::Not: {
    auto [m, a] =
        emitKeyTileTest(emitter, values, test.children.front(), j0, j1);
    return {arith::XOrIOp::create(b, loc, a, constant(true)),
            arith::XOrIOp::create(b, loc, m, constant(true))};
  }
  }
  llvm_unreachable("unknown runtime tile test");
}

std::pair<Value, Value>
StreamingLowering::emitDenseTileSummary(const LoopValues &values, Value j0,
                                        Value j1) {
  Value mask = maskOps.front();
  auto type = cast<MemRefType>(mask.getType());
  ArrayRef<int64_t> shape = type.getShape();
  int64_t keys = shape[3];
  Type i1 = b.getI1Type();
  auto boolean = [&](bool x) -> Value {
    return arith::ConstantIntOp::create(b, loc, x ? 1 : 0, 1);
  };
  Value bIndex = shape[0] == 1 ? idx(0) : values.batch;
  Value hIndex = shape[1] == 1 ? idx(0) : values.head;
  Value base = memref::ExtractAlignedPointerAsIndexOp::create(b, loc, mask);
  Value aligned = arith::CmpIOp::create(
      b, loc, CmpIPredicate::eq, arith::RemUIOp::create(b, loc, base, idx(16)),
      idx(0));
  auto rows =
      [&](function_ref<std::pair<Value, Value>(Value, Value, Value)> body) {
        auto loop = scf::ForOp::create(
            b, loc, values.queryBegin, values.queryEnd, idx(1),
            ValueRange{boolean(false), boolean(true)});
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPointToStart(loop.getBody());
        auto [any, all] =
            body(loop.getInductionVar(), loop.getRegionIterArgs()[0],
                 loop.getRegionIterArgs()[1]);
        scf::YieldOp::create(b, loc, ValueRange{any, all});
        return std::pair<Value, Value>{loop.getResult(0), loop.getResult(1)};
      };
  // Aligned masks (rows of a multiple of 16 bytes): 16 flags per load
  // (FlagChunks), and kUnroll rows per step (rows past the tile repeat its
  // last, which changes neither any nor all), so that a thread has kUnroll
  // * 4 loads in flight: one row at a time, the tile tests were
  // latency-bound (M12 at a sixth of FlexAttention's speed).
  constexpr int64_t kUnroll = 8;
  auto summary = scf::IfOp::create(b, loc, TypeRange{i1, i1}, aligned,
                                   /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(summary.thenBlock());
    FlagChunks chunks(b, loc);
    Value lastRow = arith::SubIOp::create(b, loc, values.queryEnd, idx(1));
    Value rowBase = arith::MulIOp::create(
        b, loc,
        arith::AddIOp::create(
            b, loc, arith::MulIOp::create(b, loc, bIndex, idx(shape[1])),
            hIndex),
        idx(shape[2]));
    auto loop =
        scf::ForOp::create(b, loc, values.queryBegin, values.queryEnd,
                           idx(kUnroll), ValueRange{chunks.none, chunks.none});
    {
      OpBuilder::InsertionGuard loopGuard(b);
      b.setInsertionPointToStart(loop.getBody());
      Value set = loop.getRegionIterArgs()[0],
            zeroByte = loop.getRegionIterArgs()[1];
      for (int64_t u = 0; u < kUnroll; ++u) {
        Value i = arith::MinSIOp::create(
            b, loc,
            arith::AddIOp::create(b, loc, loop.getInductionVar(), idx(u)),
            lastRow);
        Value row = arith::AddIOp::create(
            b, loc,
            arith::MulIOp::create(
                b, loc, arith::AddIOp::create(b, loc, rowBase, i), idx(keys)),
            base);
        for (int64_t c = 0; c < keyTile / 16; ++c) {
          // Chunks past the key range read the tile's first chunk again
          // (which changes neither summary).
          Value column = arith::AddIOp::create(b, loc, j0, idx(16 * c));
          chunks.add(arith::AddIOp::create(
                         b, loc, row,
                         arith::SelectOp::create(
                             b, loc,
                             arith::CmpIOp::create(b, loc, CmpIPredicate::slt,
                                                   column, j1),
                             column, j0)),
                     set, zeroByte);
        }
      }
      scf::YieldOp::create(b, loc, ValueRange{set, zeroByte});
    }
    Value zero32 = arith::ConstantIntOp::create(b, loc, 0, 32);
    scf::YieldOp::create(
        b, loc,
        ValueRange{
            arith::CmpIOp::create(b, loc, CmpIPredicate::ne,
                                  chunks.reduce(loop.getResult(0)), zero32),
            arith::CmpIOp::create(b, loc, CmpIPredicate::eq,
                                  chunks.reduce(loop.getResult(1)), zero32)});
  }
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(summary.elseBlock());
    auto [any, all] = rows([&](Value i, Value any, Value all) {
      auto keysLoop =
          scf::ForOp::create(b, loc, j0, j1, idx(1), ValueRange{any, all});
      OpBuilder::InsertionGuard inner(b);
      b.setInsertionPointToStart(keysLoop.getBody());
      Value x = memref::LoadOp::create(
          b, loc, mask,
          ValueRange{bIndex, hIndex, i, keysLoop.getInductionVar()});
      scf::YieldOp::create(
          b, loc,
          ValueRange{
              arith::OrIOp::create(b, loc, keysLoop.getRegionIterArgs()[0], x),
              arith::AndIOp::create(b, loc, keysLoop.getRegionIterArgs()[1],
                                    x)});
      return std::pair<Value, Value>{keysLoop.getResult(0),
                                     keysLoop.getResult(1)};
    });
    scf::YieldOp::create(b, loc, ValueRange{any, all});
  }
  return {summary.getResult(0), summary.getResult(1)};
}

bool StreamingLowering::denseMaskTiles() {
  auto dense = dyn_cast_if_present<DenseAttr>(op.getMaskAttr());
  return dense && dense.getTiles();
}

void StreamingLowering::emitMaskTileWords(const LoopValues &values, Value flags,
                                          Value thread, int64_t threads,
                                          int64_t words) {
  Value summary = maskOps[1];
  ArrayRef<int64_t> shape = cast<MemRefType>(summary.getType()).getShape();
  int64_t summaryWords = shape[3] / 2;
  int64_t rows = std::max<int64_t>(mmaQueryTile / kMaskTile, 1);
  int64_t ratio = keyTile / kMaskTile;
  Type i32 = b.getI32Type();
  auto c32 = [&](uint32_t x) -> Value {
    return arith::ConstantIntOp::create(b, loc, static_cast<int32_t>(x), 32);
  };
  auto orI = [&](Value x, Value y) -> Value {
    return arith::OrIOp::create(b, loc, x, y);
  };
  Value bIndex = shape[0] == 1 ? idx(0) : values.batch;
  Value hIndex = shape[1] == 1 ? idx(0) : values.head;
  Value firstRow =
      arith::DivUIOp::create(b, loc, values.queryBegin, idx(kMaskTile));
  // Word `at` of the summary, or of its rows of this query tile (those
  // past the queries are none).
  auto summaryWord = [&](Value at) -> Value {
    Value word = c32(0);
    for (int64_t r = 0; r < rows; ++r) {
      Value row = arith::AddIOp::create(b, loc, firstRow, idx(r));
      Value inside =
          arith::CmpIOp::create(b, loc, CmpIPredicate::ult, row, idx(shape[2]));
      auto load = scf::IfOp::create(b, loc, TypeRange{i32}, inside,
                                    /*withElseRegion=*/true);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(load.thenBlock());
      scf::YieldOp::create(
          b, loc,
          ValueRange{memref::LoadOp::create(
              b, loc, summary, ValueRange{bIndex, hIndex, row, at})});
      b.setInsertionPointToStart(load.elseBlock());
      scf::YieldOp::create(b, loc, ValueRange{c32(0)});
      b.setInsertionPointAfter(load);
      word = orI(word, load.getResult(0));
    }
    return word;
  };
  // Pairs of 64-key tiles as one 128-key tile: bit k of the low half is
  // bit 2k | bit 2k + 1.
  auto pairs = [&](Value x) -> Value {
    auto step = [&](Value y, int64_t shift, uint32_t keep) -> Value {
      return arith::AndIOp::create(
          b, loc,
          orI(y, arith::ShRUIOp::create(b, loc, y,
                                        c32(static_cast<uint32_t>(shift)))),
          c32(keep));
    };
    x = step(x, 1, 0x55555555u);
    x = step(x, 1, 0x33333333u);
    x = step(x, 2, 0x0f0f0f0fu);
    x = step(x, 4, 0x00ff00ffu);
    return step(x, 8, 0x0000ffffu);
  };
  auto loop = scf::ForOp::create(b, loc, thread, idx(2 * words), idx(threads));
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(loop.getBody());
  Value w = loop.getInductionVar();
  Value which = arith::DivUIOp::create(b, loc, w, idx(words));
  Value k = arith::RemUIOp::create(b, loc, w, idx(words));
  Value base = arith::MulIOp::create(b, loc, which, idx(summaryWords));
  Value word;
  if (ratio == 1) {
    word = summaryWord(arith::AddIOp::create(b, loc, base, k));
  } else {
    // 128-key tiles: summary words 2k and 2k + 1 (the latter may be past
    // the summary's words).
    Value lo = arith::MulIOp::create(b, loc, k, idx(2));
    Value hi = arith::AddIOp::create(b, loc, lo, idx(1));
    Value low = pairs(summaryWord(arith::AddIOp::create(b, loc, base, lo)));
    Value hiInside = arith::CmpIOp::create(b, loc, CmpIPredicate::ult, hi,
                                           idx(summaryWords));
    auto high = scf::IfOp::create(b, loc, TypeRange{i32}, hiInside,
                                  /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard inner(b);
      b.setInsertionPointToStart(high.thenBlock());
      scf::YieldOp::create(b, loc,
                           ValueRange{pairs(summaryWord(
                               arith::AddIOp::create(b, loc, base, hi)))});
      b.setInsertionPointToStart(high.elseBlock());
      scf::YieldOp::create(b, loc, ValueRange{c32(0)});
    }
    word = orI(low, arith::ShLIOp::create(b, loc, high.getResult(0), c32(16)));
  }
  memref::StoreOp::create(b, loc, word, flags, ValueRange{w});
}

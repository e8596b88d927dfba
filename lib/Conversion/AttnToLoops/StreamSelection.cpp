//===- StreamSelection.cpp - selected keys in chunks of 16 ----------------===//
//
// The row form over a key selection (#attn.tokens, #attn.blocks) for the
// softmax normalizations: the row's listed keys are taken 16 at a time.
// Per chunk, 16 dot products (one per gathered key row) become one vector
// of scores; the mask (with the selection assumed true) and the score
// modifiers are evaluated per key; then one online-softmax step for the
// whole chunk: a vector max, one rescale of the accumulator row, one
// vector exp, and P V as 16 FMAs of value rows. Against the per-key row
// form (selectedKeys) this takes the exp, the rescale and the running-max
// update out of the per-key work.
//
//===----------------------------------------------------------------------===//

#include "StreamingLowering.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include <limits>

using namespace mlir;
using namespace mlir::attn;

using arith::CmpIPredicate;

/// Keys per chunk: one f32 vector of scores.
static constexpr int64_t kChunk = 16;

bool StreamingLowering::canChunkSelection() {
  return keySelection && !isa<PyramidAttr>(keySelection->attr) &&
         !ShapedType::isDynamic(staticHeadDim) &&
         isa<SoftmaxAttr, SinkSoftmaxAttr>(op.getNormOrSoftmax());
}

std::pair<Value, Value>
StreamingLowering::emitSelectionChunk(const LoopValues &row, Value g,
                                      ArrayRef<Value> keys,
                                      ArrayRef<Value> valid, Value m, Value l) {
  Type f32 = b.getF32Type();
  auto lanes = VectorType::get({kChunk}, f32);
  Value negInf = this->f32(-std::numeric_limits<double>::infinity());
  // Scores of the chunk; keys ruled out (past the list, outside the keys,
  // or by the rest of the mask) score -inf.
  Value scores = vector::BroadcastOp::create(b, loc, lanes, negInf);
  for (auto [r, key] : llvm::enumerate(keys)) {
    LoopValues values = row;
    values.key = key;
    ElementEmitter emitter(b, loc, values, maskOps);
    emitter.assumeSelected(keySelection->operand);
    Value allowed = arith::AndIOp::create(
        b, loc, valid[r],
        emitter.emitMask(op.getMaskAttr(), op.getPredicate(), captures));
    Value keyRow = loadRow(k, op.getKvLayout(), row.batch, g, key, keyOffset,
                           staticHeadDim);
    Value s = vector::ReductionOp::create(
        b, loc, vector::CombiningKind::ADD,
        arith::MulFOp::create(b, loc, queryRow, keyRow),
        arith::FastMathFlags::reassoc);
    s = arith::MulFOp::create(b, loc, s, scale);
    s = emitter.emitScore(s, op.getScoreAttr(), scoreOps, op.getScoreFn(),
                          captures);
    s = arith::SelectOp::create(b, loc, allowed, s, negInf);
    scores = vector::InsertOp::create(b, loc, s, scores, int64_t(r));
  }
  // One online-softmax step for the chunk.
  Value chunkMax = vector::ReductionOp::create(
      b, loc, vector::CombiningKind::MAXIMUMF, scores);
  Value mNew = arith::MaximumFOp::create(b, loc, m, chunkMax);
  Value none =
      arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, mNew, negInf);
  Value mSafe = arith::SelectOp::create(b, loc, none, this->f32(0.0), mNew);
  Value alpha =
      math::ExpOp::create(b, loc, arith::SubFOp::create(b, loc, m, mSafe));
  Value p = math::ExpOp::create(
      b, loc,
      arith::SubFOp::create(b, loc, scores,
                            vector::BroadcastOp::create(b, loc, lanes, mSafe)));
  Value lNew = arith::AddFOp::create(
      b, loc, arith::MulFOp::create(b, loc, l, alpha),
      vector::ReductionOp::create(b, loc, vector::CombiningKind::ADD, p,
                                  arith::FastMathFlags::reassoc));
  // acc = acc * alpha + sum_r p[r] V[key r].
  auto rowType = VectorType::get({staticValueDim}, f32);
  Value zero = idx(0);
  Value a = arith::MulFOp::create(
      b, loc, vector::LoadOp::create(b, loc, rowType, acc, ValueRange{zero}),
      vector::BroadcastOp::create(b, loc, rowType, alpha));
  for (auto [r, key] : llvm::enumerate(keys)) {
    Value weight = vector::BroadcastOp::create(
        b, loc, rowType, vector::ExtractOp::create(b, loc, p, int64_t(r)));
    Value valueRow = loadRow(v, op.getKvLayout(), row.batch, g, key, keyOffset,
                             staticValueDim);
    a = vector::FMAOp::create(b, loc, weight, valueRow, a);
  }
  vector::StoreOp::create(b, loc, a, acc, ValueRange{zero});
  return {mNew, lNew};
}

StreamingLowering::SelectionRow
StreamingLowering::selectionRow(const LoopValues &row) {
  Value zero = idx(0), one = idx(1);
  SelectionRow list;
  Value counts = maskOps[keySelection->operand];
  list.indices = maskOps[keySelection->operand + 1];
  list.blocks = dyn_cast<BlocksAttr>(keySelection->attr);
  Value listRow = list.blocks
                      ? arith::DivUIOp::create(b, loc, row.query,
                                               idx(list.blocks.getQBlock()))
                            .getResult()
                      : row.query;
  list.group = arith::DivUIOp::create(
      b, loc, row.head,
      arith::DivUIOp::create(b, loc, row.queryHeads, dim(list.indices, 1)));
  list.listRow =
      arith::SelectOp::create(b, loc,
                              arith::CmpIOp::create(b, loc, CmpIPredicate::eq,
                                                    dim(list.indices, 2), one),
                              zero, listRow);
  // Counts past the list's capacity (or below 0) select no more than the
  // list holds, so that bad data cannot read out of bounds.
  Value count = arith::IndexCastOp::create(
      b, loc, b.getIndexType(),
      memref::LoadOp::create(b, loc, counts,
                             ValueRange{row.batch, list.group, list.listRow}));
  list.count = arith::MaxSIOp::create(
      b, loc, arith::MinSIOp::create(b, loc, count, dim(list.indices, 3)),
      zero);
  return list;
}

Value StreamingLowering::selectionEntry(const SelectionRow &list,
                                        const LoopValues &row, Value t) {
  return arith::IndexCastOp::create(
      b, loc, b.getIndexType(),
      memref::LoadOp::create(
          b, loc, list.indices,
          ValueRange{row.batch, list.group, list.listRow, t}));
}

std::pair<Value, Value>
StreamingLowering::streamSelectionChunks(const LoopValues &row, Value g) {
  Value zero = idx(0), one = idx(1);
  SelectionRow selection = selectionRow(row);
  BlocksAttr blocks = selection.blocks;
  Value count = selection.count;
  auto entry = [&](Value t) { return selectionEntry(selection, row, t); };
  Value lastKey = arith::SubIOp::create(b, loc, row.keyLen, one);
  auto inKeys = [&](Value j) -> Value {
    return arith::AndIOp::create(
        b, loc, arith::CmpIOp::create(b, loc, CmpIPredicate::sge, j, zero),
        arith::CmpIOp::create(b, loc, CmpIPredicate::slt, j, row.keyLen));
  };
  // Loads stay in bounds: a key outside [0, Sk) reads key 0 (and scores
  // -inf).
  auto safe = [&](Value j, Value ok) -> Value {
    return arith::SelectOp::create(
        b, loc, ok, arith::MinSIOp::create(b, loc, j, lastKey), zero);
  };
  Value m0 = f32(-std::numeric_limits<double>::infinity()), l0 = f32(0.0);
  // An empty key range (Sk = 0) visits nothing.
  auto hasKeys =
      arith::CmpIOp::create(b, loc, CmpIPredicate::sgt, row.keyLen, zero);
  count = arith::SelectOp::create(b, loc, hasKeys, count, zero);

  // Chunks of 16 lanes over [lb, ub) from (m, l) = init; lane(base, r)
  // gives the lane's key and whether it counts.
  auto chunkLoop = [&](Value lb, Value ub, ValueRange init,
                       auto lane) -> SmallVector<Value> {
    auto chunks = scf::ForOp::create(b, loc, lb, ub, idx(kChunk), init);
    OpBuilder::InsertionGuard chunkGuard(b);
    b.setInsertionPointToStart(chunks.getBody());
    SmallVector<Value> keys, valid;
    for (int64_t r = 0; r < kChunk; ++r) {
      auto [j, ok] = lane(chunks.getInductionVar(), r);
      keys.push_back(safe(j, ok));
      valid.push_back(ok);
    }
    auto [m, l] =
        emitSelectionChunk(row, g, keys, valid, chunks.getRegionIterArgs()[0],
                           chunks.getRegionIterArgs()[1]);
    scf::YieldOp::create(b, loc, ValueRange{m, l});
    return SmallVector<Value>(chunks.getResults());
  };

  if (!blocks) {
    // Tokens: 16 list entries per chunk.
    Value lastEntry = arith::SubIOp::create(b, loc, count, one);
    SmallVector<Value> ml =
        chunkLoop(zero, count, {m0, l0}, [&](Value t0, int64_t r) {
          Value t = arith::AddIOp::create(b, loc, t0, idx(r));
          Value listed =
              arith::CmpIOp::create(b, loc, CmpIPredicate::slt, t, count);
          Value j = entry(arith::MinSIOp::create(b, loc, t, lastEntry));
          return std::make_pair(
              j, arith::AndIOp::create(b, loc, listed, inKeys(j)).getResult());
        });
    return {ml[0], ml[1]};
  }
  // Blocks: the listed key blocks, each in chunks of 16 consecutive keys.
  auto list = scf::ForOp::create(b, loc, zero, count, one, ValueRange{m0, l0});
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(list.getBody());
  int64_t width = blocks.getKBlock();
  auto clamp = [&](Value j) -> Value {
    return arith::MinSIOp::create(
        b, loc, arith::MaxSIOp::create(b, loc, j, zero), row.keyLen);
  };
  Value j0 =
      arith::MulIOp::create(b, loc, entry(list.getInductionVar()), idx(width));
  Value j1 = clamp(arith::AddIOp::create(b, loc, j0, idx(width)));
  SmallVector<Value> ml = chunkLoop(
      clamp(j0), j1, list.getRegionIterArgs(), [&](Value base, int64_t r) {
        Value j = arith::AddIOp::create(b, loc, base, idx(r));
        return std::make_pair(
            j, arith::CmpIOp::create(b, loc, CmpIPredicate::slt, j, j1)
                   .getResult());
      });
  scf::YieldOp::create(b, loc, ml);
  return {list.getResult(0), list.getResult(1)};
}

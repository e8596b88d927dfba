//===- AttentionTopkToGPU.cpp - an attention's top-k on tensor cores ------===//
//
// The top-k step of an attention (H2's retrieval heads, H3's earlier layer;
// attn-split-program{split-topk} gives it a step of its own) with 16-bit
// queries and keys on the score-tile kernel (ScoreTilesToGPU.cpp): a set is
// a (batch, query head), a pair's score is scale q . k followed by the score
// modifiers, as AttentionTopkToLoops.cpp computes it on the CPU (one m16
// tile of A fragments per warp, keys of the head's KV head), the mask and
// its predicate evaluated per pair where the closed form leaves the chunk
// partial. A score of -inf or NaN is no candidate.
//
// Why: in the GPU row form a thread scores a whole row (D multiply-adds per
// key, the row's keys one after the other), which took 159 ms for two
// heads at S = 8K on the H100.
//
//===----------------------------------------------------------------------===//

#include "SelectionKernels.h"
#include "StreamingLowering.h"

#include <cmath>

using namespace mlir;
using namespace mlir::attn;

bool mlir::attn::attentionTopkOnTensorCores(AttentionOp op) {
  auto query = cast<RankedTensorType>(op.getQuery().getType());
  auto key = cast<RankedTensorType>(op.getKey().getType());
  Type element = query.getElementType();
  auto plain = [](Layout layout) {
    return layout == Layout::bhsd || layout == Layout::bshd;
  };
  return op.getTopkIndices() && plain(op.getQLayout()) &&
         plain(op.getKvLayout()) && element == key.getElementType() &&
         (element.isF16() || element.isBF16()) && query.hasStaticShape() &&
         key.hasStaticShape() && query.getDimSize(3) > 0 &&
         query.getDimSize(3) % 32 == 0;
}

namespace {
class AttentionScoring : public TileScoring {
public:
  AttentionScoring(AttentionOp op, RewriterBase &b) : op(op), b(b) {
    auto query = cast<RankedTensorType>(op.getQuery().getType());
    auto key = cast<RankedTensorType>(op.getKey().getType());
    DimOrder qo = dimOrder(op.getQLayout()), ko = dimOrder(op.getKvLayout());
    queryHeads = query.getDimSize(qo.head);
    group = queryHeads / std::max<int64_t>(key.getDimSize(ko.head), 1);
    sets = query.getDimSize(qo.batch) * queryHeads;
    queryLen = query.getDimSize(qo.seq);
    keys = key.getDimSize(ko.seq);
    heads = 1;
    dim = query.getDimSize(3);
    k = cast<RankedTensorType>(op.getTopkIndices().getType()).getShape().back();
    element = query.getElementType();
  }

  void bind(ValueRange inputs, SelectionBuilder &builder) override {
    s = &builder;
    // The op's operands are the spec function's arguments.
    auto input = [&](Value x) {
      return inputs[cast<BlockArgument>(x).getArgNumber()];
    };
    auto all = [&](ValueRange values) {
      return llvm::map_to_vector(values, input);
    };
    q = input(op.getQuery());
    kBuffer = input(op.getKey());
    maskOps = all(op.getMaskOperands());
    scoreOps = all(op.getScoreOperands());
    captures = all(op.getCaptures());
    double given = op.getScale() ? op.getScale()->convertToDouble()
                                 : 1.0 / std::sqrt(static_cast<double>(dim));
    scale = arith::ConstantOp::create(
        b, op.getLoc(), b.getF32FloatAttr(static_cast<float>(given)));
  }
  std::pair<Value, Value> setOf(Value set) override {
    Location loc = op.getLoc();
    Value h = s->idx(queryHeads);
    return {arith::DivUIOp::create(b, loc, set, h),
            arith::RemUIOp::create(b, loc, set, h)};
  }
  Value queryVector(Value bb, Value hh, Value i, int64_t, Value d) override {
    return loadVector16(b, op.getLoc(), q,
                        placeIndices(dimOrder(op.getQLayout()), bb, hh, i, d));
  }
  Value keyVector(Value bb, Value hh, Value j, Value d) override {
    Value g = arith::DivUIOp::create(b, op.getLoc(), hh, s->idx(group));
    return loadVector16(b, op.getLoc(), kBuffer,
                        placeIndices(dimOrder(op.getKvLayout()), bb, g, j, d));
  }
  Value orderedKey(int, ArrayRef<Value> dots, Value bb, Value hh, Value i,
                   Value j, Value valid) override {
    Location loc = op.getLoc();
    Value score = arith::MulFOp::create(b, loc, dots.front(), scale);
    if (op.getScoreAttr() || !op.getScoreFn().empty()) {
      ElementEmitter emitter(b, loc, pairValues(bb, hh, i, j), maskOps);
      score = emitter.emitScore(score, op.getScoreAttr(), scoreOps,
                                op.getScoreFn(), captures);
    }
    // A score of -inf allows nothing; NaN is not a candidate either.
    Value candidate = arith::AndIOp::create(
        b, loc, valid,
        arith::CmpFOp::create(
            b, loc, arith::CmpFPredicate::OGT, score,
            arith::ConstantOp::create(b, loc, b.getF32FloatAttr(-INFINITY))));
    return arith::SelectOp::create(b, loc, candidate, s->orderedKey(score),
                                   s->i32(0));
  }
  std::pair<Value, Value> classify(Value bb, Value hh, Value i0, Value i1,
                                   Value j0, Value j1) override {
    return s->classify(problem(), bb, hh, i0, i1, j0, j1);
  }
  Value allowed(Value bb, Value hh, Value i, Value j) override {
    ElementEmitter emitter(b, op.getLoc(), pairValues(bb, hh, i, j), maskOps);
    return emitter.emitMask(op.getMaskAttr(), op.getPredicate(), captures);
  }
  Value keysEnd(Value bb, Value hh, Value i0, Value i1) override {
    Location loc = op.getLoc();
    Value end = s->hullEnd(problem(), bb, hh, i0, i1);
    return arith::MaxSIOp::create(
        b, loc, arith::MinSIOp::create(b, loc, end, s->idx(keys)), s->idx(0));
  }

private:
  SelectionBuilder::MaskProblem problem() {
    return {op.getMaskAttr(), maskOps, s->idx(queryLen), s->idx(keys),
            s->idx(queryHeads)};
  }
  LoopValues pairValues(Value bb, Value hh, Value i, Value j) {
    return s->pairValues(problem(), bb, hh, i, j, i,
                         arith::AddIOp::create(b, op.getLoc(), i, s->idx(1)));
  }

  AttentionOp op;
  RewriterBase &b;
  SelectionBuilder *s = nullptr;
  int64_t queryHeads = 0, group = 1;
  Value q, kBuffer, scale;
  SmallVector<Value> maskOps, scoreOps, captures;
};
} // namespace

LogicalResult mlir::attn::lowerSelectionToGPU(AttentionOp op, func::FuncOp func,
                                              RewriterBase &b,
                                              bool tensorCores) {
  if (!tensorCores || !attentionTopkOnTensorCores(op))
    return lowerSelectionRowsToGPU(op, func, b);
  if (failed(checkStaticShapes(op)))
    return failure();
  AttentionScoring scoring(op, b);
  return lowerScoreTilesToGPU(op, func, b, scoring);
}

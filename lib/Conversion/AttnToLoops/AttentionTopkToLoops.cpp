//===- AttentionTopkToLoops.cpp - an attention's own top-k keys -----------===//
//
// The `topk` results of `attn.attention` (H2 shared selection, H3
// cross-layer reuse): per (batch, query head, query), the N allowed keys of
// largest probability — the largest scores after the score modifiers, since
// every normalization is monotone in the score — as counts [B, Hq, Sq] and
// ascending indices [B, Hq, Sq, N] padded with -1 (ties to the smaller
// key). They are computed by loops of their own (the mask and the
// modifiers per pair, then the radix select of SelectionBuilder), and the
// attention is rebuilt without them, so the streaming lowering never sees
// them. O(B Hq Sq Sk D), as the attention itself.
//
//===----------------------------------------------------------------------===//

#include "SelectionBuilder.h"
#include "StreamingLowering.h"
#include "mlir/Dialect/Math/IR/Math.h"

#include <cmath>

using namespace mlir;
using namespace mlir::attn;

using arith::CmpFPredicate;

LogicalResult mlir::attn::lowerSelection(AttentionOp op, RewriterBase &b,
                                         RowThreads *threaded) {
  Location loc = op.getLoc();
  Layout ql = op.getQLayout(), kl = op.getKvLayout();
  if (ql == Layout::thd || kl == Layout::paged)
    return op.emitOpError("expected top-k results with the bhsd or bshd "
                          "layouts (not implemented yet for ")
           << stringifyLayout(ql) << "/" << stringifyLayout(kl) << ")";
  auto countsType = cast<RankedTensorType>(op.getTopkCounts().getType());
  auto indicesType = cast<RankedTensorType>(op.getTopkIndices().getType());
  int64_t n = indicesType.getShape().back();
  if (ShapedType::isDynamic(n))
    return op.emitOpError("expected a static number of top-k keys");

  SelectionBuilder s(b, loc, threaded);
  b.setInsertionPoint(op);
  Value q = s.buffer(op.getQuery()), k = s.buffer(op.getKey());
  SmallVector<Value> maskOps = s.buffers(op.getMaskOperands());
  SmallVector<Value> scoreOps = s.buffers(op.getScoreOperands());
  SmallVector<Value> captures(op.getCaptures());
  DimOrder qo = dimOrder(ql), ko = dimOrder(kl);
  Value batch = s.dim(q, qo.batch), heads = s.dim(q, qo.head);
  Value queryLen = s.dim(q, qo.seq), dim = s.dim(q, 3);
  Value keyHeads = s.dim(k, ko.head), keyLen = s.dim(k, ko.seq);
  Value group = arith::DivUIOp::create(b, loc, heads, keyHeads);
  Value scale;
  if (std::optional<APFloat> given = op.getScale())
    scale = arith::ConstantOp::create(
        b, loc, b.getF32FloatAttr(given->convertToDouble()));
  else
    scale = math::RsqrtOp::create(
        b, loc,
        arith::SIToFPOp::create(
            b, loc, b.getF32Type(),
            arith::IndexCastOp::create(b, loc, b.getI64Type(), dim)));
  Value counts = s.allocShaped(countsType, {batch, heads, queryLen});
  Value indices = s.allocShaped(indicesType, {batch, heads, queryLen});
  Value keyRow = s.row(b.getI32Type(), keyLen);
  Value hist =
      memref::AllocaOp::create(b, loc, MemRefType::get({256}, b.getI32Type()));
  Value zero = s.idx(0), one = s.idx(1);
  Value zeroF = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0));
  Value negInf =
      arith::ConstantOp::create(b, loc, b.getF32FloatAttr(-INFINITY));
  auto element = [&](Value buffer, Layout layout, Value bb, Value hh, Value t,
                     Value d) {
    return s.toF32(memref::LoadOp::create(
        b, loc, buffer, placeIndices(dimOrder(layout), bb, hh, t, d)));
  };
  s.loop(zero, batch, {}, [&](Value bb, ValueRange) {
    s.rows(heads, queryLen, [&](Value h, Value i) {
      Value g = arith::DivUIOp::create(b, loc, h, group);
      s.loop(zero, keyLen, {}, [&](Value j, ValueRange) {
        LoopValues values =
            s.pairValues({op.getMaskAttr(), maskOps, queryLen, keyLen, heads},
                         bb, h, i, j, i, arith::AddIOp::create(b, loc, i, one));
        ElementEmitter emitter(b, loc, values, maskOps);
        Value allowed =
            emitter.emitMask(op.getMaskAttr(), op.getPredicate(), captures);
        Value score = s.ifThen(allowed, {negInf}, [&] {
          Value dot = s.loop(zero, dim, {zeroF}, [&](Value d, ValueRange acc) {
            return SmallVector<Value>{arith::AddFOp::create(
                b, loc, acc[0],
                arith::MulFOp::create(b, loc, element(q, ql, bb, h, i, d),
                                      element(k, kl, bb, g, j, d)))};
          })[0];
          ElementEmitter scores(b, loc, values, maskOps);
          return SmallVector<Value>{scores.emitScore(
              arith::MulFOp::create(b, loc, dot, scale), op.getScoreAttr(),
              scoreOps, op.getScoreFn(), captures)};
        })[0];
        // A score of -inf allows nothing; NaN is not a candidate either.
        Value candidate =
            arith::CmpFOp::create(b, loc, CmpFPredicate::OGT, score, negInf);
        Value key = arith::SelectOp::create(b, loc, candidate,
                                            s.orderedKey(score), s.i32(0));
        memref::StoreOp::create(b, loc, key, keyRow, ValueRange{j});
        return SmallVector<Value>{};
      });
      Value count = s.selectTop(keyRow, keyLen, n, hist, indices, {bb, h, i});
      memref::StoreOp::create(b, loc, count, counts, ValueRange{bb, h, i});
    });
    return SmallVector<Value>{};
  });

  Value topkCounts = s.toTensor(counts, countsType);
  Value topkIndices = s.toTensor(indices, indicesType);
  // Only the top-k results used (a program's top-k step): no attention.
  if (op.getOutput().use_empty() && (!op.getLse() || op.getLse().use_empty())) {
    b.replaceAllUsesWith(op.getTopkCounts(), topkCounts);
    b.replaceAllUsesWith(op.getTopkIndices(), topkIndices);
    b.eraseOp(op);
    return success();
  }
  // The attention without its top-k results.
  AttentionOp attention =
      buildAttentionWithoutTopk(b, op, /*moveRegions=*/true);
  SmallVector<Value> results = {attention.getOutput()};
  if (op.getLse())
    results.push_back(attention.getLse());
  results.push_back(topkCounts);
  results.push_back(topkIndices);
  b.replaceOp(op, results);
  return success();
}

//===- StreamPyramid.cpp - the row form under #attn.pyramid ---------------===//
//
// D6 pyramid pooled KV. The levels tensor gives each (query block, key
// block) pair a level l (or -1: dropped). At level l the key block is read
// in groups of 2^l consecutive keys; within a group, the keys A that the
// rest of the mask allows with a finite score all take the group's mean
// score s = mean_{j in A} s_j. For softmax that is exactly attention to one
// key with the mean-pooled K and V of A whose score gains ln |A| (PSA's
// pooled KV, with the log of the number of tokens a pooled key stands
// for); level 0 is plain attention. Defined on scores, it composes with
// every score modifier and normalization as any mask does.
//
// Per row: the row's query block's levels; per kept key block, per group,
// a first pass scores the members (kept in `pyramidScores`, -inf where not
// allowed) and sums them, a second pass folds the allowed members with the
// mean score. Dropped blocks cost one byte load.
//
//===----------------------------------------------------------------------===//

#include "StreamingLowering.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include <limits>

using namespace mlir;
using namespace mlir::attn;

using arith::CmpFPredicate;
using arith::CmpIPredicate;

SmallVector<Value> StreamingLowering::pyramidKeys(const LoopValues &row,
                                                  Value g, ValueRange init,
                                                  Update update) {
  auto pyramid = cast<PyramidAttr>(keySelection->attr);
  Value levels = maskOps[keySelection->operand];
  int64_t kBlock = pyramid.getKBlock();
  Value zero = idx(0), one = idx(1);
  Value zeroF = f32(0.0), oneF = f32(1.0);
  Value negInf = f32(-std::numeric_limits<double>::infinity());
  SmallVector<Type> types(ValueRange(init).getTypes());
  auto yield = [&](ValueRange values) { yieldUnlessTerminated(values); };
  // `then` when `cond`, else `state` unchanged.
  auto ifThen = [&](Value cond, ValueRange state,
                    function_ref<SmallVector<Value>()> then) {
    auto ifOp = scf::IfOp::create(b, loc, types, cond, /*withElseRegion=*/true);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifOp.elseBlock());
    yield(state);
    b.setInsertionPointToStart(ifOp.thenBlock());
    yield(then());
    return SmallVector<Value>(ifOp.getResults());
  };
  auto forEach = [&](Value lb, Value ub, Value step, ValueRange state,
                     function_ref<SmallVector<Value>(Value, ValueRange)> body) {
    auto loop = scf::ForOp::create(b, loc, lb, ub, step, state);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    yield(body(loop.getInductionVar(), loop.getRegionIterArgs()));
    return SmallVector<Value>(loop.getResults());
  };

  // The row's levels: head group h / (Hq / G); a size-1 query block
  // dimension is shared by all rows. Blocks past the tensor are dropped,
  // levels above max_level read as max_level.
  Value group = arith::DivUIOp::create(
      b, loc, row.head,
      arith::DivUIOp::create(b, loc, row.queryHeads, dim(levels, 1)));
  Value queryBlock = arith::SelectOp::create(
      b, loc,
      arith::CmpIOp::create(b, loc, CmpIPredicate::eq, dim(levels, 2), one),
      zero,
      arith::DivUIOp::create(b, loc, row.query, idx(pyramid.getQBlock())));
  Value blocks = arith::MinSIOp::create(
      b, loc, arith::CeilDivSIOp::create(b, loc, row.keyLen, idx(kBlock)),
      dim(levels, 3));
  return forEach(zero, blocks, one, init, [&](Value kb, ValueRange state) {
    Value level = arith::MinSIOp::create(
        b, loc,
        arith::IndexCastOp::create(
            b, loc, b.getIndexType(),
            memref::LoadOp::create(
                b, loc, levels, ValueRange{row.batch, group, queryBlock, kb})),
        idx(pyramid.getMaxLevel()));
    Value kept = arith::CmpIOp::create(b, loc, CmpIPredicate::sge, level, zero);
    return ifThen(kept, state, [&] {
      Value size = arith::ShLIOp::create(b, loc, one, level);
      Value j0 = arith::MulIOp::create(b, loc, kb, idx(kBlock));
      Value j1 = arith::MinSIOp::create(
          b, loc, arith::AddIOp::create(b, loc, j0, idx(kBlock)), row.keyLen);
      return forEach(j0, j1, size, state, [&](Value g0, ValueRange state) {
        Value g1 = arith::MinSIOp::create(
            b, loc, arith::AddIOp::create(b, loc, g0, size), j1);
        auto member = [&](Value j) {
          LoopValues values = row;
          values.key = j;
          return values;
        };
        auto slot = [&](Value j) -> Value {
          return arith::SubIOp::create(b, loc, j, g0);
        };
        // Pass 1: the members' scores (-inf: not allowed), count and sum.
        auto firstPass =
            scf::ForOp::create(b, loc, g0, g1, one, ValueRange{zeroF, zeroF});
        {
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPointToStart(firstPass.getBody());
          Value j = firstPass.getInductionVar();
          LoopValues values = member(j);
          auto scored = scf::IfOp::create(b, loc, TypeRange{b.getF32Type()},
                                          keyAllowed(values),
                                          /*withElseRegion=*/true);
          b.setInsertionPointToStart(scored.thenBlock());
          scf::YieldOp::create(b, loc, keyScore(values, g));
          b.setInsertionPointToStart(scored.elseBlock());
          scf::YieldOp::create(b, loc, negInf);
          b.setInsertionPointAfter(scored);
          Value s = scored.getResult(0);
          memref::StoreOp::create(b, loc, s, pyramidScores,
                                  ValueRange{slot(j)});
          Value ok =
              arith::CmpFOp::create(b, loc, CmpFPredicate::OGT, s, negInf);
          ValueRange acc = firstPass.getRegionIterArgs();
          scf::YieldOp::create(
              b, loc,
              ValueRange{arith::AddFOp::create(
                             b, loc, acc[0],
                             arith::SelectOp::create(b, loc, ok, oneF, zeroF)),
                         arith::AddFOp::create(
                             b, loc, acc[1],
                             arith::SelectOp::create(b, loc, ok, s, zeroF))});
        }
        Value count = firstPass.getResult(0);
        Value any =
            arith::CmpFOp::create(b, loc, CmpFPredicate::OGT, count, zeroF);
        // Pass 2: the allowed members with the group's mean score.
        return ifThen(any, state, [&] {
          Value mean =
              arith::DivFOp::create(b, loc, firstPass.getResult(1), count);
          return forEach(g0, g1, one, state, [&](Value j, ValueRange state) {
            Value s = memref::LoadOp::create(b, loc, pyramidScores,
                                             ValueRange{slot(j)});
            Value ok =
                arith::CmpFOp::create(b, loc, CmpFPredicate::OGT, s, negInf);
            return ifThen(ok, state,
                          [&] { return update(mean, member(j), state); });
          });
        });
      });
    });
  });
}

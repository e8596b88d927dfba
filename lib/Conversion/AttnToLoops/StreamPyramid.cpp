//===- StreamPyramid.cpp - attention under #attn.pyramid ------------------===//
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
// The row form, per row: the row's query block's levels; per kept key
// block, per group, a first pass scores the members (kept in
// `pyramidScores`, -inf where not allowed) and sums them, a second pass
// folds the allowed members with the mean score. Dropped blocks cost one
// byte load.
//
// The tensor-core body (blocks of whole 64 x 64 tiles, groups of at most a
// tile): the levels are a runtime tile test (a dropped block pair's tile is
// neither copied nor computed), and a visited tile's scores, masked, are
// replaced by their groups' means before the online softmax. A group of 2^l
// keys is a lane's column pair (l = 1), the quad's lanes (xor shuffles,
// l = 2, 3) and then n-tiles of 8 keys (l = 4 .. 6): the (count, sum) of
// the allowed scores is combined step by step and the tile's level picks
// the step. Mean scores in raw or base-2 units are the same mean: both are
// the natural scores times a positive constant.
//
//===----------------------------------------------------------------------===//

#include "StreamingLowering.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

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

bool StreamingLowering::mmaPyramid() const {
  return useMMA && keySelection && isa<PyramidAttr>(keySelection->attr);
}

SmallVector<Value> StreamingLowering::pyramidMeansMMA(const LoopValues &values,
                                                      ArrayRef<Value> s,
                                                      Value j0) {
  auto pyramid = cast<PyramidAttr>(keySelection->attr);
  Value levels = maskOps[keySelection->operand];
  Value zeroF = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0));
  Value oneF = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(1.0));
  Value negInf = arith::ConstantOp::create(
      b, loc, b.getF32FloatAttr(-std::numeric_limits<double>::infinity()));
  // The tile's level (its block pair's, visited: >= 0), at most max_level.
  ElementEmitter emitter(b, loc, values, maskOps);
  Value kb = arith::MinSIOp::create(
      b, loc, arith::DivUIOp::create(b, loc, j0, idx(pyramid.getKBlock())),
      arith::SubIOp::create(b, loc, dim(levels, 3), idx(1)));
  Value level = arith::MinSIOp::create(
      b, loc,
      arith::IndexCastOp::create(
          b, loc, b.getIndexType(),
          emitter.loadBroadcast(
              levels,
              {values.batch, values.head,
               arith::DivUIOp::create(b, loc, values.queryBegin,
                                      idx(pyramid.getQBlock())),
               kb},
              {false, false, true, false}, {false, true, false, false})),
      idx(pyramid.getMaxLevel()));
  auto pooled = scf::IfOp::create(
      b, loc, ValueRange(s).getTypes(),
      arith::CmpIOp::create(b, loc, CmpIPredicate::sgt, level, idx(0)),
      /*withElseRegion=*/true);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(pooled.elseBlock());
  scf::YieldOp::create(b, loc, s);
  b.setInsertionPointToStart(pooled.thenBlock());
  int64_t tiles = s.size(), maxLevel = pyramid.getMaxLevel();
  auto add = [&](Value x, Value y) -> Value {
    return arith::AddFOp::create(b, loc, x, y);
  };
  auto shuffled = [&](Value x, int32_t offset) -> Value {
    return gpu::ShuffleOp::create(b, loc, x, offset, 32, gpu::ShuffleMode::XOR)
        .getShuffleResult();
  };
  SmallVector<Value> result(s.begin(), s.end());
  for (int64_t r = 0; r < 2; ++r) {
    // Per n-tile and column: the score and whether it is allowed.
    SmallVector<Value> x, ok;
    for (int64_t n = 0; n < tiles; ++n)
      for (int64_t c = 0; c < 2; ++c) {
        x.push_back(
            vector::ExtractOp::create(b, loc, s[n], ArrayRef<int64_t>{r, c}));
        ok.push_back(arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT,
                                           x.back(), negInf));
      }
    // (count, sum) per n-tile after each step, and at the tile's level.
    SmallVector<Value> count(tiles), sum(tiles), atCount(tiles), atSum(tiles);
    for (int64_t n = 0; n < tiles; ++n) {
      count[n] =
          add(arith::SelectOp::create(b, loc, ok[2 * n], oneF, zeroF),
              arith::SelectOp::create(b, loc, ok[2 * n + 1], oneF, zeroF));
      sum[n] = add(
          arith::SelectOp::create(b, loc, ok[2 * n], x[2 * n], zeroF),
          arith::SelectOp::create(b, loc, ok[2 * n + 1], x[2 * n + 1], zeroF));
    }
    for (int64_t l = 1; l <= maxLevel; ++l) {
      if (l == 2 || l == 3) {
        for (int64_t n = 0; n < tiles; ++n) {
          int32_t offset = l == 2 ? 1 : 2;
          count[n] = add(count[n], shuffled(count[n], offset));
          sum[n] = add(sum[n], shuffled(sum[n], offset));
        }
      } else if (l >= 4) {
        int64_t other = int64_t(1) << (l - 4);
        SmallVector<Value> nextCount(count), nextSum(sum);
        for (int64_t n = 0; n < tiles; ++n) {
          nextCount[n] = add(count[n], count[n ^ other]);
          nextSum[n] = add(sum[n], sum[n ^ other]);
        }
        count = nextCount;
        sum = nextSum;
      }
      Value here =
          arith::CmpIOp::create(b, loc, CmpIPredicate::eq, level, idx(l));
      for (int64_t n = 0; n < tiles; ++n) {
        atCount[n] =
            l == 1 ? count[n]
                   : arith::SelectOp::create(b, loc, here, count[n], atCount[n])
                         .getResult();
        atSum[n] = l == 1
                       ? sum[n]
                       : arith::SelectOp::create(b, loc, here, sum[n], atSum[n])
                             .getResult();
      }
    }
    for (int64_t n = 0; n < tiles; ++n) {
      Value mean = arith::DivFOp::create(b, loc, atSum[n], atCount[n]);
      for (int64_t c = 0; c < 2; ++c)
        result[n] = vector::InsertOp::create(
            b, loc,
            arith::SelectOp::create(b, loc, ok[2 * n + c], mean, negInf),
            result[n], ArrayRef<int64_t>{r, c});
    }
  }
  scf::YieldOp::create(b, loc, result);
  return SmallVector<Value>(pooled.getResults());
}

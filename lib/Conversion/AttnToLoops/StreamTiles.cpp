//===- StreamTiles.cpp - the tile body of the streaming loop nest ---------===//
//
// Computes a whole query tile per work item, FlashAttention-2 style, on
// f32 tile buffers in vector registers:
//
//   qT = scale * Q[i0:i0+Tq]                       (once per query tile)
//   for each key tile the classification keeps:
//     kT = K[j0:j0+Tk]^T, vT = V[j0:j0+Tk]          (16x16 transposes)
//     sT = qT kT                                    (register-blocked FMAs)
//     score modifiers; mask on partial/tail tiles   (element pass)
//     m' = max(m, rowmax sT); P = exp(sT - m')      (vector exp per row)
//     acc = acc * exp(m - m') + P vT                (register-blocked FMAs)
//   O = acc / l (finalizeRow, shared with the row form)
//
// Vectors run along keys for scores and along Dv for the accumulator, so
// any static D works; the key tile must be whole vectors. Tails need no
// branches: query rows past the end repeat the last row and are never
// stored, keys past the end repeat the last key and get a -inf score.
//
//===----------------------------------------------------------------------===//

#include "StreamingLowering.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include <limits>

using namespace mlir;
using namespace mlir::attn;

using arith::CmpFPredicate;
using arith::CmpIPredicate;

/// f32 lanes per vector: one AVX-512 register (two AVX2 registers).
static constexpr int64_t kLanes = 16;
/// Accumulators kept in registers by the blocked FMA loops.
static constexpr int64_t kAccumulators = 16;
static constexpr double kInf = std::numeric_limits<double>::infinity();

static int64_t roundUp(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

/// The largest power of two <= `limit` that divides `n`.
static int64_t rowBlock(int64_t n, int64_t limit) {
  int64_t r = 1;
  while (r * 2 <= limit && n % (r * 2) == 0)
    r *= 2;
  return r;
}

namespace {
/// scf.for with loop-carried values built by a callback.
template <typename Body>
SmallVector<Value> forLoop(OpBuilder &b, Location loc, Value lb, Value ub,
                           Value step, ValueRange init, Body body) {
  auto loop = scf::ForOp::create(b, loc, lb, ub, step, init);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(loop.getBody());
  SmallVector<Value> next =
      body(loop.getInductionVar(), ValueRange(loop.getRegionIterArgs()));
  if (!init.empty())
    scf::YieldOp::create(b, loc, next);
  return SmallVector<Value>(loop.getResults().begin(), loop.getResults().end());
}
} // namespace

bool StreamingLowering::canStreamTiles() {
  if (!tileBody || ShapedType::isDynamic(staticHeadDim) ||
      ShapedType::isDynamic(staticValueDim) || keyTile % kLanes != 0)
    return false;
  // Softmax, sink softmax and sigmoid attention need only (m, l) per row;
  // N3 and N4 keep the row form.
  Attribute norm = op.getNormOrSoftmax();
  return isa<SoftmaxAttr, SinkSoftmaxAttr, SigmoidAttr>(norm);
}

void StreamingLowering::allocateTileBuffers() {
  paddedHeadDim = roundUp(staticHeadDim, kLanes);
  paddedValueDim = roundUp(staticValueDim, kLanes);
  auto buffer = [&](ArrayRef<int64_t> shape) -> Value {
    return memref::AllocaOp::create(
        b, loc, MemRefType::get(shape, b.getF32Type()), ValueRange{},
        b.getI64IntegerAttr(64));
  };
  tb.q = buffer({queryTile, staticHeadDim});
  tb.kT = buffer({paddedHeadDim, keyTile});
  tb.v = buffer({keyTile, paddedValueDim});
  tb.s = buffer({queryTile, keyTile});
  tb.acc = buffer({queryTile, paddedValueDim});
  tb.m = buffer({queryTile});
  tb.l = buffer({queryTile});
  tb.alpha = buffer({queryTile});
  // Padding columns of the value tile stay zero.
  if (paddedValueDim != staticValueDim) {
    auto type = VectorType::get({paddedValueDim}, b.getF32Type());
    Value zeros = arith::ConstantOp::create(b, loc, b.getZeroAttr(type));
    forLoop(b, loc, idx(0), idx(keyTile), idx(1), {},
            [&](Value j, ValueRange) -> SmallVector<Value> {
              vector::StoreOp::create(b, loc, zeros, tb.v,
                                      ValueRange{j, idx(0)});
              return {};
            });
  }
}

void StreamingLowering::packKeyTile(const LoopValues &values, Value g,
                                    Value j0, Value j1) {
  Type f32Type = b.getF32Type();
  auto laneType = VectorType::get({kLanes}, f32Type);
  Value last = arith::SubIOp::create(b, loc, j1, idx(1));
  auto keyAt = [&](Value jj) -> Value {
    return arith::MinSIOp::create(b, loc,
                                  arith::AddIOp::create(b, loc, j0, jj), last);
  };
  Layout layout = op.getKvLayout();
  Type kElement = cast<MemRefType>(k.getType()).getElementType();
  // K: blocks of 16 keys x 16 dims, transposed in registers.
  forLoop(
      b, loc, idx(0), idx(keyTile), idx(kLanes), {},
      [&](Value jb, ValueRange) -> SmallVector<Value> {
        SmallVector<Value> keys;
        for (int64_t r = 0; r < kLanes; ++r)
          keys.push_back(keyAt(arith::AddIOp::create(b, loc, jb, idx(r))));
        for (int64_t d0 = 0; d0 < paddedHeadDim; d0 += kLanes) {
          int64_t width = std::min(kLanes, staticHeadDim - d0);
          Value block = arith::ConstantOp::create(
              b, loc,
              b.getZeroAttr(VectorType::get({kLanes, kLanes}, f32Type)));
          for (int64_t r = 0; r < kLanes; ++r) {
            Value row = vector::LoadOp::create(
                b, loc, VectorType::get({width}, kElement), k,
                indices(layout, values.batch, g, keys[r], idx(d0), keyOffset));
            if (!kElement.isF32())
              row = arith::ExtFOp::create(
                  b, loc, VectorType::get({width}, f32Type), row);
            if (width != kLanes)
              row = vector::InsertStridedSliceOp::create(
                  b, loc, row,
                  arith::ConstantOp::create(b, loc, b.getZeroAttr(laneType)),
                  ArrayRef<int64_t>{0}, ArrayRef<int64_t>{1});
            block = vector::InsertOp::create(b, loc, row, block,
                                             ArrayRef<int64_t>{r});
          }
          Value transposed = vector::TransposeOp::create(
              b, loc, block, ArrayRef<int64_t>{1, 0});
          for (int64_t d = 0; d < kLanes; ++d)
            vector::StoreOp::create(
                b, loc,
                vector::ExtractOp::create(b, loc, transposed,
                                          ArrayRef<int64_t>{d}),
                tb.kT, ValueRange{idx(d0 + d), jb});
        }
        return {};
      });
  // V: row by row.
  forLoop(b, loc, idx(0), idx(keyTile), idx(1), {},
          [&](Value jj, ValueRange) -> SmallVector<Value> {
            Value row = loadRow(v, layout, values.batch, g, keyAt(jj),
                                keyOffset, staticValueDim);
            vector::StoreOp::create(b, loc, row, tb.v,
                                    ValueRange{jj, idx(0)});
            return {};
          });
}

void StreamingLowering::emitScoreTile(Value rows) {
  auto laneType = VectorType::get({kLanes}, b.getF32Type());
  int64_t vectors = keyTile / kLanes;
  int64_t groupVectors = std::min<int64_t>(vectors, 4);
  int64_t rowsPerBlock = rowBlock(queryTile, kAccumulators / groupVectors);
  forLoop(
      b, loc, idx(0), rows, idx(rowsPerBlock), {},
      [&](Value r0, ValueRange) -> SmallVector<Value> {
        SmallVector<Value> rowIndex;
        for (int64_t r = 0; r < rowsPerBlock; ++r)
          rowIndex.push_back(arith::AddIOp::create(b, loc, r0, idx(r)));
        for (int64_t c0 = 0; c0 < vectors; c0 += groupVectors) {
          int64_t width = std::min(groupVectors, vectors - c0);
          Value zeros = arith::ConstantOp::create(b, loc,
                                                  b.getZeroAttr(laneType));
          SmallVector<Value> init(rowsPerBlock * width, zeros);
          SmallVector<Value> sums = forLoop(
              b, loc, idx(0), idx(staticHeadDim), idx(1), init,
              [&](Value d, ValueRange acc) -> SmallVector<Value> {
                SmallVector<Value> keys;
                for (int64_t c = 0; c < width; ++c)
                  keys.push_back(vector::LoadOp::create(
                      b, loc, laneType, tb.kT,
                      ValueRange{d, idx((c0 + c) * kLanes)}));
                SmallVector<Value> next;
                for (int64_t r = 0; r < rowsPerBlock; ++r) {
                  Value qd = vector::BroadcastOp::create(
                      b, loc, laneType,
                      memref::LoadOp::create(b, loc, tb.q,
                                             ValueRange{rowIndex[r], d}));
                  for (int64_t c = 0; c < width; ++c)
                    next.push_back(vector::FMAOp::create(
                        b, loc, qd, keys[c], acc[r * width + c]));
                }
                return next;
              });
          for (int64_t r = 0; r < rowsPerBlock; ++r)
            for (int64_t c = 0; c < width; ++c)
              vector::StoreOp::create(
                  b, loc, sums[r * width + c], tb.s,
                  ValueRange{rowIndex[r], idx((c0 + c) * kLanes)});
        }
        return {};
      });
}

void StreamingLowering::emitElementPass(const LoopValues &values, Value j0,
                                        Value keysValid, Value full) {
  Type f32Type = b.getF32Type();
  Value rows = arith::SubIOp::create(b, loc, values.queryEnd, values.queryBegin);
  forLoop(
      b, loc, idx(0), rows, idx(1), {},
      [&](Value i, ValueRange) -> SmallVector<Value> {
        forLoop(
            b, loc, idx(0), idx(keyTile), idx(1), {},
            [&](Value jj, ValueRange) -> SmallVector<Value> {
              LoopValues at = values;
              at.query = arith::AddIOp::create(b, loc, values.queryBegin, i);
              at.key = arith::AddIOp::create(b, loc, j0, jj);
              ElementEmitter emitter(b, loc, at, maskOps);
              Value inRange = arith::CmpIOp::create(b, loc, CmpIPredicate::slt,
                                                    jj, keysValid);
              // The mask is evaluated only for keys that exist, and only on
              // tiles that are not full.
              auto allowed = scf::IfOp::create(b, loc, b.getI1Type(), inRange,
                                               /*withElseRegion=*/true);
              {
                OpBuilder::InsertionGuard guard(b);
                b.setInsertionPointToStart(allowed.elseBlock());
                scf::YieldOp::create(
                    b, loc, ValueRange{arith::ConstantIntOp::create(b, loc, 0, 1)});
                b.setInsertionPointToStart(allowed.thenBlock());
                auto masked = scf::IfOp::create(b, loc, b.getI1Type(), full,
                                                /*withElseRegion=*/true);
                b.setInsertionPointToStart(masked.thenBlock());
                scf::YieldOp::create(
                    b, loc, ValueRange{arith::ConstantIntOp::create(b, loc, 1, 1)});
                b.setInsertionPointToStart(masked.elseBlock());
                scf::YieldOp::create(b, loc,
                                     emitter.emitMask(op.getMaskAttr(),
                                                      op.getPredicate(),
                                                      captures));
                b.setInsertionPointAfter(masked);
                scf::YieldOp::create(b, loc, masked.getResults());
              }
              auto score = scf::IfOp::create(b, loc, f32Type,
                                             allowed.getResult(0),
                                             /*withElseRegion=*/true);
              {
                OpBuilder::InsertionGuard guard(b);
                b.setInsertionPointToStart(score.elseBlock());
                scf::YieldOp::create(b, loc, ValueRange{f32(-kInf)});
                b.setInsertionPointToStart(score.thenBlock());
                Value s = memref::LoadOp::create(b, loc, tb.s, ValueRange{i, jj});
                s = emitter.emitScore(s, op.getScoreAttr(), scoreOps,
                                      op.getScoreFn(), captures);
                scf::YieldOp::create(b, loc, ValueRange{s});
              }
              memref::StoreOp::create(b, loc, score.getResult(0), tb.s,
                                      ValueRange{i, jj});
              return {};
            });
        return {};
      });
}

void StreamingLowering::emitTileSoftmax(Value rows, Value sigmoidBias) {
  auto laneType = VectorType::get({kLanes}, b.getF32Type());
  int64_t vectors = keyTile / kLanes;
  Value negInf = f32(-kInf), zeroF = f32(0.0), oneF = f32(1.0);
  forLoop(
      b, loc, idx(0), rows, idx(1), {},
      [&](Value i, ValueRange) -> SmallVector<Value> {
        SmallVector<Value> scores;
        Value rowMax;
        for (int64_t c = 0; c < vectors; ++c) {
          scores.push_back(vector::LoadOp::create(
              b, loc, laneType, tb.s, ValueRange{i, idx(c * kLanes)}));
          rowMax = rowMax ? arith::MaxNumFOp::create(b, loc, rowMax, scores[c])
                                .getResult()
                          : scores[c];
        }
        Value tileMax = vector::ReductionOp::create(
            b, loc, vector::CombiningKind::MAXNUMF, rowMax);
        Value m = memref::LoadOp::create(b, loc, tb.m, ValueRange{i});
        Value mNew = arith::MaxNumFOp::create(b, loc, m, tileMax);
        // No allowed key yet: every exponent is of -inf and gives 0.
        Value none = arith::CmpFOp::create(b, loc, CmpFPredicate::OEQ, mNew,
                                           negInf);
        Value mSafe = arith::SelectOp::create(b, loc, none, zeroF, mNew);
        Value alpha = math::ExpOp::create(
            b, loc, arith::SubFOp::create(b, loc, m, mSafe));
        Value mBroadcast = vector::BroadcastOp::create(b, loc, laneType, mSafe);
        Value sum;
        for (int64_t c = 0; c < vectors; ++c) {
          Value p = math::ExpOp::create(
              b, loc, arith::SubFOp::create(b, loc, scores[c], mBroadcast));
          sum = sum ? arith::AddFOp::create(b, loc, sum, p).getResult() : p;
          Value weight = p;
          if (sigmoidBias) {
            // Sigmoid attention accumulates sigmoid(s + bias), unscaled.
            Value x = arith::AddFOp::create(
                b, loc, scores[c],
                vector::BroadcastOp::create(b, loc, laneType, sigmoidBias));
            Value one = vector::BroadcastOp::create(b, loc, laneType, oneF);
            weight = arith::DivFOp::create(
                b, loc, one,
                arith::AddFOp::create(
                    b, loc, one,
                    math::ExpOp::create(b, loc,
                                        arith::NegFOp::create(b, loc, x))));
          }
          vector::StoreOp::create(b, loc, weight, tb.s,
                                  ValueRange{i, idx(c * kLanes)});
        }
        Value tileSum = vector::ReductionOp::create(
            b, loc, vector::CombiningKind::ADD, sum);
        Value l = memref::LoadOp::create(b, loc, tb.l, ValueRange{i});
        memref::StoreOp::create(
            b, loc,
            arith::AddFOp::create(b, loc,
                                  arith::MulFOp::create(b, loc, l, alpha),
                                  tileSum),
            tb.l, ValueRange{i});
        memref::StoreOp::create(b, loc, mNew, tb.m, ValueRange{i});
        memref::StoreOp::create(b, loc, sigmoidBias ? oneF : alpha, tb.alpha,
                                ValueRange{i});
        return {};
      });
}

void StreamingLowering::emitValueTile(Value rows) {
  auto laneType = VectorType::get({kLanes}, b.getF32Type());
  int64_t vectors = paddedValueDim / kLanes;
  int64_t groupVectors = std::min<int64_t>(vectors, 8);
  int64_t rowsPerBlock = rowBlock(queryTile, kAccumulators / groupVectors);
  forLoop(
      b, loc, idx(0), rows, idx(rowsPerBlock), {},
      [&](Value r0, ValueRange) -> SmallVector<Value> {
        SmallVector<Value> rowIndex;
        for (int64_t r = 0; r < rowsPerBlock; ++r)
          rowIndex.push_back(arith::AddIOp::create(b, loc, r0, idx(r)));
        for (int64_t c0 = 0; c0 < vectors; c0 += groupVectors) {
          int64_t width = std::min(groupVectors, vectors - c0);
          SmallVector<Value> init;
          for (int64_t r = 0; r < rowsPerBlock; ++r) {
            Value alpha = vector::BroadcastOp::create(
                b, loc, laneType,
                memref::LoadOp::create(b, loc, tb.alpha,
                                       ValueRange{rowIndex[r]}));
            for (int64_t c = 0; c < width; ++c)
              init.push_back(arith::MulFOp::create(
                  b, loc,
                  vector::LoadOp::create(
                      b, loc, laneType, tb.acc,
                      ValueRange{rowIndex[r], idx((c0 + c) * kLanes)}),
                  alpha));
          }
          SmallVector<Value> sums = forLoop(
              b, loc, idx(0), idx(keyTile), idx(1), init,
              [&](Value jj, ValueRange acc) -> SmallVector<Value> {
                SmallVector<Value> valueRows;
                for (int64_t c = 0; c < width; ++c)
                  valueRows.push_back(vector::LoadOp::create(
                      b, loc, laneType, tb.v,
                      ValueRange{jj, idx((c0 + c) * kLanes)}));
                SmallVector<Value> next;
                for (int64_t r = 0; r < rowsPerBlock; ++r) {
                  Value p = vector::BroadcastOp::create(
                      b, loc, laneType,
                      memref::LoadOp::create(b, loc, tb.s,
                                             ValueRange{rowIndex[r], jj}));
                  for (int64_t c = 0; c < width; ++c)
                    next.push_back(vector::FMAOp::create(
                        b, loc, p, valueRows[c], acc[r * width + c]));
                }
                return next;
              });
          for (int64_t r = 0; r < rowsPerBlock; ++r)
            for (int64_t c = 0; c < width; ++c)
              vector::StoreOp::create(
                  b, loc, sums[r * width + c], tb.acc,
                  ValueRange{rowIndex[r], idx((c0 + c) * kLanes)});
        }
        return {};
      });
}

void StreamingLowering::emitQueryTile(ElementEmitter &emitter,
                                      const LoopValues &values, Value g,
                                      const Bounds &tiles, const Bounds &core) {
  Type f32Type = b.getF32Type();
  Value zero = idx(0), one = idx(1);
  Value negInf = f32(-kInf), zeroF = f32(0.0);
  // Row loops run over whole register blocks; the extra rows repeat the
  // last query row and are never stored.
  int64_t block = std::max(
      rowBlock(queryTile, kAccumulators / std::min<int64_t>(keyTile / kLanes, 4)),
      rowBlock(queryTile,
               kAccumulators / std::min<int64_t>(paddedValueDim / kLanes, 8)));
  Value rowsValid =
      arith::SubIOp::create(b, loc, values.queryEnd, values.queryBegin);
  Value rows = arith::MinSIOp::create(
      b, loc,
      arith::MulIOp::create(
          b, loc, arith::CeilDivSIOp::create(b, loc, rowsValid, idx(block)),
          idx(block)),
      idx(queryTile));
  Value lastRow = arith::SubIOp::create(b, loc, values.queryEnd, one);

  // The scaled query tile and fresh statistics.
  auto qType = VectorType::get({staticHeadDim}, f32Type);
  Value scaleVector = vector::BroadcastOp::create(b, loc, qType, scale);
  auto accType = VectorType::get({paddedValueDim}, f32Type);
  Value accZeros = arith::ConstantOp::create(b, loc, b.getZeroAttr(accType));
  forLoop(b, loc, zero, idx(queryTile), one, {},
          [&](Value i, ValueRange) -> SmallVector<Value> {
            Value row = arith::MinSIOp::create(
                b, loc, arith::AddIOp::create(b, loc, values.queryBegin, i),
                lastRow);
            Value qRow = loadRow(q, op.getQLayout(), values.batch, values.head,
                                 row, queryOffset, staticHeadDim);
            vector::StoreOp::create(
                b, loc, arith::MulFOp::create(b, loc, qRow, scaleVector), tb.q,
                ValueRange{i, zero});
            vector::StoreOp::create(b, loc, accZeros, tb.acc,
                                    ValueRange{i, zero});
            memref::StoreOp::create(b, loc, negInf, tb.m, ValueRange{i});
            memref::StoreOp::create(b, loc, zeroF, tb.l, ValueRange{i});
            return {};
          });

  Value sigmoidBias;
  if (auto sig = dyn_cast<SigmoidAttr>(op.getNormOrSoftmax()))
    sigmoidBias = sig.getBias() ? f32(sig.getBias().getValueAsDouble())
                                : emitter.toF32(normOps.front());
  bool scoreMods = op.getScoreAttr() && !op.getScoreAttr().empty();

  for (auto [t0, t1] : tiles) {
    forLoop(
        b, loc, t0, t1, one, {},
        [&](Value kt, ValueRange) -> SmallVector<Value> {
          Value j0 = arith::MulIOp::create(b, loc, kt, idx(keyTile));
          Value j1 = arith::MinSIOp::create(
              b, loc, arith::AddIOp::create(b, loc, j0, idx(keyTile)),
              values.keyLen);
          Value keysValid = arith::SubIOp::create(b, loc, j1, j0);
          Value full = arith::ConstantIntOp::create(b, loc, 0, 1);
          for (auto [c0, c1] : core)
            full = arith::OrIOp::create(
                b, loc, full,
                arith::AndIOp::create(
                    b, loc,
                    arith::CmpIOp::create(b, loc, CmpIPredicate::sle, c0, j0),
                    arith::CmpIOp::create(b, loc, CmpIPredicate::sle, j1, c1)));
          packKeyTile(values, g, j0, j1);
          emitScoreTile(rows);
          // Full tiles of whole vectors skip the element pass unless a
          // score modifier needs it.
          Value elementwise;
          if (scoreMods) {
            elementwise = arith::ConstantIntOp::create(b, loc, 1, 1);
          } else {
            Value whole = arith::CmpIOp::create(b, loc, CmpIPredicate::eq,
                                                keysValid, idx(keyTile));
            elementwise = arith::XOrIOp::create(
                b, loc, arith::AndIOp::create(b, loc, full, whole),
                arith::ConstantIntOp::create(b, loc, 1, 1));
          }
          auto pass = scf::IfOp::create(b, loc, elementwise,
                                        /*withElseRegion=*/false);
          {
            OpBuilder::InsertionGuard guard(b);
            b.setInsertionPointToStart(pass.thenBlock());
            emitElementPass(values, j0, keysValid, full);
          }
          emitTileSoftmax(rows, sigmoidBias);
          emitValueTile(rows);
          return {};
        });
  }

  // Finalize the rows of the tile.
  forLoop(b, loc, values.queryBegin, values.queryEnd, one, {},
          [&](Value i, ValueRange) -> SmallVector<Value> {
            LoopValues row = values;
            row.query = i;
            Value local = arith::SubIOp::create(b, loc, i, values.queryBegin);
            Value m = memref::LoadOp::create(b, loc, tb.m, ValueRange{local});
            Value l = memref::LoadOp::create(b, loc, tb.l, ValueRange{local});
            finalizeRow(emitter, row, m, l, /*count=*/nullptr,
                        [&](Value d) -> Value {
                          return memref::LoadOp::create(
                              b, loc, tb.acc, ValueRange{local, d});
                        });
            return {};
          });
}

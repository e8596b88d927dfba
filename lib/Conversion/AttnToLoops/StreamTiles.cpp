//===- StreamTiles.cpp - the tile body of the streaming loop nest ---------===//
//
// Computes a whole query tile per work item, FlashAttention-2 style, on
// f32 tile buffers in vector registers. Scores are kept transposed (key x
// query), so vectors run along queries:
//
//   qT = scale * Q[i0:i0+Tq]^T          (16x16 transposes, once per tile)
//   for each key tile the classification keeps:
//     sT[j] = K[j] qT                   (FMA blocks, K scalars broadcast)
//     score modifiers; mask on partial and tail tiles   (element pass)
//     m' = max(m, max_j sT[j]); P = exp(sT - m')    (vertical, vector exp)
//     acc = acc * exp(m - m') + P^T V   (FMA blocks, P scalars broadcast)
//   O = acc / l (finalizeRow, shared with the row form)
//
// K is read in place when it is f32, else converted once per key tile; V
// is always copied (f32, padded to whole vectors, aligned, L1-resident).
// Any static D works; the query tile must be whole vectors. Tails need no
// branches: query rows past the end repeat the last row and are never
// stored, keys past the end repeat the last key and get a -inf score.
//
//===----------------------------------------------------------------------===//

#include "LaneVectorizer.h"
#include "StreamingLowering.h"
#include "TileLoops.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include <limits>

using namespace mlir;
using namespace mlir::attn;

using arith::CmpFPredicate;
using arith::CmpIPredicate;
using namespace mlir::attn::tiles;

bool StreamingLowering::canStreamTiles() {
  if (!tileBody || keySelection || op.getKvLayout() == Layout::paged ||
      ShapedType::isDynamic(staticHeadDim) ||
      ShapedType::isDynamic(staticValueDim) || queryTile % kLanes != 0)
    return false;
  // Decoding (a few queries, statically): a tile of 16 query lanes would
  // compute mostly padding; the row form is 3.8x faster at Sq = 1
  // (bench/cpu/paged-decode.mlir, docs/benchmarks.md).
  if (op.getQLayout() != Layout::thd) {
    int64_t queries = cast<RankedTensorType>(op.getQuery().getType())
                          .getDimSize(dimOrder(op.getQLayout()).seq);
    if (!ShapedType::isDynamic(queries) && queries * 4 <= queryTile)
      return false;
  }
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
  tb.s = buffer({keyTile, queryTile});
  tb.m = buffer({queryTile});
  tb.l = buffer({queryTile});
  tb.alpha = buffer({queryTile});
  if (useAMX)
    return allocateAMXBuffers();
  tb.q = buffer({paddedHeadDim, queryTile});
  auto elementOf = [](Value x) {
    return cast<MemRefType>(x.getType()).getElementType();
  };
  tb.k = elementOf(k).isF32() ? Value() : buffer({keyTile, staticHeadDim});
  // V is always copied: its rows are read as whole vectors, and a copy is
  // aligned and stays in L1 for all row blocks of the query tile.
  tb.v = buffer({keyTile, paddedValueDim});
  tb.acc = buffer({queryTile, paddedValueDim});
  // Padding columns of the value tile stay zero.
  if (tb.v && paddedValueDim != staticValueDim) {
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

Value StreamingLowering::keyRow(Value memref, const LoopValues &values,
                                Value g, Value j, int64_t width) {
  return loadRow(memref, op.getKvLayout(), values.batch, g, j, keyOffset,
                 width);
}

void StreamingLowering::packQueryTile(const LoopValues &values,
                                      Value lastRow) {
  Type f32Type = b.getF32Type();
  auto laneType = VectorType::get({kLanes}, f32Type);
  Type element = cast<MemRefType>(q.getType()).getElementType();
  Value scaleLanes = vector::BroadcastOp::create(b, loc, laneType, scale);
  forLoop(
      b, loc, idx(0), idx(queryTile), idx(kLanes), {},
      [&](Value ib, ValueRange) -> SmallVector<Value> {
        SmallVector<Value> rows =
            clampedRows(b, loc, values.queryBegin, ib, lastRow);
        for (int64_t d0 = 0; d0 < paddedHeadDim; d0 += kLanes) {
          int64_t width = std::min(kLanes, staticHeadDim - d0);
          SmallVector<Value> block;
          for (int64_t r = 0; r < kLanes; ++r) {
            Value row = vector::LoadOp::create(
                b, loc, VectorType::get({width}, element), q,
                indices(op.getQLayout(), values.batch, values.head, rows[r],
                        idx(d0), queryOffset));
            if (!element.isF32())
              row = arith::ExtFOp::create(
                  b, loc, VectorType::get({width}, f32Type), row);
            if (width != kLanes)
              row = vector::InsertStridedSliceOp::create(
                  b, loc, row,
                  arith::ConstantOp::create(b, loc, b.getZeroAttr(laneType)),
                  ArrayRef<int64_t>{0}, ArrayRef<int64_t>{1});
            block.push_back(arith::MulFOp::create(b, loc, row, scaleLanes));
          }
          for (auto [d, column] : llvm::enumerate(transpose16(b, loc, block)))
            vector::StoreOp::create(b, loc, column, tb.q,
                                    ValueRange{idx(d0 + d), ib});
        }
        return {};
      });
}

void StreamingLowering::packKeyTile(const LoopValues &values, Value g,
                                    Value j0, Value j1) {
  Value last = arith::SubIOp::create(b, loc, j1, idx(1));
  forLoop(b, loc, idx(0), idx(keyTile), idx(1), {},
          [&](Value jj, ValueRange) -> SmallVector<Value> {
            Value j = arith::MinSIOp::create(
                b, loc, arith::AddIOp::create(b, loc, j0, jj), last);
            if (tb.k)
              vector::StoreOp::create(
                  b, loc, keyRow(k, values, g, j, staticHeadDim), tb.k,
                  ValueRange{jj, idx(0)});
            vector::StoreOp::create(
                b, loc, keyRow(v, values, g, j, staticValueDim), tb.v,
                ValueRange{jj, idx(0)});
            return {};
          });
}

void StreamingLowering::emitScoreTile(const LoopValues &values, Value g,
                                      Value j0, Value j1) {
  auto laneType = VectorType::get({kLanes}, b.getF32Type());
  int64_t vectors = queryTile / kLanes;
  int64_t groupVectors = std::min<int64_t>(vectors, 4);
  int64_t keysPerBlock = rowBlock(keyTile, kAccumulators / groupVectors);
  Value last = arith::SubIOp::create(b, loc, j1, idx(1));
  forLoop(
      b, loc, idx(0), idx(keyTile), idx(keysPerBlock), {},
      [&](Value jb, ValueRange) -> SmallVector<Value> {
        SmallVector<Value> local, keys;
        for (int64_t r = 0; r < keysPerBlock; ++r) {
          local.push_back(arith::AddIOp::create(b, loc, jb, idx(r)));
          keys.push_back(arith::MinSIOp::create(
              b, loc, arith::AddIOp::create(b, loc, j0, local[r]), last));
        }
        // K[j][d] from the f32 input in place, or from the converted tile.
        auto keyAt = [&](int64_t r, Value d) -> Value {
          if (tb.k)
            return memref::LoadOp::create(b, loc, tb.k, ValueRange{local[r], d});
          return memref::LoadOp::create(
              b, loc, k,
              indices(op.getKvLayout(), values.batch, g, keys[r], d,
                      keyOffset));
        };
        for (int64_t c0 = 0; c0 < vectors; c0 += groupVectors) {
          int64_t width = std::min(groupVectors, vectors - c0);
          Value zeros = arith::ConstantOp::create(b, loc,
                                                  b.getZeroAttr(laneType));
          SmallVector<Value> init(keysPerBlock * width, zeros);
          SmallVector<Value> sums = fmaBlock(
              b, loc, idx(0), idx(staticHeadDim), init, keysPerBlock, width,
              [&](int64_t c, Value d) -> Value {
                return vector::LoadOp::create(
                    b, loc, laneType, tb.q,
                    ValueRange{d, idx((c0 + c) * kLanes)});
              },
              [&](int64_t r, Value d) { return keyAt(r, d); });
          storeBlock(b, loc, sums, tb.s, local, c0 * kLanes);
        }
        return {};
      });
}

void StreamingLowering::emitElementPass(const LoopValues &values, Value j0,
                                        Value keysValid, Value full) {
  Type f32Type = b.getF32Type(), indexType = b.getIndexType();
  auto laneType = VectorType::get({kLanes}, f32Type);
  auto laneIndexType = VectorType::get({kLanes}, indexType);
  Value negInf = arith::ConstantOp::create(
      b, loc, DenseElementsAttr::get(laneType, b.getF32FloatAttr(-kInf)));
  Value iota = arith::ConstantOp::create(
      b, loc,
      DenseElementsAttr::get(laneIndexType,
                             llvm::map_to_vector(llvm::seq<int64_t>(0, kLanes),
                                                 [&](int64_t x) -> Attribute {
                                                   return b.getIndexAttr(x);
                                                 })));
  Value lastRow = vector::BroadcastOp::create(
      b, loc, laneIndexType,
      arith::SubIOp::create(b, loc, values.queryEnd, idx(1)));
  // The scores of 16 queries against key j, with the mask unless the tile
  // is full: the element emitter's scalar IR, vectorized over the queries.
  auto lanes = [&](Value key, Value queries, Value scores, bool withMask) {
    Block *block = b.getInsertionBlock();
    auto seed = [&](Type type) {
      return UnrealizedConversionCastOp::create(b, loc, type, ValueRange{})
          .getResult(0);
    };
    Value query = seed(indexType), score = seed(f32Type);
    Operation *marker = score.getDefiningOp();
    LoopValues at = values;
    at.query = query;
    at.key = key;
    ElementEmitter emitter(b, loc, at, maskOps);
    Value allowed =
        withMask
            ? emitter.emitMask(op.getMaskAttr(), op.getPredicate(), captures)
            : arith::ConstantIntOp::create(b, loc, 1, 1).getResult();
    Value modified = emitter.emitScore(score, op.getScoreAttr(), scoreOps,
                                       op.getScoreFn(), captures);
    Value result =
        arith::SelectOp::create(b, loc, allowed, modified, f32(-kInf));
    Value vector = vectorizeLanes(b, loc, block, marker,
                                  {{query, queries}, {score, scores}}, {result},
                                  kLanes)[0];
    b.eraseOp(marker);
    b.eraseOp(query.getDefiningOp());
    return vector;
  };
  forLoop(
      b, loc, idx(0), idx(keyTile), idx(1), {},
      [&](Value jj, ValueRange) -> SmallVector<Value> {
        Value key = arith::AddIOp::create(b, loc, j0, jj);
        Value inRange =
            arith::CmpIOp::create(b, loc, CmpIPredicate::slt, jj, keysValid);
        auto exists = scf::IfOp::create(b, loc, inRange, /*withElseRegion=*/true);
        OpBuilder::InsertionGuard guard(b);
        // Keys past the end allow nothing.
        b.setInsertionPointToStart(exists.elseBlock());
        forLoop(b, loc, idx(0), idx(queryTile), idx(kLanes), {},
                [&](Value cb, ValueRange) -> SmallVector<Value> {
                  vector::StoreOp::create(b, loc, negInf, tb.s,
                                          ValueRange{jj, cb});
                  return {};
                });
        b.setInsertionPointToStart(exists.thenBlock());
        forLoop(
            b, loc, idx(0), idx(queryTile), idx(kLanes), {},
            [&](Value cb, ValueRange) -> SmallVector<Value> {
              // Query lanes past the end repeat the last row.
              Value first = vector::BroadcastOp::create(
                  b, loc, laneIndexType,
                  arith::AddIOp::create(b, loc, values.queryBegin, cb));
              Value queries = arith::MinSIOp::create(
                  b, loc, arith::AddIOp::create(b, loc, first, iota), lastRow);
              Value scores = vector::LoadOp::create(b, loc, laneType, tb.s,
                                                    ValueRange{jj, cb});
              auto masked = scf::IfOp::create(b, loc, laneType, full,
                                              /*withElseRegion=*/true);
              {
                OpBuilder::InsertionGuard branchGuard(b);
                b.setInsertionPointToStart(masked.thenBlock());
                scf::YieldOp::create(
                    b, loc, lanes(key, queries, scores, /*withMask=*/false));
                b.setInsertionPointToStart(masked.elseBlock());
                scf::YieldOp::create(
                    b, loc, lanes(key, queries, scores, /*withMask=*/true));
              }
              vector::StoreOp::create(b, loc, masked.getResult(0), tb.s,
                                      ValueRange{jj, cb});
              return {};
            });
        return {};
      });
}

void StreamingLowering::emitTileSoftmax(Value sigmoidBias) {
  auto laneType = VectorType::get({kLanes}, b.getF32Type());
  auto lanes = [&](Value scalar) -> Value {
    return vector::BroadcastOp::create(b, loc, laneType, scalar);
  };
  Value negInf = lanes(f32(-kInf)), zeros = lanes(f32(0.0));
  Value ones = lanes(f32(1.0));
  Value bias = sigmoidBias ? lanes(sigmoidBias) : Value();
  // One iteration per 16 queries (a loop, not unrolled: the body is large,
  // and 8 copies of it for 128-query tiles made compile times of seconds).
  forLoop(b, loc, idx(0), idx(queryTile), idx(kLanes), {},
          [&](Value at, ValueRange) -> SmallVector<Value> {
    // The tile's max per query (independent partial maxima, so that the
    // loop is not one chain of max latencies), then the running max.
    // Scores are never NaN for finite inputs: a plain max.
    auto max = [&](Value x, Value y) -> Value {
      return arith::MaxNumFOp::create(b, loc, x, y, arith::FastMathFlags::nnan);
    };
    int64_t chains = rowBlock(keyTile, 4);
    SmallVector<Value> partial = forLoop(
        b, loc, idx(0), idx(keyTile), idx(chains),
        SmallVector<Value>(chains, negInf),
        [&](Value jj, ValueRange mx) -> SmallVector<Value> {
          SmallVector<Value> next;
          for (int64_t r = 0; r < chains; ++r)
            next.push_back(max(
                mx[r], vector::LoadOp::create(
                           b, loc, laneType, tb.s,
                           ValueRange{arith::AddIOp::create(b, loc, jj, idx(r)),
                                      at})));
          return next;
        });
    Value tileMax = partial[0];
    for (Value x : ArrayRef(partial).drop_front())
      tileMax = max(tileMax, x);
    Value m = vector::LoadOp::create(b, loc, laneType, tb.m, ValueRange{at});
    Value mNew = arith::MaxNumFOp::create(b, loc, m, tileMax,
                                          arith::FastMathFlags::nnan);
    if (useAMX) {
      // Lazy rescaling: keep the running max unless the tile exceeds it by
      // more than 8 (P <= e^8 is harmless in f32 and bf16), so that most
      // tiles need no rescale of the accumulator in memory. Exact: l and
      // O use the same m, and LSE = m + log l for any m.
      Value grows = arith::CmpFOp::create(
          b, loc, CmpFPredicate::OGT, mNew,
          arith::AddFOp::create(b, loc, m, lanes(f32(8.0))));
      mNew = arith::SelectOp::create(b, loc, grows, mNew, m);
    }
    // No allowed key yet: every exponent is of -inf and gives 0.
    Value none =
        arith::CmpFOp::create(b, loc, CmpFPredicate::OEQ, mNew, negInf);
    Value mSafe = arith::SelectOp::create(b, loc, none, zeros, mNew);
    Value alpha = math::ExpOp::create(b, loc,
                                      arith::SubFOp::create(b, loc, m, mSafe));
    // exp(s - m) for the statistics, and the weight that multiplies V.
    auto weigh = [&](Value key) -> std::pair<Value, Value> {
      Value s = vector::LoadOp::create(b, loc, laneType, tb.s,
                                       ValueRange{key, at});
      Value p = math::ExpOp::create(b, loc,
                                    arith::SubFOp::create(b, loc, s, mSafe));
      if (!bias)
        return {p, p};
      // Sigmoid attention accumulates sigmoid(s + bias), unscaled.
      Value e = math::ExpOp::create(
          b, loc,
          arith::NegFOp::create(b, loc, arith::AddFOp::create(b, loc, s, bias)));
      return {p, arith::DivFOp::create(b, loc, ones,
                                       arith::AddFOp::create(b, loc, ones, e))};
    };
    Value sum;
    if (useAMX) {
      // The weights go straight to the bf16 rows of P for the AMX product:
      // keys 2p and 2p + 1 interleaved per query make one 32-bit word per
      // (query, key pair); 16 pairs x 16 queries of words are transposed
      // in registers into 16 rows of P.
      sum = emitWeightsAMX(at, weigh, zeros);
    } else {
      sum = forLoop(b, loc, idx(0), idx(keyTile), idx(1), {zeros},
                    [&](Value jj, ValueRange acc) -> SmallVector<Value> {
                      auto [p, weight] = weigh(jj);
                      vector::StoreOp::create(b, loc, weight, tb.s,
                                              ValueRange{jj, at});
                      return {arith::AddFOp::create(b, loc, acc[0], p)};
                    })[0];
    }
    Value l = vector::LoadOp::create(b, loc, laneType, tb.l, ValueRange{at});
    vector::StoreOp::create(
        b, loc,
        arith::AddFOp::create(b, loc, arith::MulFOp::create(b, loc, l, alpha),
                              sum),
        tb.l, ValueRange{at});
    vector::StoreOp::create(b, loc, mNew, tb.m, ValueRange{at});
    vector::StoreOp::create(b, loc, bias ? ones : alpha, tb.alpha,
                            ValueRange{at});
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
          // V[j] from the converted tile; P[i][j] from the scores.
          SmallVector<Value> sums = fmaBlock(
              b, loc, idx(0), idx(keyTile), init, rowsPerBlock, width,
              [&](int64_t c, Value jj) -> Value {
                return vector::LoadOp::create(
                    b, loc, laneType, tb.v,
                    ValueRange{jj, idx((c0 + c) * kLanes)});
              },
              [&](int64_t r, Value jj) -> Value {
                return memref::LoadOp::create(b, loc, tb.s,
                                              ValueRange{jj, rowIndex[r]});
              });
          storeBlock(b, loc, sums, tb.acc, rowIndex, c0 * kLanes);
        }
        return {};
      });
}

void StreamingLowering::emitQueryTile(ElementEmitter &emitter,
                                      const LoopValues &values, Value g,
                                      const Bounds &tiles, const Bounds &core) {
  Type f32Type = b.getF32Type();
  Value zero = idx(0), one = idx(1);
  // The value product runs over whole register blocks of query rows; the
  // extra rows repeat the last query row and are never stored.
  int64_t block = rowBlock(
      queryTile, kAccumulators / std::min<int64_t>(paddedValueDim / kLanes, 8));
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
  if (useAMX)
    packQueryTileAMX(values, lastRow);
  else
    packQueryTile(values, lastRow);
  auto laneType = VectorType::get({kLanes}, f32Type);
  // The accumulator O [Tq][Dvp] (Dv for AMX).
  int64_t accRows = queryTile;
  auto accType = VectorType::get(
      {cast<MemRefType>(tb.acc.getType()).getShape()[1]}, f32Type);
  Value accZeros = arith::ConstantOp::create(b, loc, b.getZeroAttr(accType));
  forLoop(b, loc, zero, idx(accRows), one, {},
          [&](Value i, ValueRange) -> SmallVector<Value> {
            vector::StoreOp::create(b, loc, accZeros, tb.acc,
                                    ValueRange{i, zero});
            return {};
          });
  Value negInf = arith::ConstantOp::create(
      b, loc, DenseElementsAttr::get(laneType, b.getF32FloatAttr(-kInf)));
  Value zeros = arith::ConstantOp::create(b, loc, b.getZeroAttr(laneType));
  for (int64_t c = 0; c < queryTile; c += kLanes) {
    vector::StoreOp::create(b, loc, negInf, tb.m, ValueRange{idx(c)});
    vector::StoreOp::create(b, loc, zeros, tb.l, ValueRange{idx(c)});
  }

  Value sigmoidBias;
  if (auto sig = dyn_cast<SigmoidAttr>(op.getNormOrSoftmax()))
    sigmoidBias = sig.getBias() ? f32(sig.getBias().getValueAsDouble())
                                : emitter.toF32(normOps.front());
  bool scoreMods = op.getScoreAttr() && !op.getScoreAttr().empty();
  if (runtimeTest)
    emitQueryTileTest(emitter, values, *runtimeTest);

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
          // Data masks: skip tiles whose summaries allow nothing, and
          // treat those they allow entirely as full.
          std::optional<OpBuilder::InsertionGuard> skipGuard;
          if (runtimeTest) {
            auto [maybe, all] =
                emitKeyTileTest(emitter, values, *runtimeTest, j0, j1);
            full = arith::OrIOp::create(b, loc, full, all);
            auto visit = scf::IfOp::create(b, loc, maybe,
                                           /*withElseRegion=*/false);
            skipGuard.emplace(b);
            b.setInsertionPointToStart(visit.thenBlock());
          }
          if (useAMX) {
            packKeyTileAMX(values, g, j0, j1);
            emitScoreTileAMX();
          } else {
            packKeyTile(values, g, j0, j1);
            emitScoreTile(values, g, j0, j1);
          }
          // Full tiles of Tk keys skip the element pass unless a score
          // modifier needs it.
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
          emitTileSoftmax(sigmoidBias);
          if (useAMX)
            emitValueTileAMX();
          else
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

//===- SelectionToLoops.cpp - selection ops to loops ----------------------===//
//
// attn-lower-selection: `attn.indexer_topk` (D1, and both stages of the
// hierarchical D2 with `key_block` and `within`), `attn.value_topk` (G4),
// `attn.query_topk` (D7), `attn.head_topk` (G2), `attn.pool`, the block
// selections D3-D6 and the attention's own top-k results (H2, H3) become loops
// on buffers, at tensor level like attn-lower-to-loops.
//
// Top-k is the radix select of SelectionBuilder.cpp over order-preserving
// keys of the scores (0 for keys the mask or the block list rules out).
// The block-level selections (D3-D6) are in BlockSelectionToLoops.cpp.
//
//===----------------------------------------------------------------------===//

#include "SelectionBuilder.h"
#include "attn/Conversion/Passes.h"
#include "attn/Dialect/Attn/IR/AttnOperandSlots.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNLOWERSELECTIONPASS
#include "attn/Conversion/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

using arith::CmpIPredicate;

IndexerRows::IndexerRows(SelectionBuilder &s, IndexerTopkOp op,
                         ValueRange buffers, RewriterBase &b)
    : s(s), op(op), b(b), loc(op.getLoc()) {
  qi = buffers[0];
  ki = buffers[1];
  w = buffers[2];
  unsigned next = 3;
  if (op.getBlockCounts()) {
    blockCounts = buffers[next++];
    blockIndices = buffers[next++];
  }
  maskOps.assign(buffers.begin() + next, buffers.end());
  batch = s.dim(qi, 0);
  queryLen = s.dim(qi, 1);
  heads = s.dim(qi, 2);
  dimI = s.dim(qi, 3);
  keys = s.dim(ki, 1);
}

Value IndexerRows::listed(Value bb, Value i) {
  Value zero = s.idx(0);
  return arith::MaxSIOp::create(
      b, loc,
      arith::MinSIOp::create(b, loc,
                             s.toIndex(memref::LoadOp::create(
                                 b, loc, blockCounts, ValueRange{bb, zero, i})),
                             s.dim(blockIndices, 3)),
      zero);
}

Value IndexerRows::positions(Value bb, Value i) {
  if (!blockCounts)
    return keys;
  return arith::MulIOp::create(b, loc, listed(bb, i),
                               s.idx(op.getBlockSizeAttr().getInt()));
}

std::pair<Value, Value> IndexerRows::keyAt(Value bb, Value i, Value p) {
  if (!blockCounts)
    return {p, arith::ConstantIntOp::create(b, loc, 1, 1)};
  Value size = s.idx(op.getBlockSizeAttr().getInt()), zero = s.idx(0);
  Value t = arith::DivUIOp::create(b, loc, p, size);
  Value block = s.toIndex(
      memref::LoadOp::create(b, loc, blockIndices, ValueRange{bb, zero, i, t}));
  Value j =
      arith::AddIOp::create(b, loc, arith::MulIOp::create(b, loc, block, size),
                            arith::RemUIOp::create(b, loc, p, size));
  Value valid = arith::AndIOp::create(
      b, loc, arith::CmpIOp::create(b, loc, CmpIPredicate::sge, j, zero),
      arith::CmpIOp::create(b, loc, CmpIPredicate::slt, j, keys));
  // Out-of-range positions name key 0 (and are not keys).
  return {arith::SelectOp::create(b, loc, valid, j, zero), valid};
}

SelectionBuilder::MaskProblem IndexerRows::maskProblem() {
  // The mask sees the underlying keys: blocks x key_block of them.
  Value maskKeyLen =
      arith::MulIOp::create(b, loc, keys, s.idx(op.getKeyBlock()));
  return {op.getMaskAttr(), maskOps, queryLen, maskKeyLen, s.idx(1)};
}

Value IndexerRows::allowed(Value bb, Value i, Value j) {
  Value one = s.idx(1), keyBlock = s.idx(op.getKeyBlock());
  Value first = arith::MulIOp::create(b, loc, j, keyBlock);
  // A single pair per key: the closed form would only add work.
  return s.allowsAny(maskProblem(), bb, s.idx(0), i,
                     arith::AddIOp::create(b, loc, i, one), first,
                     arith::AddIOp::create(b, loc, first, keyBlock),
                     /*closedForm=*/op.getKeyBlock() > 1);
}

std::pair<Value, Value> IndexerRows::classify(Value bb, Value i0, Value i1,
                                              Value j0, Value j1) {
  Value keyBlock = s.idx(op.getKeyBlock());
  return s.classify(maskProblem(), bb, s.idx(0), i0, i1,
                    arith::MulIOp::create(b, loc, j0, keyBlock),
                    arith::MulIOp::create(b, loc, j1, keyBlock));
}

Value IndexerRows::keysEnd(Value bb, Value i0, Value i1) {
  // Key blocks up to the one holding the hull's last key.
  Value end = s.hullEnd(maskProblem(), bb, s.idx(0), i0, i1);
  int64_t keyBlock = op.getKeyBlock();
  end = arith::DivSIOp::create(
      b, loc, arith::AddIOp::create(b, loc, end, s.idx(keyBlock - 1)),
      s.idx(keyBlock));
  return arith::MaxSIOp::create(
      b, loc, arith::MinSIOp::create(b, loc, end, keys), s.idx(0));
}

Value IndexerRows::orderedKey(Value bb, Value i, Value j) {
  Value zero = s.idx(0);
  Value zeroF = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0));
  Value allowed = this->allowed(bb, i, j);
  return s.ifThen(allowed, {s.i32(0)}, [&] {
    Value total = s.loop(zero, heads, {zeroF}, [&](Value t, ValueRange acc) {
      Value dot = s.loop(zero, dimI, {zeroF}, [&](Value d, ValueRange a) {
        Value x = s.toF32(
            memref::LoadOp::create(b, loc, qi, ValueRange{bb, i, t, d}));
        Value y =
            s.toF32(memref::LoadOp::create(b, loc, ki, ValueRange{bb, j, d}));
        return SmallVector<Value>{arith::AddFOp::create(
            b, loc, a[0], arith::MulFOp::create(b, loc, x, y))};
      })[0];
      Value relu = arith::MaximumFOp::create(b, loc, dot, zeroF);
      Value weight =
          s.toF32(memref::LoadOp::create(b, loc, w, ValueRange{bb, i, t}));
      return SmallVector<Value>{arith::AddFOp::create(
          b, loc, acc[0], arith::MulFOp::create(b, loc, weight, relu))};
    })[0];
    return SmallVector<Value>{s.orderedKey(total)};
  })[0];
}

void IndexerRows::transposeKeys(Value bb, Value kt) {
  Value zero = s.idx(0);
  s.loop(zero, keys, {}, [&](Value j, ValueRange) {
    s.loop(zero, dimI, {}, [&](Value d, ValueRange) {
      Value x =
          s.toF32(memref::LoadOp::create(b, loc, ki, ValueRange{bb, j, d}));
      Value at = arith::AddIOp::create(
          b, loc, arith::MulIOp::create(b, loc, d, keys), j);
      memref::StoreOp::create(b, loc, x, kt, ValueRange{at});
      return SmallVector<Value>{};
    });
    return SmallVector<Value>{};
  });
}

Value IndexerRows::orderedKeys(Value bb, Value i, Value j0, Value kt) {
  auto lanes = VectorType::get({kLanes}, b.getF32Type());
  Value zero = s.idx(0);
  Value zeroV = arith::ConstantOp::create(
      b, loc, DenseElementsAttr::get(lanes, b.getF32FloatAttr(0.0)));
  auto splat = [&](Value x) -> Value {
    return vector::BroadcastOp::create(b, loc, lanes, s.toF32(x));
  };
  Value total = s.loop(zero, heads, {zeroV}, [&](Value t, ValueRange acc) {
    Value dot = s.loop(zero, dimI, {zeroV}, [&](Value d, ValueRange a) {
      Value x =
          splat(memref::LoadOp::create(b, loc, qi, ValueRange{bb, i, t, d}));
      Value at = arith::AddIOp::create(
          b, loc, arith::MulIOp::create(b, loc, d, keys), j0);
      Value y = vector::LoadOp::create(b, loc, lanes, kt, ValueRange{at});
      return SmallVector<Value>{arith::AddFOp::create(
          b, loc, a[0], arith::MulFOp::create(b, loc, x, y))};
    })[0];
    Value relu = arith::MaximumFOp::create(b, loc, dot, zeroV);
    Value weight =
        splat(memref::LoadOp::create(b, loc, w, ValueRange{bb, i, t}));
    return SmallVector<Value>{arith::AddFOp::create(
        b, loc, acc[0], arith::MulFOp::create(b, loc, weight, relu))};
  })[0];
  return s.orderedKey(total);
}

/// attn.indexer_topk: per (b, i), the indexer score of every candidate key
/// (or key block), then the radix select.
///
/// On the host without block lists, the keys up to the mask's hull go
/// kLanes at a time (orderedKeys: the batch's keys transposed once per
/// thread, the same sums in the same order as the scalar form the GPU row
/// form keeps); only lanes of blocks the closed form cannot decide test
/// the mask, after the vector store.
static LogicalResult lowerSelection(IndexerTopkOp op, RewriterBase &b,
                                    RowThreads *threaded) {
  SelectionBuilder s(b, op.getLoc(), threaded);
  Location loc = op.getLoc();
  b.setInsertionPoint(op);
  IndexerRows rows(s, op, s.buffers(op->getOperands()), b);
  int64_t k = op.getK();
  auto countsType = cast<RankedTensorType>(op.getCounts().getType());
  auto indicesType = cast<RankedTensorType>(op.getIndices().getType());
  Value one = s.idx(1);
  Value counts = s.allocShaped(countsType, {rows.batch, one, rows.queryLen});
  Value indices = s.allocShaped(indicesType, {rows.batch, one, rows.queryLen});
  // Scratch: the candidate keys of one row and the histogram.
  Value keyRow = s.row(b.getI32Type(), rows.keys);
  Value hist =
      memref::AllocaOp::create(b, loc, MemRefType::get({256}, b.getI32Type()));
  Value zero = s.idx(0), zero32 = s.i32(0);
  bool lanes = (!threaded || threaded->host) && !op.getBlockCounts();
  Value kt = lanes ? s.row(b.getF32Type(),
                           arith::MulIOp::create(b, loc, rows.keys, rows.dimI))
                   : Value();
  auto scalarKeys = [&](Value bb, Value i, Value begin, Value end) {
    s.loop(begin, end, {}, [&](Value p, ValueRange) {
      auto [j, valid] = rows.keyAt(bb, i, p);
      s.ifThen(valid, {}, [&, j = j] {
        memref::StoreOp::create(b, loc, rows.orderedKey(bb, i, j), keyRow,
                                ValueRange{j});
        return SmallVector<Value>{};
      });
      return SmallVector<Value>{};
    });
  };
  auto laneKeys = [&](Value bb, Value i) {
    Value one = s.idx(1), width = s.idx(IndexerRows::kLanes);
    Value i1 = arith::AddIOp::create(b, loc, i, one);
    Value end = rows.keysEnd(bb, i, i1);
    Value whole = arith::MulIOp::create(
        b, loc, arith::DivUIOp::create(b, loc, end, width), width);
    s.stridedLoop(zero, whole, width, {}, [&](Value j0, ValueRange) {
      Value j1 = arith::AddIOp::create(b, loc, j0, width);
      auto [any, all] = rows.classify(bb, i, i1, j0, j1);
      s.ifThen(any, {}, [&, all = all] {
        vector::StoreOp::create(b, loc, rows.orderedKeys(bb, i, j0, kt), keyRow,
                                ValueRange{j0});
        Value partial = arith::XOrIOp::create(
            b, loc, all, arith::ConstantIntOp::create(b, loc, 1, 1));
        s.ifThen(partial, {}, [&] {
          s.loop(j0, j1, {}, [&](Value j, ValueRange) {
            Value ruledOut = arith::XOrIOp::create(
                b, loc, rows.allowed(bb, i, j),
                arith::ConstantIntOp::create(b, loc, 1, 1));
            s.ifThen(ruledOut, {}, [&] {
              memref::StoreOp::create(b, loc, zero32, keyRow, ValueRange{j});
              return SmallVector<Value>{};
            });
            return SmallVector<Value>{};
          });
          return SmallVector<Value>{};
        });
        return SmallVector<Value>{};
      });
      return SmallVector<Value>{};
    });
    scalarKeys(bb, i, whole, end);
  };
  s.rows(
      rows.batch, rows.queryLen,
      [&](Value bb, Value i) {
        s.loop(zero, rows.keys, {}, [&](Value j, ValueRange) {
          memref::StoreOp::create(b, loc, zero32, keyRow, ValueRange{j});
          return SmallVector<Value>{};
        });
        if (lanes)
          laneKeys(bb, i);
        else
          scalarKeys(bb, i, zero, rows.positions(bb, i));
        Value count =
            s.selectTop(keyRow, rows.keys, k, hist, indices, {bb, zero, i});
        memref::StoreOp::create(b, loc, count, counts, ValueRange{bb, zero, i});
      },
      lanes ? function_ref<void(Value)>(
                  [&](Value bb) { rows.transposeKeys(bb, kt); })
            : nullptr);
  b.replaceOp(
      op, {s.toTensor(counts, countsType), s.toTensor(indices, indicesType)});
  return success();
}

/// attn.value_topk (G4): per (b, key head), scores[b,g,j] = V[b,g,j,:] .
/// weight[g,:], written out, and the k best keys among those the mask
/// allows for some query (the mask sees Sq = Sk: self-attention).
static LogicalResult lowerSelection(ValueTopkOp op, RewriterBase &b,
                                    RowThreads *threaded) {
  SelectionBuilder s(b, op.getLoc(), threaded);
  Location loc = op.getLoc();
  b.setInsertionPoint(op);
  Value v = s.buffer(op.getValue()), weight = s.buffer(op.getWeight());
  SmallVector<Value> maskOps = s.buffers(op.getMaskOperands());
  Value batch = s.dim(v, 0), heads = s.dim(v, 1), keys = s.dim(v, 2);
  Value dim = s.dim(v, 3);
  auto countsType = cast<RankedTensorType>(op.getCounts().getType());
  auto indicesType = cast<RankedTensorType>(op.getIndices().getType());
  auto scoresType = cast<RankedTensorType>(op.getScores().getType());
  Value one = s.idx(1);
  Value counts = s.allocShaped(countsType, {batch, heads, one});
  Value indices = s.allocShaped(indicesType, {batch, heads, one});
  Value scores = s.allocShaped(scoresType, {batch, heads, keys});
  Value keyRow = s.row(b.getI32Type(), keys);
  Value hist =
      memref::AllocaOp::create(b, loc, MemRefType::get({256}, b.getI32Type()));
  Value zero = s.idx(0);
  Value zeroF = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0));
  auto scoreOf = [&](Value bb, Value g, Value j) {
    return s.loop(zero, dim, {zeroF}, [&](Value d, ValueRange acc) {
      Value x =
          s.toF32(memref::LoadOp::create(b, loc, v, ValueRange{bb, g, j, d}));
      Value y =
          s.toF32(memref::LoadOp::create(b, loc, weight, ValueRange{g, d}));
      return SmallVector<Value>{arith::AddFOp::create(
          b, loc, acc[0], arith::MulFOp::create(b, loc, x, y))};
    })[0];
  };
  // On the GPU a block takes a batch and its threads score every (head,
  // key) first (a row per head would leave all but G threads idle); the
  // rows then only select. Elsewhere each row scores its keys.
  bool blockScores = threaded && !threaded->host;
  auto scoreBatch = [&](Value bb) {
    s.sharedLoop(arith::MulIOp::create(b, loc, heads, keys), [&](Value x) {
      Value g = arith::DivUIOp::create(b, loc, x, keys);
      Value j = arith::RemUIOp::create(b, loc, x, keys);
      memref::StoreOp::create(b, loc, scoreOf(bb, g, j), scores,
                              ValueRange{bb, g, j});
    });
  };
  s.rows(
      batch, heads,
      [&](Value bb, Value g) {
        s.loop(zero, keys, {}, [&](Value j, ValueRange) {
          Value score;
          if (blockScores) {
            score =
                memref::LoadOp::create(b, loc, scores, ValueRange{bb, g, j});
          } else {
            score = scoreOf(bb, g, j);
            memref::StoreOp::create(b, loc, score, scores,
                                    ValueRange{bb, g, j});
          }
          // A candidate when the mask allows it for some query.
          Value allowed = s.allowsAny(
              {op.getMaskAttr(), maskOps, keys, keys, heads}, bb, g, zero, keys,
              j, arith::AddIOp::create(b, loc, j, s.idx(1)));
          memref::StoreOp::create(b, loc,
                                  arith::SelectOp::create(b, loc, allowed,
                                                          s.orderedKey(score),
                                                          s.i32(0)),
                                  keyRow, ValueRange{j});
          return SmallVector<Value>{};
        });
        Value count =
            s.selectTop(keyRow, keys, op.getK(), hist, indices, {bb, g, zero});
        memref::StoreOp::create(b, loc, count, counts, ValueRange{bb, g, zero});
      },
      blockScores ? function_ref<void(Value)>(scoreBatch) : nullptr);
  b.replaceOp(op,
              {s.toTensor(counts, countsType), s.toTensor(indices, indicesType),
               s.toTensor(scores, scoresType)});
  return success();
}

/// attn.query_topk (D7): per batch, the attention mass every key gets from
/// the guiding queries (each query's softmax over the keys, scale
/// 1/sqrt(D), summed over queries and heads); the `max_tokens` keys of
/// largest mass by the radix select; with `threshold`, only as many of
/// them (largest first, ties to the smaller key) as it takes to reach that
/// fraction of the total mass.
static LogicalResult lowerSelection(QueryTopkOp op, RewriterBase &b,
                                    RowThreads *threaded) {
  SelectionBuilder s(b, op.getLoc(), threaded);
  Location loc = op.getLoc();
  b.setInsertionPoint(op);
  Value q = s.buffer(op.getQuery()), k = s.buffer(op.getKey());
  Value batch = s.dim(q, 0), heads = s.dim(q, 1), queryLen = s.dim(q, 2);
  Value dim = s.dim(q, 3), keyHeads = s.dim(k, 1), keys = s.dim(k, 2);
  int64_t maxTokens = op.getMaxTokens();
  auto countsType = cast<RankedTensorType>(op.getCounts().getType());
  auto indicesType = cast<RankedTensorType>(op.getIndices().getType());
  Value counts = s.allocShaped(countsType, {batch});
  Value indices = s.allocShaped(indicesType, {batch});
  // A batch's guiding rows (h, i) share the masses: each row's softmax
  // statistics, then each key's mass summed over the rows in order (the
  // same sums as one pass per row; on the GPU a block takes a batch and its
  // threads the rows, then the keys).
  Value guideRows = arith::MulIOp::create(b, loc, heads, queryLen);
  Value stats =
      s.row(b.getF32Type(), arith::MulIOp::create(b, loc, guideRows, s.idx(2)),
            /*shared=*/true);
  Value mass = s.row(b.getF32Type(), keys, /*shared=*/true);
  Value scores = s.row(b.getF32Type(), keys);
  Value keyRow = s.row(b.getI32Type(), keys);
  Value list = s.row(b.getI32Type(), s.idx(maxTokens));
  Value hist =
      memref::AllocaOp::create(b, loc, MemRefType::get({256}, b.getI32Type()));
  Value zero = s.idx(0);
  Value zeroF = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0));
  Value negInf =
      arith::ConstantOp::create(b, loc, b.getF32FloatAttr(-INFINITY));
  Value group = arith::DivUIOp::create(b, loc, heads, keyHeads);
  Value scale = math::RsqrtOp::create(
      b, loc,
      arith::SIToFPOp::create(
          b, loc, b.getF32Type(),
          arith::IndexCastOp::create(b, loc, b.getI64Type(), dim)));
  auto load = [&](Value buffer, Value j) {
    return memref::LoadOp::create(b, loc, buffer, ValueRange{j}).getResult();
  };
  auto score = [&](Value bb, Value h, Value i, Value j) -> Value {
    Value g = arith::DivUIOp::create(b, loc, h, group);
    Value dot = s.loop(zero, dim, {zeroF}, [&](Value d, ValueRange acc) {
      Value x =
          s.toF32(memref::LoadOp::create(b, loc, q, ValueRange{bb, h, i, d}));
      Value y =
          s.toF32(memref::LoadOp::create(b, loc, k, ValueRange{bb, g, j, d}));
      return SmallVector<Value>{arith::AddFOp::create(
          b, loc, acc[0], arith::MulFOp::create(b, loc, x, y))};
    })[0];
    return arith::MulFOp::create(b, loc, dot, scale);
  };
  auto barrier = [&] {
    if (threaded && !threaded->host)
      gpu::BarrierOp::create(b, loc);
  };
  auto masses = [&](Value bb) {
    // Row r = (h, i): its max and its sum of exp(score - max).
    s.sharedLoop(guideRows, [&](Value r) {
      Value h = arith::DivUIOp::create(b, loc, r, queryLen);
      Value i = arith::RemUIOp::create(b, loc, r, queryLen);
      Value max = s.loop(zero, keys, {negInf}, [&](Value j, ValueRange m) {
        Value x = score(bb, h, i, j);
        memref::StoreOp::create(b, loc, x, scores, ValueRange{j});
        return SmallVector<Value>{arith::MaximumFOp::create(b, loc, m[0], x)};
      })[0];
      Value sum = s.loop(zero, keys, {zeroF}, [&](Value j, ValueRange acc) {
        return SmallVector<Value>{arith::AddFOp::create(
            b, loc, acc[0],
            math::ExpOp::create(
                b, loc, arith::SubFOp::create(b, loc, load(scores, j), max)))};
      })[0];
      memref::StoreOp::create(b, loc, max, stats, ValueRange{r});
      memref::StoreOp::create(
          b, loc, sum, stats,
          ValueRange{arith::AddIOp::create(b, loc, r, guideRows)});
    });
    barrier();
    // Key j: the rows' probabilities of j, summed in row order.
    s.sharedLoop(keys, [&](Value j) {
      Value total =
          s.loop(zero, guideRows, {zeroF}, [&](Value r, ValueRange acc) {
            Value h = arith::DivUIOp::create(b, loc, r, queryLen);
            Value i = arith::RemUIOp::create(b, loc, r, queryLen);
            Value max = load(stats, r);
            Value sum =
                load(stats, arith::AddIOp::create(b, loc, r, guideRows));
            Value p = arith::DivFOp::create(
                b, loc,
                math::ExpOp::create(
                    b, loc,
                    arith::SubFOp::create(b, loc, score(bb, h, i, j), max)),
                sum);
            return SmallVector<Value>{arith::AddFOp::create(b, loc, acc[0], p)};
          })[0];
      memref::StoreOp::create(b, loc, total, mass, ValueRange{j});
    });
  };
  // A batch is a row (its mass sums over all of its queries and heads).
  s.rows(
      batch, s.idx(1),
      [&](Value bb, Value) {
        s.loop(zero, keys, {}, [&](Value j, ValueRange) {
          memref::StoreOp::create(b, loc, s.orderedKey(load(mass, j)), keyRow,
                                  ValueRange{j});
          return SmallVector<Value>{};
        });
        Value count = s.selectTop(keyRow, keys, maxTokens, hist, list, {});
        if (FloatAttr threshold = op.getThresholdAttr()) {
          // Take the listed keys largest mass first (ties: the smaller key,
          // which the ascending list gives first) until the fraction is
          // reached; taken keys are marked by clearing their ordered key.
          Value total =
              s.loop(zero, keys, {zeroF}, [&](Value j, ValueRange acc) {
                return SmallVector<Value>{
                    arith::AddFOp::create(b, loc, acc[0], load(mass, j))};
              })[0];
          Value goal = arith::MulFOp::create(
              b, loc, total,
              arith::ConstantOp::create(
                  b, loc, b.getF32FloatAttr(threshold.getValueAsDouble())));
          count = s.takeByMass(list, count, keyRow, mass, goal);
        }
        s.loop(zero, s.idx(maxTokens), {}, [&](Value t, ValueRange) {
          Value value = arith::SelectOp::create(
              b, loc,
              arith::CmpIOp::create(b, loc, CmpIPredicate::slt, t,
                                    s.toIndex(count)),
              load(list, t), s.i32(-1));
          memref::StoreOp::create(b, loc, value, indices,
                                  ValueRange{bb, zero, zero, t});
          return SmallVector<Value>{};
        });
        memref::StoreOp::create(b, loc, count, counts,
                                ValueRange{bb, zero, zero});
      },
      masses);
  b.replaceOp(
      op, {s.toTensor(counts, countsType), s.toTensor(indices, indicesType)});
  return success();
}

/// attn.head_topk (G2): per token, the k largest router logits (radix
/// select over the heads), the keep flags of the kept heads and their
/// softmax weights (0 for the others).
static LogicalResult lowerSelection(HeadTopkOp op, RewriterBase &b,
                                    RowThreads *threaded) {
  SelectionBuilder s(b, op.getLoc(), threaded);
  Location loc = op.getLoc();
  b.setInsertionPoint(op);
  Value logits = s.buffer(op.getLogits());
  Value batch = s.dim(logits, 0), len = s.dim(logits, 1);
  Value heads = s.dim(logits, 2);
  auto keepType = cast<RankedTensorType>(op.getKeep().getType());
  auto weightsType = cast<RankedTensorType>(op.getWeights().getType());
  SmallVector<Value> keepSizes, weightSizes;
  Value keepDims[] = {batch, heads, len}, weightDims[] = {batch, len, heads};
  for (int64_t d = 0; d < 3; ++d) {
    if (keepType.isDynamicDim(d))
      keepSizes.push_back(keepDims[d]);
    if (weightsType.isDynamicDim(d))
      weightSizes.push_back(weightDims[d]);
  }
  Value keep = s.alloc(keepType, keepSizes);
  Value weights = s.alloc(weightsType, weightSizes);
  int64_t k = op.getK();
  auto i32Row = [&](Value size) { return s.row(b.getI32Type(), size); };
  Value keyRow = i32Row(heads), kept = i32Row(s.idx(k));
  Value hist =
      memref::AllocaOp::create(b, loc, MemRefType::get({256}, b.getI32Type()));
  Value zero = s.idx(0);
  Value zeroF = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0));
  Value negInf =
      arith::ConstantOp::create(b, loc, b.getF32FloatAttr(-INFINITY));
  Value falseV = arith::ConstantIntOp::create(b, loc, 0, 1);
  Value trueV = arith::ConstantIntOp::create(b, loc, 1, 1);
  s.rows(batch, len, [&](Value bb, Value i) {
    auto logit = [&](Value h) {
      return s.toF32(
          memref::LoadOp::create(b, loc, logits, ValueRange{bb, i, h}));
    };
    s.loop(zero, heads, {}, [&](Value h, ValueRange) {
      memref::StoreOp::create(b, loc, s.orderedKey(logit(h)), keyRow,
                              ValueRange{h});
      memref::StoreOp::create(b, loc, falseV, keep, ValueRange{bb, h, i});
      memref::StoreOp::create(b, loc, zeroF, weights, ValueRange{bb, i, h});
      return SmallVector<Value>{};
    });
    Value count = s.toIndex(s.selectTop(keyRow, heads, k, hist, kept, {}));
    auto keptHead = [&](Value t) {
      return s.toIndex(memref::LoadOp::create(b, loc, kept, ValueRange{t}));
    };
    // Softmax over the kept heads' logits.
    Value max = s.loop(zero, count, {negInf}, [&](Value t, ValueRange m) {
      return SmallVector<Value>{
          arith::MaximumFOp::create(b, loc, m[0], logit(keptHead(t)))};
    })[0];
    Value sum = s.loop(zero, count, {zeroF}, [&](Value t, ValueRange acc) {
      Value e = math::ExpOp::create(
          b, loc, arith::SubFOp::create(b, loc, logit(keptHead(t)), max));
      return SmallVector<Value>{arith::AddFOp::create(b, loc, acc[0], e)};
    })[0];
    s.loop(zero, count, {}, [&](Value t, ValueRange) {
      Value h = keptHead(t);
      Value e = math::ExpOp::create(
          b, loc, arith::SubFOp::create(b, loc, logit(h), max));
      memref::StoreOp::create(b, loc, trueV, keep, ValueRange{bb, h, i});
      memref::StoreOp::create(b, loc, arith::DivFOp::create(b, loc, e, sum),
                              weights, ValueRange{bb, i, h});
      return SmallVector<Value>{};
    });
  });
  b.replaceOp(op,
              {s.toTensor(keep, keepType), s.toTensor(weights, weightsType)});
  return success();
}

Value mlir::attn::poolElement(SelectionBuilder &s, PoolOp op, Value in,
                              ArrayRef<Value> at, RewriterBase &b) {
  Location loc = op.getLoc();
  int64_t dim = op.getDim(), block = op.getBlock();
  Value length = s.dim(in, dim);
  bool mean = op.getKind() == PoolKind::mean;
  Value begin = arith::MulIOp::create(b, loc, at[dim], s.idx(block));
  Value end = arith::MinSIOp::create(
      b, loc, arith::AddIOp::create(b, loc, begin, s.idx(block)), length);
  Value init = arith::ConstantOp::create(
      b, loc, b.getF32FloatAttr(mean ? 0.0 : -INFINITY));
  Value reduced = s.loop(begin, end, {init}, [&](Value x, ValueRange acc) {
    SmallVector<Value> from(at);
    from[dim] = x;
    Value v = s.toF32(memref::LoadOp::create(b, loc, in, from));
    return SmallVector<Value>{
        mean ? arith::AddFOp::create(b, loc, acc[0], v).getResult()
             : arith::MaximumFOp::create(b, loc, acc[0], v).getResult()};
  })[0];
  if (mean) {
    Value n = arith::SIToFPOp::create(
        b, loc, b.getF32Type(),
        arith::IndexCastOp::create(b, loc, b.getI64Type(),
                                   arith::SubIOp::create(b, loc, end, begin)));
    reduced = arith::DivFOp::create(b, loc, reduced, n);
  }
  Type element =
      cast<RankedTensorType>(op.getOutput().getType()).getElementType();
  if (!element.isF32())
    reduced = arith::TruncFOp::create(b, loc, element, reduced);
  return reduced;
}

/// attn.pool: every output element reduces its block of the input along
/// `dim` (mean over the block's actual length, or max).
static LogicalResult lowerSelection(PoolOp op, RewriterBase &b,
                                    RowThreads *threaded) {
  SelectionBuilder s(b, op.getLoc(), threaded);
  Location loc = op.getLoc();
  b.setInsertionPoint(op);
  Value in = s.buffer(op.getInput());
  auto outType = cast<RankedTensorType>(op.getOutput().getType());
  int64_t rank = outType.getRank(), dim = op.getDim(), block = op.getBlock();
  SmallVector<Value> outSizes, dynamicSizes;
  for (int64_t d = 0; d < rank; ++d) {
    Value size = s.dim(in, d);
    if (d == dim)
      size = arith::CeilDivSIOp::create(b, loc, size, s.idx(block));
    outSizes.push_back(size);
    if (outType.isDynamicDim(d))
      dynamicSizes.push_back(size);
  }
  Value out = s.alloc(outType, dynamicSizes);
  SmallVector<Value> at(rank);
  // In a host kernel, the threads split the outermost dimension.
  bool split = threaded && threaded->host;
  std::function<void(int64_t)> nest = [&](int64_t d) {
    if (d < rank) {
      Value lb = split && d == 0 ? threaded->thread : s.idx(0);
      Value step = split && d == 0 ? threaded->threads : s.idx(1);
      s.stridedLoop(lb, outSizes[d], step, {}, [&](Value x, ValueRange) {
        at[d] = x;
        nest(d + 1);
        return SmallVector<Value>{};
      });
      return;
    }
    memref::StoreOp::create(b, loc, poolElement(s, op, in, at, b), out, at);
  };
  nest(0);
  b.replaceOp(op, s.toTensor(out, outType));
  return success();
}

// The block selections and attention top-k (other files) next to this
// file's overloads.
using mlir::attn::lowerSelection;

static LogicalResult dispatchSelection(Operation *op, RewriterBase &b,
                                       RowThreads *threaded) {
  return TypeSwitch<Operation *, LogicalResult>(op)
      .Case<IndexerTopkOp, PoolOp, HeadTopkOp, BlockTopkOp, HipTopkOp,
            ThresholdBlocksOp, PyramidLevelsOp, ValueTopkOp, QueryTopkOp,
            MaskTilesOp, IdRangesOp, AttentionOp>([&](auto selection) {
        return lowerSelection(selection, b, threaded);
      })
      .Default([](Operation *op) {
        return op->emitOpError("is not a selection op");
      });
}

LogicalResult mlir::attn::lowerSelectionOp(Operation *op, RewriterBase &b,
                                           RowThreads *threaded) {
  return dispatchSelection(op, b, threaded);
}

/// Lowers every selection op under `root` (attentions only where they have
/// `topk` results); collected first, since lowering rewrites the IR.
/// Masks whose summaries (`#attn.dense<tiles>`, `#attn.document<ranges>`)
/// are computed in the same function go back to their plain form, and the
/// summaries' ops, now unused, are erased: the loops read the mask itself,
/// and a summary lowered here would no longer be its op's result, which the
/// attention's verifier requires. (Program steps receive theirs as
/// arguments and keep them.)
static void dropSummaries(Operation *root, RewriterBase &rewriter) {
  root->walk([&](AttentionOp op) {
    Attribute mask = op.getMaskAttr();
    if (!mask)
      return;
    bool dropped = false;
    SmallVector<Value> operands;
    Attribute plain = mapMaskLeaves(
        mask, op.getMaskOperands(), operands,
        [&](Attribute leaf, ValueRange in,
            SmallVectorImpl<Value> &out) -> Attribute {
          auto dense = dyn_cast<DenseAttr>(leaf);
          auto document = dyn_cast<DocumentAttr>(leaf);
          size_t kept = dense && dense.getTiles()          ? 1
                        : document && document.getRanges() ? 2
                                                           : in.size();
          bool made = kept < in.size() &&
                      llvm::all_of(
                          in.drop_front(kept),
                          [](Value summary) {
                            return isa_and_present<MaskTilesOp, IdRangesOp>(
                                summary.getDefiningOp());
                          });
          if (!made) {
            out.append(in.begin(), in.end());
            return leaf;
          }
          dropped = true;
          out.append(in.begin(), in.begin() + kept);
          if (dense)
            return DenseAttr::get(leaf.getContext(), /*tiles=*/false);
          return DocumentAttr::get(leaf.getContext(), /*ranges=*/false);
        });
    if (!dropped)
      return;
    op.getMaskOperandsMutable().assign(operands);
    op.setMaskAttr(plain);
  });
  SmallVector<Operation *> unused;
  root->walk([&](Operation *op) {
    if (isa<MaskTilesOp, IdRangesOp>(op) && op->use_empty())
      unused.push_back(op);
  });
  for (Operation *op : unused)
    rewriter.eraseOp(op);
}

static LogicalResult lowerAll(Operation *root, RewriterBase &rewriter) {
  dropSummaries(root, rewriter);
  SmallVector<Operation *> ops;
  root->walk([&](Operation *op) {
    if (isSelection(op))
      ops.push_back(op);
  });
  for (Operation *op : ops)
    if (failed(lowerSelectionOp(op, rewriter)))
      return failure();
  return success();
}

namespace {
struct AttnLowerSelectionPass
    : mlir::attn::impl::AttnLowerSelectionPassBase<AttnLowerSelectionPass> {
  using Base::Base;

  void runOnOperation() override {
    IRRewriter rewriter(&getContext());
    if (kernelAbi) {
      SmallVector<func::FuncOp> funcs;
      getOperation()->walk([&](func::FuncOp func) { funcs.push_back(func); });
      for (func::FuncOp func : funcs)
        if (failed(lowerSelectionStepToHostKernel(func, rewriter)))
          return signalPassFailure();
    }
    if (failed(lowerAll(getOperation(), rewriter)))
      signalPassFailure();
  }
};
} // namespace

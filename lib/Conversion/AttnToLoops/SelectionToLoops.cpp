//===- SelectionToLoops.cpp - selection ops to loops ----------------------===//
//
// attn-lower-selection: `attn.indexer_topk` (D1, and both stages of the
// hierarchical D2 with `key_block` and `within`), `attn.block_topk` (D3),
// `attn.value_topk` (G4), `attn.query_topk` (D7), `attn.head_topk` (G2) and
// `attn.pool` become loops on buffers, at tensor level like
// attn-lower-to-loops.
//
// Top-k is a radix select, not a sort: per query row the indexer scores of
// the candidate keys become order-preserving 32-bit keys (0 for keys the
// mask or the block list rules out); four passes of 256-bin histograms over
// the candidates find the k-th largest key T and how many keys equal to T
// are kept; one pass in ascending key order then writes every key above T
// and the first such keys equal to T. That is exactly "the k best, ties to
// the smaller index, in ascending key order", in O(5 Sk) per row whatever
// k is.
//
//===----------------------------------------------------------------------===//

#include "TileLoops.h"
#include "attn/Conversion/AttnToLoops/ElementEmitter.h"
#include "attn/Conversion/Passes.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
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

namespace {

/// Builds the loops of one selection op.
class SelectionBuilder {
public:
  SelectionBuilder(RewriterBase &b, Location loc) : b(b), loc(loc) {}

  Value idx(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
  Value i32(int64_t v) { return arith::ConstantIntOp::create(b, loc, v, 32); }
  Value buffer(Value tensor) {
    auto type = cast<RankedTensorType>(tensor.getType());
    return bufferization::ToBufferOp::create(
        b, loc, MemRefType::get(type.getShape(), type.getElementType()), tensor,
        /*read_only=*/true);
  }
  /// Tensors among `values` as buffers, scalars as they are.
  SmallVector<Value> buffers(ValueRange values) {
    return llvm::map_to_vector(values, [&](Value x) -> Value {
      return isa<RankedTensorType>(x.getType()) ? buffer(x) : x;
    });
  }
  Value toF32(Value x) {
    return x.getType().isF32()
               ? x
               : arith::ExtFOp::create(b, loc, b.getF32Type(), x).getResult();
  }
  Value toIndex(Value x) {
    if (x.getType().isIndex())
      return x;
    return arith::IndexCastOp::create(b, loc, b.getIndexType(), x);
  }
  Value dim(Value memref, int64_t d) {
    return memref::DimOp::create(b, loc, memref, d);
  }
  /// A buffer of `type` whose dynamic sizes come from `dynamicSizes`.
  Value alloc(RankedTensorType type, ValueRange dynamicSizes) {
    return memref::AllocOp::create(
        b, loc, MemRefType::get(type.getShape(), type.getElementType()),
        dynamicSizes);
  }
  Value toTensor(Value memref, Type type) {
    return bufferization::ToTensorOp::create(b, loc, type, memref,
                                             /*restrict=*/true,
                                             /*writable=*/true);
  }

  /// for (iv = lb; iv < ub; ++iv) carrying `init`.
  template <typename Body>
  SmallVector<Value> loop(Value lb, Value ub, ValueRange init, Body body) {
    return tiles::forLoop(b, loc, lb, ub, idx(1), init, body);
  }

  /// body(b, i) for every (batch, query) row.
  template <typename Body> void rows(Value batch, Value len, Body body) {
    loop(idx(0), batch, {}, [&](Value bb, ValueRange) {
      loop(idx(0), len, {}, [&](Value i, ValueRange) {
        body(bb, i);
        return SmallVector<Value>{};
      });
      return SmallVector<Value>{};
    });
  }

  /// `then` when `cond`, else `init` unchanged.
  template <typename Body>
  SmallVector<Value> ifThen(Value cond, ValueRange init, Body then) {
    auto ifOp = scf::IfOp::create(b, loc, ValueRange(init).getTypes(), cond,
                                  /*withElseRegion=*/!init.empty());
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    SmallVector<Value> next = then();
    if (!init.empty()) {
      scf::YieldOp::create(b, loc, next);
      b.setInsertionPointToStart(ifOp.elseBlock());
      scf::YieldOp::create(b, loc, init);
    }
    return SmallVector<Value>(ifOp.getResults());
  }

  /// An order-preserving unsigned 32-bit key of a finite f32 (never 0;
  /// -0.0 and +0.0 get the same key).
  Value orderedKey(Value score) {
    Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0));
    Value bits = arith::BitcastOp::create(
        b, loc, b.getI32Type(), arith::AddFOp::create(b, loc, score, zero));
    Value sign = arith::ShRSIOp::create(b, loc, bits, i32(31));
    Value flip = arith::OrIOp::create(b, loc, sign, i32(INT32_MIN));
    Value key = arith::XOrIOp::create(b, loc, bits, flip);
    return arith::MaxUIOp::create(b, loc, key, i32(1));
  }

  /// The candidate mask of a selection op over a problem of `shape`
  /// (queryLen, keyLen, queryHeads): whether it allows any pair of queries
  /// [i0, i1) and keys [j0, j1) of (b, h). A null mask allows everything.
  struct MaskProblem {
    Attribute mask;
    ValueRange operands;
    Value queryLen, keyLen, queryHeads;
  };
  Value allowsAny(const MaskProblem &problem, Value bb, Value h, Value i0,
                  Value i1, Value j0, Value j1) {
    Value none = arith::ConstantIntOp::create(b, loc, 0, 1);
    if (!problem.mask)
      return arith::ConstantIntOp::create(b, loc, 1, 1);
    return loop(i0, i1, {none}, [&](Value i, ValueRange anyRow) {
      return loop(j0, j1, anyRow, [&](Value j, ValueRange any) {
        LoopValues values;
        values.batch = bb;
        values.head = h;
        values.query = i;
        values.key = j;
        values.queryBegin = i0;
        values.queryEnd = i1;
        values.queryLen = problem.queryLen;
        values.keyLen = problem.keyLen;
        values.queryHeads = problem.queryHeads;
        ElementEmitter emitter(b, loc, values, problem.operands);
        Region noPredicate;
        return SmallVector<Value>{arith::OrIOp::create(
            b, loc, any[0], emitter.emitMask(problem.mask, noPredicate, {}))};
      });
    })[0];
  }

  /// Radix select over `keys[0 .. n)` (0: not a candidate): writes the
  /// best min(k, candidates) positions in ascending order to
  /// `out[row..., 0 ..)`, pads with -1 up to k, and returns the count (i32).
  Value selectTop(Value keys, Value n, int64_t k, Value hist, Value out,
                  ValueRange outPrefix);

private:
  RewriterBase &b;
  Location loc;
};

} // namespace

Value SelectionBuilder::selectTop(Value keys, Value n, int64_t k, Value hist,
                                  Value out, ValueRange outPrefix) {
  Value zero = idx(0), zero32 = i32(0), one32 = i32(1);
  Value candidates = loop(zero, n, {zero32}, [&](Value j, ValueRange acc) {
    Value key = memref::LoadOp::create(b, loc, keys, ValueRange{j});
    Value is = arith::ExtUIOp::create(
        b, loc, b.getI32Type(),
        arith::CmpIOp::create(b, loc, CmpIPredicate::ne, key, zero32));
    return SmallVector<Value>{arith::AddIOp::create(b, loc, acc[0], is)};
  })[0];
  Value count = arith::MinSIOp::create(b, loc, candidates, i32(k));
  // Digits from the most significant byte: the prefix of T so far and how
  // many keys equal to that prefix are still to be taken.
  Value prefix = zero32, remaining = count;
  for (int64_t shift = 24; shift >= 0; shift -= 8) {
    loop(zero, idx(256), {}, [&](Value bin, ValueRange) {
      memref::StoreOp::create(b, loc, zero32, hist, ValueRange{bin});
      return SmallVector<Value>{};
    });
    Value high = i32(shift + 8);
    loop(zero, n, {}, [&](Value j, ValueRange) {
      Value key = memref::LoadOp::create(b, loc, keys, ValueRange{j});
      Value match =
          arith::CmpIOp::create(b, loc, CmpIPredicate::ne, key, zero32);
      if (shift < 24)
        match = arith::AndIOp::create(
            b, loc, match,
            arith::CmpIOp::create(
                b, loc, CmpIPredicate::eq,
                arith::ShRUIOp::create(b, loc, key, high),
                arith::ShRUIOp::create(b, loc, prefix, high)));
      ifThen(match, {}, [&] {
        Value digit = toIndex(arith::AndIOp::create(
            b, loc, arith::ShRUIOp::create(b, loc, key, i32(shift)), i32(255)));
        Value c = memref::LoadOp::create(b, loc, hist, ValueRange{digit});
        memref::StoreOp::create(b, loc, arith::AddIOp::create(b, loc, c, one32),
                                hist, ValueRange{digit});
        return SmallVector<Value>{};
      });
      return SmallVector<Value>{};
    });
    // From the top bin down: the bin where the count of larger keys plus
    // this bin reaches `remaining`. (Fewer candidates than that only when
    // remaining is 0: the scan then stops at bin 255 with nothing taken.)
    auto scan =
        scf::WhileOp::create(b, loc, TypeRange{b.getI32Type(), b.getI32Type()},
                             ValueRange{i32(255), zero32});
    {
      OpBuilder::InsertionGuard guard(b);
      Block *before = b.createBlock(
          &scan.getBefore(), {}, {b.getI32Type(), b.getI32Type()}, {loc, loc});
      Value bin = before->getArgument(0), above = before->getArgument(1);
      Value here =
          memref::LoadOp::create(b, loc, hist, ValueRange{toIndex(bin)});
      Value short_ = arith::CmpIOp::create(
          b, loc, CmpIPredicate::slt,
          arith::AddIOp::create(b, loc, above, here), remaining);
      Value more = arith::AndIOp::create(
          b, loc, short_,
          arith::CmpIOp::create(b, loc, CmpIPredicate::sgt, bin, zero32));
      scf::ConditionOp::create(b, loc, more, ValueRange{bin, above});
      Block *after = b.createBlock(
          &scan.getAfter(), {}, {b.getI32Type(), b.getI32Type()}, {loc, loc});
      Value afterBin = after->getArgument(0),
            afterAbove = after->getArgument(1);
      Value afterHere =
          memref::LoadOp::create(b, loc, hist, ValueRange{toIndex(afterBin)});
      scf::YieldOp::create(
          b, loc,
          ValueRange{arith::SubIOp::create(b, loc, afterBin, one32),
                     arith::AddIOp::create(b, loc, afterAbove, afterHere)});
    }
    prefix = arith::OrIOp::create(
        b, loc, prefix,
        arith::ShLIOp::create(b, loc, scan.getResult(0), i32(shift)));
    remaining = arith::SubIOp::create(b, loc, remaining, scan.getResult(1));
  }
  // Keys above T, and the first `remaining` keys equal to T, in ascending
  // position order.
  auto store = [&](Value value, Value t) {
    SmallVector<Value> at(outPrefix);
    at.push_back(toIndex(t));
    memref::StoreOp::create(b, loc, value, out, at);
  };
  Value written =
      loop(zero, n, {zero32, remaining}, [&](Value j, ValueRange acc) {
        Value key = memref::LoadOp::create(b, loc, keys, ValueRange{j});
        Value above =
            arith::CmpIOp::create(b, loc, CmpIPredicate::ugt, key, prefix);
        Value equal = arith::AndIOp::create(
            b, loc,
            arith::CmpIOp::create(b, loc, CmpIPredicate::eq, key, prefix),
            arith::CmpIOp::create(b, loc, CmpIPredicate::sgt, acc[1], zero32));
        Value take = arith::AndIOp::create(
            b, loc, arith::OrIOp::create(b, loc, above, equal),
            arith::CmpIOp::create(b, loc, CmpIPredicate::ne, key, zero32));
        return ifThen(take, acc, [&] {
          store(arith::IndexCastOp::create(b, loc, b.getI32Type(), j), acc[0]);
          Value ties = arith::SelectOp::create(
              b, loc, equal, arith::SubIOp::create(b, loc, acc[1], one32),
              acc[1]);
          return SmallVector<Value>{
              arith::AddIOp::create(b, loc, acc[0], one32), ties};
        });
      })[0];
  loop(toIndex(written), idx(k), {}, [&](Value t, ValueRange) {
    store(i32(-1), t);
    return SmallVector<Value>{};
  });
  return count;
}

/// attn.indexer_topk: per (b, i), the indexer score of every candidate key
/// (or key block), then the radix select.
static LogicalResult lowerIndexerTopk(IndexerTopkOp op, RewriterBase &b) {
  SelectionBuilder s(b, op.getLoc());
  Location loc = op.getLoc();
  b.setInsertionPoint(op);
  Value qi = s.buffer(op.getQuery()), ki = s.buffer(op.getKey());
  Value w = s.buffer(op.getWeights());
  SmallVector<Value> maskOps = s.buffers(op.getMaskOperands());
  Value blockCounts, blockIndices;
  if (op.getBlockCounts()) {
    blockCounts = s.buffer(op.getBlockCounts());
    blockIndices = s.buffer(op.getBlockIndices());
  }
  int64_t k = op.getK(), keyBlock = op.getKeyBlock();
  Value batch = s.dim(qi, 0), queryLen = s.dim(qi, 1);
  Value heads = s.dim(qi, 2), dimI = s.dim(qi, 3), keys = s.dim(ki, 1);
  auto countsType = cast<RankedTensorType>(op.getCounts().getType());
  auto indicesType = cast<RankedTensorType>(op.getIndices().getType());
  auto dynamicSizes = [&](RankedTensorType type) {
    SmallVector<Value> sizes;
    for (auto [d, size] : llvm::enumerate(type.getShape()))
      if (ShapedType::isDynamic(size))
        sizes.push_back(d == 0 ? batch : queryLen);
    return sizes;
  };
  Value counts = s.alloc(countsType, dynamicSizes(countsType));
  Value indices = s.alloc(indicesType, dynamicSizes(indicesType));
  // Scratch: the candidate keys of one row and the histogram.
  Value keyRow = memref::AllocOp::create(
      b, loc, MemRefType::get({ShapedType::kDynamic}, b.getI32Type()),
      ValueRange{keys});
  Value hist =
      memref::AllocaOp::create(b, loc, MemRefType::get({256}, b.getI32Type()));
  Value zero = s.idx(0), one = s.idx(1), zero32 = s.i32(0);
  Value zeroF = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0));
  // The mask sees the underlying keys: blocks x key_block of them.
  Value maskKeyLen = arith::MulIOp::create(b, loc, keys, s.idx(keyBlock));

  s.rows(batch, queryLen, [&](Value bb, Value i) {
    s.loop(zero, keys, {}, [&](Value j, ValueRange) {
      memref::StoreOp::create(b, loc, zero32, keyRow, ValueRange{j});
      return SmallVector<Value>{};
    });
    // keyRow[j] = the ordered key of I[b, i, j] where the mask allows j
    // (a block of `key_block` keys: where it allows any of them).
    auto score = [&](Value j) {
      Value first = arith::MulIOp::create(b, loc, j, s.idx(keyBlock));
      Value allowed =
          s.allowsAny({op.getMaskAttr(), maskOps, queryLen, maskKeyLen, one},
                      bb, zero, i, arith::AddIOp::create(b, loc, i, one), first,
                      arith::AddIOp::create(b, loc, first, s.idx(keyBlock)));
      s.ifThen(allowed, {}, [&] {
        Value total =
            s.loop(zero, heads, {zeroF}, [&](Value t, ValueRange acc) {
              Value dot =
                  s.loop(zero, dimI, {zeroF}, [&](Value d, ValueRange a) {
                    Value x = s.toF32(memref::LoadOp::create(
                        b, loc, qi, ValueRange{bb, i, t, d}));
                    Value y = s.toF32(memref::LoadOp::create(
                        b, loc, ki, ValueRange{bb, j, d}));
                    return SmallVector<Value>{arith::AddFOp::create(
                        b, loc, a[0], arith::MulFOp::create(b, loc, x, y))};
                  })[0];
              Value relu = arith::MaximumFOp::create(b, loc, dot, zeroF);
              Value weight = s.toF32(
                  memref::LoadOp::create(b, loc, w, ValueRange{bb, i, t}));
              return SmallVector<Value>{arith::AddFOp::create(
                  b, loc, acc[0], arith::MulFOp::create(b, loc, weight, relu))};
            })[0];
        memref::StoreOp::create(b, loc, s.orderedKey(total), keyRow,
                                ValueRange{j});
        return SmallVector<Value>{};
      });
    };
    if (blockCounts) {
      // Only the keys of the row's listed blocks (counts clamped to the
      // list, blocks outside the keys select nothing).
      int64_t blockSize = op.getBlockSizeAttr().getInt();
      Value listed = arith::MaxSIOp::create(
          b, loc,
          arith::MinSIOp::create(
              b, loc,
              s.toIndex(memref::LoadOp::create(b, loc, blockCounts,
                                               ValueRange{bb, zero, i})),
              s.dim(blockIndices, 3)),
          zero);
      s.loop(zero, listed, {}, [&](Value t, ValueRange) {
        Value block = s.toIndex(memref::LoadOp::create(
            b, loc, blockIndices, ValueRange{bb, zero, i, t}));
        auto clamp = [&](Value x) -> Value {
          return arith::MinSIOp::create(
              b, loc, arith::MaxSIOp::create(b, loc, x, zero), keys);
        };
        Value j0 = arith::MulIOp::create(b, loc, block, s.idx(blockSize));
        Value j1 = arith::AddIOp::create(b, loc, j0, s.idx(blockSize));
        s.loop(clamp(j0), clamp(j1), {}, [&](Value j, ValueRange) {
          score(j);
          return SmallVector<Value>{};
        });
        return SmallVector<Value>{};
      });
    } else {
      s.loop(zero, keys, {}, [&](Value j, ValueRange) {
        score(j);
        return SmallVector<Value>{};
      });
    }
    Value count = s.selectTop(keyRow, keys, k, hist, indices, {bb, zero, i});
    memref::StoreOp::create(b, loc, count, counts, ValueRange{bb, zero, i});
  });
  b.replaceOp(
      op, {s.toTensor(counts, countsType), s.toTensor(indices, indicesType)});
  return success();
}

/// attn.block_topk (D3): per (b, h, query block), the pooled query block
/// against every pooled key block the mask allows somewhere (any pair of
/// the two blocks), the k best by dot product (the local block first with
/// `include_local`), by the same radix select.
static LogicalResult lowerBlockTopk(BlockTopkOp op, RewriterBase &b) {
  SelectionBuilder s(b, op.getLoc());
  Location loc = op.getLoc();
  b.setInsertionPoint(op);
  Value q = s.buffer(op.getQuery()), k = s.buffer(op.getKey());
  SmallVector<Value> maskOps = s.buffers(op.getMaskOperands());
  int64_t qBlock = op.getQBlock(), kBlock = op.getKBlock(), topk = op.getK();
  bool mean = op.getPool() == PoolKind::mean;
  Value batch = s.dim(q, 0), heads = s.dim(q, 1), queryLen = s.dim(q, 2);
  Value dim = s.dim(q, 3), keyHeads = s.dim(k, 1), keyLen = s.dim(k, 2);
  Value qBlocks = arith::CeilDivSIOp::create(b, loc, queryLen, s.idx(qBlock));
  Value kBlocks = arith::CeilDivSIOp::create(b, loc, keyLen, s.idx(kBlock));
  auto countsType = cast<RankedTensorType>(op.getCounts().getType());
  auto indicesType = cast<RankedTensorType>(op.getIndices().getType());
  auto sizes = [&](RankedTensorType type) {
    Value all[] = {batch, heads, qBlocks};
    SmallVector<Value> dynamic;
    for (auto [d, size] : llvm::enumerate(type.getShape()))
      if (ShapedType::isDynamic(size))
        dynamic.push_back(all[d]);
    return dynamic;
  };
  Value counts = s.alloc(countsType, sizes(countsType));
  Value indices = s.alloc(indicesType, sizes(indicesType));
  auto f32Row = memref::AllocOp::create(
      b, loc, MemRefType::get({ShapedType::kDynamic}, b.getF32Type()),
      ValueRange{dim});
  auto keyRow = memref::AllocOp::create(
      b, loc, MemRefType::get({ShapedType::kDynamic}, b.getI32Type()),
      ValueRange{kBlocks});
  Value hist =
      memref::AllocaOp::create(b, loc, MemRefType::get({256}, b.getI32Type()));
  Value zero = s.idx(0), one = s.idx(1);
  Value zeroF = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0));
  Value init = arith::ConstantOp::create(
      b, loc, b.getF32FloatAttr(mean ? 0.0 : -INFINITY));
  Value group = arith::DivUIOp::create(b, loc, heads, keyHeads);
  // Pools rows [r0, r1) of `x` at (b, head) into f32Row (mean or max).
  auto poolRows = [&](Value x, Value bb, Value head, Value r0, Value r1,
                      Value d) -> Value {
    Value reduced = s.loop(r0, r1, {init}, [&](Value r, ValueRange acc) {
      Value e = s.toF32(
          memref::LoadOp::create(b, loc, x, ValueRange{bb, head, r, d}));
      return SmallVector<Value>{
          mean ? arith::AddFOp::create(b, loc, acc[0], e).getResult()
               : arith::MaximumFOp::create(b, loc, acc[0], e).getResult()};
    })[0];
    if (!mean)
      return reduced;
    Value n = arith::SIToFPOp::create(
        b, loc, b.getF32Type(),
        arith::IndexCastOp::create(b, loc, b.getI64Type(),
                                   arith::SubIOp::create(b, loc, r1, r0)));
    return arith::DivFOp::create(b, loc, reduced, n);
  };
  s.loop(zero, batch, {}, [&](Value bb, ValueRange) {
    s.loop(zero, heads, {}, [&](Value h, ValueRange) {
      Value g = arith::DivUIOp::create(b, loc, h, group);
      s.loop(zero, qBlocks, {}, [&](Value qb, ValueRange) {
        Value i0 = arith::MulIOp::create(b, loc, qb, s.idx(qBlock));
        Value i1 = arith::MinSIOp::create(
            b, loc, arith::AddIOp::create(b, loc, i0, s.idx(qBlock)), queryLen);
        s.loop(zero, dim, {}, [&](Value d, ValueRange) {
          memref::StoreOp::create(b, loc, poolRows(q, bb, h, i0, i1, d), f32Row,
                                  ValueRange{d});
          return SmallVector<Value>{};
        });
        Value local = arith::DivUIOp::create(
            b, loc, arith::SubIOp::create(b, loc, i1, one), s.idx(kBlock));
        s.loop(zero, kBlocks, {}, [&](Value kb, ValueRange) {
          Value j0 = arith::MulIOp::create(b, loc, kb, s.idx(kBlock));
          Value j1 = arith::MinSIOp::create(
              b, loc, arith::AddIOp::create(b, loc, j0, s.idx(kBlock)), keyLen);
          // A candidate when the mask allows any pair of the two blocks.
          Value allowed =
              s.allowsAny({op.getMaskAttr(), maskOps, queryLen, keyLen, heads},
                          bb, h, i0, i1, j0, j1);
          Value score =
              s.loop(zero, dim, {zeroF}, [&](Value d, ValueRange acc) {
                Value kp = poolRows(k, bb, g, j0, j1, d);
                Value qp =
                    memref::LoadOp::create(b, loc, f32Row, ValueRange{d});
                return SmallVector<Value>{arith::AddFOp::create(
                    b, loc, acc[0], arith::MulFOp::create(b, loc, qp, kp))};
              })[0];
          Value key = arith::SelectOp::create(b, loc, allowed,
                                              s.orderedKey(score), s.i32(0));
          if (op.getIncludeLocal())
            key = arith::SelectOp::create(
                b, loc,
                arith::CmpIOp::create(b, loc, CmpIPredicate::eq, kb, local),
                s.i32(-1), key);
          memref::StoreOp::create(b, loc, key, keyRow, ValueRange{kb});
          return SmallVector<Value>{};
        });
        Value count =
            s.selectTop(keyRow, kBlocks, topk, hist, indices, {bb, h, qb});
        memref::StoreOp::create(b, loc, count, counts, ValueRange{bb, h, qb});
        return SmallVector<Value>{};
      });
      return SmallVector<Value>{};
    });
    return SmallVector<Value>{};
  });
  b.replaceOp(
      op, {s.toTensor(counts, countsType), s.toTensor(indices, indicesType)});
  return success();
}

/// attn.value_topk (G4): per (b, key head), scores[b,g,j] = V[b,g,j,:] .
/// weight[g,:], written out, and the k best keys among those the mask
/// allows for some query (the mask sees Sq = Sk: self-attention).
static LogicalResult lowerValueTopk(ValueTopkOp op, RewriterBase &b) {
  SelectionBuilder s(b, op.getLoc());
  Location loc = op.getLoc();
  b.setInsertionPoint(op);
  Value v = s.buffer(op.getValue()), weight = s.buffer(op.getWeight());
  SmallVector<Value> maskOps = s.buffers(op.getMaskOperands());
  Value batch = s.dim(v, 0), heads = s.dim(v, 1), keys = s.dim(v, 2);
  Value dim = s.dim(v, 3);
  auto countsType = cast<RankedTensorType>(op.getCounts().getType());
  auto indicesType = cast<RankedTensorType>(op.getIndices().getType());
  auto scoresType = cast<RankedTensorType>(op.getScores().getType());
  auto sizes = [&](RankedTensorType type, Value last) {
    Value all[] = {batch, heads, last};
    SmallVector<Value> dynamic;
    for (auto [d, size] : llvm::enumerate(type.getShape()))
      if (ShapedType::isDynamic(size))
        dynamic.push_back(all[d]);
    return dynamic;
  };
  Value counts = s.alloc(countsType, sizes(countsType, s.idx(1)));
  Value indices = s.alloc(indicesType, sizes(indicesType, s.idx(1)));
  Value scores = s.alloc(scoresType, sizes(scoresType, keys));
  Value keyRow = memref::AllocOp::create(
      b, loc, MemRefType::get({ShapedType::kDynamic}, b.getI32Type()),
      ValueRange{keys});
  Value hist =
      memref::AllocaOp::create(b, loc, MemRefType::get({256}, b.getI32Type()));
  Value zero = s.idx(0);
  Value zeroF = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0));
  s.rows(batch, heads, [&](Value bb, Value g) {
    s.loop(zero, keys, {}, [&](Value j, ValueRange) {
      Value score = s.loop(zero, dim, {zeroF}, [&](Value d, ValueRange acc) {
        Value x =
            s.toF32(memref::LoadOp::create(b, loc, v, ValueRange{bb, g, j, d}));
        Value y =
            s.toF32(memref::LoadOp::create(b, loc, weight, ValueRange{g, d}));
        return SmallVector<Value>{arith::AddFOp::create(
            b, loc, acc[0], arith::MulFOp::create(b, loc, x, y))};
      })[0];
      memref::StoreOp::create(b, loc, score, scores, ValueRange{bb, g, j});
      // A candidate when the mask allows it for some query.
      Value allowed = s.allowsAny(
          {op.getMaskAttr(), maskOps, keys, keys, heads}, bb, g, zero, keys, j,
          arith::AddIOp::create(b, loc, j, s.idx(1)));
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
  });
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
static LogicalResult lowerQueryTopk(QueryTopkOp op, RewriterBase &b) {
  SelectionBuilder s(b, op.getLoc());
  Location loc = op.getLoc();
  b.setInsertionPoint(op);
  Value q = s.buffer(op.getQuery()), k = s.buffer(op.getKey());
  Value batch = s.dim(q, 0), heads = s.dim(q, 1), queryLen = s.dim(q, 2);
  Value dim = s.dim(q, 3), keyHeads = s.dim(k, 1), keys = s.dim(k, 2);
  int64_t maxTokens = op.getMaxTokens();
  auto countsType = cast<RankedTensorType>(op.getCounts().getType());
  auto indicesType = cast<RankedTensorType>(op.getIndices().getType());
  auto sizes = [&](RankedTensorType type) {
    SmallVector<Value> dynamic;
    if (type.isDynamicDim(0))
      dynamic.push_back(batch);
    return dynamic;
  };
  Value counts = s.alloc(countsType, sizes(countsType));
  Value indices = s.alloc(indicesType, sizes(indicesType));
  auto row = [&](Type element, Value size) -> Value {
    return memref::AllocOp::create(
        b, loc, MemRefType::get({ShapedType::kDynamic}, element),
        ValueRange{size});
  };
  Value mass = row(b.getF32Type(), keys), scores = row(b.getF32Type(), keys);
  Value keyRow = row(b.getI32Type(), keys);
  Value list = row(b.getI32Type(), s.idx(maxTokens));
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
  s.loop(zero, batch, {}, [&](Value bb, ValueRange) {
    s.loop(zero, keys, {}, [&](Value j, ValueRange) {
      memref::StoreOp::create(b, loc, zeroF, mass, ValueRange{j});
      return SmallVector<Value>{};
    });
    s.rows(heads, queryLen, [&](Value h, Value i) {
      Value g = arith::DivUIOp::create(b, loc, h, group);
      Value max = s.loop(zero, keys, {negInf}, [&](Value j, ValueRange m) {
        Value dot = s.loop(zero, dim, {zeroF}, [&](Value d, ValueRange acc) {
          Value x = s.toF32(
              memref::LoadOp::create(b, loc, q, ValueRange{bb, h, i, d}));
          Value y = s.toF32(
              memref::LoadOp::create(b, loc, k, ValueRange{bb, g, j, d}));
          return SmallVector<Value>{arith::AddFOp::create(
              b, loc, acc[0], arith::MulFOp::create(b, loc, x, y))};
        })[0];
        Value score = arith::MulFOp::create(b, loc, dot, scale);
        memref::StoreOp::create(b, loc, score, scores, ValueRange{j});
        return SmallVector<Value>{
            arith::MaximumFOp::create(b, loc, m[0], score)};
      })[0];
      auto weight = [&](Value j) -> Value {
        return math::ExpOp::create(
            b, loc, arith::SubFOp::create(b, loc, load(scores, j), max));
      };
      Value sum = s.loop(zero, keys, {zeroF}, [&](Value j, ValueRange acc) {
        return SmallVector<Value>{
            arith::AddFOp::create(b, loc, acc[0], weight(j))};
      })[0];
      s.loop(zero, keys, {}, [&](Value j, ValueRange) {
        memref::StoreOp::create(
            b, loc,
            arith::AddFOp::create(
                b, loc, load(mass, j),
                arith::DivFOp::create(b, loc, weight(j), sum)),
            mass, ValueRange{j});
        return SmallVector<Value>{};
      });
    });
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
      Value total = s.loop(zero, keys, {zeroF}, [&](Value j, ValueRange acc) {
        return SmallVector<Value>{
            arith::AddFOp::create(b, loc, acc[0], load(mass, j))};
      })[0];
      Value goal = arith::MulFOp::create(
          b, loc, total,
          arith::ConstantOp::create(
              b, loc, b.getF32FloatAttr(threshold.getValueAsDouble())));
      Value listed = s.toIndex(count);
      s.loop(zero, listed, {zeroF, s.i32(0)}, [&](Value, ValueRange acc) {
        Value open = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OLT,
                                           acc[0], goal);
        return s.ifThen(open, acc, [&] {
          // The listed key of largest ordered key still unmarked.
          SmallVector<Value> best = s.loop(
              zero, listed, {s.i32(0), zero}, [&](Value t, ValueRange bt) {
                Value j = s.toIndex(load(list, t));
                Value key = load(keyRow, j);
                Value better = arith::CmpIOp::create(b, loc, CmpIPredicate::ugt,
                                                     key, bt[0]);
                return SmallVector<Value>{
                    arith::SelectOp::create(b, loc, better, key, bt[0]),
                    arith::SelectOp::create(b, loc, better, t, bt[1])};
              });
          Value j = s.toIndex(load(list, best[1]));
          memref::StoreOp::create(b, loc, s.i32(0), keyRow, ValueRange{j});
          return SmallVector<Value>{
              arith::AddFOp::create(b, loc, acc[0], load(mass, j)),
              arith::AddIOp::create(b, loc, acc[1], s.i32(1))};
        });
      });
      // The taken keys (cleared) in ascending order.
      Value written =
          s.loop(zero, listed, {s.i32(0)}, [&](Value t, ValueRange w) {
            Value j = s.toIndex(load(list, t));
            Value was = arith::CmpIOp::create(b, loc, CmpIPredicate::eq,
                                              load(keyRow, j), s.i32(0));
            return s.ifThen(was, w, [&] {
              memref::StoreOp::create(b, loc, load(list, t), list,
                                      ValueRange{s.toIndex(w[0])});
              return SmallVector<Value>{
                  arith::AddIOp::create(b, loc, w[0], s.i32(1))};
            });
          })[0];
      count = written;
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
    memref::StoreOp::create(b, loc, count, counts, ValueRange{bb, zero, zero});
    return SmallVector<Value>{};
  });
  b.replaceOp(
      op, {s.toTensor(counts, countsType), s.toTensor(indices, indicesType)});
  return success();
}

/// attn.head_topk (G2): per token, the k largest router logits (radix
/// select over the heads), the keep flags of the kept heads and their
/// softmax weights (0 for the others).
static LogicalResult lowerHeadTopk(HeadTopkOp op, RewriterBase &b) {
  SelectionBuilder s(b, op.getLoc());
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
  auto i32Row = [&](Value size) {
    return memref::AllocOp::create(
        b, loc, MemRefType::get({ShapedType::kDynamic}, b.getI32Type()),
        ValueRange{size});
  };
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

/// attn.pool: every output element reduces its block of the input along
/// `dim` (mean over the block's actual length, or max).
static LogicalResult lowerPool(PoolOp op, RewriterBase &b) {
  SelectionBuilder s(b, op.getLoc());
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
  Value length = s.dim(in, dim);
  bool mean = op.getKind() == PoolKind::mean;
  Type element = outType.getElementType();
  SmallVector<Value> at(rank);
  std::function<void(int64_t)> nest = [&](int64_t d) {
    if (d < rank) {
      s.loop(s.idx(0), outSizes[d], {}, [&](Value x, ValueRange) {
        at[d] = x;
        nest(d + 1);
        return SmallVector<Value>{};
      });
      return;
    }
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
          arith::IndexCastOp::create(
              b, loc, b.getI64Type(),
              arith::SubIOp::create(b, loc, end, begin)));
      reduced = arith::DivFOp::create(b, loc, reduced, n);
    }
    if (!element.isF32())
      reduced = arith::TruncFOp::create(b, loc, element, reduced);
    memref::StoreOp::create(b, loc, reduced, out, at);
  };
  nest(0);
  b.replaceOp(op, s.toTensor(out, outType));
  return success();
}

namespace {
struct AttnLowerSelectionPass
    : mlir::attn::impl::AttnLowerSelectionPassBase<AttnLowerSelectionPass> {
  using Base::Base;

  void runOnOperation() override {
    SmallVector<Operation *> ops;
    WalkResult unsupported = getOperation()->walk([&](Operation *op) {
      if (isa<IndexerTopkOp, PoolOp, HeadTopkOp, BlockTopkOp, ValueTopkOp,
              QueryTopkOp>(op))
        ops.push_back(op);
      if (isa<HipTopkOp, ThresholdBlocksOp, PyramidLevelsOp>(op)) {
        op->emitOpError("expected the selection lowering to support this op "
                        "(not implemented yet)");
        return WalkResult::interrupt();
      }
      return WalkResult::advance();
    });
    if (unsupported.wasInterrupted())
      return signalPassFailure();
    IRRewriter rewriter(&getContext());
    for (Operation *op : ops) {
      LogicalResult lowered =
          TypeSwitch<Operation *, LogicalResult>(op)
              .Case([&](PoolOp pool) { return lowerPool(pool, rewriter); })
              .Case([&](BlockTopkOp blocks) {
                return lowerBlockTopk(blocks, rewriter);
              })
              .Case([&](QueryTopkOp queries) {
                return lowerQueryTopk(queries, rewriter);
              })
              .Case([&](ValueTopkOp values) {
                return lowerValueTopk(values, rewriter);
              })
              .Case([&](HeadTopkOp heads) {
                return lowerHeadTopk(heads, rewriter);
              })
              .Case([&](IndexerTopkOp indexer) {
                return lowerIndexerTopk(indexer, rewriter);
              });
      if (failed(lowered))
        return signalPassFailure();
    }
  }
};
} // namespace

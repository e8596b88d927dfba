//===- SelectionBuilder.cpp - loops of the selection ops ------------------===//
//
// Top-k is a radix select, not a sort: per row the scores of the
// candidates become order-preserving 32-bit keys (0 for positions that are
// not candidates); four passes of 256-bin histograms over the candidates
// find the k-th largest key T and how many keys equal to T are kept; one
// pass in ascending position order then writes every key above T and the
// first such keys equal to T. That is exactly "the k best, ties to the
// smaller index, in ascending order", in O(5 n) per row whatever k is.
//
// Data-dependent budgets (D5, D7) take candidates largest first until a
// mass is reached: a selection by repeated maximum over the (short) list
// of candidates, O(n * taken).
//
//===----------------------------------------------------------------------===//

#include "SelectionBuilder.h"
#include "attn/Analysis/TileClassification.h"

#include <cmath>

using namespace mlir;
using namespace mlir::attn;

using arith::CmpIPredicate;

/// `value` as a constant, folding the ops that compute it from constants
/// (the sizes of static shapes).
static std::optional<int64_t> foldedInt(Value value, int depth = 0) {
  if (std::optional<int64_t> c = getConstantIntValue(value))
    return c;
  Operation *op = value.getDefiningOp();
  if (!op || depth > 8 || op->getNumResults() != 1)
    return std::nullopt;
  SmallVector<Attribute> operands;
  for (Value operand : op->getOperands()) {
    std::optional<int64_t> c = foldedInt(operand, depth + 1);
    if (!c)
      return std::nullopt;
    operands.push_back(IntegerAttr::get(operand.getType(), *c));
  }
  SmallVector<OpFoldResult> folded;
  if (failed(op->fold(operands, folded)) || folded.size() != 1)
    return std::nullopt;
  return getConstantIntValue(folded[0]);
}

std::optional<int64_t> SelectionBuilder::constantSize(Value size) {
  return foldedInt(size);
}

Value SelectionBuilder::row(Type element, Value size, bool shared) {
  auto dynamic = MemRefType::get({ShapedType::kDynamic}, element);
  // On the host (each thread its own call), a heap row freed by the
  // deallocation pipeline.
  if (!threaded || threaded->host)
    return memref::AllocOp::create(b, loc, dynamic, ValueRange{size});
  std::optional<int64_t> n = foldedInt(size);
  if (!n) {
    threaded->error = "a scratch row of dynamic size";
    return memref::AllocaOp::create(b, loc, dynamic, ValueRange{size});
  }
  // Index rows (short lists of positions) in the thread's local memory.
  if (element.isIndex())
    return memref::CastOp::create(
        b, loc, dynamic,
        memref::AllocaOp::create(b, loc, MemRefType::get({*n}, element)));
  // Else the thread's (or the block's) slice of this row's region of the
  // workspace: regions one after the other, blocks * (bytes per block of
  // the rows before); thread t at t * bytes (block k at k * bytes).
  int64_t bytes = *n * ((element.getIntOrFloatBitWidth() + 7) / 8);
  Value owner = shared ? threaded->block : threaded->thread;
  Value offset =
      arith::AddIOp::create(b, loc,
                            arith::MulIOp::create(b, loc, threaded->blocks,
                                                  idx(threaded->scratchBytes)),
                            arith::MulIOp::create(b, loc, owner, idx(bytes)));
  int64_t perBlock = shared ? bytes : kRowsPerBlock * bytes;
  threaded->scratchBytes += llvm::alignTo(std::max<int64_t>(perBlock, 1), 16);
  return memref::CastOp::create(
      b, loc, dynamic,
      memref::ViewOp::create(b, loc, MemRefType::get({*n}, element),
                             threaded->workspace, offset, ValueRange{}));
}

Value SelectionBuilder::poolRows(Value x, Value bb, Value head, Value r0,
                                 Value r1, Value d, bool mean, int64_t width) {
  Type f32 = b.getF32Type();
  Type type = width == 1 ? f32 : VectorType::get({width}, f32);
  auto row = [&](Value r) -> Value {
    if (width == 1)
      return toF32(
          memref::LoadOp::create(b, loc, x, ValueRange{bb, head, r, d}));
    Type element = cast<MemRefType>(x.getType()).getElementType();
    Value v =
        vector::LoadOp::create(b, loc, VectorType::get({width}, element), x,
                               ValueRange{bb, head, r, d},
                               /*nontemporal=*/false, llvm::MaybeAlign(16));
    return element.isF32() ? v : arith::ExtFOp::create(b, loc, type, v);
  };
  auto combine = [&](Value acc, Value v) -> Value {
    if (mean)
      return arith::AddFOp::create(b, loc, acc, v);
    return arith::MaximumFOp::create(b, loc, acc, v);
  };
  TypedAttr start = b.getF32FloatAttr(mean ? 0.0 : -INFINITY);
  if (width > 1)
    start = DenseElementsAttr::get(cast<ShapedType>(type), start);
  Value acc = arith::ConstantOp::create(b, loc, start);
  // Vectors of rows (16-byte loads on the GPU): four rows per step, so that
  // their loads are in flight together; the sums keep the row order.
  Value n = arith::SubIOp::create(b, loc, r1, r0);
  Value rest = r0;
  if (width > 1) {
    Value four = idx(4);
    rest = arith::AddIOp::create(
        b, loc, r0,
        arith::MulIOp::create(b, loc, arith::DivUIOp::create(b, loc, n, four),
                              four));
    acc = stridedLoop(r0, rest, four, {acc}, [&](Value r, ValueRange a) {
      SmallVector<Value> rows;
      for (int64_t u = 0; u < 4; ++u)
        rows.push_back(row(arith::AddIOp::create(b, loc, r, idx(u))));
      Value sum = a[0];
      for (Value v : rows)
        sum = combine(sum, v);
      return SmallVector<Value>{sum};
    })[0];
  }
  acc = loop(rest, r1, {acc}, [&](Value r, ValueRange a) {
    return SmallVector<Value>{combine(a[0], row(r))};
  })[0];
  if (!mean)
    return acc;
  Value count = arith::SIToFPOp::create(
      b, loc, f32, arith::IndexCastOp::create(b, loc, b.getI64Type(), n));
  if (width > 1)
    count = vector::BroadcastOp::create(b, loc, type, count);
  return arith::DivFOp::create(b, loc, acc, count);
}

Value SelectionBuilder::allowsAny(const MaskProblem &problem, Value bb, Value h,
                                  Value i0, Value i1, Value j0, Value j1,
                                  bool closedForm) {
  auto flag = [&](bool x) -> Value {
    return arith::ConstantIntOp::create(b, loc, x ? 1 : 0, 1);
  };
  if (!problem.mask)
    return flag(true);
  // The pairs of the two ranges in row-major order, until one is allowed.
  auto exhaustive = [&]() -> Value {
    Type index = b.getIndexType(), i1Type = b.getI1Type();
    auto search = scf::WhileOp::create(b, loc, TypeRange{index, index, i1Type},
                                       ValueRange{i0, j0, flag(false)});
    OpBuilder::InsertionGuard guard(b);
    Block *before = b.createBlock(&search.getBefore(), {},
                                  {index, index, i1Type}, {loc, loc, loc});
    Value more = arith::AndIOp::create(
        b, loc,
        arith::CmpIOp::create(b, loc, CmpIPredicate::slt,
                              before->getArgument(0), i1),
        arith::CmpIOp::create(b, loc, CmpIPredicate::slt, j0, j1));
    more = arith::AndIOp::create(
        b, loc, more,
        arith::XOrIOp::create(b, loc, before->getArgument(2), flag(true)));
    scf::ConditionOp::create(b, loc, more, before->getArguments());
    Block *after = b.createBlock(&search.getAfter(), {}, {index, index, i1Type},
                                 {loc, loc, loc});
    Value i = after->getArgument(0), j = after->getArgument(1);
    ElementEmitter emitter(b, loc, pairValues(problem, bb, h, i, j, i0, i1),
                           problem.operands);
    Region noPredicate;
    Value allowed = emitter.emitMask(problem.mask, noPredicate, {});
    Value nextJ = arith::AddIOp::create(b, loc, j, idx(1));
    Value wrap = arith::CmpIOp::create(b, loc, CmpIPredicate::sge, nextJ, j1);
    scf::YieldOp::create(
        b, loc,
        ValueRange{
            arith::SelectOp::create(
                b, loc, wrap, arith::AddIOp::create(b, loc, i, idx(1)), i),
            arith::SelectOp::create(b, loc, wrap, j0, nextJ), allowed});
    b.setInsertionPointAfter(search);
    return search.getResult(2);
  };
  if (!closedForm)
    return exhaustive();
  auto andI = [&](Value x, Value y) -> Value {
    return arith::AndIOp::create(b, loc, x, y);
  };
  auto [maybe, all] = classify(problem, bb, h, i0, i1, j0, j1);
  Value partial = andI(maybe, arith::XOrIOp::create(b, loc, all, flag(true)));
  return ifThen(partial, {all},
                [&] { return SmallVector<Value>{exhaustive()}; })[0];
}

std::pair<Value, Value> SelectionBuilder::classify(const MaskProblem &problem,
                                                   Value bb, Value h, Value i0,
                                                   Value i1, Value j0,
                                                   Value j1) {
  auto cmp = [&](CmpIPredicate p, Value x, Value y) -> Value {
    return arith::CmpIOp::create(b, loc, p, x, y);
  };
  auto andI = [&](Value x, Value y) -> Value {
    return arith::AndIOp::create(b, loc, x, y);
  };
  if (!problem.mask) {
    Value yes = arith::ConstantIntOp::create(b, loc, 1, 1);
    return {yes, yes};
  }
  KeyRanges ranges = computeKeyRanges(problem.mask);
  ElementEmitter emitter(b, loc, pairValues(problem, bb, h, i0, j0, i0, i1),
                         problem.operands);
  auto emitted = [&](ArrayRef<KeyInterval> intervals) {
    return llvm::map_to_vector(intervals, [&](const KeyInterval &x) {
      return std::make_pair(emitter.emitTileExpr(x.begin),
                            emitter.emitTileExpr(x.end));
    });
  };
  auto [maybe, all] = emitter.emitIntervalTest(emitted(ranges.hull),
                                               emitted(ranges.core), j0, j1);
  // The core speaks for non-empty ranges only.
  all = andI(all, andI(cmp(CmpIPredicate::slt, i0, i1),
                       cmp(CmpIPredicate::slt, j0, j1)));
  return {maybe, all};
}

Value SelectionBuilder::hullEnd(const MaskProblem &problem, Value bb, Value h,
                                Value i0, Value i1) {
  if (!problem.mask)
    return problem.keyLen;
  ElementEmitter emitter(b, loc, pairValues(problem, bb, h, i0, idx(0), i0, i1),
                         problem.operands);
  Value end = idx(0);
  for (const KeyInterval &x : computeKeyRanges(problem.mask).hull)
    end = arith::MaxSIOp::create(b, loc, end, emitter.emitTileExpr(x.end));
  return end;
}

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
    auto [bin, above] = thresholdBin(hist, remaining);
    prefix = arith::OrIOp::create(
        b, loc, prefix, arith::ShLIOp::create(b, loc, bin, i32(shift)));
    remaining = arith::SubIOp::create(b, loc, remaining, above);
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

std::pair<Value, Value> SelectionBuilder::thresholdBin(Value hist,
                                                       Value remaining) {
  // From the top bin down: the bin where the count of larger keys plus
  // this bin reaches `remaining`. (Fewer candidates than that only when
  // remaining is 0: the scan then stops at bin 255 with nothing taken.)
  Value zero32 = i32(0), one32 = i32(1);
  auto scan =
      scf::WhileOp::create(b, loc, TypeRange{b.getI32Type(), b.getI32Type()},
                           ValueRange{i32(255), zero32});
  OpBuilder::InsertionGuard guard(b);
  Block *before = b.createBlock(&scan.getBefore(), {},
                                {b.getI32Type(), b.getI32Type()}, {loc, loc});
  Value bin = before->getArgument(0), above = before->getArgument(1);
  Value here = memref::LoadOp::create(b, loc, hist, ValueRange{toIndex(bin)});
  Value short_ = arith::CmpIOp::create(
      b, loc, CmpIPredicate::slt, arith::AddIOp::create(b, loc, above, here),
      remaining);
  Value more = arith::AndIOp::create(
      b, loc, short_,
      arith::CmpIOp::create(b, loc, CmpIPredicate::sgt, bin, zero32));
  scf::ConditionOp::create(b, loc, more, ValueRange{bin, above});
  Block *after = b.createBlock(&scan.getAfter(), {},
                               {b.getI32Type(), b.getI32Type()}, {loc, loc});
  Value afterBin = after->getArgument(0), afterAbove = after->getArgument(1);
  Value afterHere =
      memref::LoadOp::create(b, loc, hist, ValueRange{toIndex(afterBin)});
  scf::YieldOp::create(
      b, loc,
      ValueRange{arith::SubIOp::create(b, loc, afterBin, one32),
                 arith::AddIOp::create(b, loc, afterAbove, afterHere)});
  return {scan.getResult(0), scan.getResult(1)};
}

Value SelectionBuilder::takeByMass(Value list, Value listed, Value keyRow,
                                   Value mass, Value goal, Value minCount) {
  Value zero = idx(0);
  Value zeroF = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0));
  auto load = [&](Value buffer, Value j) {
    return memref::LoadOp::create(b, loc, buffer, ValueRange{j}).getResult();
  };
  Value n = toIndex(listed);
  loop(zero, n, {zeroF, i32(0)}, [&](Value, ValueRange acc) {
    Value open =
        arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OLT, acc[0], goal);
    if (minCount)
      open = arith::OrIOp::create(
          b, loc, open,
          arith::CmpIOp::create(b, loc, CmpIPredicate::slt, acc[1], minCount));
    return ifThen(open, acc, [&] {
      // The listed candidate of largest ordered key still unmarked.
      SmallVector<Value> best =
          loop(zero, n, {i32(0), zero}, [&](Value t, ValueRange bt) {
            Value key = load(keyRow, toIndex(load(list, t)));
            Value better =
                arith::CmpIOp::create(b, loc, CmpIPredicate::ugt, key, bt[0]);
            return SmallVector<Value>{
                arith::SelectOp::create(b, loc, better, key, bt[0]),
                arith::SelectOp::create(b, loc, better, t, bt[1])};
          });
      Value j = toIndex(load(list, best[1]));
      memref::StoreOp::create(b, loc, i32(0), keyRow, ValueRange{j});
      return SmallVector<Value>{
          arith::AddFOp::create(b, loc, acc[0], load(mass, j)),
          arith::AddIOp::create(b, loc, acc[1], i32(1))};
    });
  });
  // The taken candidates (cleared) in ascending order.
  return loop(zero, n, {i32(0)}, [&](Value t, ValueRange w) {
    Value was =
        arith::CmpIOp::create(b, loc, CmpIPredicate::eq,
                              load(keyRow, toIndex(load(list, t))), i32(0));
    return ifThen(was, w, [&] {
      memref::StoreOp::create(b, loc, load(list, t), list,
                              ValueRange{toIndex(w[0])});
      return SmallVector<Value>{arith::AddIOp::create(b, loc, w[0], i32(1))};
    });
  })[0];
}

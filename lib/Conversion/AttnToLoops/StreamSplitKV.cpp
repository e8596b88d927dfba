//===- StreamSplitKV.cpp - key tiles of a work item over several blocks ---===//
//
// Decoding gives the GPU few work items: one query tile per (batch, head),
// 16 items for one sequence of 16 heads on a GPU of 132 multiprocessors.
// Split keys (FlashDecoding's idea) give each item S blocks: block s
// streams the s-th share of the item's key tiles, writes its normalized
// partial output O_s and log-sum-exp L_s (f32) to a workspace, and counts
// itself done on the item's counter. The block that brings the count to S
// combines the partials in split order, whichever block it is:
//
//   L = log sum_s exp(L_s),   O = sum_s exp(L_s - L) O_s,
//
// so the result does not depend on the order the blocks finish in. A split
// whose share has no allowed key has L_s = -inf and weight 0; a row no
// split allows gets O = 0 and L = -inf, as without splits.
//
// The release/acquire pattern: every thread's partial stores, a block
// barrier, then one thread's gpu-scope fence and atomic increment
// (release); the counting thread tells the block through shared memory,
// and the combining threads fence again before reading the other blocks'
// partials (acquire).
//
//===----------------------------------------------------------------------===//

#include "StreamingLowering.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include <limits>

using namespace mlir;
using namespace mlir::attn;
using arith::CmpFPredicate;
using arith::CmpIPredicate;

StreamingLowering::Bounds
StreamingLowering::splitTileRanges(const Bounds &tiles) {
  auto sub = [&](Value x, Value y) -> Value {
    return arith::SubIOp::create(b, loc, x, y);
  };
  auto clamp = [&](Value x, Value hi) -> Value {
    return arith::MinSIOp::create(
        b, loc, arith::MaxSIOp::create(b, loc, x, idx(0)), hi);
  };
  // The intervals are disjoint: their tiles concatenated, split s takes
  // [s * chunk, (s + 1) * chunk) of the concatenation.
  SmallVector<Value> lengths;
  Value total = idx(0);
  for (auto [t0, t1] : tiles) {
    lengths.push_back(arith::MaxSIOp::create(b, loc, sub(t1, t0), idx(0)));
    total = arith::AddIOp::create(b, loc, total, lengths.back());
  }
  Value chunk = arith::CeilDivUIOp::create(b, loc, total, splitCount);
  Value lo = arith::MulIOp::create(b, loc, splitIndex, chunk);
  Value hi = arith::AddIOp::create(b, loc, lo, chunk);
  Bounds result;
  Value offset = idx(0);
  for (auto [range, length] : llvm::zip(tiles, lengths)) {
    Value t0 = range.first;
    result.push_back(
        {arith::AddIOp::create(b, loc, t0, clamp(sub(lo, offset), length)),
         arith::AddIOp::create(b, loc, t0, clamp(sub(hi, offset), length))});
    offset = arith::AddIOp::create(b, loc, offset, length);
  }
  return result;
}

Value StreamingLowering::splitSlotOffset(Value split, Value row, Value col) {
  // Slot (item, split): O [rows][Dv], then L [rows], for the tile's rows
  // (q_tile queries, times the packed heads).
  int64_t dv = staticValueDim, rows = queryTile * packedHeads;
  Value slot = arith::AddIOp::create(
      b, loc, arith::MulIOp::create(b, loc, splitItem, splitCount), split);
  Value base = arith::MulIOp::create(b, loc, slot, idx(rows * (dv + 1)));
  Value within =
      col ? arith::AddIOp::create(
                b, loc, arith::MulIOp::create(b, loc, row, idx(dv)), col)
                .getResult()
          : arith::AddIOp::create(b, loc, row, idx(rows * dv)).getResult();
  return arith::AddIOp::create(b, loc, base, within);
}

void StreamingLowering::emitSplitCombine(const LoopValues &values) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  int64_t dv = staticValueDim;
  Type f32Type = b.getF32Type(), i32 = b.getI32Type();
  auto fence = [&] { NVVM::MembarOp::create(b, loc, NVVM::MemScopeKind::GPU); };
  auto constI32 = [&](int64_t x) {
    return arith::ConstantIntOp::create(b, loc, x, 32);
  };
  // The first word of shared memory (the Q tile, no longer read) tells
  // the block whether it finished the item.
  auto flagType = MemRefType::get(
      {1}, i32, MemRefLayoutAttrInterface{},
      gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup));
  Value flag =
      memref::ViewOp::create(b, loc, flagType, mb.raw, idx(0), ValueRange{});
  gpu::BarrierOp::create(b, loc); // every partial row is stored
  {
    auto counting = scf::IfOp::create(
        b, loc,
        arith::CmpIOp::create(b, loc, CmpIPredicate::eq, mmaThread, idx(0)),
        /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(counting.thenBlock());
    fence();
    Value before = memref::AtomicRMWOp::create(
        b, loc, arith::AtomicRMWKind::addi, constI32(1), counters,
        ValueRange{splitItem});
    Value last = arith::CmpIOp::create(
        b, loc, CmpIPredicate::eq, before,
        arith::IndexCastOp::create(
            b, loc, i32, arith::SubIOp::create(b, loc, splitCount, idx(1))));
    memref::StoreOp::create(b, loc, arith::ExtUIOp::create(b, loc, i32, last),
                            flag, ValueRange{idx(0)});
  }
  gpu::BarrierOp::create(b, loc);
  Value last = arith::CmpIOp::create(
      b, loc, CmpIPredicate::ne,
      memref::LoadOp::create(b, loc, flag, ValueRange{idx(0)}), constI32(0));
  auto combining = scf::IfOp::create(b, loc, last, /*withElseRegion=*/false);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(combining.thenBlock());
  fence();
  // A thread per (row, column) of the tile's rows, over all splits; tile
  // row r is query r / G and head values.head + r % G (G = 1 unpacked).
  Value rows = arith::MulIOp::create(
      b, loc, arith::SubIOp::create(b, loc, values.queryEnd, values.queryBegin),
      idx(packedHeads));
  auto elements = scf::ForOp::create(
      b, loc, mmaThread, arith::MulIOp::create(b, loc, rows, idx(dv)),
      idx(mmaThreads()));
  b.setInsertionPointToStart(elements.getBody());
  Value element = elements.getInductionVar();
  Value row = arith::DivUIOp::create(b, loc, element, idx(dv));
  Value col = arith::RemUIOp::create(b, loc, element, idx(dv));
  // L_s of the row (column null) or O_s of the element.
  auto partial = [&](Value s, Value column) -> Value {
    return memref::LoadOp::create(b, loc, workspace,
                                  splitSlotOffset(s, row, column));
  };
  auto overSplits =
      [&](ValueRange init,
          llvm::function_ref<SmallVector<Value>(Value, ValueRange)> body) {
        auto loop =
            scf::ForOp::create(b, loc, idx(0), splitCount, idx(1), init);
        OpBuilder::InsertionGuard loopGuard(b);
        b.setInsertionPointToStart(loop.getBody());
        scf::YieldOp::create(
            b, loc, body(loop.getInductionVar(), loop.getRegionIterArgs()));
        return loop.getResults();
      };
  Value maximum = overSplits({f32(-kInf)}, [&](Value s, ValueRange carried) {
    return SmallVector<Value>{
        arith::MaximumFOp::create(b, loc, carried[0], partial(s, nullptr))};
  })[0];
  Value any =
      arith::CmpFOp::create(b, loc, CmpFPredicate::OGT, maximum, f32(-kInf));
  // With no allowed key anywhere every weight is 0 (exp(-inf - 0)).
  Value shift = arith::SelectOp::create(b, loc, any, maximum, f32(0.0));
  ValueRange sums =
      overSplits({f32(0.0), f32(0.0)}, [&](Value s, ValueRange carried) {
        Value weight = math::ExpOp::create(
            b, loc, arith::SubFOp::create(b, loc, partial(s, nullptr), shift));
        return SmallVector<Value>{
            arith::AddFOp::create(b, loc, carried[0], weight),
            math::FmaOp::create(b, loc, weight, partial(s, col), carried[1])};
      });
  Value total = sums[0];
  Value o = arith::SelectOp::create(
      b, loc, any, arith::DivFOp::create(b, loc, sums[1], total), f32(0.0));
  Value query = arith::AddIOp::create(
      b, loc, values.queryBegin,
      arith::DivUIOp::create(b, loc, row, idx(packedHeads)));
  Value head = arith::AddIOp::create(
      b, loc, values.head,
      arith::RemUIOp::create(b, loc, row, idx(packedHeads)));
  Type outElement = cast<MemRefType>(out.getType()).getElementType();
  if (outElement != f32Type)
    o = arith::TruncFOp::create(b, loc, outElement, o);
  memref::StoreOp::create(
      b, loc, o, out,
      indices(op.getQLayout(), values.batch, head, query, col, nullptr));
  if (!lse)
    return;
  auto firstColumn = scf::IfOp::create(
      b, loc, arith::CmpIOp::create(b, loc, CmpIPredicate::eq, col, idx(0)),
      /*withElseRegion=*/false);
  b.setInsertionPointToStart(firstColumn.thenBlock());
  Value natural = arith::AddFOp::create(b, loc, maximum,
                                        math::LogOp::create(b, loc, total));
  memref::StoreOp::create(
      b, loc, arith::SelectOp::create(b, loc, any, natural, f32(-kInf)), lse,
      ValueRange{values.batch, head, tokenAt(query)});
}

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
// The combine is one block's read of S partial tiles from L2, so it is
// latency-bound unless many loads are in flight. A thread per element
// looping over the splits, one load at a time, took 20-45 us of a 60-140
// us decode step at 32-128 splits on an H100. In decoding kernels a warp
// per row now folds the L_s in one pass (an online (max, sum) pair per
// lane, butterflies merge the lanes), then the warps take the splits
// round-robin, four per step, each lane summing eight 16-byte vectors per
// split at once, and shared memory adds the warps' sums. That code is
// large: in kernels with many query tiles (where a launch rarely splits)
// it cost the main loop 5-9 % through register allocation, so they keep a
// thread per element (splitCombineInFlight).
//
//===----------------------------------------------------------------------===//

#include "StreamingLowering.h"
#include "TileLoops.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <limits>

using namespace mlir;
using namespace mlir::attn;
using arith::CmpFPredicate;
using arith::CmpIPredicate;
using tiles::forLoop;

namespace {
// The combine's shared memory: the flag (one word, 16 bytes reserved),
// two f32 per slot row (shift, 1 / sum of weights), then a round's sums
// per warp: kVectors vectors per lane.
constexpr int64_t kStatsOffset = 16;
constexpr int64_t kVectors = 8;
// Splits a warp sums per step of the combine's loop.
constexpr int64_t kUnroll = 4;

using LoopBody = llvm::function_ref<SmallVector<Value>(Value, ValueRange)>;

MemRefType workgroupBuffer(MLIRContext *context, int64_t size, Type element) {
  return MemRefType::get(
      {size}, element, MemRefLayoutAttrInterface{},
      gpu::AddressSpaceAttr::get(context, gpu::AddressSpace::Workgroup));
}
} // namespace

int64_t StreamingLowering::splitCombineBytes() const {
  int64_t slotRows = queryTile * packedHeads;
  return llvm::alignTo(kStatsOffset + 2 * slotRows * 4, 16) +
         mmaThreads() / 32 * (32 * kVectors) * 4 * 4;
}

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
  Type i32 = b.getI32Type();
  auto fence = [&] { NVVM::MembarOp::create(b, loc, NVVM::MemScopeKind::GPU); };
  auto constI32 = [&](int64_t x) {
    return arith::ConstantIntOp::create(b, loc, x, 32);
  };
  // The first word of shared memory (the Q tile, no longer read) tells
  // the block whether it finished the item.
  Value flag =
      memref::ViewOp::create(b, loc, workgroupBuffer(b.getContext(), 1, i32),
                             mb.raw, idx(0), ValueRange{});
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
  Value rows = arith::MulIOp::create(
      b, loc, arith::SubIOp::create(b, loc, values.queryEnd, values.queryBegin),
      idx(packedHeads));
  if (!splitCombineInFlight()) {
    emitSplitRowsCompact(values, rows);
    return;
  }
  // Per slot row (after the flag): the shift and 1 / sum w_s.
  int64_t slotRows = queryTile * packedHeads;
  Value stats = memref::ViewOp::create(
      b, loc, workgroupBuffer(b.getContext(), 2 * slotRows, b.getF32Type()),
      mb.raw, idx(kStatsOffset), ValueRange{});
  emitSplitRowStatistics(values, rows, stats);
  gpu::BarrierOp::create(b, loc);
  emitSplitRowSums(values, rows, stats);
}

void StreamingLowering::storeCombinedLse(const LoopValues &values, Value query,
                                         Value head, Value maximum, Value total,
                                         Value any) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  // L = max_s L_s + log sum_s exp(L_s - max); -inf where no key is allowed.
  Value natural = arith::AddFOp::create(b, loc, maximum,
                                        math::LogOp::create(b, loc, total));
  memref::StoreOp::create(
      b, loc, arith::SelectOp::create(b, loc, any, natural, f32(-kInf)), lse,
      ValueRange{values.batch, head, tokenAt(query)});
}

bool StreamingLowering::splitCombineInFlight() {
  int64_t queries = cast<RankedTensorType>(op.getQuery().getType())
                        .getDimSize(dimOrder(op.getQLayout()).seq);
  return !ShapedType::isDynamic(queries) && queries <= queryTile;
}

void StreamingLowering::emitSplitRowsCompact(const LoopValues &values,
                                             Value rows) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  int64_t dv = staticValueDim;
  Type f32Type = b.getF32Type();
  // A thread per (row, column) of the tile's rows, over all splits.
  forLoop(
      b, loc, mmaThread, arith::MulIOp::create(b, loc, rows, idx(dv)),
      idx(mmaThreads()), {}, [&](Value element, ValueRange) {
        Value row = arith::DivUIOp::create(b, loc, element, idx(dv));
        Value col = arith::RemUIOp::create(b, loc, element, idx(dv));
        // L_s of the row (column null) or O_s of the element.
        auto partial = [&](Value s, Value column) -> Value {
          return memref::LoadOp::create(b, loc, workspace,
                                        splitSlotOffset(s, row, column));
        };
        auto overSplits = [&](ValueRange init, LoopBody body) {
          return forLoop(b, loc, idx(0), splitCount, idx(1), init, body);
        };
        Value maximum =
            overSplits({f32(-kInf)}, [&](Value s, ValueRange carried) {
              return SmallVector<Value>{arith::MaximumFOp::create(
                  b, loc, carried[0], partial(s, nullptr))};
            })[0];
        Value any = arith::CmpFOp::create(b, loc, CmpFPredicate::OGT, maximum,
                                          f32(-kInf));
        // With no allowed key anywhere every weight is 0 (exp(-inf - 0)).
        Value shift = arith::SelectOp::create(b, loc, any, maximum, f32(0.0));
        SmallVector<Value> sums =
            overSplits({f32(0.0), f32(0.0)}, [&](Value s, ValueRange carried) {
              Value weight = math::ExpOp::create(
                  b, loc,
                  arith::SubFOp::create(b, loc, partial(s, nullptr), shift));
              return SmallVector<Value>{
                  arith::AddFOp::create(b, loc, carried[0], weight),
                  math::FmaOp::create(b, loc, weight, partial(s, col),
                                      carried[1])};
            });
        Value total = sums[0];
        Value o = arith::SelectOp::create(
            b, loc, any, arith::DivFOp::create(b, loc, sums[1], total),
            f32(0.0));
        auto [query, head] = splitRowQuery(values, row);
        Type outElement = cast<MemRefType>(out.getType()).getElementType();
        if (outElement != f32Type)
          o = arith::TruncFOp::create(b, loc, outElement, o);
        memref::StoreOp::create(
            b, loc, o, out,
            indices(op.getQLayout(), values.batch, head, query, col, nullptr));
        if (lse) {
          auto firstColumn = scf::IfOp::create(
              b, loc,
              arith::CmpIOp::create(b, loc, CmpIPredicate::eq, col, idx(0)),
              /*withElseRegion=*/false);
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPointToStart(firstColumn.thenBlock());
          storeCombinedLse(values, query, head, maximum, total, any);
        }
        return SmallVector<Value>{};
      });
}

std::pair<Value, Value>
StreamingLowering::splitRowQuery(const LoopValues &values, Value row) {
  // Tile row r is query r / G and head values.head + r % G (G = 1
  // unpacked).
  return {arith::AddIOp::create(
              b, loc, values.queryBegin,
              arith::DivUIOp::create(b, loc, row, idx(packedHeads))),
          arith::AddIOp::create(
              b, loc, values.head,
              arith::RemUIOp::create(b, loc, row, idx(packedHeads)))};
}

Value StreamingLowering::splitWeight(Value split, Value row, Value shift) {
  // w_s = exp(L_s - shift), as exp2 of the difference in log2 units.
  const double log2e = 1.0 / std::log(2.0);
  Value l = memref::LoadOp::create(b, loc, workspace,
                                   splitSlotOffset(split, row, nullptr));
  return math::Exp2Op::create(
      b, loc,
      arith::MulFOp::create(b, loc, arith::SubFOp::create(b, loc, l, shift),
                            f32(log2e)));
}

void StreamingLowering::emitSplitRowStatistics(const LoopValues &values,
                                               Value rows, Value stats) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  const double log2e = 1.0 / std::log(2.0);
  int64_t slotRows = queryTile * packedHeads;
  Value lane = arith::RemUIOp::create(b, loc, mmaThread, idx(32));
  Value warp = arith::DivUIOp::create(b, loc, mmaThread, idx(32));
  // (m, t) with t = sum exp(L - m) over the L seen, merged with (m2, t2):
  // m' = max(m, m2), t' = t exp(m - m') + t2 exp(m2 - m'); shifting by 0
  // while m' = -inf keeps every term 0 (not NaN).
  auto merge = [&](Value m, Value t, Value m2,
                   Value t2) -> std::pair<Value, Value> {
    Value top = arith::MaximumFOp::create(b, loc, m, m2);
    Value shift = arith::SelectOp::create(
        b, loc,
        arith::CmpFOp::create(b, loc, CmpFPredicate::OEQ, top, f32(-kInf)),
        f32(0.0), top);
    auto scaled = [&](Value x, Value sum) -> Value {
      return arith::MulFOp::create(
          b, loc, sum,
          math::Exp2Op::create(
              b, loc,
              arith::MulFOp::create(b, loc,
                                    arith::SubFOp::create(b, loc, x, shift),
                                    f32(log2e))));
    };
    return {top, arith::AddFOp::create(b, loc, scaled(m, t), scaled(m2, t2))};
  };
  // A warp per row: each lane folds its splits in one pass, butterflies
  // merge the lanes.
  forLoop(
      b, loc, warp, rows, idx(mmaThreads() / 32), {},
      [&](Value row, ValueRange) {
        SmallVector<Value> folded = forLoop(
            b, loc, lane, splitCount, idx(32), {f32(-kInf), f32(0.0)},
            [&](Value s, ValueRange carried) {
              Value l = memref::LoadOp::create(
                  b, loc, workspace, splitSlotOffset(s, row, nullptr));
              auto [m, t] = merge(carried[0], carried[1], l, f32(1.0));
              return SmallVector<Value>{m, t};
            });
        Value maximum = folded[0], total = folded[1];
        for (int32_t offset : {16, 8, 4, 2, 1}) {
          auto other = [&](Value x) -> Value {
            return gpu::ShuffleOp::create(b, loc, x, offset, 32,
                                          gpu::ShuffleMode::XOR)
                .getShuffleResult();
          };
          std::tie(maximum, total) =
              merge(maximum, total, other(maximum), other(total));
        }
        Value any = arith::CmpFOp::create(b, loc, CmpFPredicate::OGT, maximum,
                                          f32(-kInf));
        // With no allowed key anywhere every weight is 0 (the shift then 0).
        Value shift = arith::SelectOp::create(b, loc, any, maximum, f32(0.0));
        auto first = scf::IfOp::create(
            b, loc,
            arith::CmpIOp::create(b, loc, CmpIPredicate::eq, lane, idx(0)),
            /*withElseRegion=*/false);
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPointToStart(first.thenBlock());
        memref::StoreOp::create(b, loc, shift, stats, ValueRange{row});
        memref::StoreOp::create(
            b, loc,
            arith::SelectOp::create(
                b, loc, any, arith::DivFOp::create(b, loc, f32(1.0), total),
                f32(0.0)),
            stats,
            ValueRange{arith::AddIOp::create(b, loc, row, idx(slotRows))});
        if (lse) {
          auto [query, head] = splitRowQuery(values, row);
          storeCombinedLse(values, query, head, maximum, total, any);
        }
        return SmallVector<Value>{};
      });
}

void StreamingLowering::emitSplitRowSums(const LoopValues &values, Value rows,
                                         Value stats) {
  int64_t dv = staticValueDim, slotRows = queryTile * packedHeads;
  int64_t threads = mmaThreads(), warps = threads / 32, width = 4;
  Type f32Type = b.getF32Type();
  // Whole 16-byte vectors: the slots and each row's O start on one.
  if (dv % width != 0 || slotRows * (dv + 1) % width != 0)
    width = 1;
  int64_t round = 32 * kVectors; // vectors per round, kVectors per lane
  assert(round % threads == 0 && "a round's vectors split over the threads");
  auto vectorType = VectorType::get({width}, f32Type);
  Value sums = memref::ViewOp::create(
      b, loc, workgroupBuffer(b.getContext(), warps * round * width, f32Type),
      mb.raw, idx(llvm::alignTo(kStatsOffset + 2 * slotRows * 4, 16)),
      ValueRange{});
  Value lane = arith::RemUIOp::create(b, loc, mmaThread, idx(32));
  Value warp = arith::DivUIOp::create(b, loc, mmaThread, idx(32));
  Value vectors = arith::DivUIOp::create(
      b, loc, arith::MulIOp::create(b, loc, rows, idx(dv)), idx(width));
  // The row and column of vector v of the tile.
  auto place = [&](Value v) -> std::pair<Value, Value> {
    Value element = arith::MulIOp::create(b, loc, v, idx(width));
    return {arith::DivUIOp::create(b, loc, element, idx(dv)),
            arith::RemUIOp::create(b, loc, element, idx(dv))};
  };
  auto inRange = [&](Value v) -> Value {
    return arith::CmpIOp::create(b, loc, CmpIPredicate::ult, v, vectors);
  };
  auto add = [&](Value x, int64_t y) -> Value {
    return arith::AddIOp::create(b, loc, x, idx(y));
  };
  Value zero = arith::ConstantOp::create(
      b, loc, vectorType, DenseElementsAttr::get(vectorType, 0.0f));
  Type outElement = cast<MemRefType>(out.getType()).getElementType();
  forLoop(b, loc, idx(0), vectors, idx(round), {}, [&](Value base, ValueRange) {
    // Lane vectors base + lane + 32 k; those past the tile read vector 0
    // and store nothing.
    SmallVector<Value> row, col, shift;
    for (int64_t k = 0; k < kVectors; ++k) {
      Value v = arith::AddIOp::create(b, loc, base, add(lane, k * 32));
      auto [r, c] =
          place(arith::SelectOp::create(b, loc, inRange(v), v, idx(0)));
      row.push_back(r);
      col.push_back(c);
      shift.push_back(memref::LoadOp::create(b, loc, stats, ValueRange{r}));
    }
    // The warps take the splits round-robin, kUnroll of theirs at a time;
    // the loads of a step are independent, so a lane has kUnroll *
    // kVectors of them in flight. A split past the last reads the last
    // with weight 0.
    Value lastSplit = arith::SubIOp::create(b, loc, splitCount, idx(1));
    SmallVector<Value> acc = forLoop(
        b, loc, warp, splitCount, idx(warps * kUnroll),
        SmallVector<Value>(kVectors, zero),
        [&](Value first, ValueRange carried) {
          SmallVector<Value> next(carried);
          for (int64_t u = 0; u < kUnroll; ++u) {
            Value s = add(first, u * warps), inSplits;
            if (u > 0) {
              inSplits = arith::CmpIOp::create(b, loc, CmpIPredicate::ult, s,
                                               splitCount);
              s = arith::MinUIOp::create(b, loc, s, lastSplit);
            }
            for (int64_t k = 0; k < kVectors; ++k) {
              Value o = vector::LoadOp::create(
                  b, loc, vectorType, workspace,
                  ValueRange{splitSlotOffset(s, row[k], col[k])},
                  /*nontemporal=*/false, llvm::MaybeAlign(4 * width));
              Value w = splitWeight(s, row[k], shift[k]);
              if (inSplits)
                w = arith::SelectOp::create(b, loc, inSplits, w, f32(0.0));
              next[k] = vector::FMAOp::create(
                  b, loc, vector::BroadcastOp::create(b, loc, vectorType, w), o,
                  next[k]);
            }
          }
          return next;
        });
    auto sumAt = [&](Value warpIndex, Value within) -> Value {
      return arith::MulIOp::create(
          b, loc,
          arith::AddIOp::create(
              b, loc, arith::MulIOp::create(b, loc, warpIndex, idx(round)),
              within),
          idx(width));
    };
    for (int64_t k = 0; k < kVectors; ++k)
      vector::StoreOp::create(b, loc, acc[k], sums,
                              ValueRange{sumAt(warp, add(lane, k * 32))});
    gpu::BarrierOp::create(b, loc);
    // A thread per vector of the round: the warps' sums, times 1 / sum w_s.
    for (int64_t j = 0; j < round; j += threads) {
      Value within = add(mmaThread, j);
      Value v = arith::AddIOp::create(b, loc, base, within);
      auto store = scf::IfOp::create(b, loc, inRange(v),
                                     /*withElseRegion=*/false);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(store.thenBlock());
      Value total = zero;
      for (int64_t w = 0; w < warps; ++w)
        total = arith::AddFOp::create(
            b, loc, total,
            vector::LoadOp::create(b, loc, vectorType, sums,
                                   ValueRange{sumAt(idx(w), within)}));
      auto [r, c] = place(v);
      Value scale = vector::BroadcastOp::create(
          b, loc, vectorType,
          memref::LoadOp::create(b, loc, stats, ValueRange{add(r, slotRows)}));
      Value o = arith::MulFOp::create(b, loc, total, scale);
      if (outElement != f32Type)
        o = arith::TruncFOp::create(b, loc,
                                    VectorType::get({width}, outElement), o);
      auto [query, head] = splitRowQuery(values, r);
      vector::StoreOp::create(
          b, loc, o, out,
          indices(op.getQLayout(), values.batch, head, query, c, nullptr));
    }
    // The next round reuses the sums.
    gpu::BarrierOp::create(b, loc);
    return SmallVector<Value>{};
  });
}

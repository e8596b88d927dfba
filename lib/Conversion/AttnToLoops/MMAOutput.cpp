//===- MMAOutput.cpp - the tensor-core body's stores ----------------------===//
//
// The end of a work item of the tensor-core body: O normalized by the row
// sums (and gated), staged in shared memory and written in 16-byte chunks
// of whole rows, and the LSE; or, for split keys, the partial rows in the
// workspace.
//
//===----------------------------------------------------------------------===//

#include "MMABody.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::attn;

using arith::CmpFPredicate;
using arith::CmpIPredicate;

void StreamingLowering::storeRowsMMA(const MMATileContext &context,
                                     const LoopValues &values,
                                     ArrayRef<Value> state, bool partial) {
  MMAEmitter e = context.e;
  Type f32Type = b.getF32Type();
  int64_t dv = staticValueDim;
  Layout ql = op.getQLayout();
  Value lane = e.rem(mmaThread, 32), inQuad = e.rem(lane, 4);
  Type outElement = cast<MemRefType>(out.getType()).getElementType();
  const double ln2 = std::log(2.0);
  // 16-bit outputs go through shared memory: a thread's accumulator pairs
  // are 4-byte pieces of 8 rows, stored straight they used a quarter of
  // each 32-byte sector written, and the stores were 11 % of the time of
  // a sliding window (M3, 17 key tiles per item) on the H100. Staged, the
  // tile leaves in 16-byte chunks of whole rows. The value stages hold it:
  // once every warp's last value product is done.
  bool staged = !partial && mb.o;
  // The staged stores' shared addresses (16 swizzled chunks per row) are
  // computed here from a pinned tile row and column: unpinned, LLVM hoists
  // them out of the loop of work items, and they held registers through
  // the key loop (128 x 128 tiles then spilled).
  Value stagedRows[2], colBase = context.colBase;
  if (staged) {
    Type i32 = b.getI32Type();
    auto toI32 = [&](Value x) -> Value {
      return arith::IndexCastOp::create(b, loc, i32, x);
    };
    auto toIndex = [&](Value x) -> Value {
      return arith::IndexCastOp::create(b, loc, b.getIndexType(), x);
    };
    SmallVector<Value> pinned = pinRegisters(
        b, loc, {toI32(context.tileRows[0]), toI32(context.colBase)});
    stagedRows[0] = toIndex(pinned[0]);
    stagedRows[1] = e.add(stagedRows[0], idx(8));
    colBase = toIndex(pinned[1]);
    gpu::BarrierOp::create(b, loc);
  }
  for (int64_t r = 0; r < 2; ++r) {
    Value row = context.rows[r], head = context.heads[r];
    Value tileRow = context.tileRows[r];
    Value m = state[dv / 8 + r];
    Value l = e.quadReduce(state[dv / 8 + 2 + r], /*max=*/false);
    Value any = arith::CmpFOp::create(b, loc, CmpFPredicate::OGT, l, f32(0.0));
    Value inverse = arith::SelectOp::create(
        b, loc, any, arith::DivFOp::create(b, loc, f32(1.0), l), f32(0.0));
    Value inRange =
        arith::CmpIOp::create(b, loc, CmpIPredicate::slt, row, values.queryEnd);
    // Staged rows past the queries are written and never copied out.
    OpBuilder::InsertionGuard guard(b);
    if (!staged)
      b.setInsertionPointToStart(
          scf::IfOp::create(b, loc, inRange, /*withElseRegion=*/false)
              .thenBlock());
    auto pairType = VectorType::get({2}, f32Type);
    Value inverse2 = vector::BroadcastOp::create(b, loc, pairType, inverse);
    // The output gate (not on split partials: the combine writes O, and
    // gated kernels are not split). Staged rows past the queries read the
    // gate of the tile's first query.
    // A per-head gate is one factor of the row, folded into 1/l.
    auto gate = dyn_cast_or_null<OutputGateAttr>(op.getGateAttr());
    bool gated = !partial && gate;
    bool perElement =
        gated && gate.getGranularity() == GateGranularity::element;
    Value gateRow = gated ? tokenAt(arith::SelectOp::create(
                                b, loc, inRange, row, values.queryBegin))
                          : Value();
    if (gated && !perElement)
      inverse2 = arith::MulFOp::create(
          b, loc, inverse2, outputGate(values.batch, gateRow, head, idx(0), 2));
    for (int64_t n = 0; n < dv / 8; ++n) {
      Value pair =
          vector::ExtractOp::create(b, loc, state[n], ArrayRef<int64_t>{r});
      pair = arith::MulFOp::create(b, loc, pair, inverse2);
      Value col = e.add(idx(8 * n), context.colBase);
      if (perElement)
        pair = arith::MulFOp::create(
            b, loc, pair, outputGate(values.batch, gateRow, head, col, 2));
      if (partial) {
        vector::StoreOp::create(b, loc, pair, workspace,
                                splitSlotOffset(splitIndex, tileRow, col));
        continue;
      }
      if (outElement != f32Type)
        pair = arith::TruncFOp::create(b, loc, VectorType::get({2}, outElement),
                                       pair);
      if (staged)
        vector::StoreOp::create(
            b, loc, pair, mb.o,
            ValueRange{
                idx(8 * n / kSlab), stagedRows[r],
                e.add(e.swizzle(idx(8 * n % kSlab), e.rem(stagedRows[r], 8)),
                      colBase)});
      else
        vector::StoreOp::create(
            b, loc, pair, out,
            indices(ql, values.batch, head, row, col, nullptr));
    }
    if (!lse && !partial)
      continue;
    Value natural = arith::AddFOp::create(
        b, loc, arith::MulFOp::create(b, loc, m, f32(ln2)),
        math::LogOp::create(b, loc, l));
    Value lseValue = arith::SelectOp::create(b, loc, any, natural, f32(-kInf));
    Value firstInQuad =
        arith::CmpIOp::create(b, loc, CmpIPredicate::eq, inQuad, idx(0));
    auto first = scf::IfOp::create(
        b, loc,
        staged ? arith::AndIOp::create(b, loc, firstInQuad, inRange)
               : firstInQuad,
        /*withElseRegion=*/false);
    b.setInsertionPointToStart(first.thenBlock());
    if (partial)
      memref::StoreOp::create(b, loc, lseValue, workspace,
                              splitSlotOffset(splitIndex, tileRow, nullptr));
    else
      memref::StoreOp::create(b, loc, lseValue, lse,
                              ValueRange{values.batch, head, tokenAt(row)});
  }
  if (!staged)
    return;
  // Whole rows in 16-byte chunks (the runtime checks that O is 16-byte
  // aligned; rows are dv elements, a multiple of 8).
  gpu::BarrierOp::create(b, loc);
  int64_t chunksPerRow = dv / kChunk, threads = mmaThreads();
  auto chunkType = VectorType::get({kChunk}, outElement);
  for (int64_t c = 0; c < mmaQueryTile * chunksPerRow; c += threads) {
    Value chunk = e.add(mmaThread, idx(c));
    Value tileRow = e.div(chunk, chunksPerRow);
    Value col = e.mul(e.rem(chunk, chunksPerRow), idx(kChunk));
    auto [head, query] = tileRowQuery(values, tileRow);
    Value row = e.add(values.queryBegin, query);
    auto inRange = scf::IfOp::create(
        b, loc,
        arith::CmpIOp::create(b, loc, CmpIPredicate::slt, row, values.queryEnd),
        /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(inRange.thenBlock());
    Value x = vector::LoadOp::create(
        b, loc, chunkType, mb.o,
        ValueRange{e.div(col, kSlab), tileRow,
                   e.swizzle(e.rem(col, kSlab), e.rem(tileRow, 8))});
    vector::StoreOp::create(b, loc, x, out,
                            indices(ql, values.batch, head, row, col, nullptr),
                            /*nontemporal=*/false, llvm::MaybeAlign(16));
  }
}

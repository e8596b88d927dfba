//===- IdRanges.cpp - attn.id_ranges on the CPU and the GPU ---------------===//
//
// The (min, max) of document ids per 64-token tile (attn.id_ranges). On the
// CPU, a loop per entry (the op is the GPU's; the CPU computes it for
// programs and tests). On the GPU, a warp per entry: each lane reads two of
// the tile's ids (a warp reads the tile's 256 bytes, coalesced) and the
// warp combines them with butterfly shuffles; lanes past the tile's end
// read its last id, which changes neither bound.
//
//===----------------------------------------------------------------------===//

#include "SelectionKernels.h"
#include "StreamingLowering.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"

using namespace mlir;
using namespace mlir::attn;

namespace {
/// The entry-independent pieces: the ids' shape, an entry's tokens.
struct Ranges {
  SelectionBuilder &s;
  OpBuilder &b;
  Location loc;
  Value ids, out;
  /// S and ceil(S / 64).
  Value len, tiles;

  Ranges(SelectionBuilder &s, OpBuilder &b, Location loc, Value ids, Value out)
      : s(s), b(b), loc(loc), ids(ids), out(out) {
    len = s.dim(ids, 1);
    tiles = arith::CeilDivSIOp::create(b, loc, len, s.idx(kIdTile));
  }

  /// The tokens [j0, j1) of tile t.
  std::pair<Value, Value> tokens(Value t) {
    Value j0 = arith::MulIOp::create(b, loc, t, s.idx(kIdTile));
    return {j0, arith::MinSIOp::create(
                    b, loc, arith::AddIOp::create(b, loc, j0, s.idx(kIdTile)),
                    len)};
  }

  void store(Value batch, Value tile, Value lowest, Value highest) {
    memref::StoreOp::create(b, loc, lowest, out,
                            ValueRange{batch, tile, s.idx(0)});
    memref::StoreOp::create(b, loc, highest, out,
                            ValueRange{batch, tile, s.idx(1)});
  }
};
} // namespace

LogicalResult mlir::attn::lowerSelection(IdRangesOp op, RewriterBase &b,
                                         RowThreads *threaded) {
  SelectionBuilder s(b, op.getLoc(), threaded);
  Location loc = op.getLoc();
  b.setInsertionPoint(op);
  Value ids = s.buffer(op.getIds());
  auto outType = cast<RankedTensorType>(op.getRanges().getType());
  Ranges r(s, b, loc, ids, Value());
  r.out = s.allocShaped(outType, {s.dim(ids, 0), r.tiles, s.idx(2)});
  // Entries are (batch, tile) rows: a host kernel's threads split them.
  s.rows(s.dim(ids, 0), r.tiles, [&](Value batch, Value tile) {
    auto [j0, j1] = r.tokens(tile);
    Value first = memref::LoadOp::create(b, loc, ids, ValueRange{batch, j0});
    SmallVector<Value> bounds =
        s.loop(j0, j1, {first, first}, [&](Value j, ValueRange acc) {
          Value x = memref::LoadOp::create(b, loc, ids, ValueRange{batch, j});
          return SmallVector<Value>{arith::MinSIOp::create(b, loc, acc[0], x),
                                    arith::MaxSIOp::create(b, loc, acc[1], x)};
        });
    r.store(batch, tile, bounds[0], bounds[1]);
  });
  b.replaceOp(op, s.toTensor(r.out, outType));
  return success();
}

LogicalResult mlir::attn::lowerSelectionToGPU(IdRangesOp op, func::FuncOp func,
                                              RewriterBase &b) {
  Location loc = op.getLoc();
  if (failed(checkStaticShapes(op)))
    return failure();
  ArrayRef<int64_t> shape =
      cast<RankedTensorType>(op.getRanges().getType()).getShape();
  int64_t entries = shape[0] * shape[1];
  FailureOr<gpu::GPUFuncOp> kernel = createSelectionKernel(
      op, func, b,
      std::max<int64_t>(llvm::divideCeil(entries, kSelectWarps), 1),
      /*scratchBytes=*/0);
  if (failed(kernel))
    return failure();
  Block *body = &kernel->getBody().front();
  b.setInsertionPointToStart(body);
  SelectionBuilder s(b, loc);
  Ranges r(s, b, loc, body->getArgument(0), body->getArgument(1));
  Value tid = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  Value lane = arith::RemUIOp::create(b, loc, tid, s.idx(32));
  Value warp = arith::AddIOp::create(
      b, loc,
      arith::MulIOp::create(b, loc,
                            gpu::BlockIdOp::create(b, loc, gpu::Dimension::x),
                            s.idx(kSelectWarps)),
      arith::DivUIOp::create(b, loc, tid, s.idx(32)));
  Value warps = arith::MulIOp::create(
      b, loc, gpu::GridDimOp::create(b, loc, gpu::Dimension::x),
      s.idx(kSelectWarps));
  // Warp-uniform: every lane of a warp takes the same entries.
  s.stridedLoop(warp, s.idx(entries), warps, {}, [&](Value e, ValueRange) {
    Value batch = arith::DivUIOp::create(b, loc, e, r.tiles);
    Value tile = arith::RemUIOp::create(b, loc, e, r.tiles);
    std::pair<Value, Value> span = r.tokens(tile);
    Value j0 = span.first;
    Value last = arith::SubIOp::create(b, loc, span.second, s.idx(1));
    auto at = [&](int64_t offset) -> Value {
      Value j = arith::AddIOp::create(
          b, loc, arith::AddIOp::create(b, loc, j0, lane), s.idx(offset));
      return memref::LoadOp::create(
          b, loc, r.ids,
          ValueRange{batch, arith::MinSIOp::create(b, loc, j, last)});
    };
    static_assert(kIdTile == 64, "two ids per lane");
    Value x = at(0), y = at(32);
    Value lowest = arith::MinSIOp::create(b, loc, x, y);
    Value highest = arith::MaxSIOp::create(b, loc, x, y);
    for (int32_t offset : {16, 8, 4, 2, 1}) {
      auto other = [&](Value v) {
        return gpu::ShuffleOp::create(b, loc, v, offset, 32,
                                      gpu::ShuffleMode::XOR)
            .getShuffleResult();
      };
      Value lo = other(lowest), hi = other(highest);
      lowest = arith::MinSIOp::create(b, loc, lowest, lo);
      highest = arith::MaxSIOp::create(b, loc, highest, hi);
    }
    auto leader = scf::IfOp::create(
        b, loc,
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, lane, s.idx(0)),
        /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(leader.thenBlock());
    r.store(batch, tile, lowest, highest);
    return SmallVector<Value>{};
  });
  gpu::ReturnOp::create(b, loc);
  b.eraseOp(func);
  return success();
}

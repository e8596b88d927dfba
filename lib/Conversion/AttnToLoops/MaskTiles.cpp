//===- MaskTiles.cpp - attn.mask_tiles on the CPU and the GPU -------------===//
//
// The tile summary of an explicit mask: per (batch, head, 64-query tile)
// row, a bit per 64-key tile for "some pair allowed" and one for "some
// pair not allowed" (attn.mask_tiles). On the CPU, loops over each tile's
// flags (the op is the GPU's; the CPU computes it for programs and tests).
// On the GPU, a block of 256 threads per row: the threads read consecutive
// 16-byte chunks of each of the row's 64 mask rows (a warp reads 512
// contiguous bytes), four threads per key tile, so the whole mask is read
// once, coalesced; the four combine by shuffles and the first sets the
// tile's bits with atomic ORs in the zeroed output row. Masks whose rows
// are not 16-byte aligned take a thread per key tile over single flags.
//
//===----------------------------------------------------------------------===//

#include "FlagChunks.h"
#include "SelectionKernels.h"
#include "StreamingLowering.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"

using namespace mlir;
using namespace mlir::attn;

using arith::CmpIPredicate;

namespace {
/// The row-independent pieces of the summary: the mask's shape, the
/// position of a row, the bits of a tile.
struct TileSummary {
  SelectionBuilder &s;
  OpBuilder &b;
  Location loc;
  Value mask, out;
  /// B|1, H|1, Sq, Sk of the mask; key tiles and words per bit vector.
  Value heads, queries, keys, keyTiles, words;

  TileSummary(SelectionBuilder &s, OpBuilder &b, Location loc, Value mask,
              Value out)
      : s(s), b(b), loc(loc), mask(mask), out(out) {
    heads = s.dim(mask, 1);
    queries = s.dim(mask, 2);
    keys = s.dim(mask, 3);
    keyTiles = arith::CeilDivSIOp::create(b, loc, keys, s.idx(kMaskTile));
    words = arith::CeilDivSIOp::create(b, loc, keyTiles, s.idx(32));
  }

  Value add(Value x, Value y) { return arith::AddIOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) { return arith::MulIOp::create(b, loc, x, y); }
  Value minS(Value x, Value y) { return arith::MinSIOp::create(b, loc, x, y); }

  /// (batch, head, query tile) of row r of the output.
  std::array<Value, 3> position(Value r, Value queryTiles) {
    Value qt = arith::RemUIOp::create(b, loc, r, queryTiles);
    Value bh = arith::DivUIOp::create(b, loc, r, queryTiles);
    return {arith::DivUIOp::create(b, loc, bh, heads),
            arith::RemUIOp::create(b, loc, bh, heads), qt};
  }

  /// (any allowed, any not allowed) over rows [i0, i1) x keys [j0, j1) of
  /// the mask at (bm, hm), a flag at a time.
  std::pair<Value, Value> scan(Value bm, Value hm, Value i0, Value i1, Value j0,
                               Value j1) {
    Value no = arith::ConstantIntOp::create(b, loc, 0, 1);
    Value yes = arith::ConstantIntOp::create(b, loc, 1, 1);
    SmallVector<Value> r =
        s.loop(i0, i1, {no, no}, [&](Value i, ValueRange acc) {
          return s.loop(j0, j1, acc, [&](Value j, ValueRange inner) {
            Value x =
                memref::LoadOp::create(b, loc, mask, ValueRange{bm, hm, i, j});
            return SmallVector<Value>{
                arith::OrIOp::create(b, loc, inner[0], x),
                arith::OrIOp::create(b, loc, inner[1],
                                     arith::XOrIOp::create(b, loc, x, yes))};
          });
        });
    return {r[0], r[1]};
  }

  /// Sets bit t % 32 of word `offset` + t / 32 of the output row where
  /// `flag` holds (atomically on the GPU, where the row's threads share
  /// its words).
  void setBit(ArrayRef<Value> row, Value t, Value flag, Value offset,
              bool atomic) {
    auto then = scf::IfOp::create(b, loc, flag, /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(then.thenBlock());
    Value word = add(offset, arith::DivUIOp::create(b, loc, t, s.idx(32)));
    Value bit = arith::ShLIOp::create(
        b, loc, s.i32(1),
        arith::IndexCastOp::create(
            b, loc, b.getI32Type(),
            arith::RemUIOp::create(b, loc, t, s.idx(32))));
    SmallVector<Value> at = {row[0], row[1], row[2], word};
    if (atomic) {
      memref::AtomicRMWOp::create(b, loc, arith::AtomicRMWKind::ori, bit, out,
                                  at);
      return;
    }
    Value old = memref::LoadOp::create(b, loc, out, at);
    memref::StoreOp::create(b, loc, arith::OrIOp::create(b, loc, old, bit), out,
                            at);
  }

  /// Zeroes the words of output row `row`, word w by w = first + k step.
  void zeroRow(ArrayRef<Value> row, Value first, Value step, Value words) {
    s.stridedLoop(first, words, step, {}, [&](Value w, ValueRange) {
      memref::StoreOp::create(b, loc, s.i32(0), out,
                              ValueRange{row[0], row[1], row[2], w});
      return SmallVector<Value>{};
    });
  }

  /// The query rows [i0, i1) of tile qt.
  std::pair<Value, Value> rowsOf(Value qt) {
    Value i0 = mul(qt, s.idx(kMaskTile));
    return {i0, minS(add(i0, s.idx(kMaskTile)), queries)};
  }

  /// The keys [j0, j1) of tile t.
  std::pair<Value, Value> keysOf(Value t) {
    Value j0 = mul(t, s.idx(kMaskTile));
    return {j0, minS(add(j0, s.idx(kMaskTile)), keys)};
  }
};

/// The GPU's coalesced pass over one row (mask rows of a multiple of 16
/// bytes from a 16-byte aligned base): chunk c of 16 keys is thread c % 256
/// 's, tile c / 4 the four threads 4k .. 4k + 3 of a warp.
void summarizeRowByChunks(TileSummary &t, ArrayRef<Value> row, Value tid,
                          Value lane) {
  OpBuilder &b = t.b;
  Location loc = t.loc;
  SelectionBuilder &s = t.s;
  auto mask = cast<MemRefType>(t.mask.getType());
  ArrayRef<int64_t> shape = mask.getShape();
  int64_t rowChunks = shape[3] / 16;
  Value i0, i1;
  std::tie(i0, i1) = t.rowsOf(row[2]);
  Value last = arith::SubIOp::create(b, loc, i1, s.idx(1));
  Value base = memref::ExtractAlignedPointerAsIndexOp::create(b, loc, t.mask);
  Value rowBase =
      t.mul(t.add(t.mul(row[0], s.idx(shape[1])), row[1]), s.idx(shape[2]));
  FlagChunks chunks(b, loc);
  Value zero32 = s.i32(0);
  // Warp-uniform trip count: the shuffles need every lane.
  int64_t steps = llvm::divideCeil(rowChunks, kSelectThreads);
  // 16 rows per step: at 4K, 64 blocks (one per query tile) leave half the
  // SMs idle and each waits for its loads in turn; with 8 rows, 16 and 32
  // per step M12 ran at 274-278, 291-296 and 290 TFLOP/s at S = 4K, D = 64
  // (H100, both orders; +2-9 % elsewhere, 16K D = 128 within the spread).
  constexpr int64_t kUnroll = 16;
  s.loop(s.idx(0), s.idx(steps), {}, [&](Value m, ValueRange) {
    Value c = t.add(t.mul(m, s.idx(kSelectThreads)), tid);
    Value inside =
        arith::CmpIOp::create(b, loc, CmpIPredicate::slt, c, s.idx(rowChunks));
    auto scanned = scf::IfOp::create(
        b, loc, TypeRange{b.getI32Type(), b.getI32Type()}, inside,
        /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(scanned.thenBlock());
      Value column = t.add(base, t.mul(c, s.idx(16)));
      // kUnroll rows per step (those past the tile repeat its last, which
      // changes neither flag): as many 16-byte loads in flight.
      SmallVector<Value> acc = s.stridedLoop(
          i0, i1, s.idx(kUnroll), {chunks.none, chunks.none},
          [&](Value i, ValueRange acc) {
            Value set = acc[0], zeroByte = acc[1];
            for (int64_t u = 0; u < kUnroll; ++u) {
              Value r = t.minS(t.add(i, s.idx(u)), last);
              Value at =
                  t.add(t.mul(t.add(rowBase, r), s.idx(shape[3])), column);
              chunks.add(at, set, zeroByte);
            }
            return SmallVector<Value>{set, zeroByte};
          });
      scf::YieldOp::create(
          b, loc, ValueRange{chunks.reduce(acc[0]), chunks.reduce(acc[1])});
      b.setInsertionPointToStart(scanned.elseBlock());
      scf::YieldOp::create(b, loc, ValueRange{zero32, zero32});
    }
    // The tile's four threads combine theirs.
    Value flags[2] = {scanned.getResult(0), scanned.getResult(1)};
    for (Value &x : flags)
      for (int32_t offset : {1, 2})
        x = arith::OrIOp::create(
            b, loc, x,
            gpu::ShuffleOp::create(b, loc, x, offset, 32, gpu::ShuffleMode::XOR)
                .getShuffleResult());
    Value first = arith::AndIOp::create(
        b, loc, inside,
        arith::CmpIOp::create(b, loc, CmpIPredicate::eq,
                              arith::RemUIOp::create(b, loc, lane, s.idx(4)),
                              s.idx(0)));
    Value tile = arith::DivUIOp::create(b, loc, c, s.idx(4));
    for (int which = 0; which < 2; ++which) {
      Value set =
          arith::AndIOp::create(b, loc, first,
                                arith::CmpIOp::create(b, loc, CmpIPredicate::ne,
                                                      flags[which], zero32));
      t.setBit(row, tile, set, which ? t.words : s.idx(0), /*atomic=*/true);
    }
    return SmallVector<Value>{};
  });
}

/// Any row: threads (a thread alone on the CPU) take key tiles and scan
/// their flags.
void summarizeRowByTiles(TileSummary &t, ArrayRef<Value> row, Value first,
                         Value step, bool atomic) {
  Value i0, i1;
  std::tie(i0, i1) = t.rowsOf(row[2]);
  t.s.stridedLoop(first, t.keyTiles, step, {}, [&](Value kt, ValueRange) {
    auto [j0, j1] = t.keysOf(kt);
    auto [any, notAll] = t.scan(row[0], row[1], i0, i1, j0, j1);
    t.setBit(row, kt, any, t.s.idx(0), atomic);
    t.setBit(row, kt, notAll, t.words, atomic);
    return SmallVector<Value>{};
  });
}
} // namespace

LogicalResult mlir::attn::lowerSelection(MaskTilesOp op, RewriterBase &b,
                                         RowThreads *threaded) {
  SelectionBuilder s(b, op.getLoc(), threaded);
  Location loc = op.getLoc();
  b.setInsertionPoint(op);
  Value mask = s.buffer(op.getMask());
  auto outType = cast<RankedTensorType>(op.getTiles().getType());
  SmallVector<Value> extents = {
      s.dim(mask, 0), s.dim(mask, 1),
      arith::CeilDivSIOp::create(b, loc, s.dim(mask, 2), s.idx(kMaskTile)),
      Value()};
  TileSummary t(s, b, loc, mask, Value());
  extents[3] = arith::MulIOp::create(b, loc, t.words, s.idx(2));
  t.out = s.allocShaped(outType, extents);
  // Rows: the host kernel's threads split them.
  bool split = threaded && threaded->host;
  Value rows = t.mul(t.mul(extents[0], extents[1]), extents[2]);
  s.stridedLoop(split ? threaded->thread : s.idx(0), rows,
                split ? threaded->threads : s.idx(1), {},
                [&](Value r, ValueRange) {
                  std::array<Value, 3> row = t.position(r, extents[2]);
                  t.zeroRow(row, s.idx(0), s.idx(1), extents[3]);
                  summarizeRowByTiles(t, row, s.idx(0), s.idx(1),
                                      /*atomic=*/false);
                  return SmallVector<Value>{};
                });
  b.replaceOp(op, s.toTensor(t.out, outType));
  return success();
}

LogicalResult mlir::attn::lowerSelectionToGPU(MaskTilesOp op, func::FuncOp func,
                                              RewriterBase &b) {
  Location loc = op.getLoc();
  if (failed(checkStaticShapes(op)))
    return failure();
  auto outType = cast<RankedTensorType>(op.getTiles().getType());
  ArrayRef<int64_t> outShape = outType.getShape();
  int64_t rows = outShape[0] * outShape[1] * outShape[2];
  FailureOr<gpu::GPUFuncOp> kernel = createSelectionKernel(
      op, func, b, std::max<int64_t>(rows, 1), /*scratchBytes=*/0);
  if (failed(kernel))
    return failure();
  Block *body = &kernel->getBody().front();
  b.setInsertionPointToStart(body);
  SelectionBuilder s(b, loc);
  TileSummary t(s, b, loc, body->getArgument(0), body->getArgument(1));
  Value tid = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  Value lane = arith::RemUIOp::create(b, loc, tid, s.idx(32));
  Value block = gpu::BlockIdOp::create(b, loc, gpu::Dimension::x);
  Value blocks = gpu::GridDimOp::create(b, loc, gpu::Dimension::x);
  // The coalesced pass where every mask row starts 16-byte aligned.
  bool chunked = cast<MemRefType>(t.mask.getType()).getShape()[3] % 16 == 0;
  Value byChunks =
      chunked ? arith::CmpIOp::create(
                    b, loc, CmpIPredicate::eq,
                    arith::RemUIOp::create(
                        b, loc,
                        memref::ExtractAlignedPointerAsIndexOp::create(b, loc,
                                                                       t.mask),
                        s.idx(16)),
                    s.idx(0))
                    .getResult()
              : arith::ConstantIntOp::create(b, loc, 0, 1).getResult();
  s.stridedLoop(block, s.idx(rows), blocks, {}, [&](Value r, ValueRange) {
    std::array<Value, 3> row = t.position(r, s.idx(outShape[2]));
    // The row's words, zeroed before any thread sets a bit.
    t.zeroRow(row, tid, s.idx(kSelectThreads), s.idx(outShape[3]));
    gpu::BarrierOp::create(b, loc);
    auto path = scf::IfOp::create(b, loc, byChunks, /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(path.thenBlock());
      if (chunked)
        summarizeRowByChunks(t, row, tid, lane);
      b.setInsertionPointToStart(path.elseBlock());
      summarizeRowByTiles(t, row, tid, s.idx(kSelectThreads),
                          /*atomic=*/true);
    }
    return SmallVector<Value>{};
  });
  gpu::ReturnOp::create(b, loc);
  b.eraseOp(func);
  return success();
}

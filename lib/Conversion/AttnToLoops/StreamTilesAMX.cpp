//===- StreamTilesAMX.cpp - the tile body on AMX tiles --------------------===//
//
// For bf16 inputs on CPUs with AMX, the two products of the tile body run
// on AMX tiles (tdpbf16ps: C[16x16 f32] += A[16x32 bf16] B[16x32 bf16 in
// pairs]). The layouts keep the f32 body's transposed scores, so the
// element pass and the vertical online softmax are shared unchanged:
//
//   qV = Q^T of the query tile in VNNI pairs    (16x16 32-bit transposes)
//   per key tile:
//     kB = K rows, vT = V^T                     (copy; 16x16 transposes)
//     sT = scale * (kB qV)                      (AMX, f32 out)
//     element pass, online softmax              (shared; P^T goes to bf16
//                                                VNNI pairs, vector.interleave)
//     O^T = O^T * alpha + vT pV                 (AMX, accumulator in memory;
//                                                lazy max: alpha is mostly 1)
//
// The rounding of P to bf16 is the only precision change against the f32
// body (PyTorch's and FlashAttention's bf16 kernels round P the same way).
//
//===----------------------------------------------------------------------===//

#include "StreamingLowering.h"
#include "TileLoops.h"
#include "mlir/Dialect/AMX/AMXDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::tiles;

/// Rows of an AMX tile, and bf16 columns of an A or B operand.
static constexpr int64_t kTileRows = 16, kPairColumns = 32;

bool StreamingLowering::canUseAMX() {
  auto element = [](Value x) {
    return cast<MemRefType>(x.getType()).getElementType();
  };
  return amx && element(q).isBF16() && element(k).isBF16() &&
         element(v).isBF16() && staticHeadDim % kPairColumns == 0 &&
         staticValueDim % kTileRows == 0 && keyTile % kPairColumns == 0;
}

void StreamingLowering::allocateAMXBuffers() {
  auto buffer = [&](ArrayRef<int64_t> shape, Type element) -> Value {
    return memref::AllocaOp::create(b, loc, MemRefType::get(shape, element),
                                    ValueRange{}, b.getI64IntegerAttr(64));
  };
  Type bf16 = b.getBF16Type();
  ab.qV = buffer({staticHeadDim / 2, 2 * queryTile}, bf16);
  ab.k = buffer({keyTile, staticHeadDim}, bf16);
  ab.vT = buffer({staticValueDim, keyTile}, bf16);
  ab.pV = buffer({keyTile / 2, 2 * queryTile}, bf16);
  tb.acc = buffer({staticValueDim, queryTile}, b.getF32Type());
}

void StreamingLowering::requestAMXPermission() {
  // arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) through syscall(2):
  // Linux hands out the AMX tile state on request only. Idempotent.
  auto module = op->getParentOfType<ModuleOp>();
  auto i64 = b.getI64Type();
  auto type = b.getFunctionType({i64, i64, i64}, {i64});
  if (!module.lookupSymbol<func::FuncOp>("syscall")) {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(module.getBody());
    func::FuncOp::create(b, loc, "syscall", type).setPrivate();
  }
  auto constant = [&](int64_t x) -> Value {
    return arith::ConstantIntOp::create(b, loc, x, 64);
  };
  func::CallOp::create(b, loc, "syscall", TypeRange{i64},
                       ValueRange{constant(158), constant(0x1023), constant(18)});
}

void StreamingLowering::packQueryTileAMX(const LoopValues &values,
                                         Value lastRow) {
  // Q rows as 32-bit pairs of bf16, transposed 16 x 16 in f32 registers
  // (bit patterns only, no arithmetic).
  Type f32Type = b.getF32Type();
  auto pairs = VectorType::get({kPairColumns}, b.getBF16Type());
  auto words = VectorType::get({kLanes}, f32Type);
  forLoop(
      b, loc, idx(0), idx(queryTile), idx(kLanes), {},
      [&](Value ib, ValueRange) -> SmallVector<Value> {
        SmallVector<Value> rows;
        for (int64_t r = 0; r < kLanes; ++r)
          rows.push_back(arith::MinSIOp::create(
              b, loc,
              arith::AddIOp::create(
                  b, loc, values.queryBegin,
                  arith::AddIOp::create(b, loc, ib, idx(r))),
              lastRow));
        Value column = arith::MulIOp::create(b, loc, ib, idx(2));
        for (int64_t d0 = 0; d0 < staticHeadDim; d0 += kPairColumns) {
          Value block = arith::ConstantOp::create(
              b, loc,
              b.getZeroAttr(VectorType::get({kLanes, kLanes}, f32Type)));
          for (int64_t r = 0; r < kLanes; ++r) {
            Value row = vector::LoadOp::create(
                b, loc, pairs, q,
                indices(op.getQLayout(), values.batch, values.head, rows[r],
                        idx(d0), queryOffset));
            block = vector::InsertOp::create(
                b, loc, vector::BitCastOp::create(b, loc, words, row), block,
                ArrayRef<int64_t>{r});
          }
          Value transposed = vector::TransposeOp::create(
              b, loc, block, ArrayRef<int64_t>{1, 0});
          for (int64_t p = 0; p < kLanes; ++p)
            vector::StoreOp::create(
                b, loc,
                vector::BitCastOp::create(
                    b, loc, pairs,
                    vector::ExtractOp::create(b, loc, transposed,
                                              ArrayRef<int64_t>{p})),
                ab.qV, ValueRange{idx(d0 / 2 + p), column});
        }
        return {};
      });
}

void StreamingLowering::packKeyTileAMX(const LoopValues &values, Value g,
                                       Value j0, Value j1) {
  Type f32Type = b.getF32Type(), bf16 = b.getBF16Type();
  Layout layout = op.getKvLayout();
  Value last = arith::SubIOp::create(b, loc, j1, idx(1));
  auto keyAt = [&](Value jj) -> Value {
    return arith::MinSIOp::create(b, loc,
                                  arith::AddIOp::create(b, loc, j0, jj), last);
  };
  // K rows as they are.
  auto keyRowType = VectorType::get({staticHeadDim}, bf16);
  forLoop(b, loc, idx(0), idx(keyTile), idx(1), {},
          [&](Value jj, ValueRange) -> SmallVector<Value> {
            Value row = vector::LoadOp::create(
                b, loc, keyRowType, k,
                indices(layout, values.batch, g, keyAt(jj), idx(0), keyOffset));
            vector::StoreOp::create(b, loc, row, ab.k, ValueRange{jj, idx(0)});
            return {};
          });
  // V^T: 16 keys x 16 value dims at a time, widened to f32 to transpose.
  auto laneType = VectorType::get({kLanes}, f32Type);
  auto bf16Lanes = VectorType::get({kLanes}, bf16);
  forLoop(
      b, loc, idx(0), idx(keyTile), idx(kLanes), {},
      [&](Value jb, ValueRange) -> SmallVector<Value> {
        SmallVector<Value> keys;
        for (int64_t r = 0; r < kLanes; ++r)
          keys.push_back(keyAt(arith::AddIOp::create(b, loc, jb, idx(r))));
        for (int64_t d0 = 0; d0 < staticValueDim; d0 += kLanes) {
          Value block = arith::ConstantOp::create(
              b, loc,
              b.getZeroAttr(VectorType::get({kLanes, kLanes}, f32Type)));
          for (int64_t r = 0; r < kLanes; ++r) {
            Value row = vector::LoadOp::create(
                b, loc, bf16Lanes, v,
                indices(layout, values.batch, g, keys[r], idx(d0), keyOffset));
            block = vector::InsertOp::create(
                b, loc, arith::ExtFOp::create(b, loc, laneType, row), block,
                ArrayRef<int64_t>{r});
          }
          Value transposed = vector::TransposeOp::create(
              b, loc, block, ArrayRef<int64_t>{1, 0});
          for (int64_t d = 0; d < kLanes; ++d)
            vector::StoreOp::create(
                b, loc,
                arith::TruncFOp::create(
                    b, loc, bf16Lanes,
                    vector::ExtractOp::create(b, loc, transposed,
                                              ArrayRef<int64_t>{d})),
                ab.vT, ValueRange{idx(d0 + d), jb});
        }
        return {};
      });
}

void StreamingLowering::emitScoreTileAMX() {
  auto operand = amx::TileType::get({kTileRows, kPairColumns}, b.getBF16Type());
  auto result = amx::TileType::get({kTileRows, kLanes}, b.getF32Type());
  forLoop(
      b, loc, idx(0), idx(keyTile), idx(kTileRows), {},
      [&](Value kb, ValueRange) -> SmallVector<Value> {
        forLoop(
            b, loc, idx(0), idx(queryTile), idx(kLanes), {},
            [&](Value qb, ValueRange) -> SmallVector<Value> {
              Value column = arith::MulIOp::create(b, loc, qb, idx(2));
              Value c = amx::TileZeroOp::create(b, loc, result);
              for (int64_t d0 = 0; d0 < staticHeadDim; d0 += kPairColumns) {
                Value a = amx::TileLoadOp::create(b, loc, operand, ab.k,
                                                  ValueRange{kb, idx(d0)});
                Value bq = amx::TileLoadOp::create(
                    b, loc, operand, ab.qV, ValueRange{idx(d0 / 2), column});
                c = amx::TileMulFOp::create(b, loc, result, a, bq, c);
              }
              amx::TileStoreOp::create(b, loc, tb.s, ValueRange{kb, qb}, c);
              return {};
            });
        return {};
      });
  // The scale, on the f32 scores (Q stays exact in bf16).
  auto laneType = VectorType::get({kLanes}, b.getF32Type());
  Value scaleLanes = vector::BroadcastOp::create(b, loc, laneType, scale);
  forLoop(b, loc, idx(0), idx(keyTile), idx(1), {},
          [&](Value jj, ValueRange) -> SmallVector<Value> {
            for (int64_t c = 0; c < queryTile; c += kLanes) {
              Value s = vector::LoadOp::create(b, loc, laneType, tb.s,
                                               ValueRange{jj, idx(c)});
              vector::StoreOp::create(
                  b, loc, arith::MulFOp::create(b, loc, s, scaleLanes), tb.s,
                  ValueRange{jj, idx(c)});
            }
            return {};
          });
}

void StreamingLowering::emitValueTileAMX() {
  Type f32Type = b.getF32Type(), bf16 = b.getBF16Type();
  auto laneType = VectorType::get({kLanes}, f32Type);
  // O^T *= alpha, one rescale factor per query (column), unless the lazy
  // running max left every factor at 1.
  SmallVector<Value> alphas;
  Value one = vector::BroadcastOp::create(
      b, loc, laneType,
      arith::ConstantOp::create(b, loc, b.getF32FloatAttr(1.0)));
  Value rescale = arith::ConstantIntOp::create(b, loc, 0, 1);
  for (int64_t c = 0; c < queryTile; c += kLanes) {
    alphas.push_back(
        vector::LoadOp::create(b, loc, laneType, tb.alpha, ValueRange{idx(c)}));
    rescale = arith::OrIOp::create(
        b, loc, rescale,
        vector::ReductionOp::create(
            b, loc, vector::CombiningKind::OR,
            arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNE,
                                  alphas.back(), one)));
  }
  auto ifRescale = scf::IfOp::create(b, loc, rescale, /*withElseRegion=*/false);
  b.setInsertionPointToStart(ifRescale.thenBlock());
  forLoop(b, loc, idx(0), idx(staticValueDim), idx(1), {},
          [&](Value d, ValueRange) -> SmallVector<Value> {
            for (int64_t c = 0; c < queryTile; c += kLanes) {
              Value o = vector::LoadOp::create(b, loc, laneType, tb.acc,
                                               ValueRange{d, idx(c)});
              vector::StoreOp::create(
                  b, loc, arith::MulFOp::create(b, loc, o, alphas[c / kLanes]),
                  tb.acc, ValueRange{d, idx(c)});
            }
            return {};
          });
  b.setInsertionPointAfter(ifRescale);
  // O^T += V^T P^T.
  auto operand = amx::TileType::get({kTileRows, kPairColumns}, bf16);
  auto result = amx::TileType::get({kTileRows, kLanes}, f32Type);
  forLoop(
      b, loc, idx(0), idx(staticValueDim), idx(kTileRows), {},
      [&](Value db, ValueRange) -> SmallVector<Value> {
        forLoop(
            b, loc, idx(0), idx(queryTile), idx(kLanes), {},
            [&](Value qb, ValueRange) -> SmallVector<Value> {
              Value column = arith::MulIOp::create(b, loc, qb, idx(2));
              Value c = amx::TileLoadOp::create(b, loc, result, tb.acc,
                                                ValueRange{db, qb});
              for (int64_t k0 = 0; k0 < keyTile; k0 += kPairColumns) {
                Value a = amx::TileLoadOp::create(b, loc, operand, ab.vT,
                                                  ValueRange{db, idx(k0)});
                Value bp = amx::TileLoadOp::create(
                    b, loc, operand, ab.pV, ValueRange{idx(k0 / 2), column});
                c = amx::TileMulFOp::create(b, loc, result, a, bp, c);
              }
              amx::TileStoreOp::create(b, loc, tb.acc, ValueRange{db, qb}, c);
              return {};
            });
        return {};
      });
}

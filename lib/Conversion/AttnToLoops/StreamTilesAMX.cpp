//===- StreamTilesAMX.cpp - the tile body on AMX tiles --------------------===//
//
// For bf16 inputs on CPUs with AMX, the two products of the tile body run
// on AMX tiles (tdpbf16ps: C[16x16 f32] += A[16x32 bf16] B[16x32 bf16 in
// pairs]). The scores keep the f32 body's transposed layout, so the
// element pass and the vertical online softmax are shared:
//
//   qV = Q^T of the query tile in VNNI pairs    (16x16 32-bit transposes)
//   per key tile:
//     kB = K rows, vV = V in VNNI pairs         (copy; vector.interleave)
//     sT = scale * (kB qV)                      (AMX, f32 out)
//     element pass, online softmax              (shared; the weights leave
//                                                as bf16 rows of P through
//                                                16x16 32-bit transposes)
//     O = O * alpha + P vV                      (AMX, accumulator in memory;
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

/// C[m][n] (+)= A[m][k] B[k][n] on AMX tiles, A as rows of bf16, B in VNNI
/// pairs (row p holds rows 2p and 2p + 1 interleaved), C f32, all in
/// memory; C starts from zero unless `accumulate`.
static void emitTileProduct(OpBuilder &b, Location loc, Value a, Value bPairs,
                            Value c, int64_t m, int64_t n, int64_t k,
                            bool accumulate) {
  auto operand = amx::TileType::get({kTileRows, kPairColumns}, b.getBF16Type());
  auto result = amx::TileType::get({kTileRows, kLanes}, b.getF32Type());
  auto idx = [&](int64_t x) -> Value {
    return arith::ConstantIndexOp::create(b, loc, x);
  };
  forLoop(
      b, loc, idx(0), idx(m), idx(kTileRows), {},
      [&](Value mb, ValueRange) -> SmallVector<Value> {
        forLoop(
            b, loc, idx(0), idx(n), idx(kLanes), {},
            [&](Value nb, ValueRange) -> SmallVector<Value> {
              Value column = arith::MulIOp::create(b, loc, nb, idx(2));
              Value tile =
                  accumulate
                      ? amx::TileLoadOp::create(b, loc, result, c,
                                                ValueRange{mb, nb})
                            .getResult()
                      : amx::TileZeroOp::create(b, loc, result).getResult();
              for (int64_t k0 = 0; k0 < k; k0 += kPairColumns) {
                Value lhs = amx::TileLoadOp::create(b, loc, operand, a,
                                                    ValueRange{mb, idx(k0)});
                Value rhs = amx::TileLoadOp::create(
                    b, loc, operand, bPairs, ValueRange{idx(k0 / 2), column});
                tile = amx::TileMulFOp::create(b, loc, result, lhs, rhs, tile);
              }
              amx::TileStoreOp::create(b, loc, c, ValueRange{mb, nb}, tile);
              return {};
            });
        return {};
      });
}

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
  ab.vV = buffer({keyTile / 2, 2 * staticValueDim}, bf16);
  ab.p = buffer({queryTile, keyTile}, bf16);
  tb.acc = buffer({queryTile, staticValueDim}, b.getF32Type());
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
        SmallVector<Value> rows =
            clampedRows(b, loc, values.queryBegin, ib, lastRow);
        Value column = arith::MulIOp::create(b, loc, ib, idx(2));
        for (int64_t d0 = 0; d0 < staticHeadDim; d0 += kPairColumns) {
          SmallVector<Value> block;
          for (int64_t r = 0; r < kLanes; ++r)
            block.push_back(vector::BitCastOp::create(
                b, loc, words,
                vector::LoadOp::create(
                    b, loc, pairs, q,
                    indices(op.getQLayout(), values.batch, values.head,
                            rows[r], idx(d0), queryOffset))));
          for (auto [p, column2] : llvm::enumerate(transpose16(b, loc, block)))
            vector::StoreOp::create(
                b, loc, vector::BitCastOp::create(b, loc, pairs, column2),
                ab.qV, ValueRange{idx(d0 / 2 + p), column});
        }
        return {};
      });
}

void StreamingLowering::packKeyTileAMX(const LoopValues &values, Value g,
                                       Value j0, Value j1) {
  Type bf16 = b.getBF16Type();
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
  // V in VNNI pairs: rows 2p and 2p + 1 interleaved.
  auto valueRowType = VectorType::get({staticValueDim}, bf16);
  forLoop(b, loc, idx(0), idx(keyTile / 2), idx(1), {},
          [&](Value p, ValueRange) -> SmallVector<Value> {
            Value even = arith::MulIOp::create(b, loc, p, idx(2));
            auto row = [&](Value jj) -> Value {
              return vector::LoadOp::create(
                  b, loc, valueRowType, v,
                  indices(layout, values.batch, g, keyAt(jj), idx(0),
                          keyOffset));
            };
            vector::StoreOp::create(
                b, loc,
                vector::InterleaveOp::create(
                    b, loc, row(even),
                    row(arith::AddIOp::create(b, loc, even, idx(1)))),
                ab.vV, ValueRange{p, idx(0)});
            return {};
          });
}

void StreamingLowering::emitScoreTileAMX() {
  emitTileProduct(b, loc, ab.k, ab.qV, tb.s, keyTile, queryTile,
                  staticHeadDim, /*accumulate=*/false);
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

Value StreamingLowering::emitWeightsAMX(
    Value queryColumn, llvm::function_ref<std::pair<Value, Value>(Value)> weigh,
    Value zeros) {
  Type f32Type = b.getF32Type(), bf16 = b.getBF16Type();
  auto bf16Lanes = VectorType::get({kLanes}, bf16);
  auto words = VectorType::get({kLanes}, f32Type);
  auto pairs = VectorType::get({kPairColumns}, bf16);
  return forLoop(
      b, loc, idx(0), idx(keyTile), idx(kPairColumns), {zeros},
      [&](Value k0, ValueRange acc) -> SmallVector<Value> {
        Value sum = acc[0];
        SmallVector<Value> block;
        for (int64_t pair = 0; pair < kLanes; ++pair) {
          Value even = arith::AddIOp::create(b, loc, k0, idx(2 * pair));
          auto [pe, we] = weigh(even);
          auto [po, wo] = weigh(arith::AddIOp::create(b, loc, even, idx(1)));
          sum = arith::AddFOp::create(b, loc, sum,
                                      arith::AddFOp::create(b, loc, pe, po));
          Value interleaved = vector::InterleaveOp::create(
              b, loc, arith::TruncFOp::create(b, loc, bf16Lanes, we),
              arith::TruncFOp::create(b, loc, bf16Lanes, wo));
          block.push_back(vector::BitCastOp::create(b, loc, words, interleaved));
        }
        // Row `pair` holds (query, pair) words; transposed, row `query`.
        for (auto [query, row] : llvm::enumerate(transpose16(b, loc, block)))
          vector::StoreOp::create(
              b, loc, vector::BitCastOp::create(b, loc, pairs, row), ab.p,
              ValueRange{arith::AddIOp::create(b, loc, queryColumn,
                                               idx(query)),
                         k0});
        return {sum};
      })[0];
}

void StreamingLowering::emitValueTileAMX() {
  Type f32Type = b.getF32Type();
  auto laneType = VectorType::get({kLanes}, f32Type);
  // O *= alpha, one rescale factor per query (row), unless the lazy
  // running max left every factor at 1.
  Value one = vector::BroadcastOp::create(
      b, loc, laneType,
      arith::ConstantOp::create(b, loc, b.getF32FloatAttr(1.0)));
  Value rescale = arith::ConstantIntOp::create(b, loc, 0, 1);
  for (int64_t c = 0; c < queryTile; c += kLanes)
    rescale = arith::OrIOp::create(
        b, loc, rescale,
        vector::ReductionOp::create(
            b, loc, vector::CombiningKind::OR,
            arith::CmpFOp::create(
                b, loc, arith::CmpFPredicate::UNE,
                vector::LoadOp::create(b, loc, laneType, tb.alpha,
                                       ValueRange{idx(c)}),
                one)));
  auto ifRescale = scf::IfOp::create(b, loc, rescale, /*withElseRegion=*/false);
  b.setInsertionPointToStart(ifRescale.thenBlock());
  forLoop(b, loc, idx(0), idx(queryTile), idx(1), {},
          [&](Value i, ValueRange) -> SmallVector<Value> {
            Value alpha = vector::BroadcastOp::create(
                b, loc, laneType,
                memref::LoadOp::create(b, loc, tb.alpha, ValueRange{i}));
            for (int64_t d = 0; d < staticValueDim; d += kLanes) {
              Value o = vector::LoadOp::create(b, loc, laneType, tb.acc,
                                               ValueRange{i, idx(d)});
              vector::StoreOp::create(b, loc,
                                      arith::MulFOp::create(b, loc, o, alpha),
                                      tb.acc, ValueRange{i, idx(d)});
            }
            return {};
          });
  b.setInsertionPointAfter(ifRescale);
  // O += P V.
  emitTileProduct(b, loc, ab.p, ab.vV, tb.acc, queryTile, staticValueDim,
                  keyTile, /*accumulate=*/true);
}

//===- MMABody.h - the tensor-core body's shared pieces -------------------===//
//
// What the files of the tensor-core body (StreamTilesMMA.cpp, MMAPlan.cpp,
// MMAFragments.cpp, MMAOutput.cpp, WarpgroupMMA.cpp) share: the tile
// geometry, the warp-level emitter, what every key tile of a query tile
// reads, and the register-fragment helpers.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTOLOOPS_MMABODY_H
#define ATTN_LIB_CONVERSION_ATTNTOLOOPS_MMABODY_H

#include "StreamingLowering.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"

#include <limits>

namespace mlir::attn {

inline constexpr double kInf = std::numeric_limits<double>::infinity();
/// Query rows per warp, columns per shared-memory slab.
inline constexpr int64_t kWarpRows = 16, kSlab = 64;
/// Shared-memory stages of K and V: the tile computed, the previous one
/// (its value product runs beside this tile's softmax) and the next one
/// (being copied).
inline constexpr int64_t kStages = 3;
/// Elements per 16-byte chunk of f16/bf16.
inline constexpr int64_t kChunk = 8;

} // namespace mlir::attn

namespace mlir::attn {
/// Emits the warp-level pieces of the MMA body.
struct MMAEmitter {
  OpBuilder &b;
  Location loc;
  Type element; // f16 or bf16

  Value idx(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
  Value add(Value x, Value y) { return arith::AddIOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) { return arith::MulIOp::create(b, loc, x, y); }
  Value div(Value x, int64_t y) {
    return arith::DivUIOp::create(b, loc, x, idx(y));
  }
  Value rem(Value x, int64_t y) {
    return arith::RemUIOp::create(b, loc, x, idx(y));
  }
  /// The negation of an i1.
  Value negate(Value x) {
    return arith::XOrIOp::create(b, loc, x,
                                 arith::ConstantIntOp::create(b, loc, 1, 1));
  }
  /// The swizzled column of `col` (a multiple of 8) in a row `row % 8 ==
  /// rowMod8`: 16-byte chunks XOR the row.
  Value swizzle(Value col, Value rowMod8) {
    Value chunk = arith::XOrIOp::create(b, loc, div(col, kChunk), rowMod8);
    return mul(chunk, idx(kChunk));
  }
  /// Four 8x8 matrices from shared memory (`transpose` for the B operand
  /// of row-major V).
  Value ldmatrix(Value memref, ValueRange indices, bool transpose) {
    return nvgpu::LdMatrixOp::create(b, loc, VectorType::get({4, 2}, element),
                                     memref, indices, b.getBoolAttr(transpose),
                                     b.getI32IntegerAttr(4));
  }
  /// Rows [first, first + count) of a [n x 2] fragment as [count x 2], or
  /// `rows` placed at `first` of `into`: row by row, which the NVVM
  /// lowering handles (2-D strided slices it does not).
  Value rowsOf(Value x, int64_t first, int64_t count) {
    auto type = VectorType::get({count, 2},
                                cast<VectorType>(x.getType()).getElementType());
    Value result = arith::ConstantOp::create(b, loc, b.getZeroAttr(type));
    for (int64_t r = 0; r < count; ++r)
      result = vector::InsertOp::create(
          b, loc,
          vector::ExtractOp::create(b, loc, x, ArrayRef<int64_t>{first + r}),
          result, ArrayRef<int64_t>{r});
    return result;
  }
  Value insertRows(Value rows, Value into, int64_t first) {
    int64_t count = cast<VectorType>(rows.getType()).getShape()[0];
    for (int64_t r = 0; r < count; ++r)
      into = vector::InsertOp::create(
          b, loc, vector::ExtractOp::create(b, loc, rows, ArrayRef<int64_t>{r}),
          into, ArrayRef<int64_t>{first + r});
    return into;
  }
  /// Shared-memory indices of (row, column) of a slab-laid tile: the column
  /// is `column + offset` with `column` static and `offset` < 16 (a lane's
  /// 8-column part); `rowMod8` is row % 8; `stage` may be null.
  SmallVector<Value> slabAt(Value stage, Value row, int64_t column,
                            Value offset, Value rowMod8) {
    SmallVector<Value> at;
    if (stage)
      at.push_back(stage);
    at.push_back(idx(column / kSlab));
    at.push_back(row);
    at.push_back(swizzle(add(idx(column % kSlab), offset), rowMod8));
    return at;
  }
  /// Half `h` (0 or 1) of an ldmatrix result: one B operand.
  Value half(Value x4, int64_t h) { return rowsOf(x4, 2 * h, 2); }
  /// c + a b for one m16n8k16 tile.
  Value mma(Value a, Value bOperand, Value c) {
    return mmaSync16816(b, loc, element, a, bOperand, c);
  }
  /// acc[2 n2 + h] += a[k] B for n2 < nPairs, k < kSteps: each B operand
  /// pair from one ldmatrix x4 of `memref` at `stage`, the lane's row and
  /// (static, lane) column parts given by `at(n2, k)`; rows are 8-aligned
  /// plus the lane's `lane8`, so the swizzle is by `lane8`.
  void product(
      SmallVectorImpl<Value> &acc, ArrayRef<Value> a, Value memref, Value stage,
      int64_t nPairs, int64_t kSteps, bool transpose, Value lane8,
      llvm::function_ref<std::tuple<Value, int64_t, Value>(int64_t, int64_t)>
          at) {
    for (int64_t n2 = 0; n2 < nPairs; ++n2)
      for (int64_t k = 0; k < kSteps; ++k) {
        auto [row, column, offset] = at(n2, k);
        Value x4 = ldmatrix(memref, slabAt(stage, row, column, offset, lane8),
                            transpose);
        for (int64_t h = 0; h < 2; ++h)
          acc[2 * n2 + h] = mma(a[k], half(x4, h), acc[2 * n2 + h]);
      }
  }
  /// The sum (or max) of `x` over the four lanes that hold one row.
  Value quadReduce(Value x, bool max) {
    for (int64_t offset : {1, 2}) {
      Value other =
          gpu::ShuffleOp::create(b, loc, x, offset, 32, gpu::ShuffleMode::XOR)
              .getShuffleResult();
      x = max ? arith::MaximumFOp::create(b, loc, x, other).getResult()
              : arith::AddFOp::create(b, loc, x, other).getResult();
    }
    return x;
  }
};

/// What every key tile of a query tile reads: this thread's lane values,
/// its rows and the Q fragments.
struct MMATileContext {
  MMAEmitter e;
  Value scoreScale;
  bool scoreMods;
  /// Per accumulator row: the query, its head, the row of the tile.
  Value rows[2], heads[2], tileRows[2];
  Value colBase, lane8, ldGroup;
  SmallVector<Value> qFrag;
};
} // namespace mlir::attn

namespace mlir::attn {

/// The 32-bit words of an MMA operand fragment (vector<Nx2xf16/bf16>), one
/// per row.
SmallVector<Value> fragmentWords(OpBuilder &b, Location loc, Value fragment);
/// The fields of an LLVM struct value.
SmallVector<Value> structFields(OpBuilder &b, Location loc, Value value);
/// `values` (f32 or i32 scalars) through an empty asm statement with side
/// effects: the results are defined where the statement is, so that the
/// registers of an asynchronous warpgroup MMA are neither read (its
/// accumulators) nor overwritten (its A fragments) before the wait that
/// precedes the statement.
SmallVector<Value> pinRegisters(OpBuilder &b, Location loc,
                                ArrayRef<Value> values);
/// The m16n8 accumulator fragments (vector<2x2xf32>) of a thread's wgmma
/// accumulator registers: element i is n-tile i / 4, row half (i % 4) / 2,
/// column i % 2.
SmallVector<Value> accumulatorFragments(OpBuilder &b, Location loc,
                                        ArrayRef<Value> regs);
/// Waits for the value product in flight (the last wgmma group) and
/// returns its accumulators (`pending`, wgmma order) as m16n8 fragments.
SmallVector<Value> completeValuesWGMMA(OpBuilder &b, Location loc,
                                       ArrayRef<Value> pending);
/// An A fragment through pinRegisters.
Value pinFragment(OpBuilder &b, Location loc, Value fragment);
/// The shared-memory byte address (i64) of stage `stage` (null: the
/// first) of `memref`, stages `stageBytes` apart (WarpgroupMMA.cpp).
Value sharedAddress(OpBuilder &b, Location loc, Value memref, Value stage,
                    int64_t stageBytes);

} // namespace mlir::attn

#endif // ATTN_LIB_CONVERSION_ATTNTOLOOPS_MMABODY_H

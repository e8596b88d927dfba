//===- TileLoops.h - helpers of the tile bodies (private) -------*- C++ -*-===//
//
// Constants and loop builders shared by the f32 tile body (StreamTiles.cpp)
// and its AMX variant (StreamTilesAMX.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTOLOOPS_TILELOOPS_H
#define ATTN_LIB_CONVERSION_ATTNTOLOOPS_TILELOOPS_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <limits>

namespace mlir::attn::tiles {

/// f32 lanes per vector: one AVX-512 register (two AVX2 registers).
inline constexpr int64_t kLanes = 16;
/// Accumulators kept in registers by the blocked FMA loops.
inline constexpr int64_t kAccumulators = 16;
inline constexpr double kInf = std::numeric_limits<double>::infinity();

inline int64_t roundUp(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

/// The largest power of two <= `limit` that divides `n`.
inline int64_t rowBlock(int64_t n, int64_t limit) {
  int64_t r = 1;
  while (r * 2 <= limit && n % (r * 2) == 0)
    r *= 2;
  return r;
}

/// scf.for with loop-carried values built by a callback
/// `body(inductionVar, iterArgs) -> next values`.
template <typename Body>
SmallVector<Value> forLoop(OpBuilder &b, Location loc, Value lb, Value ub,
                           Value step, ValueRange init, Body body) {
  auto loop = scf::ForOp::create(b, loc, lb, ub, step, init);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(loop.getBody());
  SmallVector<Value> next =
      body(loop.getInductionVar(), ValueRange(loop.getRegionIterArgs()));
  if (!init.empty())
    scf::YieldOp::create(b, loc, next);
  return SmallVector<Value>(loop.getResults().begin(), loop.getResults().end());
}

/// The register-blocked loop of both FMA products: `rows` x `width`
/// accumulator vectors (row-major in `init` and the result), and for every
/// x in [lb, ub) acc[r][c] += broadcast(scalarAt(r, x)) * vectorAt(c, x);
/// the `width` vectors are loaded once per x, each scalar once per row.
template <typename VectorAt, typename ScalarAt>
SmallVector<Value> fmaBlock(OpBuilder &b, Location loc, Value lb, Value ub,
                            ValueRange init, int64_t rows, int64_t width,
                            VectorAt vectorAt, ScalarAt scalarAt) {
  auto laneType = cast<VectorType>(init.front().getType());
  return forLoop(
      b, loc, lb, ub, arith::ConstantIndexOp::create(b, loc, 1), init,
      [&](Value x, ValueRange acc) -> SmallVector<Value> {
        SmallVector<Value> vectors;
        for (int64_t c = 0; c < width; ++c)
          vectors.push_back(vectorAt(c, x));
        SmallVector<Value> next;
        for (int64_t r = 0; r < rows; ++r) {
          Value scalar =
              vector::BroadcastOp::create(b, loc, laneType, scalarAt(r, x));
          for (int64_t c = 0; c < width; ++c)
            next.push_back(vector::FMAOp::create(b, loc, scalar, vectors[c],
                                                 acc[r * width + c]));
        }
        return next;
      });
}

/// Stores the row-major block of accumulator vectors of fmaBlock: vector
/// (r, c) at buffer[rows[r]][column0 + 16 c].
inline void storeBlock(OpBuilder &b, Location loc, ArrayRef<Value> block,
                       Value buffer, ArrayRef<Value> rows, int64_t column0) {
  int64_t width = block.size() / rows.size();
  for (auto [r, row] : llvm::enumerate(rows))
    for (int64_t c = 0; c < width; ++c)
      vector::StoreOp::create(
          b, loc, block[r * width + c], buffer,
          ValueRange{row, arith::ConstantIndexOp::create(
                              b, loc, column0 + c * kLanes)});
}

/// Transposes 16 vectors of 16 32-bit lanes (f32) in registers: result[d]
/// holds lane d of every row.
inline SmallVector<Value> transpose16(OpBuilder &b, Location loc,
                                      ArrayRef<Value> rows) {
  auto blockType = VectorType::get({kLanes, kLanes}, b.getF32Type());
  Value block = arith::ConstantOp::create(b, loc, b.getZeroAttr(blockType));
  for (auto [r, row] : llvm::enumerate(rows))
    block = vector::InsertOp::create(b, loc, row, block,
                                     ArrayRef<int64_t>{int64_t(r)});
  Value transposed =
      vector::TransposeOp::create(b, loc, block, ArrayRef<int64_t>{1, 0});
  SmallVector<Value> columns;
  for (int64_t d = 0; d < kLanes; ++d)
    columns.push_back(
        vector::ExtractOp::create(b, loc, transposed, ArrayRef<int64_t>{d}));
  return columns;
}

/// The 16 rows first + ib + r (r < 16), clamped to `last`.
inline SmallVector<Value> clampedRows(OpBuilder &b, Location loc, Value first,
                                      Value ib, Value last) {
  SmallVector<Value> rows;
  for (int64_t r = 0; r < kLanes; ++r)
    rows.push_back(arith::MinSIOp::create(
        b, loc,
        arith::AddIOp::create(
            b, loc, first,
            arith::AddIOp::create(b, loc, ib,
                                  arith::ConstantIndexOp::create(b, loc, r))),
        last));
  return rows;
}

} // namespace mlir::attn::tiles

#endif // ATTN_LIB_CONVERSION_ATTNTOLOOPS_TILELOOPS_H

//===- TileLoops.h - helpers of the tile bodies (private) -------*- C++ -*-===//
//
// Constants and loop builders shared by the f32 tile body (StreamTiles.cpp)
// and its AMX variant (StreamTilesAMX.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTOLOOPS_TILELOOPS_H
#define ATTN_LIB_CONVERSION_ATTNTOLOOPS_TILELOOPS_H

#include "mlir/Dialect/SCF/IR/SCF.h"

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

} // namespace mlir::attn::tiles

#endif // ATTN_LIB_CONVERSION_ATTNTOLOOPS_TILELOOPS_H

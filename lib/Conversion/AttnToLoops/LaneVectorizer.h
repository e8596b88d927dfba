//===- LaneVectorizer.h - scalar element IR to lanes (private) --*- C++ -*-===//
//
// The element emitter writes masks and score modifiers as scalar IR of one
// (query, key) pair. The tile body evaluates them for a whole vector of
// queries at once: it emits the scalar IR from placeholder seeds, then
// rewrites every op that depends on a seed into its vector form —
// elementwise arith/math ops on vectors, loads with varying indices as
// gathers, anything else (user regions' tensor ops, calls) once per lane.
// Ops that do not depend on a seed stay scalar.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTOLOOPS_LANEVECTORIZER_H
#define ATTN_LIB_CONVERSION_ATTNTOLOOPS_LANEVECTORIZER_H

#include "mlir/IR/Builders.h"

namespace mlir::attn {

/// Vectorizes the ops of `block` that follow `after` (exclusive; null: the
/// whole block) up to the builder's insertion point, which must be the end
/// of the ops to vectorize. `seeds` pairs each scalar placeholder with its
/// vector value (`lanes` lanes). Returns the vector form of `outputs`
/// (uniform outputs broadcast) and erases the rewritten scalar ops; the
/// builder ends up after the new ops.
SmallVector<Value> vectorizeLanes(OpBuilder &b, Location loc, Block *block,
                                  Operation *after,
                                  ArrayRef<std::pair<Value, Value>> seeds,
                                  ArrayRef<Value> outputs, int64_t lanes);

} // namespace mlir::attn

#endif // ATTN_LIB_CONVERSION_ATTNTOLOOPS_LANEVECTORIZER_H

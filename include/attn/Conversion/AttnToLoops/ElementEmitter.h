//===- ElementEmitter.h - scalar IR for masks, scores, tile bounds -*- C++ -*-===//
//
// Emits index/arith IR for what the streaming lowering evaluates inside its
// loops: the closed-form key ranges of tile classification (TileExprs), the
// per-element mask predicate of partial tiles, and the score modifiers. The
// CPU and GPU lowerings share it.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_CONVERSION_ATTNTOLOOPS_ELEMENTEMITTER_H
#define ATTN_CONVERSION_ATTNTOLOOPS_ELEMENTEMITTER_H

#include "attn/Analysis/TileExpr.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "mlir/IR/Builders.h"

namespace mlir::attn {

/// Values of the loop indices and sizes the emitted code refers to.
struct LoopValues {
  Value batch, head, query, key;          // b, h, i, j (index)
  Value queryBegin, queryEnd;             // i0, i1 of the query tile
  Value queryLen, keyLen, queryHeads;     // Sq, Sk, Hq (index)
  /// The op's `patches`: positions number the grid's tokens patch by patch.
  ArrayRef<int64_t> patches;
  /// Under `patches`, the key's grid row and column when the caller has
  /// them at hand (a key tile that is one patch), else null.
  Value keyRow, keyCol;
  /// The key j as f32 when the caller forms it from a tile's conversion
  /// plus a constant (exact below 2^24), else null: score modifiers that
  /// read j - i then need no integer-to-float conversion per column.
  Value keyF32;
};


/// A key selection the whole mask implies: a #attn.tokens or #attn.blocks
/// that is the mask itself or a child of its top-level `and`, and the index
/// of its first operand (counts; indices follow) among the mask operands.
/// The row form then iterates over the selected keys instead of key tiles.
struct KeySelection {
  Attribute attr;
  unsigned operand = 0;
};
std::optional<KeySelection> findKeySelection(Attribute mask);

/// The grid (row, column) of the token at `position` when the tokens of a
/// grid `gridCols` wide are counted patch by patch (`patches`, row-major
/// inside a patch): the mask's coordinates, the memory position and a key
/// tile's origin all come from here.
std::pair<Value, Value> patchCoordinates(OpBuilder &b, Location loc,
                                         Value position,
                                         ArrayRef<int64_t> patches,
                                         int64_t gridCols);

/// Emits scalar IR at the builder's insertion point.
class ElementEmitter {
public:
  /// `maskOperands` are the mask operands of the op, already converted to
  /// memrefs (tensors) or left as scalars.
  ElementEmitter(OpBuilder &builder, Location loc, const LoopValues &values,
                 ValueRange maskOperands)
      : b(builder), loc(loc), v(values), maskOperands(maskOperands) {}

  /// Emits `expr` as index arithmetic; shared subexpressions are emitted once
  /// per emitter.
  Value emitTileExpr(const TileExpr &expr);

  /// (maybe, all) of keys [j0, j1) against emitted key intervals: whether
  /// they meet one of `hull` (some key may be allowed) and whether they lie
  /// inside one of `core` (every key is), as i1.
  std::pair<Value, Value>
  emitIntervalTest(ArrayRef<std::pair<Value, Value>> hull,
                   ArrayRef<std::pair<Value, Value>> core, Value j0, Value j1);

  /// Emits the i1 predicate "mask allows (b, h, i, j)". `predicate` is the
  /// op's predicate region (may be empty) and `captures` its captured
  /// operands.
  Value emitMask(Attribute mask, Region &predicate, ValueRange captures);

  /// Makes the selection whose counts are mask operand `operand` evaluate
  /// to true: the caller iterates over the keys it selects.
  void assumeSelected(unsigned operand) { selectedOperand = operand; }

  /// Applies the score modifiers to the f32 score `s`. `operands` are the
  /// op's score operands (memrefs or scalars).
  Value emitScore(Value s, ArrayAttr modifiers, ValueRange operands,
                  Region &scoreFn, ValueRange captures);

  /// Loads `memref[indices]` where each index is broadcast (0) along size-1
  /// dimensions marked in `broadcast`, and head-group dimensions (marked in
  /// `headGroup`) map the query head h to h / (Hq / size).
  Value loadBroadcast(Value memref, ArrayRef<Value> indices,
                      ArrayRef<bool> broadcast, ArrayRef<bool> headGroup = {});

  /// Whether coordinate `y` of a key lies in the neighborhood of query
  /// coordinate `x` along `axis` (a neighborhood is the conjunction of
  /// its axes).
  Value emitNeighborhoodAxis(NeighborhoodAttr attr, size_t axis, Value x,
                             Value y);

  /// Coordinates of a flat token index on `grid`: row-major, or patch by
  /// patch under `patches`.
  SmallVector<Value> unravel(Value index, ArrayRef<int64_t> grid);

  /// Index constant.
  Value index(int64_t value);
  /// Converts a scalar of integer/index/float type to index.
  Value toIndex(Value value);
  /// Converts a scalar to f32.
  Value toF32(Value value);

private:
  Value emitMaskNode(Attribute mask, Region &predicate, ValueRange captures);
  /// Whether `key` is among indices[b, g, row, 0 .. counts[b, g, row])
  /// (size-1 row dimensions broadcast; a linear search).
  Value selectionContains(Value counts, Value indices, Value row, Value key);
  Value dynInt(int64_t value);
  Value dynFloat(FloatAttr value, ValueRange &operands);
  Value perBatchInt(Value operand);
  Value diagonal(Align align, int64_t offset);
  Value inlineRegion(Region &region, ValueRange arguments);
  Value emitNeighborhood(NeighborhoodAttr attr);
  Value emitVaryingWindow(VaryingWindowAttr attr);
  /// The T5 bucket of the relative position `rel` (index).
  Value relPosBucket(Value rel, int64_t buckets, int64_t maxDistance);

  OpBuilder &b;
  Location loc;
  LoopValues v;
  ValueRange maskOperands;
  unsigned nextMaskOperand = 0;
  /// The mask operand of the selection assumed true (none: -1).
  unsigned selectedOperand = ~0u;
  llvm::DenseMap<const TileExpr::Node *, Value> tileExprs;
};

} // namespace mlir::attn

#endif // ATTN_CONVERSION_ATTNTOLOOPS_ELEMENTEMITTER_H

//===- TileClassification.h - which key tiles a query tile needs -*- C++ -*-===//
//
// For a query tile [i0, i1) of head h, batch b, an attention mask allows
// keys inside the *hull* ranges only, and allows every key of the *core*
// ranges for every query of the tile. Both are closed-form TileExprs built
// from the mask attribute, never tables: a key tile outside the hull is
// empty (never visited), inside a core range it is full (no mask work),
// otherwise partial (the predicate is evaluated per element).
//
// The ranges are sound for every leaf: structured leaves get exact or tight
// ranges, leaves over runtime data (document ids, dense masks, selections,
// predicates) get the whole key range as hull and no core.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_ANALYSIS_TILECLASSIFICATION_H
#define ATTN_ANALYSIS_TILECLASSIFICATION_H

#include "attn/Analysis/TileExpr.h"
#include "mlir/IR/Attributes.h"
#include "mlir/IR/Operation.h"
#include "llvm/ADT/SmallVector.h"

#include <optional>
#include <vector>

namespace mlir::attn {

/// The half-open interval [begin, end); empty when end <= begin. Intervals
/// built by this analysis are normalized: end >= begin.
struct KeyInterval {
  TileExpr begin;
  TileExpr end;
};

/// Key ranges of one query tile (see the file comment).
struct KeyRanges {
  /// Pairwise disjoint; every allowed key lies in one of them.
  llvm::SmallVector<KeyInterval> hull;
  /// Every key in one of them is allowed for every query of the tile.
  llvm::SmallVector<KeyInterval> core;
};

/// Computes the key ranges of `mask` (null means full). Mask operand #n (a
/// `?` parameter or per-batch length) appears as TileSymbol::Operand n.
/// With `patches` (the op's attribute), positions number the tokens of the
/// mask's grid patch by patch.
KeyRanges computeKeyRanges(Attribute mask, ArrayRef<int64_t> patches = {});

/// How generated code refines the classification of a (query tile, key
/// tile) pair from runtime data: a tree over the mask's and/or/not whose
/// leaves are either closed-form ranges (structured subtrees, and data
/// leaves with nothing better) or data summaries — the min/max document id
/// of the query tile and of the key tile (disjoint: empty; one shared id:
/// full), or any/all of the keep flags of the tile's keys or queries, or
/// the pyramid level of the tile's block pair (D6: visited and full at
/// level >= 0; for tiles inside one query block and one key block).
struct RuntimeTileTest {
  enum class Kind : uint8_t {
    Ranges,
    Document,
    KeepKeys,
    KeepQueries,
    Pyramid,
    And,
    Or,
    Not
  };
  Kind kind = Kind::Ranges;
  /// Kind::Ranges.
  KeyRanges ranges;
  /// Mask operand numbers: query and key document ids, the keep flags, or
  /// the pyramid's levels.
  unsigned queryOperand = 0, keyOperand = 0;
  /// Kind::Document with ranges (`#attn.document<ranges>`): the operand
  /// number of the query ids' ranges (the key ids' follow).
  std::optional<unsigned> rangesOperand;
  /// Kind::And, Or, Not.
  std::vector<RuntimeTileTest> children;
};

/// The runtime test of `mask` when it has a leaf over runtime data that a
/// tile summary refines (documents, keep flags, pyramid levels); nullopt
/// otherwise — the
/// closed-form ranges are then all there is to know before the predicate.
/// Operand numbers follow computeKeyRanges.
std::optional<RuntimeTileTest> computeRuntimeTileTest(Attribute mask);

/// The key tiles to visit: pairwise disjoint ranges of key-tile indices
/// [t0, t1) covering the hull, for key tiles of `keyTile` keys.
llvm::SmallVector<KeyInterval> computeKeyTileRanges(const KeyRanges &ranges,
                                                    int64_t keyTile);

enum class TileKind : uint8_t { Empty, Full, Partial };

/// The ranges of one query tile evaluated to numbers.
struct EvaluatedRanges {
  llvm::SmallVector<std::pair<int64_t, int64_t>> hull;
  llvm::SmallVector<std::pair<int64_t, int64_t>> core;

  /// Classifies the key tile [j0, j1).
  TileKind classify(int64_t j0, int64_t j1) const;
};

/// Evaluates `ranges` for the query tile described by `env`, or nullopt
/// when a runtime operand is unknown.
std::optional<EvaluatedRanges> evaluateRanges(const KeyRanges &ranges,
                                              const TileExpr::Env &env);

/// Checks tile sizes given as pass options, with an error on `root`.
LogicalResult verifyTileSizes(Operation *root, int64_t queryTile,
                              int64_t keyTile);

/// Writes `[b0, e0) u [b1, e1) ...` (or `{}` when empty).
void printIntervals(llvm::raw_ostream &os,
                    llvm::ArrayRef<KeyInterval> intervals);

} // namespace mlir::attn

#endif // ATTN_ANALYSIS_TILECLASSIFICATION_H

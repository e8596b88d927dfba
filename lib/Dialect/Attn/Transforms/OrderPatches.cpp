//===- OrderPatches.cpp - attn-order-patches pass -------------------------===//
//
// A 2-D neighborhood in row-major token order makes every tile a strip of
// grid rows whose keys are whole grid rows: most of each visited key tile
// is outside every query's window. Counting tokens patch by patch makes a
// tile a box of the grid and its keys the few boxes around it. The pass
// states that order on the op (`patches`, which changes no result) where
// the tile classification says it visits fewer key tiles.
//
//===----------------------------------------------------------------------===//

#include "attn/Analysis/TileClassification.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNORDERPATCHESPASS
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

/// Key tiles of `tile` keys that the closed-form hulls of `mask` touch,
/// summed over the query tiles of `tokens` queries and over `heads` heads
/// (per-head parts of the mask; batch 0: the mask has no operands).
int64_t visitedKeyTiles(Attribute mask, ArrayRef<int64_t> patches,
                        int64_t tokens, int64_t heads, int64_t tile) {
  KeyRanges ranges = computeKeyRanges(mask, patches);
  int64_t total = 0;
  for (int64_t head = 0; head < heads; ++head)
    for (int64_t i0 = 0; i0 < tokens; i0 += tile) {
      TileExpr::Env env;
      env.queryBegin = i0;
      env.queryEnd = std::min(i0 + tile, tokens);
      env.queryLen = env.keyLen = tokens;
      env.head = head;
      std::optional<EvaluatedRanges> hull = evaluateRanges(ranges, env);
      if (!hull)
        return std::numeric_limits<int64_t>::max();
      for (auto [begin, end] : hull->hull)
        total += (end + tile - 1) / tile - begin / tile;
    }
  return total;
}

struct AttnOrderPatchesPass
    : mlir::attn::impl::AttnOrderPatchesPassBase<AttnOrderPatchesPass> {
  using Base::Base;

  void runOnOperation() override {
    if (tile < 1 || patchRows < 1 || patchCols < 1) {
      getOperation()->emitError()
          << "expected a positive tile and patch extents, got tile="
          << static_cast<int64_t>(tile)
          << ", patch-rows=" << static_cast<int64_t>(patchRows)
          << ", patch-cols=" << static_cast<int64_t>(patchCols);
      return signalPassFailure();
    }
    SmallVector<int64_t> patches = {patchRows, patchCols};
    getOperation()->walk([&](AttentionOp op) {
      bool neighborhood = false;
      if (Attribute mask = op.getMaskAttr())
        mask.walk([&](NeighborhoodAttr) { neighborhood = true; });
      if (!neighborhood || op.getPatches() ||
          !op.getPatchesObstacle(patches).empty())
        return;
      // Every head where the mask has per-head parts (a bounded count:
      // the comparison is per head and query tile).
      Extents e = op.getExtents();
      int64_t heads = 1;
      if (!ShapedType::isDynamic(e.queryHeads))
        op.getMaskAttr().walk(
            [&](HeadsAttr) { heads = std::min<int64_t>(e.queryHeads, 64); });
      if (visitedKeyTiles(op.getMaskAttr(), patches, e.queryLen, heads, tile) >=
          visitedKeyTiles(op.getMaskAttr(), {}, e.queryLen, heads, tile))
        return;
      op.setPatches(patches);
    });
  }
};

} // namespace

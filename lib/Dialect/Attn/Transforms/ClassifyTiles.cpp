//===- ClassifyTiles.cpp - attn-classify-tiles pass -----------------------===//
//
// Records the closed-form tile classification of every attention op on the
// op itself, counts the kinds of tiles for static problems, and optionally
// dumps them for comparison with the reference masks.
//
//===----------------------------------------------------------------------===//

#include "attn/Analysis/TileClassification.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"
#include "mlir/IR/Builders.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MathExtras.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNCLASSIFYTILESPASS
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

static std::string toString(ArrayRef<KeyInterval> intervals) {
  std::string text;
  llvm::raw_string_ostream os(text);
  printIntervals(os, intervals);
  return text;
}

/// Whether any expression reads a runtime operand.
static bool readsOperands(const KeyRanges &ranges) {
  bool reads = false;
  for (const auto *list : {&ranges.hull, &ranges.core})
    for (const KeyInterval &x : *list)
      for (const TileExpr *e : {&x.begin, &x.end})
        e->walk([&](const TileExpr &node) {
          reads |= node.getKind() == TileExpr::Kind::Sym &&
                   node.getSymbol() == TileSymbol::Operand;
        });
  return reads;
}

namespace {
struct AttnClassifyTilesPass
    : mlir::attn::impl::AttnClassifyTilesPassBase<AttnClassifyTilesPass> {
  using Base::Base;

  void runOnOperation() override {
    if (failed(verifyTileSizes(getOperation(), queryTile, keyTile)))
      return signalPassFailure();
    Builder b(&getContext());
    int64_t index = 0;
    getOperation()->walk([&](AttentionOp op) {
      KeyRanges ranges = computeKeyRanges(op.getMaskAttr());
      op->setAttr("attn.hull", b.getStringAttr(toString(ranges.hull)));
      op->setAttr("attn.core", b.getStringAttr(toString(ranges.core)));
      op->setAttr("attn.key_tiles", b.getStringAttr(toString(
                                        computeKeyTileRanges(ranges, keyTile))));
      Extents e = op.getExtents();
      if (!ShapedType::isDynamic(e.queryLen) &&
          !ShapedType::isDynamic(e.keyLen) &&
          !ShapedType::isDynamic(e.queryHeads) && !readsOperands(ranges))
        count(op, ranges, e, index);
      ++index;
    });
  }

  /// Counts tile kinds over (head, query tile, key tile) and dumps them.
  void count(AttentionOp op, const KeyRanges &ranges, const Extents &e,
             int64_t index) {
    int64_t counts[3] = {0, 0, 0};
    for (int64_t h = 0; h < e.queryHeads; ++h) {
      for (int64_t q0 = 0; q0 < e.queryLen; q0 += queryTile) {
        TileExpr::Env env;
        env.queryBegin = q0;
        env.queryEnd = std::min(q0 + queryTile, e.queryLen);
        env.queryLen = e.queryLen;
        env.keyLen = e.keyLen;
        env.head = h;
        std::optional<EvaluatedRanges> evaluated = evaluateRanges(ranges, env);
        if (!evaluated)
          return;
        std::string kinds;
        for (int64_t k0 = 0; k0 < e.keyLen; k0 += keyTile) {
          TileKind kind =
              evaluated->classify(k0, std::min(k0 + keyTile, e.keyLen));
          ++counts[static_cast<int>(kind)];
          kinds += "EFP"[static_cast<int>(kind)];
        }
        if (dump)
          llvm::errs() << llvm::json::Object{{"op", index},
                                              {"head", h},
                                              {"qtile", q0 / queryTile},
                                              {"tiles", kinds}}
                       << "\n";
      }
    }
    op->setAttr("attn.tile_counts",
                Builder(op.getContext()).getDenseI64ArrayAttr(counts));
  }
};
} // namespace

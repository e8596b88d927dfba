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
      KeyRanges ranges = computeKeyRanges(
          op.getMaskAttr(), op.getPatches().value_or(ArrayRef<int64_t>()));
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

  /// Counts tile kinds over (head, residue group, query tile, key tile)
  /// and dumps them; a residue group's tiles are over its own positions.
  void count(AttentionOp op, const KeyRanges &ranges, const Extents &e,
             int64_t index) {
    int64_t counts[3] = {0, 0, 0};
    int64_t groups = op.getResidueGroups().value_or(1);
    auto groupLen = [&](int64_t len, int64_t r) {
      return (len + groups - 1 - r) / groups;
    };
    for (int64_t h = 0; h < e.queryHeads; ++h) {
      for (int64_t r = 0; r < groups; ++r) {
        int64_t queryLen = groupLen(e.queryLen, r);
        int64_t keyLen = groupLen(e.keyLen, r);
        for (int64_t q0 = 0; q0 < queryLen; q0 += queryTile) {
          TileExpr::Env env;
          env.queryBegin = q0;
          env.queryEnd = std::min(q0 + queryTile, queryLen);
          env.queryLen = queryLen;
          env.keyLen = keyLen;
          env.head = h;
          std::optional<EvaluatedRanges> evaluated =
              evaluateRanges(ranges, env);
          if (!evaluated)
            return;
          std::string kinds;
          for (int64_t k0 = 0; k0 < keyLen; k0 += keyTile) {
            TileKind kind =
                evaluated->classify(k0, std::min(k0 + keyTile, keyLen));
            ++counts[static_cast<int>(kind)];
            kinds += "EFP"[static_cast<int>(kind)];
          }
          if (!dump)
            continue;
          llvm::json::Object line{{"op", index},
                                  {"head", h},
                                  {"qtile", q0 / queryTile},
                                  {"tiles", kinds}};
          if (groups > 1)
            line["group"] = r;
          llvm::errs() << llvm::json::Value(std::move(line)) << "\n";
        }
      }
    }
    op->setAttr("attn.tile_counts",
                Builder(op.getContext()).getDenseI64ArrayAttr(counts));
  }
};
} // namespace

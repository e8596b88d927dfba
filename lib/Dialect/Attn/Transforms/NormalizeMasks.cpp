//===- NormalizeMasks.cpp - attn-normalize-masks pass ---------------------===//
//
// A thin pass around populateMaskNormalizationPatterns: runs the mask and
// parameter normalization patterns greedily, nothing else.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/Transforms/Passes.h"
#include "attn/Dialect/Attn/Transforms/Transforms.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNNORMALIZEMASKSPASS
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {
struct AttnNormalizeMasksPass
    : mlir::attn::impl::AttnNormalizeMasksPassBase<AttnNormalizeMasksPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateMaskNormalizationPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace

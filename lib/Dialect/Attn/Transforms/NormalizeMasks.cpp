//===- NormalizeMasks.cpp - attn-normalize-masks pass ---------------------===//
//
// A thin pass around populateMaskNormalizationPatterns. Each pattern brings
// its op to normal form in one application, so a single walk suffices, and
// the walk driver neither folds nor erases anything else.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/Transforms/Passes.h"
#include "attn/Dialect/Attn/Transforms/Transforms.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

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
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};
} // namespace

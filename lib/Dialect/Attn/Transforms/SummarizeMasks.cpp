//===- SummarizeMasks.cpp - attn-summarize-masks pass ---------------------===//
//
// An explicit mask's tile summary once per call (attn.mask_tiles) instead
// of once per block group in the attention kernel: see the pass
// description in Passes.td.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"
#include "mlir/IR/Builders.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNSUMMARIZEMASKSPASS
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {
/// Whether the tensor-core body would read `op`'s summary: a whole,
/// untiled `#attn.dense` mask of static shape whose rows are 16-byte
/// chunks, and f16/bf16 queries.
bool summarizes(AttentionOp op) {
  auto dense = dyn_cast_if_present<DenseAttr>(op.getMaskAttr());
  if (!dense || dense.getTiles())
    return false;
  auto mask = cast<RankedTensorType>(op.getMaskOperands().front().getType());
  Type element =
      cast<RankedTensorType>(op.getQuery().getType()).getElementType();
  return mask.hasStaticShape() && mask.getShape().back() % 16 == 0 &&
         (element.isF16() || element.isBF16());
}

struct AttnSummarizeMasksPass
    : mlir::attn::impl::AttnSummarizeMasksPassBase<AttnSummarizeMasksPass> {
  using Base::Base;

  void runOnOperation() override {
    getOperation()->walk([&](AttentionOp op) {
      if (!summarizes(op))
        return;
      Value mask = op.getMaskOperands().front();
      ArrayRef<int64_t> shape =
          cast<RankedTensorType>(mask.getType()).getShape();
      OpBuilder b(op);
      auto type = RankedTensorType::get({shape[0], shape[1],
                                         (shape[2] + kMaskTile - 1) / kMaskTile,
                                         2 * maskTileWords(shape[3])},
                                        b.getI32Type());
      Value tiles = MaskTilesOp::create(b, op.getLoc(), type, mask);
      op.getMaskOperandsMutable().append(tiles);
      op.setMaskAttr(DenseAttr::get(op.getContext(), /*tiles=*/true));
    });
  }
};
} // namespace

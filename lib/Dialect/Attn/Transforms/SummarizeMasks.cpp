//===- SummarizeMasks.cpp - attn-summarize-masks pass ---------------------===//
//
// An explicit mask's tile summary (attn.mask_tiles) and document ids'
// ranges per 64 tokens (attn.id_ranges) once per call instead of once per
// block in the attention kernel: see the pass description in Passes.td.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnOperandSlots.h"
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

/// `leaf` of a mask (its operands `in`) with its ids' ranges if it is a
/// `#attn.document` without them over i32 ids of static shape (a GPU
/// program's temporaries are static): attn.id_ranges made before `op`, one
/// per ids value (`made`). The leaf's operands go to `out`.
Attribute withRanges(OpBuilder &b, Operation *op, Attribute leaf, ValueRange in,
                     SmallVectorImpl<Value> &out,
                     DenseMap<Value, Value> &made) {
  out.append(in.begin(), in.end());
  auto document = dyn_cast<DocumentAttr>(leaf);
  if (!document || document.getRanges() || !llvm::all_of(in, [](Value ids) {
        auto type = cast<RankedTensorType>(ids.getType());
        return type.hasStaticShape() && type.getElementType().isInteger(32);
      }))
    return leaf;
  for (Value ids : in) {
    Value &ranges = made[ids];
    if (!ranges) {
      auto type = cast<RankedTensorType>(ids.getType());
      ranges = IdRangesOp::create(
          b, op->getLoc(),
          RankedTensorType::get({type.getDimSize(0),
                                 (type.getDimSize(1) + kIdTile - 1) / kIdTile,
                                 2},
                                b.getI32Type()),
          ids);
    }
    out.push_back(ranges);
  }
  return DocumentAttr::get(op->getContext(), /*ranges=*/true);
}

/// Whether `op`'s mask has a document mask without ranges, and Q is f16 or
/// bf16 (the tensor-core body).
bool rangesDocuments(AttentionOp op) {
  Attribute mask = op.getMaskAttr();
  Type element =
      cast<RankedTensorType>(op.getQuery().getType()).getElementType();
  if (!mask || !(element.isF16() || element.isBF16()))
    return false;
  bool missing = false;
  mask.walk([&](DocumentAttr document) { missing |= !document.getRanges(); });
  return missing;
}

struct AttnSummarizeMasksPass
    : mlir::attn::impl::AttnSummarizeMasksPassBase<AttnSummarizeMasksPass> {
  using Base::Base;

  void runOnOperation() override {
    getOperation()->walk([&](AttentionOp op) {
      if (rangesDocuments(op)) {
        OpBuilder b(op);
        SmallVector<Value> operands;
        DenseMap<Value, Value> made;
        Attribute mask = mapMaskLeaves(
            op.getMaskAttr(), op.getMaskOperands(), operands,
            [&](Attribute leaf, ValueRange in, SmallVectorImpl<Value> &out) {
              return withRanges(b, op, leaf, in, out, made);
            });
        op.getMaskOperandsMutable().assign(operands);
        op.setMaskAttr(mask);
        return;
      }
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

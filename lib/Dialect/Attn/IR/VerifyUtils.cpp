//===- VerifyUtils.cpp - shared checks of attn op verifiers ---------------===//
//
// Implements the shape, element-type and mask checks shared by the attn op
// verifiers.
//
//===----------------------------------------------------------------------===//

#include "VerifyUtils.h"
#include "attn/Dialect/Attn/IR/AttnAttrs.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace mlir::attn;

bool mlir::attn::checks::isComputeFloat(Type type) {
  return type.isF16() || type.isBF16() || type.isF32();
}

bool mlir::attn::checks::isIntegerElement(Type type) {
  return type.isInteger() && type.getIntOrFloatBitWidth() > 1;
}

LogicalResult mlir::attn::checks::verifyRank(Operation *op, StringRef name, Type type,
                                 int64_t rank) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  if (!tensor || tensor.getRank() != rank)
    return op->emitOpError() << "expected " << name << " of rank " << rank
                             << ", got " << type;
  return success();
}

static void printShape(InFlightDiagnostic &diag, ArrayRef<int64_t> shape) {
  llvm::interleave(
      shape, diag,
      [&](int64_t size) {
        if (ShapedType::isDynamic(size))
          diag << "?";
        else
          diag << size;
      },
      "x");
}

LogicalResult mlir::attn::checks::verifyShape(Operation *op, StringRef name, Type type,
                                  ArrayRef<int64_t> shape) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  bool ok = tensor && tensor.getRank() == static_cast<int64_t>(shape.size());
  for (size_t k = 0; ok && k < shape.size(); ++k)
    ok = ShapedType::isDynamic(shape[k]) || tensor.isDynamicDim(k) ||
         tensor.getDimSize(k) == shape[k];
  if (ok)
    return success();
  InFlightDiagnostic diag = op->emitOpError();
  diag << "expected " << name << " of shape ";
  printShape(diag, shape);
  diag << ", got " << type;
  return diag;
}

LogicalResult mlir::attn::checks::verifyElement(Operation *op, StringRef name, Type type,
                                    function_ref<bool(Type)> pred,
                                    StringRef what) {
  Type element = getElementTypeOrSelf(type);
  if (!pred(element))
    return op->emitOpError() << "expected " << name << " element type to be "
                             << what << ", got " << element;
  return success();
}

int64_t mlir::attn::checks::numBlocks(int64_t len, int64_t block) {
  if (ShapedType::isDynamic(len) || block < 1)
    return ShapedType::kDynamic;
  return llvm::divideCeil(len, block);
}

FailureOr<Extents> mlir::attn::checks::verifyQueryKey(Operation *op, Value query,
                                          Value key) {
  if (failed(verifyRank(op, "query", query.getType(), 4)) ||
      failed(verifyRank(op, "key", key.getType(), 4)) ||
      failed(verifyElement(op, "query", query.getType(), isComputeFloat,
                           "f16, bf16 or f32")) ||
      failed(verifyElement(op, "key", key.getType(), isComputeFloat,
                           "f16, bf16 or f32")))
    return failure();
  auto q = cast<RankedTensorType>(query.getType());
  auto k = cast<RankedTensorType>(key.getType());
  Extents e;
  e.batch = q.getDimSize(0);
  e.queryHeads = q.getDimSize(1);
  e.queryLen = q.getDimSize(2);
  e.headDim = q.getDimSize(3);
  e.keyHeads = k.getDimSize(1);
  e.keyLen = k.getDimSize(2);
  if (failed(verifyShape(op, "key", k,
                         {e.batch, ShapedType::kDynamic, ShapedType::kDynamic,
                          e.headDim})))
    return failure();
  if (!ShapedType::isDynamic(e.queryHeads) &&
      !ShapedType::isDynamic(e.keyHeads) &&
      (e.keyHeads < 1 || e.queryHeads % e.keyHeads != 0))
    return op->emitOpError()
           << "expected key head count to divide query head count, got "
           << e.queryHeads << " and " << e.keyHeads;
  return e;
}

LogicalResult mlir::attn::checks::verifyMask(Operation *op, Attribute mask,
                                 ValueRange operands, const Extents &e,
                                 bool allowPredicate) {
  if (mask && !isMaskAttr(mask))
    return op->emitOpError() << "expected a mask attribute, got " << mask;
  bool usesRegion = false;
  if (mask)
    mask.walk([&](PredicateAttr) { usesRegion = true; });
  if (usesRegion && !allowPredicate)
    return op->emitOpError()
           << "expected no #attn.predicate: only attn.attention has a "
              "predicate region";
  // A tile summary stands for the whole mask of an attention.
  bool summarized = false;
  if (mask)
    mask.walk([&](DenseAttr dense) { summarized |= dense.getTiles(); });
  auto whole = dyn_cast_if_present<DenseAttr>(mask);
  if (summarized && (!allowPredicate || !whole || !whole.getTiles()))
    return op->emitOpError() << "expected #attn.dense<tiles> only as the "
                                "whole mask of attn.attention";
  // Id ranges are read by the attention's tile tests alone.
  bool ranged = false;
  if (mask)
    mask.walk([&](DocumentAttr document) { ranged |= document.getRanges(); });
  if (ranged && !allowPredicate)
    return op->emitOpError()
           << "expected #attn.document<ranges> only in attn.attention";
  return verifySlotOperands(op, "mask", getSlots(mask), operands, e);
}

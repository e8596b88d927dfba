//===- AttnOperandSlots.cpp - checking runtime operands of attributes -----===//
//
// The single verifier for the operand groups that structured attributes
// read: counts, scalar vs tensor, element kinds and symbolic shapes.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnOperandSlots.h"
#include "mlir/IR/Diagnostics.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace mlir::attn;

/// The size a slot dimension must have, or kDynamic when unconstrained or
/// unknown.
static int64_t expectedSize(const SlotDim &d, const OperandSlot &slot,
                            const Extents &e) {
  auto blocks = [](int64_t len, int64_t block) {
    return ShapedType::isDynamic(len) ? ShapedType::kDynamic
                                      : llvm::divideCeil(len, block);
  };
  switch (d.extent) {
  case Extent::Batch:
    return e.batch;
  case Extent::QueryHeads:
    return e.queryHeads;
  case Extent::QueryLen:
    return e.queryLen;
  case Extent::KeyLen:
    return e.keyLen;
  case Extent::QueryBlocks:
    return blocks(e.queryLen, slot.queryBlock);
  case Extent::KeyBlocks:
    return blocks(e.keyLen, slot.keyBlock);
  case Extent::ValueDim:
    return e.valueDim;
  case Extent::Fixed:
    return d.size;
  case Extent::HeadGroups:
  case Extent::Any:
    return ShapedType::kDynamic;
  }
  llvm_unreachable("unknown extent");
}

static StringRef extentName(Extent extent) {
  switch (extent) {
  case Extent::Batch:
    return "the batch size";
  case Extent::QueryHeads:
    return "the query head count";
  case Extent::QueryLen:
    return "the query length";
  case Extent::KeyLen:
    return "the key length";
  case Extent::QueryBlocks:
    return "the query block count";
  case Extent::KeyBlocks:
    return "the key block count";
  case Extent::ValueDim:
    return "the value head dim";
  case Extent::Fixed:
    return "the table width";
  case Extent::HeadGroups:
  case Extent::Any:
    return "";
  }
  llvm_unreachable("unknown extent");
}

static bool matchesElement(Type type, SlotElement element, bool scalar) {
  switch (element) {
  case SlotElement::Integer:
    return (scalar && type.isIndex()) ||
           (type.isInteger() && type.getIntOrFloatBitWidth() > 1);
  case SlotElement::Float:
    return isa<FloatType>(type);
  case SlotElement::Bool:
    return type.isInteger(1);
  }
  llvm_unreachable("unknown slot element");
}

static StringRef elementName(SlotElement element) {
  switch (element) {
  case SlotElement::Integer:
    return "an integer";
  case SlotElement::Float:
    return "a float";
  case SlotElement::Bool:
    return "an i1";
  }
  llvm_unreachable("unknown slot element");
}

LogicalResult mlir::attn::verifySlotOperands(Operation *op, StringRef group,
                                             ArrayRef<OperandSlot> slots,
                                             ValueRange operands,
                                             const Extents &e) {
  if (slots.size() != operands.size())
    return op->emitOpError() << "expected " << slots.size() << " " << group
                             << " operand(s) for the " << group
                             << " attribute, got " << operands.size();
  for (auto [index, slot, value] : llvm::enumerate(slots, operands)) {
    Type type = value.getType();
    auto diag = [&, index = index, &slot = slot]() {
      return op->emitOpError()
             << "expected " << group << " operand #" << index << " ("
             << slot.role << ") ";
    };
    auto tensor = dyn_cast<RankedTensorType>(type);
    if (!tensor) {
      if (isa<ShapedType>(type) || !slot.allowScalar)
        return diag() << "to be "
                      << (slot.allowScalar ? "a scalar or " : "")
                      << "a ranked tensor, got " << type;
      if (!matchesElement(type, slot.element, /*scalar=*/true))
        return diag() << "to be " << elementName(slot.element)
                      << " scalar, got " << type;
      continue;
    }
    if (!slot.allowTensor)
      return diag() << "to be a scalar, got " << type;
    if (!matchesElement(tensor.getElementType(), slot.element,
                        /*scalar=*/false))
      return diag() << "to have " << elementName(slot.element)
                    << " element type, got " << type;
    if (tensor.getRank() != static_cast<int64_t>(slot.shape.size()))
      return diag() << "to have rank " << slot.shape.size() << ", got "
                    << type;
    for (auto [k, d] : llvm::enumerate(slot.shape)) {
      int64_t actual = tensor.getDimSize(k);
      if (ShapedType::isDynamic(actual) || (d.broadcast && actual == 1))
        continue;
      if (d.extent == Extent::HeadGroups) {
        if (actual < 1 || (!ShapedType::isDynamic(e.queryHeads) &&
                           e.queryHeads % actual != 0))
          return diag() << "to have a head-group dimension " << k
                        << " that divides the query head count "
                        << e.queryHeads << ", got " << actual;
        continue;
      }
      int64_t expected = expectedSize(d, slot, e);
      if (!ShapedType::isDynamic(expected) && expected != actual)
        return diag() << "to have dimension " << k << " equal to "
                      << extentName(d.extent) << " " << expected
                      << (d.broadcast ? " (or 1)" : "") << ", got " << type;
    }
  }
  return success();
}

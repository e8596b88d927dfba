//===- AttnInterfaces.td - attn attribute interfaces -------*- tablegen -*-===//
//
// The interface through which a structured attribute declares the runtime
// operands it reads. Masks, score modifiers, normalizations and gates all use
// it, so that one verifier and one folding pattern handle every attribute.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_IR_ATTNINTERFACES_TD
#define ATTN_DIALECT_ATTN_IR_ATTNINTERFACES_TD

include "mlir/IR/OpBase.td"

def Attn_OperandSlotsAttrInterface
    : AttrInterface<"OperandSlotsAttrInterface"> {
  let cppNamespace = "::mlir::attn";
  let description = [{
    An attribute that reads runtime values from the operand group it is
    attached to. Each `?` parameter and each tensor-valued input of the
    attribute is one *slot*; slots are listed in printing order and consume
    the operands of the group in that order. Composite attributes (`and`,
    `or`, `not`) list the slots of their children depth-first.
  }];
  let methods = [
    InterfaceMethod<[{
        Appends the operand slots of this attribute, in order.
      }],
      "void", "getOperandSlots",
      (ins "::llvm::SmallVectorImpl<::mlir::attn::OperandSlot> &":$slots),
      /*methodBody=*/"", /*defaultImplementation=*/"return;">,
    InterfaceMethod<[{
        Returns a copy of this attribute in which every foldable slot whose
        entry in `constants` is non-null takes that constant as its static
        value, or a null attribute if no slot was folded. `constants` has one
        entry per slot of `getOperandSlots`. The caller drops the operands of
        exactly the folded slots.
      }],
      "::mlir::Attribute", "foldConstantSlots",
      (ins "::llvm::ArrayRef<::mlir::Attribute>":$constants),
      /*methodBody=*/"", /*defaultImplementation=*/"return {};">,
  ];
}

#endif // ATTN_DIALECT_ATTN_IR_ATTNINTERFACES_TD

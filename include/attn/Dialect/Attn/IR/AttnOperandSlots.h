//===- AttnOperandSlots.h - runtime operands of attn attributes -*- C++ -*-===//
//
// A structured attribute (mask, score modifier, normalization, gate) reads
// runtime values from the operand group it is attached to. An OperandSlot
// describes one such value: its role, element kind, whether a scalar is
// accepted, and the symbolic shape of a tensor (in terms of the problem
// sizes B, Hq, Sq, Sk, ...). One verifier checks every group against its
// slots, and one pattern folds constant scalars back into the attributes.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_IR_ATTNOPERANDSLOTS_H
#define ATTN_DIALECT_ATTN_IR_ATTNOPERANDSLOTS_H

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Operation.h"
#include "llvm/ADT/SmallVector.h"

namespace mlir::attn {

/// Sizes of an attention problem. Unknown sizes are ShapedType::kDynamic.
struct Extents {
  int64_t batch = ShapedType::kDynamic;
  int64_t queryHeads = ShapedType::kDynamic;
  int64_t keyHeads = ShapedType::kDynamic;
  int64_t queryLen = ShapedType::kDynamic;
  int64_t keyLen = ShapedType::kDynamic;
  int64_t headDim = ShapedType::kDynamic;
  int64_t valueDim = ShapedType::kDynamic;
};

/// The symbolic size of one dimension of a slot tensor.
enum class Extent : uint8_t {
  Batch,       ///< B
  QueryHeads,  ///< Hq
  HeadGroups,  ///< any divisor of Hq (a head group shares the value)
  QueryLen,    ///< Sq
  KeyLen,      ///< Sk
  QueryBlocks, ///< ceil(Sq / qBlock)
  KeyBlocks,   ///< ceil(Sk / kBlock)
  ValueDim,    ///< Dv
  Fixed,       ///< exactly SlotDim::size
  Any,         ///< unconstrained (a budget, a table width)
};

struct SlotDim {
  Extent extent;
  /// A size of 1 is accepted too and broadcasts.
  bool broadcast = false;
  /// The size of an Extent::Fixed dimension.
  int64_t size = 0;
};

/// Element kind of a slot.
enum class SlotElement : uint8_t { Integer, Float, Bool };

/// One runtime operand read by a structured attribute.
struct OperandSlot {
  /// What the value means, for diagnostics ("window left size").
  llvm::StringRef role;
  SlotElement element = SlotElement::Integer;
  /// A scalar (index, integer or float) is accepted.
  bool allowScalar = false;
  /// A ranked tensor of `shape` is accepted.
  bool allowTensor = false;
  /// Canonicalization folds a constant scalar into the attribute.
  bool foldable = false;
  llvm::SmallVector<SlotDim, 4> shape;
  int64_t queryBlock = 1;
  int64_t keyBlock = 1;

  /// A `?` parameter: a scalar that folds into the attribute when constant.
  static OperandSlot dynamic(llvm::StringRef role, SlotElement element) {
    OperandSlot slot;
    slot.role = role;
    slot.element = element;
    slot.allowScalar = true;
    slot.foldable = true;
    return slot;
  }
  /// A tensor input of the given symbolic shape.
  static OperandSlot tensor(llvm::StringRef role, SlotElement element,
                            llvm::ArrayRef<SlotDim> shape) {
    OperandSlot slot;
    slot.role = role;
    slot.element = element;
    slot.allowTensor = true;
    slot.shape.assign(shape.begin(), shape.end());
    return slot;
  }
  OperandSlot &withBlocks(int64_t q, int64_t k) {
    queryBlock = q;
    keyBlock = k;
    return *this;
  }
};

/// Checks that `operands` (the operand group `group` of `op`) match `slots`
/// one for one, emitting a located "expected ..." error otherwise.
LogicalResult verifySlotOperands(Operation *op, llvm::StringRef group,
                                 llvm::ArrayRef<OperandSlot> slots,
                                 ValueRange operands, const Extents &extents);

/// Returns the slots of `attr` if it implements OperandSlotsAttrInterface.
llvm::SmallVector<OperandSlot> getSlots(Attribute attr);

/// `visit` on each leaf of the and/or/not tree of `mask` with its share of
/// `operands`.
void walkMaskLeaves(Attribute mask, ValueRange operands,
                    llvm::function_ref<void(Attribute, ValueRange)> visit);

/// `mask` (its operands `operands`) rebuilt leaf by leaf: `leaf` gets each
/// leaf of the and/or/not tree with its operands, appends the new leaf's
/// operands to its last argument and returns the new leaf. The new mask's
/// operands are appended to `result`.
Attribute
mapMaskLeaves(Attribute mask, ValueRange operands,
              llvm::SmallVectorImpl<Value> &result,
              llvm::function_ref<Attribute(Attribute, ValueRange,
                                           llvm::SmallVectorImpl<Value> &)>
                  leaf);

} // namespace mlir::attn

#endif // ATTN_DIALECT_ATTN_IR_ATTNOPERANDSLOTS_H

//===- AttnAttrs.h - attn structured attributes ----------------*- C++ -*-===//
//
// Declares the attn attributes (masks, score modifiers, normalizations,
// gates), their interface, and the parsers/printers of their `?`-able
// parameters.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_IR_ATTNATTRS_H
#define ATTN_DIALECT_ATTN_IR_ATTNATTRS_H

#include "attn/Dialect/Attn/IR/AttnOperandSlots.h"
#include "mlir/IR/Attributes.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/DialectImplementation.h"

#include "attn/Dialect/Attn/IR/AttnEnums.h.inc"

#include "attn/Dialect/Attn/IR/AttnAttrInterfaces.h.inc"

namespace mlir::attn {

/// Parses an integer or `?` (ShapedType::kDynamic).
FailureOr<int64_t> parseDynInt(AsmParser &parser);
void printDynInt(AsmPrinter &printer, int64_t value);
/// Parses a float or `?` (a null FloatAttr).
FailureOr<FloatAttr> parseDynFloat(AsmParser &parser);
void printDynFloat(AsmPrinter &printer, FloatAttr value);
/// Parses `[1, 2, 3]`.
FailureOr<SmallVector<int64_t>> parseIntList(AsmParser &parser);
void printIntList(AsmPrinter &printer, ArrayRef<int64_t> values);
/// Parses `[true, false]`.
FailureOr<SmallVector<bool>> parseBoolList(AsmParser &parser);
void printBoolList(AsmPrinter &printer, ArrayRef<bool> values);

/// Queries and keys per tile of attn.mask_tiles.
constexpr int64_t kMaskTile = 64;

/// Tokens per entry of attn.id_ranges.
constexpr int64_t kIdTile = 64;

/// Words of one bit vector of an attn.mask_tiles row (a bit per 64-key
/// tile) for `keyLen` keys; kDynamic for a dynamic length.
inline int64_t maskTileWords(int64_t keyLen) {
  if (ShapedType::isDynamic(keyLen))
    return ShapedType::kDynamic;
  return ((keyLen + kMaskTile - 1) / kMaskTile + 31) / 32;
}

/// True for the attributes that may appear as (part of) a mask.
bool isMaskAttr(Attribute attr);
/// True for the score modifier attributes.
bool isScoreModAttr(Attribute attr);
/// True for the normalization attributes.
bool isNormAttr(Attribute attr);
/// True for the output gate attributes.
bool isGateAttr(Attribute attr);

} // namespace mlir::attn

#define GET_ATTRDEF_CLASSES
#include "attn/Dialect/Attn/IR/AttnAttrs.h.inc"

#endif // ATTN_DIALECT_ATTN_IR_ATTNATTRS_H

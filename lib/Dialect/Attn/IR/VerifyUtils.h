//===- VerifyUtils.h - shared checks of attn op verifiers ------*- C++ -*-===//
//
// Shape and element-type checks used by every attn op verifier, so that all
// diagnostics have one form: "expected <what> ..., got <type>".
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_DIALECT_ATTN_IR_VERIFYUTILS_H
#define ATTN_LIB_DIALECT_ATTN_IR_VERIFYUTILS_H

#include "attn/Dialect/Attn/IR/AttnOperandSlots.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Operation.h"
#include "mlir/IR/TypeUtilities.h"

namespace mlir::attn::checks {

/// f16, bf16 or f32: the element types attention computes on.
bool isComputeFloat(Type type);

/// Checks that `type` is a ranked tensor of rank `rank`.
LogicalResult verifyRank(Operation *op, StringRef name, Type type,
                         int64_t rank);

/// Checks that `type` is a ranked tensor whose shape is compatible with
/// `shape` (kDynamic matches anything).
LogicalResult verifyShape(Operation *op, StringRef name, Type type,
                          ArrayRef<int64_t> shape);

/// Checks that the element type of `type` satisfies `pred`, described as
/// `what` ("an integer", "f16, bf16 or f32").
LogicalResult verifyElement(Operation *op, StringRef name, Type type,
                            function_ref<bool(Type)> pred, StringRef what);

/// Integer (not i1) element predicate.
bool isIntegerElement(Type type);

/// Checks `query : [B, Hq, Sq, D]` and `key : [B, Hkv, Sk, D]` of a
/// selection op (compute floats, Hkv divides Hq) and returns their extents.
FailureOr<Extents> verifyQueryKey(Operation *op, Value query, Value key);

/// ceil(len / block), kDynamic for a dynamic length.
int64_t numBlocks(int64_t len, int64_t block);

/// Checks the optional mask of an op and its operands against `extents`.
/// `#attn.predicate` is accepted only with `allowPredicate`.
LogicalResult verifyMask(Operation *op, Attribute mask, ValueRange operands,
                         const Extents &extents, bool allowPredicate = false);

} // namespace mlir::attn::checks

#endif // ATTN_LIB_DIALECT_ATTN_IR_VERIFYUTILS_H

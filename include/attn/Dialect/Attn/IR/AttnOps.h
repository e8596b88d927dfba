//===- AttnOps.h - attn operations -----------------------------*- C++ -*-===//
//
// Declares the attn operations.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_IR_ATTNOPS_H
#define ATTN_DIALECT_ATTN_IR_ATTNOPS_H

#include "attn/Dialect/Attn/IR/AttnAttrs.h"
#include "attn/Dialect/Attn/IR/AttnDialect.h"
#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/ControlFlowInterfaces.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#define GET_OP_CLASSES
#include "attn/Dialect/Attn/IR/AttnOps.h.inc"

namespace mlir::attn {
/// `op` without its `topk` results, built at `b`'s insertion point: the
/// same operands, attributes and regions (moved out of `op` with
/// `moveRegions`, else copied), results O and, where `op` has it, LSE.
AttentionOp buildAttentionWithoutTopk(OpBuilder &b, AttentionOp op,
                                      bool moveRegions);

/// Whether `op` selects (index sets, pooled values, routing weights): one
/// of the selection ops, or an attention with `topk` results.
bool isSelection(Operation *op);

/// The results of selection op `op` that a program step of it computes:
/// all of them, but only the top-k results of an attention (its O and LSE
/// are another step's).
SmallVector<Value> getSelectionResults(Operation *op);
} // namespace mlir::attn

#endif // ATTN_DIALECT_ATTN_IR_ATTNOPS_H

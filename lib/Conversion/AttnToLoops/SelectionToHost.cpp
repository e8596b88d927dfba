//===- SelectionToHost.cpp - selection ops to threaded host kernels -------===//
//
// With attn-lower-selection's `kernel-abi`, a spec function whose one op is
// a selection (a program's step: attn-split-program) becomes a host kernel
// of the attention kernels' ABI: its inputs as buffers, one output buffer
// per result, then `thread` and `threads` (i64). The op's loops are the
// CPU's (SelectionBuilder) with their independent rows dealt out to the
// threads (RowThreads' host form), so that a runtime calls it from T
// threads at once as it calls an attention kernel.
//
//===----------------------------------------------------------------------===//

#include "SelectionBuilder.h"
#include "StreamingLowering.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/IRMapping.h"

using namespace mlir;
using namespace mlir::attn;

/// The results a selection step returns: all of the op's, but only the
/// top-k results of an attention.
static SmallVector<Value> selectionResults(Operation *op) {
  if (auto attention = dyn_cast<AttentionOp>(op))
    return {attention.getTopkCounts(), attention.getTopkIndices()};
  return SmallVector<Value>(op->getResults());
}

/// The one selection op of `func`, if `func` is a selection step: that op
/// on the function's arguments, returning its results in order.
static Operation *selectionStep(func::FuncOp func) {
  if (func.isDeclaration() || !func.getBody().hasOneBlock())
    return nullptr;
  Block &entry = func.getBody().front();
  Operation *op = nullptr;
  for (Operation &inner : entry.without_terminator()) {
    if (op || !isSelection(&inner))
      return nullptr;
    op = &inner;
  }
  if (!op || !llvm::all_of(op->getOperands(), [&](Value x) {
        auto arg = dyn_cast<BlockArgument>(x);
        return arg && arg.getOwner() == &entry;
      }))
    return nullptr;
  if (llvm::any_of(op->getRegions(),
                   [](Region &region) { return !region.empty(); }))
    return nullptr; // regions may capture values of the function
  auto ret = cast<func::ReturnOp>(entry.getTerminator());
  return ValueRange(ret.getOperands()) == ValueRange(selectionResults(op))
             ? op
             : nullptr;
}

FailureOr<bool> mlir::attn::lowerSelectionStepToHostKernel(func::FuncOp func,
                                                           RewriterBase &b) {
  Operation *op = selectionStep(func);
  if (!op)
    return false;
  Location loc = op->getLoc();
  SmallVector<Type> types = kernelBufferTypes(func);
  types.append({b.getI64Type(), b.getI64Type()});
  b.setInsertionPoint(func);
  auto kernel = func::FuncOp::create(b, func.getLoc(), func.getName(),
                                     b.getFunctionType(types, {}));
  kernel->setAttr("llvm.emit_c_interface", b.getUnitAttr());
  kernel->setAttr("attn.kernel", b.getUnitAttr());
  Block *body = kernel.addEntryBlock();
  b.setInsertionPointToStart(body);
  unsigned numInputs = func.getNumArguments();
  IRMapping mapping;
  for (auto [arg, buffer] : llvm::zip(
           func.getArguments(), body->getArguments().take_front(numInputs))) {
    auto tensor = dyn_cast<RankedTensorType>(arg.getType());
    Value value = buffer;
    if (tensor)
      value = bufferization::ToTensorOp::create(b, loc, tensor, buffer,
                                                /*restrict=*/true);
    mapping.map(arg, value);
  }
  RowThreads rows;
  rows.host = true;
  auto asIndex = [&](Value x) -> Value {
    return arith::IndexCastOp::create(b, loc, b.getIndexType(), x);
  };
  rows.thread = asIndex(body->getArgument(types.size() - 2));
  rows.threads = asIndex(body->getArgument(types.size() - 1));
  for (unsigned r = 0; r < func.getNumResults(); ++r)
    rows.outputs.push_back(body->getArgument(numInputs + r));
  Operation *copy = b.clone(*op, mapping);
  if (failed(lowerSelectionOp(copy, b, &rows)))
    return failure();
  if (!rows.error.empty())
    return op->emitOpError("cannot become a host kernel: ") << rows.error;
  b.setInsertionPointToEnd(body);
  func::ReturnOp::create(b, loc);
  b.eraseOp(func);
  return true;
}

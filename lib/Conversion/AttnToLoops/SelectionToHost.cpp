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
  return ValueRange(ret.getOperands()) == ValueRange(getSelectionResults(op))
             ? op
             : nullptr;
}

FailureOr<bool> mlir::attn::lowerSelectionStepToHostKernel(func::FuncOp func,
                                                           RewriterBase &b) {
  Operation *op = selectionStep(func);
  if (!op)
    return false;
  Location loc = op->getLoc();
  HostKernel kernel = createHostKernel(b, func, kernelBufferTypes(func));
  IRMapping mapping;
  mapKernelInputs(b, loc, func, kernel.body, mapping);
  RowThreads rows;
  rows.host = true;
  rows.thread = kernel.thread;
  rows.threads = kernel.threads;
  unsigned numInputs = func.getNumArguments();
  for (unsigned r = 0; r < func.getNumResults(); ++r)
    rows.outputs.push_back(kernel.body->getArgument(numInputs + r));
  Operation *copy = b.clone(*op, mapping);
  if (failed(lowerSelectionOp(copy, b, &rows)))
    return failure();
  if (!rows.error.empty())
    return op->emitOpError("cannot become a host kernel: ") << rows.error;
  b.setInsertionPointToEnd(kernel.body);
  func::ReturnOp::create(b, loc);
  b.eraseOp(func);
  return true;
}

//===- Program.h - multi-op spec functions on the CPU -----------*- C++ -*-===//
//
// A spec function that chains attn ops through SSA values (a selection
// feeding an attention, an attention's top-k keys feeding another, a flag
// choosing between variants) runs as a program: attn-split-program
// outlines every op into a step function; every step compiles to a
// threaded kernel (the kernel ABI: attention steps by attn-lower-to-loops,
// selection, pooling and an attention's top-k by attn-lower-selection),
// and attn-run calls the steps in order with the temporaries between them.
// The same split drives the GPU programs of attnrt.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_TOOLS_ATTNRUN_PROGRAM_H
#define ATTN_TOOLS_ATTNRUN_PROGRAM_H

#include "Buffer.h"
#include "attn/Dialect/Attn/IR/AttnOperandSlots.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/JSON.h"

#include <optional>

namespace llvm {
class SourceMgr;
} // namespace llvm

namespace mlir {
class ExecutionEngine;
} // namespace mlir

namespace attnrun {

/// A value of a program: an argument, a step's result.
struct ProgramValue {
  mlir::Type type;
  std::string name; // arguments and outputs: the spec's SSA name
  /// What an argument means to the first kernel step that reads it.
  std::optional<mlir::attn::OperandSlot> slot;
};

/// One step: a compiled function and the values it reads and writes.
struct ProgramStep {
  std::string symbol; // a kernel: inputs, outputs, thread, threads
  llvm::SmallVector<unsigned> operands, results;
  /// The step's op for python/attn/check.py (inputs named a0, a1, ...).
  llvm::json::Object reference;
  /// The relative error each result may have.
  llvm::SmallVector<double> tolerances;
};

/// A step, or a branch on a flag argument with the nodes of each side.
struct ProgramNode {
  int step = -1;
  unsigned flag = 0;
  std::vector<ProgramNode> sides[2];
  llvm::SmallVector<unsigned> yields[2], results;
};

struct Program {
  std::string name;
  std::vector<ProgramValue> values; // arguments first
  unsigned numArguments = 0;
  std::vector<ProgramStep> steps;
  std::vector<ProgramNode> nodes;
  llvm::SmallVector<unsigned> outputs;
  /// Sizes for random inputs (of the first attention).
  mlir::attn::Extents extents;

  /// Splits `func` into steps and describes them; leaves in `module` only
  /// the step functions, ready for compileKernels with the kernel ABI.
  /// Names come from the spec's text in `sources`.
  static mlir::FailureOr<Program> build(mlir::ModuleOp module,
                                        mlir::func::FuncOp func,
                                        llvm::SourceMgr &sources);

  /// Whether every step of compiled `module` is a kernel (a function of
  /// one selection op returning only some of its results is not).
  mlir::LogicalResult checkKernels(mlir::ModuleOp module) const;

  /// Finds the compiled steps in `engine`.
  llvm::Error link(mlir::ExecutionEngine &engine);

  /// The steps a run ran, in order, and the time of each (ms).
  struct Trace {
    llvm::SmallVector<unsigned> steps;
    llvm::SmallVector<double> ms;
  };

  /// Runs the program on `values` (one buffer per value, the arguments
  /// filled); every step on `threads` threads.
  Trace run(std::vector<Buffer> &values, unsigned threads) const;

  /// The reference's request for the steps in `ran`: every value they
  /// read or write saved by `save` (value id -> file).
  llvm::json::Array
  describeRun(llvm::ArrayRef<unsigned> ran,
              const std::function<llvm::json::Value(unsigned)> &save) const;

private:
  void runNodes(const std::vector<ProgramNode> &nodes,
                std::vector<Buffer> &values, unsigned threads,
                Trace &trace) const;
  void runStep(const ProgramStep &step, std::vector<Buffer> &values,
               unsigned threads) const;

  std::vector<void (*)(void **)> entries;
};

/// Calls `kernel` (kernel ABI, its buffers and scalars in `slots`) from
/// `threads` threads at once.
void runThreaded(void (*kernel)(void **), llvm::ArrayRef<void *> slots,
                 unsigned threads);

} // namespace attnrun

#endif // ATTN_TOOLS_ATTNRUN_PROGRAM_H

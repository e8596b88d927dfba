//===- SplitProgram.cpp - attn-split-program pass -------------------------===//
//
// Kernel back ends compile one attn op per kernel. A spec function that
// chains several ops through SSA values becomes a program: one step
// function per op, called in order. The calls keep the SSA dataflow, so
// whoever launches the steps (attnrt, from the manifest) knows which
// result feeds which operand and which results are temporaries.
//
// A runtime choice between variants (H4) is an `scf.if` on a flag argument
// of the function: its branches' ops become steps too, their calls stay in
// the branches, and the launcher runs the steps of the branch the flag
// picks.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnDialect.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Transforms/RegionUtils.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNSPLITPROGRAMPASS
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

static bool isAttnOp(Operation *op) {
  return isa<AttnDialect>(op->getDialect());
}

/// An attention with `topk` results as two ops: the attention without them
/// (for O and LSE, where used) after the original, which is then used for
/// its top-k results only.
static void splitTopk(AttentionOp op) {
  // Only the top-k results used: nothing to split off.
  if (op.getOutput().use_empty() && (!op.getLse() || op.getLse().use_empty()))
    return;
  OpBuilder b(op->getContext());
  b.setInsertionPointAfter(op);
  AttentionOp attention =
      buildAttentionWithoutTopk(b, op, /*moveRegions=*/false);
  op.getOutput().replaceAllUsesWith(attention.getOutput());
  if (Value lse = op.getLse())
    lse.replaceAllUsesWith(attention.getLse());
}

/// The results of `op` its step returns: all, but only the top-k results
/// of an attention whose O is computed by a step of its own.
static SmallVector<Value> stepResults(Operation *op, bool splitTopk) {
  return splitTopk ? getSelectionResults(op)
                   : SmallVector<Value>(op->getResults());
}

/// A program's branch: a top-level scf.if on an argument of the function
/// (a flag the launcher reads).
static scf::IfOp programBranch(Operation &op, Block &body) {
  auto branch = dyn_cast<scf::IfOp>(op);
  if (!branch)
    return nullptr;
  auto flag = dyn_cast<BlockArgument>(branch.getCondition());
  return flag && flag.getOwner() == &body ? branch : nullptr;
}

/// The attn ops of `body` in order, those of its program branches in place
/// (then-branch first).
static SmallVector<Operation *> programOps(Block &body) {
  SmallVector<Operation *> ops;
  for (Operation &op : body.without_terminator()) {
    if (isAttnOp(&op))
      ops.push_back(&op);
    if (scf::IfOp branch = programBranch(op, body))
      for (Region &region : branch->getRegions())
        for (Block &block : region)
          for (Operation &inner : block.without_terminator())
            if (isAttnOp(&inner))
              ops.push_back(&inner);
  }
  return ops;
}

/// Whether `value` is a result of an attn op in `block`.
static bool computedIn(Value value, Block *block) {
  Operation *def = value.getDefiningOp();
  return def && isAttnOp(def) && def->getBlock() == block;
}

/// Outlines every attn op of `func` (which has more than one) into a step
/// function before `func`, and calls the steps from `func`.
static LogicalResult splitProgram(func::FuncOp func, SymbolTable &symbols,
                                  bool splitTopk) {
  Block &body = func.getBody().front();
  auto ret = cast<func::ReturnOp>(body.getTerminator());
  for (Operation &op : body.without_terminator()) {
    if (scf::IfOp branch = programBranch(op, body)) {
      // Each branch: attn ops and constants, yielding results of its ops.
      for (Region &region : branch->getRegions())
        for (Block &block : region) {
          for (Operation &inner : block.without_terminator())
            if (!isAttnOp(&inner) && !inner.hasTrait<OpTrait::ConstantLike>())
              return inner.emitOpError(
                  "expected only attn ops and constants in a branch of a "
                  "program");
          for (Value x : block.getTerminator()->getOperands())
            if (!computedIn(x, &block))
              return block.getTerminator()->emitOpError(
                  "expected a program's branch to yield results of its own "
                  "attn ops");
        }
      continue;
    }
    if (!isAttnOp(&op) && !op.hasTrait<OpTrait::ConstantLike>())
      return op.emitOpError("expected only attn ops, constants and scf.if on "
                            "a flag argument in a spec function with several "
                            "attn ops (a program)");
  }
  for (Value result : ret.getOperands()) {
    Operation *def = result.getDefiningOp();
    if (!def || (!isAttnOp(def) && !programBranch(*def, body)))
      return ret.emitOpError(
          "expected every result of a program to be computed by one of its "
          "attn ops or branches");
  }

  OpBuilder b(func);
  SmallVector<Operation *> ops = programOps(body);
  for (auto [n, op] : llvm::enumerate(ops)) {
    // The step's arguments: the op's non-constant operands (and those its
    // regions capture), each once, in order of first use.
    SmallVector<Value> inputs;
    SmallVector<Operation *> constants;
    auto use = [&](Value x) {
      Operation *def = x.getDefiningOp();
      if (def && def->hasTrait<OpTrait::ConstantLike>()) {
        if (!llvm::is_contained(constants, def))
          constants.push_back(def);
      } else if (!llvm::is_contained(inputs, x)) {
        inputs.push_back(x);
      }
    };
    for (Value x : op->getOperands())
      use(x);
    llvm::SetVector<Value> captured;
    getUsedValuesDefinedAbove(op->getRegions(), captured);
    for (Value x : captured)
      use(x);
    std::string name =
        (func.getName() + "__step" + Twine(static_cast<int>(n))).str();
    if (symbols.lookup(name))
      return op->emitError("cannot outline step '")
             << name << "': the symbol already exists";
    b.setInsertionPoint(func);
    SmallVector<Value> results = stepResults(op, splitTopk);
    auto step =
        func::FuncOp::create(b, op->getLoc(), name,
                             b.getFunctionType(ValueRange(inputs).getTypes(),
                                               ValueRange(results).getTypes()));
    symbols.insert(step);
    // Its arguments may be temporaries of the program (a mask's tiles).
    step->setAttr("attn.step", b.getUnitAttr());
    Block *entry = step.addEntryBlock();
    OpBuilder sb = OpBuilder::atBlockBegin(entry);
    IRMapping mapping;
    for (auto [from, to] : llvm::zip(inputs, entry->getArguments()))
      mapping.map(from, to);
    for (Operation *c : constants)
      sb.clone(*c, mapping);
    sb.clone(*op, mapping);
    func::ReturnOp::create(sb, op->getLoc(),
                           llvm::map_to_vector(results, [&](Value x) {
                             return mapping.lookup(x);
                           }));

    OpBuilder cb(op);
    auto call = func::CallOp::create(cb, op->getLoc(), step, inputs);
    for (auto [from, to] : llvm::zip(results, call.getResults()))
      from.replaceAllUsesWith(to);
    op->erase();
  }
  // Constants now used only by the steps (in the branches first).
  SmallVector<Operation *> constants;
  func.walk([&](Operation *op) {
    if (op->hasTrait<OpTrait::ConstantLike>())
      constants.push_back(op);
  });
  for (Operation *op : llvm::reverse(constants))
    if (op->use_empty())
      op->erase();
  func->setAttr("attn.program", b.getUnitAttr());
  return success();
}

namespace {
struct AttnSplitProgramPass
    : mlir::attn::impl::AttnSplitProgramPassBase<AttnSplitProgramPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);
    SmallVector<func::FuncOp> programs;
    for (auto func : module.getOps<func::FuncOp>()) {
      if (func.isDeclaration() || !func.getBody().hasOneBlock())
        continue;
      if (splitTopk)
        for (auto op : llvm::to_vector(func.getOps<AttentionOp>()))
          if (op.getTopkCounts())
            ::splitTopk(op);
      if (programOps(func.getBody().front()).size() > 1)
        programs.push_back(func);
    }
    for (func::FuncOp func : programs)
      if (failed(splitProgram(func, symbols, splitTopk)))
        return signalPassFailure();
  }
};
} // namespace

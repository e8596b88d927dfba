//===- attn-consumer.cpp - a downstream user of the AttnMLIR package ------===//
//
// Parses the spec given on the command line with the attn dialect, runs
// attn-normalize-masks through a PassManager, and prints the result: what a
// compiler embedding attn-mlir does.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/raw_ostream.h"

int main(int argc, char **argv) {
  if (argc != 2) {
    llvm::errs() << "usage: attn-consumer SPEC.mlir\n";
    return 2;
  }
  mlir::MLIRContext context;
  context.loadDialect<mlir::attn::AttnDialect, mlir::func::FuncDialect>();
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceFile<mlir::ModuleOp>(argv[1], &context);
  if (!module)
    return 1;
  mlir::PassManager pm(&context);
  pm.addPass(mlir::attn::createAttnNormalizeMasksPass());
  if (mlir::failed(pm.run(*module)))
    return 1;
  int count = 0;
  module->walk([&](mlir::attn::AttentionOp) { ++count; });
  llvm::outs() << "attention ops: " << count << "\n";
  module->print(llvm::outs());
  return 0;
}

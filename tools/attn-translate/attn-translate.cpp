//===- attn-translate.cpp - the attn translation driver -------------------===//
//
// mlir-translate with every upstream translation, plus `--attn-to-llvmir`:
// MLIR to LLVM IR for modules that also know the attn dialect, rejecting
// attn ops that were not lowered with a located error instead of an
// "unregistered dialect" failure.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnDialect.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllTranslations.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "mlir/Tools/mlir-translate/MlirTranslateMain.h"
#include "mlir/Tools/mlir-translate/Translation.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"

using namespace mlir;

static LogicalResult translateAttnToLLVMIR(Operation *op,
                                           llvm::raw_ostream &os) {
  WalkResult remaining = op->walk([](Operation *nested) {
    if (!isa<attn::AttnDialect>(nested->getDialect()))
      return WalkResult::advance();
    nested->emitError("expected attn ops to be lowered before translation to "
                      "LLVM IR");
    return WalkResult::interrupt();
  });
  if (remaining.wasInterrupted())
    return failure();
  llvm::LLVMContext context;
  std::unique_ptr<llvm::Module> module = translateModuleToLLVMIR(op, context);
  if (!module)
    return failure();
  module->print(os, /*AAW=*/nullptr);
  return success();
}

int main(int argc, char **argv) {
  registerAllTranslations();
  TranslateFromMLIRRegistration attnToLLVMIR(
      "attn-to-llvmir", "translate a lowered attn module to LLVM IR",
      translateAttnToLLVMIR, [](DialectRegistry &registry) {
        registerAllDialects(registry);
        registerAllToLLVMIRTranslations(registry);
        registry.insert<attn::AttnDialect>();
      });
  return failed(mlirTranslateMain(argc, argv, "attn translation driver\n"));
}

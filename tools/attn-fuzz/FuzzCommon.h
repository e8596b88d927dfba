//===- FuzzCommon.h - shared setup of the libFuzzer targets -----*- C++ -*-===//
//
// One MLIR context for the whole run (every dialect and pass the drivers
// register; diagnostics dropped: an error is a valid outcome, a crash is
// not) and the parse of one input.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_TOOLS_ATTN_FUZZ_FUZZCOMMON_H
#define ATTN_TOOLS_ATTN_FUZZ_FUZZCOMMON_H

#include "attn/Support/NestingLimit.h"
#include "attn/Target/CPU/KernelEmission.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"

namespace attn_fuzz {

inline mlir::MLIRContext &context() {
  static mlir::MLIRContext *context = [] {
    mlir::MLIRContext *c = mlir::attn::createKernelContext().release();
    c->getDiagEngine().registerHandler(
        [](mlir::Diagnostic &) { return mlir::success(); });
    return c;
  }();
  return *context;
}

/// Parses (and verifies) the input as a module; null when it is invalid.
inline mlir::OwningOpRef<mlir::ModuleOp> parse(const uint8_t *data,
                                               size_t size) {
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(
      llvm::MemoryBuffer::getMemBufferCopy(
          llvm::StringRef(reinterpret_cast<const char *>(data), size),
          "fuzz-input"),
      llvm::SMLoc());
  // As every attn driver does: brackets nested too deeply for the parser's
  // recursion are rejected first.
  if (mlir::failed(mlir::attn::checkNesting(sourceMgr, &context())))
    return nullptr;
  return mlir::parseSourceFile<mlir::ModuleOp>(sourceMgr, &context());
}

} // namespace attn_fuzz

#endif // ATTN_TOOLS_ATTN_FUZZ_FUZZCOMMON_H

//===- NestingLimit.cpp - reject input nested too deeply ------------------===//

#include "attn/Support/NestingLimit.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Location.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/SourceMgr.h"

using namespace mlir;

const char *mlir::attn::findExcessiveNesting(StringRef text, unsigned limit) {
  unsigned depth = 0;
  for (size_t i = 0, e = text.size(); i < e; ++i) {
    char c = text[i];
    if (c == '"') { // a string literal, with escapes
      for (++i; i < e && text[i] != '"'; ++i)
        if (text[i] == '\\')
          ++i;
      continue;
    }
    if (c == '/' && i + 1 < e && text[i + 1] == '/') { // a comment
      while (i < e && text[i] != '\n')
        ++i;
      continue;
    }
    if (c == '(' || c == '[' || c == '{' || c == '<') {
      if (++depth > limit)
        return text.data() + i;
    } else if ((c == ')' || c == ']' || c == '}' || c == '>') && depth > 0 &&
               !(c == '>' && i > 0 && text[i - 1] == '-')) {
      --depth;
    }
  }
  return nullptr;
}

std::string mlir::attn::excessiveNestingMessage() {
  return "expected brackets nested at most " + std::to_string(kMaxNesting) +
         " deep (the parser recurses per level)";
}

LogicalResult mlir::attn::checkNesting(const llvm::SourceMgr &sourceMgr,
                                       MLIRContext *context) {
  const llvm::MemoryBuffer *buffer =
      sourceMgr.getMemoryBuffer(sourceMgr.getMainFileID());
  const char *at = findExcessiveNesting(buffer->getBuffer());
  if (!at)
    return success();
  auto [line, column] =
      sourceMgr.getLineAndColumn(llvm::SMLoc::getFromPointer(at));
  return emitError(FileLineColLoc::get(context, buffer->getBufferIdentifier(),
                                       line, column))
         << excessiveNestingMessage();
}

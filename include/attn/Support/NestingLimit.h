//===- NestingLimit.h - reject input nested too deeply ----------*- C++ -*-===//
//
// MLIR's parser recurses once per nested bracket: `[[[[...` thousands deep
// overflows the stack (upstream mlir-opt crashes the same way; found by
// attn-fuzz-parse). Every attn entry point that parses text checks the
// nesting first and reports the place as a located error instead.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_SUPPORT_NESTINGLIMIT_H
#define ATTN_SUPPORT_NESTINGLIMIT_H

#include "mlir/Support/LLVM.h"
#include "llvm/ADT/StringRef.h"

#include <string>

namespace llvm {
class SourceMgr;
} // namespace llvm

namespace mlir {
class MLIRContext;

namespace attn {

/// Deepest bracket nesting accepted: far beyond any real spec, far below
/// what overflows an 8 MB stack (also under AddressSanitizer).
constexpr unsigned kMaxNesting = 256;

/// The first character of `text` at which (, [, { and < nest deeper than
/// `limit` (outside string literals and // comments; `->` is not a
/// bracket), or null.
const char *findExcessiveNesting(StringRef text, unsigned limit = kMaxNesting);

/// The error for input nested deeper than kMaxNesting.
std::string excessiveNestingMessage();

/// Checks the main buffer of `sourceMgr`; emits a located error through
/// `context`'s diagnostics and fails where it nests too deeply.
LogicalResult checkNesting(const llvm::SourceMgr &sourceMgr,
                           MLIRContext *context);

} // namespace attn
} // namespace mlir

#endif // ATTN_SUPPORT_NESTINGLIMIT_H

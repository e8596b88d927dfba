//===- FlagChunks.h - an explicit mask's flags 16 at a time -----*- C++ -*-===//
//
// The summary of an explicit mask's flags (i1 bytes) by 16-byte loads,
// shared by the tensor-core body's tile test (RuntimeTileTests.cpp) and
// attn.mask_tiles' GPU kernel (MaskTiles.cpp). The chunks stay words:
// their OR says whether any flag is set, and a word has a zero byte (a
// disallowed pair) exactly when (w - 0x01010101) & ~w & 0x80808080 is not
// zero — four operations per word where a comparison and two reductions
// per byte were a fifth of M12's time.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTOLOOPS_FLAGCHUNKS_H
#define ATTN_LIB_CONVERSION_ATTNTOLOOPS_FLAGCHUNKS_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

namespace mlir::attn {

class FlagChunks {
public:
  FlagChunks(OpBuilder &b, Location loc)
      : b(b), loc(loc), words(VectorType::get({4}, b.getI32Type())) {
    none = splat(0);
    ones = splat(0x01010101u);
    highs = splat(0x80808080u);
    allBits = splat(0xffffffffu);
  }

  /// Zero words: the accumulators' start.
  Value none;

  /// Or the 16 flags at byte address `at` (an index, 16-byte aligned) into
  /// `set`, and their zero bytes into `zeroByte`.
  void add(Value at, Value &set, Value &zeroByte) {
    Value pointer = LLVM::IntToPtrOp::create(
        b, loc, LLVM::LLVMPointerType::get(b.getContext()),
        ValueRange{arith::IndexCastOp::create(b, loc, b.getI64Type(), at)});
    Value w = LLVM::LoadOp::create(b, loc, words, pointer, /*alignment=*/16);
    set = arith::OrIOp::create(b, loc, set, w);
    Value notW = arith::XOrIOp::create(b, loc, w, allBits);
    zeroByte = arith::OrIOp::create(
        b, loc, zeroByte,
        arith::AndIOp::create(
            b, loc,
            arith::AndIOp::create(b, loc,
                                  arith::SubIOp::create(b, loc, w, ones), notW),
            highs));
  }

  /// The OR of an accumulator's words (i32: zero where no flag was set, or
  /// no byte was zero).
  Value reduce(Value x) {
    return vector::ReductionOp::create(b, loc, vector::CombiningKind::OR, x);
  }

private:
  Value splat(uint32_t x) {
    return arith::ConstantOp::create(
        b, loc, DenseElementsAttr::get(words, APInt(32, x)));
  }

  OpBuilder &b;
  Location loc;
  VectorType words;
  Value ones, highs, allBits;
};

} // namespace mlir::attn

#endif // ATTN_LIB_CONVERSION_ATTNTOLOOPS_FLAGCHUNKS_H

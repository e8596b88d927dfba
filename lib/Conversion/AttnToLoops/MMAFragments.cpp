//===- MMAFragments.cpp - MMA register fragments --------------------------===//
//
// Register-level pieces of the tensor-core body: operand fragments as
// 32-bit words, the m16n8k16 MMA (NVVM's op for bf16, which nvgpu.mma.sync
// cannot type), and for warpgroup MMAs the pinned registers of a product in
// flight and the m16n8 view of its accumulators.
//
//===----------------------------------------------------------------------===//

#include "MMABody.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"

using namespace mlir;
using namespace mlir::attn;

SmallVector<Value> mlir::attn::fragmentWords(OpBuilder &b, Location loc,
                                             Value fragment) {
  SmallVector<Value> words;
  for (int64_t r = 0, n = cast<VectorType>(fragment.getType()).getShape()[0];
       r < n; ++r) {
    Value pair =
        vector::ExtractOp::create(b, loc, fragment, ArrayRef<int64_t>{r});
    Value word = vector::BitCastOp::create(
        b, loc, VectorType::get({1}, b.getI32Type()), pair);
    words.push_back(
        vector::ExtractOp::create(b, loc, word, ArrayRef<int64_t>{0}));
  }
  return words;
}

Value mlir::attn::mmaSync16816(OpBuilder &b, Location loc, Type element,
                               Value a, Value bOperand, Value c) {
  // nvgpu.mma.sync for f16; NVVM's op for bf16, which nvgpu.mma.sync cannot
  // type in this MLIR version.
  if (element.isF16())
    return nvgpu::MmaSyncOp::create(b, loc, a, bOperand, c,
                                    ArrayRef<int64_t>{16, 8, 16});
  SmallVector<Value> acc;
  for (int64_t r = 0; r < 2; ++r)
    for (int64_t col = 0; col < 2; ++col)
      acc.push_back(
          vector::ExtractOp::create(b, loc, c, ArrayRef<int64_t>{r, col}));
  Type f32 = b.getF32Type();
  auto resultType =
      LLVM::LLVMStructType::getLiteral(b.getContext(), {f32, f32, f32, f32});
  Value result = NVVM::MmaOp::create(
      b, loc, resultType, fragmentWords(b, loc, a),
      fragmentWords(b, loc, bOperand), acc, ArrayRef<int64_t>{16, 8, 16},
      std::nullopt, std::nullopt,
      std::array<NVVM::MMATypes, 2>{NVVM::MMATypes::bf16, NVVM::MMATypes::bf16},
      std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                     NVVM::MMALayout::col});
  Value out = arith::ConstantOp::create(
      b, loc, b.getZeroAttr(VectorType::get({2, 2}, f32)));
  for (int64_t e = 0; e < 4; ++e) {
    Value x = LLVM::ExtractValueOp::create(b, loc, result, e);
    out = vector::InsertOp::create(b, loc, x, out,
                                   ArrayRef<int64_t>{e / 2, e % 2});
  }
  return out;
}

SmallVector<Value> mlir::attn::structFields(OpBuilder &b, Location loc,
                                            Value value) {
  auto type = cast<LLVM::LLVMStructType>(value.getType());
  SmallVector<Value> fields;
  for (int64_t i = 0, n = type.getBody().size(); i < n; ++i)
    fields.push_back(LLVM::ExtractValueOp::create(b, loc, value, i));
  return fields;
}

SmallVector<Value> mlir::attn::pinRegisters(OpBuilder &b, Location loc,
                                            ArrayRef<Value> values) {
  std::string constraints;
  SmallVector<Type> types;
  for (Value x : values) {
    constraints += (types.empty() ? "=" : ",=");
    constraints += x.getType().isF32() ? "f" : "r";
    types.push_back(x.getType());
  }
  for (size_t i = 0; i < values.size(); ++i)
    constraints += "," + std::to_string(i);
  auto structType = LLVM::LLVMStructType::getLiteral(b.getContext(), types);
  Value result =
      LLVM::InlineAsmOp::create(
          b, loc, structType, values, "", constraints,
          /*has_side_effects=*/true, /*is_align_stack=*/false,
          LLVM::tailcallkind::TailCallKind::None,
          LLVM::AsmDialectAttr::get(b.getContext(), LLVM::AsmDialect::AD_ATT),
          ArrayAttr())
          .getRes();
  return structFields(b, loc, result);
}

SmallVector<Value> mlir::attn::accumulatorFragments(OpBuilder &b, Location loc,
                                                    ArrayRef<Value> regs) {
  auto accType = VectorType::get({2, 2}, b.getF32Type());
  SmallVector<Value> result;
  for (size_t tile = 0; tile < regs.size() / 4; ++tile) {
    Value v = arith::ConstantOp::create(b, loc, b.getZeroAttr(accType));
    for (int64_t i = 0; i < 4; ++i)
      v = vector::InsertOp::create(b, loc, regs[4 * tile + i], v,
                                   ArrayRef<int64_t>{i / 2, i % 2});
    result.push_back(v);
  }
  return result;
}

SmallVector<Value> mlir::attn::completeValuesWGMMA(OpBuilder &b, Location loc,
                                                   ArrayRef<Value> pending) {
  NVVM::WgmmaWaitGroupSyncOp::create(b, loc, 0);
  return accumulatorFragments(b, loc, pinRegisters(b, loc, pending));
}

Value mlir::attn::pinFragment(OpBuilder &b, Location loc, Value fragment) {
  auto type = cast<VectorType>(fragment.getType());
  auto pairType = VectorType::get({2}, type.getElementType());
  SmallVector<Value> words =
      pinRegisters(b, loc, fragmentWords(b, loc, fragment));
  Value result = arith::ConstantOp::create(b, loc, b.getZeroAttr(type));
  for (int64_t r = 0; r < 4; ++r) {
    Value word = vector::BroadcastOp::create(
        b, loc, VectorType::get({1}, b.getI32Type()), words[r]);
    result = vector::InsertOp::create(
        b, loc, vector::BitCastOp::create(b, loc, pairType, word), result,
        ArrayRef<int64_t>{r});
  }
  return result;
}

//===- WarpgroupMMA.cpp - sm_90a warpgroup products -----------------------===//
//
// The two products of a key tile as warpgroup MMAs (sm_90a): S = Q K^T
// with both operands in shared memory (K-major descriptors of the 128-byte
// swizzled slabs) and O += P V with P from registers (inline PTX, the
// accumulators tied in and out) and V transposed in shared memory.
//
//===----------------------------------------------------------------------===//

#include "MMABody.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"

using namespace mlir;
using namespace mlir::attn;

Value mlir::attn::sharedAddress(OpBuilder &b, Location loc, Value memref,
                                Value stage, int64_t stageBytes) {
  Type i64 = b.getI64Type();
  Value base = arith::IndexCastOp::create(
      b, loc, i64,
      memref::ExtractAlignedPointerAsIndexOp::create(b, loc, memref));
  if (!stage)
    return base;
  return arith::AddIOp::create(
      b, loc, base,
      arith::MulIOp::create(
          b, loc, arith::IndexCastOp::create(b, loc, i64, stage),
          arith::ConstantIntOp::create(b, loc, stageBytes, 64)));
}

/// A wgmma shared-memory matrix descriptor for a SWIZZLE_128B layout at
/// `address + offset`: the start address, the leading and the stride byte
/// offsets in 16-byte units, the layout in bits 62-63. The offset (a
/// multiple of 16) is added to the descriptor of `address`, which the
/// descriptors of one tile share (shared addresses stay below 2^18, so the
/// 14-bit start field does not overflow).
static Value swizzled128Descriptor(OpBuilder &b, Location loc, Value address,
                                   int64_t offset, int64_t leadingBytes,
                                   int64_t strideBytes) {
  auto constant = [&](int64_t v) -> Value {
    return arith::ConstantIntOp::create(b, loc, v, 64);
  };
  Value start = arith::ShRUIOp::create(
      b, loc, arith::AndIOp::create(b, loc, address, constant(0x3FFFF)),
      constant(4));
  int64_t fixed = ((leadingBytes >> 4) << 16) | ((strideBytes >> 4) << 32) |
                  (int64_t(1) << 62);
  return arith::AddIOp::create(
      b, loc, arith::OrIOp::create(b, loc, start, constant(fixed)),
      constant(offset >> 4));
}

Value StreamingLowering::issueScoresWGMMA(Value stage) {
  MLIRContext *context = b.getContext();
  Type f32 = b.getF32Type();
  Type element = cast<MemRefType>(q.getType()).getElementType();
  // K-major operands in 128-byte swizzled slabs: 8-row groups 1024 bytes
  // apart (stride byte offset), the leading offset unused (16).
  int64_t d = staticHeadDim;
  int64_t slabBytes = keyTile * kSlab * 2;
  // Each warpgroup's 64 query rows: 64 rows of 128 bytes further.
  Value qBase = sharedAddress(b, loc, mb.q, nullptr, 0);
  if (mmaQueryTile > 64) {
    Type i64 = b.getI64Type();
    Value group = arith::DivUIOp::create(b, loc, mmaThread, idx(128));
    qBase = arith::AddIOp::create(
        b, loc, qBase,
        arith::MulIOp::create(
            b, loc, arith::IndexCastOp::create(b, loc, i64, group),
            arith::ConstantIntOp::create(b, loc, 64 * 128, 64)));
  }
  Value kBase = sharedAddress(b, loc, mb.k, stage, d / kSlab * slabBytes);
  SmallVector<Type> fields(keyTile / 2, f32);
  auto structType = LLVM::LLVMStructType::getLiteral(context, fields);
  Value acc = LLVM::PoisonOp::create(b, loc, structType);
  auto type = NVVM::WGMMATypesAttr::get(context, element.isBF16()
                                                     ? NVVM::WGMMATypes::bf16
                                                     : NVVM::WGMMATypes::f16);
  for (int64_t ks = 0; ks < d / 16; ++ks) {
    int64_t offset = ks / 4 * mmaQueryTile * kSlab * 2 + ks % 4 * 32;
    int64_t keyOffset = ks / 4 * slabBytes + ks % 4 * 32;
    Value a = swizzled128Descriptor(b, loc, qBase, offset, 16, 1024);
    Value bDesc = swizzled128Descriptor(b, loc, kBase, keyOffset, 16, 1024);
    acc = NVVM::WgmmaMmaAsyncOp::create(
        b, loc, structType, acc, a, bDesc,
        NVVM::MMAShapeAttr::get(context, 64, keyTile, 16), type, type,
        NVVM::WGMMATypesAttr::get(context, NVVM::WGMMATypes::f32),
        NVVM::WGMMAScaleOutAttr::get(context, ks == 0
                                                  ? NVVM::WGMMAScaleOut::zero
                                                  : NVVM::WGMMAScaleOut::one),
        NVVM::WGMMAScaleInAttr::get(context, NVVM::WGMMAScaleIn::one),
        NVVM::WGMMAScaleInAttr::get(context, NVVM::WGMMAScaleIn::one),
        NVVM::MMALayoutAttr::get(context, NVVM::MMALayout::row),
        NVVM::MMALayoutAttr::get(context, NVVM::MMALayout::col),
        /*satfinite=*/nullptr);
  }
  NVVM::WgmmaGroupSyncAlignedOp::create(b, loc);
  return acc;
}

SmallVector<Value> StreamingLowering::issueValuesWGMMA(ArrayRef<Value> pFrag,
                                                       Value stage,
                                                       ArrayRef<Value> acc) {
  Type f32 = b.getF32Type();
  Type element = cast<MemRefType>(q.getType()).getElementType();
  int64_t dv = staticValueDim, n = dv / 8 * 4; // accumulator registers
  // V [keys][Dv] is the B operand K x N with N contiguous (MN-major,
  // transposed): 128-byte rows of 64 columns, 8-key groups 1024 bytes apart
  // (stride byte offset), 64-column slabs keyTile * 128 bytes apart
  // (leading byte offset), SWIZZLE_128B.
  int64_t slabBytes = keyTile * kSlab * 2;
  Value base = sharedAddress(b, loc, mb.v, stage, dv / kSlab * slabBytes);
  // The accumulator registers in wgmma order: element i of n-tile i / 4,
  // row half (i % 4) / 2, column i % 2.
  SmallVector<Value> regs;
  for (Value tile : acc)
    for (int64_t i = 0; i < 4; ++i)
      regs.push_back(vector::ExtractOp::create(
          b, loc, tile, ArrayRef<int64_t>{i / 2, i % 2}));
  // NVVM's wgmma op takes A from shared memory only: the register form as
  // inline PTX, accumulators tied in and out.
  std::string shape = "m64n" + std::to_string(dv) + "k16";
  std::string type = element.isBF16() ? "bf16" : "f16";
  std::string text = "wgmma.mma_async.sync.aligned." + shape + ".f32." + type +
                     "." + type + " {";
  std::string constraints;
  for (int64_t i = 0; i < n; ++i) {
    text += (i ? ", $" : "$") + std::to_string(i);
    constraints += (i ? ",=f" : "=f");
  }
  text += "}, {$" + std::to_string(2 * n) + ", $" + std::to_string(2 * n + 1) +
          ", $" + std::to_string(2 * n + 2) + ", $" +
          std::to_string(2 * n + 3) + "}, $" + std::to_string(2 * n + 4) +
          ", 1, 1, 1, 1;";
  for (int64_t i = 0; i < n; ++i)
    constraints += "," + std::to_string(i);
  constraints += ",r,r,r,r,l";
  SmallVector<Type> fields(n, f32);
  auto structType = LLVM::LLVMStructType::getLiteral(b.getContext(), fields);
  for (int64_t t = 0; t < keyTile / 16; ++t) {
    SmallVector<Value> operands(regs);
    operands.append(fragmentWords(b, loc, pFrag[t]));
    // Keys 16t .. 16t + 15: 16 rows of 128 bytes further.
    operands.push_back(
        swizzled128Descriptor(b, loc, base, t * 16 * 128, slabBytes, 1024));
    Value result =
        LLVM::InlineAsmOp::create(
            b, loc, structType, operands, text, constraints,
            /*has_side_effects=*/true, /*is_align_stack=*/false,
            LLVM::tailcallkind::TailCallKind::None,
            LLVM::AsmDialectAttr::get(b.getContext(), LLVM::AsmDialect::AD_ATT),
            ArrayAttr())
            .getRes();
    regs = structFields(b, loc, result);
  }
  NVVM::WgmmaGroupSyncAlignedOp::create(b, loc);
  return regs;
}

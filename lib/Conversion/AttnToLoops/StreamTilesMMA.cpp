//===- StreamTilesMMA.cpp - the tensor-core body for NVIDIA GPUs ----------===//
//
// The FlashAttention-2 structure on tensor cores: a block of four warps (one
// warpgroup) per (batch, head, 64-query tile), each warp owning 16 query
// rows. Q is copied to shared memory once; K and V tiles of 64 keys stream
// through two shared-memory stages filled by asynchronous copies (the next
// tile loads while this one computes). On sm_90a, S = Q K^T and O += P V
// are warpgroup MMAs (wgmma; P from registers); elsewhere m16n8k16 MMAs on
// fragments loaded with ldmatrix (V transposed), Q held in registers. The
// online softmax runs on the S accumulators in registers (row statistics
// with two warp shuffles), in base-2 units with the scale folded in, and P
// becomes the A operand of the value product without leaving registers.
//
// Tiles are stored in slabs of 64 columns whose 16-byte chunks are swizzled
// by the row (chunk ^ row % 8, the SWIZZLE_128B layout): ldmatrix reads 8
// rows at the same column, which the XOR spreads over all banks, and wgmma
// descriptors read the same layout. The key tiles come from the same
// closed-form classification as on the CPU: empty tiles are never visited,
// full tiles skip the mask, data masks use the same runtime tile tests
// (precomputed per query tile into a flag table), and the mask and score
// modifiers are the element emitter's scalar IR, evaluated per accumulator
// element.
//
//===----------------------------------------------------------------------===//

#include "StreamingLowering.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::attn;

using arith::CmpFPredicate;
using arith::CmpIPredicate;

static constexpr double kInf = std::numeric_limits<double>::infinity();
/// Keys per tile, query rows per warp, columns per shared-memory slab.
static constexpr int64_t kWarpRows = 16, kSlab = 64;
/// Shared-memory stages of K and V: the tile computed, the previous one
/// (its value product runs beside this tile's softmax) and the next one
/// (being copied).
static constexpr int64_t kStages = 3;
/// Elements per 16-byte chunk of f16/bf16.
static constexpr int64_t kChunk = 8;
/// Heads per block that share runtime tile tests (document ids): see
/// chooseMaskSharingHeads.
static constexpr int64_t kRuntimeShareCap = 4;

bool StreamingLowering::canUseMMA() {
  auto type = [](Value x) { return cast<RankedTensorType>(x.getType()); };
  Type element = type(op.getQuery()).getElementType();
  if (!element.isF16() && !element.isBF16())
    return false;
  if (type(op.getKey()).getElementType() != element ||
      type(op.getValue()).getElementType() != element)
    return false;
  int64_t d = type(op.getQuery()).getShape().back();
  int64_t dv = type(op.getValue()).getShape().back();
  auto supported = [](int64_t x) { return x == 64 || x == 128; };
  Layout ql = op.getQLayout(), kl = op.getKvLayout();
  // Block lists (#attn.blocks) whose blocks are whole key tiles and whose
  // query blocks hold whole query tiles give the tiles to visit; token
  // lists (#attn.tokens) gather their keys into tiles of one query's heads
  // (tokenTileHeads), else take the row form. Paged K/V is addressed
  // through the block table row by row (copyTileAsync).
  // A pyramid (D6) whose blocks hold whole tiles and whose groups fit in a
  // key tile reads its levels as a runtime tile test and its groups'
  // means in registers (pyramidMeansMMA).
  bool listOk = true;
  if (std::optional<KeySelection> selection =
          findKeySelection(op.getMaskAttr())) {
    auto blocks = dyn_cast<BlocksAttr>(selection->attr);
    auto pyramid = dyn_cast<PyramidAttr>(selection->attr);
    listOk = blocks ? blocks.getKBlock() % kMMAKeyTile == 0 &&
                          blocks.getQBlock() % mmaQueryTile == 0
             : pyramid
                 ? pyramid.getKBlock() % kMMAKeyTile == 0 &&
                       pyramid.getQBlock() % mmaQueryTile == 0 &&
                       (int64_t(1) << pyramid.getMaxLevel()) <= kMMAKeyTile
                 : tokenTileHeads() > 1 || sharedTokenList();
  }
  return supported(d) && supported(dv) && ql != Layout::thd && listOk &&
         kl != Layout::thd && isa<SoftmaxAttr>(op.getNormOrSoftmax()) &&
         (!op.getGateAttr() || isa<OutputGateAttr>(op.getGateAttr()));
}

/// Whether every query's allowed keys under `mask` are long ranges with
/// at most a few partial tiles: no mask, causal diagonals, key prefixes,
/// and their unions and intersections.
static bool longKeyRanges(Attribute mask) {
  if (!mask || isa<CausalAttr, KeyPrefixAttr>(mask))
    return true;
  ArrayRef<Attribute> children;
  if (auto both = dyn_cast<AndAttr>(mask))
    children = both.getMasks();
  else if (auto either = dyn_cast<OrAttr>(mask))
    children = either.getMasks();
  else
    return false;
  return llvm::all_of(children, longKeyRanges);
}

std::pair<int64_t, int64_t> StreamingLowering::chooseMMATile() {
  // 128 x 128 tiles: two warpgroups of 64 rows share each K/V tile of 128
  // keys (Q 32 KB and three stages of 64 KB: 224 KB, one block per SM).
  // On the H100 (bf16, D = 128, against 64 x 64 tiles with two blocks per
  // SM, two runs; docs/benchmarks.md): dense +3-15 %, causal -2 to +21 %,
  // causal with a prefix 0-9 %, with ALiBi or a softcap -7 to +5 %, a
  // 1024-key window -1 to -5 %; D = 64 -6 to -26 %; 128-key tiles with
  // one warpgroup -10 to -48 %. 128 keys only where the body is plain: no
  // block or token lists or pyramids (their blocks are checked against
  // 64-key tiles), no runtime tile tests (their summaries were measured
  // on 64-key tiles), contiguous K/V, and enough queries to fill 128 rows
  // (which also rules out packed heads).
  auto type = [](Value x) { return cast<RankedTensorType>(x.getType()); };
  int64_t d = type(op.getQuery()).getShape().back();
  int64_t dv = type(op.getValue()).getShape().back();
  int64_t queries =
      type(op.getQuery()).getDimSize(dimOrder(op.getQLayout()).seq);
  Attribute mask = op.getMaskAttr();
  bool plain = useWGMMA && !findKeySelection(mask) &&
               !computeRuntimeTileTest(mask) &&
               !isa_and_nonnull<DenseAttr>(mask) && op.getPredicate().empty() &&
               !op.getResidueGroups() && !op.getPatches() &&
               op.getKvLayout() != Layout::paged &&
               (ShapedType::isDynamic(queries) || queries >= 128);
  bool large = plain && d == 128 && dv == 128 && longKeyRanges(mask);
  int64_t rows = requestedMMARows ? requestedMMARows : large ? 128 : 64;
  int64_t keys = requestedMMAKeys ? requestedMMAKeys : large ? 128 : 64;
  return {rows, plain ? keys : kMMAKeyTile};
}

std::pair<Value, Value> StreamingLowering::listedKey(const LoopValues &values,
                                                     Value t, Value end) {
  Value zero = idx(0), one = idx(1);
  Value last = arith::SubIOp::create(b, loc, end, one);
  Value entry = selectionEntry(
      *mmaList, values,
      arith::MaxSIOp::create(b, loc, arith::MinSIOp::create(b, loc, t, last),
                             zero));
  auto cmp = [&](CmpIPredicate p, Value x, Value y) -> Value {
    return arith::CmpIOp::create(b, loc, p, x, y);
  };
  Value valid = arith::AndIOp::create(
      b, loc, cmp(CmpIPredicate::slt, t, end),
      arith::AndIOp::create(b, loc, cmp(CmpIPredicate::sge, entry, zero),
                            cmp(CmpIPredicate::slt, entry, values.keyLen)));
  Value key = arith::MaxSIOp::create(
      b, loc,
      arith::MinSIOp::create(
          b, loc, entry, arith::SubIOp::create(b, loc, values.keyLen, one)),
      zero);
  return {key, valid};
}

int64_t StreamingLowering::staticHeadGroup() {
  auto type = [](Value x) { return cast<RankedTensorType>(x.getType()); };
  Layout kl = op.getKvLayout();
  int64_t queryHeads =
      type(op.getQuery()).getDimSize(dimOrder(op.getQLayout()).head);
  int64_t keyHeads = type(op.getKey()).getDimSize(
      kl == Layout::paged ? 2 : dimOrder(kl).head);
  if (ShapedType::isDynamic(queryHeads) || ShapedType::isDynamic(keyHeads) ||
      keyHeads < 1 || queryHeads % keyHeads != 0)
    return 1;
  int64_t group = queryHeads / keyHeads;
  return mmaQueryTile % group == 0 ? group : 1;
}

/// The indices type [B, G, Sq or 1, n] of the token list (#attn.tokens) of
/// `op` where its list heads divide the KV heads (both static); else null.
static RankedTensorType tokenListType(AttentionOp op) {
  std::optional<KeySelection> selection = findKeySelection(op.getMaskAttr());
  if (!selection || !isa<TokensAttr>(selection->attr))
    return nullptr;
  auto indices = cast<RankedTensorType>(
      op.getMaskOperands()[selection->operand + 1].getType());
  int64_t listHeads = indices.getDimSize(1);
  int64_t keyHeads = cast<RankedTensorType>(op.getKey().getType())
                         .getDimSize(op.getKvLayout() == Layout::paged
                                         ? 2
                                         : dimOrder(op.getKvLayout()).head);
  if (ShapedType::isDynamic(listHeads) || listHeads < 1 ||
      ShapedType::isDynamic(keyHeads) || keyHeads % listHeads != 0)
    return nullptr;
  return indices;
}

int64_t StreamingLowering::tokenTileHeads() {
  // Token lists (D1, D7, G4): each query has its own keys, so a tile holds
  // one query; its rows are the G >= 2 query heads of a KV head, which
  // must share the list.
  return tokenListType(op) ? staticHeadGroup() : 1;
}

bool StreamingLowering::sharedTokenList() {
  // One token list for every query of a head group (D7, G4: [B, G, 1, n]):
  // the tiles are ordinary query tiles, their key tiles gathered from it.
  RankedTensorType indices = tokenListType(op);
  return indices && indices.getDimSize(2) == 1;
}

int64_t StreamingLowering::choosePackedHeads() {
  if (int64_t heads = tokenTileHeads(); heads > 1 && !sharedTokenList())
    return heads;
  // Decoding and speculative decoding (X2: up to 16 queries) with GQA, and
  // a mask whose closed-form key ranges are the same for every head of
  // the group (no operands, no per-head part, no predicate region).
  int64_t queries = cast<RankedTensorType>(op.getQuery().getType())
                        .getDimSize(dimOrder(op.getQLayout()).seq);
  if (ShapedType::isDynamic(queries) || queries > 16 || op.getResidueGroups() ||
      op.getPatches() || !op.getMaskOperands().empty() ||
      !op.getPredicate().empty())
    return 1;
  bool perHead = false;
  if (Attribute mask = op.getMaskAttr())
    mask.walk([&](HeadsAttr) { perHead = true; });
  return perHead ? 1 : staticHeadGroup();
}

int64_t StreamingLowering::chooseMaskSharingHeads() {
  bool dense = denseMaskFlags();
  bool runtime = computeRuntimeTileTest(op.getMaskAttr()).has_value();
  if ((!dense && !runtime) || packedHeads != 1 || tokenTiles ||
      op.getQLayout() == Layout::thd || op.getKvLayout() == Layout::paged)
    return 1;
  int64_t heads = cast<RankedTensorType>(op.getQuery().getType())
                      .getDimSize(dimOrder(op.getQLayout()).head);
  if (ShapedType::isDynamic(heads) || heads < 2)
    return 1;
  // The flags must not depend on the head: a dense mask without a head
  // dimension, runtime tests on operands without one.
  if (dense) {
    auto mask = cast<RankedTensorType>(op.getMaskOperands().front().getType());
    if (mask.getDimSize(1) != 1)
      return 1;
  } else {
    for (const OperandSlot &slot : getSlots(op.getMaskAttr()))
      for (const SlotDim &dim : slot.shape)
        if (dim.extent == Extent::QueryHeads ||
            dim.extent == Extent::HeadGroups)
          return 1;
  }
  // The largest divisor of the heads up to 8: M12 (16 heads, 25 % of
  // 128-blocks) on the H100 with 1, 2, 4, 8, 16 heads per block took 0.89,
  // 0.79, 0.79, 0.81, 0.90 ms at S = 4K (B = 4) and 3.90, 2.95, 2.48, 2.27,
  // 2.28 ms at 16K: each block re-reads the mask once per H / G heads, but
  // fewer, longer blocks balance worse. Document ids up to 4: M6 (8
  // documents, causal) with 1, 2, 4, 8 heads per block ran at 139, 179,
  // 179, 152 TFLOP/s at S = 16K, D = 64 and 228, 248, 262, 232 at D = 128
  // (their tests are cheaper than a mask's rows, a document's items short).
  int64_t group = std::min<int64_t>(heads, dense ? 8 : kRuntimeShareCap);
  while (heads % group)
    --group;
  return group;
}

bool StreamingLowering::denseMaskFlags() {
  if (!isa_and_nonnull<DenseAttr>(op.getMaskAttr()))
    return false;
  auto mask = cast<RankedTensorType>(op.getMaskOperands().front().getType());
  return mask.hasStaticShape() && mask.getShape().back() % 16 == 0;
}

int64_t StreamingLowering::mmaFlagWords() {
  std::optional<KeySelection> selection = findKeySelection(op.getMaskAttr());
  if ((selection && !isa<PyramidAttr>(selection->attr)) ||
      (!computeRuntimeTileTest(op.getMaskAttr()) && !denseMaskFlags()))
    return 0;
  auto keyType = cast<RankedTensorType>(op.getKey().getType());
  int64_t keys = keyType.getShape()[dimOrder(op.getKvLayout()).seq];
  if (op.getKvLayout() == Layout::paged) {
    // The table's capacity: N pages of `page` keys.
    auto table = cast<RankedTensorType>(op.getBlockTable().getType());
    keys = ShapedType::isDynamic(table.getDimSize(1)) ||
                   ShapedType::isDynamic(keyType.getDimSize(1))
               ? ShapedType::kDynamic
               : table.getDimSize(1) * keyType.getDimSize(1);
  }
  if (ShapedType::isDynamic(keys))
    return 0;
  return ((keys + keyTile - 1) / keyTile + 31) / 32;
}

int64_t StreamingLowering::mmaTileFlags() {
  int64_t words = mmaFlagWords();
  if (!words)
    return 0;
  // The two bit vectors, then (shared by the heads of a block) the tag of
  // the (batch, query tile) they are for.
  return (2 * 4 * words + 15 & ~int64_t(15)) + (maskSharingHeads > 1 ? 16 : 0);
}

int64_t StreamingLowering::mmaSharedBytes() {
  auto type = [](Value x) { return cast<RankedTensorType>(x.getType()); };
  int64_t d = type(op.getQuery()).getShape().back();
  int64_t dv = type(op.getValue()).getShape().back();
  // Q, then the stages of K and of V (2-byte elements), then the tile
  // flags (a byte per key tile).
  return 2 * (mmaQueryTile * d + kStages * keyTile * (d + dv)) + mmaTileFlags();
}

void StreamingLowering::allocateMMABuffers() {
  auto workgroup = gpu::AddressSpaceAttr::get(b.getContext(),
                                              gpu::AddressSpace::Workgroup);
  Type element = cast<MemRefType>(q.getType()).getElementType();
  Value raw = mb.raw = gpu::DynamicSharedMemoryOp::create(
      b, loc,
      MemRefType::get({ShapedType::kDynamic}, b.getI8Type(),
                      MemRefLayoutAttrInterface{}, workgroup));
  int64_t offset = 0;
  auto view = [&](ArrayRef<int64_t> shape) -> Value {
    auto type = MemRefType::get(shape, element, MemRefLayoutAttrInterface{},
                                workgroup);
    Value result =
        memref::ViewOp::create(b, loc, type, raw, idx(offset), ValueRange{});
    offset += type.getNumElements() * 2;
    return result;
  };
  // Slabs of 64 columns (128-byte rows): the layout wgmma descriptors
  // with 128-byte swizzling read, and ldmatrix as well.
  mb.q = view({staticHeadDim / kSlab, mmaQueryTile, kSlab});
  mb.k = view({kStages, staticHeadDim / kSlab, keyTile, kSlab});
  int64_t valueOffset = offset;
  mb.v = view({kStages, staticValueDim / kSlab, keyTile, kSlab});
  // The output tile, in the same slabs, over the value stages (free once
  // the last value product is done).
  Type outElement = cast<MemRefType>(out.getType()).getElementType();
  if (outElement.getIntOrFloatBitWidth() == 16 &&
      mmaQueryTile <= kStages * keyTile)
    mb.o = memref::ViewOp::create(
        b, loc,
        MemRefType::get({staticValueDim / kSlab, mmaQueryTile, kSlab},
                        outElement, MemRefLayoutAttrInterface{}, workgroup),
        raw, idx(valueOffset), ValueRange{});
  if (int64_t bytes = mmaTileFlags()) {
    int64_t vectorBytes = bytes - (maskSharingHeads > 1 ? 16 : 0);
    mb.flags = memref::ViewOp::create(
        b, loc,
        MemRefType::get({vectorBytes / 4}, b.getI32Type(),
                        MemRefLayoutAttrInterface{}, workgroup),
        raw, idx(offset), ValueRange{});
    if (maskSharingHeads > 1) {
      mb.flagsTag = memref::ViewOp::create(
          b, loc,
          MemRefType::get({1}, b.getI32Type(), MemRefLayoutAttrInterface{},
                          workgroup),
          raw, idx(offset + vectorBytes), ValueRange{});
      // No flags yet (shared memory starts undefined).
      auto first = scf::IfOp::create(
          b, loc,
          arith::CmpIOp::create(b, loc, CmpIPredicate::eq, mmaThread, idx(0)),
          /*withElseRegion=*/false);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(first.thenBlock());
      memref::StoreOp::create(b, loc,
                              arith::ConstantIntOp::create(b, loc, 0, 32),
                              mb.flagsTag, ValueRange{idx(0)});
    }
  }
}

/// The 32-bit words of an MMA operand fragment (vector<Nx2xf16/bf16>), one
/// per row.
static SmallVector<Value> fragmentWords(OpBuilder &b, Location loc,
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

namespace mlir::attn {
/// Emits the warp-level pieces of the MMA body.
struct MMAEmitter {
  OpBuilder &b;
  Location loc;
  Type element; // f16 or bf16

  Value idx(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
  Value add(Value x, Value y) { return arith::AddIOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) { return arith::MulIOp::create(b, loc, x, y); }
  Value div(Value x, int64_t y) {
    return arith::DivUIOp::create(b, loc, x, idx(y));
  }
  Value rem(Value x, int64_t y) {
    return arith::RemUIOp::create(b, loc, x, idx(y));
  }
  /// The swizzled column of `col` (a multiple of 8) in a row `row % 8 ==
  /// rowMod8`: 16-byte chunks XOR the row.
  Value swizzle(Value col, Value rowMod8) {
    Value chunk = arith::XOrIOp::create(b, loc, div(col, kChunk), rowMod8);
    return mul(chunk, idx(kChunk));
  }
  /// Four 8x8 matrices from shared memory (`transpose` for the B operand
  /// of row-major V).
  Value ldmatrix(Value memref, ValueRange indices, bool transpose) {
    return nvgpu::LdMatrixOp::create(
        b, loc, VectorType::get({4, 2}, element), memref, indices,
        b.getBoolAttr(transpose), b.getI32IntegerAttr(4));
  }
  /// Rows [first, first + count) of a [n x 2] fragment as [count x 2], or
  /// `rows` placed at `first` of `into`: row by row, which the NVVM
  /// lowering handles (2-D strided slices it does not).
  Value rowsOf(Value x, int64_t first, int64_t count) {
    auto type = VectorType::get({count, 2},
                                cast<VectorType>(x.getType()).getElementType());
    Value result = arith::ConstantOp::create(b, loc, b.getZeroAttr(type));
    for (int64_t r = 0; r < count; ++r)
      result = vector::InsertOp::create(
          b, loc,
          vector::ExtractOp::create(b, loc, x, ArrayRef<int64_t>{first + r}),
          result, ArrayRef<int64_t>{r});
    return result;
  }
  Value insertRows(Value rows, Value into, int64_t first) {
    int64_t count = cast<VectorType>(rows.getType()).getShape()[0];
    for (int64_t r = 0; r < count; ++r)
      into = vector::InsertOp::create(
          b, loc, vector::ExtractOp::create(b, loc, rows, ArrayRef<int64_t>{r}),
          into, ArrayRef<int64_t>{first + r});
    return into;
  }
  /// Shared-memory indices of (row, column) of a slab-laid tile: the column
  /// is `column + offset` with `column` static and `offset` < 16 (a lane's
  /// 8-column part); `rowMod8` is row % 8; `stage` may be null.
  SmallVector<Value> slabAt(Value stage, Value row, int64_t column,
                            Value offset, Value rowMod8) {
    SmallVector<Value> at;
    if (stage)
      at.push_back(stage);
    at.push_back(idx(column / kSlab));
    at.push_back(row);
    at.push_back(swizzle(add(idx(column % kSlab), offset), rowMod8));
    return at;
  }
  /// Half `h` (0 or 1) of an ldmatrix result: one B operand.
  Value half(Value x4, int64_t h) { return rowsOf(x4, 2 * h, 2); }
  /// c + a b for one m16n8k16 tile.
  Value mma(Value a, Value bOperand, Value c) {
    return mmaSync16816(b, loc, element, a, bOperand, c);
  }
  /// acc[2 n2 + h] += a[k] B for n2 < nPairs, k < kSteps: each B operand
  /// pair from one ldmatrix x4 of `memref` at `stage`, the lane's row and
  /// (static, lane) column parts given by `at(n2, k)`; rows are 8-aligned
  /// plus the lane's `lane8`, so the swizzle is by `lane8`.
  void product(
      SmallVectorImpl<Value> &acc, ArrayRef<Value> a, Value memref,
      Value stage, int64_t nPairs, int64_t kSteps, bool transpose, Value lane8,
      llvm::function_ref<std::tuple<Value, int64_t, Value>(int64_t, int64_t)>
          at) {
    for (int64_t n2 = 0; n2 < nPairs; ++n2)
      for (int64_t k = 0; k < kSteps; ++k) {
        auto [row, column, offset] = at(n2, k);
        Value x4 = ldmatrix(memref, slabAt(stage, row, column, offset, lane8),
                            transpose);
        for (int64_t h = 0; h < 2; ++h)
          acc[2 * n2 + h] = mma(a[k], half(x4, h), acc[2 * n2 + h]);
      }
  }
  /// The sum (or max) of `x` over the four lanes that hold one row.
  Value quadReduce(Value x, bool max) {
    for (int64_t offset : {1, 2}) {
      Value other =
          gpu::ShuffleOp::create(b, loc, x, offset, 32, gpu::ShuffleMode::XOR)
              .getShuffleResult();
      x = max ? arith::MaximumFOp::create(b, loc, x, other).getResult()
              : arith::AddFOp::create(b, loc, x, other).getResult();
    }
    return x;
  }
};

/// What every key tile of a query tile reads: this thread's lane values,
/// its rows and the Q fragments.
struct MMATileContext {
  MMAEmitter e;
  Value scoreScale;
  bool scoreMods;
  /// Per accumulator row: the query, its head, the row of the tile.
  Value rows[2], heads[2], tileRows[2];
  Value colBase, lane8, ldGroup;
  SmallVector<Value> qFrag;
};
} // namespace mlir::attn

void StreamingLowering::copyTileAsync(Value dst, Value stage, Value src,
                                      Layout layout, const LoopValues &values,
                                      TileRowFn rowAt, int64_t width,
                                      SmallVector<Value> &tokens) {
  MMAEmitter e{b, loc, cast<MemRefType>(src.getType()).getElementType()};
  int64_t chunksPerRow = width / kChunk;
  ArrayRef<int64_t> shape = cast<MemRefType>(dst.getType()).getShape();
  int64_t rows = shape[shape.size() - 2];
  int64_t chunks = rows * chunksPerRow;
  for (int64_t c = 0; c < chunks; c += mmaThreads()) {
    Value chunk = e.add(mmaThread, idx(c));
    Value row = e.div(chunk, chunksPerRow);
    Value col = e.mul(e.rem(chunk, chunksPerRow), idx(kChunk));
    auto [head, s] = rowAt(row);
    SmallVector<Value> dstIndices;
    if (stage)
      dstIndices.push_back(stage);
    dstIndices.push_back(e.div(col, kSlab));
    dstIndices.push_back(row);
    dstIndices.push_back(e.swizzle(e.rem(col, kSlab), e.rem(row, 8)));
    tokens.push_back(nvgpu::DeviceAsyncCopyOp::create(
        b, loc, nvgpu::DeviceAsyncTokenType::get(b.getContext()), dst,
        dstIndices, src, indices(layout, values.batch, head, s, col, nullptr),
        b.getIndexAttr(kChunk), /*srcElements=*/Value(),
        /*bypassL1=*/b.getUnitAttr()));
  }
}

bool StreamingLowering::copyRowsFit(int64_t width) {
  if (patches.empty())
    return true;
  // A thread's rows r0 + k * rowsPerStep of a tile that is one patch:
  // the same column of the patch when rowsPerStep is a multiple of pw.
  int64_t rowsPerStep = mmaThreads() / (width / kChunk);
  return keyTile == patches[0] * patches[1] && rowsPerStep % patches[1] == 0;
}

void StreamingLowering::copyRowsAsync(Value dst, Value stage, Value src,
                                      Layout layout, const LoopValues &values,
                                      Value head, Value first, int64_t width) {
  MMAEmitter e{b, loc, cast<MemRefType>(src.getType()).getElementType()};
  MLIRContext *context = b.getContext();
  Type i64 = b.getI64Type();
  int64_t chunksPerRow = width / kChunk, threads = mmaThreads();
  ArrayRef<int64_t> shape = cast<MemRefType>(dst.getType()).getShape();
  int64_t rows = shape[shape.size() - 2];
  // A thread copies the same 16-byte column of every rowsPerStep-th row
  // (a multiple of 8: the same swizzle).
  int64_t rowsPerStep = threads / chunksPerRow;
  Value row0 = e.div(mmaThread, chunksPerRow);
  Value col = e.mul(e.rem(mmaThread, chunksPerRow), idx(kChunk));
  auto toI64 = [&](Value x) -> Value {
    return arith::IndexCastOp::create(b, loc, i64, x);
  };
  // The source element of the thread's first row, as a global pointer.
  auto meta = memref::ExtractStridedMetadataOp::create(b, loc, src);
  SmallVector<Value> at =
      indices(layout, values.batch, head, e.add(first, row0), col, nullptr);
  Value linear = meta.getOffset();
  for (auto [i, x] : llvm::enumerate(at))
    linear = e.add(linear, e.mul(x, meta.getStrides()[i]));
  // Under patches a tile is one patch (copyRowsFit): rowsPerStep rows
  // further is rowsPerStep / pw rows of the grid further.
  int64_t stepRows =
      patches.empty() ? rowsPerStep : rowsPerStep / patches[1] * patchGridCols;
  Value rowBytes =
      toI64(e.mul(meta.getStrides()[dimOrder(layout).seq], idx(stepRows * 2)));
  Value srcAddress = arith::AddIOp::create(
      b, loc,
      toI64(memref::ExtractAlignedPointerAsIndexOp::create(b, loc, src)),
      toI64(e.mul(linear, idx(2))));
  Value srcBase = LLVM::AddrSpaceCastOp::create(
      b, loc, LLVM::LLVMPointerType::get(context, 1),
      LLVM::IntToPtrOp::create(b, loc, LLVM::LLVMPointerType::get(context),
                               srcAddress));
  // The destination chunk of that row, as a shared pointer.
  Value slab = e.div(col, kSlab);
  Value slabIndex =
      stage ? e.add(e.mul(stage, idx(shape[shape.size() - 3])), slab) : slab;
  Value element =
      e.add(e.mul(e.add(e.mul(slabIndex, idx(rows)), row0), idx(kSlab)),
            e.swizzle(e.rem(col, kSlab), e.rem(row0, 8)));
  Value dstAddress = arith::AddIOp::create(
      b, loc,
      toI64(memref::ExtractAlignedPointerAsIndexOp::create(b, loc, dst)),
      toI64(e.mul(element, idx(2))));
  Value dstBase = LLVM::IntToPtrOp::create(
      b, loc, LLVM::LLVMPointerType::get(context, 3), dstAddress);
  Type i8 = b.getI8Type();
  for (int64_t step = 0; step * threads < rows * chunksPerRow; ++step) {
    Value srcOffset = arith::MulIOp::create(
        b, loc, rowBytes, arith::ConstantIntOp::create(b, loc, step, 64));
    Value from = LLVM::GEPOp::create(b, loc, srcBase.getType(), i8, srcBase,
                                     ArrayRef<LLVM::GEPArg>{srcOffset});
    Value to = LLVM::GEPOp::create(
        b, loc, dstBase.getType(), i8, dstBase,
        ArrayRef<LLVM::GEPArg>{int32_t(step * rowsPerStep * kSlab * 2)});
    NVVM::CpAsyncOp::create(b, loc, to, from, b.getI32IntegerAttr(16),
                            NVVM::LoadCacheModifierKindAttr::get(
                                context, NVVM::LoadCacheModifierKind::CG),
                            /*cpSize=*/Value());
  }
}

void StreamingLowering::emitQueryTileMMA(ElementEmitter &emitter,
                                         const LoopValues &values, Value g,
                                         const Bounds &tiles,
                                         const Bounds &core) {
  Type element = cast<MemRefType>(q.getType()).getElementType();
  MMAEmitter e{b, loc, element};
  Type f32Type = b.getF32Type();
  auto accType = VectorType::get({2, 2}, f32Type);
  Value zero = idx(0), one = idx(1);
  int64_t d = staticHeadDim, dv = staticValueDim;
  Layout ql = op.getQLayout(), kl = op.getKvLayout();
  Value lane = e.rem(mmaThread, 32), warp = e.div(mmaThread, 32);
  Value lane8 = e.rem(lane, 8), quad = e.div(lane, 4), inQuad = e.rem(lane, 4);
  Value ldGroup = e.div(lane, 8); // which 8x8 matrix this lane addresses
  auto tokenType = nvgpu::DeviceAsyncTokenType::get(b.getContext());
  auto group = [&](ArrayRef<Value> tokens) {
    return nvgpu::DeviceAsyncCreateGroupOp::create(b, loc, tokenType, tokens)
        .getResult();
  };
  auto wait = [&](Value token, int32_t pending) {
    nvgpu::DeviceAsyncWaitOp::create(b, loc, token,
                                     b.getI32IntegerAttr(pending));
  };
  auto barrier = [&] { gpu::BarrierOp::create(b, loc); };

  // Q tile to shared memory, then to registers as A fragments.
  // Rows past the end repeat the last row: finite data that the mask
  // (keys) or the store (queries) discards.
  Value lastQuery = arith::SubIOp::create(b, loc, values.queryEnd, one);
  auto clampedQuery = [&](Value offset) -> Value {
    return arith::MinSIOp::create(b, loc, e.add(values.queryBegin, offset),
                                  lastQuery);
  };
  auto queryRow = [&](Value r) -> std::pair<Value, Value> {
    auto [head, query] = tileRowQuery(values, r);
    return {head, clampedQuery(query)};
  };
  barrier(); // the previous work item's warps are done with shared memory
  SmallVector<Value> tokens;
  copyTileAsync(mb.q, nullptr, q, ql, values, queryRow, d, tokens);
  // Warpgroup MMAs read Q from shared memory at the first tile: its copy
  // completes with the first key tile's (the wait and barrier at the top
  // of the key loop), so that the two loads overlap — an item waited for
  // Q, then for its first key tile. (Each item ends with no copy in
  // flight: see the wait after the key loop.)
  Value qGroup = group(tokens);
  if (!useWGMMA) {
    wait(qGroup, 0);
    barrier();
  }
  // The m16n8k16 products hold Q in registers; warpgroup MMAs read it
  // from shared memory.
  SmallVector<Value> qFrag;
  Value qRow = e.add(e.mul(warp, idx(kWarpRows)), e.rem(lane, 16));
  Value qCol = e.mul(e.div(lane, 16), idx(kChunk));
  for (int64_t ks = 0; !useWGMMA && ks < d / 16; ++ks)
    qFrag.push_back(e.ldmatrix(
        mb.q, e.slabAt(nullptr, qRow, 16 * ks, qCol, lane8), false));

  // Scores are in base-2 units: exp2 with the scale (and log2 e) folded
  // into one multiply. Score modifiers see natural units first.
  bool scoreMods = op.getScoreAttr() && !op.getScoreAttr().empty();
  const double log2e = 1.0 / std::log(2.0);
  Value scoreScale =
      scoreMods ? scale
                : arith::MulFOp::create(b, loc, scale, f32(log2e)).getResult();
  // Tile rows, queries and heads of this thread's accumulator elements.
  Value tileRow = e.add(e.mul(warp, idx(kWarpRows)), quad);
  Value tileRows[2] = {tileRow, e.add(tileRow, idx(8))};
  Value rows[2], heads[2];
  for (int64_t r = 0; r < 2; ++r) {
    auto [head, query] = tileRowQuery(values, tileRows[r]);
    rows[r] = e.add(values.queryBegin, query);
    heads[r] = head;
  }
  Value colBase = e.mul(inQuad, idx(2));

  Value accZero = arith::ConstantOp::create(b, loc, b.getZeroAttr(accType));
  SmallVector<Value> state(dv / 8, accZero);
  state.append({f32(-kInf), f32(-kInf), f32(0.0), f32(0.0)});
  if (runtimeTest)
    emitQueryTileTest(emitter, values, *runtimeTest);
  MMATileContext context{e,
                         scoreScale,
                         scoreMods,
                         {rows[0], rows[1]},
                         {heads[0], heads[1]},
                         {tileRows[0], tileRows[1]},
                         colBase,
                         lane8,
                         ldGroup,
                         qFrag};

  Value lastKey = arith::SubIOp::create(b, loc, values.keyLen, one);
  auto copyKeyTile = [&](Value kt, Value stage) {
    Value j0 = e.mul(kt, idx(keyTile));
    // Token lists: row r of tile kt is the key of entry 64 kt + r.
    Value entries = tokenTiles ? mmaList->count : Value();
    auto copy = [&](bool whole) {
      SmallVector<Value> kvTokens;
      auto keyRow = [&](Value r) -> std::pair<Value, Value> {
        if (tokenTiles)
          return {g, listedKey(values, e.add(j0, r), entries).first};
        if (whole)
          return {g, e.add(j0, r)};
        return {g, arith::MinSIOp::create(b, loc, e.add(j0, r), lastKey)};
      };
      if (whole && (kl == Layout::bhsd || kl == Layout::bshd) &&
          copyRowsFit(d) && copyRowsFit(dv)) {
        copyRowsAsync(mb.k, stage, k, kl, values, g, j0, d);
        copyRowsAsync(mb.v, stage, v, kl, values, g, j0, dv);
        NVVM::CpAsyncCommitGroupOp::create(b, loc);
        return;
      }
      copyTileAsync(mb.k, stage, k, kl, values, keyRow, d, kvTokens);
      copyTileAsync(mb.v, stage, v, kl, values, keyRow, dv, kvTokens);
      group(kvTokens);
    };
    if (tokenTiles)
      return copy(false);
    // A tile inside the keys copies its rows as they are: the addresses
    // of a thread's copies then differ by constants (the clamp of the
    // last tile's rows cost a minimum and the address arithmetic per copy).
    auto inside = scf::IfOp::create(
        b, loc,
        arith::CmpIOp::create(b, loc, CmpIPredicate::sle,
                              e.add(j0, idx(keyTile)), values.keyLen),
        /*withElseRegion=*/true);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(inside.thenBlock());
    copy(true);
    b.setInsertionPointToStart(inside.elseBlock());
    copy(false);
  };
  // A neighborhood's key rows in patch order, a few tiles each: one loop
  // over their concatenation, positions [0, total), so that the pipeline
  // runs across them — the first tile of a row is copied while the
  // previous row's last one is computed (M9 on the H100: +3-12 %). Long
  // ranges keep a loop each: the position-to-tile selects cost more than
  // a pipeline start there (M5, a causal range and a prefix: -4-11 %).
  // spans: (first tile, first position) of each range.
  SmallVector<std::pair<Value, Value>> spans;
  Bounds loopTiles = tiles;
  if (!mmaList && !patches.empty() && tiles.size() > 1) {
    Value total = zero;
    for (auto [t0, t1] : tiles) {
      spans.push_back({t0, total});
      total = e.add(total,
                    arith::MaxSIOp::create(
                        b, loc, arith::SubIOp::create(b, loc, t1, t0), zero));
    }
    loopTiles = {{zero, total}};
  }
  // The key tile at loop position p: p itself, the tile of the range that
  // holds position p, or with a block list the tiles of the listed blocks
  // in list order.
  auto tileAt = [&](Value p) -> Value {
    if (!spans.empty()) {
      // The last range starting at or before p (empty ranges share their
      // start with the next one, which wins).
      Value tile = e.add(spans.front().first, p);
      for (auto [t0, start] : ArrayRef(spans).drop_front())
        tile = arith::SelectOp::create(
            b, loc, arith::CmpIOp::create(b, loc, CmpIPredicate::sge, p, start),
            e.add(t0, arith::SubIOp::create(b, loc, p, start)), tile);
      return tile;
    }
    if (!mmaList || tokenTiles)
      return p;
    int64_t perBlock = mmaList->blocks.getKBlock() / keyTile;
    Value entry = selectionEntry(*mmaList, values, e.div(p, perBlock));
    return e.add(arith::MulIOp::create(b, loc, entry, idx(perBlock)),
                 e.rem(p, perBlock));
  };
  // Keys [j0, j1) of tile kt; with token lists, its entries.
  auto keyRange = [&](Value kt) -> std::pair<Value, Value> {
    Value j0 = e.mul(kt, idx(keyTile));
    return {j0, arith::MinSIOp::create(b, loc, e.add(j0, idx(keyTile)),
                                       tokenTiles ? mmaList->count
                                                  : values.keyLen)};
  };
  // Runtime tile tests: every key tile's (visit, full) at once into two
  // bit vectors, a thread per tile (its summaries are independent loads),
  // so that the loop over the tiles finds the next visited tile 32 tiles at
  // a time instead of waiting for global memory at every tile it skips.
  // (A byte per tile, read one at a time, was a fifth of M12's time and of
  // M6's on the H100, where 3 of 4 tiles are skipped.)
  int64_t flagWords = mmaFlagWords();
  if (mb.flags) {
    Type i32 = b.getI32Type();
    // With maskSharingHeads, the block's previous item (another head of
    // this batch and query tile) left the flags; only the first computes
    // them. The tag is written after the barrier that follows, and read
    // after the next item's first barrier: every thread sees the same.
    scf::IfOp stale;
    Value tag;
    if (mb.flagsTag) {
      tag = arith::IndexCastOp::create(
          b, loc, i32,
          e.add(e.add(e.mul(values.batch, values.queryLen), values.queryBegin),
                idx(1)));
      stale = scf::IfOp::create(
          b, loc,
          arith::CmpIOp::create(
              b, loc, CmpIPredicate::ne,
              memref::LoadOp::create(b, loc, mb.flagsTag, ValueRange{idx(0)}),
              tag),
          /*withElseRegion=*/false);
      b.setInsertionPointToStart(stale.thenBlock());
    }
    {
      // The previous item's scans ended before this item's first barrier.
      auto clear = scf::ForOp::create(b, loc, mmaThread, idx(2 * flagWords),
                                      idx(mmaThreads()));
      OpBuilder::InsertionGuard clearGuard(b);
      b.setInsertionPointToStart(clear.getBody());
      memref::StoreOp::create(b, loc,
                              arith::ConstantIntOp::create(b, loc, 0, 32),
                              mb.flags, ValueRange{clear.getInductionVar()});
    }
    barrier();
    Value lane = e.rem(mmaThread, 32);
    Value warpFirst = e.mul(e.div(mmaThread, 32), idx(32));
    for (auto [t0, t1] : tiles) {
      // Warps take 32 tiles from a multiple of 32 (a word each); the loop
      // is warp-uniform for the ballots.
      Value base = e.mul(e.div(t0, 32), idx(32));
      auto fill = scf::ForOp::create(b, loc, e.add(base, warpFirst), t1,
                                     idx(mmaThreads()));
      OpBuilder::InsertionGuard fillGuard(b);
      b.setInsertionPointToStart(fill.getBody());
      Value first = fill.getInductionVar();
      Value kt = e.add(first, lane);
      Value inside = arith::AndIOp::create(
          b, loc, arith::CmpIOp::create(b, loc, CmpIPredicate::sge, kt, t0),
          arith::CmpIOp::create(b, loc, CmpIPredicate::slt, kt, t1));
      Type i1 = b.getI1Type();
      auto test = scf::IfOp::create(b, loc, TypeRange{i1, i1}, inside,
                                    /*withElseRegion=*/true);
      {
        OpBuilder::InsertionGuard testGuard(b);
        b.setInsertionPointToStart(test.thenBlock());
        auto [j0, j1] = keyRange(kt);
        Value maybe, all;
        if (runtimeTest) {
          serialSummaries = true;
          std::tie(maybe, all) =
              emitKeyTileTest(emitter, values, *runtimeTest, j0, j1);
          serialSummaries = false;
        } else {
          std::tie(maybe, all) = emitDenseTileSummary(values, j0, j1);
        }
        scf::YieldOp::create(
            b, loc,
            ValueRange{maybe, arith::AndIOp::create(b, loc, maybe, all)});
        b.setInsertionPointToStart(test.elseBlock());
        Value no = arith::ConstantIntOp::create(b, loc, 0, 1);
        scf::YieldOp::create(b, loc, ValueRange{no, no});
      }
      auto ballot = [&](Value x) -> Value {
        return NVVM::VoteSyncOp::create(
            b, loc, i32, arith::ConstantIntOp::create(b, loc, -1, 32), x,
            NVVM::VoteSyncKind::ballot);
      };
      Value visitBits = ballot(test.getResult(0));
      Value fullBits = ballot(test.getResult(1));
      // A word can hold tiles of two ranges: or, not store.
      auto leader = scf::IfOp::create(
          b, loc,
          arith::CmpIOp::create(b, loc, CmpIPredicate::eq, lane, idx(0)),
          /*withElseRegion=*/false);
      b.setInsertionPointToStart(leader.thenBlock());
      Value word = e.div(first, 32);
      memref::AtomicRMWOp::create(b, loc, arith::AtomicRMWKind::ori, visitBits,
                                  mb.flags, ValueRange{word});
      memref::AtomicRMWOp::create(b, loc, arith::AtomicRMWKind::ori, fullBits,
                                  mb.flags,
                                  ValueRange{e.add(word, idx(flagWords))});
    }
    if (stale)
      b.setInsertionPointAfter(stale);
    barrier();
    if (stale) {
      // After the barrier: every thread has read the old tag.
      auto first = scf::IfOp::create(
          b, loc,
          arith::CmpIOp::create(b, loc, CmpIPredicate::eq, mmaThread, idx(0)),
          /*withElseRegion=*/false);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(first.thenBlock());
      memref::StoreOp::create(b, loc, tag, mb.flagsTag, ValueRange{idx(0)});
    }
  }
  // Bit kt of the bit vector at word `offset` of the flags.
  auto flagBit = [&](Value kt, int64_t offset) -> Value {
    Type i32 = b.getI32Type();
    Value word = memref::LoadOp::create(
        b, loc, mb.flags, ValueRange{e.add(e.div(kt, 32), idx(offset))});
    Value shift = arith::IndexCastOp::create(b, loc, i32, e.rem(kt, 32));
    return arith::TruncIOp::create(b, loc, b.getI1Type(),
                                   arith::ShRUIOp::create(b, loc, word, shift));
  };
  // (visit, full) of key tile kt: the runtime test where the mask reads
  // data (a tile it rules out is neither loaded nor computed), the core
  // intervals of the closed form.
  auto testTile = [&](Value kt) -> std::pair<Value, Value> {
    Value full = arith::ConstantIntOp::create(b, loc, 0, 1);
    // Every tile of entries is visited; a listed block where it holds keys
    // (a bad entry is skipped, never read); always with the mask.
    if (tokenTiles)
      return {arith::ConstantIntOp::create(b, loc, 1, 1), full};
    auto [j0, j1] = keyRange(kt);
    if (mmaList) {
      // A listed block is all allowed where the list is the whole mask:
      // its whole tiles skip the mask (the last one's keys past the
      // length do not).
      if (isa<BlocksAttr>(op.getMaskAttr()))
        full = arith::CmpIOp::create(b, loc, CmpIPredicate::sle,
                                     e.add(j0, idx(keyTile)), values.keyLen);
      return {arith::AndIOp::create(
                  b, loc,
                  arith::CmpIOp::create(b, loc, CmpIPredicate::sge, j0, idx(0)),
                  arith::CmpIOp::create(b, loc, CmpIPredicate::slt, j0,
                                        values.keyLen)),
              full};
    }
    for (auto [c0, c1] : core)
      full = arith::OrIOp::create(
          b, loc, full,
          arith::AndIOp::create(
              b, loc, arith::CmpIOp::create(b, loc, CmpIPredicate::sle, c0, j0),
              arith::CmpIOp::create(b, loc, CmpIPredicate::sle, j1, c1)));
    if (!runtimeTest && !mb.flags)
      return {arith::ConstantIntOp::create(b, loc, 1, 1), full};
    if (mb.flags)
      return {flagBit(kt, 0),
              arith::OrIOp::create(b, loc, full, flagBit(kt, flagWords))};
    auto [maybe, all] = emitKeyTileTest(emitter, values, *runtimeTest, j0, j1);
    return {maybe, arith::OrIOp::create(b, loc, full, all)};
  };
  auto i1 = b.getI1Type();
  for (const auto &interval : loopTiles) {
    auto [t0, t1] = interval;
    auto nonEmpty = scf::IfOp::create(
        b, loc, ValueRange(state).getTypes(),
        arith::CmpIOp::create(b, loc, CmpIPredicate::slt, t0, t1),
        /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(nonEmpty.elseBlock());
      scf::YieldOp::create(b, loc, state);
      b.setInsertionPointToStart(nonEmpty.thenBlock());
      // The first position at or after `from` whose tile is visited (t1 if
      // none), and whether that tile is full. Tiles in between are never
      // copied: the prefetch of a visited tile overlaps the computation of
      // the one before it however many are skipped (one position at a
      // time, a visited tile after a skipped one waited for its copy).
      Type index = b.getIndexType();
      Value end = t1;
      // A search from `from`: while q < end and `step` (given q and
      // q < end) says to go on, q advances by `advance`; returns q and
      // the value `step` carries out.
      auto search =
          [&](Value from, Type carried,
              function_ref<std::pair<Value, Value>(Value, Value)> step,
              function_ref<Value(Value)> advance) -> std::pair<Value, Value> {
        auto loop = scf::WhileOp::create(b, loc, TypeRange{index, carried},
                                         ValueRange{from});
        OpBuilder::InsertionGuard searchGuard(b);
        Block *before = b.createBlock(&loop.getBefore(), {}, {index}, {loc});
        Value q = before->getArgument(0);
        auto [more, out] =
            step(q, arith::CmpIOp::create(b, loc, CmpIPredicate::slt, q, end));
        scf::ConditionOp::create(b, loc, more, ValueRange{q, out});
        Block *after =
            b.createBlock(&loop.getAfter(), {}, {index, carried}, {loc, loc});
        scf::YieldOp::create(b, loc,
                             ValueRange{advance(after->getArgument(0))});
        return {loop.getResult(0), loop.getResult(1)};
      };
      // Precomputed tests, positions that are tiles: a word of visit bits
      // per step, the lowest set bit at or after `from`.
      auto nextVisitedBit = [&](Value from) -> std::pair<Value, Value> {
        Type i32 = b.getI32Type();
        Value none = arith::ConstantIntOp::create(b, loc, 0, 32);
        auto [at, bits] = search(
            from, i32,
            [&](Value q, Value inside) -> std::pair<Value, Value> {
              // Past the end the word is read in bounds and ignored.
              Value word = memref::LoadOp::create(
                  b, loc, mb.flags,
                  ValueRange{arith::MinSIOp::create(b, loc, e.div(q, 32),
                                                    idx(flagWords - 1))});
              Value bits = arith::SelectOp::create(
                  b, loc, inside,
                  arith::ShRUIOp::create(
                      b, loc, word,
                      arith::IndexCastOp::create(b, loc, i32, e.rem(q, 32))),
                  none);
              return {arith::AndIOp::create(
                          b, loc, inside,
                          arith::CmpIOp::create(b, loc, CmpIPredicate::eq, bits,
                                                none)),
                      bits};
            },
            [&](Value q) {
              return e.add(arith::SubIOp::create(b, loc, q, e.rem(q, 32)),
                           idx(32));
            });
        // cttz(0) = 32: a search that ran out ends at or past `end`.
        Value pos = arith::MinSIOp::create(
            b, loc,
            e.add(at, arith::IndexCastOp::create(
                          b, loc, index,
                          math::CountTrailingZerosOp::create(b, loc, bits))),
            end);
        Value full =
            testTile(arith::MinSIOp::create(
                         b, loc, pos, arith::SubIOp::create(b, loc, end, one)))
                .second;
        return {pos, full};
      };
      auto nextVisited = [&](Value from) -> std::pair<Value, Value> {
        if (mb.flags && spans.empty() && !mmaList && !tokenTiles)
          return nextVisitedBit(from);
        return search(
            from, i1,
            [&](Value q, Value inside) -> std::pair<Value, Value> {
              auto test = scf::IfOp::create(b, loc, TypeRange{i1, i1}, inside,
                                            /*withElseRegion=*/true);
              OpBuilder::InsertionGuard testGuard(b);
              b.setInsertionPointToStart(test.thenBlock());
              auto [visitQ, fullQ] = testTile(tileAt(q));
              scf::YieldOp::create(b, loc, ValueRange{visitQ, fullQ});
              b.setInsertionPointToStart(test.elseBlock());
              Value no = arith::ConstantIntOp::create(b, loc, 0, 1);
              scf::YieldOp::create(b, loc, ValueRange{no, no});
              b.setInsertionPointAfter(test);
              Value more = arith::AndIOp::create(
                  b, loc, inside,
                  arith::XOrIOp::create(
                      b, loc, test.getResult(0),
                      arith::ConstantIntOp::create(b, loc, 1, 1)));
              return {more, test.getResult(1)};
            },
            [&](Value q) { return e.add(q, one); });
      };
      // The first visited tile into stage 0; the loop goes from visited
      // tile to visited tile, carrying the full test of the tile it
      // computes, its stage, the previous tile's stage and P (the value
      // product of a tile runs in the next iteration, beside the softmax
      // of that iteration's tile; zero before the first).
      auto [pos0, full0] = nextVisited(t0);
      Value any = arith::CmpIOp::create(b, loc, CmpIPredicate::slt, pos0, t1);
      auto first = scf::IfOp::create(b, loc, any, /*withElseRegion=*/false);
      {
        OpBuilder::InsertionGuard firstGuard(b);
        b.setInsertionPointToStart(first.thenBlock());
        // After an earlier interval, whose last value product (of any
        // warp) may still read stage 0: no iteration ends in a barrier.
        if (&interval != &loopTiles.front())
          barrier();
        copyKeyTile(tileAt(pos0), zero);
      }
      SmallVector<Value> init = state;
      Value pZero = arith::ConstantOp::create(
          b, loc, b.getZeroAttr(VectorType::get({4, 2}, element)));
      init.append(keyTile / 16, pZero);
      init.append({pos0, full0, zero, zero});
      SmallVector<Type> carriedTypes(ValueRange(init).getTypes());
      auto loop = scf::WhileOp::create(b, loc, carriedTypes, init);
      {
        OpBuilder::InsertionGuard loopGuard(b);
        SmallVector<Location> locs(carriedTypes.size(), loc);
        Block *before =
            b.createBlock(&loop.getBefore(), {}, carriedTypes, locs);
        Value pos = before->getArgument(init.size() - 4);
        scf::ConditionOp::create(
            b, loc, arith::CmpIOp::create(b, loc, CmpIPredicate::slt, pos, t1),
            before->getArguments());
        Block *after = b.createBlock(&loop.getAfter(), {}, carriedTypes, locs);
        SmallVector<Value> carried(after->getArguments());
        Value prevStage = carried.pop_back_val(),
              stage = carried.pop_back_val(), full = carried.pop_back_val();
        Value p = carried.pop_back_val(), kt = tileAt(p);
        // Stages rotate: the one after this tile's held the tile before
        // the previous one, whose value product the previous iteration
        // finished.
        Value nextStage = arith::SelectOp::create(
            b, loc,
            arith::CmpIOp::create(b, loc, CmpIPredicate::eq, stage,
                                  idx(kStages - 1)),
            zero, e.add(stage, one));
        auto [next, fullNext] = nextVisited(e.add(p, one));
        // This tile's copies (the only group in flight), made visible to
        // wgmma's async proxy by each copying thread, then to every warp.
        NVVM::CpAsyncWaitGroupOp::create(b, loc, 0);
        if (useWGMMA)
          NVVM::FenceProxyOp::create(
              b, loc, NVVM::ProxyKind::async_shared,
              NVVM::SharedSpaceAttr::get(b.getContext(),
                                         NVVM::SharedSpace::shared_cta));
        barrier(); // also: every warp is done with the next stage
        auto prefetch = scf::IfOp::create(
            b, loc, arith::CmpIOp::create(b, loc, CmpIPredicate::slt, next, t1),
            /*withElseRegion=*/false);
        {
          OpBuilder::InsertionGuard prefetchGuard(b);
          b.setInsertionPointToStart(prefetch.thenBlock());
          copyKeyTile(tileAt(next), nextStage);
        }
        auto [j0, j1] = keyRange(kt);
        SmallVector<Value> updated = emitKeyTileMMA(
            context, values, carried, stage, prevStage, j0, j1, full);
        updated.append({next, fullNext, nextStage, stage});
        scf::YieldOp::create(b, loc, updated);
      }
      // The last visited tile's value product.
      SmallVector<Value> results(loop.getResults());
      auto last = scf::IfOp::create(b, loc, ValueRange(state).getTypes(), any,
                                    /*withElseRegion=*/true);
      {
        OpBuilder::InsertionGuard lastGuard(b);
        b.setInsertionPointToStart(last.thenBlock());
        SmallVector<Value> finished(results.begin(),
                                    results.begin() + state.size());
        ArrayRef<Value> pLast =
            ArrayRef<Value>(results).slice(state.size(), keyTile / 16);
        SmallVector<Value> acc = emitValueProductMMA(
            context, ArrayRef<Value>(finished).take_front(dv / 8), pLast,
            results.back());
        std::copy(acc.begin(), acc.end(), finished.begin());
        scf::YieldOp::create(b, loc, finished);
        b.setInsertionPointToStart(last.elseBlock());
        scf::YieldOp::create(b, loc,
                             ArrayRef<Value>(results).take_front(state.size()));
      }
      scf::YieldOp::create(b, loc, last.getResults());
    }
    state.assign(nonEmpty.getResults().begin(), nonEmpty.getResults().end());
  }
  // Q's copy, where no key tile was visited (shared memory is reused by
  // the output tile, the split combine and the next item).
  if (useWGMMA)
    NVVM::CpAsyncWaitGroupOp::create(b, loc, 0);

  if (!splitCount) {
    storeRowsMMA(context, values, state, /*partial=*/false);
    return;
  }
  // Split keys: partial results and the combine, unless the launch asked
  // for one split.
  auto split = scf::IfOp::create(
      b, loc,
      arith::CmpIOp::create(b, loc, CmpIPredicate::ugt, splitCount, one),
      /*withElseRegion=*/true);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(split.thenBlock());
  storeRowsMMA(context, values, state, /*partial=*/true);
  emitSplitCombine(values);
  b.setInsertionPointToStart(split.elseBlock());
  storeRowsMMA(context, values, state, /*partial=*/false);
}

std::pair<Value, Value>
StreamingLowering::tileRowQuery(const LoopValues &values, Value r) {
  if (packedHeads == 1)
    return {values.head, r};
  Value groupSize = idx(packedHeads);
  return {arith::AddIOp::create(b, loc, values.head,
                                arith::RemUIOp::create(b, loc, r, groupSize)),
          arith::DivUIOp::create(b, loc, r, groupSize)};
}

/// The fields of an LLVM struct value.
static SmallVector<Value> structFields(OpBuilder &b, Location loc,
                                       Value value) {
  auto type = cast<LLVM::LLVMStructType>(value.getType());
  SmallVector<Value> fields;
  for (int64_t i = 0, n = type.getBody().size(); i < n; ++i)
    fields.push_back(LLVM::ExtractValueOp::create(b, loc, value, i));
  return fields;
}

/// `values` (f32 or i32 scalars) through an empty asm statement with side
/// effects: the results are defined where the statement is, so that the
/// registers of an asynchronous warpgroup MMA are neither read (its
/// accumulators) nor overwritten (its A fragments) before the wait that
/// precedes the statement.
static SmallVector<Value> pinRegisters(OpBuilder &b, Location loc,
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

void StreamingLowering::storeRowsMMA(const MMATileContext &context,
                                     const LoopValues &values,
                                     ArrayRef<Value> state, bool partial) {
  MMAEmitter e = context.e;
  Type f32Type = b.getF32Type();
  int64_t dv = staticValueDim;
  Layout ql = op.getQLayout();
  Value lane = e.rem(mmaThread, 32), inQuad = e.rem(lane, 4);
  Type outElement = cast<MemRefType>(out.getType()).getElementType();
  const double ln2 = std::log(2.0);
  // 16-bit outputs go through shared memory: a thread's accumulator pairs
  // are 4-byte pieces of 8 rows, stored straight they used a quarter of
  // each 32-byte sector written, and the stores were 11 % of the time of
  // a sliding window (M3, 17 key tiles per item) on the H100. Staged, the
  // tile leaves in 16-byte chunks of whole rows. The value stages hold it:
  // once every warp's last value product is done.
  bool staged = !partial && mb.o;
  // The staged stores' shared addresses (16 swizzled chunks per row) are
  // computed here from a pinned tile row and column: unpinned, LLVM hoists
  // them out of the loop of work items, and they held registers through
  // the key loop (128 x 128 tiles then spilled).
  Value stagedRows[2], colBase = context.colBase;
  if (staged) {
    Type i32 = b.getI32Type();
    auto toI32 = [&](Value x) -> Value {
      return arith::IndexCastOp::create(b, loc, i32, x);
    };
    auto toIndex = [&](Value x) -> Value {
      return arith::IndexCastOp::create(b, loc, b.getIndexType(), x);
    };
    SmallVector<Value> pinned = pinRegisters(
        b, loc, {toI32(context.tileRows[0]), toI32(context.colBase)});
    stagedRows[0] = toIndex(pinned[0]);
    stagedRows[1] = e.add(stagedRows[0], idx(8));
    colBase = toIndex(pinned[1]);
    gpu::BarrierOp::create(b, loc);
  }
  for (int64_t r = 0; r < 2; ++r) {
    Value row = context.rows[r], head = context.heads[r];
    Value tileRow = context.tileRows[r];
    Value m = state[dv / 8 + r];
    Value l = e.quadReduce(state[dv / 8 + 2 + r], /*max=*/false);
    Value any = arith::CmpFOp::create(b, loc, CmpFPredicate::OGT, l, f32(0.0));
    Value inverse = arith::SelectOp::create(
        b, loc, any, arith::DivFOp::create(b, loc, f32(1.0), l), f32(0.0));
    Value inRange = arith::CmpIOp::create(b, loc, CmpIPredicate::slt, row,
                                          values.queryEnd);
    // Staged rows past the queries are written and never copied out.
    OpBuilder::InsertionGuard guard(b);
    if (!staged)
      b.setInsertionPointToStart(
          scf::IfOp::create(b, loc, inRange, /*withElseRegion=*/false)
              .thenBlock());
    auto pairType = VectorType::get({2}, f32Type);
    Value inverse2 = vector::BroadcastOp::create(b, loc, pairType, inverse);
    // The output gate (not on split partials: the combine writes O, and
    // gated kernels are not split). Staged rows past the queries read the
    // gate of the tile's first query.
    // A per-head gate is one factor of the row, folded into 1/l.
    auto gate = dyn_cast_or_null<OutputGateAttr>(op.getGateAttr());
    bool gated = !partial && gate;
    bool perElement =
        gated && gate.getGranularity() == GateGranularity::element;
    Value gateRow = gated ? tokenAt(arith::SelectOp::create(
                                b, loc, inRange, row, values.queryBegin))
                          : Value();
    if (gated && !perElement)
      inverse2 = arith::MulFOp::create(
          b, loc, inverse2, outputGate(values.batch, gateRow, head, idx(0), 2));
    for (int64_t n = 0; n < dv / 8; ++n) {
      Value pair = vector::ExtractOp::create(b, loc, state[n],
                                             ArrayRef<int64_t>{r});
      pair = arith::MulFOp::create(b, loc, pair, inverse2);
      Value col = e.add(idx(8 * n), context.colBase);
      if (perElement)
        pair = arith::MulFOp::create(
            b, loc, pair, outputGate(values.batch, gateRow, head, col, 2));
      if (partial) {
        vector::StoreOp::create(b, loc, pair, workspace,
                                splitSlotOffset(splitIndex, tileRow, col));
        continue;
      }
      if (outElement != f32Type)
        pair = arith::TruncFOp::create(
            b, loc, VectorType::get({2}, outElement), pair);
      if (staged)
        vector::StoreOp::create(
            b, loc, pair, mb.o,
            ValueRange{
                idx(8 * n / kSlab), stagedRows[r],
                e.add(e.swizzle(idx(8 * n % kSlab), e.rem(stagedRows[r], 8)),
                      colBase)});
      else
        vector::StoreOp::create(
            b, loc, pair, out,
            indices(ql, values.batch, head, row, col, nullptr));
    }
    if (!lse && !partial)
      continue;
    Value natural = arith::AddFOp::create(
        b, loc, arith::MulFOp::create(b, loc, m, f32(ln2)),
        math::LogOp::create(b, loc, l));
    Value lseValue = arith::SelectOp::create(b, loc, any, natural, f32(-kInf));
    Value firstInQuad =
        arith::CmpIOp::create(b, loc, CmpIPredicate::eq, inQuad, idx(0));
    auto first = scf::IfOp::create(
        b, loc,
        staged ? arith::AndIOp::create(b, loc, firstInQuad, inRange)
               : firstInQuad,
        /*withElseRegion=*/false);
    b.setInsertionPointToStart(first.thenBlock());
    if (partial)
      memref::StoreOp::create(b, loc, lseValue, workspace,
                              splitSlotOffset(splitIndex, tileRow, nullptr));
    else
      memref::StoreOp::create(b, loc, lseValue, lse,
                              ValueRange{values.batch, head, tokenAt(row)});
  }
  if (!staged)
    return;
  // Whole rows in 16-byte chunks (the runtime checks that O is 16-byte
  // aligned; rows are dv elements, a multiple of 8).
  gpu::BarrierOp::create(b, loc);
  int64_t chunksPerRow = dv / kChunk, threads = mmaThreads();
  auto chunkType = VectorType::get({kChunk}, outElement);
  for (int64_t c = 0; c < mmaQueryTile * chunksPerRow; c += threads) {
    Value chunk = e.add(mmaThread, idx(c));
    Value tileRow = e.div(chunk, chunksPerRow);
    Value col = e.mul(e.rem(chunk, chunksPerRow), idx(kChunk));
    auto [head, query] = tileRowQuery(values, tileRow);
    Value row = e.add(values.queryBegin, query);
    auto inRange = scf::IfOp::create(
        b, loc,
        arith::CmpIOp::create(b, loc, CmpIPredicate::slt, row, values.queryEnd),
        /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(inRange.thenBlock());
    Value x = vector::LoadOp::create(
        b, loc, chunkType, mb.o,
        ValueRange{e.div(col, kSlab), tileRow,
                   e.swizzle(e.rem(col, kSlab), e.rem(tileRow, 8))});
    vector::StoreOp::create(b, loc, x, out,
                            indices(ql, values.batch, head, row, col, nullptr),
                            /*nontemporal=*/false, llvm::MaybeAlign(16));
  }
}

/// The m16n8 accumulator fragments (vector<2x2xf32>) of a thread's wgmma
/// accumulator registers: element i is n-tile i / 4, row half (i % 4) / 2,
/// column i % 2.
static SmallVector<Value> accumulatorFragments(OpBuilder &b, Location loc,
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

/// Waits for the value product in flight (the last wgmma group) and
/// returns its accumulators (`pending`, wgmma order) as m16n8 fragments.
static SmallVector<Value> completeValuesWGMMA(OpBuilder &b, Location loc,
                                              ArrayRef<Value> pending) {
  NVVM::WgmmaWaitGroupSyncOp::create(b, loc, 0);
  return accumulatorFragments(b, loc, pinRegisters(b, loc, pending));
}

/// An A fragment through pinRegisters.
static Value pinFragment(OpBuilder &b, Location loc, Value fragment) {
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

SmallVector<Value> StreamingLowering::emitKeyTileMMA(
    MMATileContext &context, const LoopValues &values, ValueRange carried,
    Value stage, Value prevStage, Value j0, Value j1, Value full) {
  MMAEmitter &e = context.e;
  Value *rows = context.rows;
  Value colBase = context.colBase, lane8 = context.lane8,
        ldGroup = context.ldGroup;
  ArrayRef<Value> qFrag = context.qFrag;
  Type f32Type = b.getF32Type();
  auto accType = VectorType::get({2, 2}, f32Type);
  int64_t d = staticHeadDim, dv = staticValueDim;
  Value accZero = arith::ConstantOp::create(b, loc, b.getZeroAttr(accType));

  // Without score modifiers and with a positive scale, the scale stays
  // out of S: the row maximum is scaled once, and exp2 takes s * scale - m
  // as one FMA.
  std::optional<APFloat> staticScale = op.getScale();
  bool fold = !context.scoreMods &&
              (!staticScale || staticScale->convertToDouble() > 0.0);
  Value factor = fold ? context.scoreScale : f32(1.0);

  // The previous tile's O += P V and this tile's S = Q K^T. On sm_90a
  // both are warpgroup MMAs issued together (S from shared memory, P from
  // registers): the value product runs while this tile's mask and softmax
  // do (`pending`: its accumulators), and is waited for before O is
  // rescaled. Else m16n8k16 MMAs, two n-tiles of 8 keys per ldmatrix.
  SmallVector<Value> pPrev(carried.drop_front(dv / 8 + 4));
  auto products = [&](SmallVector<Value> &acc, SmallVector<Value> &pending) {
    SmallVector<Value> s(keyTile / 8, accZero);
    if (useWGMMA) {
      NVVM::WgmmaFenceAlignedOp::create(b, loc);
      Value scores = issueScoresWGMMA(stage);
      pending = issueValuesWGMMA(pPrev, prevStage, acc);
      NVVM::WgmmaWaitGroupSyncOp::create(b, loc, 1);
      s = accumulatorFragments(
          b, loc, pinRegisters(b, loc, structFields(b, loc, scores)));
    } else {
      acc = emitValueProductMMA(context, acc, pPrev, prevStage);
      Value kRow = e.add(e.mul(e.div(ldGroup, 2), idx(8)), lane8);
      Value kCol = e.mul(e.rem(ldGroup, 2), idx(kChunk));
      e.product(s, qFrag, mb.k, stage, keyTile / 16, d / 16,
                /*transpose=*/false, lane8, [&](int64_t n2, int64_t ks) {
                  return std::tuple{e.add(idx(16 * n2), kRow), 16 * ks, kCol};
                });
    }
    if (!fold) {
      Value scale2 =
          vector::BroadcastOp::create(b, loc, accType, context.scoreScale);
      for (Value &x : s)
        x = arith::MulFOp::create(b, loc, x, scale2);
    }
    return s;
  };

  // Per element: (row, key) of element (n, r, c) of the accumulators.
  // In the tiles at the edges, rows past the query tile and keys past the
  // sequence are clamped to the last ones before the mask and the
  // modifiers read their operands (their results are never stored, or
  // masked below); interior tiles read them as they are.
  auto elements = [&](ArrayRef<Value> in, bool withMask, bool clamp) {
    SmallVector<Value> result(in.begin(), in.end());
    Value lastKey, lastRow;
    Value atRows[2] = {rows[0], rows[1]};
    if (clamp) {
      lastKey = arith::SubIOp::create(b, loc, values.keyLen, idx(1));
      lastRow = arith::SubIOp::create(b, loc, values.queryEnd, idx(1));
      for (Value &row : atRows)
        row = arith::MinSIOp::create(b, loc, row, lastRow);
    }
    // A key tile that is one patch (the keys are then never past the
    // end): its origin on the grid, and each column's grid coordinates
    // as constant offsets from it, so that the mask's per-axis tests are
    // shared by the columns of a grid row or column.
    Value patchRow, patchCol;
    int64_t pw = patches.empty() ? 0 : patches[1];
    if (!patches.empty() && keyTile == patches[0] * patches[1])
      std::tie(patchRow, patchCol) =
          patchCoordinates(b, loc, j0, patches, patchGridCols);
    // Element (n, r, c): the key of column 8 n + c (once for both rows;
    // with token lists the column's entry gives the key, clamped, and
    // whether it counts) against row r.
    auto element = [&](int64_t n, int64_t r, int64_t c) {
      Value key = e.add(e.add(j0, idx(8 * n + c)), colBase), listed;
      Value keyRow, keyCol;
      if (patchRow) {
        // Offset 8 n + c + colBase (colBase + c < 8) in the patch.
        Value inside = e.add(colBase, idx(c));
        if (pw % 8 == 0) {
          keyRow = e.add(patchRow, idx(8 * n / pw));
          keyCol = e.add(patchCol, e.add(inside, idx(8 * n % pw)));
        } else {
          Value offset = e.add(inside, idx(8 * n));
          keyRow = e.add(patchRow, e.div(offset, pw));
          keyCol = e.add(patchCol, e.rem(offset, pw));
        }
      }
      if (tokenTiles)
        std::tie(key, listed) = listedKey(values, key, j1);
      Value atKey =
          clamp && !tokenTiles
              ? arith::MinSIOp::create(b, loc, key, lastKey).getResult()
              : key;
      LoopValues at = values;
      at.query = atRows[r];
      at.head = context.heads[r];
      at.key = atKey;
      at.keyRow = keyRow;
      at.keyCol = keyCol;
      ElementEmitter emitter(b, loc, at, maskOps);
      if (keySelection) // the loop visits the listed tiles only
        emitter.assumeSelected(keySelection->operand);
      Value x =
          vector::ExtractOp::create(b, loc, result[n], ArrayRef<int64_t>{r, c});
      if (withMask) {
        Value allowed =
            emitter.emitMask(op.getMaskAttr(), op.getPredicate(), captures);
        if (listed)
          allowed = arith::AndIOp::create(b, loc, allowed, listed);
        else if (!patchRow)
          allowed = arith::AndIOp::create(
              b, loc, allowed,
              arith::CmpIOp::create(b, loc, CmpIPredicate::slt, key, j1));
        x = arith::SelectOp::create(b, loc, allowed, x, f32(-kInf));
      } else {
        x = emitter.emitScore(x, op.getScoreAttr(), scoreOps, op.getScoreFn(),
                              captures);
        x = arith::MulFOp::create(b, loc, x, f32(1.0 / std::log(2.0)));
      }
      result[n] = vector::InsertOp::create(b, loc, x, result[n],
                                           ArrayRef<int64_t>{r, c});
    };
    // Row by row in a patch (the row's window tests die with it), else
    // column by column (the column's key serves both rows).
    for (int64_t r = 0; patchRow && r < 2; ++r)
      for (int64_t n = 0; n < keyTile / 8; ++n)
        for (int64_t c = 0; c < 2; ++c)
          element(n, r, c);
    for (int64_t n = 0; !patchRow && n < keyTile / 8; ++n)
      for (int64_t c = 0; c < 2; ++c)
        for (int64_t r = 0; r < 2; ++r)
          element(n, r, c);
    return result;
  };
  // Token tiles: rows past the query's heads are always clamped.
  Value edge = arith::OrIOp::create(
      b, loc,
      arith::CmpIOp::create(b, loc, CmpIPredicate::ne,
                            arith::SubIOp::create(b, loc, j1, j0),
                            idx(keyTile)),
      arith::CmpIOp::create(
          b, loc, CmpIPredicate::ne,
          arith::SubIOp::create(b, loc, values.queryEnd, values.queryBegin),
          idx(queryTile)));
  // Token tiles always test their entries (and rows past a tile of one
  // query's heads).
  if (tokenTiles)
    edge = arith::ConstantIntOp::create(b, loc, 1, 1);
  auto elementwise = [&](ArrayRef<Value> in, bool withMask) {
    auto edgeIf = scf::IfOp::create(b, loc, ValueRange(in).getTypes(), edge,
                                    /*withElseRegion=*/true);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(edgeIf.thenBlock());
    scf::YieldOp::create(b, loc, elements(in, withMask, /*clamp=*/true));
    b.setInsertionPointToStart(edgeIf.elseBlock());
    scf::YieldOp::create(b, loc, elements(in, withMask, /*clamp=*/false));
    return SmallVector<Value>(edgeIf.getResults());
  };
  // Partial tiles: the mask, and keys past the end.
  Value whole = arith::CmpIOp::create(b, loc, CmpIPredicate::eq,
                                      arith::SubIOp::create(b, loc, j1, j0),
                                      idx(keyTile));
  Value partial = arith::XOrIOp::create(
      b, loc, arith::AndIOp::create(b, loc, full, whole),
      arith::ConstantIntOp::create(b, loc, 1, 1));
  // The online softmax of scores `s`, then O (`acc`, the previous tile's
  // value product pending on sm_90a) rescaled, and P.
  auto softmax = [&](SmallVector<Value> s, SmallVector<Value> acc,
                     ArrayRef<Value> pending) -> SmallVector<Value> {
    // Online softmax per row (two rows per thread).
    SmallVector<Value> next;
    Value alpha[2], m[2], l[2];
    for (int64_t r = 0; r < 2; ++r) {
      Value rowMax = f32(-kInf);
      for (Value x : s)
        for (int64_t c = 0; c < 2; ++c)
          rowMax = arith::MaximumFOp::create(
              b, loc, rowMax,
              vector::ExtractOp::create(b, loc, x, ArrayRef<int64_t>{r, c}));
      rowMax = e.quadReduce(rowMax, /*max=*/true);
      if (fold)
        rowMax = arith::MulFOp::create(b, loc, rowMax, factor);
      Value mOld = carried[dv / 8 + r];
      m[r] = arith::MaximumFOp::create(b, loc, mOld, rowMax);
      // A row without an allowed key so far keeps m = -inf; subtract 0.
      Value safe = arith::SelectOp::create(
          b, loc,
          arith::CmpFOp::create(b, loc, CmpFPredicate::OEQ, m[r], f32(-kInf)),
          f32(0.0), m[r]);
      alpha[r] = math::Exp2Op::create(
          b, loc, arith::SubFOp::create(b, loc, mOld, safe));
      Value rowSum = f32(0.0);
      auto pairType = VectorType::get({2}, f32Type);
      Value negSafe2 = vector::BroadcastOp::create(
          b, loc, pairType, arith::NegFOp::create(b, loc, safe));
      Value factor2 = vector::BroadcastOp::create(b, loc, pairType, factor);
      for (Value &x : s) {
        Value row = vector::ExtractOp::create(b, loc, x, ArrayRef<int64_t>{r});
        Value p = math::Exp2Op::create(
            b, loc, math::FmaOp::create(b, loc, row, factor2, negSafe2));
        x = vector::InsertOp::create(b, loc, p, x, ArrayRef<int64_t>{r});
        for (int64_t c = 0; c < 2; ++c)
          rowSum = arith::AddFOp::create(
              b, loc, rowSum,
              vector::ExtractOp::create(b, loc, p, ArrayRef<int64_t>{c}));
      }
      l[r] = arith::AddFOp::create(
          b, loc,
          arith::MulFOp::create(b, loc, carried[dv / 8 + 2 + r], alpha[r]),
          rowSum);
    }
    Value alphaVec = vector::FromElementsOp::create(
        b, loc, accType, ValueRange{alpha[0], alpha[0], alpha[1], alpha[1]});
    // O *= alpha only where a row maximum of the warp changed: once the
    // maxima settle (most tiles of a long row), the warp skips the
    // rescale, a multiply per accumulator — as many as the tile's exps.
    Value settled =
        arith::AndIOp::create(b, loc,
                              arith::CmpFOp::create(b, loc, CmpFPredicate::OEQ,
                                                    m[0], carried[dv / 8]),
                              arith::CmpFOp::create(b, loc, CmpFPredicate::OEQ,
                                                    m[1], carried[dv / 8 + 1]));
    Value warpSettled = NVVM::VoteSyncOp::create(
        b, loc, b.getI1Type(), arith::ConstantIntOp::create(b, loc, -1, 32),
        settled, NVVM::VoteSyncKind::all);
    // The value product's wait inside both sides of the branch: ptxas
    // schedules a wgmma wait by its own latency model within a block (it
    // put this one among the first exps, serializing the product with the
    // softmax), but does not move it above the block's end.
    auto completed = [&]() -> SmallVector<Value> {
      return useWGMMA ? completeValuesWGMMA(b, loc, pending) : acc;
    };
    auto rescale = scf::IfOp::create(b, loc, ValueRange(acc).getTypes(),
                                     warpSettled, /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(rescale.thenBlock());
      scf::YieldOp::create(b, loc, completed());
      b.setInsertionPointToStart(rescale.elseBlock());
      SmallVector<Value> scaled = completed();
      for (Value &x : scaled)
        x = arith::MulFOp::create(b, loc, x, alphaVec);
      scf::YieldOp::create(b, loc, scaled);
    }
    acc.assign(rescale.getResults().begin(), rescale.getResults().end());

    // P as A fragments: keys 16t .. 16t + 15 are n-tiles 2t and 2t + 1.
    Type element = e.element;
    auto halfType = VectorType::get({2, 2}, element);
    SmallVector<Value> pFrag;
    for (int64_t t = 0; t < keyTile / 16; ++t) {
      Value a = arith::ConstantOp::create(
          b, loc, b.getZeroAttr(VectorType::get({4, 2}, element)));
      for (int64_t h = 0; h < 2; ++h)
        a = e.insertRows(
            arith::TruncFOp::create(b, loc, halfType, s[2 * t + h]), a, 2 * h);
      pFrag.push_back(a);
    }
    // P is read by the next iteration's value product, while it runs: its
    // registers are defined after this tile's last wait.
    if (useWGMMA)
      for (Value &a : pFrag)
        a = pinFragment(b, loc, a);
    next = acc;
    next.append({m[0], m[1], l[0], l[1]});
    next.append(pFrag);
    return next;
  };
  SmallVector<Value> acc(carried.begin(), carried.begin() + dv / 8), pending;
  SmallVector<Value> s = products(acc, pending);
  if (context.scoreMods)
    s = elementwise(s, /*withMask=*/false);
  auto masked = scf::IfOp::create(b, loc, ValueRange(s).getTypes(), partial,
                                  /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(masked.thenBlock());
    scf::YieldOp::create(b, loc, elementwise(s, /*withMask=*/true));
    b.setInsertionPointToStart(masked.elseBlock());
    scf::YieldOp::create(b, loc, s);
  }
  s.assign(masked.getResults().begin(), masked.getResults().end());
  if (mmaPyramid())
    s = pyramidMeansMMA(values, s, j0);
  return softmax(s, acc, pending);
}

SmallVector<Value>
StreamingLowering::emitValueProductMMA(MMATileContext &context,
                                       ArrayRef<Value> acc,
                                       ArrayRef<Value> pFrag, Value stage) {
  if (useWGMMA) {
    NVVM::WgmmaFenceAlignedOp::create(b, loc);
    return completeValuesWGMMA(b, loc, issueValuesWGMMA(pFrag, stage, acc));
  }
  // V^T fragments by transposing ldmatrix.
  MMAEmitter &e = context.e;
  Value vRow = e.add(e.mul(e.rem(context.ldGroup, 2), idx(8)), context.lane8);
  Value vCol = e.mul(e.div(context.ldGroup, 2), idx(kChunk));
  SmallVector<Value> result(acc.begin(), acc.end());
  e.product(result, pFrag, mb.v, stage, staticValueDim / 16, keyTile / 16,
            /*transpose=*/true, context.lane8, [&](int64_t n2, int64_t t) {
              return std::tuple{e.add(idx(16 * t), vRow), 16 * n2, vCol};
            });
  return result;
}

/// The shared-memory byte address (i64) of stage `stage` of `memref`,
/// stages `stageBytes` apart.
static Value sharedAddress(OpBuilder &b, Location loc, Value memref,
                           Value stage, int64_t stageBytes) {
  Type i64 = b.getI64Type();
  Value base = arith::IndexCastOp::create(
      b, loc, i64, memref::ExtractAlignedPointerAsIndexOp::create(b, loc, memref));
  if (!stage)
    return base;
  return arith::AddIOp::create(
      b, loc, base,
      arith::MulIOp::create(b, loc, arith::IndexCastOp::create(b, loc, i64, stage),
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
  auto type = NVVM::WGMMATypesAttr::get(
      context, element.isBF16() ? NVVM::WGMMATypes::bf16 : NVVM::WGMMATypes::f16);
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
    Value result = LLVM::InlineAsmOp::create(
                       b, loc, structType, operands, text, constraints,
                       /*has_side_effects=*/true, /*is_align_stack=*/false,
                       LLVM::tailcallkind::TailCallKind::None,
                       LLVM::AsmDialectAttr::get(b.getContext(),
                                                 LLVM::AsmDialect::AD_ATT),
                       ArrayAttr())
                       .getRes();
    regs = structFields(b, loc, result);
  }
  NVVM::WgmmaGroupSyncAlignedOp::create(b, loc);
  return regs;
}

std::pair<Value, Value>
StreamingLowering::emitDenseTileSummary(const LoopValues &values, Value j0,
                                        Value j1) {
  Value mask = maskOps.front();
  auto type = cast<MemRefType>(mask.getType());
  ArrayRef<int64_t> shape = type.getShape();
  int64_t keys = shape[3];
  Type i1 = b.getI1Type(), i64 = b.getI64Type();
  auto boolean = [&](bool x) -> Value {
    return arith::ConstantIntOp::create(b, loc, x ? 1 : 0, 1);
  };
  Value bIndex = shape[0] == 1 ? idx(0) : values.batch;
  Value hIndex = shape[1] == 1 ? idx(0) : values.head;
  Value base = memref::ExtractAlignedPointerAsIndexOp::create(b, loc, mask);
  Value aligned = arith::CmpIOp::create(
      b, loc, CmpIPredicate::eq,
      arith::RemUIOp::create(b, loc, base, idx(16)), idx(0));
  auto rows = [&](function_ref<std::pair<Value, Value>(Value, Value, Value)>
                      body) {
    auto loop = scf::ForOp::create(b, loc, values.queryBegin, values.queryEnd,
                                   idx(1), ValueRange{boolean(false),
                                                      boolean(true)});
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    auto [any, all] = body(loop.getInductionVar(), loop.getRegionIterArgs()[0],
                           loop.getRegionIterArgs()[1]);
    scf::YieldOp::create(b, loc, ValueRange{any, all});
    return std::pair<Value, Value>{loop.getResult(0), loop.getResult(1)};
  };
  // Aligned masks (rows of a multiple of 16 bytes): 16 flags per load, and
  // kUnroll rows per step (rows past the tile repeat its last, which
  // changes neither any nor all), so that a thread has kUnroll * 4 loads in
  // flight: one row at a time, the tile tests were latency-bound (M12 at
  // a sixth of FlexAttention's speed). The chunks stay words: their OR
  // says whether any flag is set, and a word has a zero byte exactly when
  // (w - 0x01010101) & ~w & 0x80808080 is not zero — four operations per
  // word where a comparison and two reductions per byte were a fifth of
  // M12's time.
  constexpr int64_t kUnroll = 8;
  auto summary = scf::IfOp::create(b, loc, TypeRange{i1, i1}, aligned,
                                   /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(summary.thenBlock());
    auto wordsType = VectorType::get({4}, b.getI32Type());
    auto splat = [&](uint32_t x) -> Value {
      return arith::ConstantOp::create(
          b, loc, DenseElementsAttr::get(wordsType, APInt(32, x)));
    };
    Value noBits = splat(0), ones = splat(0x01010101u),
          highs = splat(0x80808080u), allBits = splat(0xffffffffu);
    Value lastRow = arith::SubIOp::create(b, loc, values.queryEnd, idx(1));
    Value rowBase = arith::MulIOp::create(
        b, loc,
        arith::AddIOp::create(
            b, loc, arith::MulIOp::create(b, loc, bIndex, idx(shape[1])),
            hIndex),
        idx(shape[2]));
    auto loop = scf::ForOp::create(b, loc, values.queryBegin, values.queryEnd,
                                   idx(kUnroll), ValueRange{noBits, noBits});
    {
      OpBuilder::InsertionGuard loopGuard(b);
      b.setInsertionPointToStart(loop.getBody());
      Value set = loop.getRegionIterArgs()[0],
            zeroByte = loop.getRegionIterArgs()[1];
      for (int64_t u = 0; u < kUnroll; ++u) {
        Value i = arith::MinSIOp::create(
            b, loc,
            arith::AddIOp::create(b, loc, loop.getInductionVar(), idx(u)),
            lastRow);
        Value row = arith::AddIOp::create(
            b, loc,
            arith::MulIOp::create(
                b, loc, arith::AddIOp::create(b, loc, rowBase, i), idx(keys)),
            base);
        for (int64_t c = 0; c < keyTile / 16; ++c) {
          // Chunks past the key range read the tile's first chunk again
          // (which changes neither summary).
          Value column = arith::AddIOp::create(b, loc, j0, idx(16 * c));
          Value at = arith::AddIOp::create(
              b, loc, row,
              arith::SelectOp::create(
                  b, loc,
                  arith::CmpIOp::create(b, loc, CmpIPredicate::slt, column, j1),
                  column, j0));
          Value pointer = LLVM::IntToPtrOp::create(
              b, loc, LLVM::LLVMPointerType::get(b.getContext()),
              ValueRange{arith::IndexCastOp::create(b, loc, i64, at)});
          Value w = LLVM::LoadOp::create(b, loc, wordsType, pointer,
                                         /*alignment=*/16);
          set = arith::OrIOp::create(b, loc, set, w);
          Value notW = arith::XOrIOp::create(b, loc, w, allBits);
          zeroByte = arith::OrIOp::create(
              b, loc, zeroByte,
              arith::AndIOp::create(
                  b, loc,
                  arith::AndIOp::create(
                      b, loc, arith::SubIOp::create(b, loc, w, ones), notW),
                  highs));
        }
      }
      scf::YieldOp::create(b, loc, ValueRange{set, zeroByte});
    }
    auto reduced = [&](Value x) -> Value {
      return vector::ReductionOp::create(b, loc, vector::CombiningKind::OR, x);
    };
    Value zero32 = arith::ConstantIntOp::create(b, loc, 0, 32);
    scf::YieldOp::create(
        b, loc,
        ValueRange{arith::CmpIOp::create(b, loc, CmpIPredicate::ne,
                                         reduced(loop.getResult(0)), zero32),
                   arith::CmpIOp::create(b, loc, CmpIPredicate::eq,
                                         reduced(loop.getResult(1)), zero32)});
  }
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(summary.elseBlock());
    auto [any, all] = rows([&](Value i, Value any, Value all) {
      auto keysLoop =
          scf::ForOp::create(b, loc, j0, j1, idx(1), ValueRange{any, all});
      OpBuilder::InsertionGuard inner(b);
      b.setInsertionPointToStart(keysLoop.getBody());
      Value x = memref::LoadOp::create(
          b, loc, mask,
          ValueRange{bIndex, hIndex, i, keysLoop.getInductionVar()});
      scf::YieldOp::create(
          b, loc,
          ValueRange{
              arith::OrIOp::create(b, loc, keysLoop.getRegionIterArgs()[0], x),
              arith::AndIOp::create(b, loc, keysLoop.getRegionIterArgs()[1],
                                    x)});
      return std::pair<Value, Value>{keysLoop.getResult(0),
                                     keysLoop.getResult(1)};
    });
    scf::YieldOp::create(b, loc, ValueRange{any, all});
  }
  return {summary.getResult(0), summary.getResult(1)};
}

//===- MMAPlan.cpp - what the tensor-core body takes ----------------------===//
//
// The decisions of the tensor-core body, made before any IR is emitted:
// whether an op takes it, its tile (64 x 64, or 128 x 128 on two
// warpgroups), packed GQA heads, token tiles, heads sharing runtime tile
// tests, and the layout of its dynamic shared memory.
//
//===----------------------------------------------------------------------===//

#include "MMABody.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::attn;

using arith::CmpIPredicate;

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
/// at most a few partial tiles in closed form: no mask, causal diagonals,
/// key prefixes, and their unions and intersections; explicit masks and
/// document ids, which cut tiles at run time only.
static bool longKeyRanges(Attribute mask) {
  if (!mask || isa<CausalAttr, KeyPrefixAttr, DenseAttr, DocumentAttr>(mask))
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

/// Whether `mask` is a block list alone whose blocks hold whole 128 x 128
/// tiles: every listed block is all allowed, so the 128 x 128 body visits
/// its tiles in list order with no mask work (M12 as a BlockMask).
static bool wholeTileBlockList(Attribute mask) {
  auto blocks = dyn_cast_or_null<BlocksAttr>(mask);
  return blocks && blocks.getQBlock() % 128 == 0 &&
         blocks.getKBlock() % 128 == 0;
}

bool StreamingLowering::plainMMABody() {
  int64_t queries = cast<RankedTensorType>(op.getQuery().getType())
                        .getDimSize(dimOrder(op.getQLayout()).seq);
  Attribute mask = op.getMaskAttr();
  return useWGMMA && (!findKeySelection(mask) || wholeTileBlockList(mask)) &&
         op.getPredicate().empty() && !op.getResidueGroups() &&
         !op.getPatches() && op.getKvLayout() != Layout::paged &&
         (ShapedType::isDynamic(queries) || queries >= 128);
}

std::pair<int64_t, int64_t> StreamingLowering::chooseMMATile() {
  // 128 x 128 tiles: two warpgroups of 64 rows share each K/V tile of 128
  // keys (Q 32 KB and three stages of 64 KB: 224 KB, one block per SM).
  // On the H100 (bf16, D = 128, against 64 x 64 tiles with two blocks per
  // SM, two runs; docs/benchmarks.md): dense +3-15 %, causal -2 to +21 %,
  // causal with a prefix 0-9 %, with ALiBi or a softcap -7 to +5 %, a
  // 1024-key window -1 to -5 %; D = 64 -6 to -26 %; 128-key tiles with
  // one warpgroup -10 to -48 %. 128 keys only where the body is plain: no
  // token lists or pyramids, no block lists but one alone of whole
  // 128 x 128 tiles (the others' blocks are checked against 64-key
  // tiles), contiguous K/V, and enough queries to fill 128 rows (which
  // also rules out packed heads). With TMA loads over skipped tiles (A/B
  // against 64 x 64 on the H100, D = 128): a block list of 128 x 128
  // blocks +22-26 %, an explicit mask +8-16 % at S = 16K and the same at
  // 4K, documents +10 % at 16K and -8 % at 4K (short documents; at 16K
  // only the large tile keeps them above FlexAttention).
  auto type = [](Value x) { return cast<RankedTensorType>(x.getType()); };
  int64_t d = type(op.getQuery()).getShape().back();
  int64_t dv = type(op.getValue()).getShape().back();
  bool plain = plainMMABody();
  Attribute mask = op.getMaskAttr();
  bool large = plain && d == 128 && dv == 128 &&
               (longKeyRanges(mask) || wholeTileBlockList(mask));
  // Runtime tile tests keep two bit vectors over the key tiles (rounded
  // up to 16 bytes, and a 16-byte tag) next to Q, the K/V stages and the
  // TMA barriers (mmaSharedBytes): 128 x 128 tiles where they fit in the
  // 227 KiB a block may have (up to about 1.5M static keys).
  constexpr int64_t kMaxSharedBytes = 227 * 1024;
  constexpr int64_t kLargeTileBytes = 2 * (128 * 128 + kStages * 128 * 256) +
                                      8 * (kStages + 1) + 4 * kStages + 4;
  if (large && kLargeTileBytes + 8 * flagWords(128) + 32 > kMaxSharedBytes)
    large = false;
  int64_t rows = requestedMMARows ? requestedMMARows : large ? 128 : 64;
  int64_t keys = requestedMMAKeys ? requestedMMAKeys : large ? 128 : 64;
  return {rows, plain ? keys : kMMAKeyTile};
}

int64_t StreamingLowering::staticHeadGroup() {
  auto type = [](Value x) { return cast<RankedTensorType>(x.getType()); };
  Layout kl = op.getKvLayout();
  int64_t queryHeads =
      type(op.getQuery()).getDimSize(dimOrder(op.getQLayout()).head);
  int64_t keyHeads =
      type(op.getKey()).getDimSize(kl == Layout::paged ? 2 : dimOrder(kl).head);
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

/// Whether every leaf over runtime data is a document mask with its ids'
/// ranges (attn.id_ranges): its tile tests read an entry per 64 tokens.
static bool rangedDocumentsOnly(Attribute mask) {
  bool only = true;
  if (mask)
    mask.walk([&](Attribute attr) {
      if (auto document = dyn_cast<DocumentAttr>(attr))
        only &= document.getRanges();
      else if (isa<KeepAttr, PyramidAttr>(attr))
        only = false;
    });
  return only;
}

int64_t StreamingLowering::chooseMaskSharingHeads() {
  bool dense = denseMaskFlags();
  bool runtime = computeRuntimeTileTest(op.getMaskAttr()).has_value();
  // A summary computed once per call has nothing to share: M6 with ids'
  // ranges on 128-row tiles (D = 128) with 1 and 2 heads per block ran at
  // 203-205 and 198-201 TFLOP/s at S = 4K, 379-384 and 376-380 at 16K
  // (H100, both orders).
  if ((!dense && !runtime) || denseMaskTiles() ||
      (runtime && rangedDocumentsOnly(op.getMaskAttr())) || packedHeads != 1 ||
      tokenTiles || op.getQLayout() == Layout::thd ||
      op.getKvLayout() == Layout::paged)
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
  // fewer, longer blocks balance worse. Document ids were up to 4: M6 (8
  // documents, causal) with 1, 2, 4, 8 heads per block ran at 139, 179,
  // 179, 152 TFLOP/s at S = 16K, D = 64 and 228, 248, 262, 232 at D = 128
  // (their tests are cheaper than a mask's rows, a document's items short).
  // Since their tests read four ids per load and items start and end
  // sooner, fewer: 1 on 64-row tiles, 2 on 128-row tiles. G = 1, 2, 4 took
  // 169, 170-173, 157-158 TFLOP/s at S = 4K and 254, 241, 221-222 at 16K
  // on 64-row tiles (D = 64); 191, 197-198, 190 and 357-361, 367, 347-348
  // on 128-row tiles (D = 128; H100, two runs in both orders).
  int64_t runtimeCap = mmaQueryTile >= 128 ? 2 : 1;
  int64_t group = std::min<int64_t>(heads, dense ? 8 : runtimeCap);
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

int64_t StreamingLowering::mmaFlagWords() { return flagWords(keyTile); }

int64_t StreamingLowering::flagWords(int64_t tile) {
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
  return ((keys + tile - 1) / tile + 31) / 32;
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
  // Q, then the stages of K and of V (2-byte elements; at least the split
  // combine's bytes), then the tile flags (a byte per key tile), then the
  // TMA loads' barriers.
  int64_t tiles = 2 * (mmaQueryTile * d + kStages * keyTile * (d + dv));
  if (splitKeys)
    tiles = std::max(tiles, splitCombineBytes());
  return tiles + mmaTileFlags() + tmaSharedBytes();
}

void StreamingLowering::allocateMMABuffers() {
  auto workgroup =
      gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup);
  Type element = cast<MemRefType>(q.getType()).getElementType();
  Value raw = mb.raw = gpu::DynamicSharedMemoryOp::create(
      b, loc,
      MemRefType::get({ShapedType::kDynamic}, b.getI8Type(),
                      MemRefLayoutAttrInterface{}, workgroup));
  int64_t offset = 0;
  auto view = [&](ArrayRef<int64_t> shape) -> Value {
    auto type =
        MemRefType::get(shape, element, MemRefLayoutAttrInterface{}, workgroup);
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
  if (splitKeys)
    offset = std::max(offset, splitCombineBytes());
  tmaBarrierOffset = offset + mmaTileFlags();
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

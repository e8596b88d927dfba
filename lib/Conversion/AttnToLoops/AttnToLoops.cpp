//===- AttnToLoops.cpp - attn.attention to a streaming loop nest ----------===//
//
// Lowers attn.attention to the FlashAttention-2 recurrence as scf loops on
// buffers: for every (batch, head, query tile) the key tiles of the closed-
// form tile classification are streamed with an online softmax; key tiles
// outside the hull are never visited, full tiles skip the mask, partial
// tiles evaluate it per element. No Sq x Sk buffer exists.
//
// This is the first, scalar form of the loop nest: the tile loops and the
// classification are final, the per-element body is what the vectorized
// CPU and the nvgpu lowerings replace.
//
//===----------------------------------------------------------------------===//

#include "StreamingLowering.h"
#include "attn/Analysis/TileClassification.h"
#include "attn/Conversion/AttnToLoops/ElementEmitter.h"
#include "attn/Conversion/Passes.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"
#include "llvm/ADT/ScopeExit.h"

#include <limits>

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNLOWERTOLOOPSPASS
#include "attn/Conversion/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

using arith::CmpFPredicate;
using arith::CmpIPredicate;

Value StreamingLowering::toBuffer(Value value) {
  auto tensor = dyn_cast<RankedTensorType>(value.getType());
  if (!tensor)
    return value;
  auto type = MemRefType::get(tensor.getShape(), tensor.getElementType());
  return bufferization::ToBufferOp::create(b, loc, type, value,
                                           /*read_only=*/true);
}

SmallVector<Value> StreamingLowering::toBuffers(ValueRange values) {
  return llvm::map_to_vector(values, [&](Value x) { return toBuffer(x); });
}

LogicalResult StreamingLowering::checkSupport() {
  Layout ql = op.getQLayout(), kl = op.getKvLayout();
  if ((ql == Layout::thd) != (kl == Layout::thd))
    return op.emitOpError("expected the streaming lowering to support layout ")
           << stringifyLayout(ql) << "/" << stringifyLayout(kl)
           << " (not implemented yet)";
  if (op.getTopkCounts())
    return op.emitOpError("expected the streaming lowering to support top-k "
                          "results (not implemented yet)");
  return success();
}

LogicalResult StreamingLowering::lower() {
  if (failed(checkSupport()))
    return failure();
  b.setInsertionPoint(op);
  q = toBuffer(op.getQuery());
  k = toBuffer(op.getKey());
  v = toBuffer(op.getValue());
  maskOps = toBuffers(op.getMaskOperands());
  scoreOps = toBuffers(op.getScoreOperands());
  normOps = toBuffers(op.getNormOperands());
  gateOps = toBuffers(op.getGateOperands());
  captures = llvm::to_vector(op.getCaptures());
  if (op.getCuSeqlensQ()) {
    cuQuery = toBuffer(op.getCuSeqlensQ());
    cuKey = toBuffer(op.getCuSeqlensKv());
  }
  if (op.getBlockTable()) {
    blockTable = toBuffer(op.getBlockTable());
    kvLens = toBuffer(op.getKvLens());
  }

  bool packed = op.getQLayout() == Layout::thd;
  DimOrder qo = dimOrder(op.getQLayout());
  auto outType = cast<RankedTensorType>(op.getOutput().getType());
  int64_t last = outType.getRank() - 1;
  SmallVector<Value> outDynamic;
  for (int64_t d = 0; d <= last; ++d)
    if (outType.isDynamicDim(d))
      outDynamic.push_back(d == last ? dim(v, last) : dim(q, d));
  out = memref::AllocOp::create(
      b, loc, MemRefType::get(outType.getShape(), outType.getElementType()),
      outDynamic);
  if (Value l = op.getLse()) {
    auto lseType = cast<RankedTensorType>(l.getType());
    SmallVector<Value> lseDynamic;
    SmallVector<Value> sizes =
        packed ? SmallVector<Value>{dim(q, 1), dim(q, 0)}
               : SmallVector<Value>{dim(q, qo.batch), dim(q, qo.head),
                                    dim(q, qo.seq)};
    for (int64_t d = 0; d < lseType.getRank(); ++d)
      if (lseType.isDynamicDim(d))
        lseDynamic.push_back(sizes[d]);
    lse = memref::AllocOp::create(
        b, loc, MemRefType::get(lseType.getShape(), b.getF32Type()),
        lseDynamic);
  }
  emitLoops(/*thread=*/nullptr, /*threads=*/nullptr);

  SmallVector<Value> results;
  results.push_back(bufferization::ToTensorOp::create(
      b, loc, outType, out, /*restrict=*/true, /*writable=*/true));
  if (lse)
    results.push_back(bufferization::ToTensorOp::create(
        b, loc, op.getLse().getType(), lse, /*restrict=*/true,
        /*writable=*/true));
  b.replaceOp(op, results);
  return success();
}

SmallVector<Type> mlir::attn::kernelBufferTypes(func::FuncOp func) {
  auto bufferType = [](Type type) -> Type {
    if (auto tensor = dyn_cast<RankedTensorType>(type))
      return MemRefType::get(tensor.getShape(), tensor.getElementType());
    return type;
  };
  SmallVector<Type> types =
      llvm::map_to_vector(func.getArgumentTypes(), bufferType);
  for (Type result : func.getResultTypes())
    types.push_back(bufferType(result));
  return types;
}

HostKernel mlir::attn::createHostKernel(OpBuilder &b, func::FuncOp func,
                                        ArrayRef<Type> buffers) {
  SmallVector<Type> types(buffers);
  types.append({b.getI64Type(), b.getI64Type()});
  b.setInsertionPoint(func);
  auto kernel = func::FuncOp::create(b, func.getLoc(), func.getName(),
                                     b.getFunctionType(types, {}));
  kernel->setAttr("llvm.emit_c_interface", b.getUnitAttr());
  kernel->setAttr("attn.kernel", b.getUnitAttr());
  Block *body = kernel.addEntryBlock();
  b.setInsertionPointToStart(body);
  auto asIndex = [&](Value x) -> Value {
    return arith::IndexCastOp::create(b, func.getLoc(), b.getIndexType(), x);
  };
  return {kernel, body, asIndex(body->getArgument(types.size() - 2)),
          asIndex(body->getArgument(types.size() - 1))};
}

void mlir::attn::mapKernelInputs(OpBuilder &b, Location loc, func::FuncOp func,
                                 Block *body, IRMapping &mapping) {
  for (auto [arg, buffer] :
       llvm::zip(func.getArguments(),
                 body->getArguments().take_front(func.getNumArguments()))) {
    auto tensor = dyn_cast<RankedTensorType>(arg.getType());
    Value value = buffer;
    if (tensor)
      value = bufferization::ToTensorOp::create(b, loc, tensor, buffer,
                                                /*restrict=*/true);
    mapping.map(arg, value);
  }
}

LogicalResult StreamingLowering::lowerToKernel(func::FuncOp func,
                                               KernelTarget target) {
  if (failed(checkSupport()))
    return failure();
  // The spec function: one attention on the function arguments, returning
  // its results. It becomes a destination-passing kernel on buffers.
  auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
  bool returnsResults = ret.getOperands() == op->getResults();
  bool onlyArguments = llvm::all_of(op->getOperands(), [&](Value x) {
    return isa<BlockArgument>(x) &&
           cast<BlockArgument>(x).getOwner() == &func.getBody().front();
  });
  if (!returnsResults || !onlyArguments ||
      func.getBody().front().getOperations().size() != 2)
    return func.emitError(
        "expected a spec function for the kernel ABI: one attn.attention on "
        "the function arguments, returning its results");

  // Arguments: the inputs as buffers, then one output buffer per result.
  SmallVector<Type> types = kernelBufferTypes(func);
  unsigned numInputs = func.getNumArguments();
  Block *body;
  Value thread, threads;
  if (target == KernelTarget::Host) {
    HostKernel kernel = createHostKernel(b, func, types);
    body = kernel.body;
    thread = kernel.thread;
    threads = kernel.threads;
  } else {
    if (useMMA = mmaBody && canUseMMA(); useMMA) {
      useWGMMA = wgmmaScores;
      std::tie(mmaQueryTile, keyTile) = chooseMMATile();
      packedHeads = choosePackedHeads();
      // Token tiles: a query's heads over its own list, or whole query
      // tiles over a list they all share.
      bool shared = sharedTokenList();
      tokenTiles = shared || tokenTileHeads() > 1;
      maskSharingHeads = chooseMaskSharingHeads();
      queryTile = tokenTiles && !shared ? 1 : mmaQueryTile / packedHeads;
      useTMA = canUseTMA();
    }
    // Split keys: the workspace, the counters and the split count follow
    // the outputs.
    // Gated kernels write O in one pass (the combine has no gate).
    bool split = useMMA && splitKeys && !op.getGateAttr();
    if (split)
      types.append({MemRefType::get({ShapedType::kDynamic}, b.getF32Type()),
                    MemRefType::get({ShapedType::kDynamic}, b.getI32Type()),
                    b.getIndexType()});
    // TMA loads: the tensor maps (bytes) follow.
    if (useTMA)
      types.push_back(MemRefType::get({ShapedType::kDynamic}, b.getI8Type()));
    gpu::GPUFuncOp kernel = createGPUKernel(func, types);
    body = &kernel.getBody().front();
    b.setInsertionPointToStart(body);
    if (useTMA) {
      kernel->setAttr("attn.tma", b.getI64IntegerAttr(keyTile));
      tensorMaps = body->getArguments().back();
    }
    if (split) {
      kernel->setAttr("attn.split_kv", b.getI64IntegerAttr(keyTile));
      unsigned n = body->getNumArguments() - (useTMA ? 1 : 0);
      workspace = body->getArgument(n - 3);
      counters = body->getArgument(n - 2);
      // At least one (a launcher passing 0 gets the unsplit kernel).
      splitCount = arith::MaxUIOp::create(b, loc, body->getArgument(n - 1),
                                          idx(1));
    }
    std::tie(thread, threads) = gpuThreadIndex();
  }
  IRMapping mapping;
  for (auto [from, to] : llvm::zip(func.getArguments(), body->getArguments()))
    mapping.map(from, to);
  auto lookup = [&](ValueRange values) {
    return llvm::map_to_vector(values,
                               [&](Value x) { return mapping.lookup(x); });
  };
  q = mapping.lookup(op.getQuery());
  k = mapping.lookup(op.getKey());
  v = mapping.lookup(op.getValue());
  maskOps = lookup(op.getMaskOperands());
  scoreOps = lookup(op.getScoreOperands());
  normOps = lookup(op.getNormOperands());
  gateOps = lookup(op.getGateOperands());
  // Regions read captured tensors with tensor ops: give them tensors again;
  // bufferization folds the round trip.
  captures = llvm::map_to_vector(op.getCaptures(), [&](Value x) -> Value {
    Value buffer = mapping.lookup(x);
    auto tensor = dyn_cast<RankedTensorType>(x.getType());
    if (!tensor)
      return buffer;
    return bufferization::ToTensorOp::create(b, loc, tensor, buffer,
                                             /*restrict=*/true);
  });
  if (op.getCuSeqlensQ()) {
    cuQuery = mapping.lookup(op.getCuSeqlensQ());
    cuKey = mapping.lookup(op.getCuSeqlensKv());
  }
  if (op.getBlockTable()) {
    blockTable = mapping.lookup(op.getBlockTable());
    kvLens = mapping.lookup(op.getKvLens());
  }
  unsigned outputs = numInputs;
  out = body->getArgument(outputs);
  if (op.getLse())
    lse = body->getArgument(outputs + 1);
  emitLoops(thread, threads, /*zigzag=*/target == KernelTarget::Host);
  if (target == KernelTarget::Host)
    func::ReturnOp::create(b, func.getLoc());
  else
    gpu::ReturnOp::create(b, func.getLoc());
  b.eraseOp(func);
  return success();
}

void StreamingLowering::emitLoops(Value thread, Value threads, bool zigzag) {
  Layout ql = op.getQLayout(), kl = op.getKvLayout();
  bool packed = ql == Layout::thd;
  DimOrder qo = dimOrder(ql), ko = dimOrder(kl);
  // Packed sequences: B from cu_seqlens, lengths per sequence; the work
  // loop covers the longest possible sequence (all T tokens) and skips the
  // query tiles past each sequence's end.
  Value batch =
      packed
          ? arith::SubIOp::create(b, loc, dim(cuQuery, 0), idx(1)).getResult()
          : dim(q, qo.batch);
  Value queryHeads = dim(q, packed ? 1 : qo.head);
  bool paged = kl == Layout::paged;
  // A page pool [P, page, Hkv, D]: lengths per sequence (below).
  Value keyHeads = dim(k, packed ? 1 : paged ? 2 : ko.head);
  Value queryLen = dim(q, packed ? 0 : qo.seq);
  Value keyLen = dim(k, packed ? 0 : ko.seq);
  if (paged) {
    pageSize = dim(k, 1);
    pageSize32 = arith::IndexCastUIOp::create(
        b, loc, b.getI32Type(),
        arith::MinUIOp::create(b, loc, pageSize, idx(INT32_MAX)));
    lastPage = arith::SubIOp::create(b, loc, dim(k, 0), idx(1));
  }
  headDim = dim(q, packed ? 2 : 3);
  valueDim = dim(v, packed ? 2 : 3);
  if (std::optional<APFloat> s = op.getScale()) {
    scale = f32(s->convertToDouble());
  } else {
    Value d = arith::IndexCastOp::create(b, loc, b.getI64Type(), headDim);
    scale = math::RsqrtOp::create(
        b, loc, arith::SIToFPOp::create(b, loc, b.getF32Type(), d));
  }
  // The vector form needs both head dims static.
  staticHeadDim = cast<MemRefType>(q.getType()).getShape().back();
  staticValueDim = cast<MemRefType>(v.getType()).getShape().back();
  if (ShapedType::isDynamic(staticHeadDim) ||
      ShapedType::isDynamic(staticValueDim))
    staticHeadDim = staticValueDim = ShapedType::kDynamic;
  keySelection = findKeySelection(op.getMaskAttr());
  // The tile body where it applies; else accumulator rows, reused by every
  // row this thread computes.
  bool tiled = !useMMA && canStreamTiles();
  if (useMMA) {
    allocateMMABuffers();
    // A block list gives the tiles itself (no runtime tile tests); a
    // pyramid's levels are one.
    if (!keySelection || mmaPyramid())
      runtimeTest = computeRuntimeTileTest(op.getMaskAttr());
  } else if (tiled) {
    useAMX = canUseAMX();
    allocateTileBuffers();
    if (useAMX)
      requestAMXPermission();
    runtimeTest = computeRuntimeTileTest(op.getMaskAttr());
  } else {
    auto rowType = MemRefType::get({staticValueDim}, b.getF32Type());
    SmallVector<Value, 1> rowSize;
    if (ShapedType::isDynamic(staticValueDim))
      rowSize.push_back(valueDim);
    acc = memref::AllocaOp::create(b, loc, rowType, rowSize);
    if (isa<AffineSoftmaxAttr>(op.getNormOrSoftmax()))
      valueSum = memref::AllocaOp::create(b, loc, rowType, rowSize);
    if (auto pyramid = dyn_cast_if_present<PyramidAttr>(
            keySelection ? keySelection->attr : Attribute()))
      pyramidScores = memref::AllocaOp::create(
          b, loc, MemRefType::get({pyramid.getKBlock()}, b.getF32Type()));
  }

  if (std::optional<ArrayRef<int64_t>> order = op.getPatches()) {
    patches.assign(order->begin(), order->end());
    patchGridCols = op.getMaskGrid().back();
  }
  KeyRanges ranges = computeKeyRanges(op.getMaskAttr(), patches);
  SmallVector<KeyInterval> tileRanges = computeKeyTileRanges(ranges, keyTile);
  Value groupSize = arith::DivUIOp::create(b, loc, queryHeads, keyHeads);
  // Residue groups: an item is a query tile of one group; group 0 is the
  // longest (ceil(Sq / R) queries).
  int64_t groups = op.getResidueGroups().value_or(1);
  Value numQueryTiles = arith::CeilDivSIOp::create(
      b, loc,
      groups > 1 ? arith::CeilDivSIOp::create(b, loc, queryLen, idx(groups))
                       .getResult()
                 : queryLen,
      idx(queryTile));
  // Work items are (batch, head, query tile) triples. GPU blocks take them
  // cyclically (block t of T: items t, t + T, ...). Host threads take them
  // in rounds of T, every other round reversed (thread t: rT + t in even
  // rounds, rT + T - 1 - t in odd ones): neighbouring query tiles go to
  // different threads and each pair of rounds gives every thread the same
  // sum of positions, so masks whose work grows along the sequence
  // (causal, documents) stay balanced. (Cyclic, thread T - 1 had the
  // heaviest tile of every round: causal with 64 query tiles on 16
  // threads, 1.23x the mean work.)
  // Items per (batch, head); with packed heads per (batch, KV head).
  Value itemHeads = packedHeads > 1 ? keyHeads : queryHeads;
  Value work = arith::MulIOp::create(
      b, loc, arith::MulIOp::create(b, loc, batch, itemHeads), numQueryTiles);
  if (groups > 1)
    work = arith::MulIOp::create(b, loc, work, idx(groups));
  // Split keys: S work items per (batch, head, query tile).
  if (splitCount)
    work = arith::MulIOp::create(b, loc, work, splitCount);
  OpBuilder::InsertionGuard guard(b);
  Value w;
  if (thread && zigzag) {
    // A thread outside [0, threads) (a caller's error) computes nothing.
    Value count = arith::SelectOp::create(
        b, loc,
        arith::CmpIOp::create(b, loc, CmpIPredicate::ult, thread, threads),
        arith::CeilDivUIOp::create(
            b, loc, work, arith::MaxUIOp::create(b, loc, threads, idx(1))),
        idx(0));
    auto rounds = scf::ForOp::create(b, loc, idx(0), count, idx(1));
    b.setInsertionPointToStart(rounds.getBody());
    Value r = rounds.getInductionVar();
    Value odd = arith::CmpIOp::create(b, loc, CmpIPredicate::ne,
                                      arith::RemUIOp::create(b, loc, r, idx(2)),
                                      idx(0));
    Value lane = arith::SelectOp::create(
        b, loc, odd,
        arith::SubIOp::create(
            b, loc, arith::SubIOp::create(b, loc, threads, idx(1)), thread),
        thread);
    w = arith::AddIOp::create(b, loc, arith::MulIOp::create(b, loc, r, threads),
                              lane);
    auto inside = scf::IfOp::create(
        b, loc, arith::CmpIOp::create(b, loc, CmpIPredicate::ult, w, work),
        /*withElseRegion=*/false);
    b.setInsertionPointToStart(inside.thenBlock());
  } else {
    Value begin = thread ? thread : idx(0);
    Value step = thread ? threads : idx(1);
    auto workLoop = scf::ForOp::create(b, loc, begin, work, step);
    b.setInsertionPointToStart(workLoop.getBody());
    w = workLoop.getInductionVar();
  }
  if (splitCount) {
    splitIndex = arith::RemUIOp::create(b, loc, w, splitCount);
    w = splitItem = arith::DivUIOp::create(b, loc, w, splitCount);
  }
  Value qt = arith::RemUIOp::create(b, loc, w, numQueryTiles);
  // GPU blocks start in index order and the last ones finish the kernel:
  // the query tiles that see the most keys (the last, for causal masks)
  // go first.
  if (useMMA)
    qt = arith::SubIOp::create(
        b, loc, arith::SubIOp::create(b, loc, numQueryTiles, idx(1)), qt);
  Value bh = arith::DivUIOp::create(b, loc, w, numQueryTiles);
  // The item's group, between its query tile and its (batch, head).
  Value group;
  if (groups > 1) {
    group = arith::RemUIOp::create(b, loc, bh, idx(groups));
    bh = arith::DivUIOp::create(b, loc, bh, idx(groups));
  }
  LoopValues values;
  if (maskSharingHeads > 1) {
    // Heads slowest: a block's items (w, w + grid, ...; the grid is
    // B x tiles x splits) are the heads of one (batch, query tile).
    values.batch = arith::RemUIOp::create(b, loc, bh, batch);
    values.head = arith::DivUIOp::create(b, loc, bh, batch);
  } else {
    values.head = arith::RemUIOp::create(b, loc, bh, itemHeads);
    values.batch = arith::DivUIOp::create(b, loc, bh, itemHeads);
  }
  Value g = arith::DivUIOp::create(b, loc, values.head, groupSize);
  if (packedHeads > 1) {
    // The item's KV head, and its group's first query head.
    g = values.head;
    values.head = arith::MulIOp::create(b, loc, g, groupSize);
  }
  values.queryBegin = arith::MulIOp::create(b, loc, qt, idx(queryTile));
  if (packed) {
    auto bounds = [&](Value cu, Value &offset) {
      auto at = [&](Value i) {
        return arith::IndexCastOp::create(
            b, loc, b.getIndexType(),
            memref::LoadOp::create(b, loc, cu, ValueRange{i}));
      };
      offset = at(values.batch);
      Value next = at(arith::AddIOp::create(b, loc, values.batch, idx(1)));
      return arith::SubIOp::create(b, loc, next, offset).getResult();
    };
    queryLen = bounds(cuQuery, queryOffset);
    keyLen = bounds(cuKey, keyOffset);
    auto inside = scf::IfOp::create(
        b, loc,
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt,
                              values.queryBegin, queryLen),
        /*withElseRegion=*/false);
    b.setInsertionPointToStart(inside.thenBlock());
  }
  if (paged) {
    // kv_lens[b], clamped to the table's pages: [0, N * page].
    Value len = arith::IndexCastOp::create(
        b, loc, b.getIndexType(),
        memref::LoadOp::create(b, loc, kvLens, ValueRange{values.batch}));
    keyLen = arith::MaxSIOp::create(
        b, loc,
        arith::MinSIOp::create(
            b, loc, len,
            arith::MulIOp::create(b, loc, dim(blockTable, 1), pageSize)),
        idx(0));
  }
  // The body sees one group: strided views of its tokens and its lengths;
  // the tensors are restored when the item's body is built.
  std::optional<GroupViews> restore;
  if (groups > 1) {
    restore = viewResidueGroup(group, groups, queryLen, keyLen);
    auto inside = scf::IfOp::create(
        b, loc,
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt,
                              values.queryBegin, queryLen),
        /*withElseRegion=*/false);
    b.setInsertionPointToStart(inside.thenBlock());
  }
  llvm::scope_exit restoreViews([&] {
    if (restore)
      std::tie(q, k, v, out, lse) = std::tie(restore->q, restore->k, restore->v,
                                             restore->out, restore->lse);
  });
  values.queryEnd = arith::MinSIOp::create(
      b, loc, arith::AddIOp::create(b, loc, values.queryBegin, idx(queryTile)),
      queryLen);
  values.queryLen = queryLen;
  values.keyLen = keyLen;
  values.queryHeads = queryHeads;
  values.patches = patches;
  // The closed forms are emitted once per query tile (the MMA body takes
  // a key selection's list instead).
  ElementEmitter emitter(b, loc, values, maskOps);
  Bounds tiles, core;
  bool listTiles = useMMA && keySelection && !mmaPyramid();
  for (const KeyInterval &x : listTiles ? ArrayRef<KeyInterval>() : tileRanges)
    tiles.push_back(
        {emitter.emitTileExpr(x.begin), emitter.emitTileExpr(x.end)});
  for (const KeyInterval &x : listTiles ? ArrayRef<KeyInterval>() : ranges.core)
    core.push_back(
        {emitter.emitTileExpr(x.begin), emitter.emitTileExpr(x.end)});
  if (useMMA) {
    if (listTiles) {
      // A block list: loop positions over the listed blocks' key tiles (a
      // query block holds whole query tiles: one list per tile).
      LoopValues first = values;
      first.query = values.queryBegin;
      mmaList = selectionRow(first);
      // Token lists: tile p holds entries [64 p, 64 p + 64).
      Value positions =
          tokenTiles
              ? arith::CeilDivSIOp::create(b, loc, mmaList->count,
                                           idx(keyTile))
                    .getResult()
              : arith::MulIOp::create(
                    b, loc, mmaList->count,
                    idx(mmaList->blocks.getKBlock() / keyTile))
                    .getResult();
      tiles = {{idx(0), positions}};
    }
    emitQueryTileMMA(emitter, values, g,
                     splitCount ? splitTileRanges(tiles) : tiles, core);
    return;
  }
  if (tiled) {
    emitQueryTile(emitter, values, g, tiles, core);
    return;
  }
  auto rowLoop =
      scf::ForOp::create(b, loc, values.queryBegin, values.queryEnd, idx(1));
  b.setInsertionPointToStart(rowLoop.getBody());
  values.query = rowLoop.getInductionVar();
  emitRow(emitter, values, g, tiles, core);
}

namespace {
struct AttnLowerToLoopsPass
    : mlir::attn::impl::AttnLowerToLoopsPassBase<AttnLowerToLoopsPass> {
  using Base::Base;

  void runOnOperation() override {
    if (failed(verifyTileSizes(getOperation(), queryTile, keyTile)))
      return signalPassFailure();
    SmallVector<AttentionOp> ops;
    getOperation()->walk([&](AttentionOp op) { ops.push_back(op); });
    IRRewriter rewriter(&getContext());
    SmallVector<LinearAttentionOp> linearOps;
    getOperation()->walk(
        [&](LinearAttentionOp op) { linearOps.push_back(op); });
    for (LinearAttentionOp op : linearOps)
      if (failed(kernelAbi ? lowerLinearAttentionToKernel(op, rewriter)
                           : lowerLinearAttention(op, rewriter)))
        return signalPassFailure();
    for (AttentionOp op : ops) {
      StreamingLowering lowering(op, rewriter, queryTile, keyTile, tileBody,
                                 amx);
      auto func = op->getParentOfType<func::FuncOp>();
      if (kernelAbi && !func) {
        op.emitOpError("expected to be in a func.func for the kernel ABI");
        return signalPassFailure();
      }
      if (failed(kernelAbi ? lowering.lowerToKernel(func, KernelTarget::Host)
                           : lowering.lower()))
        return signalPassFailure();
    }
  }
};
} // namespace

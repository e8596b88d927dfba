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

#include "attn/Analysis/TileClassification.h"
#include "attn/Conversion/AttnToLoops/ElementEmitter.h"
#include "attn/Conversion/Passes.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

#include <limits>

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNLOWERTOLOOPSPASS
#include "attn/Conversion/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

using arith::CmpFPredicate;
using arith::CmpIPredicate;

namespace {

/// Positions of (batch, head, sequence) dimensions of a 4-D tensor.
struct DimOrder {
  unsigned batch = 0, head, seq;
};

DimOrder dimOrder(Layout layout) {
  return layout == Layout::bshd ? DimOrder{0, 2, 1} : DimOrder{0, 1, 2};
}

/// Builds the loop nest of one attention op.
class StreamingLowering {
public:
  StreamingLowering(AttentionOp op, RewriterBase &rewriter, int64_t queryTile,
                    int64_t keyTile)
      : op(op), b(rewriter), loc(op.getLoc()), queryTile(queryTile),
        keyTile(keyTile) {}

  /// Replaces the op on tensors (the `attn-lower-to-loops` default).
  LogicalResult lower();
  /// Replaces the spec function `func` by a destination-passing kernel on
  /// buffers with a (thread, threads) work split.
  LogicalResult lowerToKernel(func::FuncOp func);

private:
  LogicalResult checkSupport();
  /// Emits the work loop over (batch, head, query tile); all items when
  /// `thread` is null, else this thread's share.
  void emitLoops(Value thread, Value threads);
  Value toBuffer(Value value);
  SmallVector<Value> toBuffers(ValueRange values);
  Value idx(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
  Value f32(double v) {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
  }
  Value dim(Value memref, unsigned d) {
    return memref::DimOp::create(b, loc, memref, d);
  }
  /// Loads element [bb, hh, s, d] of a 4-D tensor in `layout` as f32.
  Value load4(Value memref, Layout layout, Value bb, Value hh, Value s,
              Value d) {
    DimOrder o = dimOrder(layout);
    SmallVector<Value> indices(4);
    indices[o.batch] = bb;
    indices[o.head] = hh;
    indices[o.seq] = s;
    indices[3] = d;
    Value x = memref::LoadOp::create(b, loc, memref, indices);
    return x.getType().isF32()
               ? x
               : arith::ExtFOp::create(b, loc, b.getF32Type(), x).getResult();
  }
  using Bounds = SmallVector<std::pair<Value, Value>>;
  void emitRow(ElementEmitter &emitter, const LoopValues &values, Value g,
               const Bounds &tiles, const Bounds &core);

  AttentionOp op;
  RewriterBase &b;
  Location loc;
  int64_t queryTile, keyTile;

  Value q, k, v, out, lse, acc;
  SmallVector<Value> maskOps, scoreOps, normOps, gateOps, captures;
  Value scale, headDim, valueDim;
};

} // namespace

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
  if (failed(checkElementSupport(op)))
    return failure();
  Layout ql = op.getQLayout(), kl = op.getKvLayout();
  if (ql == Layout::thd || kl == Layout::thd || kl == Layout::paged)
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

  DimOrder qo = dimOrder(op.getQLayout());
  auto outType = cast<RankedTensorType>(op.getOutput().getType());
  SmallVector<Value> outDynamic;
  for (int64_t d = 0; d < outType.getRank(); ++d)
    if (outType.isDynamicDim(d))
      outDynamic.push_back(d == 3 ? dim(v, 3) : dim(q, d));
  out = memref::AllocOp::create(
      b, loc, MemRefType::get(outType.getShape(), outType.getElementType()),
      outDynamic);
  if (Value l = op.getLse()) {
    auto lseType = cast<RankedTensorType>(l.getType());
    SmallVector<Value> lseDynamic;
    Value sizes[3] = {dim(q, qo.batch), dim(q, qo.head), dim(q, qo.seq)};
    for (int64_t d = 0; d < 3; ++d)
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

LogicalResult StreamingLowering::lowerToKernel(func::FuncOp func) {
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

  // Arguments: the inputs as buffers, then one output buffer per result,
  // then the thread index and count (i64).
  auto bufferType = [](Type type) -> Type {
    if (auto tensor = dyn_cast<RankedTensorType>(type))
      return MemRefType::get(tensor.getShape(), tensor.getElementType());
    return type;
  };
  SmallVector<Type> inputs = llvm::map_to_vector(func.getArgumentTypes(),
                                                 bufferType);
  SmallVector<Type> types = inputs;
  for (Type result : func.getResultTypes())
    types.push_back(bufferType(result));
  types.push_back(b.getI64Type());
  types.push_back(b.getI64Type());
  b.setInsertionPoint(func);
  auto kernel = func::FuncOp::create(b, func.getLoc(), func.getName(),
                                     b.getFunctionType(types, {}));
  kernel->setAttr("llvm.emit_c_interface", b.getUnitAttr());
  kernel->setAttr("attn.kernel", b.getUnitAttr());
  Block *body = kernel.addEntryBlock();
  b.setInsertionPointToStart(body);
  IRMapping mapping;
  for (auto [from, to] : llvm::zip(func.getArguments(), body->getArguments()))
    mapping.map(from, to);
  auto lookup = [&](ValueRange values) {
    return llvm::map_to_vector(values, [&](Value x) { return mapping.lookup(x); });
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
  unsigned outputs = inputs.size();
  out = body->getArgument(outputs);
  if (op.getLse())
    lse = body->getArgument(outputs + 1);
  Value thread = body->getArgument(types.size() - 2);
  Value threads = body->getArgument(types.size() - 1);
  emitLoops(thread, threads);
  func::ReturnOp::create(b, func.getLoc());
  b.eraseOp(func);
  return success();
}

void StreamingLowering::emitLoops(Value thread, Value threads) {
  Layout ql = op.getQLayout(), kl = op.getKvLayout();
  DimOrder qo = dimOrder(ql), ko = dimOrder(kl);
  Value batch = dim(q, qo.batch), queryHeads = dim(q, qo.head);
  Value queryLen = dim(q, qo.seq), keyHeads = dim(k, ko.head);
  Value keyLen = dim(k, ko.seq);
  headDim = dim(q, 3);
  valueDim = dim(v, 3);
  if (std::optional<APFloat> s = op.getScale()) {
    scale = f32(s->convertToDouble());
  } else {
    Value d = arith::IndexCastOp::create(b, loc, b.getI64Type(), headDim);
    scale = math::RsqrtOp::create(
        b, loc, arith::SIToFPOp::create(b, loc, b.getF32Type(), d));
  }
  // One accumulator row, reused by every row this thread computes.
  acc = memref::AllocaOp::create(
      b, loc, MemRefType::get({ShapedType::kDynamic}, b.getF32Type()),
      ValueRange{valueDim});

  KeyRanges ranges = computeKeyRanges(op.getMaskAttr());
  SmallVector<KeyInterval> tileRanges = computeKeyTileRanges(ranges, keyTile);
  Value groupSize = arith::DivUIOp::create(b, loc, queryHeads, keyHeads);
  Value numQueryTiles = arith::CeilDivSIOp::create(b, loc, queryLen,
                                                   idx(queryTile));
  // Work items are (batch, head, query tile) triples, split evenly between
  // threads: thread t of T takes [t * N / T, (t + 1) * N / T).
  Value work = arith::MulIOp::create(
      b, loc, arith::MulIOp::create(b, loc, batch, queryHeads), numQueryTiles);
  Value begin = idx(0), end = work;
  if (thread) {
    auto asIndex = [&](Value x) {
      return arith::IndexCastOp::create(b, loc, b.getIndexType(), x);
    };
    Value t = asIndex(thread), n = asIndex(threads);
    begin = arith::DivUIOp::create(b, loc, arith::MulIOp::create(b, loc, t, work), n);
    end = arith::DivUIOp::create(
        b, loc,
        arith::MulIOp::create(b, loc, arith::AddIOp::create(b, loc, t, idx(1)),
                              work),
        n);
  }
  auto workLoop = scf::ForOp::create(b, loc, begin, end, idx(1));
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(workLoop.getBody());
  Value w = workLoop.getInductionVar();
  Value qt = arith::RemUIOp::create(b, loc, w, numQueryTiles);
  Value bh = arith::DivUIOp::create(b, loc, w, numQueryTiles);
  LoopValues values;
  values.head = arith::RemUIOp::create(b, loc, bh, queryHeads);
  values.batch = arith::DivUIOp::create(b, loc, bh, queryHeads);
  Value g = arith::DivUIOp::create(b, loc, values.head, groupSize);
  values.queryBegin = arith::MulIOp::create(b, loc, qt, idx(queryTile));
  values.queryEnd = arith::MinSIOp::create(
      b, loc, arith::AddIOp::create(b, loc, values.queryBegin, idx(queryTile)),
      queryLen);
  values.queryLen = queryLen;
  values.keyLen = keyLen;
  values.queryHeads = queryHeads;
  // The closed forms are emitted once per query tile.
  ElementEmitter emitter(b, loc, values, maskOps);
  Bounds tiles, core;
  for (const KeyInterval &x : tileRanges)
    tiles.push_back({emitter.emitTileExpr(x.begin), emitter.emitTileExpr(x.end)});
  for (const KeyInterval &x : ranges.core)
    core.push_back({emitter.emitTileExpr(x.begin), emitter.emitTileExpr(x.end)});
  auto rowLoop =
      scf::ForOp::create(b, loc, values.queryBegin, values.queryEnd, idx(1));
  b.setInsertionPointToStart(rowLoop.getBody());
  values.query = rowLoop.getInductionVar();
  emitRow(emitter, values, g, tiles, core);
}

void StreamingLowering::emitRow(ElementEmitter &rowEmitter,
                                const LoopValues &tileValues, Value g,
                                const Bounds &tiles, const Bounds &core) {
  Value zero = idx(0), one = idx(1);
  Value negInf = f32(-std::numeric_limits<double>::infinity());
  Value zeroF = f32(0.0);
  Attribute norm = op.getNormOrSoftmax();
  bool sigmoid = isa<SigmoidAttr>(norm);

  // Reset the accumulator row.
  auto clear = scf::ForOp::create(b, loc, zero, valueDim, one);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(clear.getBody());
    memref::StoreOp::create(b, loc, zeroF, acc,
                            ValueRange{clear.getInductionVar()});
  }

  Value m = negInf, l = zeroF;
  for (auto [t0, t1] : tiles) {
    auto kt = scf::ForOp::create(b, loc, t0, t1, one, ValueRange{m, l});
    OpBuilder::InsertionGuard tileGuard(b);
    b.setInsertionPointToStart(kt.getBody());
    Value j0 = arith::MulIOp::create(b, loc, kt.getInductionVar(), idx(keyTile));
    Value j1 = arith::MinSIOp::create(
        b, loc, arith::AddIOp::create(b, loc, j0, idx(keyTile)),
        tileValues.keyLen);
    // Full tile: [j0, j1) inside one core interval.
    Value full;
    for (auto [c0, c1] : core) {
      Value inside = arith::AndIOp::create(
          b, loc, arith::CmpIOp::create(b, loc, CmpIPredicate::sle, c0, j0),
          arith::CmpIOp::create(b, loc, CmpIPredicate::sle, j1, c1));
      full = full ? arith::OrIOp::create(b, loc, full, inside).getResult()
                  : inside;
    }
    if (!full)
      full = arith::ConstantIntOp::create(b, loc, 0, 1);
    auto jLoop = scf::ForOp::create(b, loc, j0, j1, one,
                                    kt.getRegionIterArgs());
    {
      OpBuilder::InsertionGuard keyGuard(b);
      b.setInsertionPointToStart(jLoop.getBody());
      LoopValues values = tileValues;
      values.key = jLoop.getInductionVar();
      Value mPrev = jLoop.getRegionIterArgs()[0];
      Value lPrev = jLoop.getRegionIterArgs()[1];
      // Partial tiles evaluate the mask; full tiles skip it.
      auto allowedIf = scf::IfOp::create(b, loc, b.getI1Type(), full,
                                         /*withElseRegion=*/true);
      b.setInsertionPointToStart(allowedIf.thenBlock());
      scf::YieldOp::create(b, loc,
                           ValueRange{arith::ConstantIntOp::create(b, loc, 1, 1)});
      b.setInsertionPointToStart(allowedIf.elseBlock());
      ElementEmitter emitter(b, loc, values, maskOps);
      scf::YieldOp::create(
          b, loc, emitter.emitMask(op.getMaskAttr(), op.getPredicate(), captures));
      b.setInsertionPointAfter(allowedIf);

      auto update = scf::IfOp::create(b, loc, TypeRange{b.getF32Type(), b.getF32Type()},
                                      allowedIf.getResult(0),
                                      /*withElseRegion=*/true);
      b.setInsertionPointToStart(update.elseBlock());
      scf::YieldOp::create(b, loc, ValueRange{mPrev, lPrev});
      b.setInsertionPointToStart(update.thenBlock());
      // s = scale * q.k, then the score modifiers.
      auto dot = scf::ForOp::create(b, loc, zero, headDim, one,
                                    ValueRange{zeroF});
      {
        OpBuilder::InsertionGuard dotGuard(b);
        b.setInsertionPointToStart(dot.getBody());
        Value d = dot.getInductionVar();
        Value qd = load4(q, op.getQLayout(), values.batch, values.head,
                         values.query, d);
        Value kd = load4(k, op.getKvLayout(), values.batch, g, values.key, d);
        Value sum = arith::AddFOp::create(
            b, loc, dot.getRegionIterArgs()[0],
            arith::MulFOp::create(b, loc, qd, kd));
        scf::YieldOp::create(b, loc, sum);
      }
      Value s = arith::MulFOp::create(b, loc, dot.getResult(0), scale);
      s = emitter.emitScore(s, op.getScoreAttr(), scoreOps, op.getScoreFn(),
                            captures);
      // A score of -inf (e.g. from a bias) allows nothing.
      Value finite = arith::CmpFOp::create(b, loc, CmpFPredicate::OGT, s, negInf);
      auto accumulate = scf::IfOp::create(
          b, loc, TypeRange{b.getF32Type(), b.getF32Type()}, finite,
          /*withElseRegion=*/true);
      b.setInsertionPointToStart(accumulate.elseBlock());
      scf::YieldOp::create(b, loc, ValueRange{mPrev, lPrev});
      b.setInsertionPointToStart(accumulate.thenBlock());
      // Online softmax: m' = max(m, s), l' = l e^(m - m') + e^(s - m').
      Value mNew = arith::MaximumFOp::create(b, loc, mPrev, s);
      Value alpha = math::ExpOp::create(
          b, loc, arith::SubFOp::create(b, loc, mPrev, mNew));
      Value p = math::ExpOp::create(b, loc, arith::SubFOp::create(b, loc, s, mNew));
      Value lNew = arith::AddFOp::create(
          b, loc, arith::MulFOp::create(b, loc, lPrev, alpha), p);
      // Sigmoid attention accumulates sigmoid(s + bias) without rescaling.
      Value weight = p, rescale = alpha;
      if (auto sig = dyn_cast<SigmoidAttr>(norm)) {
        ValueRange rest = normOps;
        Value bias = sig.getBias()
                         ? f32(sig.getBias().getValueAsDouble())
                         : emitter.toF32(rest.front());
        Value x = arith::AddFOp::create(b, loc, s, bias);
        Value e = math::ExpOp::create(b, loc, arith::NegFOp::create(b, loc, x));
        weight = arith::DivFOp::create(
            b, loc, f32(1.0), arith::AddFOp::create(b, loc, f32(1.0), e));
        rescale = f32(1.0);
      }
      auto accLoop = scf::ForOp::create(b, loc, zero, valueDim, one);
      {
        OpBuilder::InsertionGuard accGuard(b);
        b.setInsertionPointToStart(accLoop.getBody());
        Value d = accLoop.getInductionVar();
        Value vd = load4(v, op.getKvLayout(), values.batch, g, values.key, d);
        Value a = memref::LoadOp::create(b, loc, acc, ValueRange{d});
        Value next = arith::AddFOp::create(
            b, loc, arith::MulFOp::create(b, loc, a, rescale),
            arith::MulFOp::create(b, loc, weight, vd));
        memref::StoreOp::create(b, loc, next, acc, ValueRange{d});
      }
      scf::YieldOp::create(b, loc, ValueRange{mNew, lNew});
      b.setInsertionPointAfter(accumulate);
      scf::YieldOp::create(b, loc, accumulate.getResults());
      b.setInsertionPointAfter(update);
      scf::YieldOp::create(b, loc, update.getResults());
    }
    scf::YieldOp::create(b, loc, jLoop.getResults());
    m = kt.getResult(0);
    l = kt.getResult(1);
    b.setInsertionPointAfter(kt);
  }

  // Finalize the row: O = acc / denominator, 0 when no key is allowed.
  Value any = arith::CmpFOp::create(b, loc, CmpFPredicate::OGT, l, zeroF);
  Value denominator = l;
  if (auto sink = dyn_cast<SinkSoftmaxAttr>(norm)) {
    Value logit;
    if (sink.getLogit())
      logit = f32(sink.getLogit().getValueAsDouble());
    else if (isa<MemRefType>(normOps.front().getType()))
      logit = rowEmitter.toF32(memref::LoadOp::create(
          b, loc, normOps.front(), ValueRange{tileValues.head}));
    else
      logit = rowEmitter.toF32(normOps.front());
    // With no allowed key m is -inf; the row is 0 either way.
    Value mSafe = arith::SelectOp::create(b, loc, any, m, zeroF);
    denominator = arith::AddFOp::create(
        b, loc, l,
        math::ExpOp::create(b, loc, arith::SubFOp::create(b, loc, logit, mSafe)));
  }
  if (sigmoid)
    denominator = f32(1.0);
  Value safeDen = arith::SelectOp::create(b, loc, any, denominator, f32(1.0));
  Value inv = arith::DivFOp::create(b, loc, f32(1.0), safeDen);
  if (lse) {
    Value logSum = arith::AddFOp::create(b, loc, m, math::LogOp::create(b, loc, l));
    Value lseValue = arith::SelectOp::create(b, loc, any, logSum,
                                             f32(-std::numeric_limits<double>::infinity()));
    memref::StoreOp::create(b, loc, lseValue, lse,
                            ValueRange{tileValues.batch, tileValues.head,
                                       tileValues.query});
  }
  auto store = scf::ForOp::create(b, loc, zero, valueDim, one);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(store.getBody());
  Value d = store.getInductionVar();
  Value a = memref::LoadOp::create(b, loc, acc, ValueRange{d});
  Value o = arith::SelectOp::create(b, loc, any,
                                    arith::MulFOp::create(b, loc, a, inv), zeroF);
  if (auto gate = dyn_cast_or_null<OutputGateAttr>(op.getGateAttr())) {
    SmallVector<Value> indices = {tileValues.batch, tileValues.query,
                                  tileValues.head};
    if (gate.getGranularity() == GateGranularity::element)
      indices.push_back(d);
    Value gv = rowEmitter.toF32(
        memref::LoadOp::create(b, loc, gateOps.front(), indices));
    if (gate.getActivation() == GateActivation::sigmoid) {
      Value e = math::ExpOp::create(b, loc, arith::NegFOp::create(b, loc, gv));
      gv = arith::DivFOp::create(b, loc, f32(1.0),
                                 arith::AddFOp::create(b, loc, f32(1.0), e));
    }
    o = arith::MulFOp::create(b, loc, o, gv);
  }
  Type outElement = cast<MemRefType>(out.getType()).getElementType();
  if (outElement != o.getType())
    o = arith::TruncFOp::create(b, loc, outElement, o);
  DimOrder oo = dimOrder(op.getQLayout());
  SmallVector<Value> indices(4);
  indices[oo.batch] = tileValues.batch;
  indices[oo.head] = tileValues.head;
  indices[oo.seq] = tileValues.query;
  indices[3] = d;
  memref::StoreOp::create(b, loc, o, out, indices);
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
    for (AttentionOp op : ops) {
      StreamingLowering lowering(op, rewriter, queryTile, keyTile);
      auto func = op->getParentOfType<func::FuncOp>();
      if (kernelAbi && !func) {
        op.emitOpError("expected to be in a func.func for the kernel ABI");
        return signalPassFailure();
      }
      if (failed(kernelAbi ? lowering.lowerToKernel(func) : lowering.lower()))
        return signalPassFailure();
    }
  }
};
} // namespace

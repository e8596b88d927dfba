//===- StreamRows.cpp - per-row key streaming and the epilogue ------------===//
//
// For one query row: streams the key tiles the classification keeps with
// a pluggable per-key update over loop-carried state, then normalizes,
// gates and stores the row. Softmax, sink softmax and sigmoid attention
// need one pass; the affine-scaled softmax also carries a count and a value
// sum; the clipped softmax makes a statistics pass and a weighted pass.
//
//===----------------------------------------------------------------------===//

#include "StreamingLowering.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include <limits>

using namespace mlir;
using namespace mlir::attn;

using arith::CmpFPredicate;
using arith::CmpIPredicate;

static constexpr double kInf = std::numeric_limits<double>::infinity();

void StreamingLowering::yieldUnlessTerminated(ValueRange values) {
  // Loops and ifs without results get their terminator from the builder.
  Block *block = b.getInsertionBlock();
  if (values.empty() && !block->empty() &&
      block->back().hasTrait<OpTrait::IsTerminator>())
    return;
  scf::YieldOp::create(b, loc, values);
}

Value StreamingLowering::keyAllowed(const LoopValues &values) {
  ElementEmitter emitter(b, loc, values, maskOps);
  if (keySelection)
    emitter.assumeSelected(keySelection->operand);
  return emitter.emitMask(op.getMaskAttr(), op.getPredicate(), captures);
}

Value StreamingLowering::keyScore(const LoopValues &values, Value g) {
  Value one = idx(1), zeroF = f32(0.0);
  ElementEmitter emitter(b, loc, values, maskOps);
  // s = scale * q.k, then the score modifiers.
  Value s;
  if (queryRow) {
    Value keyRow = loadRow(k, op.getKvLayout(), values.batch, g, values.key,
                           keyOffset, staticHeadDim);
    s = vector::ReductionOp::create(
        b, loc, vector::CombiningKind::ADD,
        arith::MulFOp::create(b, loc, queryRow, keyRow),
        // A tree of adds, not 64 dependent ones: the order of a dot
        // product's terms is free.
        arith::FastMathFlags::reassoc);
  } else {
    auto dot =
        scf::ForOp::create(b, loc, idx(0), headDim, one, ValueRange{zeroF});
    OpBuilder::InsertionGuard dotGuard(b);
    b.setInsertionPointToStart(dot.getBody());
    Value d = dot.getInductionVar();
    Value qd = load(q, op.getQLayout(), values.batch, values.head, values.query,
                    d, queryOffset);
    Value kd =
        load(k, op.getKvLayout(), values.batch, g, values.key, d, keyOffset);
    scf::YieldOp::create(b, loc,
                         ValueRange{arith::AddFOp::create(
                             b, loc, dot.getRegionIterArgs()[0],
                             arith::MulFOp::create(b, loc, qd, kd))});
    b.setInsertionPointAfter(dot);
    s = dot.getResult(0);
  }
  s = arith::MulFOp::create(b, loc, s, scale);
  s = emitter.emitScore(s, op.getScoreAttr(), scoreOps, op.getScoreFn(),
                        captures);
  return s;
}

SmallVector<Value> StreamingLowering::streamKeys(const LoopValues &row, Value g,
                                                 const Bounds &tiles,
                                                 const Bounds &core,
                                                 ValueRange init,
                                                 Update update) {
  Value one = idx(1), negInf = f32(-kInf);
  auto yield = [&](ValueRange values) { yieldUnlessTerminated(values); };
  SmallVector<Value> state(init.begin(), init.end());
  TypeRange types = ValueRange(state).getTypes();
  SmallVector<Type> stateTypes(types.begin(), types.end());
  // Folds `update` over the allowed keys of [j0, j1); `full`: the whole
  // range is allowed (no mask evaluation).
  auto keyRange = [&](Value j0, Value j1, Value full,
                      ValueRange carried) -> SmallVector<Value> {
    auto jLoop = scf::ForOp::create(b, loc, j0, j1, one, carried);
    OpBuilder::InsertionGuard keyGuard(b);
    b.setInsertionPointToStart(jLoop.getBody());
    LoopValues values = row;
    values.key = jLoop.getInductionVar();
    ValueRange prev = jLoop.getRegionIterArgs();
    // Partial tiles evaluate the mask; full tiles skip it.
    auto allowedIf = scf::IfOp::create(b, loc, b.getI1Type(), full,
                                       /*withElseRegion=*/true);
    b.setInsertionPointToStart(allowedIf.thenBlock());
    scf::YieldOp::create(
        b, loc, ValueRange{arith::ConstantIntOp::create(b, loc, 1, 1)});
    b.setInsertionPointToStart(allowedIf.elseBlock());
    scf::YieldOp::create(b, loc, keyAllowed(values));
    b.setInsertionPointAfter(allowedIf);

    auto allowed = scf::IfOp::create(b, loc, stateTypes, allowedIf.getResult(0),
                                     /*withElseRegion=*/true);
    b.setInsertionPointToStart(allowed.elseBlock());
    yield(prev);
    b.setInsertionPointToStart(allowed.thenBlock());
    Value s = keyScore(values, g);
    // A score of -inf (e.g. from a bias) allows nothing.
    Value finite = arith::CmpFOp::create(b, loc, CmpFPredicate::OGT, s, negInf);
    auto finiteIf = scf::IfOp::create(b, loc, stateTypes, finite,
                                      /*withElseRegion=*/true);
    b.setInsertionPointToStart(finiteIf.elseBlock());
    yield(prev);
    b.setInsertionPointToStart(finiteIf.thenBlock());
    yield(update(s, values, prev));
    b.setInsertionPointAfter(finiteIf);
    yield(finiteIf.getResults());
    b.setInsertionPointAfter(allowed);
    yield(allowed.getResults());
    b.setInsertionPointAfter(jLoop);
    return SmallVector<Value>(jLoop.getResults());
  };

  if (keySelection && isa<PyramidAttr>(keySelection->attr))
    return pyramidKeys(row, g, state, update);
  if (keySelection)
    return selectedKeys(row, state, keyRange);
  for (auto [t0, t1] : tiles) {
    auto kt = scf::ForOp::create(b, loc, t0, t1, one, state);
    OpBuilder::InsertionGuard tileGuard(b);
    b.setInsertionPointToStart(kt.getBody());
    Value j0 =
        arith::MulIOp::create(b, loc, kt.getInductionVar(), idx(keyTile));
    Value j1 = arith::MinSIOp::create(
        b, loc, arith::AddIOp::create(b, loc, j0, idx(keyTile)), row.keyLen);
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
    yield(keyRange(j0, j1, full, kt.getRegionIterArgs()));
    state.assign(kt.getResults().begin(), kt.getResults().end());
  }
  return state;
}

SmallVector<Value> StreamingLowering::selectedKeys(const LoopValues &row,
                                                   ValueRange init,
                                                   KeyRangeFn keyRange) {
  // The row's list: tokens per query, blocks per query block. Entries
  // outside the keys select nothing (clamped ranges).
  SelectionRow selection = selectionRow(row);
  BlocksAttr blocks = selection.blocks;
  Value zero = idx(0);
  auto list = scf::ForOp::create(b, loc, zero, selection.count, idx(1), init);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(list.getBody());
  Value entry = selectionEntry(selection, row, list.getInductionVar());
  int64_t width = blocks ? blocks.getKBlock() : 1;
  Value j0 = arith::MulIOp::create(b, loc, entry, idx(width));
  Value j1 = arith::AddIOp::create(b, loc, j0, idx(width));
  auto clamp = [&](Value j) -> Value {
    return arith::MinSIOp::create(
        b, loc, arith::MaxSIOp::create(b, loc, j, zero), row.keyLen);
  };
  SmallVector<Value> next =
      keyRange(clamp(j0), clamp(j1), arith::ConstantIntOp::create(b, loc, 0, 1),
               list.getRegionIterArgs());
  if (!init.empty())
    scf::YieldOp::create(b, loc, next);
  return SmallVector<Value>(list.getResults());
}

void StreamingLowering::accumulate(const LoopValues &values, Value g,
                                   Value rescale, Value weight,
                                   bool withValueSum) {
  if (!ShapedType::isDynamic(staticValueDim)) {
    auto type = VectorType::get({staticValueDim}, b.getF32Type());
    Value zero = idx(0);
    Value valueRow = loadRow(v, op.getKvLayout(), values.batch, g, values.key,
                             keyOffset, staticValueDim);
    Value a = vector::LoadOp::create(b, loc, type, acc, ValueRange{zero});
    Value next = arith::AddFOp::create(
        b, loc,
        arith::MulFOp::create(
            b, loc, a, vector::BroadcastOp::create(b, loc, type, rescale)),
        arith::MulFOp::create(b, loc,
                              vector::BroadcastOp::create(b, loc, type, weight),
                              valueRow));
    vector::StoreOp::create(b, loc, next, acc, ValueRange{zero});
    if (withValueSum) {
      Value sum =
          vector::LoadOp::create(b, loc, type, valueSum, ValueRange{zero});
      vector::StoreOp::create(b, loc,
                              arith::AddFOp::create(b, loc, sum, valueRow),
                              valueSum, ValueRange{zero});
    }
    return;
  }
  auto loop = scf::ForOp::create(b, loc, idx(0), valueDim, idx(1));
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(loop.getBody());
  Value d = loop.getInductionVar();
  Value vd =
      load(v, op.getKvLayout(), values.batch, g, values.key, d, keyOffset);
  Value a = memref::LoadOp::create(b, loc, acc, ValueRange{d});
  Value next =
      arith::AddFOp::create(b, loc, arith::MulFOp::create(b, loc, a, rescale),
                            arith::MulFOp::create(b, loc, weight, vd));
  memref::StoreOp::create(b, loc, next, acc, ValueRange{d});
  if (withValueSum) {
    Value sum = memref::LoadOp::create(b, loc, valueSum, ValueRange{d});
    memref::StoreOp::create(b, loc, arith::AddFOp::create(b, loc, sum, vd),
                            valueSum, ValueRange{d});
  }
}

/// m' = max(m, s), l' = l e^(m - m') + e^(s - m').
static std::pair<Value, Value> softmaxStep(OpBuilder &b, Location loc, Value s,
                                           Value m, Value l, Value &alpha,
                                           Value &p) {
  Value mNew = arith::MaximumFOp::create(b, loc, m, s);
  alpha = math::ExpOp::create(b, loc, arith::SubFOp::create(b, loc, m, mNew));
  p = math::ExpOp::create(b, loc, arith::SubFOp::create(b, loc, s, mNew));
  Value lNew =
      arith::AddFOp::create(b, loc, arith::MulFOp::create(b, loc, l, alpha), p);
  return {mNew, lNew};
}

/// 1 / (1 + e^-x).
static Value sigmoid(OpBuilder &b, Location loc, Value x, Value one) {
  Value e = math::ExpOp::create(b, loc, arith::NegFOp::create(b, loc, x));
  return arith::DivFOp::create(b, loc, one,
                               arith::AddFOp::create(b, loc, one, e));
}

Value StreamingLowering::outputGate(Value batch, Value query, Value head,
                                    Value col, int64_t width) {
  auto gate = cast<OutputGateAttr>(op.getGateAttr());
  Type f32 = b.getF32Type();
  Value g = gateOps.front();
  Type element = cast<MemRefType>(g.getType()).getElementType();
  Value x;
  if (gate.getGranularity() == GateGranularity::element) {
    SmallVector<Value> at = {batch, query, head, col};
    x = width == 1 ? memref::LoadOp::create(b, loc, g, at).getResult()
                   : vector::LoadOp::create(
                         b, loc, VectorType::get({width}, element), g, at)
                         .getResult();
  } else {
    x = memref::LoadOp::create(b, loc, g, ValueRange{batch, query, head});
    if (width > 1)
      x = vector::BroadcastOp::create(b, loc, VectorType::get({width}, element),
                                      x);
  }
  Type type = width == 1 ? f32 : VectorType::get({width}, f32);
  if (element != f32)
    x = arith::ExtFOp::create(b, loc, type, x);
  if (gate.getActivation() != GateActivation::sigmoid)
    return x;
  Value one = this->f32(1.0);
  if (width > 1)
    one = vector::BroadcastOp::create(b, loc, type, one);
  return sigmoid(b, loc, x, one);
}

void StreamingLowering::emitRow(ElementEmitter &rowEmitter,
                                const LoopValues &row, Value g,
                                const Bounds &tiles, const Bounds &core) {
  Value zero = idx(0), one = idx(1);
  Value zeroF = f32(0.0), oneF = f32(1.0), negInf = f32(-kInf);
  Attribute norm = op.getNormOrSoftmax();
  bool affine = isa<AffineSoftmaxAttr>(norm);
  ValueRange normOperands = normOps;
  auto normFloat = [&](FloatAttr attr) -> Value {
    if (attr)
      return f32(attr.getValueAsDouble());
    Value operand = normOperands.front();
    normOperands = normOperands.drop_front();
    return rowEmitter.toF32(operand);
  };
  // Reset the accumulator rows.
  auto clear = scf::ForOp::create(b, loc, zero, valueDim, one);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(clear.getBody());
    memref::StoreOp::create(b, loc, zeroF, acc,
                            ValueRange{clear.getInductionVar()});
    if (affine)
      memref::StoreOp::create(b, loc, zeroF, valueSum,
                              ValueRange{clear.getInductionVar()});
  }

  // The query row is read once per row in the vector form.
  queryRow = ShapedType::isDynamic(staticHeadDim)
                 ? Value()
                 : loadRow(q, op.getQLayout(), row.batch, row.head, row.query,
                           queryOffset, staticHeadDim);

  Value m, l, count;
  if (auto clipped = dyn_cast<ClippedSoftmaxAttr>(norm)) {
    // Pass 1: the row statistics. Pass 2: the clipped probabilities.
    SmallVector<Value> stats = streamKeys(
        row, g, tiles, core, {negInf, zeroF},
        [&](Value s, const LoopValues &, ValueRange st) -> SmallVector<Value> {
          Value alpha, p;
          auto [mNew, lNew] = softmaxStep(b, loc, s, st[0], st[1], alpha, p);
          return {mNew, lNew};
        });
    m = stats[0];
    l = stats[1];
    Value zeta = normFloat(clipped.getZeta());
    Value gamma = normFloat(clipped.getGamma());
    Value stretch = arith::SubFOp::create(b, loc, zeta, gamma);
    streamKeys(
        row, g, tiles, core, {},
        [&](Value s, const LoopValues &values,
            ValueRange) -> SmallVector<Value> {
          Value p = arith::DivFOp::create(
              b, loc,
              math::ExpOp::create(b, loc, arith::SubFOp::create(b, loc, s, m)),
              l);
          Value w = arith::AddFOp::create(
              b, loc, arith::MulFOp::create(b, loc, stretch, p), gamma);
          w = arith::MinimumFOp::create(
              b, loc, arith::MaximumFOp::create(b, loc, w, zeroF), oneF);
          accumulate(values, g, oneF, w, /*withValueSum=*/false);
          return {};
        });
  } else {
    Value bias;
    if (auto sig = dyn_cast<SigmoidAttr>(norm))
      bias = normFloat(sig.getBias());
    if (canChunkSelection()) {
      std::tie(m, l) = streamSelectionChunks(row, g);
      finalizeRow(rowEmitter, row, m, l, count, [&](Value d) -> Value {
        return memref::LoadOp::create(b, loc, acc, ValueRange{d});
      });
      return;
    }
    SmallVector<Value> init = {negInf, zeroF};
    if (affine)
      init.push_back(zeroF);
    SmallVector<Value> stats = streamKeys(
        row, g, tiles, core, init,
        [&](Value s, const LoopValues &values,
            ValueRange st) -> SmallVector<Value> {
          Value alpha, p;
          auto [mNew, lNew] = softmaxStep(b, loc, s, st[0], st[1], alpha, p);
          // Sigmoid attention accumulates sigmoid(s + bias), unscaled; the
          // softmax statistics still give LSE.
          if (bias)
            accumulate(
                values, g, oneF,
                sigmoid(b, loc, arith::AddFOp::create(b, loc, s, bias), oneF),
                /*withValueSum=*/false);
          else
            accumulate(values, g, alpha, p, affine);
          SmallVector<Value> next = {mNew, lNew};
          if (affine)
            next.push_back(arith::AddFOp::create(b, loc, st[2], oneF));
          return next;
        });
    m = stats[0];
    l = stats[1];
    if (affine)
      count = stats[2];
  }

  finalizeRow(rowEmitter, row, m, l, count, [&](Value d) -> Value {
    return memref::LoadOp::create(b, loc, acc, ValueRange{d});
  });
}

void StreamingLowering::finalizeRow(ElementEmitter &rowEmitter,
                                    const LoopValues &row, Value m, Value l,
                                    Value count, AccessRow accAt) {
  Value zero = idx(0), one = idx(1);
  Value zeroF = f32(0.0), oneF = f32(1.0), negInf = f32(-kInf);
  Attribute norm = op.getNormOrSoftmax();
  bool affine = isa<AffineSoftmaxAttr>(norm);
  // A row-scalar operand: a scalar or [B|1, Hq|1, Sq|1].
  auto rowOperand = [&](Value operand) -> Value {
    if (!isa<MemRefType>(operand.getType()))
      return rowEmitter.toF32(operand);
    return rowEmitter.toF32(rowEmitter.loadBroadcast(
        operand, {row.batch, row.head, row.query}, {true, true, true}));
  };
  // Sigmoid attention and the clipped softmax are not divided by l.
  Value denominator = isa<SigmoidAttr, ClippedSoftmaxAttr>(norm) ? oneF : l;
  // Finalize: O = acc / denominator (+ the affine term), 0 with no key.
  Value any = arith::CmpFOp::create(b, loc, CmpFPredicate::OGT, l, zeroF);
  Value alphaRow, betaPerKey;
  if (auto sink = dyn_cast<SinkSoftmaxAttr>(norm)) {
    Value logit;
    if (sink.getLogit())
      logit = f32(sink.getLogit().getValueAsDouble());
    else if (isa<MemRefType>(normOps.front().getType()))
      logit = rowEmitter.toF32(memref::LoadOp::create(b, loc, normOps.front(),
                                                      ValueRange{row.head}));
    else
      logit = rowEmitter.toF32(normOps.front());
    // With no allowed key m is -inf; the row is 0 either way.
    Value mSafe = arith::SelectOp::create(b, loc, any, m, zeroF);
    denominator = arith::AddFOp::create(
        b, loc, l,
        math::ExpOp::create(b, loc,
                            arith::SubFOp::create(b, loc, logit, mSafe)));
  }
  if (affine) {
    alphaRow = rowOperand(normOps[0]);
    Value safeCount = arith::SelectOp::create(b, loc, any, count, oneF);
    betaPerKey =
        arith::DivFOp::create(b, loc, rowOperand(normOps[1]), safeCount);
  }
  Value safeDen = arith::SelectOp::create(b, loc, any, denominator, oneF);
  Value inv = arith::DivFOp::create(b, loc, oneF, safeDen);
  if (affine)
    inv = arith::MulFOp::create(b, loc, inv, alphaRow);
  if (lse) {
    Value logSum =
        arith::AddFOp::create(b, loc, m, math::LogOp::create(b, loc, l));
    Value lseValue = arith::SelectOp::create(b, loc, any, logSum, negInf);
    // [B, Hq, Sq], or [Hq, T] for packed sequences.
    SmallVector<Value> at = {row.batch, row.head, tokenAt(row.query)};
    if (queryOffset)
      at = {row.head, arith::AddIOp::create(b, loc, queryOffset, row.query)};
    memref::StoreOp::create(b, loc, lseValue, lse, at);
  }
  auto store = scf::ForOp::create(b, loc, zero, valueDim, one);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(store.getBody());
  Value d = store.getInductionVar();
  Value o = arith::MulFOp::create(b, loc, accAt(d), inv);
  if (affine)
    o = arith::AddFOp::create(
        b, loc, o,
        arith::MulFOp::create(
            b, loc, betaPerKey,
            memref::LoadOp::create(b, loc, valueSum, ValueRange{d})));
  o = arith::SelectOp::create(b, loc, any, o, zeroF);
  if (isa_and_nonnull<OutputGateAttr>(op.getGateAttr()))
    o = arith::MulFOp::create(
        b, loc, o, outputGate(row.batch, tokenAt(row.query), row.head, d));
  Type outElement = cast<MemRefType>(out.getType()).getElementType();
  if (outElement != o.getType())
    o = arith::TruncFOp::create(b, loc, outElement, o);
  memref::StoreOp::create(
      b, loc, o, out,
      indices(op.getQLayout(), row.batch, row.head, row.query, d, queryOffset));
}

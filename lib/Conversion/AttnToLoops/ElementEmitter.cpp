//===- ElementEmitter.cpp - scalar IR for masks, scores, tile bounds ------===//
//
// Index arithmetic for TileExprs, and per-element mask and score IR that
// follows the float64 reference semantics of python/attn/reference.py.
//
//===----------------------------------------------------------------------===//

#include "attn/Conversion/AttnToLoops/ElementEmitter.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>

using namespace mlir;
using namespace mlir::attn;

using arith::CmpIPredicate;

Value ElementEmitter::index(int64_t value) {
  return arith::ConstantIndexOp::create(b, loc, value);
}

Value ElementEmitter::toIndex(Value value) {
  Type type = value.getType();
  if (type.isIndex())
    return value;
  if (isa<FloatType>(type))
    value = arith::FPToSIOp::create(b, loc, b.getI64Type(), value);
  return arith::IndexCastOp::create(b, loc, b.getIndexType(), value);
}

Value ElementEmitter::toF32(Value value) {
  Type type = value.getType();
  if (type.isF32())
    return value;
  if (auto floatType = dyn_cast<FloatType>(type))
    return floatType.getWidth() < 32
               ? arith::ExtFOp::create(b, loc, b.getF32Type(), value)
                     .getResult()
               : arith::TruncFOp::create(b, loc, b.getF32Type(), value)
                     .getResult();
  if (type.isIndex())
    value = arith::IndexCastOp::create(b, loc, b.getI64Type(), value);
  return arith::SIToFPOp::create(b, loc, b.getF32Type(), value);
}

//===----------------------------------------------------------------------===//
// Tile expressions
//===----------------------------------------------------------------------===//

std::pair<Value, Value>
ElementEmitter::emitIntervalTest(ArrayRef<std::pair<Value, Value>> hull,
                                 ArrayRef<std::pair<Value, Value>> core,
                                 Value j0, Value j1) {
  using arith::CmpIPredicate;
  auto cmp = [&](CmpIPredicate p, Value x, Value y) -> Value {
    return arith::CmpIOp::create(b, loc, p, x, y);
  };
  auto both = [&](Value x, Value y) -> Value {
    return arith::AndIOp::create(b, loc, x, y);
  };
  Value maybe = arith::ConstantIntOp::create(b, loc, 0, 1), all = maybe;
  for (auto [h0, h1] : hull)
    maybe = arith::OrIOp::create(
        b, loc, maybe,
        both(cmp(CmpIPredicate::slt, h0, j1), cmp(CmpIPredicate::slt, j0, h1)));
  for (auto [c0, c1] : core)
    all = arith::OrIOp::create(
        b, loc, all,
        both(cmp(CmpIPredicate::sle, c0, j0), cmp(CmpIPredicate::sle, j1, c1)));
  return {maybe, all};
}

Value ElementEmitter::emitTileExpr(const TileExpr &expr) {
  if (Value done = tileExprs.lookup(expr.getNode()))
    return done;
  Value result;
  SmallVector<Value, 4> ops;
  for (const TileExpr &operand : expr.getOperands())
    ops.push_back(emitTileExpr(operand));
  switch (expr.getKind()) {
  case TileExpr::Kind::Const:
    result = index(*expr.getConstant());
    break;
  case TileExpr::Kind::Sym:
    switch (expr.getSymbol()) {
    case TileSymbol::QueryBegin:
      result = v.queryBegin;
      break;
    case TileSymbol::QueryEnd:
      result = v.queryEnd;
      break;
    case TileSymbol::QueryLen:
      result = v.queryLen;
      break;
    case TileSymbol::KeyLen:
      result = v.keyLen;
      break;
    case TileSymbol::Head:
      result = v.head;
      break;
    case TileSymbol::Batch:
      result = v.batch;
      break;
    case TileSymbol::Operand:
      result = perBatchInt(maskOperands[expr.getOperandIndex()]);
      break;
    }
    break;
  case TileExpr::Kind::Add:
    result = arith::AddIOp::create(b, loc, ops[0], ops[1]);
    break;
  case TileExpr::Kind::Sub:
    result = arith::SubIOp::create(b, loc, ops[0], ops[1]);
    break;
  case TileExpr::Kind::Mul:
    result = arith::MulIOp::create(b, loc, ops[0], ops[1]);
    break;
  case TileExpr::Kind::Min:
    result = arith::MinSIOp::create(b, loc, ops[0], ops[1]);
    break;
  case TileExpr::Kind::Max:
    result = arith::MaxSIOp::create(b, loc, ops[0], ops[1]);
    break;
  case TileExpr::Kind::FloorDiv:
    result = arith::FloorDivSIOp::create(b, loc, ops[0], ops[1]);
    break;
  case TileExpr::Kind::CeilDiv:
    result = arith::CeilDivSIOp::create(b, loc, ops[0], ops[1]);
    break;
  case TileExpr::Kind::Mod: {
    // Floor modulo: a - floordiv(a, m) * m.
    Value q = arith::FloorDivSIOp::create(b, loc, ops[0], ops[1]);
    Value qm = arith::MulIOp::create(b, loc, q, ops[1]);
    result = arith::SubIOp::create(b, loc, ops[0], qm);
    break;
  }
  case TileExpr::Kind::SelectLT: {
    Value lt =
        arith::CmpIOp::create(b, loc, CmpIPredicate::slt, ops[0], ops[1]);
    result = arith::SelectOp::create(b, loc, lt, ops[2], ops[3]);
    break;
  }
  }
  tileExprs[expr.getNode()] = result;
  return result;
}

/// A scalar mask operand as index, or element [b] of a per-batch tensor.
Value ElementEmitter::perBatchInt(Value operand) {
  if (isa<MemRefType>(operand.getType()))
    return toIndex(
        memref::LoadOp::create(b, loc, operand, ValueRange{v.batch}));
  return toIndex(operand);
}

//===----------------------------------------------------------------------===//
// Loads with broadcasting
//===----------------------------------------------------------------------===//

Value ElementEmitter::loadBroadcast(Value memref, ArrayRef<Value> indices,
                                    ArrayRef<bool> broadcast,
                                    ArrayRef<bool> headGroup) {
  auto type = cast<MemRefType>(memref.getType());
  SmallVector<Value> actual;
  for (auto [k, idx] : llvm::enumerate(indices)) {
    Value i = idx;
    int64_t size = type.getDimSize(k);
    if (!headGroup.empty() && headGroup[k]) {
      // h / (Hq / G): one value per group of heads.
      Value groups = memref::DimOp::create(b, loc, memref, k);
      Value perGroup = arith::DivUIOp::create(b, loc, v.queryHeads, groups);
      i = arith::DivUIOp::create(b, loc, idx, perGroup);
    } else if (broadcast[k]) {
      if (size == 1) {
        i = index(0);
      } else if (ShapedType::isDynamic(size)) {
        Value dim = memref::DimOp::create(b, loc, memref, k);
        Value isOne =
            arith::CmpIOp::create(b, loc, CmpIPredicate::eq, dim, index(1));
        i = arith::SelectOp::create(b, loc, isOne, index(0), idx);
      }
    }
    actual.push_back(i);
  }
  return memref::LoadOp::create(b, loc, memref, actual);
}

//===----------------------------------------------------------------------===//
// Masks
//===----------------------------------------------------------------------===//

Value ElementEmitter::dynInt(int64_t value) {
  if (!ShapedType::isDynamic(value))
    return index(value);
  return perBatchInt(maskOperands[nextMaskOperand++]);
}

Value ElementEmitter::diagonal(Align align, int64_t offset) {
  Value d = dynInt(offset);
  if (align == Align::bottom_right)
    d = arith::AddIOp::create(
        b, loc, d, arith::SubIOp::create(b, loc, v.keyLen, v.queryLen));
  return d;
}

Value ElementEmitter::inlineRegion(Region &region, ValueRange arguments) {
  Block &body = region.front();
  IRMapping mapping;
  mapping.map(body.getArguments(), arguments);
  for (Operation &op : body.without_terminator())
    b.clone(op, mapping);
  return mapping.lookup(cast<YieldOp>(body.getTerminator()).getValues()[0]);
}

Value ElementEmitter::emitMask(Attribute mask, Region &predicate,
                               ValueRange captures) {
  nextMaskOperand = 0;
  if (!mask)
    return arith::ConstantIntOp::create(b, loc, 1, 1);
  return emitMaskNode(mask, predicate, captures);
}

/// `lo <= x < hi` on index values.
static Value inRange(OpBuilder &b, Location loc, Value lo, Value x, Value hi) {
  Value ge = arith::CmpIOp::create(b, loc, CmpIPredicate::sle, lo, x);
  Value lt = arith::CmpIOp::create(b, loc, CmpIPredicate::slt, x, hi);
  return arith::AndIOp::create(b, loc, ge, lt);
}

Value ElementEmitter::emitMaskNode(Attribute mask, Region &predicate,
                                   ValueRange captures) {
  auto cmp = [&](CmpIPredicate p, Value x, Value y) -> Value {
    return arith::CmpIOp::create(b, loc, p, x, y);
  };
  auto boolConst = [&](bool value) -> Value {
    return arith::ConstantIntOp::create(b, loc, value ? 1 : 0, 1);
  };
  auto takeOperand = [&]() { return maskOperands[nextMaskOperand++]; };
  Value i = v.query, j = v.key;
  return llvm::TypeSwitch<Attribute, Value>(mask)
      .Case([&](FullAttr) { return boolConst(true); })
      .Case([&](EmptyAttr) { return boolConst(false); })
      .Case([&](AndAttr conj) {
        Value result = boolConst(true);
        for (Attribute child : conj.getMasks())
          result = arith::AndIOp::create(
              b, loc, result, emitMaskNode(child, predicate, captures));
        return result;
      })
      .Case([&](OrAttr disj) {
        Value result = boolConst(false);
        for (Attribute child : disj.getMasks())
          result = arith::OrIOp::create(
              b, loc, result, emitMaskNode(child, predicate, captures));
        return result;
      })
      .Case([&](NotAttr neg) {
        return arith::XOrIOp::create(
            b, loc, emitMaskNode(neg.getMask(), predicate, captures),
            boolConst(true));
      })
      .Case([&](CausalAttr c) {
        Value d = diagonal(c.getAlign(), c.getOffset());
        return cmp(CmpIPredicate::sle, j, arith::AddIOp::create(b, loc, i, d));
      })
      .Case([&](WindowAttr w) {
        Value left = dynInt(w.getLeft()), right = dynInt(w.getRight());
        Value d = diagonal(w.getAlign(), w.getOffset());
        Value center = arith::AddIOp::create(b, loc, i, d);
        Value lo = arith::SubIOp::create(b, loc, center, left);
        Value hi = arith::AddIOp::create(
            b, loc, arith::AddIOp::create(b, loc, center, right), index(1));
        return inRange(b, loc, lo, j, hi);
      })
      .Case([&](KeyPrefixAttr p) {
        return cmp(CmpIPredicate::slt, j, dynInt(p.getLen()));
      })
      .Case([&](QueryPrefixAttr p) {
        return cmp(CmpIPredicate::slt, i, dynInt(p.getLen()));
      })
      .Case([&](HeadsAttr h) {
        return inRange(b, loc, index(h.getBegin()), v.head, index(h.getEnd()));
      })
      .Case([&](DilatedAttr d) {
        Value dilation = dynInt(d.getDilation());
        Value diag = diagonal(d.getAlign(), d.getOffset());
        Value delta = arith::SubIOp::create(
            b, loc, arith::AddIOp::create(b, loc, i, diag), j);
        Value rem = arith::RemSIOp::create(b, loc, delta, dilation);
        return cmp(CmpIPredicate::eq, rem, index(0));
      })
      .Case([&](PowerAttr p) {
        Value block = index(p.getBlock());
        Value qb = arith::DivUIOp::create(b, loc, i, block);
        Value kb = arith::DivUIOp::create(b, loc, j, block);
        Value diagonal =
            arith::AndIOp::create(b, loc, cmp(CmpIPredicate::eq, kb, qb),
                                  cmp(CmpIPredicate::sle, j, i));
        Value dist = arith::SubIOp::create(b, loc, qb, kb);
        Value pow2 = cmp(
            CmpIPredicate::eq,
            arith::AndIOp::create(
                b, loc, dist, arith::SubIOp::create(b, loc, dist, index(1))),
            index(0));
        Value earlier = arith::AndIOp::create(
            b, loc, cmp(CmpIPredicate::ult, kb, qb),
            arith::OrIOp::create(b, loc, cmp(CmpIPredicate::eq, kb, index(0)),
                                 pow2));
        return arith::OrIOp::create(b, loc, diagonal, earlier);
      })
      .Case([&](DocumentAttr document) {
        Value qdoc = takeOperand(), kdoc = takeOperand();
        if (document.getRanges()) { // the tile tests' (RuntimeTileTests)
          takeOperand();
          takeOperand();
        }
        Value di = memref::LoadOp::create(b, loc, qdoc, ValueRange{v.batch, i});
        Value dj = memref::LoadOp::create(b, loc, kdoc, ValueRange{v.batch, j});
        return cmp(CmpIPredicate::eq, di, dj);
      })
      .Case([&](DenseAttr dense) {
        Value mask = takeOperand();
        if (dense.getTiles())
          takeOperand(); // the tile summary: the tile body's (flags)
        return loadBroadcast(mask, {v.batch, v.head, i, j},
                             {true, true, false, false});
      })
      .Case([&](KeepAttr k) {
        Value position = k.getSide() == Side::query ? i : j;
        return loadBroadcast(takeOperand(), {v.batch, v.head, position},
                             {false, false, false}, {false, true, false});
      })
      .Case([&](TokensAttr) {
        unsigned at = nextMaskOperand;
        Value counts = takeOperand(), indices = takeOperand();
        if (at == selectedOperand)
          return boolConst(true);
        return selectionContains(counts, indices, i, j);
      })
      .Case([&](BlocksAttr blocks) {
        unsigned at = nextMaskOperand;
        Value counts = takeOperand(), indices = takeOperand();
        if (at == selectedOperand)
          return boolConst(true);
        return selectionContains(
            counts, indices,
            arith::DivUIOp::create(b, loc, i, index(blocks.getQBlock())),
            arith::DivUIOp::create(b, loc, j, index(blocks.getKBlock())));
      })
      .Case([&](PyramidAttr pyramid) {
        // As a leaf: the key block is read at some level. The row form
        // visits a pyramid's groups itself (StreamPyramid.cpp).
        unsigned at = nextMaskOperand;
        Value levels = takeOperand();
        if (at == selectedOperand)
          return boolConst(true);
        Value level = loadBroadcast(
            levels,
            {v.batch, v.head,
             arith::DivUIOp::create(b, loc, i, index(pyramid.getQBlock())),
             arith::DivUIOp::create(b, loc, j, index(pyramid.getKBlock()))},
            {false, false, true, false}, {false, true, false, false});
        return cmp(CmpIPredicate::sge, level,
                   arith::ConstantIntOp::create(b, loc, level.getType(), 0));
      })
      .Case([&](PredicateAttr) {
        SmallVector<Value> args = {v.batch, v.head, i, j};
        llvm::append_range(args, captures);
        return inlineRegion(predicate, args);
      })
      .Case([&](NeighborhoodAttr n) { return emitNeighborhood(n); })
      .Case([&](VaryingWindowAttr w) { return emitVaryingWindow(w); })
      .Default([&](Attribute) -> Value { return nullptr; });
}

Value ElementEmitter::selectionContains(Value counts, Value indices, Value row,
                                        Value key) {
  // Counts past the list's capacity read no further than the list.
  Value capacity = memref::DimOp::create(b, loc, indices, 3);
  Value count = arith::MinSIOp::create(
      b, loc,
      toIndex(loadBroadcast(counts, {v.batch, v.head, row},
                            {false, false, true}, {false, true, false})),
      capacity);
  auto search = scf::ForOp::create(
      b, loc, index(0), count, index(1),
      ValueRange{arith::ConstantIntOp::create(b, loc, 0, 1)});
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(search.getBody());
  Value entry = toIndex(
      loadBroadcast(indices, {v.batch, v.head, row, search.getInductionVar()},
                    {false, false, true, false}, {false, true, false, false}));
  Value hit = arith::CmpIOp::create(b, loc, CmpIPredicate::eq, entry, key);
  scf::YieldOp::create(b, loc,
                       ValueRange{arith::OrIOp::create(
                           b, loc, search.getRegionIterArgs()[0], hit)});
  b.setInsertionPointAfter(search);
  return search.getResult(0);
}

std::optional<KeySelection> mlir::attn::findKeySelection(Attribute mask) {
  if (isa_and_nonnull<TokensAttr, BlocksAttr, PyramidAttr>(mask))
    return KeySelection{mask, 0};
  auto conj = dyn_cast_or_null<AndAttr>(mask);
  if (!conj)
    return std::nullopt;
  unsigned operand = 0;
  for (Attribute child : conj.getMasks()) {
    if (isa<TokensAttr, BlocksAttr, PyramidAttr>(child))
      return KeySelection{child, operand};
    operand += getSlots(child).size();
  }
  return std::nullopt;
}

std::pair<Value, Value> mlir::attn::patchCoordinates(OpBuilder &b, Location loc,
                                                     Value position,
                                                     ArrayRef<int64_t> patches,
                                                     int64_t gridCols) {
  // Patch p = position / (ph pw) sits at patch row p / C, patch column
  // p % C of a grid row of C = gridCols / pw patches.
  int64_t ph = patches[0], pw = patches[1], cols = gridCols / pw;
  auto div = [&](Value x, int64_t y) -> Value {
    return arith::DivUIOp::create(b, loc, x,
                                  arith::ConstantIndexOp::create(b, loc, y));
  };
  auto rem = [&](Value x, int64_t y) -> Value {
    return arith::RemUIOp::create(b, loc, x,
                                  arith::ConstantIndexOp::create(b, loc, y));
  };
  auto mulAdd = [&](Value x, int64_t y, Value z) -> Value {
    return arith::AddIOp::create(
        b, loc,
        arith::MulIOp::create(b, loc, x,
                              arith::ConstantIndexOp::create(b, loc, y)),
        z);
  };
  Value patch = div(position, ph * pw), inside = rem(position, ph * pw);
  return {mulAdd(div(patch, cols), ph, div(inside, pw)),
          mulAdd(rem(patch, cols), pw, rem(inside, pw))};
}

SmallVector<Value> ElementEmitter::unravel(Value flat, ArrayRef<int64_t> grid) {
  if (!v.patches.empty()) {
    if (flat == v.key && v.keyRow)
      return {v.keyRow, v.keyCol};
    auto [row, col] = patchCoordinates(b, loc, flat, v.patches, grid[1]);
    return {row, col};
  }
  SmallVector<Value> coords(grid.size());
  Value rest = flat;
  for (int64_t k = grid.size() - 1; k >= 0; --k) {
    coords[k] = arith::RemUIOp::create(b, loc, rest, index(grid[k]));
    rest = arith::DivUIOp::create(b, loc, rest, index(grid[k]));
  }
  return coords;
}

Value ElementEmitter::emitNeighborhood(NeighborhoodAttr attr) {
  ArrayRef<int64_t> grid = attr.getGrid();
  SmallVector<Value> xs = unravel(v.query, grid), ys = unravel(v.key, grid);
  Value result = arith::ConstantIntOp::create(b, loc, 1, 1);
  for (size_t axis = 0; axis < grid.size(); ++axis)
    result = arith::AndIOp::create(
        b, loc, result, emitNeighborhoodAxis(attr, axis, xs[axis], ys[axis]));
  return result;
}

Value ElementEmitter::emitNeighborhoodAxis(NeighborhoodAttr attr, size_t axis,
                                           Value x, Value y) {
  int64_t n = attr.getGrid()[axis], k = attr.getKernel()[axis];
  int64_t d = attr.getDilationOrDefault()[axis];
  int64_t stride = attr.getStrideOrDefault()[axis];
  // Coordinates and window bounds stay below 2n: in 32 bits where that
  // fits (half the registers of index on GPUs, twice the lanes on CPUs).
  Type type = n < (int64_t(1) << 30) ? Type(b.getI32Type()) : b.getIndexType();
  auto narrow = [&](Value v) -> Value {
    if (type.isIndex())
      return v;
    return arith::IndexCastUIOp::create(b, loc, type, v);
  };
  auto constant = [&](int64_t value) -> Value {
    return arith::ConstantOp::create(b, loc, b.getIntegerAttr(type, value));
  };
  auto cmp = [&](CmpIPredicate p, Value lhs, Value rhs) -> Value {
    return arith::CmpIOp::create(b, loc, p, lhs, rhs);
  };
  x = narrow(x);
  y = narrow(y);
  Value dv = constant(d);
  Value g = arith::RemUIOp::create(b, loc, x, dv);
  Value same = cmp(CmpIPredicate::eq, g, arith::RemUIOp::create(b, loc, y, dv));
  Value xg = arith::DivUIOp::create(b, loc, x, dv);
  Value yg = arith::DivUIOp::create(b, loc, y, dv);
  Value inWindow;
  // start <= yg < start + k as one unsigned comparison of yg - start
  // (one value per query and axis for the key loop to keep).
  auto within = [&](Value start, Value at) {
    return cmp(CmpIPredicate::ult, arith::SubIOp::create(b, loc, at, start),
               constant(k));
  };
  if (attr.getCausalOrDefault()[axis]) {
    // xg - k < yg <= xg: xg - yg in [0, k).
    inWindow = within(yg, xg);
  } else {
    // Positions of this dilation group: ng = (n - g + d - 1) / d.
    Value ng = arith::DivUIOp::create(
        b, loc, arith::SubIOp::create(b, loc, constant(n + d - 1), g), dv);
    Value s = constant(stride);
    Value groupStart =
        arith::MulIOp::create(b, loc, arith::DivUIOp::create(b, loc, xg, s), s);
    Value centre = arith::MinSIOp::create(
        b, loc,
        arith::AddIOp::create(b, loc, groupStart, constant((stride - 1) / 2)),
        arith::SubIOp::create(b, loc, ng, constant(1)));
    Value start = arith::MinSIOp::create(
        b, loc,
        arith::MaxSIOp::create(
            b, loc, arith::SubIOp::create(b, loc, centre, constant(k / 2)),
            constant(0)),
        arith::SubIOp::create(b, loc, ng, constant(k)));
    inWindow = within(start, yg);
  }
  return arith::AndIOp::create(b, loc, same, inWindow);
}

Value ElementEmitter::emitVaryingWindow(VaryingWindowAttr attr) {
  ArrayRef<int64_t> grid = attr.getGrid();
  SmallVector<Value> xs = unravel(v.query, grid), ys = unravel(v.key, grid);
  Value result = arith::ConstantIntOp::create(b, loc, 1, 1);
  for (size_t axis = 0; axis < grid.size(); ++axis) {
    int64_t p = attr.getWindow()[axis], context = p * attr.getRatio();
    Value windowStart = arith::MulIOp::create(
        b, loc, arith::DivUIOp::create(b, loc, xs[axis], index(p)), index(p));
    Value centred =
        arith::AddIOp::create(b, loc, windowStart, index(p / 2 - context / 2));
    Value start = arith::MinSIOp::create(
        b, loc, arith::MaxSIOp::create(b, loc, centred, index(0)),
        index(grid[axis] - context));
    result = arith::AndIOp::create(
        b, loc, result,
        inRange(b, loc, start, ys[axis],
                arith::AddIOp::create(b, loc, start, index(context))));
  }
  return result;
}

//===----------------------------------------------------------------------===//
// Score modifiers
//===----------------------------------------------------------------------===//

Value ElementEmitter::dynFloat(FloatAttr value, ValueRange &operands) {
  if (value)
    return arith::ConstantOp::create(
        b, loc, b.getF32FloatAttr(value.getValueAsDouble()));
  Value operand = operands.front();
  operands = operands.drop_front();
  return toF32(operand);
}

Value ElementEmitter::emitScore(Value s, ArrayAttr modifiers,
                                ValueRange operands, Region &scoreFn,
                                ValueRange captures) {
  if (!modifiers)
    return s;
  Value i = v.query, j = v.key;
  auto take = [&]() {
    Value operand = operands.front();
    operands = operands.drop_front();
    return operand;
  };
  // Row-scalar operands (temperature, ...): a scalar or [B|1, Hq|1, Sq|1].
  auto rowValue = [&](Value operand) {
    if (!isa<MemRefType>(operand.getType()))
      return toF32(operand);
    return toF32(
        loadBroadcast(operand, {v.batch, v.head, i}, {true, true, true}));
  };
  // j - i as the difference of the two positions in f32 (exact below
  // 2^24): the conversions then belong to a key and to a query, shared by
  // the elements of a column and of a row, instead of one integer-to-float
  // conversion per element (a quarter-rate instruction on GPUs); the
  // caller's keyF32 where it has one (a conversion per key tile).
  auto distance = [&]() {
    return arith::SubFOp::create(b, loc, v.keyF32 ? v.keyF32 : toF32(j),
                                 toF32(i))
        .getResult();
  };
  for (Attribute mod : modifiers) {
    s = llvm::TypeSwitch<Attribute, Value>(mod)
            .Case([&](TemperatureAttr) {
              return arith::MulFOp::create(b, loc, s, rowValue(take()));
            })
            .Case([&](BiasAttr) {
              Value bias = loadBroadcast(take(), {v.batch, v.head, i, j},
                                         {true, true, true, true});
              return arith::AddFOp::create(b, loc, s, toF32(bias));
            })
            .Case([&](AlibiAttr) {
              Value slope = toF32(
                  memref::LoadOp::create(b, loc, take(), ValueRange{v.head}));
              return arith::AddFOp::create(
                  b, loc, s, arith::MulFOp::create(b, loc, slope, distance()));
            })
            .Case([&](RelPosAttr r) {
              Value rel = arith::SubIOp::create(b, loc, i, j);
              Value column;
              if (r.getBuckets()) {
                column = relPosBucket(rel, r.getBuckets(), r.getMaxDistance());
              } else {
                // table[h, clamp(i - j, -M, M) + M].
                Value m = index(r.getMaxDistance());
                Value clamped = arith::MaxSIOp::create(
                    b, loc, arith::MinSIOp::create(b, loc, rel, m),
                    arith::SubIOp::create(b, loc, index(0), m));
                column = arith::AddIOp::create(b, loc, clamped, m);
              }
              Value bias = memref::LoadOp::create(b, loc, take(),
                                                  ValueRange{v.head, column});
              return arith::AddFOp::create(b, loc, s, toF32(bias));
            })
            .Case([&](SoftcapAttr c) {
              // s * (1 / cap): the reciprocal folds for a constant cap (an
              // IEEE division per score is a dozen instructions on GPUs).
              Value cap = dynFloat(c.getCap(), operands);
              Value inverse = arith::DivFOp::create(
                  b, loc,
                  arith::ConstantOp::create(b, loc, b.getF32FloatAttr(1.0)),
                  cap);
              Value t = math::TanhOp::create(
                  b, loc, arith::MulFOp::create(b, loc, s, inverse));
              return arith::MulFOp::create(b, loc, cap, t);
            })
            .Case([&](DecayAttr decay) {
              Value gamma = toF32(
                  memref::LoadOp::create(b, loc, take(), ValueRange{v.head}));
              Value dist = math::AbsFOp::create(b, loc, distance());
              if (decay.getDistance() == Distance::manhattan) {
                // Sum over the grid axes of |coordinate(i) - coordinate(j)|.
                SmallVector<Value> xs = unravel(i, decay.getGrid());
                SmallVector<Value> ys = unravel(j, decay.getGrid());
                dist = toF32(index(0));
                for (auto [x, y] : llvm::zip(xs, ys))
                  dist = arith::AddFOp::create(
                      b, loc, dist,
                      math::AbsFOp::create(
                          b, loc, toF32(arith::SubIOp::create(b, loc, x, y))));
              }
              return arith::AddFOp::create(
                  b, loc, s,
                  arith::MulFOp::create(
                      b, loc, math::LogOp::create(b, loc, gamma), dist));
            })
            .Case([&](ScoreFnAttr) {
              SmallVector<Value> args = {s, v.batch, v.head, i, j};
              llvm::append_range(args, captures);
              return inlineRegion(scoreFn, args);
            })
            .Default([&](Attribute) { return s; });
  }
  return s;
}

Value ElementEmitter::relPosBucket(Value rel, int64_t buckets,
                                   int64_t maxDistance) {
  // T5 buckets of rel = i - j: half per sign; n = |rel| below `exact` is its
  // own bucket, above it the bucket grows with log(n). The log-spaced
  // boundaries are computed here in double precision, as the reference does,
  // so the kernel compares integers only.
  int64_t half = buckets / 2, exact = std::max<int64_t>(half / 2, 1);
  auto large = [&](int64_t n) {
    double scaled = std::log(double(n) / exact) /
                    std::log(double(maxDistance) / exact) * (half - exact);
    return std::min<int64_t>(half - 1, exact + int64_t(std::floor(scaled)));
  };
  Value negative =
      arith::CmpIOp::create(b, loc, CmpIPredicate::slt, rel, index(0));
  Value n = arith::SelectOp::create(
      b, loc, negative, arith::SubIOp::create(b, loc, index(0), rel), rel);
  Value bucket = index(exact);
  int64_t next = exact + 1;
  for (int64_t k = exact;
       k < std::max<int64_t>(4 * maxDistance, 64) && next < half; ++k) {
    if (large(k) < next)
      continue;
    // Every n >= k is in bucket `next` or later.
    Value reached =
        arith::CmpIOp::create(b, loc, CmpIPredicate::sge, n, index(k));
    bucket = arith::AddIOp::create(
        b, loc, bucket,
        arith::SelectOp::create(b, loc, reached, index(large(k) - next + 1),
                                index(0)));
    next = large(k) + 1;
  }
  Value small =
      arith::CmpIOp::create(b, loc, CmpIPredicate::slt, n, index(exact));
  bucket = arith::SelectOp::create(b, loc, small, n, bucket);
  return arith::AddIOp::create(
      b, loc, bucket,
      arith::SelectOp::create(b, loc, negative, index(half), index(0)));
}

//===- LaneVectorizer.cpp - scalar element IR to lanes --------------------===//
//
// A value is varying if it depends on a seed (the vector of query indices,
// the vector of scores); everything else is uniform and stays scalar. The
// varying ops are rewritten in program order:
//   - elementwise ops (arith, math): the same op on vectors, uniform
//     operands broadcast;
//   - memref.load with varying indices: vector.gather (identity layouts),
//     all lanes active — the caller clamps lanes to valid rows;
//   - anything else (tensor.extract of captured tensors, ops with regions,
//     calls): cloned once per lane on extracted scalars.
//
//===----------------------------------------------------------------------===//

#include "LaneVectorizer.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/IRMapping.h"

using namespace mlir;

namespace {
class Vectorizer {
public:
  Vectorizer(OpBuilder &b, Location loc, int64_t lanes)
      : b(b), loc(loc), lanes(lanes) {}

  IRMapping varying;

  VectorType vectorOf(Type type) { return VectorType::get({lanes}, type); }

  /// The vector form of `x`: its rewritten value, or a broadcast.
  Value widen(Value x) {
    if (Value v = varying.lookupOrNull(x))
      return v;
    return vector::BroadcastOp::create(b, loc, vectorOf(x.getType()), x);
  }

  /// Whether `op` reads a varying value, directly or inside its regions.
  bool readsVarying(Operation *op) {
    bool found = false;
    op->walk([&](Operation *inner) {
      for (Value x : inner->getOperands())
        found |= varying.contains(x);
    });
    return found;
  }

  void rewrite(Operation *op) {
    if (isElementwise(op))
      return rewriteElementwise(op);
    if (auto load = dyn_cast<memref::LoadOp>(op))
      if (load.getMemRefType().getLayout().isIdentity())
        return rewriteLoad(load);
    rewritePerLane(op);
  }

private:
  static bool isScalar(Type type) {
    return type.isIntOrIndexOrFloat();
  }

  static bool isElementwise(Operation *op) {
    return op->hasTrait<OpTrait::Elementwise>() && op->getNumRegions() == 0 &&
           llvm::all_of(op->getOperandTypes(), isScalar) &&
           llvm::all_of(op->getResultTypes(), isScalar);
  }

  void rewriteElementwise(Operation *op) {
    SmallVector<Value> operands =
        llvm::map_to_vector(op->getOperands(), [&](Value x) { return widen(x); });
    SmallVector<Type> types = llvm::map_to_vector(
        op->getResultTypes(), [&](Type t) -> Type { return vectorOf(t); });
    OperationState state(op->getLoc(), op->getName(), operands, types,
                         op->getAttrs());
    Operation *vectorOp = b.create(state);
    for (auto [from, to] : llvm::zip(op->getResults(), vectorOp->getResults()))
      varying.map(from, to);
  }

  void rewriteLoad(memref::LoadOp load) {
    ValueRange indices = load.getIndices();
    Value memref = load.getMemRef();
    Type element = load.getType();
    Value zero = arith::ConstantIndexOp::create(b, loc, 0);
    SmallVector<Value> base(indices.size(), zero);
    Value offsets;
    bool onlyLast = llvm::none_of(indices.drop_back(), [&](Value x) {
      return varying.contains(x);
    });
    if (onlyLast) {
      // Uniform leading indices address the row; the last one varies.
      for (size_t k = 0; k + 1 < indices.size(); ++k)
        base[k] = indices[k];
      offsets = widen(indices.back());
    } else {
      // Row-major linear offsets from the origin.
      Value stride = arith::ConstantIndexOp::create(b, loc, 1);
      for (int64_t k = indices.size() - 1; k >= 0; --k) {
        Value term = arith::MulIOp::create(
            b, loc, widen(indices[k]),
            vector::BroadcastOp::create(b, loc, vectorOf(b.getIndexType()),
                                        stride));
        offsets = offsets ? arith::AddIOp::create(b, loc, offsets, term)
                                .getResult()
                          : term;
        if (k > 0)
          stride = arith::MulIOp::create(
              b, loc, stride, memref::DimOp::create(b, loc, memref, k));
      }
    }
    Value mask = arith::ConstantOp::create(
        b, loc, DenseElementsAttr::get(vectorOf(b.getI1Type()), true));
    Value passThrough =
        arith::ConstantOp::create(b, loc, b.getZeroAttr(vectorOf(element)));
    Value gathered = vector::GatherOp::create(b, loc, vectorOf(element), memref,
                                              base, offsets, mask, passThrough);
    varying.map(load.getResult(), gathered);
  }

  void rewritePerLane(Operation *op) {
    // Every varying value the op reads, with nested uses.
    SetVector<Value> reads;
    op->walk([&](Operation *inner) {
      for (Value x : inner->getOperands())
        if (varying.contains(x))
          reads.insert(x);
    });
    SmallVector<SmallVector<Value>> results(op->getNumResults());
    for (int64_t lane = 0; lane < lanes; ++lane) {
      IRMapping mapping;
      for (Value x : reads)
        mapping.map(x, vector::ExtractOp::create(b, loc, varying.lookup(x),
                                                 ArrayRef<int64_t>{lane}));
      Operation *clone = b.clone(*op, mapping);
      for (auto [k, r] : llvm::enumerate(clone->getResults()))
        results[k].push_back(r);
    }
    for (auto [k, r] : llvm::enumerate(op->getResults()))
      varying.map(r, vector::FromElementsOp::create(
                         b, loc, vectorOf(r.getType()), results[k]));
  }

  OpBuilder &b;
  Location loc;
  int64_t lanes;
};
} // namespace

SmallVector<Value>
mlir::attn::vectorizeLanes(OpBuilder &b, Location loc, Block *block,
                           Operation *after,
                           ArrayRef<std::pair<Value, Value>> seeds,
                           ArrayRef<Value> outputs, int64_t lanes) {
  Block::iterator end = b.getInsertionPoint();
  SmallVector<Operation *> ops;
  for (auto it = after ? std::next(after->getIterator()) : block->begin();
       it != end; ++it)
    ops.push_back(&*it);
  Vectorizer vectorizer(b, loc, lanes);
  for (auto [scalar, vector] : seeds)
    vectorizer.varying.map(scalar, vector);
  SmallVector<Operation *> rewritten;
  for (Operation *op : ops) {
    if (!vectorizer.readsVarying(op))
      continue;
    b.setInsertionPointAfter(op);
    vectorizer.rewrite(op);
    rewritten.push_back(op);
  }
  b.setInsertionPoint(block, end);
  SmallVector<Value> result = llvm::map_to_vector(
      outputs, [&](Value x) { return vectorizer.widen(x); });
  // Users come after their producers: erase in reverse.
  for (Operation *op : llvm::reverse(rewritten))
    op->erase();
  return result;
}

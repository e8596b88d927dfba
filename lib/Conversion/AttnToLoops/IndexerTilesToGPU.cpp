//===- IndexerTilesToGPU.cpp - the indexer's scores on tensor cores -------===//
//
// `attn.indexer_topk` (D1, D2's block stage) with 16-bit indexer queries and
// keys on the score-tile kernel (ScoreTilesToGPU.cpp): a set is a batch, a
// pair's score is sum_t w_t relu(q_t . k) over the T indexer heads (T m16
// tiles of A fragments per warp, the weighted sum over the heads in order
// as on the CPU), the mask and the candidate keys those of IndexerRows.
//
//===----------------------------------------------------------------------===//

#include "SelectionKernels.h"
#include "StreamingLowering.h"

using namespace mlir;
using namespace mlir::attn;

bool mlir::attn::indexerScoresOnTensorCores(IndexerTopkOp op) {
  auto query = cast<RankedTensorType>(op.getQuery().getType());
  auto key = cast<RankedTensorType>(op.getKey().getType());
  Type element = query.getElementType();
  return !op.getBlockCounts() && element == key.getElementType() &&
         (element.isF16() || element.isBF16()) && query.hasStaticShape() &&
         key.hasStaticShape() && query.getDimSize(3) > 0 &&
         query.getDimSize(3) % 32 == 0;
}

namespace {
class IndexerScoring : public TileScoring {
public:
  IndexerScoring(IndexerTopkOp op, RewriterBase &b) : op(op), b(b) {
    auto query = cast<RankedTensorType>(op.getQuery().getType());
    sets = query.getDimSize(0);
    queryLen = query.getDimSize(1);
    heads = query.getDimSize(2);
    dim = query.getDimSize(3);
    keys = cast<RankedTensorType>(op.getKey().getType()).getDimSize(1);
    k = op.getK();
    element = query.getElementType();
  }

  void bind(ValueRange inputs, SelectionBuilder &builder) override {
    s = &builder;
    rows.emplace(builder, op, inputs, b);
  }
  std::pair<Value, Value> setOf(Value set) override { return {set, s->idx(0)}; }
  Value queryVector(Value bb, Value, Value i, int64_t t, Value d) override {
    return loadVector16(b, op.getLoc(), rows->qi, {bb, i, s->idx(t), d});
  }
  Value keyVector(Value bb, Value, Value j, Value d) override {
    return loadVector16(b, op.getLoc(), rows->ki, {bb, j, d});
  }
  void beginTile(Value bb, Value, ArrayRef<Value> tileRows) override {
    for (auto [r, i] : llvm::enumerate(tileRows)) {
      weights[r].clear();
      for (int64_t t = 0; t < heads; ++t)
        weights[r].push_back(s->toF32(memref::LoadOp::create(
            b, op.getLoc(), rows->w, ValueRange{bb, i, s->idx(t)})));
    }
  }
  Value orderedKey(int r, ArrayRef<Value> dots, Value, Value, Value, Value,
                   Value valid) override {
    Location loc = op.getLoc();
    Value total = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0));
    Value zero = total;
    for (auto [t, dot] : llvm::enumerate(dots))
      total = arith::AddFOp::create(
          b, loc, total,
          arith::MulFOp::create(b, loc, weights[r][t],
                                arith::MaximumFOp::create(b, loc, dot, zero)));
    return arith::SelectOp::create(b, loc, valid, s->orderedKey(total),
                                   s->i32(0));
  }
  std::pair<Value, Value> classify(Value bb, Value, Value i0, Value i1,
                                   Value j0, Value j1) override {
    return rows->classify(bb, i0, i1, j0, j1);
  }
  Value allowed(Value bb, Value, Value i, Value j) override {
    return rows->allowed(bb, i, j);
  }
  Value keysEnd(Value bb, Value, Value i0, Value i1) override {
    return rows->keysEnd(bb, i0, i1);
  }

private:
  IndexerTopkOp op;
  RewriterBase &b;
  SelectionBuilder *s = nullptr;
  std::optional<IndexerRows> rows;
  SmallVector<Value> weights[2];
};
} // namespace

LogicalResult mlir::attn::lowerIndexerTilesToGPU(IndexerTopkOp op,
                                                 func::FuncOp func,
                                                 RewriterBase &b) {
  IndexerScoring scoring(op, b);
  return lowerScoreTilesToGPU(op, func, b, scoring);
}

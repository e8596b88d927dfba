//===- BlockMassToGPU.cpp - D5 and D6 rows on the block-rows kernel -------===//
//
// `attn.threshold_blocks` (D5, FlexPrefill) and `attn.pyramid_levels` (D6,
// PSA) on the block-rows kernel of BlockRowsToGPU.cpp: a row's slots hold
// its candidates' scores (scale q . mean(K_j), -inf for the rest; D5's q
// the query block's last query, D6's its mean), and a row is finished from
// their estimated mass n_j exp(s_j - max) normalized over the candidates:
//
// - D6: each key block's level from its importance and the thresholds, a
//   thread per key block;
// - D5: the candidates sorted by mass (largest first, ties to the smaller
//   block: a bitonic sort of (ordered key, block) in shared memory), taken
//   while the taken mass is below gamma of the total or fewer than
//   min_blocks are taken, and listed in ascending order by the ordered
//   compaction of SelectionKernels.cpp.
//
// The row's maximum is a block reduction (exact in any order); its sums —
// the total, D5's sum of masses and its running sum while taking — are
// added by one thread in the CPU's order (BlockSelectionToLoops.cpp), so the
// levels and the lists are the CPU's bit for bit on the same scores. Those
// are a few thousand additions per row at most; everything else is spread
// over the block.
//
//===----------------------------------------------------------------------===//

#include "SelectionKernels.h"
#include "StreamingLowering.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "llvm/Support/MathExtras.h"

#include <cmath>

using namespace mlir;
using namespace mlir::attn;

using arith::CmpFPredicate;
using arith::CmpIPredicate;

namespace {
/// What D5 and D6 share: the scores as slots, the row's maximum, the
/// candidates' weights and their total.
class MassRows : public BlockRows {
public:
  std::pair<Value, Value> slot(Value, Value dot, Value candidate,
                               Value) override {
    RewriterBase &b = w->b;
    Location loc = w->loc;
    Value score = arith::MulFOp::create(b, loc, scale(), dot);
    score = arith::SelectOp::create(b, loc, candidate, score, f32(-INFINITY));
    return {arith::BitcastOp::create(b, loc, b.getI32Type(), score), candidate};
  }

protected:
  explicit MassRows(int64_t dim) : dim(dim) {}

  Value f32(double x) {
    return arith::ConstantOp::create(w->b, w->loc, w->b.getF32FloatAttr(x));
  }
  /// 1 / sqrt(D), as the CPU computes it.
  Value scale() {
    RewriterBase &b = w->b;
    return math::RsqrtOp::create(
        b, w->loc,
        arith::SIToFPOp::create(
            b, w->loc, b.getF32Type(),
            arith::ConstantIntOp::create(b, w->loc, dim, 64)));
  }
  Value score(const BlockWide::KeyRow &row, Value kb) {
    return w->load(floats, {w->add(row.base, kb)});
  }
  /// Whether the slot of kb < end is a candidate's (a finite score).
  Value isCandidate(Value score) {
    return arith::CmpFOp::create(w->b, w->loc, CmpFPredicate::OGT, score,
                                 f32(-INFINITY));
  }
  /// n_j e^(s_j - max): key block kb's weight (kb's score s).
  Value weight(Value kb, Value s, Value max) {
    RewriterBase &b = w->b;
    Location loc = w->loc;
    Value j0 = w->mul(kb, kBlock);
    Value j1 = w->min(w->add(j0, this->s->idx(kBlock)), this->s->idx(keyLen));
    Value n = arith::SIToFPOp::create(
        b, loc, b.getF32Type(),
        arith::IndexCastOp::create(b, loc, b.getI64Type(),
                                   arith::SubIOp::create(b, loc, j1, j0)));
    return arith::MulFOp::create(
        b, loc, n,
        math::ExpOp::create(b, loc, arith::SubFOp::create(b, loc, s, max)));
  }
  /// The largest score of the row's slots [0, end) (-inf without any),
  /// on every thread.
  Value rowMax(const BlockWide::KeyRow &row, Value end) {
    RewriterBase &b = w->b;
    Location loc = w->loc;
    Value x =
        s->stridedLoop(w->tid, end, s->idx(kSelectThreads), {f32(-INFINITY)},
                       [&](Value kb, ValueRange acc) {
                         return SmallVector<Value>{arith::MaximumFOp::create(
                             b, loc, acc[0], score(row, kb))};
                       })[0];
    for (int32_t offset : {16, 8, 4, 2, 1})
      x = arith::MaximumFOp::create(
          b, loc, x,
          gpu::ShuffleOp::create(b, loc, x, offset, 32, gpu::ShuffleMode::XOR)
              .getShuffleResult());
    s->ifThen(w->cmp(CmpIPredicate::eq, w->lane, s->idx(0)), {}, [&] {
      w->store(toBits(x), w->kept, {w->warp});
      return SmallVector<Value>{};
    });
    w->barrier();
    Value max = f32(-INFINITY);
    for (int64_t i = 0; i < kSelectWarps; ++i)
      max = arith::MaximumFOp::create(b, loc, max,
                                      fromBits(w->load(w->kept, {s->idx(i)})));
    w->barrier();
    return max;
  }
  /// `value(kb, score)` summed over the candidates kb < end in ascending
  /// order by thread 0 (the CPU's sum; the others add nothing), on every
  /// thread.
  Value rowSum(const BlockWide::KeyRow &row, Value end,
               function_ref<Value(Value, Value)> value) {
    return w->serialSum(end, [&](Value kb) -> Value {
      Value x = score(row, kb);
      return arith::SelectOp::create(w->b, w->loc, isCandidate(x), value(kb, x),
                                     f32(0.0));
    });
  }
  Value toBits(Value x) {
    return arith::BitcastOp::create(w->b, w->loc, w->b.getI32Type(), x);
  }
  Value fromBits(Value x) {
    return arith::BitcastOp::create(w->b, w->loc, w->b.getF32Type(), x);
  }

  int64_t dim;
};

/// D5: the taken candidates by mass.
class ThresholdRows : public MassRows {
public:
  explicit ThresholdRows(ThresholdBlocksOp op)
      : MassRows(cast<RankedTensorType>(op.getQuery().getType()).getDimSize(3)),
        op(op) {
    query = Query::Last;
    int64_t kBlocks = llvm::divideCeil(
        cast<RankedTensorType>(op.getKey().getType()).getDimSize(2),
        op.getKBlock());
    sortSlots = llvm::PowerOf2Ceil(std::max<int64_t>(kBlocks, 2));
  }

  void finish(const BlockWide::KeyRow &row, Value end, Value bb, Value h,
              Value qb) override {
    RewriterBase &b = w->b;
    Location loc = w->loc;
    Value counts = outputs[0], indices = outputs[1];
    int64_t width =
        cast<RankedTensorType>(op.getIndices().getType()).getDimSize(3);
    Value max = rowMax(row, end);
    Value total =
        rowSum(row, end, [&](Value kb, Value x) { return weight(kb, x, max); });
    // The candidates' masses in place of their scores.
    w->eachThread(end, [&](Value kb) {
      Value x = score(row, kb);
      s->ifThen(isCandidate(x), {}, [&] {
        w->store(arith::DivFOp::create(b, loc, weight(kb, x, max), total),
                 floats, {w->add(row.base, kb)});
        return SmallVector<Value>{};
      });
    });
    w->barrier();
    Value goal = arith::MulFOp::create(
        b, loc, rowSum(row, end, [&](Value, Value m) { return m; }),
        f32(op.getGamma().convertToDouble()));
    sortByMass(row, end);
    // Taken while the mass is below the goal or fewer than min_blocks are
    // taken; listed in ascending order (the row's slots as flags).
    Value taken = w->takeSorted(
        sortBuffer, sortSlots, goal, s->i32(op.getMinBlocks()),
        [&](Value kb) { return score(row, kb); }, row, end,
        [&](Value at, Value kb) {
          s->ifThen(w->cmp(CmpIPredicate::slt, at, s->idx(width)), {}, [&] {
            w->store(arith::IndexCastOp::create(b, loc, b.getI32Type(), kb),
                     indices, {bb, h, qb, at});
            return SmallVector<Value>{};
          });
        });
    Value count = w->min(taken, s->idx(width));
    w->eachThread(
        arith::SubIOp::create(b, loc, s->idx(width), count), [&](Value t) {
          w->store(s->i32(-1), indices, {bb, h, qb, w->add(count, t)});
        });
    w->onThread0([&] {
      w->store(arith::IndexCastOp::create(b, loc, b.getI32Type(), count),
               counts, {bb, h, qb});
    });
    // The row and the sorted entries are reused by the next row.
    w->barrier();
  }

private:
  /// sortBuffer: the candidates kb < end packed by the ordered key of
  /// their mass (packDescending), 0 for the rest, in descending order.
  void sortByMass(const BlockWide::KeyRow &row, Value end) {
    RewriterBase &b = w->b;
    Location loc = w->loc;
    Value zero64 = arith::ConstantIntOp::create(b, loc, 0, 64);
    w->eachThread(s->idx(sortSlots), [&](Value kb) {
      Value inRow = w->cmp(CmpIPredicate::ult, kb, end);
      Value entry = s->ifThen(inRow, {zero64}, [&] {
        Value m = score(row, kb);
        return SmallVector<Value>{arith::SelectOp::create(
            b, loc, isCandidate(m),
            packDescending(b, loc, s->orderedKey(m), kb), zero64)};
      })[0];
      w->store(entry, sortBuffer, {kb});
    });
    w->barrier();
    w->sortDescending(sortBuffer, sortSlots);
  }

  ThresholdBlocksOp op;
};

/// D6: the levels.
class LevelRows : public MassRows {
public:
  explicit LevelRows(PyramidLevelsOp op)
      : MassRows(cast<RankedTensorType>(op.getQuery().getType()).getDimSize(3)),
        op(op) {
    query = Query::Mean;
  }

  void finish(const BlockWide::KeyRow &row, Value end, Value bb, Value h,
              Value qb) override {
    RewriterBase &b = w->b;
    Location loc = w->loc;
    Value levels = outputs[0];
    Type levelType = cast<MemRefType>(levels.getType()).getElementType();
    Value max = rowMax(row, end);
    Value total =
        rowSum(row, end, [&](Value kb, Value x) { return weight(kb, x, max); });
    Value floor = arith::MaximumFOp::create(b, loc, total, f32(1e-38));
    ArrayRef<Attribute> thresholds = op.getThresholds().getValue();
    w->eachThread(s->idx(kBlocks), [&](Value kb) {
      // Blocks past the candidates' end have no weight.
      Value x =
          s->ifThen(w->cmp(CmpIPredicate::ult, kb, end), {f32(-INFINITY)},
                    [&] { return SmallVector<Value>{score(row, kb)}; })[0];
      Value weighted = arith::SelectOp::create(b, loc, isCandidate(x),
                                               weight(kb, x, max), f32(0.0));
      Value importance = arith::DivFOp::create(b, loc, weighted, floor);
      Value level = arith::ConstantIntOp::create(b, loc, levelType, -1);
      for (int64_t l = thresholds.size() - 1; l >= 0; --l)
        level = arith::SelectOp::create(
            b, loc,
            arith::CmpFOp::create(
                b, loc, CmpFPredicate::OGE, importance,
                f32(cast<FloatAttr>(thresholds[l]).getValueAsDouble())),
            arith::ConstantIntOp::create(b, loc, levelType, l), level);
      w->store(level, levels, {bb, h, qb, kb});
    });
    // The row is reused by the next row.
    w->barrier();
  }

private:
  PyramidLevelsOp op;
};
} // namespace

LogicalResult mlir::attn::lowerSelectionToGPU(ThresholdBlocksOp op,
                                              func::FuncOp func,
                                              RewriterBase &b) {
  ThresholdRows rows(op);
  return lowerBlockRowsToGPU(op, func, b, rows);
}

LogicalResult mlir::attn::lowerSelectionToGPU(PyramidLevelsOp op,
                                              func::FuncOp func,
                                              RewriterBase &b) {
  LevelRows rows(op);
  return lowerBlockRowsToGPU(op, func, b, rows);
}

//===- BlockRowsToGPU.cpp - block-level selections as GPU kernels ---------===//
//
// The block-level selections score every candidate pooled key block for
// every query block: rows are (batch, head, query block), and each row
// needs the pooled key blocks of its KV head. A thread per row (the GPU row
// form) pooled them once per row or head, left most of the GPU idle and
// scored a row's candidates one after the other. Here a block of 256
// threads takes a work item — (batch, head, every R-th query block from c),
// about four items per SM of an H100; strided so that a causal mask gives
// the items equal work — and
//
//   1. pools the key blocks its queries can see (the end of the mask's
//      closed-form hull, and the local blocks) into its region of the
//      workspace, 16 bytes of a key row per thread and step, in the CPU's
//      order (SelectionBuilder::poolRows: the same f32 sums);
//   2. per four query blocks at a time, stages their queries in shared
//      memory (pooled, or the block's last query), and the threads take the
//      key blocks: each reads its pooled key block once (16-byte loads) for
//      the four dot products, tests the candidate (closed form first, pairs
//      only on partial blocks), and writes the slots (BlockRows::slot) into
//      four rows of the workspace;
//   3. finishes each row block-wide (BlockRows::finish): D3's k best by the
//      radix select of SelectionKernels.cpp; D5's and D6's masses
//      (BlockMassToGPU.cpp).
//
// The scores are the CPU's (the same products summed in the same order), so
// the sets are the CPU's. Every item of a head pools the head's keys again,
// R reads of K per head instead of one; the alternative, a program step
// that pools once, would need the pooled keys as an operand of the op.
//
//===----------------------------------------------------------------------===//

#include "SelectionKernels.h"
#include "StreamingLowering.h"
#include "attn/Analysis/TileClassification.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <algorithm>

using namespace mlir;
using namespace mlir::attn;

using arith::CmpIPredicate;

namespace {
/// Work items wanted: about four per SM of an H100 (132 SMs), and query
/// blocks scored per pass over the pooled key blocks. Measured on the H100
/// (D3 block top-k, 16 heads, D = 128, 64-token blocks, S = 32K / 128K):
/// 264 items x 4 rows 1.24 / 9.29 ms, 264 x 8 1.52 / 9.41, 132 x 8
/// 1.46 / 9.84, 528 x 2 1.83 / 14.2, 528 x 4 1.11 / 7.79, 528 x 8
/// 1.59 / 9.25, 1056 x 2 1.58 / 16.3, 1056 x 4 1.56 / 11.0, 2112 x 4
/// 2.55 / 14.9: more items hide more latency but pool the keys again.
constexpr int64_t kItemsWanted = 528;
constexpr int64_t kRows = 4;
/// Static shared memory for the rows' queries and the rows' own buffers
/// (D = 128: 2 KiB of queries).
constexpr int64_t kMaxSharedBytes = 40 * 1024;
} // namespace

/// Elements per 16-byte load of a row of `type` ([.., D]), 1 where D does not
/// split into them.
static int64_t poolWidth(RankedTensorType type) {
  int64_t width = 128 / type.getElementType().getIntOrFloatBitWidth();
  return type.getShape().back() % width == 0 ? width : 1;
}

LogicalResult mlir::attn::lowerBlockRowsToGPU(Operation *op, func::FuncOp func,
                                              RewriterBase &b,
                                              BlockRows &blockRows) {
  Location loc = op->getLoc();
  if (failed(checkStaticShapes(op)))
    return failure();
  auto queryType = cast<RankedTensorType>(op->getOperand(0).getType());
  auto keyType = cast<RankedTensorType>(op->getOperand(1).getType());
  int64_t batch = queryType.getDimSize(0), heads = queryType.getDimSize(1);
  int64_t queryLen = queryType.getDimSize(2), dim = queryType.getDimSize(3);
  int64_t kvHeads = keyType.getDimSize(1), keyLen = keyType.getDimSize(2);
  int64_t qBlock = op->getAttrOfType<IntegerAttr>("q_block").getInt();
  int64_t kBlock = op->getAttrOfType<IntegerAttr>("k_block").getInt();
  int64_t qBlocks = llvm::divideCeil(queryLen, qBlock);
  int64_t kBlocks = llvm::divideCeil(keyLen, kBlock);
  int64_t group = heads / std::max<int64_t>(kvHeads, 1);
  bool mean = blockRows.query != BlockRows::Query::Max;
  bool last = blockRows.query == BlockRows::Query::Last;
  // The rows' queries live in static shared memory (at most 48 KB with
  // the select's buffers and the rows'): wider heads take the row form.
  if (kRows * dim * 4 + 8 * blockRows.sortSlots > kMaxSharedBytes)
    return lowerSelectionRowsToGPU(op, func, b);
  // Work items: (batch, head, one of `ranges` strided sets of query
  // blocks), each set non-empty.
  int64_t rows = std::max<int64_t>(batch * heads, 1);
  int64_t ranges = std::clamp<int64_t>(llvm::divideCeil(kItemsWanted, rows), 1,
                                       std::max<int64_t>(qBlocks, 1));
  int64_t items = batch * heads * ranges;
  // Per block: the pooled key blocks (f32 [KB, D]) and kRows rows of keys
  // (i32 [kRows, KB]).
  // (Rows of whole groups of the select's 16-byte loads.)
  int64_t pooledFloats = llvm::alignTo(kBlocks * dim, BlockWide::kGroup);
  int64_t rowStride = llvm::alignTo(kBlocks, BlockWide::kGroup);
  int64_t scratch = llvm::alignTo(
      std::max<int64_t>(4 * (pooledFloats + kRows * rowStride), 1), 16);
  unsigned numInputs = func.getNumArguments();
  FailureOr<gpu::GPUFuncOp> created =
      createSelectionKernel(op, func, b, std::max<int64_t>(items, 1), scratch);
  if (failed(created))
    return failure();
  gpu::GPUFuncOp kernel = *created;
  auto shared = [&](Type element, int64_t size) {
    return addWorkgroupBuffer(kernel, element, size);
  };
  // state: 1-2 the select's, then per row its candidates' end.
  Type i32Type = b.getI32Type(), f32Type = b.getF32Type();
  SelectBuffers select = addSelectBuffers(kernel, 3 + kRows);
  Value state = select.state;
  Value pooledQuery = shared(f32Type, std::max<int64_t>(kRows * dim, 1));
  if (blockRows.sortSlots)
    blockRows.sortBuffer = shared(b.getI64Type(), blockRows.sortSlots);
  Block *body = &kernel.getBody().front();
  b.setInsertionPointToStart(body);
  SelectionBuilder s(b, loc);
  BlockWide w(s, b, loc, select);
  auto idx = [&](int64_t v) { return s.idx(v); };
  auto add = [&](Value x, Value y) { return w.add(x, y); };
  auto mul = [&](Value x, Value y) -> Value {
    return arith::MulIOp::create(b, loc, x, y);
  };
  auto div = [&](Value x, int64_t y) -> Value {
    return arith::DivUIOp::create(b, loc, x, idx(y));
  };
  auto rem = [&](Value x, int64_t y) -> Value {
    return arith::RemUIOp::create(b, loc, x, idx(y));
  };
  auto minI = [&](Value x, Value y) -> Value {
    return arith::MinSIOp::create(b, loc, x, y);
  };
  auto maxI = [&](Value x, Value y) -> Value {
    return arith::MaxSIOp::create(b, loc, x, y);
  };
  // The workspace as f32 and as i32.
  Value grid = gpu::GridDimOp::create(b, loc, gpu::Dimension::x);
  Value block = gpu::BlockIdOp::create(b, loc, gpu::Dimension::x);
  Value floats = workspaceView(b, loc, kernel, f32Type, scratch / 4);
  Value ints = workspaceView(b, loc, kernel, i32Type, scratch / 4);
  Value base = mul(block, idx(scratch / 4));
  Value keysBase = add(base, idx(pooledFloats));
  Value q = body->getArgument(0), k = body->getArgument(1);
  SmallVector<Value> maskOps(body->getArguments().slice(2, numInputs - 2));
  blockRows.s = &s;
  blockRows.w = &w;
  blockRows.floats = floats;
  blockRows.ints = ints;
  blockRows.outputs.assign(body->getArguments().begin() + numInputs,
                           body->getArguments().end() - 1);
  blockRows.kBlocks = kBlocks;
  blockRows.kBlock = kBlock;
  blockRows.keyLen = keyLen;
  SelectionBuilder::MaskProblem problem{op->getAttr("mask"), maskOps,
                                        idx(queryLen), idx(keyLen), idx(heads)};
  Value zero = idx(0), zero32 = s.i32(0);
  Value threads = idx(kSelectThreads);
  int64_t vector = dim % 4 == 0 ? 4 : 1;

  s.stridedLoop(block, idx(items), grid, {}, [&](Value item, ValueRange) {
    Value bb = div(item, heads * ranges);
    Value h = rem(div(item, ranges), heads);
    Value g = div(h, group);
    // The item's query blocks: c, c + ranges, c + 2 ranges, ... (strided:
    // with a causal mask, contiguous ranges would leave the last one with
    // most of the work); query block m of the item is c + m * ranges.
    Value c = rem(item, ranges);
    Value blocksOfItem = arith::CeilDivSIOp::create(
        b, loc, arith::SubIOp::create(b, loc, idx(qBlocks), c), idx(ranges));
    auto blockOf = [&](Value m) { return add(c, mul(m, idx(ranges))); };
    Value rangeI0 = mul(c, idx(qBlock));
    Value rangeI1 = idx(queryLen);
    // The key blocks the item's queries can see: up to the hull's end, and
    // their local blocks.
    Value kbEnd = idx(kBlocks);
    if (problem.mask) {
      ElementEmitter emitter(
          b, loc, s.pairValues(problem, bb, h, rangeI0, zero, rangeI0, rangeI1),
          maskOps);
      Value hullEnd = zero;
      for (const KeyInterval &x : computeKeyRanges(problem.mask).hull)
        hullEnd = maxI(hullEnd, emitter.emitTileExpr(x.end));
      hullEnd = minI(hullEnd, idx(keyLen));
      kbEnd = arith::CeilDivSIOp::create(b, loc, hullEnd, idx(kBlock));
      if (blockRows.includeLocal)
        kbEnd =
            maxI(kbEnd, idx(std::min(kBlocks, (queryLen - 1) / kBlock + 1)));
    }
    // Rows [r0, r1) of x at (bb, head) pooled (width elements from d0) into
    // dest[at ..).
    auto poolInto = [&](Value x, Value head, Value r0, Value r1, Value d0,
                        int64_t width, Value dest, Value at) {
      Value pooled = s.poolRows(x, bb, head, r0, r1, d0, mean, width);
      if (width == 1)
        w.store(pooled, dest, {at});
      else
        vector::StoreOp::create(b, loc, pooled, dest, ValueRange{at},
                                /*nontemporal=*/false, llvm::MaybeAlign(16));
    };
    // 1. The pooled key blocks [0, kbEnd) of KV head g, 16 bytes of a key
    // row per thread and step.
    int64_t kWidth = poolWidth(keyType), qWidth = poolWidth(queryType);
    w.eachThread(mul(kbEnd, idx(dim / kWidth)), [&](Value e) {
      Value kb = div(e, dim / kWidth);
      Value d0 = mul(rem(e, dim / kWidth), idx(kWidth));
      Value j0 = mul(kb, idx(kBlock));
      Value j1 = minI(add(j0, idx(kBlock)), idx(keyLen));
      poolInto(k, g, j0, j1, d0, kWidth, floats,
               add(add(base, mul(kb, idx(dim))), d0));
    });
    s.stridedLoop(
        zero, blocksOfItem, idx(kRows), {}, [&](Value m0, ValueRange) {
          // 2. The queries of the item's query blocks m0 + p: pooled, or
          // the last (pooled alone: itself).
          auto queries = [&](Value qb) -> std::pair<Value, Value> {
            Value i0 = mul(qb, idx(qBlock));
            return {i0, minI(add(i0, idx(qBlock)), idx(queryLen))};
          };
          w.eachThread(idx(kRows * dim / qWidth), [&](Value e) {
            Value m = add(m0, div(e, dim / qWidth));
            Value d0 = mul(rem(e, dim / qWidth), idx(qWidth));
            Value at = add(mul(div(e, dim / qWidth), idx(dim)), d0);
            s.ifThen(w.cmp(CmpIPredicate::slt, m, blocksOfItem), {}, [&] {
              auto [i0, i1] = queries(blockOf(m));
              if (last)
                i0 = arith::SubIOp::create(b, loc, i1, idx(1));
              poolInto(q, h, i0, i1, d0, qWidth, pooledQuery, at);
              return SmallVector<Value>{};
            });
          });
          w.onThread0([&] {
            for (int64_t p = 0; p < kRows; ++p)
              w.store(zero32, state, {idx(3 + p)});
          });
          w.barrier();
          // Rows past the range score its last block (never selected).
          SmallVector<Value> i0s, i1s, locals;
          for (int64_t p = 0; p < kRows; ++p) {
            auto [i0, i1] = queries(blockOf(
                minI(add(m0, idx(p)),
                     arith::SubIOp::create(b, loc, blocksOfItem, idx(1)))));
            i0s.push_back(i0);
            i1s.push_back(i1);
            locals.push_back(
                div(arith::SubIOp::create(b, loc, i1, idx(1)), kBlock));
          }
          SmallVector<Value> ends = s.stridedLoop(
              w.tid, kbEnd, threads, SmallVector<Value>(kRows, zero32),
              [&](Value kb, ValueRange acc) {
                Value at = add(base, mul(kb, idx(dim)));
                Value zeroF =
                    arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0));
                SmallVector<Value> dots = s.stridedLoop(
                    zero, idx(dim), idx(vector),
                    SmallVector<Value>(kRows, zeroF),
                    [&](Value d0, ValueRange sums) {
                      SmallVector<Value> next(sums), xs;
                      if (vector == 1) {
                        xs.push_back(w.load(floats, {add(at, d0)}));
                      } else {
                        Value x = vector::LoadOp::create(
                            b, loc, VectorType::get({vector}, f32Type), floats,
                            ValueRange{add(at, d0)}, /*nontemporal=*/false,
                            llvm::MaybeAlign(16));
                        for (int64_t e = 0; e < vector; ++e)
                          xs.push_back(vector::ExtractOp::create(b, loc, x, e));
                      }
                      for (auto [e, x] : llvm::enumerate(xs))
                        for (int64_t p = 0; p < kRows; ++p) {
                          Value y =
                              w.load(pooledQuery, {add(idx(p * dim + e), d0)});
                          next[p] = arith::AddFOp::create(
                              b, loc, next[p],
                              arith::MulFOp::create(b, loc, y, x));
                        }
                      return next;
                    });
                Value j0 = mul(kb, idx(kBlock));
                Value j1 = minI(add(j0, idx(kBlock)), idx(keyLen));
                SmallVector<Value> next(acc);
                for (int64_t p = 0; p < kRows; ++p) {
                  auto [slot, counts] = blockRows.slot(
                      kb, dots[p],
                      s.allowsAny(problem, bb, h, i0s[p], i1s[p], j0, j1),
                      w.cmp(CmpIPredicate::eq, kb, locals[p]));
                  w.store(slot, ints,
                          {add(keysBase, add(idx(p * rowStride), kb))});
                  Value end = arith::IndexCastOp::create(b, loc, i32Type,
                                                         add(kb, idx(1)));
                  next[p] = arith::SelectOp::create(
                      b, loc, counts,
                      arith::MaxSIOp::create(b, loc, acc[p], end), acc[p]);
                }
                return next;
              });
          for (int64_t p = 0; p < kRows; ++p)
            memref::AtomicRMWOp::create(b, loc, arith::AtomicRMWKind::maxs,
                                        ends[p], state, ValueRange{idx(3 + p)});
          w.barrier();
          // 3. Each row finished.
          for (int64_t p = 0; p < kRows; ++p) {
            Value m = add(m0, idx(p));
            s.ifThen(w.cmp(CmpIPredicate::slt, m, blocksOfItem), {}, [&] {
              blockRows.finish({ints, add(keysBase, idx(p * rowStride))},
                               s.toIndex(w.load(state, {idx(3 + p)})), bb, h,
                               blockOf(m));
              return SmallVector<Value>{};
            });
          }
          // The pooled queries and the rows are reused.
          w.barrier();
          return SmallVector<Value>{};
        });
    // The pooled keys are reused by the next item.
    w.barrier();
    return SmallVector<Value>{};
  });
  gpu::ReturnOp::create(b, loc);
  b.eraseOp(func);
  return success();
}

namespace {
/// D3: a slot is the ordered key of the dot product (0 for non-candidates,
/// the largest key for the local block with `include_local`), and a row's
/// k best are its radix select.
class TopkRows : public BlockRows {
public:
  explicit TopkRows(BlockTopkOp op) : op(op) {
    query = op.getPool() == PoolKind::mean ? Query::Mean : Query::Max;
    includeLocal = op.getIncludeLocal();
  }
  std::pair<Value, Value> slot(Value, Value dot, Value candidate,
                               Value local) override {
    RewriterBase &b = w->b;
    Location loc = w->loc;
    Value key = arith::SelectOp::create(b, loc, candidate, s->orderedKey(dot),
                                        s->i32(0));
    if (includeLocal)
      key = arith::SelectOp::create(b, loc, local, s->i32(-1), key);
    return {key, w->cmp(CmpIPredicate::ne, key, s->i32(0))};
  }
  void finish(const BlockWide::KeyRow &row, Value end, Value bb, Value h,
              Value qb) override {
    RewriterBase &b = w->b;
    Location loc = w->loc;
    Value counts = outputs[0], indices = outputs[1];
    int64_t width =
        cast<RankedTensorType>(op.getIndices().getType()).getDimSize(3);
    Value count = w->selectTop(
        row, end, op.getK(), width,
        [&](Value at, Value kb) {
          w->store(arith::IndexCastOp::create(b, loc, b.getI32Type(), kb),
                   indices, {bb, h, qb, at});
        },
        [&](Value t) { w->store(s->i32(-1), indices, {bb, h, qb, t}); });
    w->onThread0([&] { w->store(count, counts, {bb, h, qb}); });
  }

private:
  BlockTopkOp op;
};
} // namespace

LogicalResult mlir::attn::lowerSelectionToGPU(BlockTopkOp op, func::FuncOp func,
                                              RewriterBase &b) {
  TopkRows rows(op);
  return lowerBlockRowsToGPU(op, func, b, rows);
}

//===- HipTopkToGPU.cpp - D4 hierarchical pruning as a GPU kernel ---------===//
//
// `attn.hip_topk` (D4, HiP): per (batch, head, query block) a tree search
// over the candidate key blocks — split each kept range of the candidate
// list into `branch` parts, score each part by the pooled query block
// against the first key of its first block, keep the k best parts — until
// every kept range is one block. A block of 256 threads takes a row (over a
// capped grid):
//
//   1. pools the query block (a thread per dim, rows in order: the CPU's
//      sums) into shared memory, flags the candidate key blocks (a thread
//      per block; closed form first) and lists them in ascending order by
//      the ordered compaction of SelectionKernels.cpp;
//   2. per round, thread 0 lays out the parts (a few per kept range), the
//      threads score one part each (the dot product in dim order, as on the
//      CPU), and the block-wide radix select keeps the k best (ties to the
//      smaller part, as SelectionBuilder::selectTop);
//   3. writes the kept blocks in list (ascending) order.
//
// The rounds are the CPU's (BlockSelectionToLoops.cpp) on the same scores,
// so the lists are the CPU's. In the GPU row form a thread took a row and
// the rows of one head were too few to fill the GPU: 4.3 ms for D4's
// selection at S = 8K on the H100.
//
//===----------------------------------------------------------------------===//

#include "SelectionKernels.h"
#include "StreamingLowering.h"

using namespace mlir;
using namespace mlir::attn;

using arith::CmpIPredicate;

namespace {
/// The pooled query block's f32 elements at most (shared memory).
constexpr int64_t kMaxPooledDim = 8192;
} // namespace

LogicalResult mlir::attn::lowerSelectionToGPU(HipTopkOp op, func::FuncOp func,
                                              RewriterBase &b) {
  Location loc = op.getLoc();
  if (failed(checkStaticShapes(op)))
    return failure();
  auto queryType = cast<RankedTensorType>(op.getQuery().getType());
  auto keyType = cast<RankedTensorType>(op.getKey().getType());
  int64_t batch = queryType.getDimSize(0), heads = queryType.getDimSize(1);
  int64_t queryLen = queryType.getDimSize(2), dim = queryType.getDimSize(3);
  int64_t kvHeads = keyType.getDimSize(1), keyLen = keyType.getDimSize(2);
  int64_t qBlock = op.getQBlock(), kBlock = op.getKBlock();
  int64_t qBlocks = llvm::divideCeil(queryLen, qBlock);
  int64_t kBlocks = llvm::divideCeil(keyLen, kBlock);
  int64_t topk = op.getK(), branch = op.getBranch();
  int64_t width =
      cast<RankedTensorType>(op.getIndices().getType()).getDimSize(3);
  int64_t group = heads / std::max<int64_t>(kvHeads, 1);
  if (dim > kMaxPooledDim)
    return lowerSelectionRowsToGPU(op, func, b);
  // The block's workspace (i32): the candidates' flags and list, the kept
  // ranges (list positions), the parts and their ordered keys, the chosen
  // parts; each region a whole number of the select's 16-byte groups.
  int64_t parts = topk * branch;
  int64_t flagsAt = 0, listAt = flagsAt + wholeGroups(kBlocks);
  int64_t rangeStartAt = listAt + wholeGroups(kBlocks);
  int64_t rangeEndAt = rangeStartAt + wholeGroups(topk);
  int64_t partStartAt = rangeEndAt + wholeGroups(topk);
  int64_t partEndAt = partStartAt + wholeGroups(parts);
  int64_t partKeyAt = partEndAt + wholeGroups(parts);
  int64_t chosenAt = partKeyAt + wholeGroups(parts);
  int64_t words = chosenAt + wholeGroups(topk);
  unsigned numInputs = func.getNumArguments();
  int64_t rows = batch * heads * qBlocks;
  FailureOr<gpu::GPUFuncOp> created =
      createSelectionKernel(op, func, b, std::max<int64_t>(rows, 1), 4 * words);
  if (failed(created))
    return failure();
  gpu::GPUFuncOp kernel = *created;
  Type i32 = b.getI32Type(), f32 = b.getF32Type();
  // round: the kept ranges, the longest, the candidates, the parts.
  SelectBuffers select = addSelectBuffers(kernel);
  Value round = addWorkgroupBuffer(kernel, i32, 4);
  Value pooled = addWorkgroupBuffer(kernel, f32, std::max<int64_t>(dim, 1));
  Block *body = &kernel.getBody().front();
  b.setInsertionPointToStart(body);
  Value ws = workspaceView(b, loc, kernel, i32, words);
  Value q = body->getArgument(0), k = body->getArgument(1);
  SmallVector<Value> maskOps(body->getArguments().slice(2, numInputs - 2));
  Value counts = body->getArgument(numInputs);
  Value indices = body->getArgument(numInputs + 1);

  SelectionBuilder s(b, loc);
  BlockWide w(s, b, loc, select);
  auto idx = [&](int64_t v) { return s.idx(v); };
  auto add = [&](Value x, Value y) { return w.add(x, y); };
  auto cmp = [&](CmpIPredicate p, Value x, Value y) { return w.cmp(p, x, y); };
  auto toI32 = [&](Value x) -> Value {
    return arith::IndexCastOp::create(b, loc, i32, x);
  };
  Value zero = idx(0), one = idx(1), zero32 = s.i32(0);
  Value block = gpu::BlockIdOp::create(b, loc, gpu::Dimension::x);
  Value grid = gpu::GridDimOp::create(b, loc, gpu::Dimension::x);
  Value base = w.mul(block, words);
  auto at = [&](int64_t region, Value i) {
    return add(add(base, idx(region)), i);
  };
  auto get = [&](int64_t region, Value i) {
    return s.toIndex(w.load(ws, {at(region, i)}));
  };
  auto set = [&](int64_t region, Value i, Value x) {
    w.store(x.getType().isIndex() ? toI32(x) : x, ws, {at(region, i)});
  };
  SelectionBuilder::MaskProblem problem{op.getMaskAttr(), maskOps,
                                        idx(queryLen), idx(keyLen), idx(heads)};

  s.stridedLoop(block, idx(rows), grid, {}, [&](Value row, ValueRange) {
    Value bb = arith::DivUIOp::create(b, loc, row, idx(heads * qBlocks));
    Value h = arith::RemUIOp::create(
        b, loc, arith::DivUIOp::create(b, loc, row, idx(qBlocks)), idx(heads));
    Value qb = arith::RemUIOp::create(b, loc, row, idx(qBlocks));
    Value g = arith::DivUIOp::create(b, loc, h, idx(group));
    Value i0 = w.mul(qb, qBlock);
    Value i1 = w.min(add(i0, idx(qBlock)), idx(queryLen));
    // 1. The pooled query block, the candidates' flags and their count.
    w.onThread0([&] { w.store(zero32, round, {idx(2)}); });
    w.barrier();
    w.eachThread(idx(dim), [&](Value d) {
      w.store(s.poolRows(q, bb, h, i0, i1, d, /*mean=*/true), pooled, {d});
    });
    w.eachThread(idx(kBlocks), [&](Value kb) {
      Value j0 = w.mul(kb, kBlock);
      Value j1 = w.min(add(j0, idx(kBlock)), idx(keyLen));
      Value candidate = s.allowsAny(problem, bb, h, i0, i1, j0, j1);
      set(flagsAt, kb, arith::ExtUIOp::create(b, loc, i32, candidate));
      s.ifThen(candidate, {}, [&] {
        memref::AtomicRMWOp::create(b, loc, arith::AtomicRMWKind::addi,
                                    s.i32(1), round, ValueRange{idx(2)});
        return SmallVector<Value>{};
      });
    });
    w.barrier();
    w.compact(
        {ws, at(flagsAt, zero)}, idx(kBlocks),
        [&](Value flag) {
          return std::pair<Value, Value>{
              cmp(CmpIPredicate::ne, flag, zero32),
              arith::ConstantIntOp::create(b, loc, 0, 1)};
        },
        zero32, [&](Value t, Value kb, Value) { set(listAt, t, kb); });
    Value n = s.toIndex(w.load(round, {idx(2)}));
    // One range over the whole list (none without candidates).
    w.onThread0([&] {
      set(rangeStartAt, zero, zero);
      set(rangeEndAt, zero, n);
      w.store(toI32(arith::SelectOp::create(
                  b, loc, cmp(CmpIPredicate::sgt, n, zero), one, zero)),
              round, {zero});
      w.store(toI32(n), round, {one});
    });
    w.barrier();
    // 2. Rounds while a kept range holds more than one block.
    auto search = scf::WhileOp::create(b, loc, TypeRange{}, ValueRange{});
    {
      OpBuilder::InsertionGuard guard(b);
      b.createBlock(&search.getBefore());
      Value longest = s.toIndex(w.load(round, {one}));
      scf::ConditionOp::create(b, loc, cmp(CmpIPredicate::sgt, longest, one),
                               ValueRange{});
      b.createBlock(&search.getAfter());
      Value ranges = s.toIndex(w.load(round, {zero}));
      // The parts of the ranges in order (the empty ones skipped).
      w.onThread0([&] {
        Value total =
            s.loop(zero, ranges, {zero}, [&](Value r, ValueRange acc) {
              Value r0 = get(rangeStartAt, r), r1 = get(rangeEndAt, r);
              Value len = arith::SubIOp::create(b, loc, r1, r0);
              auto bound = [&](int64_t p) -> Value {
                return add(r0, arith::DivUIOp::create(b, loc, w.mul(len, p),
                                                      idx(branch)));
              };
              Value next = acc[0];
              for (int64_t p = 0; p < branch; ++p) {
                Value a = bound(p), z = bound(p + 1);
                next = s.ifThen(cmp(CmpIPredicate::slt, a, z), {next}, [&] {
                  set(partStartAt, next, a);
                  set(partEndAt, next, z);
                  return SmallVector<Value>{add(next, one)};
                })[0];
              }
              return SmallVector<Value>{next};
            })[0];
        w.store(toI32(total), round, {idx(3)});
      });
      w.barrier();
      Value partCount = s.toIndex(w.load(round, {idx(3)}));
      // Each part's score: the pooled query against its first block's first
      // key.
      w.eachThread(partCount, [&](Value p) {
        Value j = w.mul(get(listAt, get(partStartAt, p)), kBlock);
        Value zeroF = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0));
        Value score =
            s.loop(zero, idx(dim), {zeroF}, [&](Value d, ValueRange acc) {
              return SmallVector<Value>{arith::AddFOp::create(
                  b, loc, acc[0],
                  arith::MulFOp::create(b, loc, w.load(pooled, {d}),
                                        s.toF32(w.load(k, {bb, g, j, d}))))};
            })[0];
        set(partKeyAt, p, s.orderedKey(score));
      });
      w.barrier();
      Value keptParts = s.toIndex(w.selectTop(
          {ws, at(partKeyAt, zero)}, partCount, topk, topk,
          [&](Value t, Value p) { set(chosenAt, t, p); }, [&](Value) {}));
      // The kept parts are the next round's ranges.
      w.onThread0([&] {
        Value longest =
            s.loop(zero, keptParts, {zero}, [&](Value t, ValueRange acc) {
              Value p = get(chosenAt, t);
              Value a = get(partStartAt, p), z = get(partEndAt, p);
              set(rangeStartAt, t, a);
              set(rangeEndAt, t, z);
              return SmallVector<Value>{arith::MaxSIOp::create(
                  b, loc, acc[0], arith::SubIOp::create(b, loc, z, a))};
            })[0];
        w.store(toI32(keptParts), round, {zero});
        w.store(toI32(longest), round, {one});
      });
      w.barrier();
      scf::YieldOp::create(b, loc);
    }
    // 3. The kept single blocks in list order.
    Value found = s.toIndex(w.load(round, {zero}));
    w.eachThread(idx(width), [&](Value t) {
      Value entry =
          s.ifThen(cmp(CmpIPredicate::slt, t, found), {s.i32(-1)}, [&] {
            return SmallVector<Value>{
                w.load(ws, {at(listAt, get(rangeStartAt, t))})};
          })[0];
      w.store(entry, indices, {bb, h, qb, t});
    });
    w.onThread0([&] { w.store(toI32(found), counts, {bb, h, qb}); });
    // The workspace and the round's state are reused by the next row.
    w.barrier();
    return SmallVector<Value>{};
  });
  gpu::ReturnOp::create(b, loc);
  b.eraseOp(func);
  return success();
}

//===- QueryTopkToGPU.cpp - D7's query-aware selection as a GPU kernel ----===//
//
// `attn.query_topk` (D7, QTSplus): per batch, every key's attention mass
// from the guiding queries — each guiding row's softmax over the keys, its
// probabilities summed over the rows (h, i) in order — and the max_tokens
// keys of largest mass, with `threshold` only as many of them (largest
// first) as reach that fraction of the total. Every key's mass needs every
// row's statistics first, so the kernel synchronizes its grid (grid_sync:
// every block resident, one per SM; BlockWide::gridBarrier) and its blocks
// share one workspace. Per batch:
//
//   1. the blocks take (KV head, chunk of keys) units: the chunk staged in
//      shared memory as f32, dim-major, the threads score the head's
//      (guiding row, key) pairs (the dot product in dim order, then the
//      scale: the CPU's scores; a thread a row and 4 keys) into the
//      workspace, once;
//   2. a thread of the grid per guiding row: its maximum and its sum of
//      exp(s - max) over the keys in order;
//   3. a thread of the grid per key: its mass, the rows' probabilities in
//      row order;
//   4. block 0: the block-wide radix select of the max_tokens best masses;
//      with a threshold, the total mass added by thread 0 in key order, the
//      kept keys bitonic-sorted by mass (largest first, ties to the smaller
//      key), taken by thread 0 below the goal and listed in ascending order
//      by the ordered compaction. The other blocks go on to the next
//      batch's scores (which it does not read).
//
// A grid-wide barrier separates the phases. Every sum is the CPU's
// (SelectionToLoops.cpp) in the CPU's order, so the lists are the CPU's.
// The row form took the batch with one block that scored every pair twice
// from scalar loads of Q and K: 0.6 s at S = 4K (16 heads of 64 guiding
// queries), 1.7 ms now.
//
//===----------------------------------------------------------------------===//

#include "SelectionKernels.h"
#include "StreamingLowering.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "llvm/Support/MathExtras.h"

#include <cmath>

using namespace mlir;
using namespace mlir::attn;

using arith::CmpIPredicate;

namespace {
/// f32 elements of the staged key chunk (32 KiB); keys a thread scores
/// at a time; loads in flight in the ordered sums.
constexpr int64_t kChunkFloats = 8192, kKeysPerThread = 4, kUnroll = 8;
} // namespace

LogicalResult mlir::attn::lowerSelectionToGPU(QueryTopkOp op, func::FuncOp func,
                                              RewriterBase &b) {
  Location loc = op.getLoc();
  if (failed(checkStaticShapes(op)))
    return failure();
  auto queryType = cast<RankedTensorType>(op.getQuery().getType());
  auto keyType = cast<RankedTensorType>(op.getKey().getType());
  int64_t batch = queryType.getDimSize(0), heads = queryType.getDimSize(1);
  int64_t guides = queryType.getDimSize(2), dim = queryType.getDimSize(3);
  int64_t kvHeads = keyType.getDimSize(1), keys = keyType.getDimSize(2);
  int64_t maxTokens = op.getMaxTokens();
  int64_t group = heads / std::max<int64_t>(kvHeads, 1);
  int64_t rows = heads * guides;
  int64_t chunk =
      std::min<int64_t>(64, kChunkFloats / std::max<int64_t>(dim, 1) -
                                kKeysPerThread) /
      kKeysPerThread * kKeysPerThread;
  FloatAttr threshold = op.getThresholdAttr();
  int64_t sortSlots =
      threshold ? llvm::PowerOf2Ceil(std::max<int64_t>(maxTokens, 2)) : 0;
  if (chunk < 1 || 8 * sortSlots > 32 * 1024)
    return lowerSelectionRowsToGPU(op, func, b);
  // The grid's workspace (4-byte words), shared by its blocks: the scores
  // [rows, keys], the rows' (max, sum), the masses, their ordered keys (a
  // whole number of the select's groups); then the barrier's counter.
  int64_t scoresAt = 0, statsAt = wholeGroups(rows * keys);
  int64_t massAt = statsAt + wholeGroups(2 * rows),
          keyAt = massAt + wholeGroups(keys);
  int64_t words = keyAt + wholeGroups(keys);
  // Blocks wanted: one per chunk of a KV head (attnrt caps them at one per
  // SM, all resident for the grid-wide barriers).
  int64_t units = kvHeads * llvm::divideCeil(keys, chunk);
  unsigned numInputs = func.getNumArguments();
  FailureOr<gpu::GPUFuncOp> created = createSelectionKernel(
      op, func, b, std::max<int64_t>(units, 1), 4 * words);
  if (failed(created))
    return failure();
  gpu::GPUFuncOp kernel = *created;
  kernel->setAttr("attn.grid_sync", b.getUnitAttr());
  Type i32 = b.getI32Type(), f32 = b.getF32Type();
  SelectBuffers select = addSelectBuffers(kernel);
  // The staged chunk's rows: a dim's keys, padded (16-byte aligned) so
  // that the dims of a warp's stores fall in different banks.
  int64_t stride = chunk + kKeysPerThread;
  Value staged = addWorkgroupBuffer(kernel, f32, stride * dim);
  // Elements of a guiding query per 16-byte load where the rows split into
  // them.
  int64_t qWidth = 128 / queryType.getElementType().getIntOrFloatBitWidth();
  if (dim % qWidth != 0)
    qWidth = 1;
  Value sorted = threshold
                     ? addWorkgroupBuffer(kernel, b.getI64Type(), sortSlots)
                     : Value();
  Block *body = &kernel.getBody().front();
  b.setInsertionPointToStart(body);
  // Views of the workspace (its last argument, bytes) at byte `offset`.
  auto view = [&](Type element, int64_t offset, int64_t size) -> Value {
    return memref::ViewOp::create(
        b, loc, MemRefType::get({size}, element),
        body->getArgument(kernel.getArgumentTypes().size() - 1),
        arith::ConstantIndexOp::create(b, loc, offset), ValueRange{});
  };
  Value floats = view(f32, 0, words), ints = view(i32, 0, words);
  Value counter = view(i32, 4 * words, 1);
  Value q = body->getArgument(0), k = body->getArgument(1);
  Value counts = body->getArgument(numInputs);
  Value indices = body->getArgument(numInputs + 1);

  SelectionBuilder s(b, loc);
  BlockWide w(s, b, loc, select);
  auto idx = [&](int64_t v) { return s.idx(v); };
  auto add = [&](Value x, Value y) { return w.add(x, y); };
  auto cmp = [&](CmpIPredicate p, Value x, Value y) { return w.cmp(p, x, y); };
  auto f32c = [&](double x) -> Value {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(x));
  };
  auto toI32 = [&](Value x) -> Value {
    return arith::IndexCastOp::create(b, loc, i32, x);
  };
  Value zero = idx(0);
  Value block = gpu::BlockIdOp::create(b, loc, gpu::Dimension::x);
  Value grid = gpu::GridDimOp::create(b, loc, gpu::Dimension::x);
  // The grid's threads.
  Value thread = add(w.mul(block, kSelectThreads), w.tid);
  Value threads = w.mul(grid, kSelectThreads);
  auto eachGridThread = [&](int64_t n, function_ref<void(Value)> body) {
    s.stridedLoop(thread, idx(n), threads, {}, [&](Value x, ValueRange) {
      body(x);
      return SmallVector<Value>{};
    });
  };
  auto at = [&](int64_t region, Value i) { return add(idx(region), i); };
  // combine(.. combine(init, value(0)) .., value(n - 1)): the values
  // kUnroll at a time (their loads in flight together), combined in order.
  auto fold = [&](int64_t n, Value init, function_ref<Value(Value)> value,
                  function_ref<Value(Value, Value)> combine) {
    auto step = [&](Value j0, int64_t count, Value acc) {
      SmallVector<Value> xs;
      for (int64_t u = 0; u < count; ++u)
        xs.push_back(value(add(j0, idx(u))));
      for (Value x : xs)
        acc = combine(acc, x);
      return acc;
    };
    int64_t whole = n / kUnroll * kUnroll;
    Value acc = s.stridedLoop(
        zero, idx(whole), idx(kUnroll), {init}, [&](Value j0, ValueRange a) {
          return SmallVector<Value>{step(j0, kUnroll, a[0])};
        })[0];
    return s.loop(idx(whole), idx(n), {acc}, [&](Value j, ValueRange a) {
      return SmallVector<Value>{step(j, 1, a[0])};
    })[0];
  };
  Value scale = math::RsqrtOp::create(
      b, loc, arith::SIToFPOp::create(b, loc, f32, s.i32(dim)));

  int64_t chunks = llvm::divideCeil(keys, chunk);
  s.loop(zero, idx(batch), {}, [&](Value bb, ValueRange) {
    // The batch's grid-wide barriers: generations 3 bb + 1 .. 3 bb + 3.
    auto gridBarrier = [&](int64_t phase) {
      w.gridBarrier(counter, toI32(add(w.mul(bb, 3), idx(phase))));
    };
    // 1. The scores: a block per (KV head, key chunk) of the head's rows.
    s.stridedLoop(block, idx(units), grid, {}, [&](Value unit, ValueRange) {
      Value g = arith::DivUIOp::create(b, loc, unit, idx(chunks));
      Value c0 =
          w.mul(arith::RemUIOp::create(b, loc, unit, idx(chunks)), chunk);
      Value r0 = w.mul(g, group * guides);
      {
        w.barrier();
        // Dim-major (row d at d * stride), so that a thread's keys are one
        // 16-byte load and a warp's loads of one dim do not conflict.
        w.eachThread(idx(chunk * dim), [&](Value e) {
          Value kk = arith::DivUIOp::create(b, loc, e, idx(dim));
          Value j = add(c0, kk);
          Value d = arith::RemUIOp::create(b, loc, e, idx(dim));
          Value x =
              s.ifThen(cmp(CmpIPredicate::slt, j, idx(keys)), {f32c(0.0)}, [&] {
                return SmallVector<Value>{s.toF32(w.load(k, {bb, g, j, d}))};
              })[0];
          w.store(x, staged, {add(w.mul(d, stride), kk)});
        });
        w.barrier();
        // A thread takes a row and kKeysPerThread keys of the chunk: each
        // element of the row's query loaded once for their products, their
        // sums independent chains (each in dim order).
        int64_t groups = chunk / kKeysPerThread;
        w.eachThread(idx(group * guides * groups), [&](Value p) {
          Value r = add(r0, arith::DivUIOp::create(b, loc, p, idx(groups)));
          Value kk = w.mul(arith::RemUIOp::create(b, loc, p, idx(groups)),
                           kKeysPerThread);
          Value h = arith::DivUIOp::create(b, loc, r, idx(guides));
          Value i = arith::RemUIOp::create(b, loc, r, idx(guides));
          auto keyType = VectorType::get({kKeysPerThread}, f32);
          SmallVector<Value> dots = s.stridedLoop(
              zero, idx(dim), idx(qWidth),
              SmallVector<Value>(kKeysPerThread, f32c(0.0)),
              [&](Value d0, ValueRange acc) {
                SmallVector<Value> xs;
                if (qWidth == 1) {
                  xs.push_back(s.toF32(w.load(q, {bb, h, i, d0})));
                } else {
                  Value v = loadVector16(b, loc, q, {bb, h, i, d0});
                  for (int64_t e = 0; e < qWidth; ++e)
                    xs.push_back(
                        s.toF32(vector::ExtractOp::create(b, loc, v, e)));
                }
                SmallVector<Value> next(acc);
                for (auto [e, x] : llvm::enumerate(xs)) {
                  Value d = add(d0, idx(static_cast<int64_t>(e)));
                  Value y = vector::LoadOp::create(
                      b, loc, keyType, staged,
                      ValueRange{add(w.mul(d, stride), kk)},
                      /*nontemporal=*/false, llvm::MaybeAlign(16));
                  for (int64_t u = 0; u < kKeysPerThread; ++u)
                    next[u] = arith::AddFOp::create(
                        b, loc, next[u],
                        arith::MulFOp::create(
                            b, loc, x,
                            vector::ExtractOp::create(b, loc, y, u)));
                }
                return next;
              });
          for (int64_t u = 0; u < kKeysPerThread; ++u) {
            Value j = add(c0, add(kk, idx(u)));
            s.ifThen(cmp(CmpIPredicate::slt, j, idx(keys)), {}, [&] {
              w.store(arith::MulFOp::create(b, loc, dots[u], scale), floats,
                      {at(scoresAt, add(w.mul(r, keys), j))});
              return SmallVector<Value>{};
            });
          }
        });
      }
      return SmallVector<Value>{};
    });
    gridBarrier(1);
    // 2. Each guiding row's maximum and sum of exp(s - max), keys in order
    // (a thread of the grid per row).
    eachGridThread(rows, [&](Value r) {
      auto score = [&](Value j) {
        return w.load(floats, {at(scoresAt, add(w.mul(r, keys), j))});
      };
      Value max = fold(keys, f32c(-INFINITY), score, [&](Value m, Value x) {
        return arith::MaximumFOp::create(b, loc, m, x).getResult();
      });
      Value sum = fold(
          keys, f32c(0.0),
          [&](Value j) -> Value {
            return math::ExpOp::create(
                b, loc, arith::SubFOp::create(b, loc, score(j), max));
          },
          [&](Value acc, Value x) {
            return arith::AddFOp::create(b, loc, acc, x).getResult();
          });
      w.store(max, floats, {at(statsAt, r)});
      w.store(sum, floats, {at(statsAt, add(r, idx(rows)))});
    });
    gridBarrier(2);
    // 3. Each key's mass, the rows' probabilities in row order (a thread of
    // the grid per key).
    eachGridThread(keys, [&](Value j) {
      Value mass = fold(
          rows, f32c(0.0),
          [&](Value r) -> Value {
            Value x = w.load(floats, {at(scoresAt, add(w.mul(r, keys), j))});
            return arith::DivFOp::create(
                b, loc,
                math::ExpOp::create(
                    b, loc,
                    arith::SubFOp::create(b, loc, x,
                                          w.load(floats, {at(statsAt, r)}))),
                w.load(floats, {at(statsAt, add(r, idx(rows)))}));
          },
          [&](Value acc, Value x) {
            return arith::AddFOp::create(b, loc, acc, x).getResult();
          });
      w.store(mass, floats, {at(massAt, j)});
      w.store(s.orderedKey(mass), ints, {at(keyAt, j)});
    });
    gridBarrier(3);
    // 4. Block 0: the max_tokens best masses (ascending keys), then the
    // threshold. (The others go on to the next batch's scores, which it
    // does not read; the next batch's first barrier waits for it.)
    s.ifThen(cmp(CmpIPredicate::eq, block, zero), {}, [&] {
      Value count = w.selectTop(
          {ints, at(keyAt, zero)}, idx(keys), maxTokens, maxTokens,
          [&](Value t, Value j) {
            w.store(toI32(j), indices, {bb, zero, zero, t});
          },
          [&](Value t) { w.store(s.i32(-1), indices, {bb, zero, zero, t}); });
      if (threshold) {
        Value listed = s.toIndex(count);
        // The total mass in key order (thread 0: the CPU's sum), the goal.
        Value goal = arith::MulFOp::create(
            b, loc,
            w.serialSum(
                idx(keys),
                [&](Value j) { return w.load(floats, {at(massAt, j)}); }),
            f32c(threshold.getValueAsDouble()));
        // The listed keys by mass, largest first (ties to the smaller key).
        w.eachThread(idx(sortSlots), [&](Value t) {
          Value entry = s.ifThen(
              cmp(CmpIPredicate::slt, t, listed),
              {arith::ConstantIntOp::create(b, loc, 0, 64)}, [&] {
                Value j = s.toIndex(w.load(indices, {bb, zero, zero, t}));
                return SmallVector<Value>{
                    packDescending(b, loc, w.load(ints, {at(keyAt, j)}), j)};
              })[0];
          w.store(entry, sorted, {t});
        });
        w.barrier();
        w.sortDescending(sorted, sortSlots);
        // Taken while the mass is below the goal, listed in ascending order
        // (the keys' slots as flags).
        Value taken = w.takeSorted(
            sorted, sortSlots, goal, Value(),
            [&](Value j) { return w.load(floats, {at(massAt, j)}); },
            {ints, at(keyAt, zero)}, idx(keys),
            [&](Value t, Value j) {
              w.store(toI32(j), indices, {bb, zero, zero, t});
            });
        w.eachThread(
            arith::SubIOp::create(b, loc, idx(maxTokens), taken), [&](Value t) {
              w.store(s.i32(-1), indices, {bb, zero, zero, add(taken, t)});
            });
        count = toI32(taken);
      }
      w.onThread0([&] { w.store(count, counts, {bb, zero, zero}); });
      return SmallVector<Value>{};
    });
    return SmallVector<Value>{};
  });
  gpu::ReturnOp::create(b, loc);
  b.eraseOp(func);
  return success();
}

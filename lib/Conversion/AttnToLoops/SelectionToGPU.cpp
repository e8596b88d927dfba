//===- SelectionToGPU.cpp - selection ops to GPU kernels ------------------===//
//
// Every selection op of a spec function (a program's step) becomes a GPU
// kernel: `attn.pool` a thread per output element; G2, D3-D7, G4 and an
// attention's own top-k the GPU row form (the CPU's SelectionBuilder loops
// with RowThreads: rows dealt out to the grid's threads, scratch rows in the
// workspace); and the indexer, below.
//
// `attn.indexer_topk` (D1, both stages of D2) as a GPU kernel: a block of
// 256 threads per (batch, query) row, on the rows' code shared with the
// CPU (IndexerRows: candidate positions, mask test, indexer score): the
// threads score the row's candidates into the block's row of the
// workspace (ordered 32-bit keys, 0 for ruled-out keys), then the
// block-wide radix select of SelectionKernels.cpp keeps the k best. That is
// exactly the CPU's answer, so the GPU and the CPU select the same sets
// from the same scores. Shapes are static: the workspace (a row of keys
// per block) is sized by attnrt from the manifest (`select ROWS scratch
// BYTES`). D3 block routing has a kernel of its own (BlockRowsToGPU.cpp).
//
//===----------------------------------------------------------------------===//

#include "SelectionKernels.h"
#include "StreamingLowering.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/IRMapping.h"

using namespace mlir;
using namespace mlir::attn;

using arith::CmpIPredicate;

namespace {
constexpr int64_t kThreads = kSelectThreads;
/// The indexer's fast scores: queries of at most this many f32 staged in
/// shared memory, and keys per thread at a time (their loads share the
/// staged query's).
/// (The D1 indexer at S = 32K, 4 x 64 indexer heads, on the H100 with
/// 1, 2, 3, 4, 8 keys per thread: 43.6, 35.3, 34.3, 36.9, 43.6 ms — more
/// keys share each staged element's load, but take registers and leave
/// fewer threads per row busy at its end.)
constexpr int64_t kMaxStagedQuery = 8192, kKeysPerThread = 3;
} // namespace

LogicalResult mlir::attn::lowerSelectionRowsToGPU(Operation *op,
                                                  func::FuncOp func,
                                                  RewriterBase &b) {
  Location loc = op->getLoc();
  if (failed(checkStaticShapes(op)))
    return failure();
  unsigned numInputs = func.getNumArguments();
  FailureOr<gpu::GPUFuncOp> created =
      createSelectionKernel(op, func, b, /*rows=*/1, /*scratchBytes=*/0);
  if (failed(created))
    return failure();
  gpu::GPUFuncOp kernel = *created;
  Block *body = &kernel.getBody().front();
  b.setInsertionPointToStart(body);
  // The op on the kernel's buffers, lowered as on the CPU with the rows
  // dealt out to the threads.
  IRMapping mapping;
  mapKernelInputs(b, loc, func, body, mapping);
  RowThreads rows;
  std::tie(rows.thread, rows.threads) = gpuGridThreads(b, loc);
  rows.block = gpu::BlockIdOp::create(b, loc, gpu::Dimension::x);
  rows.blocks = gpu::GridDimOp::create(b, loc, gpu::Dimension::x);
  rows.threadInBlock = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  rows.blockSize = gpu::BlockDimOp::create(b, loc, gpu::Dimension::x);
  Operation *copy = b.clone(*op, mapping);
  rows.workspace = body->getArgument(kernel.getArgumentTypes().size() - 1);
  for (unsigned r = 0; r < func.getNumResults(); ++r)
    rows.outputs.push_back(body->getArgument(numInputs + r));
  if (failed(lowerSelectionOp(copy, b, &rows)))
    return failure();
  // An attention's top-k lowering leaves the attention without its top-k
  // results, unused here (its step computes O).
  for (auto attention : llvm::to_vector(body->getOps<AttentionOp>()))
    if (attention->use_empty())
      b.eraseOp(attention);
  if (!rows.error.empty())
    return op->emitOpError("cannot run on the GPU: ") << rows.error;
  b.setInsertionPointToEnd(body);
  gpu::ReturnOp::create(b, loc);
  // A thread per row; each thread's scratch rows in the workspace.
  kernel->setAttr("attn.select_rows",
                  b.getI64IntegerAttr(std::max<int64_t>(
                      llvm::divideCeil(rows.rowCount, kThreads), 1)));
  kernel->setAttr("attn.scratch_bytes", b.getI64IntegerAttr(rows.scratchBytes));
  b.eraseOp(func);
  return success();
}

LogicalResult mlir::attn::lowerSelectionToGPU(PoolOp op, func::FuncOp func,
                                              RewriterBase &b) {
  Location loc = op.getLoc();
  if (failed(checkStaticShapes(op)))
    return failure();
  auto outType = cast<RankedTensorType>(op.getOutput().getType());
  int64_t elements = outType.getNumElements();
  // A thread per output element, blocks of kThreads.
  FailureOr<gpu::GPUFuncOp> kernel = createSelectionKernel(
      op, func, b, std::max<int64_t>(llvm::divideCeil(elements, kThreads), 1),
      /*scratchBytes=*/0);
  if (failed(kernel))
    return failure();
  Block *body = &kernel->getBody().front();
  b.setInsertionPointToStart(body);
  SelectionBuilder s(b, loc);
  Value in = body->getArgument(0), out = body->getArgument(1);
  auto [thread, threads] = gpuGridThreads(b, loc);
  s.stridedLoop(thread, s.idx(elements), threads, {}, [&](Value e, ValueRange) {
    SmallVector<Value> at(outType.getRank());
    for (int64_t d = outType.getRank() - 1; d >= 0; --d) {
      Value size = s.idx(outType.getDimSize(d));
      at[d] = arith::RemUIOp::create(b, loc, e, size);
      e = arith::DivUIOp::create(b, loc, e, size);
    }
    memref::StoreOp::create(b, loc, poolElement(s, op, in, at, b), out, at);
    return SmallVector<Value>{};
  });
  gpu::ReturnOp::create(b, loc);
  b.eraseOp(func);
  return success();
}

LogicalResult mlir::attn::lowerSelectionToGPU(IndexerTopkOp op,
                                              func::FuncOp func,
                                              RewriterBase &b,
                                              bool tensorCores) {
  Location loc = op.getLoc();
  if (failed(checkStaticShapes(op)))
    return failure();
  if (tensorCores && indexerScoresOnTensorCores(op))
    return lowerIndexerTilesToGPU(op, func, b);
  auto keyType = cast<RankedTensorType>(op.getKey().getType());
  auto queryType = cast<RankedTensorType>(op.getQuery().getType());
  int64_t keys = keyType.getDimSize(1), k = op.getK();
  int64_t rowCount = queryType.getDimSize(0) * queryType.getDimSize(1);
  // A block per row, each with a row of key slots in the workspace: one
  // per key, or with block lists one per listed position where that is
  // more (the last block may reach past the keys).
  int64_t slots = keys;
  if (op.getBlockCounts())
    slots = std::max<int64_t>(
        keys, cast<RankedTensorType>(op.getBlockIndices().getType())
                      .getDimSize(3) *
                  op.getBlockSizeAttr().getInt());
  // Whole groups of the select's 16-byte loads.
  slots = llvm::alignTo(slots, BlockWide::kGroup);
  unsigned numInputs = func.getNumArguments();
  FailureOr<gpu::GPUFuncOp> created =
      createSelectionKernel(op, func, b, std::max<int64_t>(rowCount, 1),
                            4 * std::max<int64_t>(slots, 1));
  if (failed(created))
    return failure();
  gpu::GPUFuncOp kernel = *created;
  // hist: the pass's histogram; state: 1-2 the select's (bin, keys above),
  // 3 the end of the row's candidates, 4 whether the row's block list
  // ascends; kept: per warp, the keys above T and equal to T in its segment.
  SelectBuffers select = addSelectBuffers(kernel, 5);
  Value state = select.state;
  // The row's indexer queries and weights in f32 (scores by the fast path).
  int64_t indexerHeads = queryType.getDimSize(2);
  int64_t indexerDim = queryType.getDimSize(3);
  // Keys are read in 16-byte vectors.
  Type keyElement = keyType.getElementType();
  int64_t vector = 16 / (keyElement.getIntOrFloatBitWidth() / 8);
  bool staged =
      indexerHeads * indexerDim <= kMaxStagedQuery &&
      indexerDim % vector == 0 &&
      (keyElement.isF32() || keyElement.isF16() || keyElement.isBF16());
  Value stagedQuery, stagedWeights;
  if (staged) {
    // (16-byte aligned: LLVM combines the staged query's loads.)
    stagedQuery =
        addWorkgroupBuffer(kernel, b.getF32Type(),
                           std::max<int64_t>(indexerHeads * indexerDim, 1));
    stagedWeights = addWorkgroupBuffer(kernel, b.getF32Type(),
                                       std::max<int64_t>(indexerHeads, 1));
  }
  Block *body = &kernel.getBody().front();
  b.setInsertionPointToStart(body);
  // Rows of i32 keys.
  Value workspace = workspaceView(b, loc, kernel, b.getI32Type(), slots);
  Value counts = body->getArgument(numInputs);
  Value indices = body->getArgument(numInputs + 1);

  SelectionBuilder s(b, loc);
  BlockWide w(s, b, loc, select);
  auto idx = [&](int64_t v) { return s.idx(v); };
  auto i32 = [&](int64_t v) { return s.i32(v); };
  auto load = [&](Value buffer, ValueRange at) { return w.load(buffer, at); };
  auto store = [&](Value value, Value buffer, ValueRange at) {
    w.store(value, buffer, at);
  };
  auto add = [&](Value x, Value y) { return w.add(x, y); };
  auto cmp = [&](CmpIPredicate p, Value x, Value y) { return w.cmp(p, x, y); };
  auto barrier = [&] { w.barrier(); };
  auto onThread0 = [&](auto then) { w.onThread0(then); };
  using gpu::Dimension;
  Value tid = w.tid;
  Value block = gpu::BlockIdOp::create(b, loc, Dimension::x);
  Value grid = gpu::GridDimOp::create(b, loc, Dimension::x);
  Value threads = idx(kThreads), zero = idx(0), zero32 = i32(0);
  SmallVector<Value> buffers(body->getArguments().take_front(numInputs));
  IndexerRows rows(s, op, buffers, b);
  Value base = arith::MulIOp::create(b, loc, block, idx(slots));
  // Over the row's keys, a thread every `threads`.
  auto eachKey = [&](Value n, function_ref<void(Value)> body) {
    w.eachThread(n, body);
  };

  s.stridedLoop(block, idx(rowCount), grid, {}, [&](Value r, ValueRange) {
    Value bb = arith::DivUIOp::create(b, loc, r, rows.queryLen);
    Value i = arith::RemUIOp::create(b, loc, r, rows.queryLen);
    // 1. The row's keys, and where its candidates end (hi). A key's slot
    // is the key, or with a strictly ascending block list its position in
    // the list (then the passes read only the listed keys, in key order).
    onThread0([&] {
      store(zero32, state, {idx(3)});
      store(i32(1), state, {idx(4)});
    });
    if (staged) {
      eachKey(idx(indexerHeads * indexerDim), [&](Value e) {
        Value t = arith::DivUIOp::create(b, loc, e, idx(indexerDim));
        Value d = arith::RemUIOp::create(b, loc, e, idx(indexerDim));
        store(s.toF32(load(rows.qi, {bb, i, t, d})), stagedQuery, {e});
      });
      eachKey(idx(indexerHeads), [&](Value t) {
        store(s.toF32(load(rows.w, {bb, i, t})), stagedWeights, {t});
      });
    }
    barrier();
    Value ascending = arith::ConstantIntOp::create(b, loc, 0, 1);
    if (rows.blockCounts) {
      Value listed = rows.listed(bb, i);
      eachKey(listed, [&](Value t) {
        Value next = add(t, idx(1));
        s.ifThen(cmp(CmpIPredicate::ult, next, listed), {}, [&] {
          Value here = load(rows.blockIndices, {bb, zero, i, t});
          Value after = load(rows.blockIndices, {bb, zero, i, next});
          s.ifThen(cmp(CmpIPredicate::sge, here, after), {}, [&] {
            store(zero32, state, {idx(4)});
            return SmallVector<Value>{};
          });
          return SmallVector<Value>{};
        });
      });
      barrier();
      ascending = cmp(CmpIPredicate::ne, load(state, {idx(4)}), zero32);
      // Keyed slots: only the listed keys are written below.
      s.ifThen(arith::XOrIOp::create(b, loc, ascending,
                                     arith::ConstantIntOp::create(b, loc, 1, 1)),
               {}, [&] {
                 eachKey(idx(keys), [&](Value j) {
                   store(zero32, workspace, {add(base, j)});
                 });
                 barrier();
                 return SmallVector<Value>{};
               });
    }
    // The key of slot `slot` (a position in ascending mode).
    auto keyOfSlot = [&](Value slot) -> Value {
      if (!rows.blockCounts)
        return slot;
      return s.ifThen(ascending, {slot}, [&] {
        return SmallVector<Value>{rows.keyAt(bb, i, slot).first};
      })[0];
    };
    Value positions = rows.positions(bb, i);
    // Stores position p's key (0 where ruled out); returns the end of the
    // candidates so far.
    auto storeKey = [&](Value p, Value j, Value valid, Value key, Value hi) {
      key = arith::SelectOp::create(b, loc, valid, key, zero32);
      Value slot = j;
      if (rows.blockCounts) {
        // Every position is written in ascending mode, only the listed
        // keys otherwise.
        slot = arith::SelectOp::create(b, loc, ascending, p, j);
        s.ifThen(arith::OrIOp::create(b, loc, valid, ascending), {}, [&] {
          store(key, workspace, {add(base, slot)});
          return SmallVector<Value>{};
        });
      } else {
        store(key, workspace, {add(base, j)});
      }
      Value end =
          arith::IndexCastOp::create(b, loc, b.getI32Type(), add(slot, idx(1)));
      Value candidate = cmp(CmpIPredicate::ne, key, zero32);
      return arith::SelectOp::create(
                 b, loc, candidate, arith::MaxSIOp::create(b, loc, hi, end), hi)
          .getResult();
    };
    Value mineHi;
    if (staged) {
      // kKeysPerThread positions p0 + c * threads per thread: the staged
      // query element loaded once for all of them; per indexer head the
      // dot product over d in order, then sum_t w_t relu(dot_t).
      Value stride = idx(kThreads * kKeysPerThread);
      mineHi = s.stridedLoop(
          tid, positions, stride, {zero32}, [&](Value p0, ValueRange acc) {
            SmallVector<Value> keyOf, validOf;
            for (int64_t c = 0; c < kKeysPerThread; ++c) {
              Value p = add(p0, idx(c * kThreads));
              Value inRange = cmp(CmpIPredicate::ult, p, positions);
              auto [j, listed] = rows.keyAt(
                  bb, i, arith::SelectOp::create(b, loc, inRange, p, p0));
              Value valid = arith::AndIOp::create(
                  b, loc, arith::AndIOp::create(b, loc, inRange, listed),
                  rows.allowed(bb, i, j));
              validOf.push_back(valid);
              keyOf.push_back(j);
            }
            Value zeroF =
                arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0));
            SmallVector<Value> init(kKeysPerThread * indexerHeads, zeroF);
            // Keys in 16-byte vectors (the rows are 16-byte aligned: attnrt
            // checks index_k's pointer, and Di fills whole vectors).
            SmallVector<Value> dots = s.stridedLoop(
                zero, idx(indexerDim), idx(vector), init,
                [&](Value d0, ValueRange a) {
                  SmallVector<Value> next(a);
                  SmallVector<Value> y;
                  for (int64_t c = 0; c < kKeysPerThread; ++c) {
                    Value j = arith::SelectOp::create(b, loc, validOf[c],
                                                      keyOf[c], zero);
                    Value row = vector::LoadOp::create(
                        b, loc, VectorType::get({vector}, keyElement), rows.ki,
                        ValueRange{bb, j, d0}, /*nontemporal=*/false,
                        llvm::MaybeAlign(16));
                    if (!keyElement.isF32())
                      row = arith::ExtFOp::create(
                          b, loc, VectorType::get({vector}, b.getF32Type()),
                          row);
                    y.push_back(row);
                  }
                  for (int64_t e = 0; e < vector; ++e) {
                    SmallVector<Value> ye;
                    for (int64_t c = 0; c < kKeysPerThread; ++c)
                      ye.push_back(vector::ExtractOp::create(b, loc, y[c], e));
                    for (int64_t t = 0; t < indexerHeads; ++t) {
                      Value x =
                          load(stagedQuery, {add(idx(t * indexerDim + e), d0)});
                      for (int64_t c = 0; c < kKeysPerThread; ++c) {
                        Value &sum = next[c * indexerHeads + t];
                        sum = arith::AddFOp::create(
                            b, loc, sum,
                            arith::MulFOp::create(b, loc, x, ye[c]));
                      }
                    }
                  }
                  return next;
                });
            Value hi = acc[0];
            for (int64_t c = 0; c < kKeysPerThread; ++c) {
              Value total = zeroF;
              for (int64_t t = 0; t < indexerHeads; ++t) {
                Value relu = arith::MaximumFOp::create(
                    b, loc, dots[c * indexerHeads + t], zeroF);
                total = arith::AddFOp::create(
                    b, loc, total,
                    arith::MulFOp::create(b, loc, load(stagedWeights, {idx(t)}),
                                          relu));
              }
              // Positions past the row's are not keys: nothing to store.
              Value p = add(p0, idx(c * kThreads));
              hi = s.ifThen(cmp(CmpIPredicate::ult, p, positions), {hi}, [&] {
                return SmallVector<Value>{
                    storeKey(p, keyOf[c], validOf[c], s.orderedKey(total), hi)};
              })[0];
            }
            return SmallVector<Value>{hi};
          })[0];
    } else {
      mineHi = s.stridedLoop(
          tid, positions, threads, {zero32}, [&](Value p, ValueRange acc) {
            auto [j, valid] = rows.keyAt(bb, i, p);
            return SmallVector<Value>{
                storeKey(p, j, valid, rows.orderedKey(bb, i, j), acc[0])};
          })[0];
    }
    memref::AtomicRMWOp::create(b, loc, arith::AtomicRMWKind::maxs, mineHi,
                                state, ValueRange{idx(3)});
    barrier();
    // The passes read the keys before hi only.
    Value hi = s.toIndex(load(state, {idx(3)}));
    Value count = w.selectTop(
        {workspace, base}, hi, k, k,
        [&](Value at, Value j) {
          store(
              arith::IndexCastOp::create(b, loc, b.getI32Type(), keyOfSlot(j)),
              indices, {bb, zero, i, at});
        },
        [&](Value t) { store(i32(-1), indices, {bb, zero, i, t}); });
    // The count; the row's buffers are reused after the barrier.
    onThread0([&] { store(count, counts, {bb, zero, i}); });
    barrier();
    return SmallVector<Value>{};
  });
  gpu::ReturnOp::create(b, loc);
  b.eraseOp(func);
  return success();
}

//===- SelectionKernels.cpp - block-wide GPU selection kernels -----------===//
//
// The radix select of SelectionBuilder::selectTop made block-wide:
//
//   1. four 8-bit passes, each a shared-memory histogram (atomic adds) and
//      a block-wide scan of its 256 bins (the bin SelectionBuilder::
//      thresholdBin finds with one thread's scan from the top, which took
//      longer than the rest of the pass), give the k-th largest key T and
//      how many keys equal to T are kept; the first pass's histogram also
//      counts the row's candidates (keys other than 0);
//   2. an ordered compaction (BlockWide::compact, which the indexer's
//      tile kernel uses on its own too) writes every key above T and the
//      first keys equal to T in ascending order: each warp takes a
//      contiguous segment of the row, counts what it keeps, learns the
//      counts of the warps before it, and writes its keys 128 at a time
//      with warp prefix sums.
//
// That is exactly the CPU's answer (k best, ties to the smaller index,
// ascending, padded with -1), so the GPU and the CPU select the same sets
// from the same keys.
//
// Every pass reads the row (up to 128K keys, in global memory) in 16-byte
// groups of 4 keys, kUnroll groups per thread issued before any is used:
// the passes wait on memory, and one 4-byte load in flight per thread left
// a block of 256 threads at a fraction of the bandwidth (the D1 indexer at
// 128K keys on the H100: 549 ms with one 4-byte load, 254 ms with four,
// 126 ms with four 16-byte groups; docs/benchmarks.md). Whole iterations
// first, then one group at a time: a short row still spreads over the
// threads.
//
//===----------------------------------------------------------------------===//

#include "SelectionKernels.h"
#include "StreamingLowering.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::attn;

using arith::CmpIPredicate;

FailureOr<gpu::GPUFuncOp>
mlir::attn::createSelectionKernel(Operation *op, func::FuncOp func,
                                  RewriterBase &b, int64_t rows,
                                  int64_t scratchBytes) {
  auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
  bool onlyArguments = llvm::all_of(op->getOperands(), [&](Value x) {
    auto arg = dyn_cast<BlockArgument>(x);
    return arg && arg.getOwner() == &func.getBody().front();
  });
  // An attention's step returns only its top-k results (attn-split-program
  // computes O in a step of its own).
  SmallVector<Value> results(op->getResults());
  if (auto attention = dyn_cast<AttentionOp>(op))
    results = {attention.getTopkCounts(), attention.getTopkIndices()};
  if (ret.getOperands() != ValueRange(results) || !onlyArguments ||
      func.getBody().front().getOperations().size() != 2)
    return func.emitError("expected a spec function for the GPU: one ")
           << op->getName() << " on the function arguments, returning its "
           << (isa<AttentionOp>(op)
                   ? "top-k results only (attn-split-program{split-topk} "
                     "computes O in a step of its own)"
                   : "results");
  SmallVector<Type> types = kernelBufferTypes(func);
  types.push_back(MemRefType::get({ShapedType::kDynamic}, b.getI8Type()));
  gpu::GPUFuncOp kernel =
      createGPUKernelFunction(b, func, types, kSelectThreads, /*queryTile=*/1,
                              /*itemsPerBlock=*/1, /*sharedBytes=*/0, "bhsd");
  kernel->setAttr("attn.select_rows", b.getI64IntegerAttr(rows));
  kernel->setAttr("attn.scratch_bytes", b.getI64IntegerAttr(scratchBytes));
  return kernel;
}

Value mlir::attn::addWorkgroupBuffer(gpu::GPUFuncOp kernel, Type element,
                                     int64_t size) {
  auto workgroup = gpu::AddressSpaceAttr::get(kernel.getContext(),
                                              gpu::AddressSpace::Workgroup);
  Value buffer = kernel.addWorkgroupAttribution(
      MemRefType::get({size}, element, MemRefLayoutAttrInterface{}, workgroup),
      kernel.getLoc());
  kernel.setWorkgroupAttributionAttr(
      kernel.getNumWorkgroupAttributions() - 1,
      LLVM::LLVMDialect::getAlignAttrName(),
      IntegerAttr::get(IntegerType::get(kernel.getContext(), 64), 16));
  return buffer;
}

SelectBuffers mlir::attn::addSelectBuffers(gpu::GPUFuncOp kernel,
                                           int64_t stateSlots) {
  Type i32 = IntegerType::get(kernel.getContext(), 32);
  return {addWorkgroupBuffer(kernel, i32, 256),
          addWorkgroupBuffer(kernel, i32, stateSlots),
          addWorkgroupBuffer(kernel, i32, 2 * kSelectWarps)};
}

int64_t mlir::attn::wholeGroups(int64_t n) {
  return llvm::alignTo(std::max<int64_t>(n, 1), BlockWide::kGroup);
}

Value mlir::attn::workspaceView(OpBuilder &b, Location loc,
                                gpu::GPUFuncOp kernel, Type element,
                                int64_t perBlock) {
  Block *body = &kernel.getBody().front();
  return memref::ViewOp::create(
      b, loc, MemRefType::get({ShapedType::kDynamic}, element),
      body->getArgument(kernel.getArgumentTypes().size() - 1),
      arith::ConstantIndexOp::create(b, loc, 0),
      ValueRange{arith::MulIOp::create(
          b, loc, gpu::GridDimOp::create(b, loc, gpu::Dimension::x),
          arith::ConstantIndexOp::create(b, loc, perBlock))});
}

LogicalResult mlir::attn::checkStaticShapes(Operation *op) {
  for (Type type :
       llvm::concat<const Type>(op->getOperandTypes(), op->getResultTypes()))
    if (auto tensor = dyn_cast<RankedTensorType>(type);
        tensor && !tensor.hasStaticShape())
      return op->emitOpError("expected static shapes on the GPU (the "
                             "kernel's grid and scratch are sized at compile "
                             "time), got ")
             << tensor;
  return success();
}

BlockWide::BlockWide(SelectionBuilder &s, RewriterBase &b, Location loc,
                     Value hist, Value state, Value kept)
    : s(s), b(b), loc(loc), hist(hist), state(state), kept(kept) {
  tid = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  lane = arith::RemUIOp::create(b, loc, tid, s.idx(32));
  warp = arith::DivUIOp::create(b, loc, tid, s.idx(32));
}

Value BlockWide::add(Value x, Value y) {
  return arith::AddIOp::create(b, loc, x, y);
}

Value BlockWide::mul(Value x, Value y) {
  return arith::MulIOp::create(b, loc, x, y);
}

Value BlockWide::min(Value x, Value y) {
  return arith::MinSIOp::create(b, loc, x, y);
}

Value BlockWide::mul(Value x, int64_t y) {
  return arith::MulIOp::create(b, loc, x, s.idx(y));
}

Value BlockWide::cmp(CmpIPredicate p, Value x, Value y) {
  return arith::CmpIOp::create(b, loc, p, x, y);
}

Value BlockWide::load(Value buffer, ValueRange at) {
  return memref::LoadOp::create(b, loc, buffer, at);
}

void BlockWide::store(Value value, Value buffer, ValueRange at) {
  memref::StoreOp::create(b, loc, value, buffer, at);
}

void BlockWide::barrier() { gpu::BarrierOp::create(b, loc); }

void BlockWide::onThread0(function_ref<void()> then) {
  s.ifThen(cmp(CmpIPredicate::eq, tid, s.idx(0)), {}, [&] {
    then();
    return SmallVector<Value>{};
  });
}

void BlockWide::eachThread(Value n, function_ref<void(Value)> body) {
  s.stridedLoop(tid, n, s.idx(kSelectThreads), {}, [&](Value j, ValueRange) {
    body(j);
    return SmallVector<Value>{};
  });
}

Value BlockWide::warpScan(Value x) {
  // Inclusive warp prefix sum of an i32.
  for (int32_t offset = 1; offset < 32; offset *= 2) {
    auto shuffle =
        gpu::ShuffleOp::create(b, loc, x, offset, 32, gpu::ShuffleMode::UP);
    x = arith::SelectOp::create(b, loc, shuffle.getValid(),
                                add(x, shuffle.getShuffleResult()), x);
  }
  return x;
}

std::pair<Value, Value> BlockWide::blockScan(Value x, bool withTotal) {
  Value upTo = warpScan(x);
  s.ifThen(cmp(CmpIPredicate::eq, lane, s.idx(31)), {}, [&] {
    store(upTo, kept, {warp});
    return SmallVector<Value>{};
  });
  barrier();
  Value total;
  if (withTotal) {
    total = s.i32(0);
    for (int64_t v = 0; v < kSelectWarps; ++v)
      total = add(total, load(kept, {s.idx(v)}));
  }
  // The warps before this one: a loop of `warp` loads. (Every warp summing
  // all eight with selects made each pass longer: the D1 indexer, whose
  // blocks select 16 rows one after the other, took 101 instead of 82 ms
  // at 128K.)
  Value before =
      s.loop(s.idx(0), warp, {s.i32(0)}, [&](Value v, ValueRange acc) {
        return SmallVector<Value>{add(acc[0], load(kept, {v}))};
      })[0];
  return {add(upTo, before), total};
}

Value BlockWide::lastLane(Value x) {
  return gpu::ShuffleOp::create(b, loc, x, 31, 32, gpu::ShuffleMode::IDX)
      .getShuffleResult();
}

SmallVector<Value> BlockWide::forKeys(const KeyRow &row, Value lb, Value ub,
                                      Value offset, int64_t step,
                                      ValueRange init, KeyBody body) {
  auto vectorType = VectorType::get({kGroup}, b.getI32Type());
  // `count` groups from c on: loads first, then the bodies; with `masked`,
  // a group starting past ub reads the one at c (in range) and positions
  // past ub count as key 0.
  auto groups = [&](Value c, int64_t count, bool masked, ValueRange acc) {
    SmallVector<Value> starts;
    SmallVector<SmallVector<Value>> keys;
    for (int64_t u = 0; u < count; ++u) {
      Value j0 = add(c, add(offset, s.idx(u * step)));
      Value at = j0;
      if (masked)
        at = arith::SelectOp::create(b, loc, cmp(CmpIPredicate::ult, j0, ub),
                                     j0, c);
      Value loaded = vector::LoadOp::create(
          b, loc, vectorType, row.buffer, ValueRange{add(row.base, at)},
          /*nontemporal=*/false, llvm::MaybeAlign(16));
      SmallVector<Value> group;
      for (int64_t e = 0; e < kGroup; ++e) {
        Value key =
            vector::ExtractOp::create(b, loc, loaded, ArrayRef<int64_t>{e});
        if (masked)
          key = arith::SelectOp::create(
              b, loc, cmp(CmpIPredicate::ult, add(j0, s.idx(e)), ub), key,
              s.i32(0));
        group.push_back(key);
      }
      starts.push_back(j0);
      keys.push_back(group);
    }
    SmallVector<Value> next(acc);
    for (int64_t u = 0; u < count; ++u)
      next = body(starts[u], keys[u], next);
    return next;
  };
  // Whole iterations of kUnroll groups (every key in range: no masks),
  // then the rest a group at a time: a short row spreads over the threads.
  Value stride = s.idx(step * kUnroll);
  Value full =
      add(lb, arith::MulIOp::create(
                  b, loc,
                  arith::DivUIOp::create(
                      b, loc, arith::SubIOp::create(b, loc, ub, lb), stride),
                  stride));
  SmallVector<Value> acc =
      s.stridedLoop(lb, full, stride, init, [&](Value c, ValueRange acc) {
        return groups(c, kUnroll, /*masked=*/false, acc);
      });
  return s.stridedLoop(full, ub, s.idx(step), acc,
                       [&](Value c, ValueRange acc) {
                         return groups(c, 1, /*masked=*/true, acc);
                       });
}

void BlockWide::compact(const KeyRow &row, Value hi, KeyFlags flags,
                        Value remaining, CompactWrite write) {
  Value zero = s.idx(0), zero32 = s.i32(0);
  auto asI32 = [&](Value flag) -> Value {
    return arith::ExtUIOp::create(b, loc, b.getI32Type(), flag);
  };
  // Warp w takes a contiguous segment of the row: whole groups of 32 lanes
  // x kGroup keys (a lane's keys are consecutive).
  int64_t warpKeys = 32 * kGroup;
  Value segment = mul(
      arith::CeilDivUIOp::create(b, loc, hi, s.idx(warpKeys * kSelectWarps)),
      warpKeys);
  Value segBegin = arith::MinUIOp::create(
      b, loc, arith::MulIOp::create(b, loc, warp, segment), hi);
  Value segEnd = arith::MinUIOp::create(b, loc, add(segBegin, segment), hi);
  Value laneStart = mul(lane, kGroup);
  SmallVector<Value> mineKept = forKeys(
      row, segBegin, segEnd, laneStart, warpKeys, {zero32, zero32},
      [&](Value, ArrayRef<Value> keys, ValueRange acc) {
        SmallVector<Value> next(acc);
        for (Value key : keys) {
          auto [above, equal] = flags(key);
          next = {add(next[0], asI32(above)), add(next[1], asI32(equal))};
        }
        return next;
      });
  for (Value &x : mineKept) // warp sums
    for (int32_t offset : {16, 8, 4, 2, 1})
      x = add(x, gpu::ShuffleOp::create(b, loc, x, offset, 32,
                                        gpu::ShuffleMode::XOR)
                     .getShuffleResult());
  s.ifThen(cmp(CmpIPredicate::eq, lane, zero), {}, [&] {
    store(mineKept[0], kept, {warp});
    store(mineKept[1], kept, {add(warp, s.idx(kSelectWarps))});
    return SmallVector<Value>{};
  });
  barrier();
  // Keys the warps before this one write, and ties they see.
  SmallVector<Value> before =
      s.loop(zero, warp, {zero32, zero32}, [&](Value w, ValueRange acc) {
        Value above = load(kept, {w});
        Value equal = load(kept, {add(w, s.idx(kSelectWarps))});
        Value ties = arith::MinSIOp::create(
            b, loc,
            arith::MaxSIOp::create(
                b, loc, arith::SubIOp::create(b, loc, remaining, acc[1]),
                zero32),
            equal);
        return SmallVector<Value>{add(acc[0], add(above, ties)),
                                  add(acc[1], equal)};
      });
  // Per group of 32 x kGroup keys: the ties' ranks and the taken keys'
  // places by warp scans of the lanes' counts, then in order within the
  // lane. (The warp's loop is uniform: its shuffles see every lane.)
  forKeys(
      row, segBegin, segEnd, laneStart, warpKeys, before,
      [&](Value j0, ArrayRef<Value> keys, ValueRange acc) {
        SmallVector<Value> above, equal;
        Value equals = zero32;
        for (Value key : keys) {
          auto [a, e] = flags(key);
          above.push_back(a);
          equal.push_back(e);
          equals = add(equals, asI32(e));
        }
        Value equalScan = warpScan(equals);
        Value rank =
            add(acc[1], arith::SubIOp::create(b, loc, equalScan, equals));
        SmallVector<Value> take;
        Value takes = zero32;
        for (int64_t e = 0; e < kGroup; ++e) {
          take.push_back(arith::OrIOp::create(
              b, loc, above[e],
              arith::AndIOp::create(b, loc, equal[e],
                                    cmp(CmpIPredicate::slt, rank, remaining))));
          rank = add(rank, asI32(equal[e]));
          takes = add(takes, asI32(take[e]));
        }
        Value takeScan = warpScan(takes);
        Value at = add(acc[0], arith::SubIOp::create(b, loc, takeScan, takes));
        for (int64_t e = 0; e < kGroup; ++e) {
          s.ifThen(take[e], {}, [&] {
            write(s.toIndex(at), add(j0, s.idx(e)), keys[e]);
            return SmallVector<Value>{};
          });
          at = add(at, asI32(take[e]));
        }
        return SmallVector<Value>{add(acc[0], lastLane(takeScan)),
                                  add(acc[1], lastLane(equalScan))};
      });
}

Value BlockWide::selectTop(const KeyRow &row, Value hi, int64_t k,
                           int64_t width,
                           function_ref<void(Value, Value)> write,
                           function_ref<void(Value)> pad) {
  Value zero = s.idx(0), zero32 = s.i32(0), threads = s.idx(kSelectThreads);
  // 1. Four passes of 8 bits: T's prefix and the ties still to take (the
  // first pass's histogram holds every candidate: their count).
  Value prefix = zero32, remaining, count;
  for (int64_t shift = 24; shift >= 0; shift -= 8) {
    store(zero32, hist, {tid});
    barrier();
    Value high = s.i32(shift + 8);
    forKeys(row, zero, hi, mul(tid, kGroup), kGroup * kSelectThreads, {},
            [&](Value, ArrayRef<Value> keys, ValueRange) {
              for (Value key : keys) {
                Value match = cmp(CmpIPredicate::ne, key, zero32);
                if (shift < 24)
                  match = arith::AndIOp::create(
                      b, loc, match,
                      cmp(CmpIPredicate::eq,
                          arith::ShRUIOp::create(b, loc, key, high),
                          arith::ShRUIOp::create(b, loc, prefix, high)));
                Value digit = arith::AndIOp::create(
                    b, loc, arith::ShRUIOp::create(b, loc, key, s.i32(shift)),
                    s.i32(255));
                s.ifThen(match, {}, [&] {
                  memref::AtomicRMWOp::create(
                      b, loc, arith::AtomicRMWKind::addi, s.i32(1), hist,
                      ValueRange{s.toIndex(digit)});
                  return SmallVector<Value>{};
                });
              }
              return SmallVector<Value>{};
            });
    barrier();
    // The threshold bin by a block-wide scan: thread t holds bin 255 - t;
    // the keys in bins above it and in it (warp scans, then the warps
    // before). Exactly one thread names the bin, as thresholdBin's scan
    // from the top would: where the keys reach `remaining`, bin 255 when
    // nothing remains, bin 0 when they never do.
    Value bin = arith::SubIOp::create(
        b, loc, s.i32(255),
        arith::IndexCastOp::create(b, loc, b.getI32Type(), tid));
    Value here = load(hist, {s.toIndex(bin)});
    auto [upTo, total] = blockScan(here, /*withTotal=*/shift == 24);
    // Every candidate is in the first histogram.
    if (shift == 24)
      count = remaining = arith::MinSIOp::create(b, loc, total, s.i32(k));
    Value above = arith::SubIOp::create(b, loc, upTo, here);
    Value named =
        arith::AndIOp::create(b, loc, cmp(CmpIPredicate::sge, upTo, remaining),
                              cmp(CmpIPredicate::slt, above, remaining));
    named = arith::OrIOp::create(
        b, loc, named,
        arith::AndIOp::create(b, loc, cmp(CmpIPredicate::eq, tid, zero),
                              cmp(CmpIPredicate::sle, remaining, zero32)));
    named = arith::OrIOp::create(
        b, loc, named,
        arith::AndIOp::create(
            b, loc, cmp(CmpIPredicate::eq, tid, s.idx(kSelectThreads - 1)),
            cmp(CmpIPredicate::slt, upTo, remaining)));
    s.ifThen(named, {}, [&] {
      store(bin, state, {s.idx(1)});
      store(above, state, {s.idx(2)});
      return SmallVector<Value>{};
    });
    barrier();
    prefix = arith::OrIOp::create(
        b, loc, prefix,
        arith::ShLIOp::create(b, loc, load(state, {s.idx(1)}), s.i32(shift)));
    remaining =
        arith::SubIOp::create(b, loc, remaining, load(state, {s.idx(2)}));
  }
  // 2. Ordered compaction of the keys above T and the first ties.
  compact(
      row, hi,
      [&](Value key) {
        Value nonzero = cmp(CmpIPredicate::ne, key, zero32);
        return std::pair<Value, Value>{
            arith::AndIOp::create(b, loc, nonzero,
                                  cmp(CmpIPredicate::ugt, key, prefix)),
            arith::AndIOp::create(b, loc, nonzero,
                                  cmp(CmpIPredicate::eq, key, prefix))};
      },
      remaining, [&](Value at, Value j, Value) { write(at, j); });
  // Padding.
  s.stridedLoop(add(s.toIndex(count), tid), s.idx(width), threads, {},
                [&](Value t, ValueRange) {
                  pad(t);
                  return SmallVector<Value>{};
                });
  return count;
}

void BlockWide::sortDescending(Value buffer, int64_t n) {
  for (int64_t k = 2; k <= n; k *= 2)
    for (int64_t j = k / 2; j > 0; j /= 2) {
      // Pairs (i, i + j), i's bit j clear: descending where i & k is 0.
      eachThread(s.idx(n / 2), [&](Value p) {
        Value i = add(mul(arith::DivUIOp::create(b, loc, p, s.idx(j)), 2 * j),
                      arith::RemUIOp::create(b, loc, p, s.idx(j)));
        Value l = add(i, s.idx(j));
        Value x = load(buffer, {i}), y = load(buffer, {l});
        Value descending =
            cmp(CmpIPredicate::eq, arith::AndIOp::create(b, loc, i, s.idx(k)),
                s.idx(0));
        Value outOfOrder = arith::SelectOp::create(
            b, loc, descending,
            arith::CmpIOp::create(b, loc, CmpIPredicate::ult, x, y),
            arith::CmpIOp::create(b, loc, CmpIPredicate::ugt, x, y));
        s.ifThen(outOfOrder, {}, [&] {
          store(y, buffer, {i});
          store(x, buffer, {l});
          return SmallVector<Value>{};
        });
      });
      barrier();
    }
}

Value mlir::attn::packDescending(OpBuilder &b, Location loc, Value key,
                                 Value index) {
  Type i64 = b.getI64Type();
  Value low = arith::ExtUIOp::create(
      b, loc, i64,
      arith::SubIOp::create(
          b, loc, arith::ConstantIntOp::create(b, loc, -1, 32),
          arith::IndexCastOp::create(b, loc, b.getI32Type(), index)));
  return arith::OrIOp::create(
      b, loc,
      arith::ShLIOp::create(b, loc, arith::ExtUIOp::create(b, loc, i64, key),
                            arith::ConstantIntOp::create(b, loc, 32, 64)),
      low);
}

Value mlir::attn::unpackDescending(OpBuilder &b, Location loc, Value entry) {
  Value low = arith::TruncIOp::create(b, loc, b.getI32Type(), entry);
  return arith::IndexCastUIOp::create(
      b, loc, b.getIndexType(),
      arith::SubIOp::create(b, loc,
                            arith::ConstantIntOp::create(b, loc, -1, 32), low));
}

void BlockWide::gridBarrier(Value counter, Value generation) {
  barrier();
  onThread0([&] {
    NVVM::MembarOp::create(b, loc, NVVM::MemScopeKind::GPU);
    memref::AtomicRMWOp::create(b, loc, arith::AtomicRMWKind::addi, s.i32(1),
                                counter, ValueRange{s.idx(0)});
    Value blocks = arith::IndexCastOp::create(
        b, loc, b.getI32Type(),
        gpu::GridDimOp::create(b, loc, gpu::Dimension::x));
    Value target = arith::MulIOp::create(b, loc, generation, blocks);
    // Spin on atomic reads (an add of 0) until every block has arrived.
    auto spin = scf::WhileOp::create(b, loc, TypeRange{}, ValueRange{});
    {
      OpBuilder::InsertionGuard guard(b);
      b.createBlock(&spin.getBefore());
      Value arrived =
          memref::AtomicRMWOp::create(b, loc, arith::AtomicRMWKind::addi,
                                      s.i32(0), counter, ValueRange{s.idx(0)});
      scf::ConditionOp::create(
          b, loc,
          arith::CmpIOp::create(b, loc, CmpIPredicate::slt, arrived, target),
          ValueRange{});
      b.createBlock(&spin.getAfter());
      scf::YieldOp::create(b, loc);
    }
    NVVM::MembarOp::create(b, loc, NVVM::MemScopeKind::GPU);
  });
  barrier();
}

Value BlockWide::serialSum(Value n, function_ref<Value(Value)> term) {
  onThread0([&] {
    Value zeroF = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0));
    Value sum = s.loop(s.idx(0), n, {zeroF}, [&](Value i, ValueRange acc) {
      return SmallVector<Value>{arith::AddFOp::create(b, loc, acc[0], term(i))};
    })[0];
    store(arith::BitcastOp::create(b, loc, b.getI32Type(), sum), kept,
          {s.idx(0)});
  });
  barrier();
  Value sum =
      arith::BitcastOp::create(b, loc, b.getF32Type(), load(kept, {s.idx(0)}));
  barrier();
  return sum;
}

Value BlockWide::takeSorted(Value sorted, int64_t slots, Value goal,
                            Value minCount, function_ref<Value(Value)> mass,
                            const KeyRow &flags, Value n,
                            function_ref<void(Value, Value)> write) {
  Value zero = s.idx(0), zero32 = s.i32(0);
  Value zero64 = arith::ConstantIntOp::create(b, loc, 0, 64);
  onThread0([&] {
    Type f32 = b.getF32Type();
    auto loop = scf::WhileOp::create(
        b, loc, TypeRange{b.getIndexType(), f32, b.getI32Type()},
        ValueRange{zero,
                   arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0)),
                   zero32});
    OpBuilder::InsertionGuard guard(b);
    Block *before = b.createBlock(&loop.getBefore(), {}, loop.getResultTypes(),
                                  {loc, loc, loc});
    Value t = before->getArgument(0);
    Value entry =
        s.ifThen(cmp(CmpIPredicate::ult, t, s.idx(slots)), {zero64},
                 [&] { return SmallVector<Value>{load(sorted, {t})}; })[0];
    Value open = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OLT,
                                       before->getArgument(1), goal);
    if (minCount)
      open = arith::OrIOp::create(
          b, loc, open,
          cmp(CmpIPredicate::slt, before->getArgument(2), minCount));
    Value more = arith::AndIOp::create(
        b, loc, open,
        arith::CmpIOp::create(b, loc, CmpIPredicate::ne, entry, zero64));
    scf::ConditionOp::create(b, loc, more, before->getArguments());
    Block *after = b.createBlock(&loop.getAfter(), {}, loop.getResultTypes(),
                                 {loc, loc, loc});
    Value index =
        unpackDescending(b, loc, load(sorted, {after->getArgument(0)}));
    scf::YieldOp::create(
        b, loc,
        ValueRange{
            add(after->getArgument(0), s.idx(1)),
            arith::AddFOp::create(b, loc, after->getArgument(1), mass(index)),
            add(after->getArgument(2), s.i32(1))});
    b.setInsertionPointAfter(loop);
    store(loop.getResult(2), kept, {zero});
  });
  barrier();
  Value taken = s.toIndex(load(kept, {zero}));
  barrier();
  // The taken indices flagged, then listed in ascending order.
  eachThread(
      n, [&](Value i) { store(zero32, flags.buffer, {add(flags.base, i)}); });
  barrier();
  eachThread(taken, [&](Value t) {
    store(s.i32(1), flags.buffer,
          {add(flags.base, unpackDescending(b, loc, load(sorted, {t})))});
  });
  barrier();
  compact(
      flags, n,
      [&](Value flag) {
        return std::pair<Value, Value>{
            cmp(CmpIPredicate::ne, flag, zero32),
            arith::ConstantIntOp::create(b, loc, 0, 1)};
      },
      zero32, [&](Value at, Value i, Value) { write(at, i); });
  return taken;
}

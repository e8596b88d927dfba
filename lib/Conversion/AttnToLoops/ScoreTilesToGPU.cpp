//===- ScoreTilesToGPU.cpp - selection scores on tensor cores -------------===//
//
// The kernel of the top-k selections whose scores are dot products of
// 16-bit queries and keys (TileScoring: the indexer of D1 and D2's block
// stage, IndexerTilesToGPU.cpp; an attention's own top-k of H2/H3,
// AttentionTopkToGPU.cpp): a block of 256 threads per tile of 16 query rows
// of a set (a batch, or a (batch, head)), over a capped grid. Every warp
// holds the tile's queries as MMA A fragments, one m16 tile per head of the
// score, so the heads' dot products of a (row, key) pair land in the same
// lane and register: the indexer's weighted sum of their ReLUs needs no
// shuffle. The warps share chunks of 256 keys, 8-key tiles each: m16n8k16
// products over the dim, the pair's score (TileScoring::orderedKey), the
// ordered key (0 where the mask rules the pair out) stored to the row's slot
// in the block's 16 rows of the workspace. The chunks run to the end of the
// mask's closed-form hull for the tile's rows; a chunk outside the hull is
// not computed (its slots get 0), one inside a core interval skips the mask
// test. Then the block-wide radix select of SelectionKernels.cpp takes the
// rows one after the other, as the block-per-row kernel does
// (SelectionToGPU.cpp): the same sets from the same scores.
//
// Rows of at least 4096 keys also count their scores' first 11-bit digit
// while scoring (16 rows x 2048 bins in dynamic shared memory); per row the
// bin where the candidates from the top reach k holds the k-th best, so
// only the keys of that bin and above (copied in ascending position, with
// their positions, by the ordered compaction) go through the select: two
// passes over the row instead of six. A row keeping more than 8192 (equal
// scores) takes the row-wide select.
//
// Why: scored by SIMT FP32 (a thread per key, 256 multiply-adds per
// candidate for 4 x 64 indexer heads) the indexer was most of D1's time on
// the H100 (604 of 636 ms at S = 128K); the tensor cores do those products
// at a small fraction of the cost, and a key row is read once per 16 query
// rows instead of once per row. An attention's top-k, a thread per row in
// the GPU row form, took 159 ms for two heads at S = 8K.
//
// The dim is walked in chunks of 32, two k16 steps. The MMA's k index may
// be any permutation of the dims as long as A and B agree; the one used
// gives each lane 8 contiguous dims of a chunk (lane % 4 = c holds dims
// 8c .. 8c + 7: step s's pairs are dims 8c + 4s + {0, 1} and
// 8c + 4s + {2, 3}), so a lane reads a query row's and a key row's chunk in
// one 16-byte load each.
//
// The scores differ from the CPU's only in the order of the dot products'
// sums: exact, and so the same sets, on integer-valued data.
//
//===----------------------------------------------------------------------===//

#include "SelectionKernels.h"
#include "StreamingLowering.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace mlir::attn;

using arith::CmpIPredicate;

namespace {
/// Query rows per tile (an m16 tile), 8-key tiles per warp and chunk (their
/// loads are issued before their products), keys per chunk.
/// (kTilesPerWarp: see docs/benchmarks.md for the measured choice.)
constexpr int64_t kRows = 16, kTilesPerWarp = 4;
constexpr int64_t kChunk = kSelectWarps * 8 * kTilesPerWarp;
/// The scores' first radix digit (11 bits: sign, exponent, two mantissa
/// bits: bins a quarter of an octave wide) counted while scoring, per row
/// in shared memory, for rows of at least kMinBinnedKeys keys (shorter ones
/// select in the workspace directly: zeroing the bins would cost more than
/// their keys); the keys of the threshold bin and above a row keeps, at
/// most, for its select.
constexpr int64_t kBinBits = 11, kBins = int64_t(1) << kBinBits,
                  kMinBinnedKeys = 2 * kBins, kMaxCandidates = 8192;
} // namespace

Value mlir::attn::loadVector16(OpBuilder &b, Location loc, Value buffer,
                               ValueRange at) {
  auto type = cast<MemRefType>(buffer.getType());
  int64_t lanes = 128 / type.getElementTypeBitWidth();
  return vector::LoadOp::create(
      b, loc, VectorType::get({lanes}, type.getElementType()), buffer, at,
      /*nontemporal=*/false, llvm::MaybeAlign(16));
}

/// Over a row's first-digit histogram (bins[at .. at + kBins)): the bin
/// where the candidates from the top reach min(candidates, k), and how
/// many candidates are in it and above (i32 both; bin kBins and 0 for a
/// row without candidates). A block-wide scan: thread t holds bins
/// kBins - 1 - (kBins / 256) t and the next lower ones.
static std::pair<Value, Value> thresholdBin(BlockWide &w, Value bins, Value at,
                                            int64_t k) {
  SelectionBuilder &s = w.s;
  OpBuilder &b = w.b;
  Location loc = w.loc;
  constexpr int64_t perThread = kBins / kSelectThreads;
  Value zero32 = s.i32(0);
  SmallVector<Value> counts;
  Value mine = zero32;
  for (int64_t m = 0; m < perThread; ++m) {
    Value bin = arith::SubIOp::create(b, loc, s.idx(kBins - 1),
                                      w.add(w.mul(w.tid, perThread), s.idx(m)));
    counts.push_back(w.load(bins, {w.add(at, bin)}));
    mine = w.add(mine, counts.back());
  }
  auto [upTo, total] = w.blockScan(mine, /*withTotal=*/true);
  Value target = arith::MinSIOp::create(b, loc, total, s.i32(k));
  // The thread whose bins reach the target names the bin.
  Value above = arith::SubIOp::create(b, loc, upTo, mine);
  Value named =
      arith::AndIOp::create(b, loc, w.cmp(CmpIPredicate::slt, above, target),
                            w.cmp(CmpIPredicate::sge, upTo, target));
  s.ifThen(named, {}, [&] {
    Value cum = above, bin = s.i32(0), kept = zero32;
    for (int64_t m = 0; m < perThread; ++m) {
      Value next = w.add(cum, counts[m]);
      Value here =
          arith::AndIOp::create(b, loc, w.cmp(CmpIPredicate::slt, cum, target),
                                w.cmp(CmpIPredicate::sge, next, target));
      Value index = arith::IndexCastOp::create(
          b, loc, b.getI32Type(),
          arith::SubIOp::create(b, loc, s.idx(kBins - 1),
                                w.add(w.mul(w.tid, perThread), s.idx(m))));
      bin = arith::SelectOp::create(b, loc, here, index, bin);
      kept = arith::SelectOp::create(b, loc, here, next, kept);
      cum = next;
    }
    w.store(bin, w.state, {s.idx(1)});
    w.store(kept, w.state, {s.idx(2)});
    return SmallVector<Value>{};
  });
  // No candidates: nothing is kept.
  w.onThread0([&] {
    s.ifThen(w.cmp(CmpIPredicate::sle, target, zero32), {}, [&] {
      w.store(s.i32(kBins), w.state, {s.idx(1)});
      w.store(zero32, w.state, {s.idx(2)});
      return SmallVector<Value>{};
    });
  });
  w.barrier();
  return {w.load(w.state, {s.idx(1)}), w.load(w.state, {s.idx(2)})};
}

LogicalResult mlir::attn::lowerScoreTilesToGPU(Operation *op, func::FuncOp func,
                                               RewriterBase &b,
                                               TileScoring &scoring) {
  Location loc = op->getLoc();
  int64_t queryLen = scoring.queryLen, heads = scoring.heads;
  int64_t dim = scoring.dim, keys = scoring.keys, k = scoring.k;
  Type element = scoring.element;
  int64_t tilesPerSet = llvm::divideCeil(queryLen, kRows);
  int64_t tiles = scoring.sets * tilesPerSet;
  // A row's slots: whole chunks (the last chunk's tiles store whole). A
  // block's workspace: its rows, then per row the kept keys and their
  // positions (all of them when the row fits).
  int64_t rowStride = llvm::alignTo(keys, kChunk);
  bool binned = keys >= kMinBinnedKeys;
  int64_t capacity = binned ? std::min(kMaxCandidates, rowStride) : 0;
  int64_t blockWords = kRows * (rowStride + 2 * capacity);
  unsigned numInputs = func.getNumArguments();
  FailureOr<gpu::GPUFuncOp> created = createSelectionKernel(
      op, func, b, std::max<int64_t>(tiles, 1), 4 * blockWords);
  if (failed(created))
    return failure();
  gpu::GPUFuncOp kernel = *created;
  // The rows' first-digit histograms: dynamic shared memory (128 KiB).
  int64_t binBytes = binned ? 4 * kRows * kBins : 0;
  kernel->setAttr("attn.shared_bytes", b.getI64IntegerAttr(binBytes));
  // Without bins, two blocks per SM: registers capped at 128 (a few
  // spills), measured 35 % faster on D2's block stage (512 keys a row:
  // the short selections wait on memory and barriers). The binned kernel
  // is held to one by its 128 KiB of bins (10-bit bins and two blocks:
  // 4 % faster at 32K, 4 % slower at 128K).
  if (!binned)
    kernel->setAttr("nvvm.minctasm", b.getI32IntegerAttr(2));
  auto workgroup =
      gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup);
  auto shared = [&](int64_t size) {
    return addWorkgroupBuffer(kernel, b.getI32Type(), size);
  };
  // The select's histogram, state and per-warp counts (SelectionToGPU.cpp);
  // the end of each row's candidates.
  SelectBuffers select = addSelectBuffers(kernel);
  Value rowEnds = shared(kRows);
  Block *body = &kernel.getBody().front();
  b.setInsertionPointToStart(body);
  Value workspace = workspaceView(b, loc, kernel, b.getI32Type(), blockWords);
  Value bins;
  if (binned)
    bins = memref::ViewOp::create(
        b, loc,
        MemRefType::get({kRows * kBins}, b.getI32Type(),
                        MemRefLayoutAttrInterface{}, workgroup),
        gpu::DynamicSharedMemoryOp::create(
            b, loc,
            MemRefType::get({ShapedType::kDynamic}, b.getI8Type(),
                            MemRefLayoutAttrInterface{}, workgroup)),
        arith::ConstantIndexOp::create(b, loc, 0), ValueRange{});
  Value counts = body->getArgument(numInputs);
  Value indices = body->getArgument(numInputs + 1);

  SelectionBuilder s(b, loc);
  BlockWide w(s, b, loc, select);
  auto idx = [&](int64_t v) { return s.idx(v); };
  auto add = [&](Value x, Value y) { return w.add(x, y); };
  auto mul = [&](Value x, Value y) { return w.mul(x, y); };
  auto minI = [&](Value x, Value y) { return w.min(x, y); };
  auto cmp = [&](CmpIPredicate p, Value x, Value y) { return w.cmp(p, x, y); };
  auto toI32 = [&](Value x) -> Value {
    return arith::IndexCastOp::create(b, loc, b.getI32Type(), x);
  };
  // A key's first radix digit (its top kBinBits bits).
  auto digitOf = [&](Value key) -> Value {
    return arith::ShRUIOp::create(b, loc, key, s.i32(32 - kBinBits));
  };
  Value zero = idx(0), zero32 = s.i32(0);
  scoring.bind(body->getArguments().take_front(numInputs), s);
  Value block = gpu::BlockIdOp::create(b, loc, gpu::Dimension::x);
  Value grid = gpu::GridDimOp::create(b, loc, gpu::Dimension::x);
  // The lane's group (its rows g and g + 8, its key in a B tile) and its
  // place in the group (its dims and its keys 2c, 2c + 1 in a C tile).
  Value group = arith::DivUIOp::create(b, loc, w.lane, idx(4));
  Value quad = arith::RemUIOp::create(b, loc, w.lane, idx(4));
  Value dimOffset = mul(quad, idx(8));
  // Elements first, first + 1 of an 8-element vector.
  auto pairOf = [&](Value v, int64_t first) -> Value {
    return vector::ShuffleOp::create(b, loc, v, v,
                                     ArrayRef<int64_t>{first, first + 1});
  };
  auto fragment = [&](ArrayRef<Value> pairs) -> Value {
    auto type =
        VectorType::get({static_cast<int64_t>(pairs.size()), 2}, element);
    Value result = arith::ConstantOp::create(b, loc, b.getZeroAttr(type));
    for (auto [r, pair] : llvm::enumerate(pairs))
      result = vector::InsertOp::create(
          b, loc, pair, result, ArrayRef<int64_t>{static_cast<int64_t>(r)});
    return result;
  };
  int64_t chunks32 = dim / 32;

  s.stridedLoop(block, idx(tiles), grid, {}, [&](Value tile, ValueRange) {
    Value bb, hh;
    std::tie(bb, hh) =
        scoring.setOf(arith::DivUIOp::create(b, loc, tile, idx(tilesPerSet)));
    Value i0 =
        mul(arith::RemUIOp::create(b, loc, tile, idx(tilesPerSet)), idx(kRows));
    Value i1 = minI(add(i0, idx(kRows)), idx(queryLen));
    s.ifThen(cmp(CmpIPredicate::ult, w.tid, idx(kRows)), {}, [&] {
      w.store(zero32, rowEnds, {w.tid});
      return SmallVector<Value>{};
    });
    if (binned) {
      Value zeros = arith::ConstantOp::create(
          b, loc, b.getZeroAttr(VectorType::get({4}, b.getI32Type())));
      s.stridedLoop(mul(w.tid, idx(4)), idx(kRows * kBins),
                    idx(4 * kSelectThreads), {}, [&](Value e, ValueRange) {
                      vector::StoreOp::create(
                          b, loc, zeros, bins, ValueRange{e},
                          /*nontemporal=*/false, llvm::MaybeAlign(16));
                      return SmallVector<Value>{};
                    });
    }
    w.barrier();
    // The lane's rows (clamped where the tile passes the queries: read,
    // never stored).
    Value rowOf[2] = {add(i0, group), add(i0, add(group, idx(8)))};
    Value active[2], clamped[2];
    for (int r = 0; r < 2; ++r) {
      active[r] = cmp(CmpIPredicate::ult, rowOf[r], idx(queryLen));
      clamped[r] = minI(rowOf[r], idx(queryLen - 1));
    }
    // A fragments per head and k16 step.
    SmallVector<SmallVector<Value>> a(heads);
    for (int64_t t = 0; t < heads; ++t) {
      for (int64_t q = 0; q < chunks32; ++q) {
        Value at = add(idx(32 * q), dimOffset);
        Value x = scoring.queryVector(bb, hh, clamped[0], t, at);
        Value y = scoring.queryVector(bb, hh, clamped[1], t, at);
        for (int64_t step = 0; step < 2; ++step)
          a[t].push_back(
              fragment({pairOf(x, 4 * step), pairOf(y, 4 * step),
                        pairOf(x, 4 * step + 2), pairOf(y, 4 * step + 2)}));
      }
    }
    scoring.beginTile(bb, hh, clamped);
    Value end = scoring.keysEnd(bb, hh, i0, i1);
    Value base = mul(block, idx(blockWords));
    Value zeroC = arith::ConstantOp::create(
        b, loc, b.getZeroAttr(VectorType::get({2, 2}, b.getF32Type())));
    Value yes = arith::ConstantIntOp::create(b, loc, 1, 1);
    // Over the chunks: the ends of the lane's two rows' candidates.
    SmallVector<Value> ends = s.stridedLoop(
        zero, end, idx(kChunk), {zero32, zero32},
        [&](Value c0, ValueRange acc) {
          Value maybe, all;
          std::tie(maybe, all) = scoring.classify(
              bb, hh, i0, i1, c0, minI(add(c0, idx(kChunk)), end));
          // The warp's 8-key tiles; a lane's C keys are j0 + 2c + {0, 1}.
          SmallVector<Value> first;
          for (int64_t n = 0; n < kTilesPerWarp; ++n)
            first.push_back(add(
                c0, mul(add(mul(w.warp, idx(kTilesPerWarp)), idx(n)), idx(8))));
          // Ordered keys [tile][row][key], 0 outside the hull.
          SmallVector<Value> none(kTilesPerWarp * 4, zero32);
          SmallVector<Value> ordered = s.ifThen(maybe, none, [&] {
            // Every load of the warp's tiles before their products.
            SmallVector<SmallVector<Value>> bOperand(kTilesPerWarp);
            for (int64_t n = 0; n < kTilesPerWarp; ++n) {
              Value key = minI(add(first[n], group), idx(keys - 1));
              for (int64_t q = 0; q < chunks32; ++q) {
                Value x =
                    scoring.keyVector(bb, hh, key, add(idx(32 * q), dimOffset));
                for (int64_t step = 0; step < 2; ++step)
                  bOperand[n].push_back(
                      fragment({pairOf(x, 4 * step), pairOf(x, 4 * step + 2)}));
              }
            }
            SmallVector<Value> result;
            for (int64_t n = 0; n < kTilesPerWarp; ++n) {
              // The heads' dot products per (row, key) of the lane.
              SmallVector<Value> dots[2][2];
              for (int64_t t = 0; t < heads; ++t) {
                Value c = zeroC;
                for (int64_t step = 0; step < 2 * chunks32; ++step)
                  c = mmaSync16816(b, loc, element, a[t][step],
                                   bOperand[n][step], c);
                for (int64_t r = 0; r < 2; ++r)
                  for (int64_t e = 0; e < 2; ++e)
                    dots[r][e].push_back(vector::ExtractOp::create(
                        b, loc, c, ArrayRef<int64_t>{r, e}));
              }
              for (int64_t r = 0; r < 2; ++r)
                for (int64_t e = 0; e < 2; ++e) {
                  Value j = add(first[n], add(mul(quad, idx(2)), idx(e)));
                  Value inKeys = cmp(CmpIPredicate::ult, j, idx(keys));
                  // The mask per pair only where the chunk is partial.
                  Value keyAt = minI(j, idx(keys - 1));
                  Value allowed = s.ifThen(
                      arith::XOrIOp::create(b, loc, all, yes), {yes}, [&] {
                        return SmallVector<Value>{
                            scoring.allowed(bb, hh, clamped[r], keyAt)};
                      })[0];
                  Value valid = arith::AndIOp::create(
                      b, loc, arith::AndIOp::create(b, loc, inKeys, active[r]),
                      allowed);
                  result.push_back(scoring.orderedKey(
                      r, dots[r][e], bb, hh, clamped[r], keyAt, valid));
                }
            }
            return result;
          });
          // Store each row's pair of keys; the ends of the candidates.
          SmallVector<Value> next(acc);
          for (int64_t n = 0; n < kTilesPerWarp; ++n)
            for (int64_t r = 0; r < 2; ++r) {
              Value lo = ordered[4 * n + 2 * r],
                    hi = ordered[4 * n + 2 * r + 1];
              Value j = add(first[n], mul(quad, idx(2)));
              s.ifThen(active[r], {}, [&] {
                Value pair = vector::FromElementsOp::create(
                    b, loc, VectorType::get({2}, b.getI32Type()),
                    ValueRange{lo, hi});
                Value slot = add(
                    add(base, mul(add(group, idx(8 * r)), idx(rowStride))), j);
                vector::StoreOp::create(
                    b, loc, pair, workspace, ValueRange{slot},
                    /*nontemporal=*/false, llvm::MaybeAlign(8));
                return SmallVector<Value>{};
              });
              for (int64_t e = 0; e < 2; ++e) {
                Value key = e ? hi : lo;
                Value candidate = cmp(CmpIPredicate::ne, key, zero32);
                Value after = toI32(add(j, idx(e + 1)));
                // The row's first digit (candidates only).
                if (binned)
                  s.ifThen(candidate, {}, [&] {
                    memref::AtomicRMWOp::create(
                        b, loc, arith::AtomicRMWKind::addi, s.i32(1), bins,
                        ValueRange{add(mul(add(group, idx(8 * r)), idx(kBins)),
                                       s.toIndex(digitOf(key)))});
                    return SmallVector<Value>{};
                  });
                next[r] = arith::SelectOp::create(
                    b, loc, candidate,
                    arith::MaxSIOp::create(b, loc, next[r], after), next[r]);
              }
            }
          return next;
        });
    for (int64_t r = 0; r < 2; ++r)
      memref::AtomicRMWOp::create(b, loc, arith::AtomicRMWKind::maxs, ends[r],
                                  rowEnds, ValueRange{add(group, idx(8 * r))});
    w.barrier();
    // The rows' selections, one after the other.
    s.loop(zero, arith::SubIOp::create(b, loc, i1, i0), {},
           [&](Value r, ValueRange) {
             Value i = add(i0, r);
             Value rowBase = add(base, mul(r, idx(rowStride)));
             Value hi = s.toIndex(w.load(rowEnds, {r}));
             auto pad = [&](Value t) {
               w.store(s.i32(-1), indices, {bb, hh, i, t});
             };
             // The row-wide select.
             auto rowWide = [&] {
               return SmallVector<Value>{w.selectTop(
                   {workspace, rowBase}, hi, k, k,
                   [&](Value at, Value j) {
                     w.store(toI32(j), indices, {bb, hh, i, at});
                   },
                   pad)};
             };
             Value count;
             if (!binned) {
               count = rowWide()[0];
             } else {
               Value bin, kept;
               std::tie(bin, kept) =
                   thresholdBin(w, bins, mul(r, idx(kBins)), k);
               Value keptBase = add(
                   base, add(idx(kRows * rowStride), mul(r, idx(capacity))));
               Value positions = add(keptBase, idx(kRows * capacity));
               // The keys of the threshold bin and above, in ascending
               // position, then their select.
               auto keptOnly = [&] {
                 w.compact(
                     {workspace, rowBase}, hi,
                     [&](Value key) {
                       return std::pair<Value, Value>{
                           arith::AndIOp::create(
                               b, loc, cmp(CmpIPredicate::ne, key, zero32),
                               cmp(CmpIPredicate::uge, digitOf(key), bin)),
                           arith::ConstantIntOp::create(b, loc, 0, 1)};
                     },
                     zero32,
                     [&](Value at, Value j, Value key) {
                       w.store(key, workspace, {add(keptBase, at)});
                       w.store(toI32(j), workspace, {add(positions, at)});
                     });
                 w.barrier();
                 return SmallVector<Value>{w.selectTop(
                     {workspace, keptBase}, s.toIndex(kept), k, k,
                     [&](Value at, Value p) {
                       w.store(w.load(workspace, {add(positions, p)}), indices,
                               {bb, hh, i, at});
                     },
                     pad)};
               };
               count = s.ifElse(cmp(CmpIPredicate::sle, kept, s.i32(capacity)),
                                b.getI32Type(), keptOnly, rowWide)[0];
             }
             w.onThread0([&] { w.store(count, counts, {bb, hh, i}); });
             w.barrier();
             return SmallVector<Value>{};
           });
    return SmallVector<Value>{};
  });
  gpu::ReturnOp::create(b, loc);
  b.eraseOp(func);
  return success();
}

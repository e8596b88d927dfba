//===- SelectionBuilder.h - loops of the selection ops (private) -*- C++
//-*-===//
//
// The builder shared by the selection lowerings (SelectionToLoops.cpp for
// the token-level ops, BlockSelectionToLoops.cpp for the block-level ones):
// buffers, loops, the candidate mask test and the radix select.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTOLOOPS_SELECTIONBUILDER_H
#define ATTN_LIB_CONVERSION_ATTNTOLOOPS_SELECTIONBUILDER_H

#include "TileLoops.h"
#include "attn/Conversion/AttnToLoops/ElementEmitter.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::attn {

/// A selection op with its independent rows (`SelectionBuilder::rows`)
/// dealt out to threads; its results are the kernel's output buffers, in
/// order. Two forms:
/// - the GPU row form (SelectionToGPU.cpp): the grid's threads; scratch
///   rows are per-thread views into the workspace (one region of `threads`
///   x size bytes per row, so static sizes only); rows a block shares
///   (`rows` with `perOuter`) are computed by the block's threads together;
/// - the host kernel form (`host`, SelectionToHost.cpp): every thread calls
///   the kernel with its `thread` of `threads`; scratch rows are its own
///   stack buffers, and it computes what rows share itself.
struct RowThreads {
  bool host = false;
  Value thread, threads, workspace; // index, index, memref<?xi8>
  /// The block, the grid's blocks, the thread in the block and the block
  /// size (index), for rows that a block shares (`rows` with `perOuter`).
  Value block, blocks, threadInBlock, blockSize;
  SmallVector<Value> outputs;
  unsigned nextOutput = 0;
  /// Scratch bytes per block so far (a thread's rows count for each of the
  /// block's threads); rows of the first distributed loop (static: the
  /// launch's grid comes from it).
  int64_t scratchBytes = 0, rowCount = 0;
  /// What cannot be built on the GPU (a dynamic scratch size), if any.
  std::string error;
};

/// Builds the loops of one selection op (on the CPU, or in the GPU row form
/// with `threaded`).
class SelectionBuilder {
public:
  SelectionBuilder(RewriterBase &b, Location loc,
                   RowThreads *threaded = nullptr)
      : b(b), loc(loc), threaded(threaded) {}

  Value idx(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
  Value i32(int64_t v) { return arith::ConstantIntOp::create(b, loc, v, 32); }
  Value buffer(Value tensor) {
    auto type = cast<RankedTensorType>(tensor.getType());
    return bufferization::ToBufferOp::create(
        b, loc, MemRefType::get(type.getShape(), type.getElementType()), tensor,
        /*read_only=*/true);
  }
  /// Tensors among `values` as buffers, scalars as they are.
  SmallVector<Value> buffers(ValueRange values) {
    return llvm::map_to_vector(values, [&](Value x) -> Value {
      return isa<RankedTensorType>(x.getType()) ? buffer(x) : x;
    });
  }
  Value toF32(Value x) {
    return x.getType().isF32()
               ? x
               : arith::ExtFOp::create(b, loc, b.getF32Type(), x).getResult();
  }
  Value toIndex(Value x) {
    if (x.getType().isIndex())
      return x;
    return arith::IndexCastOp::create(b, loc, b.getIndexType(), x);
  }
  Value dim(Value memref, int64_t d) {
    auto type = cast<MemRefType>(memref.getType());
    if (!type.isDynamicDim(d)) // static on the GPU: scratch sizes fold
      return idx(type.getDimSize(d));
    return memref::DimOp::create(b, loc, memref, d);
  }
  /// A buffer of `type` whose dynamic sizes come from `dynamicSizes` (on
  /// the GPU: the kernel's next output buffer).
  Value alloc(RankedTensorType type, ValueRange dynamicSizes) {
    if (threaded) {
      if (threaded->nextOutput < threaded->outputs.size())
        return threaded->outputs[threaded->nextOutput++];
      threaded->error = "more results than the kernel's outputs";
    }
    return memref::AllocOp::create(
        b, loc, MemRefType::get(type.getShape(), type.getElementType()),
        dynamicSizes);
  }
  /// A buffer of `type` whose dimension d, where dynamic, is `extents[d]`.
  Value allocShaped(RankedTensorType type, ArrayRef<Value> extents) {
    SmallVector<Value> dynamic;
    for (auto [d, size] : llvm::enumerate(type.getShape()))
      if (ShapedType::isDynamic(size))
        dynamic.push_back(extents[d]);
    return alloc(type, dynamic);
  }
  /// `size` as a constant where it folds to one (static shapes).
  static std::optional<int64_t> constantSize(Value size);
  /// A 1-D scratch buffer of `size` elements (on the GPU, the thread's
  /// own: see RowThreads; with `shared`, the block's, for `rows`' perOuter).
  Value row(Type element, Value size, bool shared = false);
  /// Over [0, n): on the GPU in `rows`' perOuter, the block's threads share
  /// the iterations; elsewhere one loop.
  template <typename Body> void sharedLoop(Value n, Body body) {
    bool block = threaded && !threaded->host;
    Value lb = block ? threaded->threadInBlock : idx(0);
    Value step = block ? threaded->blockSize : idx(1);
    stridedLoop(lb, n, step, {}, [&](Value x, ValueRange) {
      body(x);
      return SmallVector<Value>{};
    });
  }
  /// Threads per block of the GPU row form.
  static constexpr int64_t kRowsPerBlock = 256;
  Value toTensor(Value memref, Type type) {
    return bufferization::ToTensorOp::create(b, loc, type, memref,
                                             /*restrict=*/true,
                                             /*writable=*/true);
  }

  /// for (iv = lb; iv < ub; ++iv) carrying `init`.
  template <typename Body>
  SmallVector<Value> loop(Value lb, Value ub, ValueRange init, Body body) {
    return tiles::forLoop(b, loc, lb, ub, idx(1), init, body);
  }

  /// for (iv = lb; iv < ub; iv += step) carrying `init`.
  template <typename Body>
  SmallVector<Value> stridedLoop(Value lb, Value ub, Value step,
                                 ValueRange init, Body body) {
    return tiles::forLoop(b, loc, lb, ub, step, init, body);
  }

  /// body(b, i) for every (batch, query) row; the rows must be
  /// independent (on the GPU, threads take them). With `perOuter`, called
  /// before the rows of each b (for what they share): on the GPU a block
  /// then takes a b (calling it with all its threads) and its threads the
  /// rows.
  template <typename Body>
  void rows(Value batch, Value len, Body body,
            function_ref<void(Value)> perOuter = nullptr) {
    if (threaded && threaded->host && perOuter) {
      loop(idx(0), batch, {}, [&](Value bb, ValueRange) {
        perOuter(bb);
        stridedLoop(threaded->thread, len, threaded->threads, {},
                    [&](Value i, ValueRange) {
                      body(bb, i);
                      return SmallVector<Value>{};
                    });
        return SmallVector<Value>{};
      });
      return;
    }
    if (threaded && perOuter) {
      if (!threaded->rowCount)
        if (std::optional<int64_t> n = constantSize(batch))
          threaded->rowCount = *n * kRowsPerBlock;
      stridedLoop(threaded->block, batch, threaded->blocks, {},
                  [&](Value bb, ValueRange) {
                    perOuter(bb);
                    gpu::BarrierOp::create(b, loc);
                    stridedLoop(threaded->threadInBlock, len,
                                threaded->blockSize, {},
                                [&](Value i, ValueRange) {
                                  body(bb, i);
                                  return SmallVector<Value>{};
                                });
                    gpu::BarrierOp::create(b, loc);
                    return SmallVector<Value>{};
                  });
      return;
    }
    if (threaded) {
      Value total = arith::MulIOp::create(b, loc, batch, len);
      if (!threaded->rowCount)
        if (std::optional<int64_t> n = constantSize(total))
          threaded->rowCount = *n;
      stridedLoop(threaded->thread, total, threaded->threads, {},
                  [&](Value r, ValueRange) {
                    body(arith::DivUIOp::create(b, loc, r, len),
                         arith::RemUIOp::create(b, loc, r, len));
                    return SmallVector<Value>{};
                  });
      return;
    }
    loop(idx(0), batch, {}, [&](Value bb, ValueRange) {
      if (perOuter)
        perOuter(bb);
      loop(idx(0), len, {}, [&](Value i, ValueRange) {
        body(bb, i);
        return SmallVector<Value>{};
      });
      return SmallVector<Value>{};
    });
  }

  /// `then` when `cond`, else `init` unchanged.
  template <typename Body>
  SmallVector<Value> ifThen(Value cond, ValueRange init, Body then) {
    auto ifOp = scf::IfOp::create(b, loc, ValueRange(init).getTypes(), cond,
                                  /*withElseRegion=*/!init.empty());
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    SmallVector<Value> next = then();
    if (!init.empty()) {
      scf::YieldOp::create(b, loc, next);
      b.setInsertionPointToStart(ifOp.elseBlock());
      scf::YieldOp::create(b, loc, init);
    }
    return SmallVector<Value>(ifOp.getResults());
  }

  /// `then` when `cond`, else `otherwise`; both return values of `types`.
  template <typename Then, typename Else>
  SmallVector<Value> ifElse(Value cond, TypeRange types, Then then,
                            Else otherwise) {
    auto ifOp = scf::IfOp::create(b, loc, types, cond, /*withElseRegion=*/true);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    scf::YieldOp::create(b, loc, then());
    b.setInsertionPointToStart(ifOp.elseBlock());
    scf::YieldOp::create(b, loc, otherwise());
    return SmallVector<Value>(ifOp.getResults());
  }

  /// Rows [r0, r1) of `x` at (bb, head, ., d) reduced in f32 in row order:
  /// the mean, or the max (the pooled blocks of D3-D6). With `width` > 1,
  /// elements d .. d + width at once (vector<width x f32>) from `width`-
  /// element loads (16-byte aligned: attnrt checks Q/K), the same sums.
  Value poolRows(Value x, Value bb, Value head, Value r0, Value r1, Value d,
                 bool mean, int64_t width = 1);

  /// An order-preserving unsigned 32-bit key of a finite f32 (never 0;
  /// -0.0 and +0.0 get the same key).
  /// Of an f32 or of a vector of them (lane by lane).
  Value orderedKey(Value score) {
    auto vector = dyn_cast<VectorType>(score.getType());
    auto like = [&](Type element) -> Type {
      return vector ? VectorType::get(vector.getShape(), element) : element;
    };
    auto constant = [&](Type element, TypedAttr value) -> Value {
      if (!vector)
        return arith::ConstantOp::create(b, loc, value);
      return arith::ConstantOp::create(
          b, loc,
          DenseElementsAttr::get(cast<ShapedType>(like(element)),
                                 Attribute(value)));
    };
    auto int32 = [&](int64_t v) {
      return constant(b.getI32Type(), b.getI32IntegerAttr(v));
    };
    Value zero = constant(b.getF32Type(), b.getF32FloatAttr(0.0));
    Value bits =
        arith::BitcastOp::create(b, loc, like(b.getI32Type()),
                                 arith::AddFOp::create(b, loc, score, zero));
    Value sign = arith::ShRSIOp::create(b, loc, bits, int32(31));
    Value flip = arith::OrIOp::create(b, loc, sign, int32(INT32_MIN));
    Value key = arith::XOrIOp::create(b, loc, bits, flip);
    return arith::MaxUIOp::create(b, loc, key, int32(1));
  }

  /// The candidate mask of a selection op over a problem of `shape`
  /// (queryLen, keyLen, queryHeads): whether it allows any pair of queries
  /// [i0, i1) and keys [j0, j1) of (b, h). A null mask allows everything.
  struct MaskProblem {
    Attribute mask;
    ValueRange operands;
    Value queryLen, keyLen, queryHeads;
  };
  /// The element emitter's view of pair (i, j) of (bb, h), queries
  /// [i0, i1) being the current tile.
  LoopValues pairValues(const MaskProblem &problem, Value bb, Value h, Value i,
                        Value j, Value i0, Value i1) {
    LoopValues values;
    values.batch = bb;
    values.head = h;
    values.query = i;
    values.key = j;
    values.queryBegin = i0;
    values.queryEnd = i1;
    values.queryLen = problem.queryLen;
    values.keyLen = problem.keyLen;
    values.queryHeads = problem.queryHeads;
    return values;
  }
  /// With `closedForm`, the mask's closed-form key ranges for queries
  /// [i0, i1) decide first: a key range outside the hull allows nothing, one
  /// inside a core interval allows every pair; only the rest (the partial
  /// blocks: the diagonal of a causal mask, data leaves) test every pair.
  /// Exact either way; meant for blocks of many pairs.
  Value allowsAny(const MaskProblem &problem, Value bb, Value h, Value i0,
                  Value i1, Value j0, Value j1, bool closedForm = true);
  /// The closed-form half of allowsAny: whether the mask may allow a pair
  /// of queries [i0, i1) and keys [j0, j1) (the key range meets the hull)
  /// and whether it allows every pair (inside a core interval; non-empty
  /// ranges only). Neither tests a pair.
  std::pair<Value, Value> classify(const MaskProblem &problem, Value bb,
                                   Value h, Value i0, Value i1, Value j0,
                                   Value j1);
  /// The end of the hull for queries [i0, i1): no key at or past it is
  /// allowed (the key length without a mask; it may exceed the key length).
  Value hullEnd(const MaskProblem &problem, Value bb, Value h, Value i0,
                Value i1);

  /// Radix select over `keys[0 .. n)` (0: not a candidate): writes the
  /// best min(k, candidates) positions in ascending order to
  /// `out[row..., 0 ..)`, pads with -1 up to k, and returns the count (i32).
  Value selectTop(Value keys, Value n, int64_t k, Value hist, Value out,
                  ValueRange outPrefix);

  /// The radix select's scan of one pass: from bin 255 down, the bin
  /// where the keys in higher bins plus its own reach `remaining` (i32),
  /// and the keys in higher bins (both i32).
  std::pair<Value, Value> thresholdBin(Value hist, Value remaining);

  /// Greedy mass budget over the `listed` (i32) positions of `list` (an
  /// ascending i32 list of candidates): takes the candidate of largest
  /// ordered key in `keyRow` (ties to the earlier entry) while the taken
  /// mass (`mass[j]`, f32) is below `goal`, or fewer than `minCount` (i32,
  /// optional) are taken. Taken candidates get key 0 in `keyRow`; they are
  /// moved to the front of `list` in ascending order and their count (i32)
  /// is returned.
  Value takeByMass(Value list, Value listed, Value keyRow, Value mass,
                   Value goal, Value minCount = nullptr);

private:
  RewriterBase &b;
  Location loc;
  RowThreads *threaded;
};

/// The rows of `attn.indexer_topk` (D1, and both stages of D2), shared by
/// the CPU loops and the GPU kernel: per (b, i), candidate positions
/// p in [0, positions) name keys (or key blocks) j, and each has an
/// ordered key (0 where the mask rules it out).
class IndexerRows {
public:
  /// `buffers`: the op's operands as buffers, in order.
  IndexerRows(SelectionBuilder &s, IndexerTopkOp op, ValueRange buffers,
              RewriterBase &b);

  Value batch, queryLen, keys;

  /// The candidate positions of row (bb, i): every key (key block), or
  /// the keys of its listed blocks (counts clamped to the list).
  Value positions(Value bb, Value i);
  /// The listed blocks of row (bb, i) (with block lists).
  Value listed(Value bb, Value i);
  /// Position p's key and whether it is one (listed blocks may reach past
  /// the keys).
  std::pair<Value, Value> keyAt(Value bb, Value i, Value p);
  /// Whether the mask allows key j of row (bb, i) (a key block: any of its
  /// keys).
  Value allowed(Value bb, Value i, Value j);
  /// The ordered key of key j of row (bb, i): the indexer score where the
  /// mask allows j, else 0.
  Value orderedKey(Value bb, Value i, Value j);
  /// The host's form of the scores: keys [j0, j0 + kLanes) of row (bb, i)
  /// at once from `kt`, the batch's keys transposed to f32 [Di][Sk] by
  /// transposeKeys. Each lane sums the same products in the same order as
  /// orderedKey(bb, i, j), so the keys are the same; the mask is not
  /// tested.
  Value orderedKeys(Value bb, Value i, Value j0, Value kt);
  void transposeKeys(Value bb, Value kt);
  /// Four AVX-512 vectors: each lane's sum is a chain of dependent adds
  /// (the order is fixed), four chains hide their latency (the DSA example,
  /// S = 2048, 2 threads: 16 lanes 113 ms, 64 lanes 35 ms, 128 lanes 32-38).
  static constexpr int64_t kLanes = 64;
  /// classify() for rows [i0, i1) of batch bb and keys (key blocks)
  /// [j0, j1): whether the mask may allow a pair, and whether it allows all.
  std::pair<Value, Value> classify(Value bb, Value i0, Value i1, Value j0,
                                   Value j1);
  /// The end of the keys (key blocks) the mask may allow for rows [i0, i1):
  /// the hull's end, at most the keys.
  Value keysEnd(Value bb, Value i0, Value i1);

  /// The operands (buffers): indexer queries [B, Sq, T, Di], keys
  /// [B, Sk, Di], weights [B, Sq, T]; the block lists (or null).
  Value qi, ki, w, blockCounts, blockIndices;
  Value heads, dimI;

private:
  SelectionBuilder &s;
  IndexerTopkOp op;
  RewriterBase &b;
  Location loc;
  SmallVector<Value> maskOps;
  /// The mask's problem: keys x key_block underlying keys.
  SelectionBuilder::MaskProblem maskProblem();
};

/// Output element `at` of `attn.pool` on input buffer `in` (shared by the
/// CPU loops and the GPU kernel).
Value poolElement(SelectionBuilder &s, PoolOp op, Value in, ArrayRef<Value> at,
                  RewriterBase &b);

/// The lowering of each op of attn-lower-selection (one overload per op):
/// the block-level selections in BlockSelectionToLoops.cpp, an attention's
/// `topk` results in AttentionTopkToLoops.cpp, the others in
/// SelectionToLoops.cpp.
LogicalResult lowerSelection(BlockTopkOp op, RewriterBase &b,
                             RowThreads *threaded);
LogicalResult lowerSelection(HipTopkOp op, RewriterBase &b,
                             RowThreads *threaded);
LogicalResult lowerSelection(ThresholdBlocksOp op, RewriterBase &b,
                             RowThreads *threaded);
LogicalResult lowerSelection(PyramidLevelsOp op, RewriterBase &b,
                             RowThreads *threaded);
LogicalResult lowerSelection(AttentionOp op, RewriterBase &b,
                             RowThreads *threaded);
/// attn.id_ranges (IdRanges.cpp).
LogicalResult lowerSelection(IdRangesOp op, RewriterBase &b,
                             RowThreads *threaded);
/// attn.mask_tiles (MaskTiles.cpp).
LogicalResult lowerSelection(MaskTilesOp op, RewriterBase &b,
                             RowThreads *threaded);

/// Lowers selection op `op` (one of attn-lower-selection's, an attention
/// only with `topk` results) in place: loops on the CPU, the GPU row form
/// with `threaded`.
LogicalResult lowerSelectionOp(Operation *op, RewriterBase &b,
                               RowThreads *threaded = nullptr);

/// With the kernel ABI: turns `func`, when its one op is a selection on its
/// arguments returning its results (a program's step), into a host kernel
/// (SelectionToHost.cpp). False where `func` is not such a step.
FailureOr<bool> lowerSelectionStepToHostKernel(func::FuncOp func,
                                               RewriterBase &b);

} // namespace mlir::attn

#endif // ATTN_LIB_CONVERSION_ATTNTOLOOPS_SELECTIONBUILDER_H

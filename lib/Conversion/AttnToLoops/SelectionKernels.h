//===- SelectionKernels.h - block-wide GPU selection kernels (private) ----===//
//
// What the block-wide selection kernels share (SelectionToGPU.cpp and
// ScoreTilesToGPU.cpp for the indexer and an attention's top-k,
// BlockRowsToGPU.cpp for the block-level selections D3, D5, D6): the
// kernel's creation from a spec function of one op, and the block-wide
// radix select over a row of ordered keys in the workspace.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTOLOOPS_SELECTIONKERNELS_H
#define ATTN_LIB_CONVERSION_ATTNTOLOOPS_SELECTIONKERNELS_H

#include "SelectionBuilder.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace mlir::attn {

/// Threads per block of the selection kernels, and their warps.
constexpr int64_t kSelectThreads = SelectionBuilder::kRowsPerBlock;
constexpr int64_t kSelectWarps = kSelectThreads / 32;
// A thread per histogram bin in the radix select's passes.
static_assert(kSelectThreads == 256, "a thread per bin of the select");

/// Checks that `func` is a spec function of `op` alone, and creates its
/// kernel of kSelectThreads threads: the inputs, the outputs, then the
/// workspace (bytes). `rows`: blocks' worth of work; `scratchBytes`:
/// workspace bytes per block.
FailureOr<gpu::GPUFuncOp> createSelectionKernel(Operation *op,
                                                func::FuncOp func,
                                                RewriterBase &b, int64_t rows,
                                                int64_t scratchBytes);

/// A workgroup buffer of `size` `element`s of `kernel`, 16-byte aligned
/// (LLVM combines loads of consecutive elements into 16-byte vector loads;
/// the default 4-byte alignment faulted).
Value addWorkgroupBuffer(gpu::GPUFuncOp kernel, Type element, int64_t size);

/// The block-wide select's workgroup buffers of `kernel` (BlockWide): the
/// histogram (i32 [256]), the state (i32 [stateSlots], slots 1 and 2 the
/// select's) and the per-warp counts (i32 [2 * kSelectWarps]).
struct SelectBuffers {
  Value hist, state, kept;
};
SelectBuffers addSelectBuffers(gpu::GPUFuncOp kernel, int64_t stateSlots = 3);

/// `n` (at least 1) rounded up to whole groups of the select's 16-byte loads:
/// the size of a key row (or of any region that follows one) in a block's
/// workspace.
int64_t wholeGroups(int64_t n);

/// The workspace of `kernel` (its last argument, bytes) as a 1-D memref of
/// `element`, `perBlock` of them per block of the grid (emitted at the
/// builder's insertion point in the kernel's body).
Value workspaceView(OpBuilder &b, Location loc, gpu::GPUFuncOp kernel,
                    Type element, int64_t perBlock);

/// Whether every operand and result of `op` has a static shape (else an
/// error: the kernels' grids and scratch are sized at compile time).
LogicalResult checkStaticShapes(Operation *op);

/// The block-wide pieces of a kernel of kSelectThreads threads: thread
/// helpers, and the radix select over a row of ordered 32-bit keys.
class BlockWide {
public:
  /// `hist`: i32 [256] and `kept`: i32 [2 * kSelectWarps] workgroup
  /// buffers; `state`: i32 workgroup buffer whose slots 1 and 2 the select
  /// uses (and the count slot it is given).
  BlockWide(SelectionBuilder &s, RewriterBase &b, Location loc, Value hist,
            Value state, Value kept);
  BlockWide(SelectionBuilder &s, RewriterBase &b, Location loc,
            const SelectBuffers &buffers)
      : BlockWide(s, b, loc, buffers.hist, buffers.state, buffers.kept) {}

  SelectionBuilder &s;
  RewriterBase &b;
  Location loc;
  Value hist, state, kept;
  Value tid, lane, warp;

  Value add(Value x, Value y);
  Value mul(Value x, Value y);
  Value mul(Value x, int64_t y);
  /// Signed minimum.
  Value min(Value x, Value y);
  Value cmp(arith::CmpIPredicate p, Value x, Value y);
  Value load(Value buffer, ValueRange at);
  void store(Value value, Value buffer, ValueRange at);
  void barrier();
  /// `then()` on thread 0 only.
  void onThread0(function_ref<void()> then);
  /// body(j) for j in [0, n), a thread every kSelectThreads.
  void eachThread(Value n, function_ref<void(Value)> body);

  /// A row of ordered 32-bit keys: buffer[base + j] (an i32 memref whose
  /// start is 16-byte aligned; base a multiple of kGroup, the row padded
  /// to a multiple of kGroup keys).
  struct KeyRow {
    Value buffer, base;
  };

  /// Radix select over the keys of `row` at j in [0, hi) (0: not a
  /// candidate), exactly as SelectionBuilder::selectTop: the best
  /// min(k, candidates) j in ascending order go to write(at, j) for
  /// at = 0, 1, ...; pad(t) is called for t in [count, width). Returns the
  /// count (i32). Uses state slots 1 and 2; every thread of the block must
  /// call it.
  Value selectTop(const KeyRow &row, Value hi, int64_t k, int64_t width,
                  function_ref<void(Value, Value)> write,
                  function_ref<void(Value)> pad);

  /// Whether a key is taken (first) or a tie (second; ties are taken in
  /// ascending position while fewer than `remaining` are).
  using KeyFlags = function_ref<std::pair<Value, Value>(Value key)>;
  using CompactWrite = function_ref<void(Value at, Value j, Value key)>;
  /// Ordered compaction of `row`'s keys at j in [0, hi): write(at, j, key)
  /// for at = 0, 1, ... over the taken keys and the first `remaining` (i32)
  /// ties, in ascending j: each warp takes a contiguous segment, counts
  /// what it takes, learns what the warps before it take, and writes its
  /// keys 32 x kGroup at a time with warp prefix sums. Every thread of the
  /// block must call it.
  void compact(const KeyRow &row, Value hi, KeyFlags flags, Value remaining,
               CompactWrite write);

  /// Keys per 16-byte load, and loads in flight per thread in the select's
  /// passes over a row.
  static constexpr int64_t kGroup = 4, kUnroll = 4;
  using KeyBody = function_ref<SmallVector<Value>(
      Value j0, ArrayRef<Value> keys, ValueRange acc)>;
  /// body(j0, keys j0 .. j0 + kGroup, acc) for groups j0 = c + offset,
  /// c from lb below ub by `step`, carrying `init`: kUnroll groups at a
  /// time (their loads before their bodies) while all their keys are
  /// below ub, then one at a time, positions at or past ub as key 0 (no
  /// candidate). `lb`, `offset` and `step` are multiples of kGroup,
  /// offset < step; the trip counts depend on lb and ub only.
  SmallVector<Value> forKeys(const KeyRow &row, Value lb, Value ub,
                             Value offset, int64_t step, ValueRange init,
                             KeyBody body);

  /// The sum of term(i) (f32) for i in [0, n) in ascending order, added by
  /// thread 0 (a fixed order: the CPU's), on every thread. Uses kept[0];
  /// every thread of the block must call it.
  Value serialSum(Value n, function_ref<Value(Value)> term);

  /// Takes entries of `sorted` (`slots` i64 entries of packDescending, in
  /// descending order, 0 after the last) greedily: thread 0 walks them while
  /// fewer than `minCount` (i32; null: no minimum) are taken or the taken
  /// entries' mass(index) (f32) sums below `goal`. The taken indices are
  /// then listed in ascending order — flagged in `flags` (slots [0, n),
  /// overwritten) and compacted: write(at, index) for at = 0, 1, ... Returns
  /// how many were taken (index), on every thread, which must all call it.
  Value takeSorted(Value sorted, int64_t slots, Value goal, Value minCount,
                   function_ref<Value(Value)> mass, const KeyRow &flags,
                   Value n, function_ref<void(Value, Value)> write);

  /// A barrier of the whole grid, its `generation`-th (i32, from 1): the
  /// block's threads wait for each other, then thread 0 adds the block's
  /// arrival to `counter` (i32 [1] in global memory, 0 at launch) and waits
  /// until every block of the grid has arrived that many times; memory
  /// barriers at GPU scope around it. Every block of the grid must be
  /// resident (attnrt's `grid_sync`) and call it.
  void gridBarrier(Value counter, Value generation);

  /// Sorts the `n` (a power of two) i64 entries of the workgroup buffer
  /// `buffer` in descending order: a bitonic sort, a compare-exchange step
  /// per barrier. Every thread of the block must call it.
  void sortDescending(Value buffer, int64_t n);

  /// Block-wide: the inclusive prefix sum of `x` (i32) over the threads in
  /// thread order, and with `withTotal` the block's total (else null; warp
  /// scans, the warps' totals in `kept`, one barrier).
  std::pair<Value, Value> blockScan(Value x, bool withTotal);

private:
  /// Inclusive warp prefix sum of an i32.
  Value warpScan(Value x);
  Value lastLane(Value x);
};

/// What the score-tile kernel (ScoreTilesToGPU.cpp) selects from: `sets`
/// independent sets (a batch of the indexer, a (batch, head) of an
/// attention's top-k) of `queryLen` query rows, each (row, key) pair scored
/// from `heads` dot products of `dim` 16-bit elements (`element`) — on
/// tensor cores, the rows' k best keys selected block-wide. The kernel calls
/// `bind` once its body exists, then the rest with index values.
class TileScoring {
public:
  virtual ~TileScoring() = default;
  int64_t sets = 0, queryLen = 0, keys = 0, heads = 0, dim = 0, k = 0;
  Type element;

  /// The kernel's input buffers (its first arguments, the spec function's
  /// arguments in order) and the builder of its body.
  virtual void bind(ValueRange inputs, SelectionBuilder &s) = 0;
  /// The batch and the head of `set`; the head also indexes the results
  /// (counts [B, *, Sq], indices [B, *, Sq, k]).
  virtual std::pair<Value, Value> setOf(Value set) = 0;
  /// 8 elements (a 16-byte load) of head t's query of row i from dim d, and
  /// of key j from dim d.
  virtual Value queryVector(Value bb, Value hh, Value i, int64_t t,
                            Value d) = 0;
  virtual Value keyVector(Value bb, Value hh, Value j, Value d) = 0;
  /// Called once per tile with the rows of its lanes (clamped into the
  /// queries): what the scores need per row (the indexer's weights).
  virtual void beginTile(Value bb, Value hh, ArrayRef<Value> rows) {}
  /// The ordered key of pair (lane row r = query i, key j) from its heads'
  /// dot products, 0 where `valid` is false or the pair is no candidate.
  virtual Value orderedKey(int r, ArrayRef<Value> dots, Value bb, Value hh,
                           Value i, Value j, Value valid) = 0;
  /// The mask: whether it may allow a pair of queries [i0, i1) and keys
  /// [j0, j1), and whether it allows all of them; whether it allows (i, j);
  /// the end of the keys it may allow for queries [i0, i1).
  virtual std::pair<Value, Value> classify(Value bb, Value hh, Value i0,
                                           Value i1, Value j0, Value j1) = 0;
  virtual Value allowed(Value bb, Value hh, Value i, Value j) = 0;
  virtual Value keysEnd(Value bb, Value hh, Value i0, Value i1) = 0;
};

/// A block-level selection on the GPU (BlockRowsToGPU.cpp): its rows are
/// (batch, query head, query block), and a row scores every candidate key
/// block of its KV head — the dot product of the row's query (its query
/// block pooled, or its last query) with the mean- or max-pooled key block —
/// into a row of the workspace, then finishes the row block-wide (a top-k,
/// a cumulative mass, levels). The kernel sets the context fields before
/// calling the hooks.
class BlockRows {
public:
  virtual ~BlockRows() = default;
  enum class Query { Mean, Max, Last };
  /// The row's query, and how key blocks are pooled (mean unless Max).
  Query query = Query::Mean;
  /// Whether the row's local (diagonal) key block is always scored.
  bool includeLocal = false;
  /// i64 slots of shared memory the rows need (BlockRows::sortBuffer).
  int64_t sortSlots = 0;

  /// The slot of key block `kb` (i32) from the dot product (f32), whether
  /// the block is a candidate and whether it is the local block (i1); and
  /// whether the slot counts for the row's end (the candidates' last + 1).
  virtual std::pair<Value, Value> slot(Value kb, Value dot, Value candidate,
                                       Value local) = 0;
  /// Finishes the row of (bb, h, qb) whose slots are `row` [0, end) (index):
  /// every thread of the block calls it.
  virtual void finish(const BlockWide::KeyRow &row, Value end, Value bb,
                      Value h, Value qb) = 0;

  // The context, set by the kernel.
  SelectionBuilder *s = nullptr;
  BlockWide *w = nullptr;
  /// The workspace as f32 and i32 (a row's slots alias), the kernel's
  /// outputs, and sortSlots i64 of shared memory (16-byte aligned).
  Value floats, ints, sortBuffer;
  SmallVector<Value> outputs;
  int64_t kBlocks = 0, kBlock = 0, keyLen = 0;
};

/// Replaces spec function `func` of block selection `op` (query and key
/// operands first, then the mask operands) by the block-rows kernel of
/// `rows`; the row form where the rows' queries do not fit in shared memory.
LogicalResult lowerBlockRowsToGPU(Operation *op, func::FuncOp func,
                                  RewriterBase &b, BlockRows &rows);

/// A 64-bit sort entry whose descending order is the descending order of
/// the ordered keys `key` (i32, never 0), ties to the smaller `index`:
/// key << 32 | (2^32 - 1 - index). 0 sorts after every entry.
Value packDescending(OpBuilder &b, Location loc, Value key, Value index);
/// The index of an entry of packDescending.
Value unpackDescending(OpBuilder &b, Location loc, Value entry);

/// A 16-byte vector load of `buffer` at `at` (8 16-bit elements), the
/// address known to be 16-byte aligned.
Value loadVector16(OpBuilder &b, Location loc, Value buffer, ValueRange at);

/// Replaces spec function `func` of `op` (an indexer or an attention's
/// top-k) by the score-tile kernel over `scoring` (ScoreTilesToGPU.cpp).
LogicalResult lowerScoreTilesToGPU(Operation *op, func::FuncOp func,
                                   RewriterBase &b, TileScoring &scoring);

} // namespace mlir::attn

#endif // ATTN_LIB_CONVERSION_ATTNTOLOOPS_SELECTIONKERNELS_H

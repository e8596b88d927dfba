//===- ValueTopkToGPU.cpp - G4's value-derived top-k as a GPU kernel ------===//
//
// `attn.value_topk` (G4): per (batch, KV head), every key's score
// v_j . w_g, and the k best of the keys the mask allows for some query. A
// block of 256 threads takes a (batch, head) row: the threads score the
// row's keys (a key each, 16-byte loads of its value row, the products
// summed in dim order as on the CPU: the same scores), write them to the
// scores result and their ordered keys (0 where the mask rules the key out)
// to the block's row of the workspace, and the block-wide radix select of
// SelectionKernels.cpp keeps the k best: the CPU's sets.
//
// Why: in the GPU row form the block scored every (head, key) pair, but a
// single thread then selected each head's keys (16 threads for 16 heads):
// 12.4 ms at S = 8K on the H100, the selects nearly all of it.
//
//===----------------------------------------------------------------------===//

#include "SelectionKernels.h"
#include "StreamingLowering.h"

using namespace mlir;
using namespace mlir::attn;

using arith::CmpIPredicate;

LogicalResult mlir::attn::lowerSelectionToGPU(ValueTopkOp op, func::FuncOp func,
                                              RewriterBase &b) {
  Location loc = op.getLoc();
  if (failed(checkStaticShapes(op)))
    return failure();
  auto valueType = cast<RankedTensorType>(op.getValue().getType());
  int64_t batch = valueType.getDimSize(0), heads = valueType.getDimSize(1);
  int64_t keys = valueType.getDimSize(2), dim = valueType.getDimSize(3);
  int64_t k = op.getK();
  int64_t slots = wholeGroups(keys);
  unsigned numInputs = func.getNumArguments();
  FailureOr<gpu::GPUFuncOp> created = createSelectionKernel(
      op, func, b, std::max<int64_t>(batch * heads, 1), 4 * slots);
  if (failed(created))
    return failure();
  gpu::GPUFuncOp kernel = *created;
  SelectBuffers select = addSelectBuffers(kernel);
  Block *body = &kernel.getBody().front();
  b.setInsertionPointToStart(body);
  Value workspace = workspaceView(b, loc, kernel, b.getI32Type(), slots);
  Value v = body->getArgument(0), weight = body->getArgument(1);
  SmallVector<Value> maskOps(body->getArguments().slice(2, numInputs - 2));
  Value counts = body->getArgument(numInputs);
  Value indices = body->getArgument(numInputs + 1);
  Value scores = body->getArgument(numInputs + 2);

  SelectionBuilder s(b, loc);
  BlockWide w(s, b, loc, select);
  Value zero = s.idx(0);
  Value block = gpu::BlockIdOp::create(b, loc, gpu::Dimension::x);
  Value grid = gpu::GridDimOp::create(b, loc, gpu::Dimension::x);
  Value base = w.mul(block, slots);
  Type element = valueType.getElementType();
  // 16-byte loads of a value row where its elements split into them.
  int64_t width = 128 / element.getIntOrFloatBitWidth();
  if (dim % width != 0)
    width = 1;
  SelectionBuilder::MaskProblem problem{op.getMaskAttr(), maskOps, s.idx(keys),
                                        s.idx(keys), s.idx(heads)};
  s.stridedLoop(
      block, s.idx(batch * heads), grid, {}, [&](Value row, ValueRange) {
        Value bb = arith::DivUIOp::create(b, loc, row, s.idx(heads));
        Value g = arith::RemUIOp::create(b, loc, row, s.idx(heads));
        w.eachThread(s.idx(keys), [&](Value j) {
          Value zeroF =
              arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0));
          Value dot = s.stridedLoop(
              zero, s.idx(dim), s.idx(width), {zeroF},
              [&](Value d0, ValueRange acc) {
                SmallVector<Value> xs;
                if (width == 1) {
                  xs.push_back(w.load(v, {bb, g, j, d0}));
                } else {
                  Value x = loadVector16(b, loc, v, {bb, g, j, d0});
                  for (int64_t e = 0; e < width; ++e)
                    xs.push_back(vector::ExtractOp::create(b, loc, x, e));
                }
                Value sum = acc[0];
                for (auto [e, x] : llvm::enumerate(xs)) {
                  Value y = s.toF32(w.load(
                      weight, {g, w.add(d0, s.idx(static_cast<int64_t>(e)))}));
                  sum = arith::AddFOp::create(
                      b, loc, sum,
                      arith::MulFOp::create(b, loc, s.toF32(x), y));
                }
                return SmallVector<Value>{sum};
              })[0];
          w.store(dot, scores, {bb, g, j});
          // A candidate when the mask allows it for some query.
          Value allowed = s.allowsAny(problem, bb, g, zero, s.idx(keys), j,
                                      w.add(j, s.idx(1)));
          w.store(arith::SelectOp::create(b, loc, allowed, s.orderedKey(dot),
                                          s.i32(0)),
                  workspace, {w.add(base, j)});
        });
        w.barrier();
        Value count = w.selectTop(
            {workspace, base}, s.idx(keys), k, k,
            [&](Value at, Value j) {
              w.store(arith::IndexCastOp::create(b, loc, b.getI32Type(), j),
                      indices, {bb, g, zero, at});
            },
            [&](Value t) { w.store(s.i32(-1), indices, {bb, g, zero, t}); });
        w.onThread0([&] { w.store(count, counts, {bb, g, zero}); });
        // The row is reused by the block's next row.
        w.barrier();
        return SmallVector<Value>{};
      });
  gpu::ReturnOp::create(b, loc);
  b.eraseOp(func);
  return success();
}

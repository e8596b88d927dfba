//===- LinearAttention.cpp - attn.linear_attention to loops ---------------===//
//
// Lowers linear / gated-linear attention (N6) to its recurrent form on
// buffers: per (batch, head) a D x Dv state S is decayed and updated with
// phi(k_i)^T v_i at every step, and O_i = phi(q_i) S (after the last step
// when not causal). Column e of S only feeds column e of O, so the work
// items are (batch, head, e), each with a D-element state: the CPU runs
// them in order, a GPU kernel gives one to each thread. The `chunk`
// attribute is a schedule for the chunked form; this recurrence computes
// the same values.
//
//===----------------------------------------------------------------------===//

#include "StreamingLowering.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::attn;

namespace {
/// Emits the recurrence for the work items (batch, head, e) `begin, begin +
/// step, ...` of `op` on buffers q, k, v, decay (or null) and out.
void emitLinearRecurrence(OpBuilder &b, Location loc, LinearAttentionOp op,
                          Value q, Value k, Value v, Value decay, Value out,
                          Value begin, Value step) {
  auto idx = [&](int64_t x) -> Value {
    return arith::ConstantIndexOp::create(b, loc, x);
  };
  auto f32 = [&](double x) -> Value {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(x));
  };
  auto toF32 = [&](Value x) -> Value {
    return x.getType().isF32()
               ? x
               : arith::ExtFOp::create(b, loc, b.getF32Type(), x).getResult();
  };
  auto dim = [&](Value m, unsigned d) -> Value {
    return memref::DimOp::create(b, loc, m, d);
  };
  Value batch = dim(q, 0), heads = dim(q, 1), length = dim(q, 2),
        headDim = dim(q, 3), valueDim = dim(v, 3);
  Value groupSize = arith::DivUIOp::create(b, loc, heads, dim(k, 1));
  Type outElement = cast<MemRefType>(out.getType()).getElementType();
  // One column of the state, reused by every item of this thread.
  Value state = memref::AllocaOp::create(
      b, loc, MemRefType::get({ShapedType::kDynamic}, b.getF32Type()),
      ValueRange{headDim});
  FeatureMap featureMap = op.getFeatureMap();
  auto phi = [&](Value x) -> Value {
    switch (featureMap) {
    case FeatureMap::identity:
      return x;
    case FeatureMap::relu:
      return arith::MaximumFOp::create(b, loc, x, f32(0.0));
    case FeatureMap::elu_plus_one: {
      Value positive = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT,
                                             x, f32(0.0));
      return arith::SelectOp::create(
          b, loc, positive, arith::AddFOp::create(b, loc, x, f32(1.0)),
          math::ExpOp::create(b, loc, x));
    }
    }
    llvm_unreachable("unknown feature map");
  };
  auto loop = [&](Value lo, Value hi, Value by = nullptr) {
    auto forOp = scf::ForOp::create(b, loc, lo, hi, by ? by : idx(1));
    b.setInsertionPointToStart(forOp.getBody());
    return forOp.getInductionVar();
  };
  OpBuilder::InsertionGuard guard(b);
  Value items = arith::MulIOp::create(
      b, loc, arith::MulIOp::create(b, loc, batch, heads), valueDim);
  Value w = loop(begin, items, step);
  Value e = arith::RemUIOp::create(b, loc, w, valueDim);
  Value bh = arith::DivUIOp::create(b, loc, w, valueDim);
  Value h = arith::RemUIOp::create(b, loc, bh, heads);
  Value bb = arith::DivUIOp::create(b, loc, bh, heads);
  Value g = arith::DivUIOp::create(b, loc, h, groupSize);
  // O[bb, h, i, e] = phi(q_i) . S[:, e].
  auto emitOutput = [&](Value i) {
    auto dot = scf::ForOp::create(b, loc, idx(0), headDim, idx(1),
                                  ValueRange{f32(0.0)});
    {
      OpBuilder::InsertionGuard inner(b);
      b.setInsertionPointToStart(dot.getBody());
      Value d = dot.getInductionVar();
      Value qd = phi(toF32(memref::LoadOp::create(b, loc, q,
                                                  ValueRange{bb, h, i, d})));
      Value sd = memref::LoadOp::create(b, loc, state, ValueRange{d});
      scf::YieldOp::create(
          b, loc,
          ValueRange{arith::AddFOp::create(b, loc, dot.getRegionIterArgs()[0],
                                           arith::MulFOp::create(b, loc, qd, sd))});
    }
    Value o = dot.getResult(0);
    if (o.getType() != outElement)
      o = arith::TruncFOp::create(b, loc, outElement, o);
    memref::StoreOp::create(b, loc, o, out, ValueRange{bb, h, i, e});
  };
  {
    OpBuilder::InsertionGuard clear(b);
    Value d = loop(idx(0), headDim);
    memref::StoreOp::create(b, loc, f32(0.0), state, ValueRange{d});
  }
  {
    OpBuilder::InsertionGuard steps(b);
    Value i = loop(idx(0), length);
    Value gamma = f32(1.0);
    if (decay)
      gamma = math::ExpOp::create(
          b, loc,
          toF32(memref::LoadOp::create(b, loc, decay, ValueRange{bb, h, i})));
    Value ve = toF32(memref::LoadOp::create(b, loc, v, ValueRange{bb, g, i, e}));
    {
      // S[:, e] = gamma S[:, e] + phi(k_i) v_i[e].
      OpBuilder::InsertionGuard update(b);
      Value d = loop(idx(0), headDim);
      Value kd = phi(toF32(memref::LoadOp::create(b, loc, k,
                                                  ValueRange{bb, g, i, d})));
      Value s = memref::LoadOp::create(b, loc, state, ValueRange{d});
      Value next = arith::AddFOp::create(
          b, loc, arith::MulFOp::create(b, loc, gamma, s),
          arith::MulFOp::create(b, loc, kd, ve));
      memref::StoreOp::create(b, loc, next, state, ValueRange{d});
    }
    if (op.getCausal())
      emitOutput(i);
  }
  if (!op.getCausal()) {
    OpBuilder::InsertionGuard final(b);
    emitOutput(loop(idx(0), length));
  }
}
} // namespace

LogicalResult mlir::attn::lowerLinearAttention(LinearAttentionOp op,
                                               RewriterBase &b) {
  Location loc = op.getLoc();
  b.setInsertionPoint(op);
  auto buffer = [&](Value value) -> Value {
    auto tensor = cast<RankedTensorType>(value.getType());
    return bufferization::ToBufferOp::create(
        b, loc, MemRefType::get(tensor.getShape(), tensor.getElementType()),
        value, /*read_only=*/true);
  };
  Value q = buffer(op.getQuery()), k = buffer(op.getKey()),
        v = buffer(op.getValue());
  Value decay = op.getDecay() ? buffer(op.getDecay()) : Value();
  auto outType = cast<RankedTensorType>(op.getOutput().getType());
  SmallVector<Value> outDynamic;
  for (int64_t d = 0; d < 4; ++d)
    if (outType.isDynamicDim(d))
      outDynamic.push_back(memref::DimOp::create(b, loc, d == 3 ? v : q, d));
  Value out = memref::AllocOp::create(
      b, loc, MemRefType::get(outType.getShape(), outType.getElementType()),
      outDynamic);
  emitLinearRecurrence(b, loc, op, q, k, v, decay, out,
                       arith::ConstantIndexOp::create(b, loc, 0),
                       arith::ConstantIndexOp::create(b, loc, 1));
  b.replaceOp(op, bufferization::ToTensorOp::create(
                      b, loc, outType, out, /*restrict=*/true,
                      /*writable=*/true)
                      .getResult());
  return success();
}

/// The spec function of `op` for the kernel ABI (one attn.linear_attention
/// on the function arguments, returning its result) and the kernel's buffer
/// types: the inputs, then the output.
static FailureOr<std::pair<func::FuncOp, SmallVector<Type>>>
kernelSignature(LinearAttentionOp op) {
  auto func = op->getParentOfType<func::FuncOp>();
  if (!func)
    return op.emitOpError("expected to be in a func.func (a spec function)");
  auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
  bool onlyArguments = llvm::all_of(op->getOperands(), [&](Value x) {
    return isa<BlockArgument>(x) &&
           cast<BlockArgument>(x).getOwner() == &func.getBody().front();
  });
  if (ret.getOperands() != op->getResults() || !onlyArguments ||
      func.getBody().front().getOperations().size() != 2)
    return func.emitError(
        "expected a spec function for the kernel ABI: one "
        "attn.linear_attention on the function arguments, returning its "
        "result");
  SmallVector<Type> types;
  for (Type t : func.getArgumentTypes()) {
    auto tensor = cast<RankedTensorType>(t);
    types.push_back(MemRefType::get(tensor.getShape(), tensor.getElementType()));
  }
  auto outType = cast<RankedTensorType>(op.getOutput().getType());
  types.push_back(MemRefType::get(outType.getShape(), outType.getElementType()));
  return std::make_pair(func, types);
}

/// Emits the recurrence of `op` into `body`, whose arguments are the kernel
/// buffers (inputs, then the output), split over `thread` of `threads`.
static void emitKernelBody(OpBuilder &b, LinearAttentionOp op, func::FuncOp func,
                           Block *body, Value thread, Value threads) {
  auto arg = [&](Value x) {
    return body->getArgument(cast<BlockArgument>(x).getArgNumber());
  };
  emitLinearRecurrence(b, op.getLoc(), op, arg(op.getQuery()),
                       arg(op.getKey()), arg(op.getValue()),
                       op.getDecay() ? arg(op.getDecay()) : Value(),
                       body->getArgument(func.getNumArguments()), thread,
                       threads);
}

LogicalResult mlir::attn::lowerLinearAttentionToKernel(LinearAttentionOp op,
                                                       RewriterBase &b) {
  auto signature = kernelSignature(op);
  if (failed(signature))
    return failure();
  auto [func, types] = *signature;
  HostKernel kernel = createHostKernel(b, func, types);
  emitKernelBody(b, op, func, kernel.body, kernel.thread, kernel.threads);
  func::ReturnOp::create(b, op.getLoc());
  b.eraseOp(func);
  return success();
}

LogicalResult mlir::attn::lowerLinearAttentionToGPU(LinearAttentionOp op,
                                                    RewriterBase &b,
                                                    int64_t blockSize) {
  auto signature = kernelSignature(op);
  if (failed(signature))
    return failure();
  auto [func, types] = *signature;
  gpu::GPUFuncOp kernel =
      createGPUKernelFunction(b, func, types, blockSize, /*queryTile=*/1,
                              /*itemsPerBlock=*/blockSize, /*sharedBytes=*/0,
                              "bhsd");
  Block *body = &kernel.getBody().front();
  b.setInsertionPointToStart(body);
  auto [thread, threads] = gpuGridThreads(b, op.getLoc());
  emitKernelBody(b, op, func, body, thread, threads);
  gpu::ReturnOp::create(b, op.getLoc());
  b.eraseOp(func);
  return success();
}

//===- LinearAttention.cpp - attn.linear_attention to loops ---------------===//
//
// Lowers linear / gated-linear attention (N6) to its recurrent form on
// buffers: per (batch, head) a D x Dv state S is decayed and updated with
// phi(k_i)^T v_i at every step, and O_i = phi(q_i) S (after the last step
// when not causal). The `chunk` attribute is a schedule for the chunked
// form; this scalar recurrence computes the same values.
//
//===----------------------------------------------------------------------===//

#include "StreamingLowering.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::attn;

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
  auto idx = [&](int64_t v) -> Value {
    return arith::ConstantIndexOp::create(b, loc, v);
  };
  auto f32 = [&](double v) -> Value {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
  };
  auto toF32 = [&](Value x) -> Value {
    return x.getType().isF32()
               ? x
               : arith::ExtFOp::create(b, loc, b.getF32Type(), x).getResult();
  };
  Value q = buffer(op.getQuery()), k = buffer(op.getKey()),
        v = buffer(op.getValue());
  Value decay = op.getDecay() ? buffer(op.getDecay()) : Value();
  auto dim = [&](Value m, unsigned d) -> Value {
    return memref::DimOp::create(b, loc, m, d);
  };
  Value batch = dim(q, 0), heads = dim(q, 1), length = dim(q, 2),
        headDim = dim(q, 3), valueDim = dim(v, 3);
  Value groupSize = arith::DivUIOp::create(b, loc, heads, dim(k, 1));
  auto outType = cast<RankedTensorType>(op.getOutput().getType());
  SmallVector<Value> outDynamic;
  for (int64_t d = 0; d < 4; ++d)
    if (outType.isDynamicDim(d))
      outDynamic.push_back(d == 3 ? valueDim : dim(q, d));
  Value out = memref::AllocOp::create(
      b, loc, MemRefType::get(outType.getShape(), outType.getElementType()),
      outDynamic);
  Value state = memref::AllocaOp::create(
      b, loc,
      MemRefType::get({ShapedType::kDynamic, ShapedType::kDynamic},
                      b.getF32Type()),
      ValueRange{headDim, valueDim});
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
  auto loop = [&](Value lo, Value hi) {
    auto forOp = scf::ForOp::create(b, loc, lo, hi, idx(1));
    b.setInsertionPointToStart(forOp.getBody());
    return forOp.getInductionVar();
  };
  // Emits O[bb, h, i, :] = phi(q_i) S.
  auto emitOutput = [&](Value bb, Value h, Value i) {
    OpBuilder::InsertionGuard guard(b);
    Value e = loop(idx(0), valueDim);
    auto dot = scf::ForOp::create(b, loc, idx(0), headDim, idx(1),
                                  ValueRange{f32(0.0)});
    {
      OpBuilder::InsertionGuard inner(b);
      b.setInsertionPointToStart(dot.getBody());
      Value d = dot.getInductionVar();
      Value qd = phi(toF32(memref::LoadOp::create(b, loc, q,
                                                  ValueRange{bb, h, i, d})));
      Value sd = memref::LoadOp::create(b, loc, state, ValueRange{d, e});
      scf::YieldOp::create(
          b, loc,
          ValueRange{arith::AddFOp::create(b, loc, dot.getRegionIterArgs()[0],
                                           arith::MulFOp::create(b, loc, qd, sd))});
    }
    Value o = dot.getResult(0);
    if (o.getType() != outType.getElementType())
      o = arith::TruncFOp::create(b, loc, outType.getElementType(), o);
    memref::StoreOp::create(b, loc, o, out, ValueRange{bb, h, i, e});
  };

  {
    OpBuilder::InsertionGuard guard(b);
    Value bb = loop(idx(0), batch);
    Value h = loop(idx(0), heads);
    Value g = arith::DivUIOp::create(b, loc, h, groupSize);
    {
      // S = 0.
      OpBuilder::InsertionGuard clear(b);
      Value d = loop(idx(0), headDim);
      Value e = loop(idx(0), valueDim);
      memref::StoreOp::create(b, loc, f32(0.0), state, ValueRange{d, e});
    }
    {
      OpBuilder::InsertionGuard steps(b);
      Value i = loop(idx(0), length);
      Value gamma = f32(1.0);
      if (decay)
        gamma = math::ExpOp::create(
            b, loc,
            toF32(memref::LoadOp::create(b, loc, decay, ValueRange{bb, h, i})));
      {
        // S = gamma S + phi(k_i)^T v_i.
        OpBuilder::InsertionGuard update(b);
        Value d = loop(idx(0), headDim);
        Value kd = phi(toF32(memref::LoadOp::create(b, loc, k,
                                                    ValueRange{bb, g, i, d})));
        Value e = loop(idx(0), valueDim);
        Value ve = toF32(memref::LoadOp::create(b, loc, v,
                                                ValueRange{bb, g, i, e}));
        Value s = memref::LoadOp::create(b, loc, state, ValueRange{d, e});
        Value next = arith::AddFOp::create(
            b, loc, arith::MulFOp::create(b, loc, gamma, s),
            arith::MulFOp::create(b, loc, kd, ve));
        memref::StoreOp::create(b, loc, next, state, ValueRange{d, e});
      }
      if (op.getCausal())
        emitOutput(bb, h, i);
    }
    if (!op.getCausal()) {
      OpBuilder::InsertionGuard final(b);
      Value i = loop(idx(0), length);
      emitOutput(bb, h, i);
    }
  }
  b.replaceOp(op, bufferization::ToTensorOp::create(
                      b, loc, outType, out, /*restrict=*/true,
                      /*writable=*/true)
                      .getResult());
  return success();
}

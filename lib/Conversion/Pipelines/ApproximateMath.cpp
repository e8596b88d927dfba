//===- ApproximateMath.cpp - polynomial exp and tanh ----------------------===//
//
// attn-approximate-math: the streaming kernels evaluate exp on whole
// vectors of scores per row and key tile; a libm call per lane would
// dominate them. exp gets a short Cody-Waite reduction and a degree-6
// polynomial (about 20 vector ops, relative error 2e-7, tested) that maps everything
// below the smallest normal result — -inf from masks included — to exactly
// 0, so that no denormal ever reaches the products. tanh uses MLIR's
// polynomial approximation.
//
//===----------------------------------------------------------------------===//

#include "attn/Conversion/Passes.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNAPPROXIMATEMATHPASS
#include "attn/Conversion/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;

namespace {
/// `scalar` as a constant of `type`'s shape: itself for scalars, a splat
/// for vectors.
Value constantLike(PatternRewriter &rewriter, Location loc, Type type,
                   TypedAttr scalar) {
  Attribute attr = scalar;
  if (auto vector = dyn_cast<VectorType>(type))
    attr = DenseElementsAttr::get(vector.clone(scalar.getType()), scalar);
  return arith::ConstantOp::create(rewriter, loc, cast<TypedAttr>(attr));
}

/// exp(x) = 2^n e^r, n = round(x / ln 2), r = x - n ln 2 in [-ln2/2, ln2/2].
struct ExpApproximation : OpRewritePattern<math::ExpOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(math::ExpOp op,
                                PatternRewriter &rewriter) const override {
    Type type = op.getType();
    if (!getElementTypeOrSelf(type).isF32())
      return rewriter.notifyMatchFailure(op, "expected f32 or a vector of f32");
    Location loc = op.getLoc();
    auto vector = dyn_cast<VectorType>(type);
    Type intType = rewriter.getI32Type();
    if (vector)
      intType = vector.clone(intType);
    auto f = [&](double value) {
      return constantLike(rewriter, loc, type, rewriter.getF32FloatAttr(value));
    };
    auto i = [&](int32_t value) {
      return constantLike(rewriter, loc, type, rewriter.getI32IntegerAttr(value));
    };
    auto fma = [&](Value a, Value b, Value c) -> Value {
      return math::FmaOp::create(rewriter, loc, a, b, c);
    };
    // Above 88.72 the result is +inf in f32 anyway.
    Value x = arith::MinimumFOp::create(rewriter, loc, op.getOperand(),
                                        f(88.7228394));
    Value n = math::RoundEvenOp::create(
        rewriter, loc, arith::MulFOp::create(rewriter, loc, x, f(1.44269504088896341)));
    // Cody-Waite: ln 2 split so that n * hi is exact for |n| <= 128.
    Value r = fma(n, f(-0.693359375), x);
    r = fma(n, f(2.12194440e-4), r);
    Value p = f(1.0 / 720);
    for (double c : {1.0 / 120, 1.0 / 24, 1.0 / 6, 0.5, 1.0, 1.0})
      p = fma(p, r, f(c));
    // 2^n = 2^h 2^(n - h), h = n >> 1, both factors normal for n in
    // [-126, 128] (n = 128 still has finite results below 88.72).
    Value whole = arith::FPToSIOp::create(rewriter, loc, intType, n);
    Value half = arith::ShRSIOp::create(rewriter, loc, whole, i(1));
    auto power = [&](Value k) -> Value {
      return arith::BitcastOp::create(
          rewriter, loc, type,
          arith::ShLIOp::create(rewriter, loc,
                                arith::AddIOp::create(rewriter, loc, k, i(127)),
                                i(23)));
    };
    Value scaled = arith::MulFOp::create(
        rewriter, loc,
        arith::MulFOp::create(rewriter, loc, p, power(half)),
        power(arith::SubIOp::create(rewriter, loc, whole, half)));
    // Below the smallest normal result: exactly 0 (also for -inf).
    Value tiny = arith::CmpFOp::create(rewriter, loc, arith::CmpFPredicate::OLT,
                                       x, f(-87.3365479));
    rewriter.replaceOpWithNewOp<arith::SelectOp>(op, tiny, f(0.0), scaled);
    return success();
  }
};

/// Replaces the f32 scalar or 1-D vector op `op` by `fn` applied to its
/// operand, element by element for vectors; fails on other types.
static LogicalResult
replaceElementwise(Operation *op, PatternRewriter &rewriter,
                   llvm::function_ref<Value(Value)> fn) {
  Type type = op->getResult(0).getType();
  auto vector = dyn_cast<VectorType>(type);
  if (!getElementTypeOrSelf(type).isF32() ||
      (vector && (vector.getRank() != 1 || vector.isScalable())))
    return rewriter.notifyMatchFailure(op, "expected f32 or a 1-D vector");
  Location loc = op->getLoc();
  Value operand = op->getOperand(0);
  if (!vector) {
    rewriter.replaceOp(op, fn(operand));
    return success();
  }
  Value result =
      arith::ConstantOp::create(rewriter, loc, rewriter.getZeroAttr(vector));
  for (int64_t i = 0; i < vector.getNumElements(); ++i) {
    Value x = vector::ExtractOp::create(rewriter, loc, operand,
                                        ArrayRef<int64_t>{i});
    result = vector::InsertOp::create(rewriter, loc, fn(x), result,
                                      ArrayRef<int64_t>{i});
  }
  rewriter.replaceOp(op, result);
  return success();
}

/// f32 `Op` (scalar or 1-D vector, per element) as `outScale *
/// intrinsic(inScale * x)`: the approximate special-function unit of
/// NVIDIA GPUs, instead of a libdevice call the kernel would have to link.
template <typename Op>
struct NVVMApproximation : OpRewritePattern<Op> {
  NVVMApproximation(MLIRContext *context, StringRef intrinsic, double inScale,
                    double outScale)
      : OpRewritePattern<Op>(context, /*benefit=*/3), intrinsic(intrinsic),
        inScale(inScale), outScale(outScale) {}

  LogicalResult matchAndRewrite(Op op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Type f32 = rewriter.getF32Type();
    auto scaled = [&](Value x, double factor) -> Value {
      if (factor == 1.0)
        return x;
      return arith::MulFOp::create(
          rewriter, loc, x,
          arith::ConstantOp::create(rewriter, loc,
                                    rewriter.getF32FloatAttr(factor)));
    };
    return replaceElementwise(op, rewriter, [&](Value x) {
      Value y = LLVM::CallIntrinsicOp::create(
                    rewriter, loc, f32, rewriter.getStringAttr(intrinsic),
                    ValueRange{scaled(x, inScale)})
                    .getResult(0);
      return scaled(y, outScale);
    });
  }

  std::string intrinsic;
  double inScale, outScale;
};

/// f32 |x| by clearing the sign bit, and roundeven(x) by adding and
/// subtracting 1.5 * 2^23 (exact for |x| < 2^22, and infinities stay): the
/// GPU conversion would turn both into libdevice calls.
struct AbsFBits : OpRewritePattern<math::AbsFOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(math::AbsFOp op,
                                PatternRewriter &rewriter) const override {
    Type type = op.getType();
    if (!getElementTypeOrSelf(type).isF32())
      return failure();
    Type intType = rewriter.getI32Type();
    if (auto vector = dyn_cast<VectorType>(type))
      intType = vector.clone(intType);
    Location loc = op.getLoc();
    Value bits = arith::BitcastOp::create(rewriter, loc, intType, op.getOperand());
    Value cleared = arith::AndIOp::create(
        rewriter, loc, bits,
        constantLike(rewriter, loc, type, rewriter.getI32IntegerAttr(0x7fffffff)));
    rewriter.replaceOpWithNewOp<arith::BitcastOp>(op, type, cleared);
    return success();
  }
};

struct RoundEvenMagic : OpRewritePattern<math::RoundEvenOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(math::RoundEvenOp op,
                                PatternRewriter &rewriter) const override {
    Type type = op.getType();
    if (!getElementTypeOrSelf(type).isF32())
      return failure();
    Location loc = op.getLoc();
    Value c = constantLike(rewriter, loc, type,
                           rewriter.getF32FloatAttr(12582912.0)); // 1.5 * 2^23
    Value sum = arith::AddFOp::create(rewriter, loc, op.getOperand(), c);
    rewriter.replaceOpWithNewOp<arith::SubFOp>(op, sum, c);
    return success();
  }
};

/// f32 tanh(x) = sign(x) (1 - 2 / (2^(2 |x| log2 e) + 1)) on the GPU's
/// approximate ex2 and division: about 10 instructions instead of a
/// rational polynomial; the absolute error stays near 1e-7 (the
/// subtraction from 1 cancels for small |x|), which is what a softcap's
/// scores need.
struct TanhNVVM : OpRewritePattern<math::TanhOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(math::TanhOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Type f32 = rewriter.getF32Type(), i32 = rewriter.getI32Type();
    auto f = [&](double v) -> Value {
      return arith::ConstantOp::create(rewriter, loc, rewriter.getF32FloatAttr(v));
    };
    auto i = [&](int64_t v) -> Value {
      return arith::ConstantOp::create(rewriter, loc,
                                       rewriter.getI32IntegerAttr(v));
    };
    auto call = [&](StringRef name, ValueRange args) -> Value {
      return LLVM::CallIntrinsicOp::create(rewriter, loc, f32,
                                           rewriter.getStringAttr(name), args)
          .getResult(0);
    };
    auto tanh = [&](Value x) -> Value {
      Value bits = arith::BitcastOp::create(rewriter, loc, i32, x);
      Value magnitude = arith::BitcastOp::create(
          rewriter, loc, f32, arith::AndIOp::create(rewriter, loc, bits, i(0x7fffffff)));
      Value e = call("llvm.nvvm.ex2.approx.f32",
                     {arith::MulFOp::create(rewriter, loc, magnitude,
                                            f(2.0 * 1.4426950408889634))});
      Value t = arith::SubFOp::create(
          rewriter, loc, f(1.0),
          call("llvm.nvvm.div.approx.f",
               {f(2.0), arith::AddFOp::create(rewriter, loc, e, f(1.0))}));
      Value sign = arith::AndIOp::create(rewriter, loc, bits,
                                         i(static_cast<int32_t>(0x80000000u)));
      return arith::BitcastOp::create(
          rewriter, loc, f32,
          arith::OrIOp::create(
              rewriter, loc, arith::BitcastOp::create(rewriter, loc, i32, t), sign));
    };
    return replaceElementwise(op, rewriter, tanh);
  }
};

struct AttnApproximateMathPass
    : attn::impl::AttnApproximateMathPassBase<AttnApproximateMathPass> {
  using Base::Base;

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<ExpApproximation>(&getContext(), /*benefit=*/2);
    if (nvvm) {
      MLIRContext *context = &getContext();
      const double ln2 = 0.69314718055994531;
      // Flushing subnormal results (below 2^-126) to zero: the non-ftz
      // form costs a compare and two predicated multiplies around every
      // MUFU.EX2 (seen in the SASS), a third of a softmax element's work;
      // a probability below 2^-126 of the row maximum's is zero to every
      // sum it enters.
      patterns.add<NVVMApproximation<math::Exp2Op>>(
          context, "llvm.nvvm.ex2.approx.ftz.f32", 1.0, 1.0);
      patterns.add<NVVMApproximation<math::Log2Op>>(
          context, "llvm.nvvm.lg2.approx.f", 1.0, 1.0);
      patterns.add<NVVMApproximation<math::LogOp>>(
          context, "llvm.nvvm.lg2.approx.f", 1.0, ln2);
      patterns.add<NVVMApproximation<math::RsqrtOp>>(
          context, "llvm.nvvm.rsqrt.approx.f", 1.0, 1.0);
      patterns.add<AbsFBits, RoundEvenMagic>(context);
      patterns.add<TanhNVVM>(context, /*benefit=*/3);
    }
    auto selected = [](StringRef name) {
      return name == math::TanhOp::getOperationName();
    };
    populateMathPolynomialApproximationPatterns(patterns, selected);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};
} // namespace

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
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNAPPROXIMATEMATHPASS
#include "attn/Conversion/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;

namespace {
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
    auto f = [&](double value) -> Value {
      Attribute attr = rewriter.getF32FloatAttr(value);
      if (vector)
        attr = DenseElementsAttr::get(vector, attr);
      return arith::ConstantOp::create(rewriter, loc, cast<TypedAttr>(attr));
    };
    auto i = [&](int32_t value) -> Value {
      Attribute attr = rewriter.getI32IntegerAttr(value);
      if (vector)
        attr = DenseElementsAttr::get(cast<VectorType>(intType), attr);
      return arith::ConstantOp::create(rewriter, loc, cast<TypedAttr>(attr));
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

struct AttnApproximateMathPass
    : attn::impl::AttnApproximateMathPassBase<AttnApproximateMathPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<ExpApproximation>(&getContext(), /*benefit=*/2);
    auto selected = [](StringRef name) {
      return name == math::TanhOp::getOperationName();
    };
    populateMathPolynomialApproximationPatterns(patterns, selected);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};
} // namespace

//===- Transforms.h - reusable attn rewrites -------------------*- C++ -*-===//
//
// Pattern sets behind the attn passes, exposed so that other compilers can
// add them to their own rewrites.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_TRANSFORMS_TRANSFORMS_H
#define ATTN_DIALECT_ATTN_TRANSFORMS_TRANSFORMS_H

namespace mlir {
class RewritePatternSet;
namespace attn {

/// Adds the patterns that bring attn masks and structured parameters into
/// normal form (see `attn-normalize-masks`). They are also the
/// canonicalization patterns of the attn ops that carry masks.
void populateMaskNormalizationPatterns(RewritePatternSet &patterns);

} // namespace attn
} // namespace mlir

#endif // ATTN_DIALECT_ATTN_TRANSFORMS_TRANSFORMS_H

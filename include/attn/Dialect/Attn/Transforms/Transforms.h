//===- Transforms.h - reusable attn rewrites -------------------*- C++ -*-===//
//
// Pattern sets behind the attn passes, exposed so that other compilers can
// add them to their own rewrites.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_TRANSFORMS_TRANSFORMS_H
#define ATTN_DIALECT_ATTN_TRANSFORMS_TRANSFORMS_H

#include "attn/Dialect/Attn/IR/AttnAttrs.h"
#include "attn/Dialect/Attn/IR/AttnOperandSlots.h"

#include <optional>

namespace mlir {
class RewritePatternSet;
namespace attn {

/// True for a static value below 2^40 in magnitude: sums and differences
/// of a few of them cannot overflow, so rewrites may do arithmetic on them.
bool isSmallStatic(int64_t value);

/// The diagonal `d` of a causal / window / dilated leaf (`offset`, plus
/// `Sk - Sq` when bottom-right aligned) when it is static and small enough
/// (below 2^40 in magnitude) that sums of a few such values cannot
/// overflow; nullopt otherwise.
std::optional<int64_t> staticDiagonal(Align align, int64_t offset,
                                      const Extents &e);

/// Adds the patterns that bring attn masks and structured parameters into
/// normal form (see `attn-normalize-masks`). They are also the
/// canonicalization patterns of the attn ops that carry masks.
void populateMaskNormalizationPatterns(RewritePatternSet &patterns);

} // namespace attn
} // namespace mlir

#endif // ATTN_DIALECT_ATTN_TRANSFORMS_TRANSFORMS_H

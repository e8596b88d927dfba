//===- GroupResidues.cpp - attn-group-residues pass -----------------------===//
//
// A dilated mask allows only pairs whose positions are congruent modulo the
// dilation D, so in token order at most one key in D is allowed: every tile
// the window touches is partial and three quarters of its work (D = 4) is
// thrown away. Grouped by residue, the same pattern is D dense bands: group
// r holds tokens r, r + D, r + 2D, ..., and inside a group the window is a
// window of width left / D. The pass writes that as `residue_groups = D`
// and the group-local mask; the lowering reads each group's tokens with a
// stride of D rows (a strided view, no copy), so the permutation costs no
// memory traffic and is undone by the output's strided view.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"
#include "attn/Dialect/Attn/Transforms/Transforms.h"
#include "llvm/Support/MathExtras.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNGROUPRESIDUESPASS
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

/// The leaf `leaf` of the top-level `and` in group coordinates for groups
/// of `groups` tokens apart, or null when it has no exact group form.
/// Positions i = r + D a, j = r + D c: `j <= i + d` is `c <= a + floor(d /
/// D)`, and `i + d - L <= j` is `c >= a + ceil((d - L) / D)`.
Attribute groupLeaf(Attribute leaf, int64_t groups, const Extents &e) {
  MLIRContext *ctx = leaf.getContext();
  auto floorDiv = [&](int64_t x) { return llvm::divideFloorSigned(x, groups); };
  if (isa<FullAttr, HeadsAttr>(leaf))
    return leaf;
  if (auto causal = dyn_cast<CausalAttr>(leaf)) {
    std::optional<int64_t> d =
        staticDiagonal(causal.getAlign(), causal.getOffset(), e);
    if (!d)
      return {};
    return CausalAttr::get(ctx, Align::top_left, floorDiv(*d));
  }
  if (auto window = dyn_cast<WindowAttr>(leaf)) {
    std::optional<int64_t> d =
        staticDiagonal(window.getAlign(), window.getOffset(), e);
    int64_t left = window.getLeft(), right = window.getRight();
    if (!d || !isSmallStatic(left) || !isSmallStatic(right))
      return {};
    int64_t offset = floorDiv(*d);
    int64_t groupLeft = offset + floorDiv(left - *d);
    int64_t groupRight = floorDiv(*d + right) - offset;
    // A window that holds no key of the query's own group: left as it is
    // (it is empty, which the tile classification already sees).
    if (groupLeft < 0 || groupRight < 0)
      return {};
    return WindowAttr::get(ctx, groupLeft, groupRight, Align::top_left,
                           offset);
  }
  return {};
}

/// The group form of `op`'s mask: (D, the group-local mask, null for
/// full), or nullopt when the op does not qualify: what the verifier
/// requires of `residue_groups`, no mask operands, nothing else reading
/// positions (the score modifiers would see group positions).
std::optional<std::pair<int64_t, Attribute>> groupForm(AttentionOp op) {
  if (op.getResidueGroups() || !op.getResidueGroupsObstacle().empty() ||
      !op.getMaskOperands().empty() || op.hasPositionalModifiers())
    return std::nullopt;
  Attribute mask = op.getMaskAttr();
  if (!mask)
    return std::nullopt;
  ArrayRef<Attribute> leaves = mask;
  if (auto conj = dyn_cast<AndAttr>(mask))
    leaves = conj.getMasks();
  Extents e = op.getExtents();
  // Exactly one dilated leaf whose residue condition pairs group r with
  // group r (its diagonal a multiple of D).
  DilatedAttr dilated;
  for (Attribute leaf : leaves)
    if (auto x = dyn_cast<DilatedAttr>(leaf)) {
      if (dilated)
        return std::nullopt;
      dilated = x;
    }
  if (!dilated || !isSmallStatic(dilated.getDilation()) ||
      dilated.getDilation() < 2)
    return std::nullopt;
  int64_t groups = dilated.getDilation();
  std::optional<int64_t> d =
      staticDiagonal(dilated.getAlign(), dilated.getOffset(), e);
  if (!d || *d % groups != 0)
    return std::nullopt;
  SmallVector<Attribute> rest;
  for (Attribute leaf : leaves) {
    if (leaf == dilated)
      continue;
    Attribute grouped = groupLeaf(leaf, groups, e);
    if (!grouped)
      return std::nullopt;
    if (!isa<FullAttr>(grouped))
      rest.push_back(grouped);
  }
  Attribute groupMask = rest.empty()       ? Attribute()
                        : rest.size() == 1 ? rest.front()
                                           : AndAttr::get(op.getContext(), rest);
  return std::make_pair(groups, groupMask);
}

struct AttnGroupResiduesPass
    : mlir::attn::impl::AttnGroupResiduesPassBase<AttnGroupResiduesPass> {
  void runOnOperation() override {
    getOperation()->walk([](AttentionOp op) {
      std::optional<std::pair<int64_t, Attribute>> form = groupForm(op);
      if (!form)
        return;
      Builder b(op.getContext());
      op.setResidueGroupsAttr(b.getI64IntegerAttr(form->first));
      if (form->second)
        op.setMaskAttr(form->second);
      else
        op.removeMaskAttr();
    });
  }
};

} // namespace

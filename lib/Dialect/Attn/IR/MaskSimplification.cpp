//===- MaskSimplification.cpp - normal form of masks and parameters -------===//
//
// Canonicalization of the attn mask algebra and of structured parameters.
// A mask attribute and its operand group are unpacked into a tree whose
// leaves own their operands, simplified bottom-up, and packed again, so that
// rules such as `and<m, m> = m` compare operands as well as attributes.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/Transforms/Transforms.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::attn;

namespace {

/// A mask expression whose leaves carry their runtime operands.
struct MaskNode {
  enum class Kind { Leaf, And, Or, Not };
  Kind kind = Kind::Leaf;
  Attribute leaf;
  SmallVector<Value> operands;
  std::vector<MaskNode> children;

  static MaskNode makeLeaf(Attribute attr, ArrayRef<Value> operands = {}) {
    MaskNode node;
    node.leaf = attr;
    node.operands.assign(operands.begin(), operands.end());
    return node;
  }
  bool isLeaf() const { return kind == Kind::Leaf; }
  template <typename AttrT>
  AttrT leafAs() const {
    return isLeaf() ? dyn_cast<AttrT>(leaf) : AttrT();
  }
  bool operator==(const MaskNode &other) const {
    return kind == other.kind && leaf == other.leaf &&
           operands == other.operands && children == other.children;
  }
};

/// Unpacks `attr`, consuming its operands from the front of `operands`.
MaskNode unpack(Attribute attr, ArrayRef<Value> &operands) {
  auto unpackAll = [&](ArrayRef<Attribute> masks, MaskNode::Kind kind) {
    MaskNode node;
    node.kind = kind;
    for (Attribute mask : masks)
      node.children.push_back(unpack(mask, operands));
    return node;
  };
  if (auto conj = dyn_cast<AndAttr>(attr))
    return unpackAll(conj.getMasks(), MaskNode::Kind::And);
  if (auto disj = dyn_cast<OrAttr>(attr))
    return unpackAll(disj.getMasks(), MaskNode::Kind::Or);
  if (auto neg = dyn_cast<NotAttr>(attr))
    return unpackAll(neg.getMask(), MaskNode::Kind::Not);
  size_t n = getSlots(attr).size();
  MaskNode node = MaskNode::makeLeaf(attr, operands.take_front(n));
  operands = operands.drop_front(n);
  return node;
}

/// Packs a tree back into an attribute, appending leaf operands.
Attribute pack(const MaskNode &node, SmallVectorImpl<Value> &operands) {
  if (node.isLeaf()) {
    operands.append(node.operands);
    return node.leaf;
  }
  SmallVector<Attribute> children;
  for (const MaskNode &child : node.children)
    children.push_back(pack(child, operands));
  MLIRContext *ctx = children.front().getContext();
  switch (node.kind) {
  case MaskNode::Kind::And:
    return AndAttr::get(ctx, children);
  case MaskNode::Kind::Or:
    return OrAttr::get(ctx, children);
  case MaskNode::Kind::Not:
    return NotAttr::get(ctx, children.front());
  case MaskNode::Kind::Leaf:
    break;
  }
  llvm_unreachable("leaf handled above");
}

} // namespace

/// Folds constant scalar operands of `attr` into it, one slot at a time, and
/// drops the operands that were folded. Returns the (possibly new) attribute.
static Attribute foldConstantOperands(Attribute attr,
                                      SmallVectorImpl<Value> &operands) {
  auto iface = dyn_cast<OperandSlotsAttrInterface>(attr);
  if (!iface)
    return attr;
  for (size_t i = 0; i < operands.size();) {
    Attribute constant;
    if (!matchPattern(operands[i], m_Constant(&constant)) ||
        !isa<IntegerAttr, FloatAttr>(constant)) {
      ++i;
      continue;
    }
    SmallVector<Attribute> constants(operands.size());
    constants[i] = constant;
    Attribute folded = iface.foldConstantSlots(constants);
    if (!folded || getSlots(folded).size() + 1 != operands.size()) {
      ++i;
      continue;
    }
    operands.erase(operands.begin() + i);
    attr = folded;
    iface = cast<OperandSlotsAttrInterface>(attr);
  }
  return attr;
}

static bool isStatic(int64_t value) { return !ShapedType::isDynamic(value); }

// Larger values are left alone rather than risk a wrong rewrite.
bool mlir::attn::isSmallStatic(int64_t value) {
  constexpr int64_t kLimit = int64_t(1) << 40;
  return !ShapedType::isDynamic(value) && value > -kLimit && value < kLimit;
}

std::optional<int64_t> mlir::attn::staticDiagonal(Align align,
                                                  int64_t offset,
                                                  const Extents &e) {
  if (!isSmallStatic(offset))
    return std::nullopt;
  if (align == Align::top_left)
    return offset;
  if (!isSmallStatic(e.queryLen) || !isSmallStatic(e.keyLen))
    return std::nullopt;
  return offset + e.keyLen - e.queryLen;
}


/// Rewrites a leaf whose predicate is constant over the problem into full
/// or empty, and a window whose lower edge is never reached into a causal
/// mask.
static MaskNode simplifyLeaf(MaskNode node, const Extents &e,
                             MLIRContext *ctx) {
  node.leaf = foldConstantOperands(node.leaf, node.operands);
  MaskNode full = MaskNode::makeLeaf(FullAttr::get(ctx));
  MaskNode empty = MaskNode::makeLeaf(EmptyAttr::get(ctx));
  bool lengths = isSmallStatic(e.queryLen) && isSmallStatic(e.keyLen);

  if (auto causal = node.leafAs<CausalAttr>()) {
    std::optional<int64_t> d =
        staticDiagonal(causal.getAlign(), causal.getOffset(), e);
    if (d && lengths && *d >= e.keyLen - 1)
      return full;
    if (d && lengths && e.queryLen - 1 + *d < 0)
      return empty;
  }
  if (auto window = node.leafAs<WindowAttr>()) {
    std::optional<int64_t> d =
        staticDiagonal(window.getAlign(), window.getOffset(), e);
    int64_t left = window.getLeft(), right = window.getRight();
    if (d && lengths && isStatic(left) && left >= e.queryLen - 1 + *d) {
      if (isStatic(right) && right >= e.keyLen - 1 - *d)
        return full;
      if (isSmallStatic(right))
        return MaskNode::makeLeaf(CausalAttr::get(
            ctx, window.getAlign(), window.getOffset() + right));
    }
  }
  if (auto prefix = node.leafAs<KeyPrefixAttr>()) {
    if (prefix.getLen() == 0)
      return empty;
    if (isStatic(prefix.getLen()) && isSmallStatic(e.keyLen) &&
        prefix.getLen() >= e.keyLen)
      return full;
  }
  if (auto prefix = node.leafAs<QueryPrefixAttr>()) {
    if (prefix.getLen() == 0)
      return empty;
    if (isStatic(prefix.getLen()) && isSmallStatic(e.queryLen) &&
        prefix.getLen() >= e.queryLen)
      return full;
  }
  if (auto dilated = node.leafAs<DilatedAttr>(); dilated &&
                                                 dilated.getDilation() == 1)
    return full;
  if (auto heads = node.leafAs<HeadsAttr>();
      heads && isSmallStatic(e.queryHeads)) {
    if (heads.getBegin() == 0 && heads.getEnd() >= e.queryHeads)
      return full;
    if (heads.getBegin() >= e.queryHeads)
      return empty;
  }
  return node;
}

/// Intersects two diagonal-banded leaves on the same alignment when the
/// result is one leaf: causal/causal, window/window, causal/window.
static std::optional<MaskNode> intersectBands(const MaskNode &a,
                                              const MaskNode &b) {
  auto ca = a.leafAs<CausalAttr>(), cb = b.leafAs<CausalAttr>();
  auto wa = a.leafAs<WindowAttr>(), wb = b.leafAs<WindowAttr>();
  if (ca && cb && ca.getAlign() == cb.getAlign() &&
      isSmallStatic(ca.getOffset()) && isSmallStatic(cb.getOffset()))
    return MaskNode::makeLeaf(ca.getOffset() <= cb.getOffset() ? ca : cb);
  if (!wa && wb)
    return intersectBands(b, a);
  if (!wa || !isSmallStatic(wa.getRight()) || !isSmallStatic(wa.getOffset()))
    return std::nullopt;
  MLIRContext *ctx = wa.getContext();
  if (cb && cb.getAlign() == wa.getAlign() && isSmallStatic(cb.getOffset())) {
    // Upper edges: j <= i + c (causal) and j <= i + w + right (window).
    int64_t gap = cb.getOffset() - wa.getOffset();
    if (gap < 0)
      return std::nullopt;
    // Only `left` may be dynamic: the window keeps its operand.
    return MaskNode::makeLeaf(WindowAttr::get(ctx, wa.getLeft(),
                                              std::min(wa.getRight(), gap),
                                              wa.getAlign(), wa.getOffset()),
                              a.operands);
  }
  if (wb && wb.getAlign() == wa.getAlign() &&
      wb.getOffset() == wa.getOffset() && isSmallStatic(wa.getLeft()) &&
      isSmallStatic(wb.getLeft()) && isSmallStatic(wb.getRight()))
    return MaskNode::makeLeaf(WindowAttr::get(
        ctx, std::min(wa.getLeft(), wb.getLeft()),
        std::min(wa.getRight(), wb.getRight()), wa.getAlign(),
        wa.getOffset()));
  return std::nullopt;
}

static MaskNode simplify(MaskNode node, const Extents &e, MLIRContext *ctx);

/// and/or: flatten, drop identities, absorb, deduplicate, merge bands.
static MaskNode simplifyJunction(MaskNode node, const Extents &e,
                                 MLIRContext *ctx) {
  bool isAnd = node.kind == MaskNode::Kind::And;
  auto isIdentity = [&](const MaskNode &n) {
    return isAnd ? static_cast<bool>(n.leafAs<FullAttr>())
                 : static_cast<bool>(n.leafAs<EmptyAttr>());
  };
  auto isAbsorbing = [&](const MaskNode &n) {
    return isAnd ? static_cast<bool>(n.leafAs<EmptyAttr>())
                 : static_cast<bool>(n.leafAs<FullAttr>());
  };
  std::vector<MaskNode> flat;
  for (MaskNode &child : node.children) {
    MaskNode s = simplify(std::move(child), e, ctx);
    if (s.kind == node.kind)
      llvm::append_range(flat, s.children);
    else
      flat.push_back(std::move(s));
  }
  std::vector<MaskNode> kept;
  for (MaskNode &child : flat) {
    if (isAbsorbing(child))
      return child;
    if (isIdentity(child) || llvm::is_contained(kept, child))
      continue;
    if (isAnd) {
      auto merged = llvm::find_if(kept, [&](const MaskNode &k) {
        return intersectBands(k, child).has_value();
      });
      if (merged != kept.end()) {
        *merged = *intersectBands(*merged, child);
        continue;
      }
    }
    kept.push_back(std::move(child));
  }
  if (kept.empty())
    return MaskNode::makeLeaf(isAnd ? Attribute(FullAttr::get(ctx))
                                    : Attribute(EmptyAttr::get(ctx)));
  if (kept.size() == 1)
    return kept.front();
  node.children = std::move(kept);
  return node;
}

static MaskNode simplify(MaskNode node, const Extents &e, MLIRContext *ctx) {
  switch (node.kind) {
  case MaskNode::Kind::Leaf:
    return simplifyLeaf(std::move(node), e, ctx);
  case MaskNode::Kind::Not: {
    MaskNode child = simplify(std::move(node.children.front()), e, ctx);
    if (child.kind == MaskNode::Kind::Not)
      return child.children.front();
    if (child.leafAs<FullAttr>())
      return MaskNode::makeLeaf(EmptyAttr::get(ctx));
    if (child.leafAs<EmptyAttr>())
      return MaskNode::makeLeaf(FullAttr::get(ctx));
    node.children.front() = std::move(child);
    return node;
  }
  case MaskNode::Kind::And:
  case MaskNode::Kind::Or:
    return simplifyJunction(std::move(node), e, ctx);
  }
  llvm_unreachable("unknown mask node kind");
}

/// Simplifies `mask` with its operands; a full mask becomes null.
static std::pair<Attribute, SmallVector<Value>>
simplifyMask(Attribute mask, ValueRange operands, const Extents &e) {
  SmallVector<Value> values(operands.begin(), operands.end());
  ArrayRef<Value> rest = values;
  MaskNode tree = simplify(unpack(mask, rest), e, mask.getContext());
  SmallVector<Value> newOperands;
  Attribute packed = pack(tree, newOperands);
  if (isa<FullAttr>(packed))
    packed = nullptr;
  return {packed, newOperands};
}

/// Normalizes the mask of an op with `mask` and `mask_operands` in place;
/// returns whether anything changed.
template <typename OpT>
static bool normalizeMask(OpT op, RewriterBase &rewriter, const Extents &e) {
  Attribute mask = op.getMaskAttr();
  if (!mask)
    return false;
  std::pair<Attribute, SmallVector<Value>> simplified =
      simplifyMask(mask, op.getMaskOperands(), e);
  Attribute newMask = simplified.first;
  SmallVector<Value> &newOperands = simplified.second;
  if (newMask == mask && ValueRange(newOperands) == op.getMaskOperands())
    return false;
  rewriter.modifyOpInPlace(op, [&] {
    if (newMask)
      op.setMaskAttr(newMask);
    else
      op.removeMaskAttr();
    op.getMaskOperandsMutable().assign(newOperands);
  });
  return true;
}

/// Folds constant operands of the score modifiers, normalization and gate of
/// attn.attention into their attributes, and drops an explicit softmax;
/// returns whether anything changed.
static bool foldAttentionParams(AttentionOp op, RewriterBase &rewriter) {
  bool changed = false;
  // Folds each attribute of `attrs` against its share of `operands`.
  auto foldGroup = [&](ArrayRef<Attribute> attrs, ValueRange operands,
                       SmallVectorImpl<Attribute> &newAttrs,
                       SmallVectorImpl<Value> &newOperands) {
    for (Attribute attr : attrs) {
      size_t n = getSlots(attr).size();
      SmallVector<Value> mine(operands.take_front(n));
      operands = operands.drop_front(n);
      Attribute folded = foldConstantOperands(attr, mine);
      changed |= folded != attr;
      newAttrs.push_back(folded);
      newOperands.append(mine);
    }
  };
  SmallVector<Attribute> score, norm, gate;
  SmallVector<Value> scoreOps, normOps, gateOps;
  if (ArrayAttr mods = op.getScoreAttr())
    foldGroup(mods.getValue(), op.getScoreOperands(), score, scoreOps);
  if (Attribute attr = op.getNormAttr())
    foldGroup(attr, op.getNormOperands(), norm, normOps);
  if (Attribute attr = op.getGateAttr())
    foldGroup(attr, op.getGateOperands(), gate, gateOps);
  bool dropSoftmax = norm.size() == 1 && isa<SoftmaxAttr>(norm.front());
  if (!changed && !dropSoftmax)
    return false;
  rewriter.modifyOpInPlace(op, [&] {
    if (!score.empty())
      op.setScoreAttr(rewriter.getArrayAttr(score));
    op.getScoreOperandsMutable().assign(scoreOps);
    if (dropSoftmax)
      op.removeNormAttr();
    else if (!norm.empty())
      op.setNormAttr(norm.front());
    op.getNormOperandsMutable().assign(normOps);
    if (!gate.empty())
      op.setGateAttr(gate.front());
    op.getGateOperandsMutable().assign(gateOps);
  });
  return true;
}

namespace {

/// Normalizes the mask and folds the parameters of attn.attention. One
/// pattern does both, so a single application reaches the normal form.
struct NormalizeAttentionPattern : OpRewritePattern<AttentionOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    bool changed = normalizeMask(op, rewriter, op.getExtents());
    changed |= foldAttentionParams(op, rewriter);
    return success(changed);
  }
};

/// Normalizes the candidate mask of a selection op. Its extents are left
/// unknown: only the shape-independent rules apply.
template <typename OpT>
struct NormalizeSelectionMaskPattern : OpRewritePattern<OpT> {
  using OpRewritePattern<OpT>::OpRewritePattern;

  LogicalResult matchAndRewrite(OpT op,
                                PatternRewriter &rewriter) const override {
    return success(normalizeMask(op, rewriter, Extents()));
  }
};

} // namespace

void mlir::attn::populateMaskNormalizationPatterns(RewritePatternSet &patterns) {
  patterns.add<NormalizeAttentionPattern,
               NormalizeSelectionMaskPattern<IndexerTopkOp>,
               NormalizeSelectionMaskPattern<BlockTopkOp>,
               NormalizeSelectionMaskPattern<HipTopkOp>,
               NormalizeSelectionMaskPattern<ThresholdBlocksOp>,
               NormalizeSelectionMaskPattern<PyramidLevelsOp>,
               NormalizeSelectionMaskPattern<ValueTopkOp>>(
      patterns.getContext());
}

void AttnDialect::getCanonicalizationPatterns(
    RewritePatternSet &patterns) const {
  populateMaskNormalizationPatterns(patterns);
}

//===- TileClassification.cpp - closed-form key ranges of masks -----------===//
//
// Interval-set semantics of every mask leaf, and the algebra: `and`
// intersects, `or` unites into disjoint pieces, `not` swaps hull and core
// through complements. Lists that would grow past a small bound fall back
// to the sound answer (the whole key range as hull, nothing as core).
//
//===----------------------------------------------------------------------===//

#include "attn/Analysis/TileClassification.h"
#include "attn/Dialect/Attn/IR/AttnAttrs.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::attn;

/// Beyond this many intervals a list is replaced by its sound fallback.
static constexpr size_t kMaxIntervals = 8;

namespace {
using Intervals = SmallVector<KeyInterval>;

TileExpr sym(TileSymbol s) { return TileExpr::symbol(s); }
TileExpr i0() { return sym(TileSymbol::QueryBegin); }
TileExpr i1() { return sym(TileSymbol::QueryEnd); }
TileExpr queryLen() { return sym(TileSymbol::QueryLen); }
TileExpr keyLen() { return sym(TileSymbol::KeyLen); }

/// [begin, end) clamped to [0, Sk) and normalized to end >= begin.
KeyInterval interval(TileExpr begin, TileExpr end) {
  begin = TileExpr::max(begin, 0);
  end = TileExpr::min(end, keyLen());
  return {begin, TileExpr::max(end, begin)};
}

Intervals all() { return {interval(0, keyLen())}; }

/// Pairwise intersections; the result is disjoint when either input is.
Intervals intersect(const Intervals &a, const Intervals &b) {
  Intervals result;
  for (const KeyInterval &x : a)
    for (const KeyInterval &y : b)
      result.push_back(interval(TileExpr::max(x.begin, y.begin),
                                TileExpr::min(x.end, y.end)));
  return result;
}

/// x minus y as two disjoint pieces (either may be empty).
std::pair<KeyInterval, KeyInterval> subtract(const KeyInterval &x,
                                             const KeyInterval &y) {
  return {interval(x.begin, TileExpr::min(x.end, y.begin)),
          interval(TileExpr::max(x.begin, y.end), x.end)};
}

/// `a` followed by the pieces of `b` outside `a`: a disjoint union when `a`
/// is disjoint.
Intervals unite(const Intervals &a, const Intervals &b) {
  Intervals result = a;
  for (const KeyInterval &x : b) {
    Intervals pieces = {x};
    for (const KeyInterval &y : a) {
      Intervals next;
      for (const KeyInterval &p : pieces) {
        auto [lo, hi] = subtract(p, y);
        next.push_back(lo);
        next.push_back(hi);
      }
      pieces = std::move(next);
    }
    llvm::append_range(result, pieces);
  }
  return result;
}

/// [0, Sk) minus the union of `a` (disjoint pieces).
Intervals complement(const Intervals &a) {
  Intervals result = all();
  for (const KeyInterval &x : a)
    result = intersect(result, {interval(0, x.begin), interval(x.end, keyLen())});
  return result;
}

/// Drops intervals that are empty for every value of the symbols.
Intervals prune(Intervals list) {
  llvm::erase_if(list, [](const KeyInterval &x) {
    auto b = x.begin.getConstant(), e = x.end.getConstant();
    return (b && e && *e <= *b) || x.begin.isSameNode(x.end);
  });
  return list;
}

/// Allocates symbols for the `?` operands of the mask in printing order.
class RangeBuilder {
public:
  KeyRanges build(Attribute mask);
  RuntimeTileTest test(Attribute mask);

private:
  TileExpr nextOperand() {
    return TileExpr::symbol(TileSymbol::Operand, nextOperandIndex++);
  }
  TileExpr dynInt(int64_t value) {
    return ShapedType::isDynamic(value) ? nextOperand() : TileExpr(value);
  }
  /// The diagonal d of a causal/window/dilated leaf.
  TileExpr diagonal(Align align, int64_t offset) {
    TileExpr d = dynInt(offset);
    if (align == Align::bottom_right)
      d = d + (keyLen() - queryLen());
    return d;
  }
  KeyRanges leaf(Attribute mask);
  int64_t nextOperandIndex = 0;
};
} // namespace

static KeyRanges fallback() { return {all(), {}}; }

static KeyRanges bounded(KeyRanges ranges) {
  ranges.hull = prune(std::move(ranges.hull));
  ranges.core = prune(std::move(ranges.core));
  if (ranges.hull.size() > kMaxIntervals)
    ranges.hull = all();
  if (ranges.core.size() > kMaxIntervals)
    ranges.core.clear();
  return ranges;
}

KeyRanges RangeBuilder::build(Attribute mask) {
  if (!mask)
    return {all(), all()};
  if (auto conj = dyn_cast<AndAttr>(mask)) {
    KeyRanges result{all(), all()};
    for (Attribute child : conj.getMasks()) {
      KeyRanges c = build(child);
      result = bounded({intersect(result.hull, c.hull),
                        intersect(result.core, c.core)});
    }
    return result;
  }
  if (auto disj = dyn_cast<OrAttr>(mask)) {
    KeyRanges result{{}, {}};
    for (Attribute child : disj.getMasks()) {
      KeyRanges c = build(child);
      // A full tile needs one core interval covering it, so cores need not
      // be disjoint.
      Intervals core = result.core;
      llvm::append_range(core, c.core);
      result = bounded({unite(result.hull, c.hull), std::move(core)});
    }
    return result;
  }
  if (auto neg = dyn_cast<NotAttr>(mask)) {
    // Keys outside the child's hull are allowed by the negation for every
    // query; keys outside the child's core may be.
    KeyRanges c = build(neg.getMask());
    return bounded({complement(c.core), complement(c.hull)});
  }
  return bounded(leaf(mask));
}

RuntimeTileTest RangeBuilder::test(Attribute mask) {
  using Kind = RuntimeTileTest::Kind;
  RuntimeTileTest result;
  auto children = [&](ArrayRef<Attribute> masks, Kind kind) {
    result.kind = kind;
    for (Attribute child : masks)
      result.children.push_back(test(child));
    return result;
  };
  if (auto conj = dyn_cast_or_null<AndAttr>(mask))
    return children(conj.getMasks(), Kind::And);
  if (auto disj = dyn_cast_or_null<OrAttr>(mask))
    return children(disj.getMasks(), Kind::Or);
  if (auto neg = dyn_cast_or_null<NotAttr>(mask))
    return children({neg.getMask()}, Kind::Not);
  if (isa_and_nonnull<DocumentAttr>(mask)) {
    result.kind = Kind::Document;
    result.queryOperand = nextOperandIndex++;
    result.keyOperand = nextOperandIndex++;
    return result;
  }
  if (auto keep = dyn_cast_or_null<KeepAttr>(mask)) {
    result.kind =
        keep.getSide() == Side::key ? Kind::KeepKeys : Kind::KeepQueries;
    result.queryOperand = result.keyOperand = nextOperandIndex++;
    return result;
  }
  result.ranges = build(mask);
  return result;
}

KeyRanges RangeBuilder::leaf(Attribute mask) {
  TileExpr last = i1() - 1; // the last query row of the tile
  return llvm::TypeSwitch<Attribute, KeyRanges>(mask)
      .Case([&](FullAttr) { return KeyRanges{all(), all()}; })
      .Case([&](EmptyAttr) { return KeyRanges{{}, {}}; })
      .Case([&](CausalAttr c) {
        TileExpr d = diagonal(c.getAlign(), c.getOffset());
        return KeyRanges{{interval(0, i1() + d)}, {interval(0, i0() + d + 1)}};
      })
      .Case([&](WindowAttr w) {
        TileExpr left = dynInt(w.getLeft()), right = dynInt(w.getRight());
        TileExpr d = diagonal(w.getAlign(), w.getOffset());
        return KeyRanges{{interval(i0() + d - left, i1() + d + right)},
                         {interval(last + d - left, i0() + d + right + 1)}};
      })
      .Case([&](KeyPrefixAttr p) {
        Intervals prefix = {interval(0, dynInt(p.getLen()))};
        return KeyRanges{prefix, prefix};
      })
      .Case([&](QueryPrefixAttr p) {
        TileExpr len = dynInt(p.getLen());
        return KeyRanges{{interval(0, TileExpr::selectLT(i0(), len, keyLen(), 0))},
                         {interval(0, TileExpr::selectLT(last, len, keyLen(), 0))}};
      })
      .Case([&](HeadsAttr h) {
        TileExpr head = sym(TileSymbol::Head);
        TileExpr end = TileExpr::selectLT(
            head, h.getBegin(), 0,
            TileExpr::selectLT(head, h.getEnd(), keyLen(), 0));
        return KeyRanges{{interval(0, end)}, {interval(0, end)}};
      })
      .Case([&](DilatedAttr d) {
        // Consume the operands in printing order even though the ranges do
        // not depend on them.
        TileExpr dilation = dynInt(d.getDilation());
        diagonal(d.getAlign(), d.getOffset());
        if (dilation.getConstant() == 1)
          return KeyRanges{all(), all()};
        return fallback();
      })
      .Case([&](PowerAttr p) {
        // Allowed keys are at most the query (causal diagonal block) and
        // block 0 is fully visible from the second block on.
        TileExpr block = p.getBlock();
        return KeyRanges{{interval(0, i1())},
                         {interval(0, TileExpr::selectLT(i0(), block, 0, block))}};
      })
      .Case([&](NeighborhoodAttr n) {
        // Bound along the outermost axis: a key's coordinate there is within
        // ((kernel - 1) + (stride - 1)) * dilation of the query's.
        ArrayRef<int64_t> grid = n.getGrid();
        int64_t inner = 1;
        for (int64_t extent : grid.drop_front())
          inner *= extent;
        int64_t span = ((n.getKernel()[0] - 1) + (n.getStrideOrDefault()[0] - 1)) *
                       n.getDilationOrDefault()[0];
        TileExpr first = TileExpr::floorDiv(i0(), inner);
        TileExpr lastRow = TileExpr::floorDiv(last, inner);
        return KeyRanges{{interval((first - span) * inner,
                                   (lastRow + span + 1) * inner)},
                         {}};
      })
      .Case([&](VaryingWindowAttr v) {
        ArrayRef<int64_t> grid = v.getGrid();
        int64_t inner = 1;
        for (int64_t extent : grid.drop_front())
          inner *= extent;
        int64_t span = v.getWindow()[0] * v.getRatio();
        TileExpr first = TileExpr::floorDiv(i0(), inner);
        TileExpr lastRow = TileExpr::floorDiv(last, inner);
        return KeyRanges{{interval((first - span) * inner,
                                   (lastRow + span + 1) * inner)},
                         {}};
      })
      .Default([&](Attribute attr) {
        // Runtime data: consume its operands, allow anything.
        for (size_t n = getSlots(attr).size(); n > 0; --n)
          nextOperand();
        return fallback();
      });
}

KeyRanges mlir::attn::computeKeyRanges(Attribute mask) {
  return RangeBuilder().build(mask);
}

std::optional<RuntimeTileTest>
mlir::attn::computeRuntimeTileTest(Attribute mask) {
  bool refinable = false;
  if (mask)
    mask.walk([&](Attribute attr) {
      refinable |= isa<DocumentAttr, KeepAttr>(attr);
    });
  if (!refinable)
    return std::nullopt;
  return RangeBuilder().test(mask);
}

SmallVector<KeyInterval>
mlir::attn::computeKeyTileRanges(const KeyRanges &ranges, int64_t keyTile) {
  // The tile range of each hull interval: an empty interval [b, b) visits
  // no tile, a non-empty one [floor(b / T), ceil(e / T)).
  Intervals whole;
  for (const KeyInterval &x : ranges.hull) {
    TileExpr t0 = TileExpr::floorDiv(x.begin, keyTile);
    TileExpr t1 = TileExpr::ceilDiv(x.end, keyTile);
    if (x.begin.getConstant() != 0)
      t1 = TileExpr::selectLT(x.begin, x.end, t1, t0);
    whole.push_back({t0, t1});
  }
  // Neighbouring key intervals may share a boundary tile: remove from each
  // tile range the earlier ones, so that no tile is visited twice.
  Intervals tiles;
  for (auto [index, x] : llvm::enumerate(whole)) {
    Intervals pieces = {x};
    for (const KeyInterval &y : ArrayRef(whole).take_front(index)) {
      Intervals next;
      for (const KeyInterval &p : pieces) {
        TileExpr loEnd = TileExpr::max(TileExpr::min(p.end, y.begin), p.begin);
        TileExpr hiBegin = TileExpr::max(p.begin, y.end);
        next.push_back({p.begin, loEnd});
        next.push_back({hiBegin, TileExpr::max(p.end, hiBegin)});
      }
      pieces = prune(std::move(next));
    }
    llvm::append_range(tiles, pieces);
  }
  if (tiles.size() <= kMaxIntervals)
    return tiles;
  // Too many pieces: one range over all of them is disjoint too; the extra
  // tiles it visits classify as empty.
  TileExpr lo = whole.front().begin, hi = whole.front().end;
  for (const KeyInterval &x : ArrayRef(whole).drop_front()) {
    lo = TileExpr::min(lo, x.begin);
    hi = TileExpr::max(hi, x.end);
  }
  return {{lo, TileExpr::max(hi, lo)}};
}

std::optional<EvaluatedRanges>
mlir::attn::evaluateRanges(const KeyRanges &ranges, const TileExpr::Env &env) {
  TileExpr::EvaluationCache cache;
  EvaluatedRanges result;
  for (auto [from, to] : {std::make_pair(&ranges.hull, &result.hull),
                          std::make_pair(&ranges.core, &result.core)}) {
    for (const KeyInterval &x : *from) {
      std::optional<int64_t> b = x.begin.evaluate(env, cache);
      std::optional<int64_t> e = x.end.evaluate(env, cache);
      if (!b || !e)
        return std::nullopt;
      if (*b < *e)
        to->push_back({*b, *e});
    }
  }
  return result;
}

TileKind EvaluatedRanges::classify(int64_t j0, int64_t j1) const {
  if (llvm::none_of(hull, [&](auto x) {
        return std::max(x.first, j0) < std::min(x.second, j1);
      }))
    return TileKind::Empty;
  if (llvm::any_of(core,
                   [&](auto x) { return x.first <= j0 && j1 <= x.second; }))
    return TileKind::Full;
  return TileKind::Partial;
}

LogicalResult mlir::attn::verifyTileSizes(Operation *root, int64_t queryTile,
                                          int64_t keyTile) {
  if (queryTile >= 1 && keyTile >= 1)
    return success();
  return root->emitError() << "expected positive tile sizes, got q-tile="
                           << queryTile << " and k-tile=" << keyTile;
}

void mlir::attn::printIntervals(llvm::raw_ostream &os,
                                ArrayRef<KeyInterval> intervals) {
  if (intervals.empty()) {
    os << "{}";
    return;
  }
  // Shared subexpressions print once per use: large closed forms are
  // summarized instead of printed.
  constexpr int64_t kMaxPrintedNodes = 2000;
  int64_t nodes = 0;
  for (const KeyInterval &x : intervals)
    nodes += x.begin.getTreeSize(kMaxPrintedNodes) +
             x.end.getTreeSize(kMaxPrintedNodes);
  if (nodes >= kMaxPrintedNodes) {
    os << "<" << intervals.size() << " intervals, too large to print>";
    return;
  }
  llvm::interleave(
      intervals, os,
      [&](const KeyInterval &x) { os << "[" << x.begin << ", " << x.end << ")"; },
      " u ");
}

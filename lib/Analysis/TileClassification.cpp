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
  explicit RangeBuilder(ArrayRef<int64_t> patches = {}) : patches(patches) {}
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
  /// The key ranges of a neighborhood: boxes of patches in patch order,
  /// of frames and rows in 3-D, rows of the outermost axis otherwise.
  KeyRanges gridRanges(NeighborhoodAttr n);
  /// Positions are in the patch order of the op's `patches` when not empty.
  ArrayRef<int64_t> patches;
  int64_t nextOperandIndex = 0;
};

/// Inclusive bounds [lo, hi] of the key coordinates along `axis` of a
/// neighborhood for the query coordinates [x0, x1] on that axis. The window
/// start is monotone in the query coordinate, so the bounds are those of x0
/// and x1: exact for dilation 1; with dilation D the query's group (between
/// n / D and ceil(n / D) positions long) is enclosed.
std::pair<TileExpr, TileExpr> axisBounds(NeighborhoodAttr n, size_t axis,
                                         TileExpr x0, TileExpr x1) {
  int64_t extent = n.getGrid()[axis], k = n.getKernel()[axis];
  int64_t d = n.getDilationOrDefault()[axis];
  int64_t s = n.getStrideOrDefault()[axis];
  TileExpr g0 = TileExpr::floorDiv(x0, d), g1 = TileExpr::floorDiv(x1, d);
  if (n.getCausalOrDefault()[axis])
    return {TileExpr::max((g0 - (k - 1)) * d, 0), x1};
  auto start = [&](TileExpr g, int64_t groupLen) {
    TileExpr centre =
        TileExpr::min(TileExpr::floorDiv(g, s) * s + (s - 1) / 2, groupLen - 1);
    return TileExpr::min(TileExpr::max(centre - k / 2, 0), groupLen - k);
  };
  int64_t shortest = extent / d, longest = (extent + d - 1) / d;
  return {
      start(g0, shortest) * d,
      TileExpr::min((start(g1, longest) + (k - 1)) * d + (d - 1), extent - 1)};
}
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
  if (auto document = dyn_cast_or_null<DocumentAttr>(mask)) {
    result.kind = Kind::Document;
    result.queryOperand = nextOperandIndex++;
    result.keyOperand = nextOperandIndex++;
    if (document.getRanges()) {
      result.rangesOperand = nextOperandIndex;
      nextOperandIndex += 2;
    }
    return result;
  }
  if (auto keep = dyn_cast_or_null<KeepAttr>(mask)) {
    result.kind =
        keep.getSide() == Side::key ? Kind::KeepKeys : Kind::KeepQueries;
    result.queryOperand = result.keyOperand = nextOperandIndex++;
    return result;
  }
  if (isa_and_nonnull<PyramidAttr>(mask)) {
    result.kind = Kind::Pyramid;
    result.queryOperand = result.keyOperand = nextOperandIndex++;
    return result;
  }
  result.ranges = build(mask);
  return result;
}

KeyRanges RangeBuilder::leaf(Attribute mask) {
  TileExpr last = i1() - 1; // the last query row of the tile
  // In patch order only the neighborhood and position-free leaves have
  // closed forms; anything else is sound as "any key, never full".
  if (!patches.empty() &&
      !isa<FullAttr, EmptyAttr, HeadsAttr, NeighborhoodAttr>(mask)) {
    for (size_t n = getSlots(mask).size(); n > 0; --n)
      nextOperand();
    return fallback();
  }
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
      .Case([&](NeighborhoodAttr n) { return gridRanges(n); })
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

/// The hull of neighborhood `n` when positions number `blocks` blocks of
/// `inner` units of `unit` tokens each: block o covers coordinates
/// [o * os, o * os + os) on axis 0, unit c of a block [c * is, c * is + is)
/// on axis 1 (further axes lie inside a unit and are not bounded). A
/// tile's keys are a box of blocks and units, one interval per block (its
/// units are contiguous); a tile over several blocks sees every unit of
/// its key blocks, which the last interval covers in one run. nullopt
/// when that takes more intervals than a list keeps.
static std::optional<Intervals> boxHull(NeighborhoodAttr n, int64_t blocks,
                                        int64_t inner, int64_t unit, int64_t os,
                                        int64_t is) {
  int64_t volume = inner * unit;
  // Key blocks [o0, o1] and units [c0, c1] of the query tile [first, last].
  auto keyBox = [&](TileExpr first, TileExpr last) {
    TileExpr p0 = TileExpr::floorDiv(first, unit);
    TileExpr p1 = TileExpr::floorDiv(last, unit);
    TileExpr r0 = TileExpr::floorDiv(p0, inner);
    TileExpr r1 = TileExpr::floorDiv(p1, inner);
    TileExpr oneBlock = TileExpr::selectLT(r1, r0 + 1, 1, 0);
    TileExpr c0 = TileExpr::selectLT(0, oneBlock, TileExpr::mod(p0, inner), 0);
    TileExpr c1 =
        TileExpr::selectLT(0, oneBlock, TileExpr::mod(p1, inner), inner - 1);
    auto [yLo, yHi] = axisBounds(n, 0, r0 * os, r1 * os + (os - 1));
    auto [xLo, xHi] = axisBounds(n, 1, c0 * is, c1 * is + (is - 1));
    return std::array<TileExpr, 4>{
        TileExpr::floorDiv(yLo, os), TileExpr::floorDiv(yHi, os),
        TileExpr::floorDiv(xLo, is), TileExpr::floorDiv(xHi, is)};
  };
  // The most key blocks of a query tile within one block.
  int64_t most = 1;
  for (int64_t r = 0; r < blocks; ++r) {
    std::array<TileExpr, 4> box = keyBox(r * volume, r * volume);
    std::optional<int64_t> lo = box[0].getConstant(), hi = box[1].getConstant();
    if (!lo || !hi)
      return std::nullopt;
    most = std::max(most, *hi - *lo + 1);
  }
  if (static_cast<size_t>(most) > kMaxIntervals)
    return std::nullopt;
  auto [o0, o1, c0, c1] = keyBox(i0(), i1() - 1);
  Intervals hull;
  for (int64_t m = 0; m < most; ++m) {
    TileExpr block = o0 + m;
    TileExpr lastBlock = m + 1 == most ? o1 : block;
    TileExpr begin = block * volume + c0 * unit;
    TileExpr end = lastBlock * volume + (c1 + 1) * unit;
    hull.push_back(
        interval(begin, TileExpr::selectLT(block, o1 + 1, end, begin)));
  }
  return hull;
}

KeyRanges RangeBuilder::gridRanges(NeighborhoodAttr n) {
  ArrayRef<int64_t> grid = n.getGrid();
  std::optional<Intervals> hull;
  if (!patches.empty()) {
    // Patch order: blocks are patch rows, units patches.
    if (grid.size() == 2 && patches.size() == 2 && grid[0] % patches[0] == 0 &&
        grid[1] % patches[1] == 0)
      hull = boxHull(n, grid[0] / patches[0], grid[1] / patches[1],
                     patches[0] * patches[1], patches[0], patches[1]);
  } else if (grid.size() == 3) {
    // Row-major 3-D: blocks are frames, units grid rows.
    hull = boxHull(n, grid[0], grid[1], grid[2], 1, 1);
  }
  if (hull)
    return KeyRanges{*hull, {}};
  if (!patches.empty())
    return fallback();
  // Whole rows of the outermost axis: those of the first and the last
  // query row's windows and every row between.
  int64_t inner = 1;
  for (int64_t extent : grid.drop_front())
    inner *= extent;
  TileExpr last = i1() - 1;
  auto [lo, hi] = axisBounds(n, 0, TileExpr::floorDiv(i0(), inner),
                             TileExpr::floorDiv(last, inner));
  return KeyRanges{{interval(lo * inner, (hi + 1) * inner)}, {}};
}

KeyRanges mlir::attn::computeKeyRanges(Attribute mask,
                                       ArrayRef<int64_t> patches) {
  return RangeBuilder(patches).build(mask);
}

std::optional<RuntimeTileTest>
mlir::attn::computeRuntimeTileTest(Attribute mask) {
  bool refinable = false;
  if (mask)
    mask.walk([&](Attribute attr) {
      refinable |= isa<DocumentAttr, KeepAttr, PyramidAttr>(attr);
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

//===- AttnOps.cpp - attn.attention and shared op syntax ------------------===//
//
// The custom directives of the attn op syntax (layouts and attribute
// groups with their runtime operands) and attn.attention: extents, defaults
// and verification.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "VerifyUtils.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/Support/MathExtras.h"

#include <cmath>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::checks;

//===----------------------------------------------------------------------===//
// Custom directives
//===----------------------------------------------------------------------===//

/// `layout(q, kv)`, omitted when both are bhsd.
static ParseResult parseLayouts(OpAsmParser &parser, LayoutAttr &q,
                                LayoutAttr &kv) {
  if (failed(parser.parseOptionalKeyword("layout")))
    return success();
  auto parseOne = [&](LayoutAttr &attr) -> ParseResult {
    StringRef keyword;
    SMLoc loc = parser.getCurrentLocation();
    if (parser.parseKeyword(&keyword))
      return failure();
    std::optional<Layout> layout = symbolizeLayout(keyword);
    if (!layout)
      return parser.emitError(loc)
             << "expected layout bhsd, bshd, thd or paged, got '" << keyword
             << "'";
    attr = LayoutAttr::get(parser.getContext(), *layout);
    return success();
  };
  return failure(parser.parseLParen() || parseOne(q) || parser.parseComma() ||
                 parseOne(kv) || parser.parseRParen());
}

static void printLayouts(OpAsmPrinter &printer, Operation *, LayoutAttr q,
                         LayoutAttr kv) {
  Layout ql = q ? q.getValue() : Layout::bhsd;
  Layout kl = kv ? kv.getValue() : Layout::bhsd;
  if (ql == Layout::bhsd && kl == Layout::bhsd)
    return;
  printer << " layout(" << stringifyLayout(ql) << ", " << stringifyLayout(kl)
          << ")";
}

/// `name(#attr, %a, %b : t1, t2)`, all optional. The parentheses keep a
/// trailing `: type` from being read as the attribute's own type.
template <typename AttrT>
static ParseResult
parseSlotGroup(OpAsmParser &parser, StringRef name, AttrT &attr,
               SmallVectorImpl<OpAsmParser::UnresolvedOperand> &operands,
               SmallVectorImpl<Type> &types) {
  if (failed(parser.parseOptionalKeyword(name)))
    return success();
  if (parser.parseLParen() || parser.parseAttribute(attr))
    return failure();
  if (succeeded(parser.parseOptionalComma()) &&
      (parser.parseOperandList(operands) || parser.parseColonTypeList(types)))
    return failure();
  return parser.parseRParen();
}

static void printSlotGroup(OpAsmPrinter &printer, Operation *, StringRef name,
                           Attribute attr, OperandRange operands,
                           TypeRange types) {
  if (!attr && operands.empty())
    return;
  printer << " " << name << "(";
  if (attr)
    printer.printAttributeWithoutType(attr);
  if (!operands.empty())
    printer << ", " << operands << " : " << types;
  printer << ")";
}

/// `output-type (, lse lse-type)? (, topk counts-type, indices-type)?`.
static ParseResult parseAttentionResults(OpAsmParser &parser, Type &output,
                                         Type &lse, Type &counts,
                                         Type &indices) {
  if (parser.parseType(output))
    return failure();
  while (succeeded(parser.parseOptionalComma())) {
    SMLoc loc = parser.getCurrentLocation();
    if (!lse && !counts && succeeded(parser.parseOptionalKeyword("lse"))) {
      if (parser.parseType(lse))
        return failure();
    } else if (!counts && succeeded(parser.parseOptionalKeyword("topk"))) {
      if (parser.parseType(counts) || parser.parseComma() ||
          parser.parseType(indices))
        return failure();
    } else {
      return parser.emitError(loc, "expected 'lse' or 'topk' result types");
    }
  }
  return success();
}

static void printAttentionResults(OpAsmPrinter &printer, Operation *,
                                  Type output, Type lse, Type counts,
                                  Type indices) {
  printer << output;
  if (lse)
    printer << ", lse " << lse;
  if (counts)
    printer << ", topk " << counts << ", " << indices;
}

#define GET_OP_CLASSES
#include "attn/Dialect/Attn/IR/AttnOps.cpp.inc"

//===----------------------------------------------------------------------===//
// AttentionOp: accessors
//===----------------------------------------------------------------------===//

static int64_t dimOr(RankedTensorType type, int64_t rank, int64_t dim) {
  if (!type || type.getRank() != rank)
    return ShapedType::kDynamic;
  return type.getDimSize(dim);
}

static int64_t batchFromOffsets(Value offsets) {
  if (!offsets)
    return ShapedType::kDynamic;
  auto type = dyn_cast<RankedTensorType>(offsets.getType());
  if (!type || type.getRank() != 1 || type.isDynamicDim(0))
    return ShapedType::kDynamic;
  return type.getDimSize(0) - 1;
}

Extents AttentionOp::getExtents() {
  auto q = dyn_cast<RankedTensorType>(getQuery().getType());
  auto k = dyn_cast<RankedTensorType>(getKey().getType());
  auto v = dyn_cast<RankedTensorType>(getValue().getType());
  Extents e;
  switch (getQLayout()) {
  case Layout::bhsd:
    e.batch = dimOr(q, 4, 0);
    e.queryHeads = dimOr(q, 4, 1);
    e.queryLen = dimOr(q, 4, 2);
    e.headDim = dimOr(q, 4, 3);
    break;
  case Layout::bshd:
    e.batch = dimOr(q, 4, 0);
    e.queryLen = dimOr(q, 4, 1);
    e.queryHeads = dimOr(q, 4, 2);
    e.headDim = dimOr(q, 4, 3);
    break;
  case Layout::thd:
  case Layout::paged:
    e.batch = batchFromOffsets(getCuSeqlensQ());
    e.queryHeads = dimOr(q, 3, 1);
    e.headDim = dimOr(q, 3, 2);
    break;
  }
  switch (getKvLayout()) {
  case Layout::bhsd:
    e.keyHeads = dimOr(k, 4, 1);
    e.keyLen = dimOr(k, 4, 2);
    break;
  case Layout::bshd:
    e.keyHeads = dimOr(k, 4, 2);
    e.keyLen = dimOr(k, 4, 1);
    break;
  case Layout::thd:
    e.keyHeads = dimOr(k, 3, 1);
    break;
  case Layout::paged:
    e.keyHeads = dimOr(k, 4, 2);
    break;
  }
  if (v && v.getRank() > 0)
    e.valueDim = v.getDimSize(v.getRank() - 1);
  return e;
}

Attribute AttentionOp::getMaskOrFull() {
  if (Attribute mask = getMaskAttr())
    return mask;
  return FullAttr::get(getContext());
}

Attribute AttentionOp::getNormOrSoftmax() {
  if (Attribute norm = getNormAttr())
    return norm;
  return SoftmaxAttr::get(getContext());
}

double AttentionOp::getScaleOrDefault() {
  if (std::optional<APFloat> scale = getScale())
    return scale->convertToDouble();
  int64_t d = getExtents().headDim;
  return ShapedType::isDynamic(d) ? 1.0 : 1.0 / std::sqrt(double(d));
}

//===----------------------------------------------------------------------===//
// AttentionOp: verification
//===----------------------------------------------------------------------===//

static int64_t rankOf(Layout layout) { return layout == Layout::thd ? 3 : 4; }

/// The expected shape of a tensor in `layout` with the given sizes.
static SmallVector<int64_t> layoutShape(Layout layout, int64_t batch,
                                        int64_t heads, int64_t len,
                                        int64_t tokens, int64_t dim) {
  switch (layout) {
  case Layout::bhsd:
    return {batch, heads, len, dim};
  case Layout::bshd:
    return {batch, len, heads, dim};
  case Layout::thd:
  case Layout::paged:
    return {tokens, heads, dim};
  }
  llvm_unreachable("unknown layout");
}

/// Checks that an optional operand is present exactly when `needed`.
static LogicalResult verifyPresence(Operation *op, Value operand,
                                    StringRef name, bool needed,
                                    StringRef why) {
  if (needed && !operand)
    return op->emitOpError() << "expected " << name << " operand " << why;
  if (!needed && operand)
    return op->emitOpError() << "expected no " << name << " operand "
                             << "unless " << why.drop_front(4);
  return success();
}

/// A summary operand of the mask (`what`): `Summary` of `source` computed in
/// the function, or an argument of a program step (attn-split-program), which
/// receives it from the step before.
template <typename Summary>
static LogicalResult verifySummary(AttentionOp op, Value summary, Value source,
                                   StringRef what, StringRef producer) {
  if (auto made = summary.getDefiningOp<Summary>()) {
    if (made->getOperand(0) != source)
      return op.emitOpError() << "expected the " << what << " to be "
                              << producer << " of its mask operand";
    return success();
  }
  if (Operation *parent = op->getParentOp();
      isa<BlockArgument>(summary) && parent && parent->hasAttr("attn.step"))
    return success();
  return op.emitOpError() << "expected the " << what << " to be computed by "
                          << producer
                          << " of its mask operand (or to be an argument of a "
                             "program step)";
}

/// `#attn.dense<tiles>`: the summary (operand 1 of the mask) is attn.mask_tiles
/// of the mask (operand 0) with the mask's broadcast dimensions and its words.
static LogicalResult verifyMaskTiles(AttentionOp op) {
  Value mask = op.getMaskOperands()[0], tiles = op.getMaskOperands()[1];
  if (failed(verifySummary<MaskTilesOp>(op, tiles, mask,
                                        "tile summary of #attn.dense<tiles>",
                                        "attn.mask_tiles")))
    return failure();
  auto maskType = cast<RankedTensorType>(mask.getType());
  auto tilesType = cast<RankedTensorType>(tiles.getType());
  int64_t words = maskTileWords(maskType.getDimSize(3));
  if (!tilesType.getElementType().isInteger(32))
    return op.emitOpError()
           << "expected i32 mask tiles, got " << tilesType.getElementType();
  return verifyShape(op, "mask tiles", tilesType,
                     {maskType.getDimSize(0), maskType.getDimSize(1),
                      tilesType.getDimSize(2),
                      ShapedType::isDynamic(words) ? words : 2 * words});
}

/// Every `#attn.document<ranges>` of the mask: its ranges (operands 2 and
/// 3 of the leaf) are attn.id_ranges of its ids (operands 0 and 1), in i32.
static LogicalResult verifyDocumentRanges(AttentionOp op) {
  LogicalResult result = success();
  walkMaskLeaves(op.getMaskAttr(), op.getMaskOperands(),
                 [&](Attribute leaf, ValueRange in) {
                   auto document = dyn_cast<DocumentAttr>(leaf);
                   if (!document || !document.getRanges() || in.size() != 4)
                     return;
                   for (int side = 0; side < 2 && succeeded(result); ++side) {
                     Value ranges = in[2 + side];
                     result = verifySummary<IdRangesOp>(
                         op, ranges, in[side],
                         side ? "key id ranges of #attn.document<ranges>"
                              : "query id ranges of #attn.document<ranges>",
                         "attn.id_ranges");
                     Type element = getElementTypeOrSelf(ranges.getType());
                     if (succeeded(result) && !element.isInteger(32))
                       result = op.emitOpError()
                                << "expected i32 document id ranges, got "
                                << element;
                   }
                 });
  return result;
}

LogicalResult AttentionOp::verify() {
  Operation *op = getOperation();
  Layout ql = getQLayout(), kl = getKvLayout();
  if (ql == Layout::paged)
    return emitOpError("expected query layout bhsd, bshd or thd, got paged");
  StringRef qName = stringifyLayout(ql), kName = stringifyLayout(kl);
  auto q = cast<RankedTensorType>(getQuery().getType());
  auto k = cast<RankedTensorType>(getKey().getType());
  auto v = cast<RankedTensorType>(getValue().getType());
  if (q.getRank() != rankOf(ql))
    return emitOpError() << "expected query of rank " << rankOf(ql)
                         << " for layout " << qName << ", got rank "
                         << q.getRank();
  if (k.getRank() != rankOf(kl) || v.getRank() != rankOf(kl))
    return emitOpError() << "expected key and value of rank " << rankOf(kl)
                         << " for layout " << kName << ", got ranks "
                         << k.getRank() << " and " << v.getRank();
  if (failed(verifyElement(op, "query", q, isComputeFloat,
                           "f16, bf16 or f32")))
    return failure();
  if (k.getElementType() != q.getElementType() ||
      v.getElementType() != q.getElementType())
    return emitOpError() << "expected key and value element types to match "
                            "the query element type "
                         << q.getElementType() << ", got "
                         << k.getElementType() << " and "
                         << v.getElementType();

  // Layout-specific operands.
  if (failed(verifyPresence(op, getCuSeqlensQ(), "cu_seqlens_q",
                            ql == Layout::thd, "for query layout thd")) ||
      failed(verifyPresence(op, getCuSeqlensKv(), "cu_seqlens_kv",
                            kl == Layout::thd, "for key layout thd")) ||
      failed(verifyPresence(op, getBlockTable(), "block_table",
                            kl == Layout::paged, "for key layout paged")) ||
      failed(verifyPresence(op, getKvLens(), "kv_lens", kl == Layout::paged,
                            "for key layout paged")))
    return failure();
  Extents e = getExtents();
  for (auto [name, offsets] :
       {std::pair<StringRef, Value>{"cu_seqlens_q", getCuSeqlensQ()},
        {"cu_seqlens_kv", getCuSeqlensKv()},
        {"kv_lens", getKvLens()}}) {
    if (!offsets)
      continue;
    if (failed(verifyRank(op, name, offsets.getType(), 1)) ||
        failed(verifyElement(op, name, offsets.getType(), isIntegerElement,
                             "an integer")))
      return failure();
  }
  if (getCuSeqlensQ() && getCuSeqlensKv() &&
      failed(verifyShape(op, "cu_seqlens_kv", getCuSeqlensKv().getType(),
                         {ShapedType::isDynamic(e.batch) ? e.batch
                                                         : e.batch + 1})))
    return failure();
  if (Value table = getBlockTable()) {
    if (failed(verifyRank(op, "block_table", table.getType(), 2)) ||
        failed(verifyElement(op, "block_table", table.getType(),
                             isIntegerElement, "an integer")))
      return failure();
    int64_t tableBatch = cast<RankedTensorType>(table.getType()).getDimSize(0);
    if (ShapedType::isDynamic(e.batch))
      e.batch = tableBatch;
    if (failed(verifyShape(op, "block_table", table.getType(),
                           {e.batch, ShapedType::kDynamic})) ||
        failed(verifyShape(op, "kv_lens", getKvLens().getType(), {e.batch})))
      return failure();
  }

  // Shapes of key and value against the query.
  if (!ShapedType::isDynamic(e.headDim) &&
      !ShapedType::isDynamic(k.getShape().back()) &&
      k.getShape().back() != e.headDim)
    return emitOpError() << "expected key head dim to equal the query head "
                            "dim "
                         << e.headDim << ", got " << k.getShape().back();
  SmallVector<int64_t> valueShape = llvm::to_vector(k.getShape());
  valueShape.back() = ShapedType::kDynamic;
  if (failed(verifyShape(op, "value", v, valueShape)))
    return failure();
  if ((kl == Layout::bhsd || kl == Layout::bshd) &&
      (ql == Layout::bhsd || ql == Layout::bshd) &&
      failed(verifyShape(op, "key batch", k,
                         {e.batch, ShapedType::kDynamic, ShapedType::kDynamic,
                          ShapedType::kDynamic})))
    return failure();
  if (!ShapedType::isDynamic(e.queryHeads) &&
      !ShapedType::isDynamic(e.keyHeads) &&
      (e.keyHeads < 1 || e.queryHeads % e.keyHeads != 0))
    return emitOpError()
           << "expected key head count to divide query head count, got "
           << e.queryHeads << " and " << e.keyHeads;

  // Results.
  int64_t tokens = ql == Layout::thd ? q.getDimSize(0) : ShapedType::kDynamic;
  Type out = getOutput().getType();
  if (failed(verifyShape(op, "output", out,
                         layoutShape(ql, e.batch, e.queryHeads, e.queryLen,
                                     tokens, e.valueDim))) ||
      failed(verifyElement(op, "output", out, isComputeFloat,
                           "f16, bf16 or f32")))
    return failure();
  if (Value lse = getLse()) {
    SmallVector<int64_t> lseShape =
        ql == Layout::thd
            ? SmallVector<int64_t>{e.queryHeads, tokens}
            : SmallVector<int64_t>{e.batch, e.queryHeads, e.queryLen};
    if (failed(verifyShape(op, "lse", lse.getType(), lseShape)) ||
        failed(verifyElement(op, "lse", lse.getType(),
                             [](Type t) { return t.isF32(); }, "f32")))
      return failure();
  }
  if (static_cast<bool>(getTopkCounts()) !=
      static_cast<bool>(getTopkIndices()))
    return emitOpError("expected top-k counts and indices together");
  if (Value indices = getTopkIndices()) {
    if (ql == Layout::thd)
      return emitOpError("expected no top-k results for query layout thd");
    if (failed(verifyRank(op, "top-k indices", indices.getType(), 4)))
      return failure();
    int64_t budget = cast<RankedTensorType>(indices.getType()).getDimSize(3);
    if (failed(verifyShape(op, "top-k counts", getTopkCounts().getType(),
                           {e.batch, e.queryHeads, e.queryLen})) ||
        failed(verifyShape(op, "top-k indices", indices.getType(),
                           {e.batch, e.queryHeads, e.queryLen, budget})) ||
        failed(verifyElement(op, "top-k counts", getTopkCounts().getType(),
                             isIntegerElement, "an integer")) ||
        failed(verifyElement(op, "top-k indices", indices.getType(),
                             isIntegerElement, "an integer")))
      return failure();
    if (!ShapedType::isDynamic(budget) &&
        (budget < 1 || (!ShapedType::isDynamic(e.keyLen) && budget > e.keyLen)))
      return emitOpError() << "expected top-k budget between 1 and the key "
                              "length "
                           << e.keyLen << ", got " << budget;
  }

  if (std::optional<APFloat> scale = getScale()) {
    double value = scale->convertToDouble();
    if (!(std::isfinite(value) && value > 0.0))
      return emitOpError() << "expected positive finite scale, got " << value;
  }

  // Structured attributes and their operands.
  Attribute mask = getMaskAttr();
  if (failed(verifyMask(op, mask, getMaskOperands(), e,
                        /*allowPredicate=*/true)))
    return failure();
  if (mask) {
    int total = 0, topLevel = 0;
    mask.walk([&](PyramidAttr) { ++total; });
    if (isa<PyramidAttr>(mask))
      topLevel = 1;
    if (auto conj = dyn_cast<AndAttr>(mask))
      topLevel = llvm::count_if(conj.getMasks(), llvm::IsaPred<PyramidAttr>);
    if (total > 1 || total != topLevel)
      return emitOpError("expected at most one #attn.pyramid, as the mask or "
                         "a direct child of its top-level 'and'");
  }
  if (auto dense = dyn_cast_if_present<DenseAttr>(mask);
      dense && dense.getTiles() && failed(verifyMaskTiles(*this)))
    return failure();
  if (mask && failed(verifyDocumentRanges(*this)))
    return failure();
  // Grid-based leaves index tokens of a grid: both sequences are the grid.
  auto verifyGrid = [&](ArrayRef<int64_t> grid,
                        StringRef what) -> LogicalResult {
    int64_t tokens = 1;
    for (int64_t extent : grid)
      if (llvm::MulOverflow(tokens, extent, tokens))
        return success(); // rejected by the attribute verifier
    for (int64_t len : {e.queryLen, e.keyLen})
      if (!ShapedType::isDynamic(len) && len != tokens)
        return emitOpError() << "expected query and key lengths equal to the "
                             << what << " grid size " << tokens << ", got "
                             << e.queryLen << " and " << e.keyLen;
    return success();
  };
  SmallVector<std::pair<ArrayRef<int64_t>, StringRef>> grids;
  if (mask)
    mask.walk(
        [&](NeighborhoodAttr n) { grids.push_back({n.getGrid(), "neighborhood"}); },
        [&](VaryingWindowAttr v) {
          grids.push_back({v.getGrid(), "varying-window"});
        });
  if (ArrayAttr score = getScoreAttr())
    for (Attribute mod : score)
      if (auto decay = dyn_cast<DecayAttr>(mod); decay && !decay.getGrid().empty())
        grids.push_back({decay.getGrid(), "decay"});
  for (auto [grid, what] : grids)
    if (failed(verifyGrid(grid, what)))
      return failure();

  SmallVector<OperandSlot> scoreSlots;
  bool usesScoreFn = false;
  if (ArrayAttr score = getScoreAttr()) {
    for (Attribute mod : score) {
      if (!isScoreModAttr(mod))
        return emitOpError() << "expected a score modifier attribute, got "
                             << mod;
      usesScoreFn |= isa<ScoreFnAttr>(mod);
      scoreSlots.append(getSlots(mod));
    }
  }
  if (failed(verifySlotOperands(op, "score", scoreSlots, getScoreOperands(),
                                e)))
    return failure();
  Attribute norm = getNormAttr();
  if (norm && !isNormAttr(norm))
    return emitOpError() << "expected a normalization attribute, got "
                         << norm;
  if (failed(verifySlotOperands(op, "norm", getSlots(norm), getNormOperands(),
                                e)))
    return failure();
  Attribute gate = getGateAttr();
  if (gate && !isGateAttr(gate))
    return emitOpError() << "expected an output gate attribute, got " << gate;
  if (failed(verifySlotOperands(op, "gate", getSlots(gate), getGateOperands(),
                                e)))
    return failure();

  // Regions.
  bool usesPredicate = false;
  if (mask)
    mask.walk([&](PredicateAttr) { usesPredicate = true; });
  if (usesPredicate != !getPredicate().empty())
    return emitOpError() << (usesPredicate
                                 ? "expected a predicate region because the "
                                   "mask uses #attn.predicate"
                                 : "expected no predicate region because the "
                                   "mask does not use #attn.predicate");
  if (usesScoreFn != !getScoreFn().empty())
    return emitOpError() << (usesScoreFn
                                 ? "expected a score_fn region because the "
                                   "score modifiers use #attn.score_fn"
                                 : "expected no score_fn region because the "
                                   "score modifiers do not use "
                                   "#attn.score_fn");
  if (!getCaptures().empty() && !usesPredicate && !usesScoreFn)
    return emitOpError("expected captures only with a predicate or score_fn "
                       "region");
  if (getResidueGroups())
    if (StringRef obstacle = getResidueGroupsObstacle(); !obstacle.empty())
      return emitOpError(obstacle);
  if (std::optional<ArrayRef<int64_t>> patches = getPatches())
    if (std::string obstacle = getPatchesObstacle(*patches); !obstacle.empty())
      return emitOpError(obstacle);
  return success();
}

/// Whether Q and K/V are 4-D strided tensors (views and position maps
/// apply to their sequence dimension).
static bool hasStridedLayouts(AttentionOp op) {
  auto strided = [](Layout l) {
    return l == Layout::bhsd || l == Layout::bshd;
  };
  return strided(op.getQLayout()) && strided(op.getKvLayout());
}

/// Whether every mask, score, norm and gate operand is a scalar.
static bool hasScalarOperandsOnly(AttentionOp op) {
  return llvm::none_of(op->getOperands().drop_front(3), [](Value operand) {
    return isa<ShapedType>(operand.getType());
  });
}

bool AttentionOp::hasPositionalModifiers() {
  if (ArrayAttr score = getScoreAttr())
    for (Attribute mod : score)
      if (isa<AlibiAttr, RelPosAttr, DecayAttr, ScoreFnAttr>(mod))
        return true;
  return static_cast<bool>(getGateAttr());
}

SmallVector<int64_t> AttentionOp::getMaskGrid() {
  SmallVector<int64_t> grid;
  bool shared = true;
  auto visit = [&](ArrayRef<int64_t> leafGrid) {
    if (grid.empty())
      grid.assign(leafGrid.begin(), leafGrid.end());
    else
      shared &= ArrayRef<int64_t>(grid) == leafGrid;
  };
  if (Attribute mask = getMaskAttr())
    mask.walk([&](NeighborhoodAttr n) { visit(n.getGrid()); },
              [&](VaryingWindowAttr v) { visit(v.getGrid()); });
  if (!shared)
    grid.clear();
  return grid;
}

std::string AttentionOp::getPatchesObstacle(ArrayRef<int64_t> patches) {
  if (!hasStridedLayouts(*this))
    return "expected bhsd or bshd layouts with patches";
  if (getTopkIndices() || getResidueGroups())
    return "expected no top-k results or residue_groups with patches";
  SmallVector<int64_t> grid = getMaskGrid();
  if (grid.size() != 2)
    return "expected the mask's grid leaves to share one 2-D grid with "
           "patches";
  if (patches.size() != 2 || patches[0] < 1 || patches[1] < 1 ||
      grid[0] % patches[0] || grid[1] % patches[1])
    return ("expected two positive patch extents dividing the grid " +
            Twine(grid[0]) + "x" + Twine(grid[1]))
        .str();
  Extents e = getExtents();
  if (e.queryLen != grid[0] * grid[1] || e.keyLen != e.queryLen)
    return ("expected static Sq == Sk == " + Twine(grid[0] * grid[1]) +
            " (the grid's tokens) with patches")
        .str();
  bool positional = false;
  getMaskOrFull().walk([&](Attribute leaf) {
    positional |= isMaskAttr(leaf) &&
                  !isa<AndAttr, OrAttr, NotAttr, FullAttr, EmptyAttr, HeadsAttr,
                       NeighborhoodAttr, VaryingWindowAttr>(leaf);
  });
  if (positional || hasPositionalModifiers())
    return "expected only grid, heads, full and empty mask leaves and no "
           "position-reading score modifiers or gates with patches";
  if (!hasScalarOperandsOnly(*this))
    return "expected only scalar operands with patches";
  return "";
}

StringRef AttentionOp::getResidueGroupsObstacle() {
  if (!hasStridedLayouts(*this))
    return "expected bhsd or bshd layouts with residue_groups";
  if (getTopkIndices())
    return "expected no top-k results with residue_groups";
  bool grid = false;
  if (Attribute mask = getMaskAttr())
    mask.walk([&](NeighborhoodAttr) { grid = true; },
              [&](VaryingWindowAttr) { grid = true; });
  if (ArrayAttr score = getScoreAttr())
    for (Attribute mod : score)
      if (auto decay = dyn_cast<DecayAttr>(mod))
        grid |= !decay.getGrid().empty();
  if (grid || !getPredicate().empty() || !getScoreFn().empty())
    return "expected no grid-based leaves, predicate or score_fn with "
           "residue_groups (they index tokens, not group positions)";
  if (!hasScalarOperandsOnly(*this))
    return "expected only scalar mask, score, norm and gate operands with "
           "residue_groups (a tensor indexed by position would be "
           "ambiguous)";
  return "";
}

/// Checks the block signature and terminator of a predicate or score region.
static LogicalResult verifyBodyRegion(AttentionOp op, Region &region,
                                      StringRef name, Type scoreType,
                                      Type yieldType) {
  if (region.empty())
    return success();
  Builder b(op.getContext());
  SmallVector<Type> expected;
  if (scoreType)
    expected.push_back(scoreType);
  expected.append(4, b.getIndexType());
  llvm::append_range(expected, op.getCaptures().getTypes());
  Block &block = region.front();
  if (block.getArgumentTypes() != TypeRange(expected)) {
    InFlightDiagnostic diag = op.emitOpError();
    diag << "expected " << name << " region arguments (";
    llvm::interleaveComma(expected, diag);
    diag << ")"
         << (scoreType ? ": the score, " : ": ")
         << "(b, h, i, j) and one per captured operand, got (";
    llvm::interleaveComma(block.getArgumentTypes(), diag);
    return diag << ")";
  }
  auto yield =
      block.empty() ? YieldOp() : dyn_cast<YieldOp>(&block.back());
  if (!yield || yield.getValues().size() != 1 ||
      yield.getValues().front().getType() != yieldType)
    return op.emitOpError() << "expected " << name
                            << " region to yield one " << yieldType;
  return success();
}

LogicalResult AttentionOp::verifyRegions() {
  Builder b(getContext());
  if (failed(verifyBodyRegion(*this, getPredicate(), "predicate", Type(),
                              b.getI1Type())))
    return failure();
  return verifyBodyRegion(*this, getScoreFn(), "score_fn", b.getF32Type(),
                          b.getF32Type());
}

AttentionOp mlir::attn::buildAttentionWithoutTopk(OpBuilder &b, AttentionOp op,
                                                  bool moveRegions) {
  OperationState state(op.getLoc(), AttentionOp::getOperationName());
  state.addOperands(op->getOperands());
  state.addTypes(op.getOutput().getType());
  if (Value lse = op.getLse())
    state.addTypes(lse.getType());
  NamedAttrList attributes(op->getAttrDictionary());
  attributes.set("resultSegmentSizes",
                 b.getDenseI32ArrayAttr({1, op.getLse() ? 1 : 0, 0, 0}));
  state.addAttributes(attributes);
  for (Region &region : op->getRegions()) {
    Region *copy = state.addRegion();
    if (moveRegions)
      copy->takeBody(region);
    else
      b.cloneRegionBefore(region, *copy, copy->end());
  }
  return cast<AttentionOp>(b.create(state));
}

SmallVector<Value> mlir::attn::getSelectionResults(Operation *op) {
  auto attention = dyn_cast<AttentionOp>(op);
  if (attention && attention.getTopkCounts())
    return {attention.getTopkCounts(), attention.getTopkIndices()};
  return SmallVector<Value>(op->getResults());
}

bool mlir::attn::isSelection(Operation *op) {
  if (auto attention = dyn_cast<AttentionOp>(op))
    return static_cast<bool>(attention.getTopkCounts());
  return isa<IndexerTopkOp, PoolOp, HeadTopkOp, BlockTopkOp, HipTopkOp,
             ThresholdBlocksOp, PyramidLevelsOp, ValueTopkOp, QueryTopkOp,
             MaskTilesOp, IdRangesOp>(op);
}

//===- AttnAttrs.cpp - attn structured attributes -------------------------===//
//
// Parsers and printers of `?`-able parameters, attribute verifiers, and each
// attribute's operand slots and constant folding.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnAttrs.h"
#include "attn/Dialect/Attn/IR/AttnDialect.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace mlir::attn;

#include "attn/Dialect/Attn/IR/AttnAttrInterfaces.cpp.inc"
#include "attn/Dialect/Attn/IR/AttnEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "attn/Dialect/Attn/IR/AttnAttrs.cpp.inc"

void AttnDialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "attn/Dialect/Attn/IR/AttnAttrs.cpp.inc"
      >();
}

//===----------------------------------------------------------------------===//
// Parameter parsers and printers
//===----------------------------------------------------------------------===//

FailureOr<int64_t> mlir::attn::parseDynInt(AsmParser &parser) {
  if (succeeded(parser.parseOptionalQuestion()))
    return ShapedType::kDynamic;
  int64_t value;
  if (parser.parseInteger(value))
    return failure();
  return value;
}

void mlir::attn::printDynInt(AsmPrinter &printer, int64_t value) {
  if (ShapedType::isDynamic(value))
    printer << "?";
  else
    printer << value;
}

FailureOr<FloatAttr> mlir::attn::parseDynFloat(AsmParser &parser) {
  if (succeeded(parser.parseOptionalQuestion()))
    return FloatAttr();
  double value;
  if (parser.parseFloat(value))
    return failure();
  return FloatAttr::get(Float64Type::get(parser.getContext()), value);
}

void mlir::attn::printDynFloat(AsmPrinter &printer, FloatAttr value) {
  if (!value)
    printer << "?";
  else
    printer.printFloat(value.getValue());
}

FailureOr<SmallVector<int64_t>> mlir::attn::parseIntList(AsmParser &parser) {
  SmallVector<int64_t> values;
  if (parser.parseCommaSeparatedList(AsmParser::Delimiter::Square, [&] {
        return parser.parseInteger(values.emplace_back());
      }))
    return failure();
  return values;
}

void mlir::attn::printIntList(AsmPrinter &printer, ArrayRef<int64_t> values) {
  printer << "[";
  llvm::interleaveComma(values, printer);
  printer << "]";
}

FailureOr<SmallVector<bool>> mlir::attn::parseBoolList(AsmParser &parser) {
  SmallVector<bool> values;
  if (parser.parseCommaSeparatedList(AsmParser::Delimiter::Square,
                                     [&]() -> ParseResult {
        if (succeeded(parser.parseOptionalKeyword("true")))
          values.push_back(true);
        else if (succeeded(parser.parseOptionalKeyword("false")))
          values.push_back(false);
        else
          return parser.emitError(parser.getCurrentLocation(),
                                  "expected 'true' or 'false'");
        return success();
      }))
    return failure();
  return values;
}

void mlir::attn::printBoolList(AsmPrinter &printer, ArrayRef<bool> values) {
  printer << "[";
  llvm::interleaveComma(values, printer,
                        [&](bool v) { printer << (v ? "true" : "false"); });
  printer << "]";
}

//===----------------------------------------------------------------------===//
// Categories
//===----------------------------------------------------------------------===//

bool mlir::attn::isMaskAttr(Attribute attr) {
  return isa<FullAttr, EmptyAttr, AndAttr, OrAttr, NotAttr, CausalAttr,
             WindowAttr, KeyPrefixAttr, QueryPrefixAttr, DilatedAttr,
             PowerAttr, NeighborhoodAttr, VaryingWindowAttr, HeadsAttr,
             DocumentAttr, DenseAttr, BlocksAttr, TokensAttr, PyramidAttr,
             KeepAttr, PredicateAttr>(attr);
}

bool mlir::attn::isScoreModAttr(Attribute attr) {
  return isa<TemperatureAttr, BiasAttr, AlibiAttr, RelPosAttr, SoftcapAttr,
             DecayAttr, ScoreFnAttr>(attr);
}

bool mlir::attn::isNormAttr(Attribute attr) {
  return isa<SoftmaxAttr, SinkSoftmaxAttr, ClippedSoftmaxAttr,
             AffineSoftmaxAttr, SigmoidAttr>(attr);
}

bool mlir::attn::isGateAttr(Attribute attr) { return isa<OutputGateAttr>(attr); }

//===----------------------------------------------------------------------===//
// Folding helpers
//===----------------------------------------------------------------------===//

namespace {
/// Walks the slots of one attribute in order while it folds constants.
class SlotFolder {
public:
  explicit SlotFolder(ArrayRef<Attribute> constants) : constants(constants) {}

  /// If `value` is `?`, consumes its slot and folds a constant that is at
  /// least `minValue`.
  void foldInt(int64_t &value, int64_t minValue) {
    if (!ShapedType::isDynamic(value))
      return;
    auto c = dyn_cast_or_null<IntegerAttr>(constants[next++]);
    if (!c || c.getValue().getSignificantBits() > 64 ||
        c.getValue().getSExtValue() < minValue)
      return;
    value = c.getValue().getSExtValue();
    folded = true;
  }

  /// If `value` is `?`, consumes its slot and folds a constant accepted by
  /// `valid`.
  void foldFloat(FloatAttr &value, function_ref<bool(double)> valid) {
    if (value)
      return;
    auto c = dyn_cast_or_null<FloatAttr>(constants[next++]);
    if (!c || !valid(c.getValueAsDouble()))
      return;
    value = FloatAttr::get(Float64Type::get(c.getContext()),
                           c.getValueAsDouble());
    folded = true;
  }

  bool anyFolded() const { return folded; }

private:
  ArrayRef<Attribute> constants;
  unsigned next = 0;
  bool folded = false;
};

SlotDim dim(Extent extent, bool broadcast = false) {
  return SlotDim{extent, broadcast, 0};
}
SlotDim fixedDim(int64_t size) { return SlotDim{Extent::Fixed, false, size}; }

constexpr auto kInt = SlotElement::Integer;
constexpr auto kFloat = SlotElement::Float;
constexpr auto kBool = SlotElement::Bool;

bool isPositive(double v) { return v > 0.0; }
bool isAnything(double) { return true; }
} // namespace

SmallVector<OperandSlot> mlir::attn::getSlots(Attribute attr) {
  SmallVector<OperandSlot> slots;
  if (auto iface = dyn_cast_or_null<OperandSlotsAttrInterface>(attr))
    iface.getOperandSlots(slots);
  return slots;
}

void mlir::attn::walkMaskLeaves(
    Attribute mask, ValueRange operands,
    function_ref<void(Attribute, ValueRange)> visit) {
  ArrayRef<Attribute> children;
  if (auto conj = dyn_cast<AndAttr>(mask))
    children = conj.getMasks();
  else if (auto disj = dyn_cast<OrAttr>(mask))
    children = disj.getMasks();
  else if (auto neg = dyn_cast<NotAttr>(mask))
    return walkMaskLeaves(neg.getMask(), operands, visit);
  else
    return visit(mask, operands);
  for (Attribute child : children) {
    size_t n = getSlots(child).size();
    walkMaskLeaves(child, operands.take_front(n), visit);
    operands = operands.drop_front(n);
  }
}

Attribute mlir::attn::mapMaskLeaves(
    Attribute mask, ValueRange operands, SmallVectorImpl<Value> &result,
    function_ref<Attribute(Attribute, ValueRange, SmallVectorImpl<Value> &)>
        leaf) {
  size_t at = 0;
  std::function<Attribute(Attribute)> visit = [&](Attribute attr) {
    auto children = [&](ArrayRef<Attribute> masks) {
      SmallVector<Attribute> mapped;
      for (Attribute child : masks)
        mapped.push_back(visit(child));
      return mapped;
    };
    MLIRContext *context = attr.getContext();
    if (auto conj = dyn_cast<AndAttr>(attr))
      return Attribute(AndAttr::get(context, children(conj.getMasks())));
    if (auto disj = dyn_cast<OrAttr>(attr))
      return Attribute(OrAttr::get(context, children(disj.getMasks())));
    if (auto neg = dyn_cast<NotAttr>(attr))
      return Attribute(NotAttr::get(context, visit(neg.getMask())));
    size_t n = getSlots(attr).size();
    Attribute mapped = leaf(attr, operands.slice(at, n), result);
    at += n;
    return mapped;
  };
  return visit(mask);
}

/// Folds the children of a composite mask; returns the new children, or
/// nothing when no child changed.
static std::optional<SmallVector<Attribute>>
foldChildren(ArrayRef<Attribute> children, ArrayRef<Attribute> constants) {
  SmallVector<Attribute> result;
  bool changed = false;
  for (Attribute child : children) {
    size_t n = getSlots(child).size();
    Attribute folded;
    if (auto iface = dyn_cast<OperandSlotsAttrInterface>(child))
      folded = iface.foldConstantSlots(constants.take_front(n));
    constants = constants.drop_front(n);
    changed |= static_cast<bool>(folded);
    result.push_back(folded ? folded : child);
  }
  if (!changed)
    return std::nullopt;
  return result;
}

static LogicalResult
verifyMaskChildren(function_ref<InFlightDiagnostic()> emitError,
                   StringRef name, ArrayRef<Attribute> masks) {
  if (masks.empty())
    return emitError() << "expected at least one mask in '" << name << "'";
  for (Attribute mask : masks)
    if (!isMaskAttr(mask))
      return emitError() << "expected mask attribute in '" << name
                         << "', got " << mask;
  return success();
}

//===----------------------------------------------------------------------===//
// Mask algebra
//===----------------------------------------------------------------------===//

LogicalResult AndAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                              ArrayRef<Attribute> masks) {
  return verifyMaskChildren(emitError, "and", masks);
}

void AndAttr::getOperandSlots(SmallVectorImpl<OperandSlot> &slots) const {
  for (Attribute mask : getMasks())
    slots.append(getSlots(mask));
}

Attribute AndAttr::foldConstantSlots(ArrayRef<Attribute> constants) const {
  if (auto masks = foldChildren(getMasks(), constants))
    return AndAttr::get(getContext(), *masks);
  return {};
}

LogicalResult OrAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                             ArrayRef<Attribute> masks) {
  return verifyMaskChildren(emitError, "or", masks);
}

void OrAttr::getOperandSlots(SmallVectorImpl<OperandSlot> &slots) const {
  for (Attribute mask : getMasks())
    slots.append(getSlots(mask));
}

Attribute OrAttr::foldConstantSlots(ArrayRef<Attribute> constants) const {
  if (auto masks = foldChildren(getMasks(), constants))
    return OrAttr::get(getContext(), *masks);
  return {};
}

LogicalResult NotAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                              Attribute mask) {
  return verifyMaskChildren(emitError, "not", mask);
}

void NotAttr::getOperandSlots(SmallVectorImpl<OperandSlot> &slots) const {
  slots.append(getSlots(getMask()));
}

Attribute NotAttr::foldConstantSlots(ArrayRef<Attribute> constants) const {
  if (auto masks = foldChildren(getMask(), constants))
    return NotAttr::get(getContext(), masks->front());
  return {};
}

//===----------------------------------------------------------------------===//
// Closed-form masks
//===----------------------------------------------------------------------===//

void CausalAttr::getOperandSlots(SmallVectorImpl<OperandSlot> &slots) const {
  if (ShapedType::isDynamic(getOffset()))
    slots.push_back(OperandSlot::dynamic("causal diagonal offset", kInt));
}

Attribute CausalAttr::foldConstantSlots(ArrayRef<Attribute> constants) const {
  SlotFolder folder(constants);
  int64_t offset = getOffset();
  folder.foldInt(offset, std::numeric_limits<int64_t>::min() + 1);
  if (!folder.anyFolded())
    return {};
  return CausalAttr::get(getContext(), getAlign(), offset);
}

LogicalResult WindowAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                 int64_t left, int64_t right, Align,
                                 int64_t) {
  if (!ShapedType::isDynamic(left) && left < 0)
    return emitError() << "expected non-negative window left size, got "
                       << left;
  if (!ShapedType::isDynamic(right) && right < 0)
    return emitError() << "expected non-negative window right size, got "
                       << right;
  return success();
}

void WindowAttr::getOperandSlots(SmallVectorImpl<OperandSlot> &slots) const {
  if (ShapedType::isDynamic(getLeft()))
    slots.push_back(OperandSlot::dynamic("window left size", kInt));
  if (ShapedType::isDynamic(getRight()))
    slots.push_back(OperandSlot::dynamic("window right size", kInt));
  if (ShapedType::isDynamic(getOffset()))
    slots.push_back(OperandSlot::dynamic("window diagonal offset", kInt));
}

Attribute WindowAttr::foldConstantSlots(ArrayRef<Attribute> constants) const {
  SlotFolder folder(constants);
  int64_t left = getLeft(), right = getRight(), offset = getOffset();
  folder.foldInt(left, 0);
  folder.foldInt(right, 0);
  folder.foldInt(offset, std::numeric_limits<int64_t>::min() + 1);
  if (!folder.anyFolded())
    return {};
  return WindowAttr::get(getContext(), left, right, getAlign(), offset);
}

static LogicalResult verifyPrefix(function_ref<InFlightDiagnostic()> emitError,
                                  int64_t len) {
  if (!ShapedType::isDynamic(len) && len < 0)
    return emitError() << "expected non-negative prefix length, got " << len;
  return success();
}

static OperandSlot prefixSlot(StringRef role) {
  OperandSlot slot = OperandSlot::dynamic(role, kInt);
  slot.allowTensor = true;
  slot.shape = {dim(Extent::Batch)};
  return slot;
}

LogicalResult KeyPrefixAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                    int64_t len) {
  return verifyPrefix(emitError, len);
}

void KeyPrefixAttr::getOperandSlots(SmallVectorImpl<OperandSlot> &slots) const {
  if (ShapedType::isDynamic(getLen()))
    slots.push_back(prefixSlot("key prefix length"));
}

Attribute KeyPrefixAttr::foldConstantSlots(ArrayRef<Attribute> constants) const {
  SlotFolder folder(constants);
  int64_t len = getLen();
  folder.foldInt(len, 0);
  return folder.anyFolded() ? KeyPrefixAttr::get(getContext(), len)
                            : Attribute();
}

LogicalResult
QueryPrefixAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                        int64_t len) {
  return verifyPrefix(emitError, len);
}

void QueryPrefixAttr::getOperandSlots(
    SmallVectorImpl<OperandSlot> &slots) const {
  if (ShapedType::isDynamic(getLen()))
    slots.push_back(prefixSlot("query prefix length"));
}

Attribute
QueryPrefixAttr::foldConstantSlots(ArrayRef<Attribute> constants) const {
  SlotFolder folder(constants);
  int64_t len = getLen();
  folder.foldInt(len, 0);
  return folder.anyFolded() ? QueryPrefixAttr::get(getContext(), len)
                            : Attribute();
}

LogicalResult DilatedAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                  int64_t dilation, Align, int64_t) {
  if (!ShapedType::isDynamic(dilation) && dilation < 1)
    return emitError() << "expected positive dilation, got " << dilation;
  return success();
}

void DilatedAttr::getOperandSlots(SmallVectorImpl<OperandSlot> &slots) const {
  if (ShapedType::isDynamic(getDilation()))
    slots.push_back(OperandSlot::dynamic("dilation", kInt));
  if (ShapedType::isDynamic(getOffset()))
    slots.push_back(OperandSlot::dynamic("dilation diagonal offset", kInt));
}

Attribute DilatedAttr::foldConstantSlots(ArrayRef<Attribute> constants) const {
  SlotFolder folder(constants);
  int64_t dilation = getDilation(), offset = getOffset();
  folder.foldInt(dilation, 1);
  folder.foldInt(offset, std::numeric_limits<int64_t>::min() + 1);
  if (!folder.anyFolded())
    return {};
  return DilatedAttr::get(getContext(), dilation, getAlign(), offset);
}

LogicalResult PowerAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                int64_t block) {
  if (block < 1)
    return emitError() << "expected positive power block size, got " << block;
  return success();
}

LogicalResult
NeighborhoodAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                         ArrayRef<int64_t> grid, ArrayRef<int64_t> kernel,
                         ArrayRef<int64_t> dilation, ArrayRef<int64_t> stride,
                         ArrayRef<bool> causal) {
  size_t rank = grid.size();
  if (rank < 1 || rank > 3)
    return emitError() << "expected neighborhood grid of rank 1 to 3, got rank "
                       << rank;
  auto checkRank = [&](StringRef name, size_t size) -> LogicalResult {
    if (size != rank)
      return emitError() << "expected neighborhood " << name << " of rank "
                         << rank << " to match the grid, got rank " << size;
    return success();
  };
  if (failed(checkRank("kernel", kernel.size())) ||
      (!dilation.empty() && failed(checkRank("dilation", dilation.size()))) ||
      (!stride.empty() && failed(checkRank("stride", stride.size()))) ||
      (!causal.empty() && failed(checkRank("causal", causal.size()))))
    return failure();
  for (size_t axis = 0; axis < rank; ++axis) {
    int64_t d = dilation.empty() ? 1 : dilation[axis];
    int64_t s = stride.empty() ? 1 : stride[axis];
    if (grid[axis] < 1)
      return emitError() << "expected positive grid extent on axis " << axis
                         << ", got " << grid[axis];
    if (kernel[axis] < 1)
      return emitError() << "expected positive kernel size on axis " << axis
                         << ", got " << kernel[axis];
    if (d < 1)
      return emitError() << "expected positive dilation on axis " << axis
                         << ", got " << d;
    if (kernel[axis] > grid[axis] / d)
      return emitError() << "expected kernel * dilation (" << kernel[axis]
                         << " * " << d << ") to fit in the grid extent "
                         << grid[axis] << " on axis " << axis;
    if (s < 1 || s > kernel[axis])
      return emitError() << "expected stride between 1 and the kernel size "
                         << kernel[axis] << " on axis " << axis << ", got "
                         << s;
    // A stride group shares the window of its centre, which would let
    // earlier queries see later keys on a causal axis.
    if (s != 1 && !causal.empty() && causal[axis])
      return emitError() << "expected stride 1 on causal axis " << axis
                         << ", got " << s;
  }
  return success();
}

SmallVector<int64_t> NeighborhoodAttr::getDilationOrDefault() const {
  if (getDilation().empty())
    return SmallVector<int64_t>(getGrid().size(), 1);
  return llvm::to_vector(getDilation());
}

SmallVector<int64_t> NeighborhoodAttr::getStrideOrDefault() const {
  if (getStride().empty())
    return SmallVector<int64_t>(getGrid().size(), 1);
  return llvm::to_vector(getStride());
}

SmallVector<bool> NeighborhoodAttr::getCausalOrDefault() const {
  if (getCausal().empty())
    return SmallVector<bool>(getGrid().size(), false);
  return SmallVector<bool>(getCausal().begin(), getCausal().end());
}

int64_t NeighborhoodAttr::getNumTokens() const {
  int64_t n = 1;
  for (int64_t extent : getGrid())
    if (llvm::MulOverflow(n, extent, n))
      return ShapedType::kDynamic;
  return n;
}

LogicalResult
VaryingWindowAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                          ArrayRef<int64_t> grid, ArrayRef<int64_t> window,
                          int64_t ratio) {
  if (grid.empty() || grid.size() > 3)
    return emitError() << "expected varying-window grid of rank 1 to 3, got "
                          "rank "
                       << grid.size();
  if (window.size() != grid.size())
    return emitError() << "expected query window of rank " << grid.size()
                       << " to match the grid, got rank " << window.size();
  if (ratio < 1)
    return emitError() << "expected context ratio of at least 1, got "
                       << ratio;
  for (size_t axis = 0; axis < grid.size(); ++axis) {
    if (window[axis] < 1 || grid[axis] < 1 || grid[axis] % window[axis] != 0)
      return emitError() << "expected query window " << window[axis]
                         << " to divide the grid extent " << grid[axis]
                         << " on axis " << axis;
    if (window[axis] > grid[axis] / ratio)
      return emitError() << "expected context window " << window[axis] * ratio
                         << " to fit in the grid extent " << grid[axis]
                         << " on axis " << axis;
  }
  return success();
}

LogicalResult HeadsAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                int64_t begin, int64_t end) {
  if (begin < 0 || end <= begin)
    return emitError() << "expected head range with 0 <= begin < end, got ["
                       << begin << ", " << end << ")";
  return success();
}

//===----------------------------------------------------------------------===//
// Runtime-data masks
//===----------------------------------------------------------------------===//

/// A mask with one flag, `<keyword>` after its mnemonic where set.
template <typename MaskAttr>
static Attribute parseFlagged(AsmParser &parser, StringRef keyword) {
  bool flag = succeeded(parser.parseOptionalLess());
  if (flag && (parser.parseKeyword(keyword) || parser.parseGreater()))
    return {};
  return MaskAttr::get(parser.getContext(), flag);
}

Attribute DocumentAttr::parse(AsmParser &parser, Type) {
  return parseFlagged<DocumentAttr>(parser, "ranges");
}

void DocumentAttr::print(AsmPrinter &printer) const {
  if (getRanges())
    printer << "<ranges>";
}

void DocumentAttr::getOperandSlots(SmallVectorImpl<OperandSlot> &slots) const {
  slots.push_back(OperandSlot::tensor("query document ids", kInt,
                                      {dim(Extent::Batch),
                                       dim(Extent::QueryLen)}));
  slots.push_back(OperandSlot::tensor("key document ids", kInt,
                                      {dim(Extent::Batch),
                                       dim(Extent::KeyLen)}));
  // The ranges' producers are checked by the attention's verifier.
  if (getRanges()) {
    slots.push_back(OperandSlot::tensor("query document id ranges", kInt,
                                        {dim(Extent::Batch),
                                         dim(Extent::QueryBlocks), fixedDim(2)})
                        .withBlocks(kIdTile, kIdTile));
    slots.push_back(OperandSlot::tensor("key document id ranges", kInt,
                                        {dim(Extent::Batch),
                                         dim(Extent::KeyBlocks), fixedDim(2)})
                        .withBlocks(kIdTile, kIdTile));
  }
}

Attribute DenseAttr::parse(AsmParser &parser, Type) {
  return parseFlagged<DenseAttr>(parser, "tiles");
}

void DenseAttr::print(AsmPrinter &printer) const {
  if (getTiles())
    printer << "<tiles>";
}

void DenseAttr::getOperandSlots(SmallVectorImpl<OperandSlot> &slots) const {
  slots.push_back(OperandSlot::tensor(
      "dense mask", kBool,
      {dim(Extent::Batch, true), dim(Extent::QueryHeads, true),
       dim(Extent::QueryLen), dim(Extent::KeyLen)}));
  // The summary's words are checked by the attention's verifier.
  if (getTiles())
    slots.push_back(
        OperandSlot::tensor("dense mask tiles", kInt,
                            {dim(Extent::Batch, true),
                             dim(Extent::QueryHeads, true),
                             dim(Extent::QueryBlocks), dim(Extent::Any)})
            .withBlocks(kMaskTile, kMaskTile));
}

LogicalResult BlocksAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                 int64_t qBlock, int64_t kBlock) {
  if (qBlock < 1 || kBlock < 1)
    return emitError() << "expected positive block sizes, got " << qBlock
                       << " and " << kBlock;
  return success();
}

void BlocksAttr::getOperandSlots(SmallVectorImpl<OperandSlot> &slots) const {
  slots.push_back(OperandSlot::tensor("block counts", kInt,
                                      {dim(Extent::Batch),
                                       dim(Extent::HeadGroups),
                                       dim(Extent::QueryBlocks, true)})
                      .withBlocks(getQBlock(), getKBlock()));
  slots.push_back(OperandSlot::tensor("block indices", kInt,
                                      {dim(Extent::Batch),
                                       dim(Extent::HeadGroups),
                                       dim(Extent::QueryBlocks, true),
                                       dim(Extent::Any)})
                      .withBlocks(getQBlock(), getKBlock()));
}

void TokensAttr::getOperandSlots(SmallVectorImpl<OperandSlot> &slots) const {
  slots.push_back(OperandSlot::tensor("token counts", kInt,
                                      {dim(Extent::Batch),
                                       dim(Extent::HeadGroups),
                                       dim(Extent::QueryLen, true)}));
  slots.push_back(OperandSlot::tensor("token indices", kInt,
                                      {dim(Extent::Batch),
                                       dim(Extent::HeadGroups),
                                       dim(Extent::QueryLen, true),
                                       dim(Extent::Any)}));
}

LogicalResult PyramidAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                  int64_t qBlock, int64_t kBlock,
                                  int64_t maxLevel) {
  if (qBlock < 1 || kBlock < 1)
    return emitError() << "expected positive block sizes, got " << qBlock
                       << " and " << kBlock;
  if (maxLevel < 0 || (int64_t(1) << std::min<int64_t>(maxLevel, 62)) > kBlock)
    return emitError() << "expected max level between 0 and log2(k_block), "
                          "got "
                       << maxLevel;
  return success();
}

void PyramidAttr::getOperandSlots(SmallVectorImpl<OperandSlot> &slots) const {
  slots.push_back(OperandSlot::tensor("pyramid levels", kInt,
                                      {dim(Extent::Batch),
                                       dim(Extent::HeadGroups),
                                       dim(Extent::QueryBlocks),
                                       dim(Extent::KeyBlocks)})
                      .withBlocks(getQBlock(), getKBlock()));
}

void KeepAttr::getOperandSlots(SmallVectorImpl<OperandSlot> &slots) const {
  bool query = getSide() == Side::query;
  slots.push_back(OperandSlot::tensor(
      query ? "query keep flags" : "key keep flags", kBool,
      {dim(Extent::Batch), dim(Extent::HeadGroups),
       dim(query ? Extent::QueryLen : Extent::KeyLen)}));
}

//===----------------------------------------------------------------------===//
// Score modifiers
//===----------------------------------------------------------------------===//

/// A float that is a scalar or broadcasts to [B, Hq, Sq].
static OperandSlot rowScalarSlot(StringRef role) {
  OperandSlot slot = OperandSlot::tensor(
      role, kFloat,
      {dim(Extent::Batch, true), dim(Extent::QueryHeads, true),
       dim(Extent::QueryLen, true)});
  slot.allowScalar = true;
  return slot;
}

void TemperatureAttr::getOperandSlots(
    SmallVectorImpl<OperandSlot> &slots) const {
  slots.push_back(rowScalarSlot("temperature"));
}

void BiasAttr::getOperandSlots(SmallVectorImpl<OperandSlot> &slots) const {
  slots.push_back(OperandSlot::tensor(
      "score bias", kFloat,
      {dim(Extent::Batch, true), dim(Extent::QueryHeads, true),
       dim(Extent::QueryLen, true), dim(Extent::KeyLen, true)}));
}

void AlibiAttr::getOperandSlots(SmallVectorImpl<OperandSlot> &slots) const {
  slots.push_back(
      OperandSlot::tensor("alibi slopes", kFloat, {dim(Extent::QueryHeads)}));
}

LogicalResult RelPosAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                 int64_t maxDistance, int64_t buckets) {
  if (maxDistance < 1)
    return emitError() << "expected positive max distance, got " << maxDistance;
  if (buckets != 0 && buckets < 2)
    return emitError() << "expected 0 (no bucketing) or at least 2 buckets, "
                          "got "
                       << buckets;
  return success();
}

void RelPosAttr::getOperandSlots(SmallVectorImpl<OperandSlot> &slots) const {
  int64_t width = getBuckets() ? getBuckets() : 2 * getMaxDistance() + 1;
  slots.push_back(OperandSlot::tensor("relative position table", kFloat,
                                      {dim(Extent::QueryHeads),
                                       fixedDim(width)}));
}

LogicalResult SoftcapAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                  FloatAttr cap) {
  if (cap && !(cap.getValueAsDouble() > 0.0))
    return emitError() << "expected positive softcap, got "
                       << cap.getValueAsDouble();
  return success();
}

void SoftcapAttr::getOperandSlots(SmallVectorImpl<OperandSlot> &slots) const {
  if (!getCap())
    slots.push_back(OperandSlot::dynamic("softcap", kFloat));
}

Attribute SoftcapAttr::foldConstantSlots(ArrayRef<Attribute> constants) const {
  SlotFolder folder(constants);
  FloatAttr cap = getCap();
  folder.foldFloat(cap, isPositive);
  return folder.anyFolded() ? SoftcapAttr::get(getContext(), cap) : Attribute();
}

LogicalResult DecayAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                Distance distance, ArrayRef<int64_t> grid) {
  if (distance == Distance::manhattan && (grid.size() < 2 || grid.size() > 3))
    return emitError() << "expected a grid of rank 2 or 3 for manhattan "
                          "distance, got rank "
                       << grid.size();
  if (distance == Distance::abs && !grid.empty())
    return emitError() << "expected no grid for abs distance";
  for (int64_t extent : grid)
    if (extent < 1)
      return emitError() << "expected positive grid extents, got " << extent;
  return success();
}

void DecayAttr::getOperandSlots(SmallVectorImpl<OperandSlot> &slots) const {
  slots.push_back(
      OperandSlot::tensor("decay gamma", kFloat, {dim(Extent::QueryHeads)}));
}

//===----------------------------------------------------------------------===//
// Normalizations and gates
//===----------------------------------------------------------------------===//

void SinkSoftmaxAttr::getOperandSlots(
    SmallVectorImpl<OperandSlot> &slots) const {
  if (getLogit())
    return;
  OperandSlot slot = OperandSlot::dynamic("sink logit", kFloat);
  slot.allowTensor = true;
  slot.shape = {dim(Extent::QueryHeads)};
  slots.push_back(slot);
}

Attribute
SinkSoftmaxAttr::foldConstantSlots(ArrayRef<Attribute> constants) const {
  SlotFolder folder(constants);
  FloatAttr logit = getLogit();
  folder.foldFloat(logit, isAnything);
  return folder.anyFolded() ? SinkSoftmaxAttr::get(getContext(), logit)
                            : Attribute();
}

static bool isValidZeta(double zeta) { return zeta >= 1.0; }
static bool isValidGamma(double gamma) { return gamma <= 0.0; }

LogicalResult
ClippedSoftmaxAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                           FloatAttr zeta, FloatAttr gamma) {
  if (zeta && !isValidZeta(zeta.getValueAsDouble()))
    return emitError() << "expected zeta >= 1, got " << zeta.getValueAsDouble();
  if (gamma && !isValidGamma(gamma.getValueAsDouble()))
    return emitError() << "expected gamma <= 0, got "
                       << gamma.getValueAsDouble();
  return success();
}

void ClippedSoftmaxAttr::getOperandSlots(
    SmallVectorImpl<OperandSlot> &slots) const {
  if (!getZeta())
    slots.push_back(OperandSlot::dynamic("clipped softmax zeta", kFloat));
  if (!getGamma())
    slots.push_back(OperandSlot::dynamic("clipped softmax gamma", kFloat));
}

Attribute
ClippedSoftmaxAttr::foldConstantSlots(ArrayRef<Attribute> constants) const {
  SlotFolder folder(constants);
  FloatAttr zeta = getZeta(), gamma = getGamma();
  folder.foldFloat(zeta, isValidZeta);
  folder.foldFloat(gamma, isValidGamma);
  return folder.anyFolded() ? ClippedSoftmaxAttr::get(getContext(), zeta, gamma)
                            : Attribute();
}

void AffineSoftmaxAttr::getOperandSlots(
    SmallVectorImpl<OperandSlot> &slots) const {
  slots.push_back(rowScalarSlot("affine softmax alpha"));
  slots.push_back(rowScalarSlot("affine softmax beta"));
}

void SigmoidAttr::getOperandSlots(SmallVectorImpl<OperandSlot> &slots) const {
  if (!getBias())
    slots.push_back(OperandSlot::dynamic("sigmoid bias", kFloat));
}

Attribute SigmoidAttr::foldConstantSlots(ArrayRef<Attribute> constants) const {
  SlotFolder folder(constants);
  FloatAttr bias = getBias();
  folder.foldFloat(bias, isAnything);
  return folder.anyFolded() ? SigmoidAttr::get(getContext(), bias) : Attribute();
}

void OutputGateAttr::getOperandSlots(
    SmallVectorImpl<OperandSlot> &slots) const {
  SmallVector<SlotDim> shape = {dim(Extent::Batch), dim(Extent::QueryLen),
                                dim(Extent::QueryHeads)};
  if (getGranularity() == GateGranularity::element)
    shape.push_back(dim(Extent::ValueDim));
  slots.push_back(OperandSlot::tensor("output gate", kFloat, shape));
}

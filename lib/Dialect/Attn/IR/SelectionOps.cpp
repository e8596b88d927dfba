//===- SelectionOps.cpp - verifiers of the selection ops ------------------===//
//
// Verification of the ops that compute index sets (sections D, G of the
// catalog), attn.pool and attn.linear_attention. Their results are plain
// integer tensors in the shapes `#attn.tokens` and `#attn.blocks` read.
//
//===----------------------------------------------------------------------===//

#include "VerifyUtils.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::checks;

static constexpr int64_t kDyn = ShapedType::kDynamic;

static bool isF32(Type type) { return type.isF32(); }
static bool isI1(Type type) { return type.isInteger(1); }
static bool isI8(Type type) { return type.isInteger(8); }

/// Checks an integer result of the given shape.
static LogicalResult verifyIndexResult(Operation *op, StringRef name,
                                       Value value, ArrayRef<int64_t> shape) {
  if (failed(verifyShape(op, name, value.getType(), shape)))
    return failure();
  return verifyElement(op, name, value.getType(), isIntegerElement,
                       "an integer");
}

/// Checks `1 <= value <= limit` (limit may be dynamic).
static LogicalResult verifyBudget(Operation *op, StringRef name, int64_t value,
                                  int64_t limit, StringRef limitName) {
  if (value < 1)
    return op->emitOpError() << "expected positive " << name << ", got "
                             << value;
  if (!ShapedType::isDynamic(limit) && value > limit)
    return op->emitOpError() << "expected " << name << " to be at most "
                             << limitName << " " << limit << ", got " << value;
  return success();
}

static LogicalResult verifyBlockSizes(Operation *op, int64_t qBlock,
                                      int64_t kBlock) {
  if (qBlock < 1 || kBlock < 1)
    return op->emitOpError() << "expected positive block sizes, got "
                             << qBlock << " and " << kBlock;
  return success();
}

/// Common checks of the block selection ops; returns the extents.
template <typename OpT>
static FailureOr<Extents> verifyBlockSelect(OpT op, int64_t budget) {
  FailureOr<Extents> e =
      verifyQueryKey(op.getOperation(), op.getQuery(), op.getKey());
  int64_t qBlock = op.getQBlockAttr().getInt();
  int64_t kBlock = op.getKBlockAttr().getInt();
  if (failed(e) || failed(verifyBlockSizes(op, qBlock, kBlock)))
    return failure();
  int64_t qBlocks = numBlocks(e->queryLen, qBlock);
  int64_t kBlocks = numBlocks(e->keyLen, kBlock);
  if (failed(verifyBudget(op, "k", budget, kBlocks,
                          "the number of key blocks")) ||
      failed(verifyMask(op, op.getMaskAttr(), op.getMaskOperands(), *e)) ||
      failed(verifyIndexResult(op, "counts", op.getCounts(),
                               {e->batch, e->queryHeads, qBlocks})) ||
      failed(verifyIndexResult(op, "indices", op.getIndices(),
                               {e->batch, e->queryHeads, qBlocks, budget})))
    return failure();
  return e;
}

LogicalResult BlockTopkOp::verify() {
  return verifyBlockSelect(*this, getKAttr().getInt());
}

LogicalResult HipTopkOp::verify() {
  if (getBranchAttr().getInt() < 2)
    return emitOpError() << "expected branch factor of at least 2, got "
                         << getBranchAttr().getInt();
  return verifyBlockSelect(*this, getKAttr().getInt());
}

LogicalResult ThresholdBlocksOp::verify() {
  double gamma = getGamma().convertToDouble();
  if (!(gamma > 0.0 && gamma <= 1.0))
    return emitOpError() << "expected gamma in (0, 1], got " << gamma;
  auto k = dyn_cast<RankedTensorType>(getKey().getType());
  int64_t kBlocks = k && k.getRank() == 4
                        ? numBlocks(k.getDimSize(2), getKBlockAttr().getInt())
                        : kDyn;
  if (failed(verifyBudget(*this, "min_blocks", getMinBlocksAttr().getInt(), kBlocks,
                          "the number of key blocks")))
    return failure();
  // The budget is data dependent: indices have room for every key block.
  return verifyBlockSelect(*this, ShapedType::isDynamic(kBlocks)
                                      ? getMinBlocksAttr().getInt()
                                      : kBlocks);
}

LogicalResult PyramidLevelsOp::verify() {
  FailureOr<Extents> e = verifyQueryKey(*this, getQuery(), getKey());
  if (failed(e) || failed(verifyBlockSizes(*this, getQBlockAttr().getInt(), getKBlockAttr().getInt())))
    return failure();
  ArrayRef<Attribute> thresholds = getThresholds().getValue();
  if (thresholds.empty())
    return emitOpError("expected at least one threshold");
  double previous = 1.0;
  for (auto [level, attr] : llvm::enumerate(thresholds)) {
    double t = cast<FloatAttr>(attr).getValueAsDouble();
    if (!(t > 0.0 && t <= previous) || (level > 0 && t == previous))
      return emitOpError() << "expected thresholds in (0, 1] and strictly "
                              "decreasing, got "
                           << t << " at level " << level;
    previous = t;
  }
  if ((int64_t(1) << std::min<size_t>(thresholds.size() - 1, 62)) >
      getKBlockAttr().getInt())
    return emitOpError() << "expected at most log2(k_block) + 1 = "
                         << llvm::Log2_64(getKBlockAttr().getInt()) + 1
                         << " levels, got " << thresholds.size();
  if (failed(verifyMask(*this, getMaskAttr(), getMaskOperands(), *e)) ||
      failed(verifyShape(*this, "levels", getLevels().getType(),
                         {e->batch, e->queryHeads,
                          numBlocks(e->queryLen, getQBlockAttr().getInt()),
                          numBlocks(e->keyLen, getKBlockAttr().getInt())})))
    return failure();
  return verifyElement(*this, "levels", getLevels().getType(), isI8, "i8");
}

LogicalResult IndexerTopkOp::verify() {
  Operation *op = getOperation();
  if (failed(verifyRank(op, "query", getQuery().getType(), 4)) ||
      failed(verifyRank(op, "key", getKey().getType(), 3)) ||
      failed(verifyRank(op, "weights", getWeights().getType(), 3)) ||
      failed(verifyElement(op, "query", getQuery().getType(), isComputeFloat,
                           "f16, bf16 or f32")) ||
      failed(verifyElement(op, "key", getKey().getType(), isComputeFloat,
                           "f16, bf16 or f32")) ||
      failed(verifyElement(op, "weights", getWeights().getType(),
                           isComputeFloat, "f16, bf16 or f32")))
    return failure();
  auto q = cast<RankedTensorType>(getQuery().getType());
  auto k = cast<RankedTensorType>(getKey().getType());
  int64_t batch = q.getDimSize(0), queryLen = q.getDimSize(1);
  int64_t heads = q.getDimSize(2), dim = q.getDimSize(3);
  int64_t keys = k.getDimSize(1);
  if (failed(verifyShape(op, "key", k, {batch, kDyn, dim})) ||
      failed(verifyShape(op, "weights", getWeights().getType(),
                         {batch, queryLen, heads})))
    return failure();
  if (getKeyBlockAttr().getInt() < 1)
    return emitOpError() << "expected positive key_block, got "
                         << getKeyBlockAttr().getInt();
  std::optional<int64_t> blockSize;
  if (IntegerAttr attr = getBlockSizeAttr())
    blockSize = attr.getInt();
  if (static_cast<bool>(getBlockCounts()) != blockSize.has_value())
    return emitOpError("expected block_size exactly when within(...) is "
                       "given");
  if (blockSize && *blockSize < 1)
    return emitOpError() << "expected positive block_size, got " << *blockSize;
  if (failed(verifyBudget(op, "k", getKAttr().getInt(), keys, "the number of keys")))
    return failure();
  if (getBlockCounts()) {
    auto indices = dyn_cast<RankedTensorType>(getBlockIndices().getType());
    int64_t kept = indices && indices.getRank() == 4 ? indices.getDimSize(3)
                                                     : kDyn;
    if (failed(verifyIndexResult(op, "block counts", getBlockCounts(),
                                 {batch, 1, queryLen})) ||
        failed(verifyIndexResult(op, "block indices", getBlockIndices(),
                                 {batch, 1, queryLen, kept})))
      return failure();
    int64_t candidates;
    if (!ShapedType::isDynamic(kept) &&
        !llvm::MulOverflow(kept, *blockSize, candidates) &&
        failed(verifyBudget(op, "k", getKAttr().getInt(), candidates,
                            "the number of keys in the kept blocks")))
      return failure();
  }
  Extents e;
  e.batch = batch;
  e.queryHeads = 1;
  e.queryLen = queryLen;
  e.keyLen = getKeyBlockAttr().getInt() == 1 ? keys : kDyn;
  if (failed(verifyMask(op, getMaskAttr(), getMaskOperands(), e)))
    return failure();
  if (failed(verifyIndexResult(op, "counts", getCounts(),
                               {batch, 1, queryLen})))
    return failure();
  return verifyIndexResult(op, "indices", getIndices(),
                           {batch, 1, queryLen, getKAttr().getInt()});
}

LogicalResult PoolOp::verify() {
  auto in = cast<RankedTensorType>(getInput().getType());
  int64_t dim = getDimAttr().getInt();
  if (dim < 0 || dim >= in.getRank())
    return emitOpError() << "expected pooled dimension in [0, " << in.getRank()
                         << "), got " << dim;
  if (getBlockAttr().getInt() < 1)
    return emitOpError() << "expected positive block, got " << getBlockAttr().getInt();
  if (failed(verifyElement(*this, "input", in, isComputeFloat,
                           "f16, bf16 or f32")))
    return failure();
  SmallVector<int64_t> shape = llvm::to_vector(in.getShape());
  shape[dim] = numBlocks(shape[dim], getBlockAttr().getInt());
  if (failed(verifyShape(*this, "output", getOutput().getType(), shape)))
    return failure();
  if (getElementTypeOrSelf(getOutput().getType()) != in.getElementType())
    return emitOpError() << "expected output element type "
                         << in.getElementType() << ", got "
                         << getElementTypeOrSelf(getOutput().getType());
  return success();
}

LogicalResult MaskTilesOp::verify() {
  Type mask = getMask().getType(), tiles = getTiles().getType();
  if (failed(verifyRank(*this, "mask", mask, 4)) ||
      failed(verifyElement(
          *this, "mask", mask, [](Type t) { return t.isInteger(1); }, "i1")) ||
      failed(verifyElement(
          *this, "tiles", tiles, [](Type t) { return t.isInteger(32); },
          "i32")))
    return failure();
  ArrayRef<int64_t> shape = cast<RankedTensorType>(mask).getShape();
  int64_t words = maskTileWords(shape[3]);
  return verifyShape(*this, "tiles", tiles,
                     {shape[0], shape[1], numBlocks(shape[2], kMaskTile),
                      ShapedType::isDynamic(words) ? words : 2 * words});
}

LogicalResult IdRangesOp::verify() {
  Type ids = getIds().getType(), ranges = getRanges().getType();
  if (failed(verifyRank(*this, "ids", ids, 2)) ||
      failed(verifyElement(
          *this, "ids", ids, [](Type t) { return t.isInteger(32); }, "i32")) ||
      failed(verifyElement(
          *this, "ranges", ranges, [](Type t) { return t.isInteger(32); },
          "i32")))
    return failure();
  ArrayRef<int64_t> shape = cast<RankedTensorType>(ids).getShape();
  return verifyShape(*this, "ranges", ranges,
                     {shape[0], numBlocks(shape[1], kIdTile), 2});
}

LogicalResult QueryTopkOp::verify() {
  FailureOr<Extents> e = verifyQueryKey(*this, getQuery(), getKey());
  if (failed(e) || failed(verifyBudget(*this, "max_tokens", getMaxTokensAttr().getInt(),
                                       e->keyLen, "the number of keys")))
    return failure();
  if (FloatAttr attr = getThresholdAttr()) {
    double t = attr.getValueAsDouble();
    if (!(t > 0.0 && t <= 1.0))
      return emitOpError() << "expected threshold in (0, 1], got " << t;
  }
  if (failed(verifyIndexResult(*this, "counts", getCounts(), {e->batch, 1, 1})))
    return failure();
  return verifyIndexResult(*this, "indices", getIndices(),
                           {e->batch, 1, 1, getMaxTokensAttr().getInt()});
}

LogicalResult ValueTopkOp::verify() {
  if (failed(verifyRank(*this, "value", getValue().getType(), 4)) ||
      failed(verifyRank(*this, "weight", getWeight().getType(), 2)) ||
      failed(verifyElement(*this, "value", getValue().getType(),
                           isComputeFloat, "f16, bf16 or f32")) ||
      failed(verifyElement(*this, "weight", getWeight().getType(),
                           isComputeFloat, "f16, bf16 or f32")))
    return failure();
  auto v = cast<RankedTensorType>(getValue().getType());
  Extents e;
  e.batch = v.getDimSize(0);
  e.queryHeads = v.getDimSize(1);
  e.keyLen = v.getDimSize(2);
  e.valueDim = v.getDimSize(3);
  if (failed(verifyShape(*this, "weight", getWeight().getType(),
                         {e.queryHeads, e.valueDim})) ||
      failed(verifyBudget(*this, "k", getKAttr().getInt(), e.keyLen, "the number of keys")) ||
      failed(verifyMask(*this, getMaskAttr(), getMaskOperands(), e)) ||
      failed(verifyIndexResult(*this, "counts", getCounts(),
                               {e.batch, e.queryHeads, 1})) ||
      failed(verifyIndexResult(*this, "indices", getIndices(),
                               {e.batch, e.queryHeads, 1, getKAttr().getInt()})) ||
      failed(verifyShape(*this, "scores", getScores().getType(),
                         {e.batch, e.queryHeads, e.keyLen})))
    return failure();
  return verifyElement(*this, "scores", getScores().getType(), isF32, "f32");
}

LogicalResult HeadTopkOp::verify() {
  if (failed(verifyRank(*this, "logits", getLogits().getType(), 3)) ||
      failed(verifyElement(*this, "logits", getLogits().getType(),
                           isComputeFloat, "f16, bf16 or f32")))
    return failure();
  auto logits = cast<RankedTensorType>(getLogits().getType());
  int64_t batch = logits.getDimSize(0), len = logits.getDimSize(1),
          heads = logits.getDimSize(2);
  if (failed(verifyBudget(*this, "k", getKAttr().getInt(), heads, "the number of heads")) ||
      failed(verifyShape(*this, "keep", getKeep().getType(),
                         {batch, heads, len})) ||
      failed(verifyElement(*this, "keep", getKeep().getType(), isI1, "i1")) ||
      failed(verifyShape(*this, "weights", getWeights().getType(),
                         {batch, len, heads})))
    return failure();
  return verifyElement(*this, "weights", getWeights().getType(), isF32, "f32");
}

LogicalResult LinearAttentionOp::verify() {
  FailureOr<Extents> e = verifyQueryKey(*this, getQuery(), getKey());
  if (failed(e))
    return failure();
  if (!ShapedType::isDynamic(e->queryLen) && !ShapedType::isDynamic(e->keyLen) &&
      e->queryLen != e->keyLen)
    return emitOpError() << "expected equal query and key lengths for linear "
                            "attention, got "
                         << e->queryLen << " and " << e->keyLen;
  if (getChunkAttr().getInt() < 1)
    return emitOpError() << "expected positive chunk, got " << getChunkAttr().getInt();
  auto k = cast<RankedTensorType>(getKey().getType());
  if (failed(verifyRank(*this, "value", getValue().getType(), 4)) ||
      failed(verifyShape(*this, "value", getValue().getType(),
                         {k.getDimSize(0), k.getDimSize(1), k.getDimSize(2),
                          kDyn})))
    return failure();
  if (getElementTypeOrSelf(getValue().getType()) !=
          getElementTypeOrSelf(getQuery().getType()) ||
      getElementTypeOrSelf(getKey().getType()) !=
          getElementTypeOrSelf(getQuery().getType()))
    return emitOpError("expected key and value element types to match the "
                       "query element type");
  int64_t valueDim = cast<RankedTensorType>(getValue().getType()).getDimSize(3);
  if (Value decay = getDecay())
    if (failed(verifyShape(*this, "decay", decay.getType(),
                           {e->batch, e->queryHeads, e->queryLen})) ||
        failed(verifyElement(*this, "decay", decay.getType(), isComputeFloat,
                             "f16, bf16 or f32")))
      return failure();
  if (failed(verifyShape(*this, "output", getOutput().getType(),
                         {e->batch, e->queryHeads, e->queryLen, valueDim})))
    return failure();
  return verifyElement(*this, "output", getOutput().getType(), isComputeFloat,
                       "f16, bf16 or f32");
}

//===- TokenOrder.cpp - the order in which work items visit tokens --------===//
//
// Two reorderings make a structured sparse mask's tiles dense without
// moving data: residue groups (a work item sees the strided tokens r,
// r + R, ... through strided views of Q, K, V, O and LSE) and patches (a
// tile is a box of the grid: positions count tokens patch by patch and
// every load and store maps them to the row-major position). Both are
// undone by the same addressing on the way out, so O and LSE need no
// scatter.
//
//===----------------------------------------------------------------------===//

#include "StreamingLowering.h"

using namespace mlir;
using namespace mlir::attn;

StreamingLowering::GroupViews
StreamingLowering::viewResidueGroup(Value group, int64_t groups,
                                    Value &queryLen, Value &keyLen) {
  GroupViews saved{q, k, v, out, lse};
  // Group r of a sequence of S tokens: tokens r + R t, t < ceil((S - r) / R)
  // (S + R - 1 - r >= 0: no negative division).
  auto groupLen = [&](Value len) -> Value {
    return arith::DivUIOp::create(
        b, loc,
        arith::SubIOp::create(
            b, loc, arith::AddIOp::create(b, loc, len, idx(groups - 1)), group),
        idx(groups));
  };
  queryLen = groupLen(queryLen);
  keyLen = groupLen(keyLen);
  // The view of `x` with its sequence dimension `seq` restricted to the
  // group: offset r, stride R, `len` entries.
  auto view = [&](Value x, unsigned seq, Value len) -> Value {
    if (!x)
      return x;
    auto type = cast<MemRefType>(x.getType());
    SmallVector<OpFoldResult> offsets(type.getRank(), b.getIndexAttr(0));
    SmallVector<OpFoldResult> strides(type.getRank(), b.getIndexAttr(1));
    SmallVector<OpFoldResult> sizes;
    for (unsigned d = 0; d < type.getRank(); ++d)
      sizes.push_back(type.isDynamicDim(d)
                          ? OpFoldResult(dim(x, d))
                          : OpFoldResult(b.getIndexAttr(type.getDimSize(d))));
    offsets[seq] = group;
    strides[seq] = b.getIndexAttr(groups);
    sizes[seq] = len;
    return memref::SubViewOp::create(b, loc, x, offsets, sizes, strides);
  };
  unsigned qSeq = dimOrder(op.getQLayout()).seq;
  unsigned kSeq = dimOrder(op.getKvLayout()).seq;
  q = view(q, qSeq, queryLen);
  out = view(out, qSeq, queryLen);
  k = view(k, kSeq, keyLen);
  v = view(v, kSeq, keyLen);
  lse = view(lse, /*seq=*/2, queryLen);
  return saved;
}

Value StreamingLowering::tokenAt(Value s) {
  if (patches.empty())
    return s;
  auto [row, col] = patchCoordinates(b, loc, s, patches, patchGridCols);
  return arith::AddIOp::create(
      b, loc, arith::MulIOp::create(b, loc, row, idx(patchGridCols)), col);
}

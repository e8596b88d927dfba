//===- AttnToGPU.cpp - spec functions to GPU kernels ----------------------===//
//
// The GPU entry of the streaming lowering: every spec function becomes a
// `gpu.func` kernel in `gpu.module @attn_kernels`, on the same loop nest,
// tile classification and fused epilogue as the CPU kernels. Two bodies:
// the tensor-core body (StreamTilesMMA.cpp: a block of four warps per
// 64-query tile, or eight per 128) where it applies, else the row form,
// where a thread takes the work items (batch, head, query row)
// `t, t + T, ...`.
//
// The kernel records what a launcher needs: `known_block_size` (the block
// it must be launched with), `attn.q_tile` (query rows per work item),
// `attn.items_per_block`, `attn.shared_bytes` (dynamic shared memory) and
// `attn.layout` (where the batch, head and sequence sizes are in Q), from
// which the runtime computes the grid, `attn.kv_layout` where K/V differ
// (a paged pool), and `attn.packed_heads` where a work item holds the
// query heads of a KV head (its items are (batch, KV head, query tile)),
// and `attn.residue_groups` where the items are query tiles of residue
// groups (attn-group-residues).
//
//===----------------------------------------------------------------------===//

#include "StreamingLowering.h"
#include "attn/Conversion/Passes.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/BuiltinOps.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNLOWERTOGPUPASS
#include "attn/Conversion/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

/// The name of the kernel container.
static constexpr StringLiteral kKernelModule = "attn_kernels";

gpu::GPUFuncOp mlir::attn::createGPUKernelFunction(
    OpBuilder &b, func::FuncOp func, ArrayRef<Type> types, int64_t threads,
    int64_t queryTile, int64_t itemsPerBlock, int64_t sharedBytes,
    StringRef layout) {
  auto module = func->getParentOfType<ModuleOp>();
  module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                  b.getUnitAttr());
  auto kernels = module.lookupSymbol<gpu::GPUModuleOp>(kKernelModule);
  if (!kernels) {
    b.setInsertionPointToEnd(module.getBody());
    kernels = gpu::GPUModuleOp::create(b, module.getLoc(), kKernelModule);
  }
  b.setInsertionPointToEnd(kernels.getBody());
  auto kernel = gpu::GPUFuncOp::create(b, func.getLoc(), func.getName(),
                                       b.getFunctionType(types, {}));
  kernel->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  kernel.setKnownBlockSizeAttr(
      b.getDenseI32ArrayAttr({static_cast<int32_t>(threads), 1, 1}));
  kernel->setAttr("attn.q_tile", b.getI64IntegerAttr(queryTile));
  kernel->setAttr("attn.items_per_block", b.getI64IntegerAttr(itemsPerBlock));
  kernel->setAttr("attn.shared_bytes", b.getI64IntegerAttr(sharedBytes));
  kernel->setAttr("attn.layout", b.getStringAttr(layout));
  // Shared memory allows at most two such blocks per SM (228 KiB): let
  // ptxas use all 255 registers instead of its occupancy heuristic (168
  // for 128 threads, which spills the D = 128 tensor-core body).
  if (sharedBytes > 228 * 1024 / 3)
    kernel->setAttr("nvvm.maxnreg", b.getI32IntegerAttr(255));
  return kernel;
}

std::pair<Value, Value> mlir::attn::gpuGridThreads(OpBuilder &b,
                                                   Location loc) {
  using gpu::Dimension;
  Value block = gpu::BlockIdOp::create(b, loc, Dimension::x);
  Value blockSize = gpu::BlockDimOp::create(b, loc, Dimension::x);
  Value grid = gpu::GridDimOp::create(b, loc, Dimension::x);
  Value thread = arith::AddIOp::create(
      b, loc, arith::MulIOp::create(b, loc, block, blockSize),
      gpu::ThreadIdOp::create(b, loc, Dimension::x));
  return {thread, arith::MulIOp::create(b, loc, grid, blockSize)};
}

gpu::GPUFuncOp StreamingLowering::createGPUKernel(func::FuncOp func,
                                                  ArrayRef<Type> types) {
  int64_t threads = useMMA ? mmaThreads() : gpuBlockSize;
  gpu::GPUFuncOp kernel = createGPUKernelFunction(
      b, func, types, threads, queryTile, useMMA ? maskSharingHeads : threads,
      useMMA ? mmaSharedBytes() : 0, stringifyLayout(op.getQLayout()));
  if (op.getKvLayout() != op.getQLayout())
    kernel->setAttr("attn.kv_layout",
                    b.getStringAttr(stringifyLayout(op.getKvLayout())));
  if (packedHeads > 1)
    kernel->setAttr("attn.packed_heads", b.getI64IntegerAttr(packedHeads));
  if (std::optional<int64_t> groups = op.getResidueGroups())
    kernel->setAttr("attn.residue_groups", b.getI64IntegerAttr(*groups));
  return kernel;
}

std::pair<Value, Value> StreamingLowering::gpuThreadIndex() {
  if (useMMA) {
    // A block per work item; the thread's place in the block.
    using gpu::Dimension;
    mmaThread = gpu::ThreadIdOp::create(b, loc, Dimension::x);
    return {gpu::BlockIdOp::create(b, loc, Dimension::x),
            gpu::GridDimOp::create(b, loc, Dimension::x)};
  }
  return gpuGridThreads(b, loc);
}

namespace {
struct AttnLowerToGPUPass
    : mlir::attn::impl::AttnLowerToGPUPassBase<AttnLowerToGPUPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (failed(verifyTileSizes(module, /*queryTile=*/1, keyTile)))
      return signalPassFailure();
    if (blockSize < 32 || blockSize > 1024 || blockSize % 32 != 0) {
      module.emitError() << "expected block-size to be a multiple of 32 in "
                            "[32, 1024], got "
                         << static_cast<int64_t>(blockSize);
      return signalPassFailure();
    }
    if (mmaQueryTile != 0 && mmaQueryTile != 64 && mmaQueryTile != 128) {
      module.emitError() << "expected mma-q-tile to be 0, 64 or 128, got "
                         << static_cast<int64_t>(mmaQueryTile);
      return signalPassFailure();
    }
    if (mmaKeyTile != 0 && mmaKeyTile != 64 && (mmaKeyTile != 128 || !wgmma)) {
      module.emitError() << "expected mma-k-tile to be 0, 64 or (with wgmma) "
                            "128, got "
                         << static_cast<int64_t>(mmaKeyTile);
      return signalPassFailure();
    }
    IRRewriter rewriter(&getContext());
    // Programs (attn-split-program) are launched from the manifest: only
    // their steps become kernels.
    for (auto func : llvm::make_early_inc_range(module.getOps<func::FuncOp>()))
      if (func->hasAttr("attn.program"))
        func.erase();
    // Kernels are launched by the host: no control flow around them.
    WalkResult nested = module.walk([&](Operation *op) {
      if (!isa<AttnDialect>(op->getDialect()) ||
          isa<func::FuncOp>(op->getParentOp()) ||
          op->getParentOfType<AttentionOp>() ||
          op->getParentOfType<gpu::GPUModuleOp>())
        return WalkResult::advance();
      op->emitOpError("is inside control flow (")
          << op->getParentOp()->getName()
          << "), which the GPU cannot run: branch on a flag argument (an "
             "scf.if whose branches hold only attn ops, a program), or "
             "compile each variant as its own spec function";
      return WalkResult::interrupt();
    });
    if (nested.wasInterrupted())
      return signalPassFailure();
    SmallVector<Operation *> selections;
    module.walk([&](Operation *op) {
      if (isSelection(op))
        selections.push_back(op);
    });
    for (Operation *op : selections) {
      auto func = op->getParentOfType<func::FuncOp>();
      if (!func) {
        op->emitOpError("expected to be in a func.func (a spec function)");
        return signalPassFailure();
      }
      LogicalResult lowered =
          isa<PoolOp>(op)
              ? lowerSelectionToGPU(cast<PoolOp>(op), func, rewriter)
          : isa<IndexerTopkOp>(op)
              ? lowerSelectionToGPU(cast<IndexerTopkOp>(op), func, rewriter,
                                    mma)
          : isa<BlockTopkOp>(op)
              ? lowerSelectionToGPU(cast<BlockTopkOp>(op), func, rewriter)
          : isa<HipTopkOp>(op)
              ? lowerSelectionToGPU(cast<HipTopkOp>(op), func, rewriter)
          : isa<QueryTopkOp>(op)
              ? lowerSelectionToGPU(cast<QueryTopkOp>(op), func, rewriter)
          : isa<ValueTopkOp>(op)
              ? lowerSelectionToGPU(cast<ValueTopkOp>(op), func, rewriter)
          : isa<IdRangesOp>(op)
              ? lowerSelectionToGPU(cast<IdRangesOp>(op), func, rewriter)
          : isa<MaskTilesOp>(op)
              ? lowerSelectionToGPU(cast<MaskTilesOp>(op), func, rewriter)
          : isa<ThresholdBlocksOp>(op)
              ? lowerSelectionToGPU(cast<ThresholdBlocksOp>(op), func, rewriter)
          : isa<PyramidLevelsOp>(op)
              ? lowerSelectionToGPU(cast<PyramidLevelsOp>(op), func, rewriter)
          : isa<AttentionOp>(op)
              ? lowerSelectionToGPU(cast<AttentionOp>(op), func, rewriter, mma)
              : lowerSelectionRowsToGPU(op, func, rewriter);
      if (failed(lowered))
        return signalPassFailure();
    }
    SmallVector<LinearAttentionOp> linearOps;
    module.walk([&](LinearAttentionOp op) { linearOps.push_back(op); });
    for (LinearAttentionOp op : linearOps)
      if (failed(lowerLinearAttentionToGPU(op, rewriter, blockSize)))
        return signalPassFailure();
    SmallVector<AttentionOp> ops;
    module.walk([&](AttentionOp op) { ops.push_back(op); });
    for (AttentionOp op : ops) {
      auto func = op->getParentOfType<func::FuncOp>();
      if (!func) {
        op.emitOpError("expected to be in a func.func (a spec function)");
        return signalPassFailure();
      }
      // One query row per thread: the row form of the streaming body.
      StreamingLowering lowering(op, rewriter, /*queryTile=*/1, keyTile,
                                 /*tileBody=*/false, /*amx=*/false);
      lowering.setGPUOptions(blockSize, mma, mmaQueryTile, mmaKeyTile, wgmma,
                             splitKV, tma);
      if (failed(lowering.lowerToKernel(func, KernelTarget::GPU)))
        return signalPassFailure();
    }
  }
};
} // namespace

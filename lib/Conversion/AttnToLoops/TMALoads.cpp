//===- TMALoads.cpp - tiles loaded by the tensor memory accelerator -------===//
//
// FlashAttention-3's loads for the 128 x 128 warpgroup body (sm_90a): Q and
// each K/V tile are copied by TMA (`cp.async.bulk.tensor`, one instruction
// per 64-column slab, the SWIZZLE_128B layout the wgmma descriptors read)
// from tensor maps that attnrt encodes per launch, and completion is
// tracked by a transaction-count mbarrier per stage instead of
// `cp.async.wait_group` and a block barrier per tile. The two warpgroups
// are no longer in lockstep: each waits only for the tile it computes.
//
// A stage is refilled when both warpgroups are done with it: each warp,
// once its value product of the stage's tile completed, counts itself in
// the stage's release counter (a shared-memory atomic), and the last
// warp's first lane issues the tile two visits ahead into it. No
// thread waits for another warpgroup to release a stage, so no producer
// warp is needed for the loads to run ahead.
//
//===----------------------------------------------------------------------===//

#include "MMABody.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::attn;

using arith::CmpIPredicate;

/// Mbarriers (8 bytes each): one per K/V stage, then Q's; then the
/// stages' release counters (4 bytes each).
static constexpr int64_t kQueryBarrier = kStages;
static constexpr int64_t kReleaseOffset = 8 * (kStages + 1);

/// Emits PTX `text` with `operands` and no results.
static void ptx(OpBuilder &b, Location loc, StringRef text,
                StringRef constraints, ValueRange operands) {
  LLVM::InlineAsmOp::create(
      b, loc, Type(), operands, text, constraints,
      /*has_side_effects=*/true, /*is_align_stack=*/false,
      LLVM::tailcallkind::TailCallKind::None,
      LLVM::AsmDialectAttr::get(b.getContext(), LLVM::AsmDialect::AD_ATT),
      ArrayAttr());
}

bool StreamingLowering::canUseTMA() {
  // The 128 x 128 warpgroup body (chooseMMATile gives 128-key tiles only
  // where the body is plain): its tiles are visited in order (skipped ones
  // cost nothing: a stage's phase follows the visit's ordinal), and Q and
  // K/V rows are boxes of contiguous BHSD/BSHD tensors.
  // On the H100 (bf16, A/B on the same inputs) TMA loads made it 6-21 %
  // faster on dense attention, 2-13 % under causal masks, prefixes and
  // score modifiers;
  // the 64 x 64 body (two blocks per SM, one warpgroup each) was 3-10 %
  // slower with them on every pattern at D = 64 and D = 128, and 128 x 64
  // tiles with them 1-37 % slower than 64 x 64 without
  // (bench/gpu/results/h100-variants-tma-*-2026-11-24.json): those keep
  // cp.async, whose copies two blocks per SM already overlap.
  return tmaLoads && mmaQueryTile == 128 && keyTile == 128 && plainMMABody();
}

int64_t StreamingLowering::tmaSharedBytes() {
  return useTMA ? kReleaseOffset + 4 * kStages + 4 : 0;
}

/// sharedAddress as the 32-bit address PTX's shared-memory operands take.
static Value sharedAddress32(OpBuilder &b, Location loc, Value memref,
                             Value stage = nullptr, int64_t stageBytes = 0) {
  return arith::TruncIOp::create(
      b, loc, b.getI32Type(), sharedAddress(b, loc, memref, stage, stageBytes));
}

/// Expects `bytes` more on `barrier` and arrives there (the issuing
/// thread, before its copies).
static void expectBytes(OpBuilder &b, Location loc, Value barrier,
                        int64_t bytes) {
  ptx(b, loc, "mbarrier.arrive.expect_tx.shared::cta.b64 _, [$0], $1;",
      "r,r,~{memory}",
      ValueRange{barrier, arith::ConstantIntOp::create(b, loc, bytes, 32)});
}

Value StreamingLowering::tmaShared(Value offset) {
  return arith::AddIOp::create(
      b, loc, sharedAddress32(b, loc, mb.raw),
      arith::IndexCastOp::create(b, loc, b.getI32Type(), offset));
}

Value StreamingLowering::tmaCounters() {
  auto workgroup =
      gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup);
  return memref::ViewOp::create(
      b, loc,
      MemRefType::get({kStages}, b.getI32Type(), MemRefLayoutAttrInterface{},
                      workgroup),
      mb.raw, idx(tmaBarrierOffset + kReleaseOffset), ValueRange{});
}

Value StreamingLowering::tmaBarrier(Value i) {
  return tmaShared(arith::AddIOp::create(
      b, loc, idx(tmaBarrierOffset), arith::MulIOp::create(b, loc, i, idx(8))));
}

void StreamingLowering::emitTMAItemStart() {
  // The previous item last wrote shared memory through the generic proxy
  // (its staged output, the split combine): those writes are ordered
  // before the async proxy's writes of this item's loads.
  NVVM::FenceProxyOp::create(
      b, loc, NVVM::ProxyKind::async_shared,
      NVVM::SharedSpaceAttr::get(b.getContext(),
                                 NVVM::SharedSpace::shared_cta));
  gpu::BarrierOp::create(b, loc); // every warp is done with the last item
  auto first = scf::IfOp::create(
      b, loc,
      arith::CmpIOp::create(b, loc, CmpIPredicate::eq, mmaThread, idx(0)),
      /*withElseRegion=*/false);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(first.thenBlock());
    // Each item starts at phase 0 of every barrier, no stage released.
    Value one = arith::ConstantIntOp::create(b, loc, 1, 32);
    for (int64_t i = 0; i <= kStages; ++i)
      ptx(b, loc, "mbarrier.init.shared::cta.b64 [$0], $1;", "r,r",
          ValueRange{tmaBarrier(idx(i)), one});
    Value zero = arith::ConstantIntOp::create(b, loc, 0, 32);
    Value counters = tmaCounters();
    for (int64_t i = 0; i < kStages; ++i)
      memref::StoreOp::create(b, loc, zero, counters, ValueRange{idx(i)});
    ptx(b, loc, "fence.mbarrier_init.release.cluster;", "", ValueRange{});
  }
  gpu::BarrierOp::create(b, loc);
}

/// The generic address (i64) of tensor map `map` (0: Q, 1: K, 2: V) of the
/// launch, 128 bytes each.
static Value tensorMapAddress(OpBuilder &b, Location loc, Value maps,
                              int64_t map) {
  Type i64 = b.getI64Type();
  Value base = arith::IndexCastOp::create(
      b, loc, i64,
      memref::ExtractAlignedPointerAsIndexOp::create(b, loc, maps));
  return arith::AddIOp::create(
      b, loc, base, arith::ConstantIntOp::create(b, loc, 128 * map, 64));
}

void StreamingLowering::issueTMARows(int64_t map, Layout layout, Value dst,
                                     Value barrier, Value batch, Value head,
                                     Value row, int64_t width, int64_t rows) {
  // Coordinates innermost first: (column, sequence, head, batch) for
  // BHSD, (column, head, sequence, batch) for BSHD (attnrt's maps).
  Type i32 = b.getI32Type();
  auto i32Of = [&](Value x) -> Value {
    return arith::IndexCastOp::create(b, loc, i32, x);
  };
  Value desc = tensorMapAddress(b, loc, tensorMaps, map);
  Value s = i32Of(row), h = i32Of(head), bb = i32Of(batch);
  for (int64_t slab = 0; slab < width / kSlab; ++slab) {
    Value column = arith::ConstantIntOp::create(b, loc, slab * kSlab, 32);
    Value at = arith::AddIOp::create(
        b, loc, dst,
        arith::ConstantIntOp::create(b, loc, slab * rows * kSlab * 2, 32));
    SmallVector<Value> operands{at, desc, column};
    if (layout == Layout::bshd)
      operands.append({h, s});
    else
      operands.append({s, h});
    operands.append({bb, barrier});
    ptx(b, loc,
        "cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::"
        "complete_tx::bytes [$0], [$1, {$2, $3, $4, $5}], [$6];",
        "r,l,r,r,r,r,r,~{memory}", operands);
  }
}

void StreamingLowering::issueTMAQuery(const LoopValues &values) {
  Value barrier = tmaBarrier(idx(kQueryBarrier));
  expectBytes(b, loc, barrier, mmaQueryTile * staticHeadDim * 2);
  issueTMARows(0, op.getQLayout(), sharedAddress32(b, loc, mb.q), barrier,
               values.batch, values.head, values.queryBegin, staticHeadDim,
               mmaQueryTile);
}

void StreamingLowering::issueTMAKeyTile(const LoopValues &values, Value g,
                                        Value kt, Value stage) {
  Value barrier = tmaBarrier(stage);
  int64_t d = staticHeadDim, dv = staticValueDim;
  expectBytes(b, loc, barrier, keyTile * (d + dv) * 2);
  Value row = arith::MulIOp::create(b, loc, kt, idx(keyTile));
  Layout kl = op.getKvLayout();
  issueTMARows(1, kl, sharedAddress32(b, loc, mb.k, stage, keyTile * d * 2),
               barrier, values.batch, g, row, d, keyTile);
  issueTMARows(2, kl, sharedAddress32(b, loc, mb.v, stage, keyTile * dv * 2),
               barrier, values.batch, g, row, dv, keyTile);
}

void StreamingLowering::waitTMABarrier(Value barrier, Value parity) {
  ptx(b, loc,
      "{\n.reg .pred P1;\nLAB_WAIT:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 P1, [$0], $1;\n"
      "@P1 bra DONE;\nbra LAB_WAIT;\nDONE:\n}",
      "r,r,~{memory}", ValueRange{barrier, parity});
}

void StreamingLowering::waitTMAStage(Value stage, Value ordinal) {
  // The n-th use of a stage (ordinal / kStages) completes phase n.
  Type i32 = b.getI32Type();
  Value parity = arith::IndexCastOp::create(
      b, loc, i32,
      arith::RemUIOp::create(
          b, loc, arith::DivUIOp::create(b, loc, ordinal, idx(kStages)),
          idx(2)));
  waitTMABarrier(tmaBarrier(stage), parity);
}

void StreamingLowering::releaseTMAStage(Value stage, Value ordinal,
                                        function_ref<void()> refill) {
  // After the value product of the `ordinal`-th visited tile: the stage of
  // the previous one is free for this warp (its score product finished a
  // tile earlier). The first tile's value product (of a zero P) read its
  // own stage.
  Value lane = arith::RemUIOp::create(b, loc, mmaThread, idx(32));
  Value counts = arith::AndIOp::create(
      b, loc, arith::CmpIOp::create(b, loc, CmpIPredicate::eq, lane, idx(0)),
      arith::CmpIOp::create(b, loc, CmpIPredicate::ugt, ordinal, idx(0)));
  auto release = scf::IfOp::create(b, loc, counts, /*withElseRegion=*/false);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(release.thenBlock());
  Value before =
      memref::AtomicRMWOp::create(b, loc, arith::AtomicRMWKind::addi,
                                  arith::ConstantIntOp::create(b, loc, 1, 32),
                                  tmaCounters(), ValueRange{stage});
  // The last of the block's warps to release it refills it.
  int64_t warps = mmaThreads() / 32;
  Value last = arith::CmpIOp::create(
      b, loc, CmpIPredicate::eq,
      arith::RemUIOp::create(b, loc, before,
                             arith::ConstantIntOp::create(b, loc, warps, 32)),
      arith::ConstantIntOp::create(b, loc, warps - 1, 32));
  auto lastWarp = scf::IfOp::create(b, loc, last, /*withElseRegion=*/false);
  b.setInsertionPointToStart(lastWarp.thenBlock());
  refill();
}

//===- GPUPipeline.cpp - attn-gpu-pipeline --------------------------------===//
//
// The named pipeline from attn specs to GPU binaries: mask normalization,
// explicit masks' tile summaries (for the tensor-core body), the streaming
// lowering into `gpu.func` kernels, bufferization, the
// conversions to the NVVM dialect and serialization of `@attn_kernels` to
// PTX or cubin (a `gpu.binary`). Host code is not generated: kernels are
// launched by `attnrt` (runtime/) or any CUDA driver API caller.
//
//===----------------------------------------------------------------------===//

#include "attn/Conversion/Passes.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;

namespace {
struct GPUPipelineOptions : public PassPipelineOptions<GPUPipelineOptions> {
  Option<std::string> chip{*this, "chip",
                           llvm::cl::desc("target GPU (sm_80, sm_90a, ...)"),
                           llvm::cl::init("sm_90a")};
  Option<int64_t> keyTile{*this, "k-tile", llvm::cl::desc("keys per tile"),
                          llvm::cl::init(64)};
  Option<int64_t> blockSize{*this, "block-size",
                            llvm::cl::desc("threads per block"),
                            llvm::cl::init(128)};
  Option<bool> mma{*this, "mma",
                   llvm::cl::desc("use the tensor-core body where it applies"),
                   llvm::cl::init(true)};
  Option<int64_t> mmaQueryTile{
      *this, "mma-q-tile",
      llvm::cl::desc("query rows per block of the tensor-core body (64, "
                     "128; 0: chosen per op)"),
      llvm::cl::init(0)};
  Option<int64_t> mmaKeyTile{
      *this, "mma-k-tile",
      llvm::cl::desc("keys per tile of the tensor-core body (64, 128 on "
                     "sm_90a; 0: chosen per op)"),
      llvm::cl::init(0)};
  Option<bool> splitKV{
      *this, "split-kv",
      llvm::cl::desc("tensor-core kernels may split each work item's keys "
                     "over several blocks (the count chosen at launch)"),
      llvm::cl::init(true)};
  Option<bool> tma{
      *this, "tma",
      llvm::cl::desc("the 128 x 128 warpgroup body loads its tiles by TMA "
                     "(sm_90a; tensor maps from attnrt)"),
      llvm::cl::init(true)};
  Option<std::string> format{
      *this, "format",
      llvm::cl::desc("what the kernels become: isa (PTX), bin (cubin, "
                     "needs ptxas), llvm (stop at the NVVM dialect)"),
      llvm::cl::init("isa")};
};

LogicalResult buildGPUPipeline(OpPassManager &pm,
                               const GPUPipelineOptions &options) {
  std::string pipeline = llvm::formatv(
      "attn-normalize-masks,attn-group-residues,attn-order-patches,{9}"
      "attn-split-program{{split-topk}"
      ",attn-lower-to-gpu{{"
      "k-tile={0} block-size={1} "
      "mma={3} mma-q-tile={4} mma-k-tile={7} wgmma={5} split-kv={6} "
      "tma={8}},"
      "canonicalize,cse,"
      "one-shot-bufferize{{function-boundary-type-conversion="
      "identity-layout-map},"
      "nvvm-attach-target{{chip={2} O=3},"
      "gpu.module(attn-approximate-math{{nvvm},convert-vector-to-scf,"
      "convert-scf-to-cf,expand-strided-metadata,lower-affine,"
      "convert-nvgpu-to-nvvm,convert-math-to-llvm,convert-gpu-to-nvvm,"
      "convert-nvvm-to-llvm,"
      "attn-extern-shared-memory,"
      "canonicalize,cse),"
      "reconcile-unrealized-casts",
      static_cast<int64_t>(options.keyTile),
      static_cast<int64_t>(options.blockSize), options.chip.getValue(),
      options.mma ? "true" : "false",
      static_cast<int64_t>(options.mmaQueryTile),
      mlir::attn::hasWarpgroupMMA(options.chip) ? "true" : "false",
      options.splitKV ? "true" : "false",
      static_cast<int64_t>(options.mmaKeyTile), options.tma ? "true" : "false",
      options.mma ? "attn-summarize-masks," : "");
  if (options.format != "llvm")
    pipeline += llvm::formatv(",gpu-module-to-binary{{format={0}}",
                              options.format.getValue())
                    .str();
  return parsePassPipeline(pipeline, pm);
}
} // namespace

bool mlir::attn::hasWarpgroupMMA(llvm::StringRef chip) {
  return chip == "sm_90a";
}

void mlir::attn::registerAttnGPUPipeline() {
  PassPipelineRegistration<GPUPipelineOptions>(
      "attn-gpu-pipeline",
      "compile attn specs to NVIDIA GPU kernels (PTX or cubin)",
      [](OpPassManager &pm, const GPUPipelineOptions &options) {
        if (failed(buildGPUPipeline(pm, options)))
          llvm::report_fatal_error("attn-gpu-pipeline: invalid pipeline");
      });
}

//===- CPUPipeline.cpp - attn-cpu-pipeline --------------------------------===//
//
// The named pipeline from attn specs to the LLVM dialect for the host CPU:
// mask normalization, the streaming lowering, bufferization, and the
// standard conversions to LLVM.
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
struct CPUPipelineOptions : public PassPipelineOptions<CPUPipelineOptions> {
  Option<int64_t> queryTile{*this, "q-tile",
                            llvm::cl::desc("query rows per tile"),
                            llvm::cl::init(64)};
  Option<int64_t> keyTile{*this, "k-tile", llvm::cl::desc("keys per tile"),
                          llvm::cl::init(64)};
  Option<bool> kernelAbi{
      *this, "kernel-abi",
      llvm::cl::desc("compile spec functions to destination-passing "
                     "kernels with a thread split (see attn-lower-to-loops)"),
      llvm::cl::init(false)};
  Option<bool> amx{*this, "amx",
                   llvm::cl::desc("use AMX tiles for bf16 products (the "
                                  "target CPU must have amx-bf16)"),
                   llvm::cl::init(false)};
  Option<bool> tileBody{
      *this, "tile-body",
      llvm::cl::desc("compute a query tile at a time where the op allows it "
                     "(see attn-lower-to-loops)"),
      llvm::cl::init(true)};
};

/// Upstream passes are added by name: their registration is shared with
/// every MLIR tool, so the pipeline also works in a host compiler that
/// loads attn as a plugin.
LogicalResult buildCPUPipeline(OpPassManager &pm,
                               const CPUPipelineOptions &options) {
  std::string pipeline = llvm::formatv(
      "attn-normalize-masks,attn-group-residues,attn-order-patches,"
      "attn-lower-selection{{kernel-abi={2}},attn-lower-to-loops{{q-tile={0} "
      "k-tile={1} "
      "kernel-abi={2} tile-body={3} amx={4}},canonicalize,cse,"
      "one-shot-bufferize{{bufferize-function-boundaries "
      "function-boundary-type-conversion=identity-layout-map},"
      "buffer-deallocation-pipeline,convert-scf-to-cf,"
      "attn-approximate-math,expand-strided-metadata,lower-affine,"
      "convert-vector-to-llvm{{vector-transpose-lowering=shuffle16x16 "
      "enable-amx},"
      "finalize-memref-to-llvm,"
      "convert-math-to-llvm,convert-math-to-libm,convert-arith-to-llvm,"
      "convert-index-to-llvm,convert-func-to-llvm,convert-cf-to-llvm,"
      "reconcile-unrealized-casts",
      static_cast<int64_t>(options.queryTile),
      static_cast<int64_t>(options.keyTile),
      options.kernelAbi ? "true" : "false", options.tileBody ? "true" : "false",
      options.amx ? "true" : "false");
  return parsePassPipeline(pipeline, pm);
}
} // namespace

void mlir::attn::registerAttnCPUPipeline() {
  PassPipelineRegistration<CPUPipelineOptions>(
      "attn-cpu-pipeline",
      "compile attn specs to the LLVM dialect for the host CPU",
      [](OpPassManager &pm, const CPUPipelineOptions &options) {
        if (failed(buildCPUPipeline(pm, options)))
          llvm::report_fatal_error("attn-cpu-pipeline: invalid pipeline");
      });
}

//===- attn-fuzz-pipeline.cpp - libFuzzer: parse, canonicalize, lower -----===//
//
// Any valid module goes through canonicalization, mask normalization and
// the CPU pipeline to the LLVM dialect, and (a copy) through the GPU
// pipeline to the NVVM/LLVM dialects (sm_90a: warpgroup MMAs, split keys,
// packed heads, list-driven tiles), or fails with diagnostics. Inputs
// without attn ops are skipped: upstream passes on arbitrary IR are not
// what this target tests.
//
//===----------------------------------------------------------------------===//

#include "FuzzCommon.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mlir::OwningOpRef<mlir::ModuleOp> module = attn_fuzz::parse(data, size);
  if (!module || mlir::attn::getSpecFunctions(*module).empty())
    return 0;
  mlir::OwningOpRef<mlir::ModuleOp> gpuModule = module->clone();
  mlir::PassManager pm(&attn_fuzz::context());
  if (succeeded(mlir::parsePassPipeline(
          "canonicalize,attn-normalize-masks,attn-cpu-pipeline", pm)))
    (void)pm.run(*module);
  mlir::PassManager gpu(&attn_fuzz::context());
  if (succeeded(mlir::parsePassPipeline(
          "canonicalize,attn-gpu-pipeline{chip=sm_90a format=llvm}", gpu)))
    (void)gpu.run(*gpuModule);
  return 0;
}

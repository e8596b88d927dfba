//===- GPUKernelEmission.cpp - attn specs to GPU binaries -----------------===//

#include "attn/Target/GPU/GPUKernelEmission.h"
#include "attn/Conversion/Passes.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Target/CPU/KernelEmission.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace mlir::attn;

bool mlir::attn::isKnownGPUChip(StringRef chip) {
  if (!chip.consume_front("sm_"))
    return false;
  chip.consume_back("a");
  chip.consume_back("f");
  unsigned version;
  return !chip.getAsInteger(10, version) && version >= 50 && version < 200;
}

/// The pipeline up to the GPU kernels, before conversion to NVVM.
static std::string kernelPipeline(const GPUTargetOptions &options) {
  // The same options attn-gpu-pipeline derives for the chip: the launch
  // parameters (shared memory) depend on them.
  return llvm::formatv("canonicalize,attn-normalize-masks,attn-lower-to-gpu{{"
                       "k-tile={0} block-size={1} mma={2} mma-q-tile={3} "
                       "wgmma={4} split-kv={5}}",
                       options.keyTile, options.blockSize,
                       options.mma ? "true" : "false", options.mmaQueryTile,
                       hasWarpgroupMMA(options.chip) ? "true" : "false",
                       options.splitKV ? "true" : "false");
}

LogicalResult mlir::attn::writeGPUManifest(ModuleOp module,
                                           const GPUTargetOptions &options,
                                           llvm::raw_ostream &os) {
  // The launch parameters are what the lowering chose per kernel: lower a
  // copy and read them from the gpu.func attributes.
  OwningOpRef<ModuleOp> lowered = module.clone();
  PassManager pm(module->getName());
  if (failed(parsePassPipeline(kernelPipeline(options), pm)) ||
      failed(pm.run(*lowered)))
    return failure();
  llvm::StringMap<gpu::GPUFuncOp> kernels;
  lowered->walk([&](gpu::GPUFuncOp f) { kernels[f.getName()] = f; });
  auto intAttr = [](gpu::GPUFuncOp f, StringRef name) {
    auto attr = f->getAttrOfType<IntegerAttr>(name);
    return attr ? attr.getInt() : 0;
  };
  os << "attn-gpu-manifest 1\n";
  for (func::FuncOp func : getSpecFunctions(module)) {
    FailureOr<SmallVector<KernelArgument>> args = describeKernel(func);
    if (failed(args))
      return failure();
    gpu::GPUFuncOp kernel = kernels.lookup(func.getName());
    if (!kernel)
      return func.emitError("expected attn-lower-to-gpu to produce a kernel");
    std::optional<ArrayRef<int32_t>> block = kernel.getKnownBlockSize();
    StringRef layout =
        kernel->getAttrOfType<StringAttr>("attn.layout").getValue();
    // Where K/V differ from Q (a paged pool).
    auto kvLayout = kernel->getAttrOfType<StringAttr>("attn.kv_layout");
    os << "kernel " << func.getName() << " block " << (block ? (*block)[0] : 0)
       << " q_tile " << intAttr(kernel, "attn.q_tile") << " per_block "
       << intAttr(kernel, "attn.items_per_block") << " smem "
       << intAttr(kernel, "attn.shared_bytes") << " layout " << layout;
    if (kvLayout)
      os << " kv_layout " << kvLayout.getValue();
    // Split keys: the kernel's key tile (attnrt sizes the split count and
    // the workspace from it).
    if (int64_t tile = intAttr(kernel, "attn.split_kv"))
      os << " split_kv " << tile;
    if (int64_t heads = intAttr(kernel, "attn.packed_heads"))
      os << " packed_heads " << heads;
    os << " args " << args->size() << "\n";
    writeManifestArguments(*args, os);
  }
  os << "end\n";
  return success();
}

FailureOr<std::string>
mlir::attn::compileGPUKernels(ModuleOp module, const GPUTargetOptions &options,
                              bool binary) {
  PassManager pm(module->getName());
  std::string pipeline = llvm::formatv(
      "canonicalize,attn-gpu-pipeline{{chip={0} k-tile={1} block-size={2} "
      "mma={3} mma-q-tile={4} format={5} split-kv={6}}",
      options.chip, options.keyTile, options.blockSize,
      options.mma ? "true" : "false", options.mmaQueryTile,
      binary ? "bin" : "isa", options.splitKV ? "true" : "false");
  if (failed(parsePassPipeline(pipeline, pm)) || failed(pm.run(module)))
    return failure();
  for (auto object : module.getOps<gpu::BinaryOp>())
    if (object.getName() == "attn_kernels")
      for (Attribute attr : object.getObjects())
        return cast<gpu::ObjectAttr>(attr).getObject().str();
  return module.emitError("expected the GPU pipeline to produce "
                          "gpu.binary @attn_kernels (no spec function?)");
}

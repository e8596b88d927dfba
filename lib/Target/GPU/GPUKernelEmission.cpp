//===- GPUKernelEmission.cpp - attn specs to GPU binaries -----------------===//

#include "attn/Target/GPU/GPUKernelEmission.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Target/CPU/KernelEmission.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
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

/// The manifest's name of an element type.
static std::string elementName(Type type) {
  std::string name;
  llvm::raw_string_ostream os(name);
  type.print(os);
  return name;
}

LogicalResult mlir::attn::writeGPUManifest(ModuleOp module,
                                           const GPUTargetOptions &options,
                                           llvm::raw_ostream &os) {
  os << "attn-gpu-manifest 1\n";
  for (auto func : module.getOps<func::FuncOp>()) {
    if (func.isDeclaration())
      continue;
    AttentionOp op;
    func.walk([&](AttentionOp a) { op = op ? op : a; });
    FailureOr<SmallVector<KernelArgument>> args = describeKernel(func);
    if (failed(args))
      return failure();
    os << "kernel " << func.getName() << " block " << options.blockSize
       << " q_tile 1 layout " << stringifyLayout(op.getQLayout()) << " args "
       << args->size() << "\n";
    for (const KernelArgument &arg : *args) {
      os << "arg " << arg.name << (arg.output ? " out " : " in ");
      auto tensor = dyn_cast<RankedTensorType>(arg.type);
      if (!tensor) {
        os << "scalar " << elementName(arg.type) << "\n";
        continue;
      }
      os << "buffer " << elementName(tensor.getElementType()) << " "
         << tensor.getRank();
      for (int64_t size : tensor.getShape())
        os << " " << (ShapedType::isDynamic(size) ? -1 : size);
      os << "\n";
    }
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
      "format={3}}",
      options.chip, options.keyTile, options.blockSize, binary ? "bin" : "isa");
  if (failed(parsePassPipeline(pipeline, pm)) || failed(pm.run(module)))
    return failure();
  for (auto object : module.getOps<gpu::BinaryOp>())
    if (object.getName() == "attn_kernels")
      for (Attribute attr : object.getObjects())
        return cast<gpu::ObjectAttr>(attr).getObject().str();
  return module.emitError("expected the GPU pipeline to produce "
                          "gpu.binary @attn_kernels (no spec function?)");
}

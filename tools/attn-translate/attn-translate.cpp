//===- attn-translate.cpp - the attn translation driver -------------------===//
//
// Two modes:
//  - `attn-translate --emit=llvm-ir|obj|shared-lib|c-header SPEC.mlir -o OUT`
//    compiles the spec functions to host CPU kernels (the kernel ABI of
//    attn-lower-to-loops) and writes them in the requested form;
//  - `attn-translate --emit=ptx|cubin|gpu-manifest --chip=sm_90a ...`
//    compiles them to GPU kernels (attn-gpu-pipeline) and writes the PTX,
//    the cubin (through ptxas), or the manifest attnrt launches them with;
//  - otherwise, mlir-translate with every upstream translation, plus
//    `--attn-to-llvmir` (lowered attn modules to LLVM IR, with a located
//    error on attn ops that were not lowered).
//
//===----------------------------------------------------------------------===//

#include "attn/Conversion/Passes.h"
#include "attn/Dialect/Attn/IR/AttnDialect.h"
#include "attn/Target/CPU/KernelEmission.h"
#include "attn/Target/GPU/GPUKernelEmission.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllTranslations.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "mlir/Tools/mlir-translate/MlirTranslateMain.h"
#include "mlir/Tools/mlir-translate/Translation.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"

using namespace mlir;

static LogicalResult translateAttnToLLVMIR(Operation *op,
                                           llvm::raw_ostream &os) {
  WalkResult remaining = op->walk([](Operation *nested) {
    if (!isa<attn::AttnDialect>(nested->getDialect()))
      return WalkResult::advance();
    nested->emitError("expected attn ops to be lowered before translation to "
                      "LLVM IR");
    return WalkResult::interrupt();
  });
  if (remaining.wasInterrupted())
    return failure();
  llvm::LLVMContext context;
  std::unique_ptr<llvm::Module> module = translateModuleToLLVMIR(op, context);
  if (!module)
    return failure();
  module->print(os, /*AAW=*/nullptr);
  return success();
}

static int emitError(const llvm::Twine &message) {
  llvm::errs() << "attn-translate: error: " << message << "\n";
  return 1;
}

/// The GPU forms of the --emit mode.
static int emitGPU(ModuleOp module, StringRef emit, StringRef output,
                   const attn::GPUTargetOptions &options) {
  std::string message;
  auto out = openOutputFile(output, &message);
  if (!out)
    return emitError(message);
  if (emit == "gpu-manifest") {
    if (failed(attn::writeGPUManifest(module, options, out->os())))
      return 1;
  } else {
    FailureOr<std::string> binary =
        attn::compileGPUKernels(module, options, emit == "cubin");
    if (failed(binary))
      return 1;
    out->os() << *binary;
  }
  out->keep();
  return 0;
}

/// The --emit mode.
static int emitKernels(int argc, char **argv) {
  namespace cl = llvm::cl;
  cl::opt<std::string> emit(
      "emit", cl::Required,
      cl::desc("llvm-ir, obj, shared-lib or c-header (CPU); ptx, cubin or "
               "gpu-manifest (GPU)"));
  cl::opt<std::string> input(cl::Positional, cl::desc("SPEC.mlir"),
                             cl::init("-"));
  cl::opt<std::string> output("o", cl::desc("output file"), cl::init("-"));
  cl::opt<int64_t> queryTile(
      "q-tile",
      cl::desc("query rows per tile (default: 64; 128 for bf16 on CPUs with "
               "AMX; GPU: chosen per kernel)"),
      cl::init(64));
  cl::opt<int64_t> keyTile(
      "k-tile",
      cl::desc("keys per tile (default: 64; 128 for bf16 on CPUs with AMX; "
               "GPU: chosen per kernel)"),
      cl::init(64));
  cl::opt<std::string> cpu(
      "cpu",
      cl::desc("CPU to compile for: native (default: this machine's CPU and "
               "features) or an LLVM CPU name (x86-64-v3, x86-64-v4, "
               "sapphirerapids, znver4, ...)"),
      cl::init("native"));
  cl::opt<std::string> chip(
      "chip", cl::desc("GPU to compile for (--emit=ptx|cubin|gpu-manifest)"),
      cl::init("sm_90a"));
  cl::opt<int64_t> blockSize(
      "block-size", cl::desc("threads per block of the GPU kernels"),
      cl::init(128));
  cl::opt<bool> mma("mma",
                    cl::desc("GPU: use the tensor-core body where it applies "
                             "(default true; false: the row form)"),
                    cl::init(true));
  cl::opt<bool> splitKV(
      "split-kv",
      cl::desc("GPU: tensor-core kernels may split the keys of a work item "
               "over several blocks, chosen at launch (default true)"),
      cl::init(true));
  cl::opt<bool> tma(
      "tma",
      cl::desc("GPU: the 128 x 128 warpgroup body (sm_90a) loads its tiles "
               "by TMA with mbarriers (default true; false: cp.async)"),
      cl::init(true));
  cl::ParseCommandLineOptions(argc, argv, "attn kernel emitter\n");
  bool gpu = emit == "ptx" || emit == "cubin" || emit == "gpu-manifest";
  if (emit != "llvm-ir" && emit != "obj" && emit != "shared-lib" &&
      emit != "c-header" && !gpu)
    return emitError("expected --emit=llvm-ir, obj, shared-lib, c-header, "
                     "ptx, cubin or gpu-manifest, got '" + emit + "'");
  if (queryTile < 1 || keyTile < 1)
    return emitError("expected positive --q-tile and --k-tile");
  if (!attn::isKnownCPU(cpu))
    return emitError("unknown --cpu '" + cpu +
                     "' (expected native or an LLVM CPU name such as "
                     "x86-64-v3)");
  if (gpu && !attn::isKnownGPUChip(chip))
    return emitError("unknown --chip '" + chip +
                     "' (expected an NVIDIA architecture such as sm_80 or "
                     "sm_90a)");
  if (gpu && queryTile.getNumOccurrences() && queryTile != 64 &&
      queryTile != 128)
    return emitError("expected --q-tile of 64 or 128 for GPU kernels (query "
                     "rows per block of the tensor-core body)");
  if (gpu && keyTile.getNumOccurrences() && keyTile != 64 &&
      (keyTile != 128 || !attn::hasWarpgroupMMA(chip)))
    return emitError("expected --k-tile of 64, or 128 on sm_90a, for GPU "
                     "kernels (keys per tile of the tensor-core body)");
  if (gpu && (blockSize < 32 || blockSize > 1024 || blockSize % 32))
    return emitError("expected --block-size to be a multiple of 32 in "
                     "[32, 1024]");
  if ((emit == "obj" || emit == "shared-lib" || emit == "cubin") &&
      output == "-")
    return emitError("expected -o FILE for --emit=" + emit);

  std::unique_ptr<MLIRContext> owned = attn::createKernelContext();
  MLIRContext &context = *owned;
  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler handler(sourceMgr, &context);
  OwningOpRef<ModuleOp> module = attn::parseSpecFile(input, context, sourceMgr);
  if (!module)
    return 1;
  std::string message;
  // Constant operands fold into the attributes first, as the pipelines do:
  // the header and manifests describe the kernel's actual arguments.
  PassManager canonicalize(&context);
  canonicalize.addPass(createCanonicalizerPass());
  if (failed(canonicalize.run(*module)))
    return 1;

  if (emit == "c-header") {
    auto out = openOutputFile(output, &message);
    if (!out)
      return emitError(message);
    if (failed(attn::writeCHeader(*module, out->os())))
      return 1;
    out->keep();
    return 0;
  }
  if (gpu)
    return emitGPU(*module, emit, output,
                   {chip, /*keyTile=*/64, blockSize, mma,
                    queryTile.getNumOccurrences() ? queryTile : 0,
                    keyTile.getNumOccurrences() ? keyTile : 0, splitKV, tma});
  auto [defaultQueryTile, defaultKeyTile] =
      attn::defaultTileSizes(*module, cpu);
  if (!queryTile.getNumOccurrences())
    queryTile = defaultQueryTile;
  if (!keyTile.getNumOccurrences())
    keyTile = defaultKeyTile;
  if (failed(attn::compileKernels(*module, queryTile, keyTile, cpu)))
    return 1;
  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      attn::translateForHost(*module, llvmContext, cpu);
  if (!llvmModule)
    return emitError("cannot translate the kernels to LLVM IR for the host");
  if (emit == "llvm-ir") {
    auto out = openOutputFile(output, &message);
    if (!out)
      return emitError(message);
    llvmModule->print(out->os(), nullptr);
    out->keep();
    return 0;
  }
  std::string object = output;
  if (emit == "shared-lib")
    object += ".o";
  if (failed(attn::writeObject(*llvmModule, object, cpu)))
    return emitError("cannot write the object file " + object);
  if (emit == "shared-lib") {
    LogicalResult linked = attn::linkSharedLibrary(object, output);
    llvm::sys::fs::remove(object);
    if (failed(linked))
      return emitError("cannot link " + output +
                       " (needs a C compiler driver: clang-22, clang or cc)");
  }
  return 0;
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; ++i)
    if (llvm::StringRef(argv[i]).starts_with("--emit") ||
        llvm::StringRef(argv[i]).starts_with("-emit")) {
      llvm::InitLLVM init(argc, argv);
      return emitKernels(argc, argv);
    }
  registerAllTranslations();
  TranslateFromMLIRRegistration attnToLLVMIR(
      "attn-to-llvmir", "translate a lowered attn module to LLVM IR",
      translateAttnToLLVMIR, [](DialectRegistry &registry) {
        registerAllDialects(registry);
        registerAllToLLVMIRTranslations(registry);
        registry.insert<attn::AttnDialect>();
      });
  return failed(mlirTranslateMain(argc, argv, "attn translation driver\n"));
}

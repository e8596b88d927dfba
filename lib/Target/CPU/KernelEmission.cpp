//===- KernelEmission.cpp - attn specs to host kernels --------------------===//
//
// Kernel description, compilation, LLVM IR/object/shared-library emission
// for the host, and the C header of the kernel ABI.
//
//===----------------------------------------------------------------------===//

#include "attn/Target/CPU/KernelEmission.h"
#include "attn/Conversion/Passes.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"
#include "attn/Support/NestingLimit.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/TargetParser/SubtargetFeature.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/Host.h"

#include <set>

using namespace mlir;
using namespace mlir::attn;

void mlir::attn::registerKernelCompilation(DialectRegistry &registry) {
  registerAllDialects(registry);
  registerAllExtensions(registry);
  registerAllToLLVMIRTranslations(registry);
  registry.insert<AttnDialect>();
  registerAllPasses();
  registerAttnPasses();
  registerAttnConversionPasses();
  registerAttnCPUPipeline();
  registerAttnGPUPipeline();
}

std::unique_ptr<MLIRContext> mlir::attn::createKernelContext() {
  DialectRegistry registry;
  registerKernelCompilation(registry);
  auto context = std::make_unique<MLIRContext>(registry);
  context->printOpOnDiagnostic(false);
  context->loadAllAvailableDialects();
  return context;
}

OwningOpRef<ModuleOp> mlir::attn::parseSpecFile(StringRef path,
                                                MLIRContext &context,
                                                llvm::SourceMgr &sourceMgr) {
  std::string message;
  auto file = openInputFile(path, &message);
  if (!file) {
    llvm::errs() << "error: " << message << "\n";
    return nullptr;
  }
  sourceMgr.AddNewSourceBuffer(std::move(file), llvm::SMLoc());
  if (failed(checkNesting(sourceMgr, &context)))
    return nullptr;
  return parseSourceFile<ModuleOp>(sourceMgr, &context);
}

/// The kernel arguments of a linear attention spec: q, k, v, decay, o.
static FailureOr<SmallVector<KernelArgument>>
describeLinearKernel(func::FuncOp func) {
  LinearAttentionOp op;
  func.walk([&](LinearAttentionOp a) { op = op ? op : a; });
  if (!op)
    return func.emitError(
        "expected an attn.attention or attn.linear_attention in the spec "
        "function");
  SmallVector<KernelArgument> args(func.getNumArguments());
  for (auto [i, arg] : llvm::enumerate(func.getArguments()))
    args[i].type = arg.getType();
  for (auto [value, role] :
       {std::pair<Value, const char *>{op.getQuery(), "q"},
        {op.getKey(), "k"},
        {op.getValue(), "v"},
        {op.getDecay(), "decay"}}) {
    if (!value)
      continue;
    auto arg = dyn_cast<BlockArgument>(value);
    if (!arg || arg.getOwner() != &func.getBody().front())
      return op.emitOpError() << "expected operand '" << role
                              << "' to be an argument of the spec function";
    args[arg.getArgNumber()].name = role;
  }
  for (auto [i, arg] : llvm::enumerate(args))
    if (arg.name.empty())
      return func.emitError() << "expected argument #" << i
                              << " of the spec function to be used by its "
                                 "attn.linear_attention";
  KernelArgument out;
  out.name = "o";
  out.type = op.getOutput().getType();
  out.output = true;
  args.push_back(out);
  return args;
}

FailureOr<SmallVector<KernelArgument>>
mlir::attn::describeKernel(func::FuncOp func) {
  AttentionOp op;
  func.walk([&](AttentionOp a) {
    if (!op)
      op = a;
  });
  if (!op)
    return describeLinearKernel(func);
  SmallVector<KernelArgument> args(func.getNumArguments());
  for (auto [i, arg] : llvm::enumerate(func.getArguments()))
    args[i].type = arg.getType();
  auto bind = [&](Value value, const std::string &role,
                  const OperandSlot *slot) -> LogicalResult {
    auto arg = dyn_cast<BlockArgument>(value);
    if (!arg || arg.getOwner() != &func.getBody().front())
      return op.emitOpError("expected operand '" + role +
                            "' to be an argument of the spec function");
    KernelArgument &a = args[arg.getArgNumber()];
    if (a.name.empty())
      a.name = role;
    if (slot && !a.slot)
      a.slot = *slot;
    return success();
  };
  auto group = [&](StringRef prefix, ArrayRef<OperandSlot> slots,
                   ValueRange values) -> LogicalResult {
    for (auto [i, value] : llvm::enumerate(values))
      if (failed(bind(value, (prefix + Twine(i)).str(),
                      i < slots.size() ? &slots[i] : nullptr)))
        return failure();
    return success();
  };
  SmallVector<OperandSlot> scoreSlots;
  if (ArrayAttr score = op.getScoreAttr())
    for (Attribute mod : score)
      scoreSlots.append(getSlots(mod));
  if (failed(bind(op.getQuery(), "q", nullptr)) ||
      failed(bind(op.getKey(), "k", nullptr)) ||
      failed(bind(op.getValue(), "v", nullptr)) ||
      failed(group("mask", getSlots(op.getMaskAttr()), op.getMaskOperands())) ||
      failed(group("score", scoreSlots, op.getScoreOperands())) ||
      failed(group("norm", getSlots(op.getNormAttr()), op.getNormOperands())) ||
      failed(group("gate", getSlots(op.getGateAttr()), op.getGateOperands())) ||
      failed(group("capture", {}, op.getCaptures())))
    return failure();
  for (auto [value, role] :
       {std::pair<Value, const char *>{op.getCuSeqlensQ(), "cu_seqlens_q"},
        {op.getCuSeqlensKv(), "cu_seqlens_kv"},
        {op.getBlockTable(), "block_table"},
        {op.getKvLens(), "kv_lens"}})
    if (value && failed(bind(value, role, nullptr)))
      return failure();
  for (auto [i, arg] : llvm::enumerate(args))
    if (arg.name.empty())
      return func.emitError() << "expected argument #" << i
                              << " of the spec function to be used by its "
                                 "attn.attention";
  const char *names[] = {"o", "lse"};
  for (auto [i, type] : llvm::enumerate(func.getResultTypes())) {
    KernelArgument out;
    out.name = i < 2 ? names[i] : "result" + std::to_string(i);
    out.type = type;
    out.output = true;
    args.push_back(out);
  }
  return args;
}

LogicalResult mlir::attn::compileKernels(ModuleOp module, int64_t queryTile,
                                         int64_t keyTile, StringRef cpu,
                                         bool kernelABI) {
  if (!kernelABI)
    for (func::FuncOp func : getSpecFunctions(module))
      func->setAttr("llvm.emit_c_interface", UnitAttr::get(module.getContext()));
  auto pm = PassManager::on<ModuleOp>(module.getContext());
  std::string pipeline =
      std::string("canonicalize,cse,attn-cpu-pipeline{kernel-abi=") +
      (kernelABI ? "true" : "false") + " q-tile=" +
      std::to_string(queryTile) + " k-tile=" + std::to_string(keyTile) +
      " amx=" + (hasAMX(cpu) ? "true" : "false") + "}";
  if (failed(parsePassPipeline(pipeline, pm)))
    return failure();
  return pm.run(module);
}

/// The target machine for `cpu` on the host triple, optimizing at -O3.
static std::unique_ptr<llvm::TargetMachine> hostMachine(StringRef cpu) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  llvm::Triple triple(llvm::sys::getProcessTriple());
  std::string error;
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return nullptr;
  llvm::SubtargetFeatures features;
  bool native = cpu.empty() || cpu == "native";
  if (native)
    for (const auto &feature : llvm::sys::getHostCPUFeatures())
      features.AddFeature(feature.first(), feature.second);
  return std::unique_ptr<llvm::TargetMachine>(target->createTargetMachine(
      triple, native ? llvm::sys::getHostCPUName() : cpu, features.getString(),
      {}, llvm::Reloc::PIC_, std::nullopt, llvm::CodeGenOptLevel::Aggressive));
}

bool mlir::attn::hasAMX(StringRef cpu) {
  std::unique_ptr<llvm::TargetMachine> machine = hostMachine(cpu);
  return machine &&
         machine->getMCSubtargetInfo()->checkFeatures("+amx-tile,+amx-bf16");
}

std::pair<int64_t, int64_t> mlir::attn::defaultTileSizes(ModuleOp module,
                                                         StringRef cpu) {
  bool bf16 = false, other = false;
  module.walk([&](AttentionOp op) {
    bool all = llvm::all_of(
        ValueRange{op.getQuery(), op.getKey(), op.getValue()},
        [](Value x) { return getElementTypeOrSelf(x.getType()).isBF16(); });
    (all ? bf16 : other) = true;
  });
  if (bf16 && !other && hasAMX(cpu))
    return {128, 128};
  return {64, 64};
}

bool mlir::attn::isKnownCPU(StringRef cpu) {
  if (cpu.empty() || cpu == "native")
    return true;
  std::unique_ptr<llvm::TargetMachine> machine = hostMachine("");
  return machine && machine->getMCSubtargetInfo()->isCPUStringValid(cpu);
}

std::unique_ptr<llvm::Module>
mlir::attn::translateForHost(ModuleOp module, llvm::LLVMContext &context,
                             StringRef cpu) {
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(module, context);
  std::unique_ptr<llvm::TargetMachine> machine = hostMachine(cpu);
  if (!llvmModule || !machine)
    return nullptr;
  llvmModule->setTargetTriple(machine->getTargetTriple());
  llvmModule->setDataLayout(machine->createDataLayout());
  auto optimize = makeOptimizingTransformer(3, 0, machine.get());
  if (llvm::Error error = optimize(llvmModule.get())) {
    llvm::consumeError(std::move(error));
    return nullptr;
  }
  return llvmModule;
}

LogicalResult mlir::attn::writeObject(llvm::Module &module, StringRef path,
                                      StringRef cpu) {
  std::unique_ptr<llvm::TargetMachine> machine = hostMachine(cpu);
  if (!machine)
    return failure();
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_None);
  if (ec)
    return failure();
  llvm::legacy::PassManager pm;
  if (machine->addPassesToEmitFile(pm, os, nullptr,
                                   llvm::CodeGenFileType::ObjectFile))
    return failure();
  pm.run(module);
  return success();
}

LogicalResult mlir::attn::linkSharedLibrary(StringRef object,
                                            StringRef library) {
  // The kernels call libm (expf, logf, tanhf); the C driver finds it.
  std::string driver;
  for (const char *name : {"clang-22", "clang", "cc"})
    if (auto path = llvm::sys::findProgramByName(name)) {
      driver = *path;
      break;
    }
  if (driver.empty())
    return failure();
  StringRef argv[] = {driver, "-shared", "-o", library, object, "-lm"};
  return success(llvm::sys::ExecuteAndWait(driver, argv) == 0);
}

/// The C type of a kernel argument.
static std::string cType(Type type) {
  if (auto tensor = dyn_cast<RankedTensorType>(type))
    return "attn_memref" + std::to_string(tensor.getRank()) + "d *";
  if (type.isIndex() || type.isInteger(64))
    return "int64_t ";
  if (type.isInteger(32))
    return "int32_t ";
  if (type.isF32())
    return "float ";
  return "double ";
}

static std::string describe(Type type) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << type;
  return text;
}

SmallVector<func::FuncOp> mlir::attn::getSpecFunctions(ModuleOp module) {
  SmallVector<func::FuncOp> specs;
  for (auto func : module.getOps<func::FuncOp>()) {
    bool spec = false;
    func.walk([&](Operation *op) {
      spec |= isa<AttentionOp, LinearAttentionOp>(op);
    });
    if (spec && !func.isDeclaration())
      specs.push_back(func);
  }
  return specs;
}

void mlir::attn::writeManifestArguments(ArrayRef<KernelArgument> args,
                                        llvm::raw_ostream &os) {
  for (const KernelArgument &arg : args) {
    os << "arg " << arg.name << (arg.output ? " out " : " in ");
    auto tensor = dyn_cast<RankedTensorType>(arg.type);
    if (!tensor) {
      os << "scalar " << arg.type << "\n";
      continue;
    }
    os << "buffer " << tensor.getElementType() << " " << tensor.getRank();
    for (int64_t size : tensor.getShape())
      os << " " << (ShapedType::isDynamic(size) ? -1 : size);
    os << "\n";
  }
}

LogicalResult mlir::attn::writeCPUManifest(ModuleOp module,
                                           llvm::raw_ostream &os) {
  os << "attn-cpu-manifest 1\n";
  for (func::FuncOp func : getSpecFunctions(module)) {
    FailureOr<SmallVector<KernelArgument>> args = describeKernel(func);
    if (failed(args))
      return failure();
    os << "kernel " << func.getName() << " args " << args->size() << "\n";
    writeManifestArguments(*args, os);
  }
  os << "end\n";
  return success();
}

LogicalResult mlir::attn::writeCHeader(ModuleOp module, llvm::raw_ostream &os) {
  SmallVector<std::pair<func::FuncOp, SmallVector<KernelArgument>>> kernels;
  std::set<int64_t> ranks;
  for (func::FuncOp func : getSpecFunctions(module)) {
    FailureOr<SmallVector<KernelArgument>> args = describeKernel(func);
    if (failed(args))
      return failure();
    for (const KernelArgument &arg : *args)
      if (auto tensor = dyn_cast<RankedTensorType>(arg.type))
        ranks.insert(tensor.getRank());
    kernels.push_back({func, std::move(*args)});
  }
  os << "/* Generated by attn-translate --emit=c-header. Do not edit.\n"
        " *\n"
        " * Every kernel takes its inputs, then its outputs (preallocated by\n"
        " * the caller), then `thread` and `threads`: call it from `threads`\n"
        " * threads at once with thread = 0 .. threads - 1; each call "
        "computes\n"
        " * its share of the (batch, head, query tile) work items (none for a\n"
        " * thread outside that range), and the result does not depend on the\n"
        " * number of threads. Buffers are\n"
        " * MLIR strided memref descriptors of row-major arrays: set both\n"
        " * pointers to the data, offset 0, the sizes, and the row-major\n"
        " * strides (in elements). Link with the shared library from\n"
        " * attn-translate --emit=shared-lib. */\n"
        "#ifndef ATTN_KERNELS_H\n#define ATTN_KERNELS_H\n\n"
        "#include <stdint.h>\n\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n";
  for (int64_t rank : ranks)
    os << "typedef struct {\n  void *allocated;\n  void *aligned;\n"
          "  int64_t offset;\n  int64_t sizes["
       << std::max<int64_t>(rank, 1) << "];\n  int64_t strides["
       << std::max<int64_t>(rank, 1) << "];\n} attn_memref" << rank << "d;\n\n";
  for (auto &[func, args] : kernels) {
    os << "/* @" << func.getName() << "\n";
    for (const KernelArgument &arg : args)
      os << " *   " << arg.name << (arg.output ? " (output)" : "") << ": "
         << describe(arg.type)
         << (arg.slot ? (" -- " + arg.slot->role).str() : "") << "\n";
    os << " */\nvoid _mlir_ciface_" << func.getName() << "(";
    for (const KernelArgument &arg : args)
      os << cType(arg.type) << arg.name << ", ";
    os << "int64_t thread, int64_t threads);\n\n";
  }
  os << "#ifdef __cplusplus\n}\n#endif\n\n#endif /* ATTN_KERNELS_H */\n";
  return success();
}

//===- Compiler.cpp - the attn compiler as a C library --------------------===//
//
// Implements include/attn-c/Compiler.h on top of the drivers' C++ entry
// points (KernelEmission, GPUKernelEmission): the same canonicalization,
// pipelines, tile-size heuristics and manifests as attn-translate, with
// diagnostics collected into a string instead of printed.
//
//===----------------------------------------------------------------------===//

#include "attn-c/Compiler.h"
#include "attn/Conversion/Passes.h"
#include "attn/Support/NestingLimit.h"
#include "attn/Target/CPU/KernelEmission.h"
#include "attn/Target/GPU/GPUKernelEmission.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/ToolOutputFile.h"

#include <cstdlib>
#include <cstring>

using namespace mlir;

#ifndef ATTN_VERSION
#define ATTN_VERSION "unknown"
#endif

namespace {

/// One call's diagnostics: MLIR's (with source lines) and the driver's own.
class Diagnostics {
public:
  Diagnostics(MLIRContext &context)
      : os(text), handler(sourceMgr, &context, os) {}

  /// Appends an error that has no location in the spec.
  int error(const llvm::Twine &message) {
    os << "error: " << message << "\n";
    return 1;
  }

  /// Hands the text to the caller (malloc'd; null when empty).
  void release(char **out) {
    if (!out)
      return;
    *out = nullptr;
    if (text.empty())
      return;
    *out = static_cast<char *>(std::malloc(text.size() + 1));
    std::memcpy(*out, text.c_str(), text.size() + 1);
  }

  llvm::SourceMgr sourceMgr;

private:
  std::string text;
  llvm::raw_string_ostream os;
  SourceMgrDiagnosticHandler handler;
};

/// The key=value options of attnCompile.
struct Options {
  llvm::StringMap<std::string> values;

  static FailureOr<Options> parse(const char *text, Diagnostics &diags) {
    Options options;
    llvm::SmallVector<StringRef> words;
    StringRef(text ? text : "").split(words, ' ', -1, false);
    static const char *known[] = {"cpu",     "q-tile",   "k-tile", "block-size",
                                  "mma",     "split-kv", "tma",    "binary",
                                  "emit-ir", "abi"};
    for (StringRef word : words) {
      auto [key, value] = word.split('=');
      if (value.empty() || !llvm::is_contained(known, key)) {
        diags.error("unknown or malformed compile option '" + word +
                    "' (expected key=value with key one of cpu, q-tile, "
                    "k-tile, block-size, mma, split-kv, tma, binary, emit-ir, "
                    "abi)");
        return failure();
      }
      options.values[key] = value.str();
    }
    return options;
  }

  bool has(StringRef key) const { return values.count(key); }
  StringRef get(StringRef key) const {
    auto it = values.find(key);
    return it == values.end() ? StringRef() : StringRef(it->second);
  }

  /// The integer option `key` (`fallback` when absent); fails with a
  /// diagnostic when it is not a positive integer.
  FailureOr<int64_t> integer(StringRef key, int64_t fallback,
                             Diagnostics &diags) const {
    if (!has(key))
      return fallback;
    int64_t value;
    if (get(key).getAsInteger(10, value) || value <= 0) {
      diags.error("expected a positive integer for compile option '" + key +
                  "', got '" + get(key) + "'");
      return failure();
    }
    return value;
  }

  /// The 0|1 option `key`.
  FailureOr<bool> flag(StringRef key, bool fallback, Diagnostics &diags) const {
    if (!has(key))
      return fallback;
    if (get(key) != "0" && get(key) != "1") {
      diags.error("expected 0 or 1 for compile option '" + key + "', got '" +
                  get(key) + "'");
      return failure();
    }
    return get(key) == "1";
  }
};

} // namespace

/// Writes `contents` to `path`.
static LogicalResult writeFile(StringRef path, StringRef contents,
                               Diagnostics &diags) {
  std::string message;
  auto out = openOutputFile(path, &message);
  if (!out) {
    diags.error(message);
    return failure();
  }
  out->os() << contents;
  out->keep();
  return success();
}

/// Whether ptxas can be found where the NVVM target looks for it.
static bool hasPtxas() {
  for (const char *variable : {"CUDA_ROOT", "CUDA_HOME", "CUDA_PATH"})
    if (const char *root = std::getenv(variable)) {
      llvm::SmallString<128> path(root);
      llvm::sys::path::append(path, "bin", "ptxas");
      if (llvm::sys::fs::can_execute(path))
        return true;
    }
  return llvm::sys::fs::can_execute("/usr/local/cuda/bin/ptxas");
}

static int compileCPU(ModuleOp module, const Options &options,
                      StringRef outputDir, Diagnostics &diags) {
  StringRef cpu = options.get("cpu");
  if (!cpu.empty() && !attn::isKnownCPU(cpu))
    return diags.error("unknown cpu '" + cpu +
                       "' (expected an LLVM CPU name of the host's "
                       "architecture, or native)");
  auto [defaultQ, defaultK] = attn::defaultTileSizes(module, cpu);
  FailureOr<int64_t> queryTile = options.integer("q-tile", defaultQ, diags);
  FailureOr<int64_t> keyTile = options.integer("k-tile", defaultK, diags);
  FailureOr<bool> emitIR = options.flag("emit-ir", false, diags);
  StringRef abi = options.has("abi") ? options.get("abi") : "kernel";
  if (failed(queryTile) || failed(keyTile) || failed(emitIR))
    return 1;
  if (abi != "kernel" && abi != "tensor")
    return diags.error("expected abi=kernel or abi=tensor, got '" + abi + "'");

  // The kernel ABI has a manifest of its arguments; the tensor ABI's
  // signature is the spec function's own.
  std::string manifest = "attn-cpu-manifest 1\nabi tensor\nend\n";
  llvm::raw_string_ostream manifestOS(manifest);
  if (abi == "kernel") {
    manifest.clear();
    if (failed(attn::writeCPUManifest(module, manifestOS)))
      return 1;
  }
  if (failed(attn::compileKernels(module, *queryTile, *keyTile, cpu,
                                  abi == "kernel")))
    return 1;
  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      attn::translateForHost(module, llvmContext, cpu);
  if (!llvmModule)
    return diags.error("cannot translate the kernels to LLVM IR for the host");

  llvm::SmallString<256> path(outputDir);
  auto at = [&](StringRef name) {
    path = outputDir;
    llvm::sys::path::append(path, name);
    return path.str().str();
  };
  if (*emitIR) {
    std::string ir;
    llvm::raw_string_ostream irOS(ir);
    llvmModule->print(irOS, nullptr);
    if (failed(writeFile(at("kernel.ll"), ir, diags)))
      return 1;
  }
  std::string object = at("kernel.o");
  if (failed(attn::writeObject(*llvmModule, object, cpu)))
    return diags.error("cannot write the object file " + object);
  std::string library = at("kernel.so");
  LogicalResult linked = attn::linkSharedLibrary(object, library);
  llvm::sys::fs::remove(object);
  if (failed(linked))
    return diags.error("cannot link " + library +
                       " (needs a C compiler driver: clang-22, clang or cc)");
  return failed(writeFile(at("kernel.manifest"), manifest, diags));
}

static int compileGPU(ModuleOp module, StringRef chip, const Options &options,
                      StringRef outputDir, Diagnostics &diags) {
  if (!attn::isKnownGPUChip(chip))
    return diags.error("unknown target '" + chip +
                       "' (expected cpu or an NVIDIA chip such as sm_80, "
                       "sm_90a)");
  attn::GPUTargetOptions gpu;
  gpu.chip = chip.str();
  FailureOr<int64_t> queryTile = options.integer("q-tile", 0, diags);
  FailureOr<int64_t> keyTile = options.integer("k-tile", 0, diags);
  FailureOr<int64_t> blockSize = options.integer("block-size", 128, diags);
  FailureOr<bool> mma = options.flag("mma", true, diags);
  FailureOr<bool> splitKV = options.flag("split-kv", true, diags);
  FailureOr<bool> tma = options.flag("tma", true, diags);
  FailureOr<bool> binary = options.flag("binary", hasPtxas(), diags);
  if (failed(queryTile) || failed(keyTile) || failed(blockSize) ||
      failed(mma) || failed(splitKV) || failed(tma) || failed(binary))
    return 1;
  if (*queryTile != 0 && *queryTile != 64 && *queryTile != 128)
    return diags.error("expected q-tile of 64 or 128 for GPU kernels");
  if (*keyTile != 0 && *keyTile != 64 &&
      (*keyTile != 128 || !attn::hasWarpgroupMMA(chip)))
    return diags.error(
        "expected k-tile of 64, or 128 on sm_90a, for GPU kernels");
  if (*blockSize % 32)
    return diags.error("expected block-size to be a multiple of 32");
  gpu.mmaQueryTile = *queryTile;
  gpu.mmaKeyTile = *keyTile;
  gpu.blockSize = *blockSize;
  gpu.mma = *mma;
  gpu.splitKV = *splitKV;
  gpu.tma = *tma;

  std::string manifest;
  llvm::raw_string_ostream manifestOS(manifest);
  if (failed(attn::writeGPUManifest(module, gpu, manifestOS)))
    return 1;
  FailureOr<std::string> kernels =
      attn::compileGPUKernels(module, gpu, *binary);
  if (failed(kernels))
    return 1;
  llvm::SmallString<256> path(outputDir);
  llvm::sys::path::append(path, *binary ? "kernel.cubin" : "kernel.ptx");
  if (failed(writeFile(path, *kernels, diags)))
    return 1;
  path = outputDir;
  llvm::sys::path::append(path, "kernel.manifest");
  return failed(writeFile(path, manifest, diags));
}

/// Parses `spec` into `context`; diagnostics go to `diags`.
static OwningOpRef<ModuleOp> parse(const char *spec, const char *sourceName,
                                   MLIRContext &context, Diagnostics &diags) {
  diags.sourceMgr.AddNewSourceBuffer(
      llvm::MemoryBuffer::getMemBufferCopy(spec ? spec : "",
                                           sourceName ? sourceName : "<spec>"),
      llvm::SMLoc());
  if (failed(attn::checkNesting(diags.sourceMgr, &context)))
    return nullptr;
  return parseSourceFile<ModuleOp>(diags.sourceMgr, &context);
}

int attnCompile(const char *spec, const char *sourceName, const char *target,
                const char *options, const char *outputDir,
                char **diagnostics) {
  std::unique_ptr<MLIRContext> context = attn::createKernelContext();
  Diagnostics diags(*context);
  int status = [&] {
    if (!spec || !target || !outputDir)
      return diags.error("attnCompile: spec, target and output_dir must not "
                         "be null");
    if (!llvm::sys::fs::is_directory(outputDir))
      return diags.error("output directory '" + llvm::Twine(outputDir) +
                         "' does not exist");
    FailureOr<Options> parsed = Options::parse(options, diags);
    if (failed(parsed))
      return 1;
    OwningOpRef<ModuleOp> module = parse(spec, sourceName, *context, diags);
    if (!module)
      return 1;
    // Canonicalization folds constant operands into the attributes; the
    // manifest describes the kernel after it, as the pipelines do.
    PassManager pm(context.get());
    pm.addPass(createCanonicalizerPass());
    if (failed(pm.run(*module)))
      return 1;
    if (attn::getSpecFunctions(*module).empty())
      return diags.error("expected at least one spec function (a func.func "
                         "holding an attn.attention or attn.linear_attention)");
    StringRef targetName(target);
    if (targetName == "cpu")
      return compileCPU(*module, *parsed, outputDir, diags);
    return compileGPU(*module, targetName, *parsed, outputDir, diags);
  }();
  diags.release(diagnostics);
  return status;
}

int attnVerify(const char *spec, const char *sourceName, char **diagnostics) {
  std::unique_ptr<MLIRContext> context = attn::createKernelContext();
  Diagnostics diags(*context);
  int status = parse(spec, sourceName, *context, diags) ? 0 : 1;
  diags.release(diagnostics);
  return status;
}

const char *attnCompilerVersion(void) {
  return "attn-mlir " ATTN_VERSION " (LLVM " LLVM_VERSION_STRING ")";
}

void attnFreeString(char *string) { std::free(string); }

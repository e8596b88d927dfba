//===- KernelEmission.h - attn specs to host kernels -----------*- C++ -*-===//
//
// Compiles spec functions to host CPU kernels with the kernel ABI of
// `attn-lower-to-loops{kernel-abi}`, and emits them as LLVM IR, an object
// file, a shared library or a C header.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_TARGET_CPU_KERNELEMISSION_H
#define ATTN_TARGET_CPU_KERNELEMISSION_H

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/SourceMgr.h"

namespace mlir::attn {

/// One argument of a kernel, in ABI order: the spec's inputs (named by role:
/// q, k, v, mask0.., score0.., norm0.., gate0.., capture0.., cu_seqlens_q,
/// cu_seqlens_kv), then the outputs (o, lse).
struct KernelArgument {
  std::string name;
  Type type;          // tensor type (a buffer in the ABI) or scalar type
  bool output = false;
  std::optional<OperandSlot> slot; // for mask/score/norm/gate operands
};

/// Registers what reading and compiling specs needs: every dialect and
/// extension, the LLVM IR translations, every pass and the attn pipelines.
void registerKernelCompilation(DialectRegistry &registry);

/// A context for the drivers: everything registerKernelCompilation
/// registers, loaded, and diagnostics without a dump of the (possibly half
/// lowered) op — they point at the spec.
std::unique_ptr<MLIRContext> createKernelContext();

/// Parses the spec file `path` (`-` for stdin); diagnostics go to stderr
/// through `sourceMgr`. Returns null on failure.
OwningOpRef<ModuleOp> parseSpecFile(StringRef path, MLIRContext &context,
                                    llvm::SourceMgr &sourceMgr);

/// Describes the kernel a spec function compiles to; fails with a located
/// error if `func` is not a spec function.
FailureOr<SmallVector<KernelArgument>> describeKernel(func::FuncOp func);

/// Runs canonicalization and `attn-cpu-pipeline{kernel-abi}` on `module`
/// for `cpu` (see translateForHost): AMX tiles for bf16 products where the
/// CPU has amx-bf16. Without `kernelABI`, spec functions keep their tensor
/// signature (results returned as buffers the caller frees, one thread) and
/// get a C interface: the form for spec functions that hold more than one
/// attn op (selections feeding an attention).
LogicalResult compileKernels(ModuleOp module, int64_t queryTile,
                             int64_t keyTile, StringRef cpu = "",
                             bool kernelABI = true);

/// Whether `cpu` (see translateForHost) has AMX tiles with bf16 products.
bool hasAMX(StringRef cpu);

/// The (query, key) tile sizes the drivers use when none are given: 64 x 64
/// for the vector FMA body, 128 x 128 where every attention of `module`
/// takes bf16 inputs and `cpu` has AMX (measured in docs/benchmarks.md).
std::pair<int64_t, int64_t> defaultTileSizes(ModuleOp module, StringRef cpu);

/// Whether `cpu` names a CPU of the host's architecture that LLVM knows
/// ("native" and "" stand for the host CPU and its features).
bool isKnownCPU(StringRef cpu);

/// Translates a compiled module to LLVM IR for `cpu` (default: the host CPU
/// with its features; else an LLVM CPU name such as x86-64-v3 or
/// sapphirerapids), optimized at -O3, with the host triple and data layout.
std::unique_ptr<llvm::Module> translateForHost(ModuleOp module,
                                               llvm::LLVMContext &context,
                                               StringRef cpu = "");

/// Writes `module` as an object file for `cpu` (see translateForHost).
LogicalResult writeObject(llvm::Module &module, StringRef path,
                          StringRef cpu = "");

/// Links an object into a shared library with the host C compiler driver.
LogicalResult linkSharedLibrary(StringRef object, StringRef library);

/// The spec functions of `module`: those with a body holding an
/// attn.attention or attn.linear_attention.
SmallVector<func::FuncOp> getSpecFunctions(ModuleOp module);

/// Writes the manifest lines of `args` in ABI order: `arg ROLE in|out buffer
/// ELEM RANK SIZES...` (-1 for a dynamic size) or `arg ROLE in scalar ELEM`.
/// The CPU and GPU manifests share them.
void writeManifestArguments(ArrayRef<KernelArgument> args,
                            llvm::raw_ostream &os);

/// Writes the CPU manifest of `module` (before compilation): `attn-cpu-manifest
/// 1`, then per spec function `kernel NAME args N` and its arguments, `end`.
LogicalResult writeCPUManifest(ModuleOp module, llvm::raw_ostream &os);

/// Writes a C header declaring the C entry point of every spec function of
/// `module` (before compilation) with its arguments and the threading
/// contract.
LogicalResult writeCHeader(ModuleOp module, llvm::raw_ostream &os);

} // namespace mlir::attn

#endif // ATTN_TARGET_CPU_KERNELEMISSION_H

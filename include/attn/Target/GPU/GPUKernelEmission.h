//===- GPUKernelEmission.h - attn specs to GPU binaries --------*- C++ -*-===//
//
// Compiles spec functions to NVIDIA GPU kernels through
// `attn-gpu-pipeline`, extracts the PTX or cubin, and writes the kernel
// manifest that `attnrt` reads to check arguments and compute the grid.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_TARGET_GPU_GPUKERNELEMISSION_H
#define ATTN_TARGET_GPU_GPUKERNELEMISSION_H

#include "mlir/IR/BuiltinOps.h"

#include <string>

namespace mlir::attn {

/// What attn-gpu-pipeline compiles for.
struct GPUTargetOptions {
  std::string chip = "sm_90a";
  int64_t keyTile = 64;
  int64_t blockSize = 128;
  /// The tensor-core body where it applies (attn-lower-to-gpu{mma}).
  bool mma = true;
  /// Query rows per block and keys per tile of the tensor-core body (64 or
  /// 128; 0: chosen per op by attn-lower-to-gpu).
  int64_t mmaQueryTile = 0, mmaKeyTile = 0;
  /// Split keys over blocks at launch (attn-lower-to-gpu{split-kv}).
  bool splitKV = true;
  /// TMA loads in the 128 x 128 warpgroup body (attn-lower-to-gpu{tma}).
  bool tma = true;
};

/// Whether `chip` names an NVIDIA GPU architecture the NVPTX backend knows
/// (sm_80, sm_86, sm_89, sm_90, sm_90a, sm_100a, ...).
bool isKnownGPUChip(StringRef chip);

/// Writes the kernel manifest of every spec function of `module` (before
/// compilation): per kernel its block size, query rows per work item, work
/// items per block, dynamic shared memory, query layout and arguments in
/// ABI order (name, direction, element type and static shape, `-1` for a
/// dynamic size), as attn-lower-to-gpu chose them. The format is
/// documented in include/attn/Runtime/attnrt.h.
LogicalResult writeGPUManifest(ModuleOp module, const GPUTargetOptions &options,
                               llvm::raw_ostream &os);

/// Compiles `module` to PTX (`binary` false) or cubin (true, through
/// ptxas) and returns the bytes of `@attn_kernels`.
FailureOr<std::string> compileGPUKernels(ModuleOp module,
                                         const GPUTargetOptions &options,
                                         bool binary);

} // namespace mlir::attn

#endif // ATTN_TARGET_GPU_GPUKERNELEMISSION_H

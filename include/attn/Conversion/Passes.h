//===- Passes.h - attn conversion passes -----------------------*- C++ -*-===//
//
// Declares the attn conversion passes, their registration and the named
// pipelines built from them.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_CONVERSION_PASSES_H
#define ATTN_CONVERSION_PASSES_H

#include "attn/Dialect/Attn/IR/AttnDialect.h"
#include "mlir/Dialect/AMX/AMXDialect.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir::attn {

#define GEN_PASS_DECL
#include "attn/Conversion/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "attn/Conversion/Passes.h.inc"

/// Registers `attn-cpu-pipeline`: spec in, LLVM dialect out.
void registerAttnCPUPipeline();
/// Registers `attn-gpu-pipeline`: spec in, GPU binaries (PTX or cubin) out.
void registerAttnGPUPipeline();
/// Whether kernels for `chip` use warpgroup MMAs (`attn-lower-to-gpu{wgmma}`):
/// the architecture-specific sm_90a only.
bool hasWarpgroupMMA(llvm::StringRef chip);

} // namespace mlir::attn

#endif // ATTN_CONVERSION_PASSES_H

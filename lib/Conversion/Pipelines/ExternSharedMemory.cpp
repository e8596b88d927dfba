//===- ExternSharedMemory.cpp - dynamic shared memory as .extern ----------===//
//
// convert-gpu-to-nvvm lowers `gpu.dynamic_shared_memory` to an internal,
// zero-sized `addr_space = 3` global. LLVM's NVPTX backend then demotes it
// to a one-byte `.shared` variable of the kernel, and the optimizer treats
// every access past its zero size as undefined: whole kernels fold away.
// Dynamic shared memory is an `.extern .shared` array of unknown size in
// PTX, which external linkage produces.
//
//===----------------------------------------------------------------------===//

#include "attn/Conversion/Passes.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNEXTERNSHAREDMEMORYPASS
#include "attn/Conversion/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;

namespace {
struct AttnExternSharedMemoryPass
    : mlir::attn::impl::AttnExternSharedMemoryPassBase<
          AttnExternSharedMemoryPass> {
  void runOnOperation() override {
    getOperation()->walk([](LLVM::GlobalOp global) {
      auto array = dyn_cast<LLVM::LLVMArrayType>(global.getGlobalType());
      if (global.getAddrSpace() == 3 && array && array.getNumElements() == 0 &&
          !global.getInitializerRegion().getBlocks().size() &&
          !global.getValueAttr())
      {
        global.setLinkage(LLVM::Linkage::External);
        // 128-byte swizzled tiles (ldmatrix and wgmma) repeat every 1024
        // bytes: their views must start on such a boundary.
        global.setAlignment(1024);
      }
    });
  }
};
} // namespace

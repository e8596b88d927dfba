//===- Reference.h - attn-run's side of the float64 reference ---*- C++ -*-===//
//
// `--check` and `--bench` ask python/attn/check.py: attn-run writes a JSON
// request (the ops' structured attributes as text, the inputs and outputs
// as .npy files) and reads back the errors and the allowed pairs.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_TOOLS_ATTNRUN_REFERENCE_H
#define ATTN_TOOLS_ATTNRUN_REFERENCE_H

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "llvm/Support/JSON.h"

#include <functional>

namespace attnrun {

/// What the reference needs of `op` besides its data: mask, score, norm
/// and gate attributes as text, layouts, scale, and the name of the input
/// behind every operand group (`nameOf` names an operand).
llvm::json::Object
describeAttention(mlir::attn::AttentionOp op,
                  const std::function<std::string(mlir::Value)> &nameOf);

/// The relative error a result of element type `type` computed from inputs
/// of `inputs` may have: as precise as the least precise of them (bf16
/// inputs may have P rounded to bf16 for the products, as in
/// FlashAttention's and PyTorch's bf16 kernels).
double tolerance(mlir::Type type, mlir::TypeRange inputs);

/// Runs python/attn/check.py on `request` in `dir`; returns its answer.
llvm::Expected<llvm::json::Object>
runReference(const llvm::json::Object &request, llvm::StringRef dir);

} // namespace attnrun

#endif // ATTN_TOOLS_ATTNRUN_REFERENCE_H

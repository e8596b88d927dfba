//===- Inputs.h - the inputs of a spec function for attn-run ----*- C++ -*-===//
//
// Binding inputs by name (--input NAME=FILE.npy), reading and checking
// them against the argument types, and random data that is valid for each
// operand's role (--random SEED).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_TOOLS_ATTNRUN_INPUTS_H
#define ATTN_TOOLS_ATTNRUN_INPUTS_H

#include "Npy.h"
#include "attn/Dialect/Attn/IR/AttnOperandSlots.h"
#include "mlir/IR/Types.h"
#include "llvm/ADT/StringMap.h"

#include <optional>
#include <random>
#include <string>

namespace attnrun {

/// One input of the function attn-run calls.
struct Argument {
  std::string name;             // role (q, k, v, mask0, ...) or SSA name
  mlir::Type type;              // tensor or scalar type
  mlir::attn::OperandSlot slot; // for random generation of operands
  bool hasSlot = false;
  npy::Array value; // host values (also for scalars: shape [])

  Argument(std::string name, mlir::Type type,
           std::optional<mlir::attn::OperandSlot> slot)
      : name(std::move(name)), type(type),
        slot(slot.value_or(mlir::attn::OperandSlot())),
        hasSlot(slot.has_value()) {}
};

/// Parses `NAME=FILE` options into a map.
llvm::Expected<llvm::StringMap<std::string>>
parseBindings(llvm::ArrayRef<std::string> items, llvm::StringRef option);

/// Reads `file` into `arg`, checking its shape and element kind.
llvm::Error readInput(Argument &arg, llvm::StringRef file);

/// Random values that are valid for the role of `arg`.
void randomize(Argument &arg, std::mt19937_64 &rng,
               const mlir::attn::Extents &extents);

/// Random selection counts stay within their lists. Counts given as
/// inputs are left alone.
void fixSelectionCounts(llvm::MutableArrayRef<Argument> args,
                        const llvm::StringMap<std::string> &given);

/// Fills every argument: from its file in `inputs`, else random data from
/// `rng` when `random`, else an error naming the missing input.
llvm::Error loadInputs(llvm::MutableArrayRef<Argument> args,
                       const llvm::StringMap<std::string> &inputs, bool random,
                       std::mt19937_64 &rng,
                       const mlir::attn::Extents &extents);

} // namespace attnrun

#endif // ATTN_TOOLS_ATTNRUN_INPUTS_H

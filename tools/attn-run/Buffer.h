//===- Buffer.h - host buffers of compiled attn functions -------*- C++ -*-===//
//
// The memory attn-run hands to compiled functions: element storage of any
// attn element type with the strided memref descriptor MLIR's C interface
// expects, read and written as float64 values.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_TOOLS_ATTNRUN_BUFFER_H
#define ATTN_TOOLS_ATTNRUN_BUFFER_H

#include "Npy.h"
#include "mlir/IR/Types.h"

#include <vector>

namespace attnrun {

/// A row-major buffer plus its memref descriptor (base, data, offset,
/// sizes, strides). A buffer of shape [] holds one scalar.
struct Buffer {
  mlir::Type element;
  llvm::SmallVector<int64_t, 4> shape;
  std::vector<char> storage;
  std::vector<int64_t> descriptor;
  void *descriptorPtr = nullptr;
  /// A scalar argument: passed by value, not as a descriptor.
  bool scalar = false;

  void allocate(mlir::Type elementType, llvm::ArrayRef<int64_t> dims);
  /// A buffer for a value of `type` (a static tensor or a scalar).
  void allocateFor(mlir::Type type);
  /// The argument slot: the descriptor, or the scalar itself.
  void *slot() {
    return scalar ? static_cast<void *>(storage.data())
                  : static_cast<void *>(&descriptorPtr);
  }
  /// Bytes per element (i1 takes a byte).
  unsigned width() const;
  int64_t numElements() const;
  void set(int64_t i, double value);
  double get(int64_t i) const;
  /// The values as a float64 host array.
  npy::Array toArray() const;
};

} // namespace attnrun

#endif // ATTN_TOOLS_ATTNRUN_BUFFER_H

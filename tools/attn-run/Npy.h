//===- Npy.h - reading and writing NumPy .npy files ------------*- C++ -*-===//
//
// The subset of the .npy format attn-run needs: C-order arrays of bool,
// int32/int64, float16/32/64, read into and written from float64 or int64
// host buffers with a shape.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_TOOLS_ATTNRUN_NPY_H
#define ATTN_TOOLS_ATTNRUN_NPY_H

#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <vector>

namespace attnrun::npy {

/// An array held as float64 values (every element kind converts exactly
/// enough for attention inputs) with its shape.
struct Array {
  llvm::SmallVector<int64_t, 4> shape;
  std::vector<double> values;
  /// The file's element kind: 'f' float, 'i' integer, 'b' bool.
  char kind = 'f';
  int64_t numElements() const;
};

/// Reads `path`; errors name the file and what is wrong.
llvm::Expected<Array> read(llvm::StringRef path);

/// Writes `array` as little-endian float32 ('<f4').
llvm::Error writeFloat32(llvm::StringRef path, const Array &array);

} // namespace attnrun::npy

#endif // ATTN_TOOLS_ATTNRUN_NPY_H

//===- TensorMaps.h - TMA tensor maps of a launch (private) -----*- C++ -*-===//
//
// The tensor maps a kernel with `tma ROWS` reads its Q, K and V tiles
// through (attn/Runtime/attnrt.h), encoded by the driver.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_RUNTIME_TENSORMAPS_H
#define ATTN_LIB_RUNTIME_TENSORMAPS_H

#include "CudaDriver.h"
#include "Manifest.h"

#include <string>

namespace attnrt {

/// Bytes of one tensor map (CUtensorMap), and of a launch's three.
constexpr size_t kTensorMapBytes = 128, kTensorMapsBytes = 3 * 128;

/// Encodes the tensor maps of Q, K and V of a launch of `spec` (which has
/// `tma`; `args` already checked against it) into `maps` (64-byte
/// aligned, kTensorMapsBytes). On failure returns false with a message.
bool encodeTensorMaps(const CudaDriver &cuda, const KernelSpec &spec,
                      const attnrt_arg *args, int32_t numArgs,
                      unsigned char *maps, std::string &error);

} // namespace attnrt

#endif // ATTN_LIB_RUNTIME_TENSORMAPS_H

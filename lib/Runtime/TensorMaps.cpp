//===- TensorMaps.cpp - TMA tensor maps of a launch -----------------------===//
//
// A kernel with TMA loads copies 64-column slabs of Q, K and V rows with
// `cp.async.bulk.tensor.4d`, coordinates innermost first: (column,
// sequence, head, batch) for BHSD tensors, (column, head, sequence, batch)
// for BSHD. Each map describes one contiguous 4-D tensor in that order,
// with a box of 64 columns (128 bytes: the SWIZZLE_128B slab the kernel's
// wgmma descriptors read) by the tile's rows of one head of one batch;
// rows past the sequence read as zeros.
//
//===----------------------------------------------------------------------===//

#include "TensorMaps.h"

using namespace attnrt;

namespace {
// cuda.h's enumerators (CUtensorMapDataType, ...).
constexpr int kMapFloat16 = 6, kMapBFloat16 = 9;
constexpr int kInterleaveNone = 0, kSwizzle128B = 3, kPromoteL2_128B = 2,
              kFillZeros = 0;
/// Columns per slab (the kernels' kSlab).
constexpr unsigned kSlabColumns = 64;
} // namespace

bool attnrt::encodeTensorMaps(const CudaDriver &cuda, const KernelSpec &spec,
                              const attnrt_arg *args, int32_t numArgs,
                              unsigned char *maps, std::string &error) {
  if (!cuda.cuTensorMapEncodeTiled) {
    error = "kernel '" + spec.name +
            "' loads by TMA, and the CUDA driver lacks cuTensorMapEncodeTiled "
            "(CUDA 12 or later is needed; or compile with tma=0)";
    return false;
  }
  const char *roles[] = {"q", "k", "v"};
  for (int m = 0; m < 3; ++m) {
    int32_t i = 0;
    while (i < numArgs && spec.args[i].role != roles[m])
      ++i;
    if (i == numArgs || args[i].kind != ATTNRT_ARG_TENSOR ||
        args[i].tensor.rank != 4) {
      error = "kernel '" + spec.name + "': TMA loads need a 4-D '" + roles[m] +
              "' tensor";
      return false;
    }
    const attnrt_tensor &t = args[i].tensor;
    const std::string &element = spec.args[i].element;
    if (element != "f16" && element != "bf16") {
      error = "kernel '" + spec.name + "': TMA loads of '" + roles[m] +
              "' need f16 or bf16, the manifest says " + element;
      return false;
    }
    // Sizes [B, X, Y, D] (X, Y: heads and sequence in the layout's order),
    // row-major (checked): dims innermost first, strides in bytes.
    const std::string &layout = m == 0 ? spec.layout : spec.kvLayout;
    unsigned long long dims[4], strides[3];
    for (int d = 0; d < 4; ++d)
      dims[d] = static_cast<unsigned long long>(t.sizes[3 - d]);
    // An empty tensor (no keys) is never read: no tile is visited.
    if (!dims[0] || !dims[1] || !dims[2] || !dims[3])
      continue;
    unsigned long long bytes = 2;
    for (int d = 0; d < 3; ++d)
      strides[d] = bytes *= dims[d];
    unsigned rows =
        static_cast<unsigned>(m == 0 ? spec.queryTile : spec.tmaRows);
    bool bshd = layout == "bshd";
    unsigned box[4] = {kSlabColumns, bshd ? 1u : rows, bshd ? rows : 1u, 1u};
    unsigned elementStrides[4] = {1, 1, 1, 1};
    if (CUresult r = cuda.cuTensorMapEncodeTiled(
            maps + m * kTensorMapBytes,
            element == "bf16" ? kMapBFloat16 : kMapFloat16, 4, t.data, dims,
            strides, box, elementStrides, kInterleaveNone, kSwizzle128B,
            kPromoteL2_128B, kFillZeros);
        r != kSuccess) {
      error = cuda.describe(("encoding the tensor map of '" +
                             std::string(roles[m]) + "' for kernel '" +
                             spec.name + "'")
                                .c_str(),
                            r);
      return false;
    }
  }
  return true;
}

//===- CudaDriver.h - the CUDA driver API, opened at run time ---*- C++ -*-===//
//
// The few driver entry points attnrt uses, resolved from libcuda.so.1 with
// dlopen on first use: building and loading attnrt needs no CUDA.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_RUNTIME_CUDADRIVER_H
#define ATTN_LIB_RUNTIME_CUDADRIVER_H

#include <string>

namespace attnrt {

using CUresult = int;
using CUdevice = int;
using CUcontext = void *;
using CUmodule = void *;
using CUfunction = void *;
using CUstream = void *;
using CUdeviceptr = unsigned long long;

struct CudaDriver {
  CUresult (*cuInit)(unsigned);
  CUresult (*cuDeviceGet)(CUdevice *, int);
  CUresult (*cuCtxGetCurrent)(CUcontext *);
  CUresult (*cuCtxSetCurrent)(CUcontext);
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice);
  CUresult (*cuModuleLoadDataEx)(CUmodule *, const void *, unsigned, int *,
                                 void **);
  CUresult (*cuModuleGetFunction)(CUfunction *, CUmodule, const char *);
  CUresult (*cuModuleUnload)(CUmodule);
  CUresult (*cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned,
                             unsigned, unsigned, unsigned, unsigned, CUstream,
                             void **, void **);
  CUresult (*cuStreamSynchronize)(CUstream);
  CUresult (*cuFuncSetAttribute)(CUfunction, int, int);
  CUresult (*cuPointerGetAttribute)(void *, int, unsigned long long);
  CUresult (*cuCtxGetDevice)(CUdevice *);
  CUresult (*cuDeviceGetAttribute)(int *, int, CUdevice);
  CUresult (*cuMemAllocAsync)(CUdeviceptr *, size_t, CUstream);
  CUresult (*cuMemFreeAsync)(CUdeviceptr, CUstream);
  CUresult (*cuMemFree)(CUdeviceptr);
  CUresult (*cuMemsetD32Async)(CUdeviceptr, unsigned, size_t, CUstream);
  CUresult (*cuMemcpyHtoDAsync)(CUdeviceptr, const void *, size_t, CUstream);
  /// CUDA 12 and later (null before): tensor maps for TMA kernels.
  CUresult (*cuTensorMapEncodeTiled)(void *, int, unsigned, void *,
                                     const unsigned long long *,
                                     const unsigned long long *,
                                     const unsigned *, const unsigned *, int,
                                     int, int, int);
  CUresult (*cuGetErrorName)(CUresult, const char **);
  CUresult (*cuGetErrorString)(CUresult, const char **);

  /// The driver, loaded and initialized (cuInit) once; null with `error`
  /// set when there is no usable driver.
  static const CudaDriver *get(std::string &error);

  /// "what: CUDA_ERROR_NAME (description)".
  std::string describe(const char *what, CUresult result) const;
};

constexpr CUresult kSuccess = 0;
constexpr int kPointerMemoryType = 2;   // CU_POINTER_ATTRIBUTE_MEMORY_TYPE
constexpr unsigned kMemoryTypeHost = 1; // CU_MEMORYTYPE_HOST
constexpr int kJitErrorLogBuffer = 5;   // CU_JIT_ERROR_LOG_BUFFER
constexpr int kJitErrorLogSize = 6;     // CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES
constexpr int kFuncMaxDynamicSharedBytes = 8; // CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
constexpr int kMultiprocessorCount = 16; // CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT
constexpr int kSharedPerMultiprocessor =
    81; // CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR

} // namespace attnrt

#endif // ATTN_LIB_RUNTIME_CUDADRIVER_H

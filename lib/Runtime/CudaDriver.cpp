//===- CudaDriver.cpp - the CUDA driver API, opened at run time -----------===//

#include "CudaDriver.h"

#include <dlfcn.h>
#include <mutex>

using namespace attnrt;

const CudaDriver *CudaDriver::get(std::string &error) {
  static CudaDriver driver;
  static std::string loadError;
  static std::once_flag once;
  std::call_once(once, [] {
    void *library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!library) {
      const char *why = dlerror();
      loadError = std::string("cannot open the CUDA driver libcuda.so.1 (is "
                              "an NVIDIA driver installed?): ") +
                  (why ? why : "");
      return;
    }
    bool complete = true;
    auto bind = [&](auto &fn, const char *name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(
          dlsym(library, name));
      if (!fn && complete) {
        loadError = std::string("the CUDA driver lacks ") + name;
        complete = false;
      }
    };
    bind(driver.cuInit, "cuInit");
    bind(driver.cuDeviceGet, "cuDeviceGet");
    bind(driver.cuCtxGetCurrent, "cuCtxGetCurrent");
    bind(driver.cuCtxSetCurrent, "cuCtxSetCurrent");
    bind(driver.cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain");
    bind(driver.cuModuleLoadDataEx, "cuModuleLoadDataEx");
    bind(driver.cuModuleGetFunction, "cuModuleGetFunction");
    bind(driver.cuModuleUnload, "cuModuleUnload");
    bind(driver.cuLaunchKernel, "cuLaunchKernel");
    bind(driver.cuStreamSynchronize, "cuStreamSynchronize");
    bind(driver.cuFuncSetAttribute, "cuFuncSetAttribute");
    bind(driver.cuPointerGetAttribute, "cuPointerGetAttribute");
    bind(driver.cuCtxGetDevice, "cuCtxGetDevice");
    bind(driver.cuDeviceGetAttribute, "cuDeviceGetAttribute");
    bind(driver.cuMemAllocAsync, "cuMemAllocAsync");
    bind(driver.cuMemFreeAsync, "cuMemFreeAsync");
    bind(driver.cuMemFree, "cuMemFree_v2");
    bind(driver.cuMemsetD32Async, "cuMemsetD32Async");
    bind(driver.cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2");
    bind(driver.cuGetErrorName, "cuGetErrorName");
    bind(driver.cuGetErrorString, "cuGetErrorString");
    if (!complete)
      return;
    // Optional: older drivers launch every kernel but TMA ones.
    driver.cuTensorMapEncodeTiled =
        reinterpret_cast<decltype(driver.cuTensorMapEncodeTiled)>(
            dlsym(library, "cuTensorMapEncodeTiled"));
    if (CUresult r = driver.cuInit(0); r != kSuccess)
      loadError = driver.describe("cuInit", r);
  });
  if (!loadError.empty()) {
    error = loadError;
    return nullptr;
  }
  return &driver;
}

std::string CudaDriver::describe(const char *what, CUresult result) const {
  const char *name = nullptr, *text = nullptr;
  if (cuGetErrorName)
    cuGetErrorName(result, &name);
  if (cuGetErrorString)
    cuGetErrorString(result, &text);
  return std::string(what) + ": " + (name ? name : "CUDA error " + std::to_string(result)) +
         (text ? std::string(" (") + text + ")" : "");
}

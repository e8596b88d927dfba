//===- attnrt.cpp - launch attn GPU kernels -------------------------------===//
//
// The C API of attn/Runtime/attnrt.h: manifests are parsed at creation,
// the binary is loaded by the driver per CUDA context at the first launch
// there, and every launch is planned (checked) before it happens.
//
//===----------------------------------------------------------------------===//

#include "attn/Runtime/attnrt.h"
#include "CudaDriver.h"
#include "Manifest.h"
#include "TensorMaps.h"

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <map>
#include <mutex>
#include <sstream>

using namespace attnrt;

struct attnrt_module {
  std::string binary;
  std::vector<KernelSpec> kernels;
  std::vector<ProgramSpec> programs;
  std::mutex mutex;
  /// The loaded module and its functions per CUDA context.
  struct Loaded {
    CUmodule module = nullptr;
    std::map<std::string, CUfunction> functions;
    int multiprocessors = 0; // of the context's device
    int sharedPerMultiprocessor = 0; // bytes, likewise
    /// Split-key workspaces per stream: launches on one stream are
    /// ordered, so each reuses its stream's (grown when too small).
    struct Workspace {
      CUdeviceptr base = 0;
      uint64_t bytes = 0;
    };
    std::map<CUstream, Workspace> workspaces;
    /// Programs' temporaries per stream, likewise.
    std::map<CUstream, Workspace> temporaries;
    /// TMA kernels' tensor maps per stream, and the maps last copied
    /// there (a launch with the same tensors copies nothing).
    struct TensorMaps {
      Workspace buffer;
      bool valid = false;
      alignas(64) unsigned char last[kTensorMapsBytes];
    };
    std::map<CUstream, TensorMaps> tensorMaps;
  };
  std::map<CUcontext, Loaded> loaded;
};

namespace {
thread_local std::string lastError;

int fail(const std::string &message) {
  lastError = "attnrt: " + message;
  return 1;
}

/// The spec named `name` in `specs`, or null.
template <typename Spec>
const Spec *findNamed(const std::vector<Spec> &specs, const char *name) {
  if (!name)
    return nullptr;
  for (const Spec &spec : specs)
    if (spec.name == name)
      return &spec;
  return nullptr;
}

const KernelSpec *findKernel(const attnrt_module *module, const char *name) {
  return findNamed(module->kernels, name);
}

/// The name of specs[index], or null out of range.
template <typename Spec>
const char *nameAt(const std::vector<Spec> &specs, int32_t index) {
  if (index < 0 || static_cast<size_t>(index) >= specs.size())
    return nullptr;
  return specs[index].name.c_str();
}

std::string kernelNames(const attnrt_module *module) {
  std::string names;
  for (const KernelSpec &k : module->kernels)
    names += (names.empty() ? "" : ", ") + k.name;
  return names.empty() ? "none" : names;
}

/// ATTNRT_SPLIT_KV=N: N blocks per work item for every kernel with split
/// keys (1: none), instead of the heuristic; for tests and tuning.
bool forcedSplits(int32_t &splits, std::string &error) {
  splits = 0;
  const char *text = std::getenv("ATTNRT_SPLIT_KV");
  if (!text || !*text)
    return true;
  char *end = nullptr;
  long value = std::strtol(text, &end, 10);
  if (*end || value < 1 || value > 1024) {
    error = std::string("ATTNRT_SPLIT_KV: expected a split count in [1, "
                        "1024], got '") +
            text + "'";
    return false;
  }
  splits = static_cast<int32_t>(value);
  return true;
}

bool readFile(const char *path, std::string &text) {
  std::ifstream file(path, std::ios::binary);
  if (!file)
    return false;
  std::ostringstream content;
  content << file.rdbuf();
  text = content.str();
  return true;
}

/// Makes `cache` (one stream's buffer) at least `bytes` large, stream-
/// ordered (the previous launches on the stream finish before the free).
/// Returns false after fail().
bool growBuffer(const CudaDriver &cuda, attnrt_module::Loaded::Workspace &cache,
                uint64_t bytes, CUstream stream, const char *what) {
  if (cache.bytes >= bytes)
    return true;
  if (cache.base)
    cuda.cuMemFreeAsync(cache.base, stream);
  cache = {};
  if (CUresult r = cuda.cuMemAllocAsync(&cache.base, bytes, stream);
      r != kSuccess)
    return fail(cuda.describe(
               ("allocating the " + std::to_string(bytes) + "-byte " + what)
                   .c_str(),
               r)),
           false;
  cache.bytes = bytes;
  return true;
}

const ProgramSpec *findProgram(const attnrt_module *module, const char *name) {
  return findNamed(module->programs, name);
}

/// The CUDA driver and the current context, or device 0's primary context
/// made current.
int currentContext(const CudaDriver *&driver, CUcontext &context) {
  std::string error;
  driver = CudaDriver::get(error);
  if (!driver)
    return fail(error);
  const CudaDriver &cuda = *driver;
  context = nullptr;
  if (CUresult r = cuda.cuCtxGetCurrent(&context); r != kSuccess)
    return fail(cuda.describe("cuCtxGetCurrent", r));
  if (!context) {
    CUdevice device;
    if (CUresult r = cuda.cuDeviceGet(&device, 0); r != kSuccess)
      return fail(cuda.describe("cuDeviceGet", r));
    if (CUresult r = cuda.cuDevicePrimaryCtxRetain(&context, device);
        r != kSuccess)
      return fail(cuda.describe("cuDevicePrimaryCtxRetain", r));
    if (CUresult r = cuda.cuCtxSetCurrent(context); r != kSuccess)
      return fail(cuda.describe("cuCtxSetCurrent", r));
  }
  return 0;
}

/// Plans a launch of `spec` for `loaded`'s device (its SMs and their
/// shared memory, queried once; ATTNRT_SPLIT_KV) into `config`. Returns
/// false after fail().
bool planForDevice(const CudaDriver &cuda, attnrt_module::Loaded &loaded,
                   const KernelSpec &spec, const attnrt_arg *args,
                   int32_t numArgs, attnrt_launch_config &config) {
  if (!loaded.multiprocessors) {
    CUdevice device;
    if (CUresult r = cuda.cuCtxGetDevice(&device); r != kSuccess)
      return fail(cuda.describe("cuCtxGetDevice", r)), false;
    int multiprocessors = 0, shared = 0;
    for (auto [attribute, value] :
         {std::pair{kMultiprocessorCount, &multiprocessors},
          std::pair{kSharedPerMultiprocessor, &shared}})
      if (CUresult r = cuda.cuDeviceGetAttribute(value, attribute, device);
          r != kSuccess)
        return fail(cuda.describe("cuDeviceGetAttribute", r)), false;
    loaded.multiprocessors = multiprocessors;
    loaded.sharedPerMultiprocessor = shared;
  }
  std::string error;
  SplitPolicy policy{loaded.multiprocessors, 0, loaded.sharedPerMultiprocessor};
  if (!forcedSplits(policy.forced, error) ||
      !planLaunch(spec, args, numArgs, policy, config, error))
    return fail(error), false;
  return true;
}

/// Plans the split keys of a launch of `spec` on `loaded`'s context
/// (planForDevice) into `config`; with more than one split, makes
/// `stream`'s workspace large enough (stream-ordered) and zeroes the
/// launch's counters. Returns false after fail().
bool splitKeys(const CudaDriver &cuda, attnrt_module::Loaded &loaded,
               const KernelSpec &spec, const attnrt_arg *args, int32_t numArgs,
               CUstream stream, attnrt_launch_config &config,
               CUdeviceptr &workspace) {
  if (!planForDevice(cuda, loaded, spec, args, numArgs, config))
    return false;
  if (config.splits <= 1)
    return true;
  attnrt_module::Loaded::Workspace &cached = loaded.workspaces[stream];
  if (!growBuffer(cuda, cached, config.workspace_bytes, stream,
                  "split-key workspace"))
    return false;
  workspace = cached.base;
  if (CUresult r = cuda.cuMemsetD32Async(
          workspace + splitCounterOffset(config), 0, config.work_items, stream);
      r != kSuccess)
    return fail(cuda.describe("zeroing the split-key counters", r)), false;
  return true;
}
} // namespace

extern "C" int attnrt_launch(attnrt_module *, const char *, const attnrt_arg *,
                             int32_t, void *);

namespace {
/// Launches the steps of `program` on `stream`, its temporaries in the
/// stream's cached buffer (one region per temporary, 256-byte aligned).
int launchProgram(attnrt_module *module, const ProgramSpec &program,
                  const attnrt_arg *args, int32_t numArgs, CUstream stream) {
  std::string error;
  if (!checkArguments(program.args, args, numArgs, true, error))
    return fail("program '" + program.name + "': " + error);
  std::vector<uint64_t> offsets;
  uint64_t bytes = 0;
  for (const ProgramSpec::Temp &temp : program.temps) {
    uint64_t size = elementBytes(temp.element);
    bool overflow = false;
    for (int64_t extent : temp.shape)
      overflow |=
          __builtin_mul_overflow(size, static_cast<uint64_t>(extent), &size);
    offsets.push_back(bytes);
    overflow |= __builtin_add_overflow(size, uint64_t(255), &size) ||
                __builtin_add_overflow(bytes, size & ~uint64_t(255), &bytes);
    if (overflow)
      return fail("program '" + program.name +
                  "': its temporaries' sizes overflow 64 bits");
  }
  const CudaDriver *cuda = nullptr;
  CUcontext context = nullptr;
  if (int status = currentContext(cuda, context))
    return status;
  CUdeviceptr base = 0;
  if (bytes) {
    std::lock_guard<std::mutex> lock(module->mutex);
    attnrt_module::Loaded::Workspace &cached =
        module->loaded[context].temporaries[stream];
    if (!growBuffer(*cuda, cached, bytes, stream, "program temporaries"))
      return 1;
    base = cached.base;
  }
  for (const ProgramSpec::Step &step : program.steps) {
    // A step of the branch the flag does not pick.
    if (step.flag >= 0 && (args[step.flag].int_value != 0) != step.when)
      continue;
    const KernelSpec &kernel = module->kernels[step.kernel];
    std::vector<attnrt_arg> bound;
    for (const ProgramSpec::Binding &binding : step.bindings) {
      if (!binding.temp) {
        bound.push_back(args[binding.index]);
        continue;
      }
      const ProgramSpec::Temp &temp = program.temps[binding.index];
      attnrt_arg arg{};
      arg.kind = ATTNRT_ARG_TENSOR;
      arg.tensor.data = reinterpret_cast<void *>(base + offsets[binding.index]);
      arg.tensor.dtype = elementDtype(temp.element);
      arg.tensor.rank = static_cast<int32_t>(temp.shape.size());
      int64_t stride = 1;
      for (int32_t d = arg.tensor.rank - 1; d >= 0; --d) {
        arg.tensor.sizes[d] = temp.shape[d];
        arg.tensor.strides[d] = stride;
        stride *= temp.shape[d];
      }
      bound.push_back(arg);
    }
    if (attnrt_launch(module, kernel.name.c_str(), bound.data(),
                      static_cast<int32_t>(bound.size()), stream))
      return fail("program '" + program.name + "', step '" + kernel.name +
                  "': " + std::string(attnrt_last_error()).substr(8));
  }
  lastError.clear();
  return 0;
}
} // namespace

extern "C" {

const char *attnrt_last_error(void) { return lastError.c_str(); }

int attnrt_module_create(const void *binary, size_t binarySize,
                         const char *manifest, attnrt_module **module) {
  if (!module)
    return fail("null module result pointer");
  *module = nullptr;
  if (!binary || binarySize == 0)
    return fail("empty kernel binary");
  if (!manifest)
    return fail("null manifest");
  auto created = std::make_unique<attnrt_module>();
  // PTX is text the driver reads up to a NUL; cubins carry their size.
  created->binary.assign(static_cast<const char *>(binary), binarySize);
  std::string error;
  if (!parseManifest(manifest, created->kernels, created->programs, error))
    return fail(error);
  *module = created.release();
  lastError.clear();
  return 0;
}

int attnrt_module_create_from_files(const char *binaryPath,
                                    const char *manifestPath,
                                    attnrt_module **module) {
  std::string binary, manifest;
  if (!binaryPath || !readFile(binaryPath, binary))
    return fail(std::string("cannot read the kernel binary '") +
                (binaryPath ? binaryPath : "(null)") + "'");
  if (!manifestPath || !readFile(manifestPath, manifest))
    return fail(std::string("cannot read the manifest '") +
                (manifestPath ? manifestPath : "(null)") + "'");
  return attnrt_module_create(binary.data(), binary.size(), manifest.c_str(),
                              module);
}

void attnrt_module_destroy(attnrt_module *module) {
  if (!module)
    return;
  std::string ignored;
  if (const CudaDriver *cuda = CudaDriver::get(ignored))
    for (auto &[context, loaded] : module->loaded) {
      for (auto *buffers : {&loaded.workspaces, &loaded.temporaries})
        for (auto &[stream, buffer] : *buffers)
          cuda->cuMemFree(buffer.base); // waits for the launches using it
      for (auto &[stream, maps] : loaded.tensorMaps)
        cuda->cuMemFree(maps.buffer.base);
      if (loaded.module)
        cuda->cuModuleUnload(loaded.module);
    }
  delete module;
}

int32_t attnrt_kernel_count(const attnrt_module *module) {
  return module ? static_cast<int32_t>(module->kernels.size()) : 0;
}

const char *attnrt_kernel_name(const attnrt_module *module, int32_t index) {
  return module ? nameAt(module->kernels, index) : nullptr;
}

int32_t attnrt_program_count(const attnrt_module *module) {
  return module ? static_cast<int32_t>(module->programs.size()) : 0;
}

const char *attnrt_program_name(const attnrt_module *module, int32_t index) {
  return module ? nameAt(module->programs, index) : nullptr;
}

int attnrt_plan(const attnrt_module *module, const char *kernel,
                const attnrt_arg *args, int32_t numArgs,
                attnrt_launch_config *config) {
  return attnrt_plan_for_device(module, kernel, args, numArgs, 0, config);
}

int attnrt_plan_for_device(const attnrt_module *module, const char *kernel,
                           const attnrt_arg *args, int32_t numArgs,
                           int32_t multiprocessors,
                           attnrt_launch_config *config) {
  if (!module || !config)
    return fail("null module or configuration pointer");
  std::string error;
  if (const ProgramSpec *program = findProgram(module, kernel)) {
    // A program: its arguments (each step checks its own at launch).
    if (!checkArguments(program->args, args, numArgs, true, error))
      return fail("program '" + program->name + "': " + error);
    *config = {};
    config->work_items = 1;
    lastError.clear();
    return 0;
  }
  const KernelSpec *spec = findKernel(module, kernel);
  if (!spec)
    return fail(std::string("no kernel '") + (kernel ? kernel : "(null)") +
                "' in the module (kernels: " + kernelNames(module) + ")");
  SplitPolicy policy{multiprocessors, 0};
  if (!forcedSplits(policy.forced, error) ||
      !planLaunch(*spec, args, numArgs, policy, *config, error))
    return fail(error);
  lastError.clear();
  return 0;
}

int attnrt_launch(attnrt_module *module, const char *kernel,
                  const attnrt_arg *args, int32_t numArgs, void *stream) {
  if (module && findProgram(module, kernel))
    return launchProgram(module, *findProgram(module, kernel), args, numArgs,
                         static_cast<CUstream>(stream));
  attnrt_launch_config config;
  if (int status = attnrt_plan(module, kernel, args, numArgs, &config))
    return status;
  const KernelSpec &spec = *findKernel(module, kernel);
  const CudaDriver *cuda = nullptr;
  CUcontext context = nullptr;
  if (int status = currentContext(cuda, context))
    return status;
  // Tensors must be device memory: a host pointer would fault in the kernel.
  for (int32_t i = 0; i < numArgs; ++i) {
    if (args[i].kind != ATTNRT_ARG_TENSOR || !args[i].tensor.data)
      continue;
    unsigned memoryType = 0;
    CUresult r = cuda->cuPointerGetAttribute(
        &memoryType, kPointerMemoryType,
        reinterpret_cast<unsigned long long>(args[i].tensor.data));
    if (r != kSuccess || memoryType == kMemoryTypeHost)
      return fail("kernel '" + spec.name + "': argument " + std::to_string(i) +
                  " (" + spec.args[i].role +
                  ") is not in device memory");
  }
  CUfunction function;
  auto cuStream = static_cast<CUstream>(stream);
  CUdeviceptr workspace = 0; // split keys, with more than one split
  CUdeviceptr tensorMaps = 0; // TMA loads
  // Held until the launch is enqueued: another thread must not replace
  // this stream's split-key workspace in between.
  std::lock_guard<std::mutex> lock(module->mutex);
  {
    attnrt_module::Loaded &loaded = module->loaded[context];
    if (!loaded.module) {
      char log[8192] = {0};
      int options[] = {kJitErrorLogBuffer, kJitErrorLogSize};
      void *values[] = {log, reinterpret_cast<void *>(sizeof(log) - 1)};
      std::string image = module->binary; // NUL-terminated for PTX
      if (CUresult r = cuda->cuModuleLoadDataEx(&loaded.module, image.c_str(),
                                                2, options, values);
          r != kSuccess) {
        loaded.module = nullptr;
        return fail(cuda->describe("loading the kernel binary", r) +
                    (log[0] ? std::string(": ") + log : ""));
      }
    }
    auto found = loaded.functions.find(spec.name);
    if (found == loaded.functions.end()) {
      CUfunction fn;
      if (CUresult r = cuda->cuModuleGetFunction(&fn, loaded.module,
                                                 spec.name.c_str());
          r != kSuccess)
        return fail(cuda->describe(("kernel '" + spec.name + "'").c_str(), r));
      // Above 48 KiB, dynamic shared memory is an opt-in per function.
      if (spec.sharedBytes > 48 * 1024)
        if (CUresult r = cuda->cuFuncSetAttribute(
                fn, kFuncMaxDynamicSharedBytes,
                static_cast<int>(spec.sharedBytes));
            r != kSuccess)
          return fail(cuda->describe(
              ("kernel '" + spec.name + "' needs " +
               std::to_string(spec.sharedBytes) + " bytes of shared memory")
                  .c_str(),
              r));
      found = loaded.functions.emplace(spec.name, fn).first;
    }
    function = found->second;
    if (spec.splitTile && !splitKeys(*cuda, loaded, spec, args, numArgs,
                                     cuStream, config, workspace))
      return 1;
    if (spec.selectRows) {
      // The grid's cap depends on the device's SMs (planLaunch).
      if (!planForDevice(*cuda, loaded, spec, args, numArgs, config))
        return 1;
      attnrt_module::Loaded::Workspace &cached = loaded.workspaces[cuStream];
      if (!growBuffer(*cuda, cached, config.workspace_bytes, cuStream,
                      "selection workspace"))
        return 1;
      workspace = cached.base;
      // The grid-wide barriers' counter, after the scratch.
      if (spec.gridSync)
        if (CUresult r = cuda->cuMemsetD32Async(workspace + spec.scratchBytes,
                                                0, 1, cuStream);
            r != kSuccess)
          return fail(cuda->describe("zeroing the grid barrier's counter", r));
    }
    if (spec.tmaRows && config.work_items > 0) {
      alignas(64) unsigned char maps[kTensorMapsBytes] = {};
      std::string error;
      if (!encodeTensorMaps(*cuda, spec, args, numArgs, maps, error))
        return fail(error);
      attnrt_module::Loaded::TensorMaps &cached = loaded.tensorMaps[cuStream];
      if (!cached.buffer.base)
        cached.valid = false;
      if (!growBuffer(*cuda, cached.buffer, kTensorMapsBytes, cuStream,
                      "tensor-map buffer"))
        return 1;
      if (!cached.valid || std::memcmp(cached.last, maps, sizeof(maps))) {
        // Stream-ordered after the launches that read the previous maps;
        // pageable memory is staged before the call returns.
        if (CUresult r = cuda->cuMemcpyHtoDAsync(cached.buffer.base, maps,
                                                 sizeof(maps), cuStream);
            r != kSuccess)
          return fail(cuda->describe("copying the tensor maps", r));
        std::memcpy(cached.last, maps, sizeof(maps));
        cached.valid = true;
      }
      tensorMaps = cached.buffer.base;
    }
  }
  if (config.work_items == 0)
    return 0;
  // Parameters in the order of the lowered kernel: a memref is (allocated,
  // aligned, offset, sizes..., strides...), scalars are themselves.
  std::vector<int64_t> storage;
  storage.reserve(numArgs * (3 + 2 * ATTNRT_MAX_RANK));
  for (int32_t i = 0; i < numArgs; ++i) {
    const attnrt_arg &arg = args[i];
    const ArgumentSpec &a = spec.args[i];
    if (a.buffer) {
      int64_t pointer = reinterpret_cast<int64_t>(arg.tensor.data);
      storage.push_back(pointer);
      storage.push_back(pointer);
      storage.push_back(0);
      for (int32_t d = 0; d < arg.tensor.rank; ++d)
        storage.push_back(arg.tensor.sizes[d]);
      int64_t stride = 1;
      std::vector<int64_t> strides(arg.tensor.rank);
      for (int32_t d = arg.tensor.rank - 1; d >= 0; --d) {
        strides[d] = stride;
        stride *= arg.tensor.sizes[d];
      }
      storage.insert(storage.end(), strides.begin(), strides.end());
      continue;
    }
    int64_t slot = 0;
    if (a.element == "f32") {
      float value = static_cast<float>(arg.float_value);
      std::memcpy(&slot, &value, sizeof(value));
    } else if (a.element == "i32") {
      int32_t value = static_cast<int32_t>(arg.int_value);
      std::memcpy(&slot, &value, sizeof(value));
    } else {
      slot = arg.int_value;
    }
    storage.push_back(slot);
  }
  // Split keys: the workspace and the counters (1-D memrefs), the split
  // count.
  if (spec.splitTile) {
    int64_t counterOffset =
        config.splits > 1 ? splitCounterOffset(config) : 0;
    auto memref1d = [&](CUdeviceptr base, int64_t elements) {
      int64_t pointer = static_cast<int64_t>(base);
      storage.insert(storage.end(), {pointer, pointer, 0, elements, 1});
    };
    memref1d(workspace, counterOffset / 4);
    memref1d(workspace ? workspace + counterOffset : 0,
             workspace ? config.work_items : 0);
    storage.push_back(config.splits);
  }
  // Selection kernels: the workspace (bytes; scratch per block).
  if (spec.selectRows) {
    int64_t pointer = static_cast<int64_t>(workspace);
    storage.insert(
        storage.end(),
        {pointer, pointer, 0, static_cast<int64_t>(config.workspace_bytes), 1});
  }
  // TMA loads: the tensor maps (bytes), last.
  if (spec.tmaRows) {
    int64_t pointer = static_cast<int64_t>(tensorMaps);
    storage.insert(storage.end(), {pointer, pointer, 0,
                                   static_cast<int64_t>(kTensorMapsBytes), 1});
  }
  std::vector<void *> params;
  for (int64_t &slot : storage)
    params.push_back(&slot);
  if (CUresult r = cuda->cuLaunchKernel(
          function, config.grid, 1, 1, config.block, 1, 1, config.shared_bytes,
          cuStream, params.data(), nullptr);
      r != kSuccess)
    return fail(cuda->describe(("launching '" + spec.name + "'").c_str(), r));
  lastError.clear();
  return 0;
}

int attnrt_synchronize(void *stream) {
  std::string error;
  const CudaDriver *cuda = CudaDriver::get(error);
  if (!cuda)
    return fail(error);
  if (CUresult r = cuda->cuStreamSynchronize(static_cast<CUstream>(stream));
      r != kSuccess)
    return fail(cuda->describe("cuStreamSynchronize", r));
  return 0;
}

} // extern "C"

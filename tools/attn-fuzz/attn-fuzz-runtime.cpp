//===- attn-fuzz-runtime.cpp - libFuzzer: attnrt manifests and arguments --===//
//
// The input is a manifest, a NUL byte, then argument bytes: attnrt parses
// the manifest (or rejects it with a message) and plans a launch of every
// kernel and program with arguments decoded from the rest (kinds, dtypes,
// ranks, sizes, strides, scalars), also for a GPU of a given SM count (split
// keys). Planning touches neither a GPU nor the data, so every input must end
// in a configuration or an error message.
//
//===----------------------------------------------------------------------===//

#include "attn/Runtime/attnrt.h"

#include <cstring>
#include <string>
#include <vector>

namespace {
/// Reads little pieces of the argument bytes; zeros once they run out.
struct Reader {
  const uint8_t *data;
  size_t size;
  template <typename T> T next() {
    T value{};
    size_t n = std::min(sizeof(T), size);
    std::memcpy(&value, data, n);
    data += n;
    size -= n;
    return value;
  }
};
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *end = static_cast<const uint8_t *>(std::memchr(data, 0, size));
  if (!end)
    return 0;
  std::string manifest(reinterpret_cast<const char *>(data), end - data);
  attnrt_module *module = nullptr;
  static const char binary[] = "not a cubin";
  if (attnrt_module_create(binary, sizeof(binary), manifest.c_str(), &module)) {
    (void)attnrt_last_error();
    return 0;
  }
  Reader reader{end + 1, size - (end + 1 - data)};
  // Kernels, then programs (their argument checks).
  std::vector<const char *> names;
  for (int32_t kernel = 0; kernel < attnrt_kernel_count(module); ++kernel)
    names.push_back(attnrt_kernel_name(module, kernel));
  for (int32_t program = 0; program < attnrt_program_count(module); ++program)
    names.push_back(attnrt_program_name(module, program));
  for (const char *name : names) {
    int32_t count = reader.next<uint8_t>() % 12;
    std::vector<attnrt_arg> args(count);
    for (attnrt_arg &arg : args) {
      arg.kind = reader.next<uint8_t>() % 4;
      arg.tensor.data = reinterpret_cast<void *>(reader.next<uint64_t>());
      arg.tensor.dtype = reader.next<int8_t>();
      arg.tensor.rank = reader.next<int8_t>();
      for (int d = 0; d < ATTNRT_MAX_RANK; ++d) {
        arg.tensor.sizes[d] = reader.next<int64_t>();
        arg.tensor.strides[d] = reader.next<int64_t>();
      }
      arg.int_value = reader.next<int64_t>();
      arg.float_value = reader.next<double>();
    }
    attnrt_launch_config config;
    (void)attnrt_plan(module, name, args.data(), count, &config);
    // Split keys: the plan for a GPU of 1-255 SMs (workspace arithmetic).
    int32_t multiprocessors = reader.next<uint8_t>();
    (void)attnrt_plan_for_device(module, name, args.data(), count,
                                 multiprocessors, &config);
    (void)attnrt_plan(module, "no such kernel", args.data(), count, &config);
  }
  attnrt_module_destroy(module);
  return 0;
}

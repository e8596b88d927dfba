//===- Manifest.h - attnrt kernel manifests (private) -----------*- C++ -*-===//
//
// The manifest of a GPU module (format in attn/Runtime/attnrt.h), its
// parser, and the checks of launch arguments against it.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_RUNTIME_MANIFEST_H
#define ATTN_LIB_RUNTIME_MANIFEST_H

#include "attn/Runtime/attnrt.h"

#include <string>
#include <vector>

namespace attnrt {

struct ArgumentSpec {
  std::string role;
  bool output = false;
  bool buffer = false;
  std::string element; // f32, f16, bf16, i32, i64, i1, index
  std::vector<int64_t> shape; // -1: dynamic
};

struct KernelSpec {
  std::string name;
  int64_t block = 0, queryTile = 0, itemsPerBlock = 0, sharedBytes = 0;
  std::string layout;   // of Q: bhsd, bshd, thd
  std::string kvLayout; // of K/V: the same, or paged
  int64_t splitTile = 0; // split keys: keys per tile; 0: no split
  int64_t packedHeads = 1; // query heads per work item (of one KV head)
  int64_t residueGroups = 1; // query tiles per residue group (residue_groups)
  // TMA loads (`tma ROWS`): rows of the K/V tensor maps' boxes; 0: none.
  int64_t tmaRows = 0;
  // Selection kernels: the rows (a block each) and the scratch bytes per
  // block of the workspace; 0: an attention kernel.
  int64_t selectRows = 0, scratchBytes = 0;
  // A selection kernel whose blocks synchronize grid-wide (`grid_sync`):
  // at most one block per SM, all resident at once; the scratch bytes are
  // the whole grid's, followed by a 32-bit counter that each launch zeroes.
  bool gridSync = false;
  std::vector<ArgumentSpec> args;
};

/// A program (a spec function of several ops): its arguments, the
/// temporaries between its steps, and the steps' kernels with, per kernel
/// argument, the program argument or temporary it binds.
struct ProgramSpec {
  struct Temp {
    std::string element;
    std::vector<int64_t> shape;
  };
  struct Binding {
    bool temp = false;
    size_t index = 0;
  };
  struct Step {
    size_t kernel = 0; // index into the module's kernels
    std::vector<Binding> bindings;
    // Runs only when argument `flag` (an i1 scalar) is set (`when`), or
    // clear (`!when`); -1: always.
    int64_t flag = -1;
    bool when = true;
  };
  std::string name;
  std::vector<ArgumentSpec> args;
  std::vector<Temp> temps;
  std::vector<Step> steps;
};

/// Parses `text`; on failure returns false with a message naming the line.
bool parseManifest(const std::string &text, std::vector<KernelSpec> &kernels,
                   std::vector<ProgramSpec> &programs, std::string &error);

/// Checks `args` against `specs` (kind, element type, rank, static sizes,
/// contiguity, alignment); on failure returns false with a message naming
/// the argument. `copiesChunks`: Q/K/V must be 16-byte aligned.
bool checkArguments(const std::vector<ArgumentSpec> &specs,
                    const attnrt_arg *args, int32_t numArgs, bool copiesChunks,
                    std::string &error);

/// Bytes per element of a manifest element type (0 if unknown).
int64_t elementBytes(const std::string &element);
/// The attnrt_dtype of a manifest element type (-1 if unknown).
int32_t elementDtype(const std::string &element);

/// How a launch splits keys: the GPU's multiprocessors (0: no split keys),
/// the shared memory of one (bytes; what blocks of a kernel fit at once),
/// and a split count that overrides the heuristic (0: none).
struct SplitPolicy {
  int32_t multiprocessors = 0;
  int32_t forced = 0;
  int64_t sharedPerMultiprocessor = kH100SharedPerMultiprocessor;
  /// An H100's 228 KiB: the plan without a device assumes one.
  static constexpr int64_t kH100SharedPerMultiprocessor = 228 * 1024;
};

/// Blocks of `kernel` that one multiprocessor holds at once under
/// `policy`: its shared memory (1 KiB reserved per block) and 64K
/// registers at the kernels' cap of 255 per thread (at least 1).
int64_t residentBlocks(const KernelSpec &kernel, const SplitPolicy &policy);

/// Checks `args` against `kernel` and computes the launch configuration
/// under `policy`; on failure returns false with a message naming the
/// argument.
bool planLaunch(const KernelSpec &kernel, const attnrt_arg *args,
                int32_t numArgs, SplitPolicy policy,
                attnrt_launch_config &config, std::string &error);

/// Byte offset of the split counters in the workspace.
int64_t splitCounterOffset(const attnrt_launch_config &config);

} // namespace attnrt

#endif // ATTN_LIB_RUNTIME_MANIFEST_H

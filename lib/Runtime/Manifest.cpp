//===- Manifest.cpp - attnrt kernel manifests -----------------------------===//
//
// Launch arguments come from user code (ctypes, C, PyTorch tensors); the
// kernels index memory from the sizes they were compiled for and from the
// sizes of Q. Every relation the kernel relies on is checked here, before
// the GPU is touched, so a wrong argument is an error message, never an
// out-of-bounds access.
//
//===----------------------------------------------------------------------===//

#include "Manifest.h"

#include <algorithm>
#include <cstdint>

#include <sstream>

using namespace attnrt;

namespace {
const char *dtypeName(int32_t dtype) {
  switch (dtype) {
  case ATTNRT_F32: return "f32";
  case ATTNRT_F16: return "f16";
  case ATTNRT_BF16: return "bf16";
  case ATTNRT_I32: return "i32";
  case ATTNRT_I64: return "i64";
  case ATTNRT_BOOL: return "i1";
  case ATTNRT_I8: return "i8";
  default: return nullptr;
  }
}

/// Bytes per element of a dtype code (one of dtypeName's).
static int64_t dtypeBytes(int32_t dtype) {
  switch (dtype) {
  case ATTNRT_F16:
  case ATTNRT_BF16: return 2;
  case ATTNRT_I64: return 8;
  case ATTNRT_BOOL:
  case ATTNRT_I8: return 1;
  default: return 4;
  }
}

std::string shapeText(const int64_t *sizes, int64_t rank) {
  std::string text = "[";
  for (int64_t d = 0; d < rank; ++d)
    text += (d ? ", " : "") +
            (sizes[d] < 0 ? std::string("?") : std::to_string(sizes[d]));
  return text + "]";
}

/// (batch, heads, sequence, head dim) of a Q/K/V/O tensor in `layout`;
/// batch is -1 for the packed layout and for a page pool (whose `seq` is
/// the page size).
struct Dims {
  int64_t batch, heads, seq, dim;
};

Dims dims(const attnrt_tensor &t, const std::string &layout) {
  if (layout == "paged") // [P, page, Hkv, D]
    return {-1, t.sizes[2], t.sizes[1], t.sizes[3]};
  if (layout == "thd")
    return {-1, t.sizes[1], t.sizes[0], t.sizes[2]};
  if (layout == "bshd")
    return {t.sizes[0], t.sizes[2], t.sizes[1], t.sizes[3]};
  return {t.sizes[0], t.sizes[1], t.sizes[2], t.sizes[3]};
}
} // namespace

int64_t attnrt::elementBytes(const std::string &element) {
  for (int32_t dtype = ATTNRT_F32; dtype <= ATTNRT_I8; ++dtype)
    if (element == dtypeName(dtype))
      return dtypeBytes(dtype);
  return 0;
}

int32_t attnrt::elementDtype(const std::string &element) {
  for (int32_t dtype = ATTNRT_F32; dtype <= ATTNRT_I8; ++dtype)
    if (element == dtypeName(dtype))
      return dtype;
  return -1;
}

/// Parses `program NAME temps T steps S args N` (its `arg`, `temp` and
/// `step` lines follow) into `program`; returns "" or what is wrong.
static std::string parseProgramHeader(std::istringstream &words,
                                      ProgramSpec &program, size_t &temps,
                                      size_t &steps, size_t &args) {
  std::string t, s, a;
  if (!(words >> program.name >> t >> temps >> s >> steps >> a >> args) ||
      t != "temps" || s != "steps" || a != "args")
    return "expected 'program NAME temps N steps N args N'";
  if (temps > 1024 || steps < 1 || steps > 1024 || args > 4096)
    return "invalid temporary, step or argument count";
  return "";
}

bool attnrt::parseManifest(const std::string &text,
                           std::vector<KernelSpec> &kernels,
                           std::vector<ProgramSpec> &programs,
                           std::string &error) {
  std::istringstream lines(text);
  std::string line;
  int lineNumber = 0;
  auto fail = [&](const std::string &what) {
    error = "manifest line " + std::to_string(lineNumber) + ": " + what;
    return false;
  };
  bool header = false, ended = false;
  size_t expectedArgs = 0, expectedTemps = 0, expectedSteps = 0;
  // The counts the last kernel or program declared against what it lists.
  auto closeSection = [&]() {
    if (!programs.empty()) {
      const ProgramSpec &p = programs.back();
      if (p.args.size() != expectedArgs || p.temps.size() != expectedTemps ||
          p.steps.size() != expectedSteps)
        return fail("program '" + p.name + "' declares " +
                    std::to_string(expectedArgs) + " arguments, " +
                    std::to_string(expectedTemps) + " temporaries and " +
                    std::to_string(expectedSteps) + " steps but lists " +
                    std::to_string(p.args.size()) + ", " +
                    std::to_string(p.temps.size()) + " and " +
                    std::to_string(p.steps.size()));
      return true;
    }
    if (!kernels.empty() && kernels.back().args.size() != expectedArgs)
      return fail("kernel '" + kernels.back().name + "' declares " +
                  std::to_string(expectedArgs) + " arguments but lists " +
                  std::to_string(kernels.back().args.size()));
    return true;
  };
  while (std::getline(lines, line)) {
    ++lineNumber;
    std::istringstream words(line);
    std::string word;
    if (!(words >> word))
      continue;
    if (!header) {
      int version = 0;
      if (word != "attn-gpu-manifest" || !(words >> version) || version != 1)
        return fail("expected 'attn-gpu-manifest 1'");
      header = true;
      continue;
    }
    if (ended)
      return fail("unexpected text after 'end'");
    if (word == "end") {
      ended = true;
      continue;
    }
    if (word == "kernel" && !programs.empty())
      return fail("'kernel' after a 'program'");
    if (word == "kernel" || word == "program") {
      if (!closeSection())
        return false;
    }
    if (word == "program") {
      ProgramSpec p;
      std::string what = parseProgramHeader(words, p, expectedTemps,
                                            expectedSteps, expectedArgs);
      if (!what.empty())
        return fail(what);
      programs.push_back(std::move(p));
      continue;
    }
    if (word == "temp" || word == "step") {
      if (programs.empty())
        return fail("'" + word + "' before any 'program'");
      ProgramSpec &p = programs.back();
      if (word == "temp") {
        ProgramSpec::Temp temp;
        int64_t rank = -1;
        if (!(words >> temp.element >> rank) ||
            elementBytes(temp.element) == 0 || rank < 0 ||
            rank > ATTNRT_MAX_RANK)
          return fail("expected 'temp ELEMENT RANK SIZE...'");
        temp.shape.resize(rank);
        for (int64_t &size : temp.shape)
          if (!(words >> size) || size < 0 || size > (int64_t(1) << 40))
            return fail("invalid temporary size");
        p.temps.push_back(std::move(temp));
        continue;
      }
      std::string name, where;
      ProgramSpec::Step step;
      if (!(words >> name))
        return fail("expected 'step KERNEL BINDING...'");
      auto found =
          std::find_if(kernels.begin(), kernels.end(),
                       [&](const KernelSpec &k) { return k.name == name; });
      if (found == kernels.end())
        return fail("step of unknown kernel '" + name + "'");
      step.kernel = found - kernels.begin();
      while (words >> where) {
        if (where == "when" || where == "unless") {
          // The guard: an i1 scalar input of the program, last on the line.
          std::string flag, rest;
          char *end = nullptr;
          unsigned long long n =
              words >> flag && flag.size() > 1 && flag[0] == 'a'
                  ? std::strtoull(flag.c_str() + 1, &end, 10)
                  : expectedArgs;
          if (!end || *end || n >= p.args.size() || p.args[n].buffer ||
              p.args[n].output || p.args[n].element != "i1" || words >> rest)
            return fail("expected '" + where +
                        " aF' (an i1 scalar input of the program) at the "
                        "end of the step");
          step.flag = static_cast<int64_t>(n);
          step.when = where == "when";
          break;
        }
        ProgramSpec::Binding binding;
        binding.temp = where[0] == 't';
        char *end = nullptr;
        unsigned long long n =
            where.size() > 1 ? std::strtoull(where.c_str() + 1, &end, 10) : 0;
        if ((where[0] != 'a' && where[0] != 't') || !end || *end ||
            n >= (binding.temp ? expectedTemps : expectedArgs))
          return fail("invalid binding '" + where + "'");
        binding.index = n;
        step.bindings.push_back(binding);
      }
      if (step.bindings.size() != found->args.size())
        return fail("step '" + name + "' binds " +
                    std::to_string(step.bindings.size()) +
                    " arguments, the kernel takes " +
                    std::to_string(found->args.size()));
      p.steps.push_back(std::move(step));
      continue;
    }
    if (word == "kernel") {
      KernelSpec k;
      std::string block, qTile, perBlock, smem, layout, args;
      bool ok = static_cast<bool>(
          words >> k.name >> block >> k.block >> qTile >> k.queryTile >>
          perBlock >> k.itemsPerBlock >> smem >> k.sharedBytes >> layout >>
          k.layout >> args);
      // Optional, in this order: `kv_layout L` (else K/V in Q's layout),
      // `split_kv N`, `packed_heads N`, `residue_groups N`, `tma N`.
      k.kvLayout = k.layout;
      if (ok && args == "kv_layout")
        ok = static_cast<bool>(words >> k.kvLayout >> args);
      if (ok && args == "split_kv")
        ok = words >> k.splitTile >> args && k.splitTile > 0;
      if (ok && args == "packed_heads")
        ok = words >> k.packedHeads >> args && k.packedHeads > 0;
      if (ok && args == "residue_groups")
        ok = words >> k.residueGroups >> args && k.residueGroups > 0 &&
             k.residueGroups <= (int64_t(1) << 20);
      if (ok && args == "tma")
        ok = words >> k.tmaRows >> args && k.tmaRows > 0 && k.tmaRows <= 256;
      if (ok && args == "select") {
        std::string scratch;
        ok = words >> k.selectRows >> scratch >> k.scratchBytes >> args &&
             scratch == "scratch" && k.selectRows > 0 && k.scratchBytes >= 0 &&
             k.scratchBytes <= (int64_t(1) << 34);
        if (ok && args == "grid_sync") {
          k.gridSync = true;
          ok = static_cast<bool>(words >> args);
        }
      }
      if (!ok || !(words >> expectedArgs) || block != "block" ||
          qTile != "q_tile" || perBlock != "per_block" || smem != "smem" ||
          layout != "layout" || args != "args")
        return fail("expected 'kernel NAME block N q_tile N per_block N smem "
                    "N layout L [kv_layout L] [split_kv N] [packed_heads N] "
                    "[residue_groups N] [tma N] [select ROWS scratch BYTES "
                    "[grid_sync]] args N'");
      if (k.block < 32 || k.block > 1024 || k.queryTile < 1 ||
          k.queryTile > 4096 || k.itemsPerBlock < 1 || k.sharedBytes < 0 ||
          k.sharedBytes > (int64_t(1) << 30) || k.splitTile > (1 << 20) ||
          k.packedHeads > 1024)
        return fail("invalid block size, query tile, items per block, "
                    "shared memory size, split tile or packed heads");
      if (k.layout != "bhsd" && k.layout != "bshd" && k.layout != "thd")
        return fail("unknown layout '" + k.layout + "'");
      if (k.kvLayout != k.layout &&
          (k.kvLayout != "paged" || k.layout == "thd"))
        return fail("unsupported K/V layout '" + k.kvLayout +
                    "' for queries in '" + k.layout + "'");
      if (k.tmaRows &&
          (k.layout == "thd" || k.kvLayout != k.layout || k.queryTile > 256))
        return fail("'tma' needs Q and K/V in bhsd or bshd and at most 256 "
                    "query rows per item");
      kernels.push_back(std::move(k));
      continue;
    }
    if (word != "arg")
      return fail("unexpected '" + word + "'");
    if (kernels.empty())
      return fail("'arg' before any 'kernel'");
    std::vector<ArgumentSpec> &owner =
        programs.empty() ? kernels.back().args : programs.back().args;
    ArgumentSpec a;
    std::string direction, kind;
    if (!(words >> a.role >> direction >> kind >> a.element) ||
        (direction != "in" && direction != "out") ||
        (kind != "buffer" && kind != "scalar"))
      return fail("expected 'arg ROLE in|out buffer|scalar ELEMENT ...'");
    a.output = direction == "out";
    a.buffer = kind == "buffer";
    if (a.buffer) {
      int64_t rank = -1;
      if (!(words >> rank) || rank < 0 || rank > ATTNRT_MAX_RANK)
        return fail("invalid rank");
      a.shape.resize(rank);
      for (int64_t &size : a.shape)
        if (!(words >> size) || size < -1)
          return fail("invalid size");
    }
    owner.push_back(std::move(a));
  }
  if (!header)
    return fail("expected 'attn-gpu-manifest 1'");
  if (!ended)
    return fail("expected 'end'");
  return closeSection();
}

int64_t attnrt::residentBlocks(const KernelSpec &kernel,
                               const SplitPolicy &policy) {
  constexpr int64_t kRegisters = 64 * 1024, kMaxRegisters = 256;
  constexpr int64_t kReservedShared = 1024;
  int64_t byRegisters =
      kRegisters / (std::max<int64_t>(kernel.block, 1) * kMaxRegisters);
  int64_t byShared =
      policy.sharedPerMultiprocessor / (kernel.sharedBytes + kReservedShared);
  return std::max<int64_t>(1, std::min(byRegisters, byShared));
}

int64_t attnrt::splitCounterOffset(const attnrt_launch_config &config) {
  // The counters follow the partial results (256-byte aligned).
  return config.workspace_bytes - 4 * config.work_items;
}

bool attnrt::checkArguments(const std::vector<ArgumentSpec> &specs,
                            const attnrt_arg *args, int32_t numArgs,
                            bool copiesChunks, std::string &error) {
  auto fail = [&](const std::string &what) {
    error = what;
    return false;
  };
  if (numArgs < 0 || static_cast<size_t>(numArgs) != specs.size())
    return fail("expected " + std::to_string(specs.size()) +
                " arguments, got " + std::to_string(numArgs));
  if (!args)
    return fail("null argument array");
  for (size_t i = 0; i < specs.size(); ++i) {
    const ArgumentSpec &spec = specs[i];
    const attnrt_arg &arg = args[i];
    std::string name = "argument " + std::to_string(i) + " (" + spec.role + ")";
    if (!spec.buffer) {
      bool isFloat = spec.element == "f32";
      if (arg.kind != (isFloat ? ATTNRT_ARG_FLOAT : ATTNRT_ARG_INT))
        return fail(name + ": expected a scalar " + spec.element);
      if (spec.element == "i32" &&
          (arg.int_value < INT32_MIN || arg.int_value > INT32_MAX))
        return fail(name + ": value does not fit in i32");
      if (spec.element == "i1" && arg.int_value != 0 && arg.int_value != 1)
        return fail(name + ": expected 0 or 1 for an i1, got " +
                    std::to_string(arg.int_value));
      continue;
    }
    if (arg.kind != ATTNRT_ARG_TENSOR)
      return fail(name + ": expected a tensor");
    const attnrt_tensor &t = arg.tensor;
    const char *dtype = dtypeName(t.dtype);
    if (!dtype)
      return fail(name + ": unknown dtype code " + std::to_string(t.dtype));
    if (spec.element != dtype)
      return fail(name + ": expected element type " + spec.element + ", got " +
                  dtype);
    if (t.rank != static_cast<int32_t>(spec.shape.size()))
      return fail(name + ": expected rank " + std::to_string(spec.shape.size()) +
                  ", got " + std::to_string(t.rank));
    int64_t elements = 1;
    for (int32_t d = 0; d < t.rank; ++d) {
      if (t.sizes[d] < 0 || (spec.shape[d] >= 0 && t.sizes[d] != spec.shape[d]))
        return fail(name + ": expected shape " +
                    shapeText(spec.shape.data(), t.rank) + ", got " +
                    shapeText(t.sizes, t.rank));
      if (__builtin_mul_overflow(elements, t.sizes[d], &elements))
        return fail(name + ": the sizes " + shapeText(t.sizes, t.rank) +
                    " overflow 64-bit indexing");
    }
    int64_t bytes;
    if (__builtin_mul_overflow(elements, dtypeBytes(t.dtype), &bytes))
      return fail(name + ": the sizes " + shapeText(t.sizes, t.rank) +
                  " overflow 64-bit byte offsets");
    // Row-major: the kernels compute addresses from the sizes (an empty
    // tensor is never read).
    int64_t stride = 1;
    for (int32_t d = t.rank - 1; d >= 0 && elements > 0; --d) {
      if (t.sizes[d] > 1 && t.strides[d] != stride)
        return fail(name + ": expected a contiguous (row-major) tensor, got "
                           "strides " + shapeText(t.strides, t.rank));
      stride *= t.sizes[d];
    }
    if (!t.data && elements > 0)
      return fail(name + ": null data pointer");
    // Element accesses need natural alignment; the tensor-core kernels
    // (one block per item) copy Q, K and V in 16-byte chunks.
    auto address = reinterpret_cast<uintptr_t>(t.data);
    if (address % dtypeBytes(t.dtype))
      return fail(name + ": data pointer " + std::to_string(address) +
                  " is not aligned to its element size (" +
                  std::to_string(dtypeBytes(t.dtype)) + " bytes)");
    // The output leaves in 16-byte chunks too (16-bit outputs, staged in
    // shared memory).
    bool copied = spec.role == "q" || spec.role == "k" || spec.role == "v" ||
                  spec.role == "index_q" || spec.role == "index_k" ||
                  spec.role == "o";
    if (copiesChunks && copied && address % 16)
      return fail(name + ": data pointer " + std::to_string(address) +
                  " is not 16-byte aligned (the kernel " +
                  (spec.role == "o" ? "writes" : "reads") + " 16-byte chunks)");
  }
  return true;
}

bool attnrt::planLaunch(const KernelSpec &kernel, const attnrt_arg *args,
                        int32_t numArgs, SplitPolicy policy,
                        attnrt_launch_config &config, std::string &error) {
  auto fail = [&](const std::string &what) {
    error = "kernel '" + kernel.name + "': " + what;
    return false;
  };
  // Blocks that copy Q/K/V in 16-byte chunks: a block per item (the
  // tensor-core body, selection kernels), or a tensor-core body whose block
  // runs the heads of one query tile (per_block H, q_tile > 1); the row
  // form has q_tile 1 and a thread per item.
  bool copiesChunks = kernel.itemsPerBlock == 1 || kernel.queryTile > 1;
  if (!checkArguments(kernel.args, args, numArgs, copiesChunks, error)) {
    error = "kernel '" + kernel.name + "': " + error;
    return false;
  }
  config.block = static_cast<uint32_t>(kernel.block);
  config.shared_bytes = static_cast<uint32_t>(kernel.sharedBytes);
  config.splits = 1;
  config.workspace_bytes = 0;
  if (kernel.selectRows) {
    // A block per row (or tile of rows) over a capped grid (the kernel
    // loops over its rows), each with its scratch rows in the workspace: at
    // most 512 MiB, unless that leaves fewer than two blocks per
    // multiprocessor (the indexer's tiles of 16 rows at 128K keys: 9 MiB
    // each with their kept keys), which the GPU needs busy more than the
    // memory.
    constexpr int64_t kMaxWorkspace = int64_t(512) << 20;
    config.work_items = kernel.selectRows;
    if (kernel.gridSync) {
      // Every block resident at once (one per SM): the grid-wide barriers
      // wait for all of them. The scratch is the grid's, then the counter.
      config.grid = static_cast<uint32_t>(std::clamp<int64_t>(
          std::min<int64_t>(kernel.selectRows, policy.multiprocessors), 1,
          65535));
      config.workspace_bytes = static_cast<uint64_t>(kernel.scratchBytes + 16);
      return true;
    }
    int64_t blocks = std::min<int64_t>(kernel.selectRows, 65535);
    if (kernel.scratchBytes > 0)
      blocks = std::min<int64_t>(
          blocks, std::max<int64_t>({1, kMaxWorkspace / kernel.scratchBytes,
                                     2 * int64_t(policy.multiprocessors)}));
    config.grid = static_cast<uint32_t>(blocks);
    config.workspace_bytes =
        static_cast<uint64_t>(blocks * kernel.scratchBytes);
    return true;
  }
  const attnrt_tensor *q = nullptr, *k = nullptr, *v = nullptr, *o = nullptr,
                      *lse = nullptr, *cuQuery = nullptr, *cuKey = nullptr,
                      *table = nullptr, *kvLens = nullptr;
  for (size_t i = 0; i < kernel.args.size(); ++i) {
    const std::pair<const char *, const attnrt_tensor **> roles[] = {
        {"q", &q},     {"k", &k},     {"v", &v},
        {"o", &o},     {"lse", &lse}, {"cu_seqlens_q", &cuQuery},
        {"cu_seqlens_kv", &cuKey},     {"block_table", &table},
        {"kv_lens", &kvLens}};
    for (auto [role, slot] : roles)
      if (kernel.args[i].buffer && kernel.args[i].role == role)
        *slot = &args[i].tensor;
  }
  if (!q || !k || !v || !o)
    return fail("the manifest lacks one of q, k, v, o");
  bool packed = kernel.layout == "thd";
  int64_t rank = packed ? 3 : 4;
  if (q->rank != rank || k->rank != rank || v->rank != rank || o->rank != rank)
    return fail("expected rank-" + std::to_string(rank) + " q, k, v and o");
  bool paged = kernel.kvLayout == "paged";
  Dims dq = dims(*q, kernel.layout), dk = dims(*k, kernel.kvLayout),
       dv = dims(*v, kernel.kvLayout), dO = dims(*o, kernel.layout);
  if (dk.heads < 1 || dq.heads % dk.heads != 0)
    return fail("expected the query heads (" + std::to_string(dq.heads) +
                ") to be a multiple of the key heads (" +
                std::to_string(dk.heads) + ")");
  if (paged) {
    // Page pools [P, page, Hkv, D]; the kernel clamps the table's entries
    // into the pool and the lengths into [0, N * page].
    if (!table || !kvLens || table->rank != 2 || kvLens->rank != 1)
      return fail("expected block_table [B, N] and kv_lens [B] with a paged "
                  "K/V layout");
    if (table->sizes[0] != dq.batch || kvLens->sizes[0] != dq.batch)
      return fail("expected block_table and kv_lens to have q's batch size " +
                  std::to_string(dq.batch) + ", got " +
                  std::to_string(table->sizes[0]) + " and " +
                  std::to_string(kvLens->sizes[0]));
    if (v->sizes[0] != k->sizes[0] || v->sizes[1] != k->sizes[1])
      return fail("expected v's page pool to have k's pages and page size");
    if (dq.batch > 0 && table->sizes[1] > 0 &&
        (k->sizes[0] < 1 || k->sizes[1] < 1))
      return fail("expected a page pool of at least one page of at least one "
                  "token, got " + shapeText(k->sizes, k->rank));
  } else if (dq.batch != dk.batch || dk.batch != dv.batch) {
    return fail("expected q, k, v and o to have the same batch size");
  }
  if (dO.batch != dq.batch)
    return fail("expected q, k, v and o to have the same batch size");
  if (dk.dim != dq.dim)
    return fail("expected k's head dim " + std::to_string(dk.dim) +
                " to equal q's " + std::to_string(dq.dim));
  if (dv.heads != dk.heads || dv.seq != dk.seq)
    return fail("expected v to have k's heads and sequence length");
  if (dO.heads != dq.heads || dO.seq != dq.seq || dO.dim != dv.dim)
    return fail("expected o to have q's heads and sequence length and v's "
                "head dim");
  int64_t batch = dq.batch;
  if (packed) {
    if (!cuQuery || !cuKey || cuQuery->rank != 1 ||
        cuKey->sizes[0] != cuQuery->sizes[0] || cuQuery->sizes[0] < 1)
      return fail("expected cu_seqlens_q and cu_seqlens_kv of B + 1 entries");
    batch = cuQuery->sizes[0] - 1;
  }
  if (lse) {
    bool ok = packed ? lse->rank == 2 && lse->sizes[0] == dq.heads &&
                           lse->sizes[1] == dq.seq
                     : lse->rank == 3 && lse->sizes[0] == batch &&
                           lse->sizes[1] == dq.heads &&
                           lse->sizes[2] == dq.seq;
    if (!ok)
      return fail("expected lse of shape " +
                  std::string(packed ? "[H, T]" : "[B, H, Sq]"));
  }
  // Residue groups: the query tiles of each group (the first is the
  // longest, ceil(Sq / R) queries).
  int64_t groups = kernel.residueGroups;
  int64_t tiles =
      groups * (((dq.seq + groups - 1) / groups + kernel.queryTile - 1) /
                kernel.queryTile);
  // Packed heads: an item holds the query heads of one KV head.
  if (kernel.packedHeads > 1 && (dq.heads % kernel.packedHeads != 0 ||
                                 dq.heads / kernel.packedHeads != dk.heads))
    return fail("expected " + std::to_string(kernel.packedHeads) +
                " query heads per key head (the kernel packs them), got " +
                std::to_string(dq.heads) + " and " + std::to_string(dk.heads));
  config.work_items = batch * (dq.heads / kernel.packedHeads) * tiles;
  // Split keys: as many blocks per item as the SMs hold at once (two
  // decode blocks per SM keep twice the loads in flight: MHA decoding of
  // one sequence measured 16 splits 4 % faster than 8 on an H100), at
  // most 64 (the item's last block reads every split: GQA decoding of
  // one sequence measured 64 faster than 32 and 128), with at least 4 key
  // tiles each. Splitting is an optimization: sizes whose workspace would
  // not fit in 64-bit byte counts (or whose grid would not fit) run
  // unsplit.
  constexpr int64_t kMaxSplitItems = int64_t(1) << 20;
  int64_t slots =
      int64_t(policy.multiprocessors) * residentBlocks(kernel, policy);
  if (kernel.splitTile && config.work_items > 0 &&
      config.work_items <= kMaxSplitItems &&
      (policy.forced > 0 || (slots > 0 && config.work_items < slots))) {
    int64_t keys = dk.seq;
    if (paged && __builtin_mul_overflow(table->sizes[1], k->sizes[1], &keys))
      keys = INT64_MAX;
    int64_t keyTiles =
        keys / kernel.splitTile + (keys % kernel.splitTile != 0);
    // A forced count (testing, tuning) only keeps a tile per split.
    int64_t splits =
        policy.forced > 0
            ? std::min<int64_t>(policy.forced, std::max<int64_t>(keyTiles, 1))
            : std::min<int64_t>({slots / config.work_items, 64, keyTiles / 4});
    // Per (item, split): O [rows][Dv] and LSE [rows] in f32 (rows: q_tile
    // times the packed heads); then one i32 counter per item.
    int64_t partial = 4;
    bool overflow = false;
    for (int64_t factor : {config.work_items, splits, kernel.queryTile,
                           kernel.packedHeads, dv.dim + 1})
      overflow |= __builtin_mul_overflow(partial, factor, &partial);
    if (splits > 1 && !overflow && partial < INT64_MAX / 2) {
      config.splits = static_cast<uint32_t>(splits);
      config.workspace_bytes = ((partial + 255) & ~int64_t(255)) +
                               4 * config.work_items;
    }
  }
  int64_t blocks = (config.work_items * config.splits +
                    kernel.itemsPerBlock - 1) /
                   kernel.itemsPerBlock;
  // The kernels loop over their work items, so a capped grid is correct.
  constexpr int64_t kMaxBlocks = (int64_t(1) << 31) - 1;
  config.grid = static_cast<uint32_t>(blocks < 1 ? 1
                                      : blocks > kMaxBlocks ? kMaxBlocks
                                                            : blocks);
  return true;
}

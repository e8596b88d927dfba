//===- GPUKernelEmission.cpp - attn specs to GPU binaries -----------------===//

#include "attn/Target/GPU/GPUKernelEmission.h"
#include "attn/Conversion/Passes.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Target/CPU/KernelEmission.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/ADT/SmallBitVector.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace mlir::attn;

bool mlir::attn::isKnownGPUChip(StringRef chip) {
  if (!chip.consume_front("sm_"))
    return false;
  chip.consume_back("a");
  chip.consume_back("f");
  unsigned version;
  return !chip.getAsInteger(10, version) && version >= 50 && version < 200;
}

/// The pipeline up to the programs' steps (attn-split-program); explicit
/// masks' tile summaries for the tensor-core body.
static std::string stepPipeline(const GPUTargetOptions &options) {
  return std::string("canonicalize,attn-normalize-masks,attn-group-residues,"
                     "attn-order-patches,") +
         (options.mma ? "attn-summarize-masks," : "") +
         "attn-split-program{split-topk}";
}

/// The pipeline from the steps to the GPU kernels, before conversion to
/// NVVM.
static std::string kernelPipeline(const GPUTargetOptions &options) {
  // The same options attn-gpu-pipeline derives for the chip: the launch
  // parameters (shared memory) depend on them.
  return llvm::formatv("attn-lower-to-gpu{{"
                       "k-tile={0} block-size={1} mma={2} mma-q-tile={3} "
                       "mma-k-tile={6} wgmma={4} split-kv={5} tma={7}}",
                       options.keyTile, options.blockSize,
                       options.mma ? "true" : "false", options.mmaQueryTile,
                       hasWarpgroupMMA(options.chip) ? "true" : "false",
                       options.splitKV ? "true" : "false", options.mmaKeyTile,
                       options.tma ? "true" : "false");
}

/// The arguments of a selection kernel: its operands by role, then its
/// results.
static FailureOr<SmallVector<KernelArgument>>
describeSelectionKernel(func::FuncOp func, Operation *op) {
  SmallVector<KernelArgument> args(func.getNumArguments());
  auto bind = [&](Value value, std::string role) -> LogicalResult {
    auto arg = dyn_cast<BlockArgument>(value);
    if (!arg || arg.getOwner() != &func.getBody().front())
      return op->emitOpError("expected operand '" + role +
                             "' to be an argument of the spec function");
    KernelArgument &a = args[arg.getArgNumber()];
    if (a.name.empty())
      a.name = role;
    a.type = value.getType();
    return success();
  };
  auto masks = [&](ValueRange operands) -> LogicalResult {
    for (auto [i, x] : llvm::enumerate(operands))
      if (failed(bind(x, "mask" + std::to_string(i))))
        return failure();
    return success();
  };
  auto blocks = [&](auto sel) -> LogicalResult {
    return success(succeeded(bind(sel.getQuery(), "q")) &&
                   succeeded(bind(sel.getKey(), "k")) &&
                   succeeded(masks(sel.getMaskOperands())));
  };
  SmallVector<const char *, 3> results = {"counts", "indices"};
  LogicalResult bound =
      TypeSwitch<Operation *, LogicalResult>(op)
          .Case([&](IndexerTopkOp indexer) {
            if (failed(bind(indexer.getQuery(), "index_q")) ||
                failed(bind(indexer.getKey(), "index_k")) ||
                failed(bind(indexer.getWeights(), "weights")) ||
                (indexer.getBlockCounts() &&
                 (failed(bind(indexer.getBlockCounts(), "block_counts")) ||
                  failed(bind(indexer.getBlockIndices(), "block_indices")))))
              return failure();
            return masks(indexer.getMaskOperands());
          })
          .Case([&](PoolOp pool) {
            results = {"output"};
            return bind(pool.getInput(), "input");
          })
          .Case([&](HeadTopkOp heads) {
            results = {"keep", "weights"};
            return bind(heads.getLogits(), "logits");
          })
          .Case([&](ValueTopkOp values) {
            results = {"counts", "indices", "scores"};
            if (failed(bind(values.getValue(), "v")) ||
                failed(bind(values.getWeight(), "weight")))
              return failure();
            return masks(values.getMaskOperands());
          })
          .Case([&](QueryTopkOp queries) {
            return success(succeeded(bind(queries.getQuery(), "q")) &&
                           succeeded(bind(queries.getKey(), "k")));
          })
          .Case([&](MaskTilesOp tiles) {
            // Named as the mask operand of the attention it serves: a
            // program of the two keeps the attention's argument names.
            results = {"tiles"};
            return bind(tiles.getMask(), "mask0");
          })
          .Case([&](IdRangesOp ranges) {
            // The attention it serves names the ids (writeProgram).
            results = {"ranges"};
            return bind(ranges.getIds(), "ids");
          })
          .Case([&](PyramidLevelsOp levels) {
            results = {"levels"};
            return blocks(levels);
          })
          .Case<BlockTopkOp, HipTopkOp, ThresholdBlocksOp>(
              [&](auto sel) { return blocks(sel); })
          .Default([](Operation *) { return failure(); });
  if (failed(bound))
    return failure();
  for (auto [i, arg] : llvm::enumerate(args))
    if (arg.name.empty())
      return func.emitError() << "expected argument #" << i
                              << " of the spec function to be used by its op";
  for (auto [name, type] : llvm::zip(results, func.getResultTypes())) {
    KernelArgument out;
    out.name = name;
    out.type = type;
    out.output = true;
    args.push_back(out);
  }
  return args;
}

/// The functions that become kernels: those with an attn op, not programs.
static SmallVector<func::FuncOp> kernelFunctions(ModuleOp module) {
  SmallVector<func::FuncOp> functions;
  for (auto func : module.getOps<func::FuncOp>()) {
    if (func.isDeclaration() || func->hasAttr("attn.program"))
      continue;
    bool any = false;
    func.walk(
        [&](Operation *op) { any |= isa<AttnDialect>(op->getDialect()); });
    if (any)
      functions.push_back(func);
  }
  return functions;
}

static FailureOr<SmallVector<KernelArgument>>
describeGPUKernel(func::FuncOp func) {
  Operation *selection = nullptr;
  func.walk([&](Operation *op) {
    if (isSelection(op))
      selection = op;
  });
  if (!selection)
    return describeKernel(func);
  if (!isa<AttentionOp>(selection))
    return describeSelectionKernel(func, selection);
  // An attention's top-k step: the attention's operands, and its step
  // returns only the top-k results.
  FailureOr<SmallVector<KernelArgument>> args = describeKernel(func);
  if (succeeded(args)) {
    const char *names[] = {"topk_counts", "topk_indices"};
    for (auto [arg, name] :
         llvm::zip(MutableArrayRef<KernelArgument>(*args).take_back(2), names))
      arg.name = name;
  }
  return args;
}

/// Writes the program section of `program` (attn-split-program's calls of
/// its steps): its arguments with roles taken from the steps they feed,
/// the temporaries between the steps, and each step's bindings.
static LogicalResult
writeProgram(func::FuncOp program,
             const llvm::StringMap<SmallVector<KernelArgument>> &kernels,
             llvm::raw_ostream &os) {
  Block &body = program.getBody().front();
  auto ret = cast<func::ReturnOp>(body.getTerminator());
  unsigned numArgs = program.getNumArguments();
  // Where each value lives: program argument (a<n>) or temporary (t<n>).
  llvm::DenseMap<Value, std::string> binding;
  for (BlockArgument arg : body.getArguments())
    binding[arg] = "a" + std::to_string(arg.getArgNumber());
  for (auto [i, result] : llvm::enumerate(ret.getOperands())) {
    if (binding.count(result))
      return ret.emitOpError("expected every result of a program to be a "
                             "distinct result of one of its steps");
    binding[result] = "a" + std::to_string(numArgs + i);
  }
  SmallVector<RankedTensorType> temps;
  SmallVector<std::string> roles(numArgs + ret.getNumOperands());
  // Roles given by summary steps (attn.mask_tiles, attn.id_ranges), which
  // a later step's name replaces: the attention they serve names the ids
  // and masks as its operands (mask0, mask1, ...).
  llvm::SmallBitVector provisional(roles.size());
  std::string steps;
  llvm::raw_string_ostream stepOs(steps);
  unsigned numSteps = 0;
  // A temporary for `value` (a step's or a branch's result) unless bound.
  auto bindTemp = [&](Operation *op, Value value) -> LogicalResult {
    if (binding.count(value))
      return success();
    auto type = dyn_cast<RankedTensorType>(value.getType());
    if (!type || !type.hasStaticShape())
      return op->emitOpError("expected the intermediate results of a GPU "
                             "program to be tensors of static shape, got ")
             << value.getType();
    binding[value] = "t" + std::to_string(temps.size());
    temps.push_back(type);
    return success();
  };
  // A step; `guard` ("when aN", "unless aN") where a flag picks it.
  auto writeStep = [&](func::CallOp call, StringRef guard) -> LogicalResult {
    auto found = kernels.find(call.getCallee());
    if (found == kernels.end())
      return call.emitOpError("expected the step to be a GPU kernel");
    const SmallVector<KernelArgument> &args = found->second;
    for (Value result : call.getResults())
      if (failed(bindTemp(call, result)))
        return failure();
    SmallVector<Value> values(call.getOperands());
    llvm::append_range(values, call.getResults());
    bool summary = false;
    if (auto callee = SymbolTable::lookupNearestSymbolFrom<func::FuncOp>(
            call, call.getCalleeAttr()))
      callee.walk(
          [&](Operation *op) { summary |= isa<MaskTilesOp, IdRangesOp>(op); });
    stepOs << "step " << call.getCallee();
    for (auto [value, arg] : llvm::zip(values, args)) {
      const std::string &where = binding.lookup(value);
      stepOs << " " << where;
      unsigned n;
      if (where[0] == 'a' &&
          !StringRef(where).drop_front().getAsInteger(10, n) &&
          (roles[n].empty() || (provisional[n] && !summary))) {
        roles[n] = arg.name;
        provisional[n] = summary;
      }
    }
    if (!guard.empty())
      stepOs << " " << guard;
    stepOs << "\n";
    ++numSteps;
    return success();
  };
  for (Operation &op : body.without_terminator()) {
    if (auto call = dyn_cast<func::CallOp>(op)) {
      if (failed(writeStep(call, "")))
        return failure();
      continue;
    }
    // A runtime choice between variants (H4): the branch's results live
    // where the program returns them (or in temporaries), and each branch
    // yields its own steps' results into them.
    auto branch = dyn_cast<scf::IfOp>(op);
    if (!branch)
      continue;
    auto flag = dyn_cast<BlockArgument>(branch.getCondition());
    if (!flag || flag.getOwner() != &body)
      return branch.emitOpError("expected a program's branch to test an "
                                "argument of the program");
    std::string flagName = "a" + std::to_string(flag.getArgNumber());
    if (roles[flag.getArgNumber()].empty())
      roles[flag.getArgNumber()] = "flag";
    for (Value result : branch.getResults())
      if (failed(bindTemp(branch, result)))
        return failure();
    for (auto [region, guard] :
         {std::make_pair(&branch.getThenRegion(), "when "),
          std::make_pair(&branch.getElseRegion(), "unless ")}) {
      if (region->empty())
        continue;
      Block &block = region->front();
      for (auto [value, result] : llvm::zip(
               block.getTerminator()->getOperands(), branch.getResults())) {
        if (binding.count(value))
          return branch.emitOpError("expected each branch of a program to "
                                    "yield distinct results of its steps");
        binding[value] = binding.lookup(result);
      }
      for (auto call : block.getOps<func::CallOp>())
        if (failed(writeStep(call, guard + flagName)))
          return failure();
    }
  }
  // Program arguments by the role they first play; repeated roles get the
  // argument's number.
  SmallVector<KernelArgument> args;
  llvm::StringSet<> seen;
  for (unsigned n = 0; n < roles.size(); ++n) {
    KernelArgument a;
    a.output = n >= numArgs;
    a.type = a.output ? ret.getOperand(n - numArgs).getType()
                      : program.getArgument(n).getType();
    a.name = roles[n].empty() ? "arg" + std::to_string(n) : roles[n];
    if (!seen.insert(a.name).second)
      a.name += "_" + std::to_string(n);
    seen.insert(a.name);
    args.push_back(a);
  }
  os << "program " << program.getName() << " temps " << temps.size()
     << " steps " << numSteps << " args " << args.size() << "\n";
  writeManifestArguments(args, os);
  for (RankedTensorType type : temps) {
    os << "temp " << type.getElementType() << " " << type.getRank();
    for (int64_t size : type.getShape())
      os << " " << size;
    os << "\n";
  }
  os << steps;
  return success();
}

LogicalResult mlir::attn::writeGPUManifest(ModuleOp module,
                                           const GPUTargetOptions &options,
                                           llvm::raw_ostream &os) {
  // The launch parameters are what the lowering chose per kernel: lower a
  // copy and read them from the gpu.func attributes.
  OwningOpRef<ModuleOp> steps = module.clone();
  PassManager pm(module->getName());
  if (failed(parsePassPipeline(stepPipeline(options), pm)) ||
      failed(pm.run(*steps)))
    return failure();
  OwningOpRef<ModuleOp> lowered = steps->clone();
  PassManager lower(module->getName());
  if (failed(parsePassPipeline(kernelPipeline(options), lower)) ||
      failed(lower.run(*lowered)))
    return failure();
  llvm::StringMap<gpu::GPUFuncOp> kernels;
  lowered->walk([&](gpu::GPUFuncOp f) { kernels[f.getName()] = f; });
  auto intAttr = [](gpu::GPUFuncOp f, StringRef name) {
    auto attr = f->getAttrOfType<IntegerAttr>(name);
    return attr ? attr.getInt() : 0;
  };
  os << "attn-gpu-manifest 1\n";
  llvm::StringMap<SmallVector<KernelArgument>> described;
  for (func::FuncOp func : kernelFunctions(*steps)) {
    FailureOr<SmallVector<KernelArgument>> args = describeGPUKernel(func);
    if (failed(args))
      return failure();
    gpu::GPUFuncOp kernel = kernels.lookup(func.getName());
    if (!kernel)
      return func.emitError("expected attn-lower-to-gpu to produce a kernel");
    std::optional<ArrayRef<int32_t>> block = kernel.getKnownBlockSize();
    StringRef layout =
        kernel->getAttrOfType<StringAttr>("attn.layout").getValue();
    // Where K/V differ from Q (a paged pool).
    auto kvLayout = kernel->getAttrOfType<StringAttr>("attn.kv_layout");
    os << "kernel " << func.getName() << " block " << (block ? (*block)[0] : 0)
       << " q_tile " << intAttr(kernel, "attn.q_tile") << " per_block "
       << intAttr(kernel, "attn.items_per_block") << " smem "
       << intAttr(kernel, "attn.shared_bytes") << " layout " << layout;
    if (kvLayout)
      os << " kv_layout " << kvLayout.getValue();
    // Split keys: the kernel's key tile (attnrt sizes the split count and
    // the workspace from it).
    if (int64_t tile = intAttr(kernel, "attn.split_kv"))
      os << " split_kv " << tile;
    if (int64_t heads = intAttr(kernel, "attn.packed_heads"))
      os << " packed_heads " << heads;
    if (int64_t groups = intAttr(kernel, "attn.residue_groups"))
      os << " residue_groups " << groups;
    // TMA loads: attnrt encodes the tensor maps of Q, K and V (K/V boxes
    // of this many rows, Q's of q_tile).
    if (int64_t rows = intAttr(kernel, "attn.tma"))
      os << " tma " << rows;
    // Selection kernels: their rows and the scratch bytes per block.
    if (int64_t rows = intAttr(kernel, "attn.select_rows"))
      os << " select " << rows << " scratch "
         << intAttr(kernel, "attn.scratch_bytes")
         << (kernel->hasAttr("attn.grid_sync") ? " grid_sync" : "");
    os << " args " << args->size() << "\n";
    writeManifestArguments(*args, os);
    described[func.getName()] = std::move(*args);
  }
  for (auto func : steps->getOps<func::FuncOp>())
    if (func->hasAttr("attn.program") &&
        failed(writeProgram(func, described, os)))
      return failure();
  os << "end\n";
  return success();
}

FailureOr<std::string>
mlir::attn::compileGPUKernels(ModuleOp module, const GPUTargetOptions &options,
                              bool binary) {
  PassManager pm(module->getName());
  std::string pipeline = llvm::formatv(
      "canonicalize,attn-gpu-pipeline{{chip={0} k-tile={1} block-size={2} "
      "mma={3} mma-q-tile={4} mma-k-tile={7} format={5} split-kv={6} "
      "tma={8}}",
      options.chip, options.keyTile, options.blockSize,
      options.mma ? "true" : "false", options.mmaQueryTile,
      binary ? "bin" : "isa", options.splitKV ? "true" : "false",
      options.mmaKeyTile, options.tma ? "true" : "false");
  if (failed(parsePassPipeline(pipeline, pm)) || failed(pm.run(module)))
    return failure();
  for (auto object : module.getOps<gpu::BinaryOp>())
    if (object.getName() == "attn_kernels")
      for (Attribute attr : object.getObjects())
        return cast<gpu::ObjectAttr>(attr).getObject().str();
  return module.emitError("expected the GPU pipeline to produce "
                          "gpu.binary @attn_kernels (no spec function?)");
}

//===- attn-run.cpp - compile and run an attention spec on .npy data ------===//
//
// attn-run SPEC.mlir [--input NAME=FILE.npy]... [--output NAME=FILE.npy]...
//         [--target cpu] [--random SEED] [--threads N] [--bench N] [--json]
//         [--check]
//
// Compiles the spec function with attn-cpu-pipeline{kernel-abi} (JIT) and
// runs it on N threads. A single attention on the function's arguments is
// one kernel, its inputs bound by role name (q, k, v, mask0.., score0..,
// norm0.., gate0.., capture0..; outputs o and lse). Any other spec
// function (selection feeding attention, chained attentions, a flag
// choosing a variant) runs as a program of steps (Program.h), its inputs
// and outputs named as in the spec's text. Optionally benchmarks the run
// and checks it against the float64 reference of python/attn.
//
//===----------------------------------------------------------------------===//

#include "Buffer.h"
#include "Inputs.h"
#include "Npy.h"
#include "Program.h"
#include "Reference.h"
#include "attn/Dialect/Attn/IR/AttnDialect.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Target/CPU/KernelEmission.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/TargetSelect.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <thread>

using namespace mlir;
using namespace attnrun;
namespace cl = llvm::cl;
namespace json = llvm::json;
namespace sys = llvm::sys;
namespace npy = attnrun::npy;
using llvm::Error;
using llvm::errs;
using llvm::Expected;
using llvm::outs;
using llvm::SmallString;
using llvm::createStringError;
using llvm::inconvertibleErrorCode;
using llvm::logAllUnhandledErrors;

/// attn-run's own options; --help hides LLVM's.
static cl::OptionCategory runOptions("attn-run options");

static cl::opt<std::string> specPath(cl::Positional, cl::desc("SPEC.mlir"),
                                     cl::Required, cl::cat(runOptions));
static cl::list<std::string>
    inputFiles("input", cl::desc("NAME=FILE.npy input"), cl::cat(runOptions));
static cl::list<std::string> outputFiles("output",
                                         cl::desc("NAME=FILE.npy output"),
                                         cl::cat(runOptions));
static cl::opt<std::string> target("target", cl::desc("cpu"), cl::init("cpu"),
                                   cl::cat(runOptions));
static cl::opt<int64_t>
    randomSeed("random",
               cl::desc("fill every input not given with random data"),
               cl::init(-1), cl::cat(runOptions));
static cl::opt<unsigned> benchRuns("bench", cl::desc("timed runs"), cl::init(0),
                                   cl::cat(runOptions));
static cl::opt<bool> jsonOutput("json", cl::desc("print one JSON object"),
                                cl::cat(runOptions));
static cl::opt<bool>
    checkOutput("check",
                cl::desc("compare with the float64 reference (python/attn)"),
                cl::cat(runOptions));
static cl::opt<std::string> funcName("func", cl::desc("spec function to run"),
                                     cl::cat(runOptions));
static cl::opt<int64_t> queryTile(
    "q-tile",
    cl::desc(
        "query rows per tile (default: 64; 128 for bf16 on CPUs with AMX)"),
    cl::init(64), cl::cat(runOptions));
static cl::opt<int64_t> keyTile(
    "k-tile",
    cl::desc("keys per tile (default: 64; 128 for bf16 on CPUs with AMX)"),
    cl::init(64), cl::cat(runOptions));

static int fail(const llvm::Twine &message) {
  errs() << "attn-run: error: " << message << "\n";
  return 1;
}

/// The inputs of the spec function's kernel (see describeKernel).
static LogicalResult describeArguments(func::FuncOp func,
                                       SmallVectorImpl<Argument> &args) {
  FailureOr<SmallVector<attn::KernelArgument>> kernel =
      attn::describeKernel(func);
  if (failed(kernel))
    return failure();
  for (const attn::KernelArgument &arg : *kernel)
    if (!arg.output)
      args.emplace_back(arg.name, arg.type, arg.slot);
  return success();
}

/// `--threads N` / `--threads=N`, taken out of argv: libLLVM registers a
/// command-line option of that name already.
static llvm::Expected<unsigned> extractThreads(int &argc, char **argv) {
  unsigned threads = 0;
  int out = 0;
  for (int i = 0; i < argc; ++i) {
    llvm::StringRef arg = argv[i], value;
    if (arg == "--threads" || arg == "-threads") {
      if (i + 1 == argc)
        return createStringError(inconvertibleErrorCode(),
                                 "expected a number after --threads");
      value = argv[++i];
    } else if (arg.consume_front("--threads=") || arg.consume_front("-threads=")) {
      value = arg;
    } else {
      argv[out++] = argv[i];
      continue;
    }
    if (value.getAsInteger(10, threads) || threads == 0)
      return createStringError(inconvertibleErrorCode(),
                               "expected a positive number of threads, got '" +
                                   value + "'");
  }
  argc = out;
  return threads;
}

/// Whether `func` is a single attention on its arguments (one kernel).
static bool isKernelSpec(func::FuncOp func) {
  ScopedDiagnosticHandler quiet(func.getContext(),
                                [](Diagnostic &) { return success(); });
  bool attention = false;
  func.walk([&](attn::AttentionOp op) { attention = !op.getTopkCounts(); });
  return attention && succeeded(attn::describeKernel(func));
}

/// Compiles `module` (kernel ABI) and JITs it.
static Expected<std::unique_ptr<ExecutionEngine>> compile(ModuleOp module) {
  if (queryTile < 1 || keyTile < 1)
    return createStringError(inconvertibleErrorCode(),
                             "expected positive --q-tile and --k-tile");
  auto [defaultQueryTile, defaultKeyTile] = attn::defaultTileSizes(module, "");
  if (!queryTile.getNumOccurrences())
    queryTile = defaultQueryTile;
  if (!keyTile.getNumOccurrences())
    keyTile = defaultKeyTile;
  if (failed(attn::compileKernels(module, queryTile, keyTile)))
    return createStringError(inconvertibleErrorCode(),
                             "compilation failed (see above)");
  // ExecutionEngineOptions holds the transformer by reference.
  std::function<llvm::Error(llvm::Module *)> optimize =
      makeOptimizingTransformer(3, 0, nullptr);
  ExecutionEngineOptions engineOptions;
  engineOptions.transformer = optimize;
  return ExecutionEngine::create(module, engineOptions);
}

/// Runs `run` once as a warm-up, then --bench times; the times in ms.
static SmallVector<double> timeRuns(const std::function<void()> &run) {
  run();
  SmallVector<double> times;
  for (unsigned i = 0; i < benchRuns; ++i) {
    auto start = std::chrono::steady_clock::now();
    run();
    times.push_back(std::chrono::duration<double, std::milli>(
                        std::chrono::steady_clock::now() - start)
                        .count());
  }
  return times;
}

static double median(SmallVector<double> times) {
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

/// A temporary directory for the reference's files, removed at the end.
namespace {
struct ScratchDir {
  SmallString<128> path;
  std::error_code create() {
    return sys::fs::createUniqueDirectory("attn-run", path);
  }
  ~ScratchDir() {
    if (!path.empty())
      sys::fs::remove_directories(path);
  }
  json::Value save(const std::string &file, const npy::Array &array) const {
    SmallString<128> at(path);
    sys::path::append(at, file + ".npy");
    if (Error error = npy::writeFloat32(at, array)) {
      llvm::consumeError(std::move(error));
      return nullptr;
    }
    return std::string(at);
  }
};
} // namespace

/// The reference's answer to `request` (its files in `dir`), the allowed
/// pairs recorded in `result`; none (the error printed) where it failed.
static std::optional<json::Object> askReference(const json::Object &request,
                                                const ScratchDir &dir,
                                                json::Object &result) {
  Expected<json::Object> answer = runReference(request, dir.path);
  if (!answer) {
    logAllUnhandledErrors(answer.takeError(), errs(), "attn-run: error: ");
    return std::nullopt;
  }
  result["allowed_pairs"] = answer->getNumber("allowed_pairs").value_or(0);
  return std::move(*answer);
}

/// Prints the result of a run (JSON or one line); returns `status`.
static int report(json::Object result, int status, StringRef what) {
  if (jsonOutput) {
    outs() << json::Value(std::move(result)) << "\n";
    return status;
  }
  outs() << "attn-run: @" << *result.getString("func") << what << " on "
         << *result.getInteger("threads") << " thread(s)";
  if (auto t = result.getNumber("median_ms"))
    outs() << ", median " << llvm::format("%.3f", *t) << " ms, "
           << llvm::format("%.2f", *result.getNumber("gflops")) << " GFLOP/s";
  if (auto e = result.getNumber("max_rel_error"))
    outs() << ", max rel error " << llvm::format("%.2e", *e)
           << (status ? " (FAILED)" : " (ok)");
  outs() << "\n";
  return status;
}

static int printError(Error error) {
  logAllUnhandledErrors(std::move(error), errs(), "attn-run: ");
  return 1;
}

/// A spec function that is one attention on its arguments: one threaded
/// kernel, inputs named by role.
static int runKernel(ModuleOp module, func::FuncOp func, attn::AttentionOp op,
                     unsigned threads) {
  std::string name = func.getName().str();
  SmallVector<Argument> args;
  if (failed(describeArguments(func, args)))
    return 1;
  attn::Extents extents = op.getExtents();
  json::Object request = attnrun::describeAttention(op, [&](Value value) {
    return args[cast<BlockArgument>(value).getArgNumber()].name;
  });
  bool hasLse = static_cast<bool>(op.getLse());

  // Inputs: files, else random data.
  auto inputMap = parseBindings(inputFiles, "input");
  auto outputMap = parseBindings(outputFiles, "output");
  if (!inputMap || !outputMap)
    return printError(inputMap ? outputMap.takeError() : inputMap.takeError());
  for (const auto &entry : *inputMap)
    if (llvm::none_of(args, [&](const Argument &a) { return a.name == entry.getKey(); }))
      return fail("unknown input '" + entry.getKey() +
                  "' (the spec's inputs are q, k, v and its mask/score/norm/"
                  "gate/capture operands)");
  for (const auto &entry : *outputMap)
    if (entry.getKey() != "o" && !(entry.getKey() == "lse" && hasLse))
      return fail("unknown output '" + entry.getKey() + "' (expected o" +
                  (hasLse ? " or lse" : "") + ")");
  std::mt19937_64 rng(randomSeed < 0 ? 0 : randomSeed);
  if (Error error = loadInputs(args, *inputMap, randomSeed >= 0, rng, extents))
    return printError(std::move(error));
  // Random packed sequences: sorted offsets from 0 to the token count.
  for (Argument &arg : args) {
    if (!StringRef(arg.name).starts_with("cu_seqlens") ||
        inputMap->count(arg.name))
      continue;
    const Argument &tokens = *llvm::find_if(args, [&](const Argument &a) {
      return a.name == (arg.name == "cu_seqlens_q" ? "q" : "k");
    });
    int64_t total = tokens.value.shape.empty() ? 0 : tokens.value.shape[0];
    std::uniform_int_distribution<int64_t> cut(0, total);
    std::vector<double> &v = arg.value.values;
    for (double &x : v)
      x = double(cut(rng));
    std::sort(v.begin(), v.end());
    v.front() = 0;
    v.back() = double(total);
  }

  // A random page table: pages anywhere in the pool (repeats allowed),
  // lengths up to the table's capacity.
  auto byName = [&](StringRef name) {
    return llvm::find_if(args, [&](const Argument &a) { return a.name == name; });
  };
  if (op.getBlockTable() && randomSeed >= 0) {
    const Argument &pool = *byName("k");
    int64_t pages = pool.value.shape.empty() ? 1 : pool.value.shape[0];
    int64_t page = pool.value.shape.size() > 1 ? pool.value.shape[1] : 1;
    if (!inputMap->count("block_table")) {
      std::uniform_int_distribution<int64_t> pick(0, std::max<int64_t>(pages - 1, 0));
      for (double &x : byName("block_table")->value.values)
        x = double(pick(rng));
    }
    Argument &table = *byName("block_table");
    int64_t capacity = table.value.shape.size() == 2 ? table.value.shape[1] * page : 0;
    if (!inputMap->count("kv_lens")) {
      std::uniform_int_distribution<int64_t> length(0, capacity);
      for (double &x : byName("kv_lens")->value.values)
        x = double(length(rng));
    }
  }

  // What the runner needs of the spec after compilation replaced it.
  SmallVector<Type> resultTypes(func.getResultTypes());
  unsigned queryArg = cast<BlockArgument>(op.getQuery()).getArgNumber();
  unsigned valueArg = cast<BlockArgument>(op.getValue()).getArgNumber();
  bool queryBSHD = op.getQLayout() == attn::Layout::bshd;
  SmallVector<Type> qkvTypes = {op.getQuery().getType(), op.getKey().getType(),
                                op.getValue().getType()};

  auto engine = compile(module);
  if (!engine)
    return printError(engine.takeError());
  auto kernel = (*engine)->lookupPacked("_mlir_ciface_" + name);
  if (!kernel)
    return printError(kernel.takeError());

  // Buffers and packed arguments.
  std::vector<Buffer> buffers(args.size() + 2);
  std::vector<int64_t> scalarInts(args.size());
  std::vector<float> scalarFloats(args.size());
  std::vector<void *> slots;
  for (auto [i, arg] : llvm::enumerate(args)) {
    if (auto tensor = dyn_cast<RankedTensorType>(arg.type)) {
      buffers[i].allocate(tensor.getElementType(), arg.value.shape);
      // The reference sees the values as the kernel does: rounded to the
      // element type.
      for (int64_t e = 0; e < arg.value.numElements(); ++e) {
        buffers[i].set(e, arg.value.values[e]);
        if (isa<FloatType>(tensor.getElementType()))
          arg.value.values[e] = buffers[i].get(e);
      }
      slots.push_back(&buffers[i].descriptorPtr);
    } else if (isa<FloatType>(arg.type)) {
      scalarFloats[i] = arg.value.values.at(0);
      slots.push_back(&scalarFloats[i]);
    } else {
      scalarInts[i] = static_cast<int64_t>(arg.value.values.at(0));
      slots.push_back(&scalarInts[i]);
    }
  }
  // Output shapes: the result types with dynamic sizes from the inputs.
  auto resultShape = [&](unsigned r) {
    auto type = cast<RankedTensorType>(resultTypes[r]);
    const Argument &q = args[queryArg];
    const Argument &v = args[valueArg];
    SmallVector<int64_t> shape(type.getShape());
    bool bshd = queryBSHD;
    bool packed = q.value.shape.size() == 3;
    size_t last = shape.size() - 1;
    for (size_t d = 0; d < shape.size(); ++d) {
      if (!ShapedType::isDynamic(shape[d]))
        continue;
      if (r == 0)
        shape[d] = d == last ? v.value.shape[last] : q.value.shape[d];
      else if (packed) // lse [H, T]
        shape[d] = q.value.shape[1 - d];
      else // lse [B, H, S]
        shape[d] = q.value.shape[bshd && d > 0 ? 3 - d : d];
    }
    return shape;
  };
  for (unsigned r = 0; r < resultTypes.size(); ++r) {
    Buffer &out = buffers[args.size() + r];
    out.allocate(cast<RankedTensorType>(resultTypes[r]).getElementType(),
                 resultShape(r));
    slots.push_back(&out.descriptorPtr);
  }
  auto run = [&] { runThreaded(*kernel, slots, threads); };
  SmallVector<double> times = timeRuns(run);

  // Outputs.
  npy::Array o = buffers[args.size()].toArray();
  npy::Array lse;
  if (hasLse)
    lse = buffers[args.size() + 1].toArray();
  for (const auto &entry : *outputMap)
    if (Error error = npy::writeFloat32(entry.getValue(),
                                        entry.getKey() == "o" ? o : lse))
      return printError(std::move(error));

  json::Object result{{"spec", specPath.getValue()},
                      {"func", name},
                      {"threads", threads}};
  int status = 0;
  if (checkOutput || benchRuns) {
    ScratchDir dir;
    if (std::error_code ec = dir.create())
      return fail("cannot create a temporary directory: " + ec.message());
    json::Array inputs;
    for (const Argument &arg : args) {
      json::Object entry{{"name", arg.name},
                         {"file", dir.save(arg.name, arg.value)}};
      entry["scalar"] = !isa<RankedTensorType>(arg.type);
      inputs.push_back(std::move(entry));
    }
    request["inputs"] = std::move(inputs);
    request["o"] = dir.save("o", o);
    if (hasLse)
      request["lse"] = dir.save("lse", lse);
    request["count_only"] = !checkOutput;
    std::optional<json::Object> answer = askReference(request, dir, result);
    if (!answer)
      return 1;
    double allowed = *result.getNumber("allowed_pairs");
    if (checkOutput) {
      double error = answer->getNumber("max_rel_error").value_or(INFINITY);
      double limit = tolerance(buffers[args.size()].element, qkvTypes);
      result["max_rel_error"] = error;
      result["tolerance"] = limit;
      bool lseOk = answer->getBoolean("lse_ok").value_or(true);
      result["lse_ok"] = lseOk;
      if (!(error <= limit) || !lseOk)
        status = 1;
    }
    if (benchRuns) {
      double ms = median(times);
      int64_t headDim = args[queryArg].value.shape.back();
      result["median_ms"] = ms;
      result["gflops"] = 4.0 * headDim * allowed / (ms * 1e-3) / 1e9;
    }
  }
  return report(std::move(result), status, "");
}

/// Any other spec function: a program of steps (see Program.h), inputs
/// and outputs named as in the spec's text.
static int runProgram(ModuleOp module, func::FuncOp func,
                      llvm::SourceMgr &sources, unsigned threads) {
  FailureOr<Program> built = Program::build(module, func, sources);
  if (failed(built))
    return 1;
  Program &program = *built;
  auto inputMap = parseBindings(inputFiles, "input");
  auto outputMap = parseBindings(outputFiles, "output");
  if (!inputMap || !outputMap)
    return printError(inputMap ? outputMap.takeError() : inputMap.takeError());
  auto listNames = [&](ArrayRef<unsigned> ids) {
    std::string list;
    for (unsigned id : ids)
      list += (list.empty() ? "" : ", ") + program.values[id].name;
    return list;
  };
  SmallVector<unsigned> argumentIds =
      llvm::to_vector(llvm::seq<unsigned>(0, program.numArguments));
  for (const auto &entry : *inputMap)
    if (llvm::none_of(argumentIds, [&](unsigned id) {
          return program.values[id].name == entry.getKey();
        }))
      return fail("unknown input '" + entry.getKey() + "' (the inputs of @" +
                  program.name + " are " + listNames(argumentIds) + ")");
  for (const auto &entry : *outputMap)
    if (llvm::none_of(program.outputs, [&](unsigned id) {
          return program.values[id].name == entry.getKey();
        }))
      return fail("unknown output '" + entry.getKey() + "' (the results of @" +
                  program.name + " are " + listNames(program.outputs) + ")");

  // Inputs: files, else random data valid for the role a kernel step
  // gives them (random flags pick either side of a branch).
  SmallVector<Argument> args;
  for (unsigned id : argumentIds)
    args.emplace_back(program.values[id].name, program.values[id].type,
                      program.values[id].slot);
  std::mt19937_64 rng(randomSeed < 0 ? 0 : randomSeed);
  if (Error error =
          loadInputs(args, *inputMap, randomSeed >= 0, rng, program.extents))
    return printError(std::move(error));

  auto engine = compile(module);
  if (!engine)
    return printError(engine.takeError());
  if (failed(program.checkKernels(module)))
    return 1;
  if (Error error = program.link(**engine))
    return printError(std::move(error));

  std::vector<Buffer> values(program.values.size());
  for (auto [id, value] : llvm::enumerate(program.values))
    values[id].allocateFor(value.type);
  for (auto [id, arg] : llvm::enumerate(args))
    for (int64_t e = 0; e < values[id].numElements(); ++e)
      values[id].set(e, arg.value.values[e]);
  Program::Trace first = program.run(values, threads);
  ArrayRef<unsigned> ran = first.steps;
  // Each step's times over the timed runs (timeRuns' warm-up left out).
  std::vector<SmallVector<double>> stepTimes(ran.size());
  bool warm = false;
  SmallVector<double> times = timeRuns([&] {
    Program::Trace trace = program.run(values, threads);
    for (auto [i, ms] : llvm::enumerate(trace.ms))
      if (warm && i < stepTimes.size())
        stepTimes[i].push_back(ms);
    warm = true;
  });

  for (unsigned id : program.outputs)
    if (outputMap->count(program.values[id].name))
      if (Error error = npy::writeFloat32(
              outputMap->lookup(program.values[id].name), values[id].toArray()))
        return printError(std::move(error));

  json::Object result{{"spec", specPath.getValue()},
                      {"func", program.name},
                      {"threads", threads},
                      {"steps", static_cast<int64_t>(ran.size())}};
  int status = 0;
  if (checkOutput || benchRuns) {
    ScratchDir dir;
    if (std::error_code ec = dir.create())
      return fail("cannot create a temporary directory: " + ec.message());
    // The run is checked step by step: each step's results against the
    // reference on the inputs it was given, so that a selection and the
    // attention after it are compared on the same index sets.
    json::Object request{
        {"program", program.describeRun(ran,
                                        [&](unsigned id) {
                                          return dir.save(
                                              "v" + std::to_string(id),
                                              values[id].toArray());
                                        })},
        {"count_only", !checkOutput}};
    std::optional<json::Object> answer = askReference(request, dir, result);
    if (!answer)
      return 1;
    if (checkOutput) {
      result["max_rel_error"] =
          answer->getNumber("max_rel_error").value_or(INFINITY);
      if (json::Array *steps = answer->getArray("steps"))
        result["step_checks"] = std::move(*steps);
      if (!answer->getBoolean("ok").value_or(false))
        status = 1;
    }
    if (benchRuns) {
      double ms = median(times);
      result["median_ms"] = ms;
      result["gflops"] =
          answer->getNumber("flops").value_or(0) / (ms * 1e-3) / 1e9;
      json::Array steps;
      for (auto [index, stepMs] : llvm::zip(ran, stepTimes)) {
        const json::Object &reference = program.steps[index].reference;
        steps.push_back(
            json::Object{{"symbol", program.steps[index].symbol},
                         {"op", reference.getString("op").value_or(
                                    reference.getString("kind").value_or(""))},
                         {"median_ms", median(stepMs)}});
      }
      result["step_ms"] = std::move(steps);
    }
  }
  if (status && !jsonOutput)
    if (const json::Array *steps = result.getArray("step_checks"))
      for (const json::Value &step : *steps)
        if (const json::Object *check = step.getAsObject())
          if (!check->getBoolean("ok").value_or(false))
            errs() << "attn-run: step @"
                   << check->getString("symbol").value_or("?") << ": "
                   << check->getString("message").value_or("mismatch") << "\n";
  return report(std::move(result), status,
                " (" + std::to_string(ran.size()) + " steps)");
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  Expected<unsigned> numThreads = extractThreads(argc, argv);
  if (!numThreads) {
    logAllUnhandledErrors(numThreads.takeError(), errs(), "attn-run: error: ");
    return 1;
  }
  cl::HideUnrelatedOptions(runOptions);
  cl::ParseCommandLineOptions(argc, argv,
                              "attn spec runner\n\n  --threads N         "
                              "threads (default: all cores)\n");
  if (target != "cpu")
    return fail("expected --target cpu (GPU kernels: attn-translate "
                "--emit=cubin, run through attnrt or python/attn), "
                "got '" +
                target + "'");
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();

  std::unique_ptr<MLIRContext> owned = attn::createKernelContext();
  MLIRContext &context = *owned;
  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler handler(sourceMgr, &context);
  OwningOpRef<ModuleOp> module =
      attn::parseSpecFile(specPath, context, sourceMgr);
  if (!module)
    return 1;

  // Fold constant parameters into the attributes first, so that every
  // remaining operand is an argument of the spec function.
  {
    auto normalize = PassManager::on<ModuleOp>(&context);
    if (failed(parsePassPipeline("canonicalize,cse", normalize)) ||
        failed(normalize.run(*module)))
      return 1;
  }

  // The spec function: the first with an attn op (or --func).
  func::FuncOp func;
  for (auto f : module->getOps<func::FuncOp>()) {
    if (f.isDeclaration() || (!funcName.empty() && f.getName() != funcName))
      continue;
    bool spec = false;
    f.walk([&](Operation *op) {
      spec |= isa<attn::AttnDialect>(op->getDialect());
    });
    if (spec) {
      func = f;
      break;
    }
  }
  if (!func)
    return fail(
        funcName.empty()
            ? Twine("expected a function with an attn op in ") + specPath
            : Twine("expected a function @") + funcName + " with an attn op");
  // Only the spec function is compiled.
  for (auto other : llvm::make_early_inc_range(module->getOps<func::FuncOp>()))
    if (other != func)
      other.erase();
  unsigned threads = *numThreads
                         ? *numThreads
                         : std::max(1u, std::thread::hardware_concurrency());
  if (isKernelSpec(func)) {
    attn::AttentionOp op;
    func.walk([&](attn::AttentionOp a) { op = a; });
    return runKernel(*module, func, op, threads);
  }
  return runProgram(*module, func, sourceMgr, threads);
}

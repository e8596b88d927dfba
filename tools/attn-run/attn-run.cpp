//===- attn-run.cpp - compile and run an attention spec on .npy data ------===//
//
// attn-run SPEC.mlir [--input NAME=FILE.npy]... [--output NAME=FILE.npy]...
//         [--target cpu] [--random SEED] [--threads N] [--bench N] [--json]
//         [--check]
//
// Compiles the spec function with attn-cpu-pipeline{kernel-abi} (JIT),
// binds inputs by role name (q, k, v, mask0.., score0.., norm0.., gate0..,
// capture0..; outputs o and lse), runs the kernel on N threads, and
// optionally benchmarks it and checks it against the float64 reference of
// python/attn.
//
//===----------------------------------------------------------------------===//

#include "Npy.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Target/CPU/KernelEmission.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/ADT/APFloat.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/TargetSelect.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <random>
#include <thread>

using namespace mlir;
namespace cl = llvm::cl;
namespace json = llvm::json;
namespace sys = llvm::sys;
namespace npy = attnrun::npy;
using llvm::APFloat;
using llvm::APInt;
using llvm::Error;
using llvm::errs;
using llvm::Expected;
using llvm::outs;
using llvm::SmallString;
using llvm::StringMap;
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

namespace {
/// One argument of the spec function, as the kernel sees it.
struct Argument {
  std::string name;         // role: q, k, v, mask0, ...
  Type type;                // tensor or scalar type
  attn::OperandSlot slot;   // for random generation of operands
  bool hasSlot = false;
  npy::Array value;         // host values (also for scalars: shape [])
};

/// A kernel buffer: element storage plus a strided memref descriptor.
struct Buffer {
  Type element;
  SmallVector<int64_t, 4> shape;
  std::vector<char> storage;
  std::vector<int64_t> descriptor; // base, data, offset, sizes, strides
  void *descriptorPtr = nullptr;

  void allocate(Type elementType, ArrayRef<int64_t> dims) {
    element = elementType;
    shape.assign(dims.begin(), dims.end());
    int64_t n = 1;
    for (int64_t d : dims)
      n *= d;
    unsigned bytes = elementType.isInteger(1)
                         ? 1
                         : std::max(1u, elementType.getIntOrFloatBitWidth() / 8);
    storage.assign(std::max<int64_t>(n, 1) * bytes, 0);
    descriptor.assign(3 + 2 * dims.size(), 0);
    auto base = reinterpret_cast<int64_t>(storage.data());
    descriptor[0] = descriptor[1] = base;
    int64_t stride = 1;
    for (int64_t d = dims.size() - 1; d >= 0; --d) {
      descriptor[3 + d] = dims[d];
      descriptor[3 + dims.size() + d] = stride;
      stride *= dims[d];
    }
    descriptorPtr = descriptor.data();
  }
  unsigned width() const {
    return element.isInteger(1) ? 1 : element.getIntOrFloatBitWidth() / 8;
  }
  void set(int64_t i, double value) {
    char *p = storage.data() + i * width();
    if (element.isF32()) {
      float x = value;
      std::memcpy(p, &x, 4);
    } else if (element.isF16() || element.isBF16()) {
      APFloat x(value);
      bool lost;
      x.convert(element.isF16() ? APFloat::IEEEhalf() : APFloat::BFloat(),
                APFloat::rmNearestTiesToEven, &lost);
      uint16_t bits = x.bitcastToAPInt().getZExtValue();
      std::memcpy(p, &bits, 2);
    } else if (element.isF64()) {
      std::memcpy(p, &value, 8);
    } else if (element.isInteger(1) || element.isInteger(8)) {
      *p = static_cast<char>(value != 0 && element.isInteger(1) ? 1 : value);
    } else if (element.isInteger(32)) {
      int32_t x = static_cast<int32_t>(value);
      std::memcpy(p, &x, 4);
    } else {
      int64_t x = static_cast<int64_t>(value);
      std::memcpy(p, &x, 8);
    }
  }
  double get(int64_t i) const {
    const char *p = storage.data() + i * width();
    if (element.isF32()) {
      float x;
      std::memcpy(&x, p, 4);
      return x;
    }
    if (element.isF16() || element.isBF16()) {
      uint16_t bits;
      std::memcpy(&bits, p, 2);
      return APFloat(element.isF16() ? APFloat::IEEEhalf() : APFloat::BFloat(),
                     APInt(16, bits))
          .convertToDouble();
    }
    double x;
    std::memcpy(&x, p, 8);
    return x;
  }
};
} // namespace

/// The inputs of the spec function's kernel (see describeKernel).
static LogicalResult describeArguments(func::FuncOp func,
                                       SmallVectorImpl<Argument> &args) {
  FailureOr<SmallVector<attn::KernelArgument>> kernel =
      attn::describeKernel(func);
  if (failed(kernel))
    return failure();
  for (const attn::KernelArgument &arg : *kernel) {
    if (arg.output)
      continue;
    Argument a;
    a.name = arg.name;
    a.type = arg.type;
    if (arg.slot) {
      a.slot = *arg.slot;
      a.hasSlot = true;
    }
    args.push_back(std::move(a));
  }
  return success();
}

/// Random values that are valid for the role of `arg` (lengths within the
/// sequence, sorted document ids, pyramid levels from -1, gammas in (0, 1],
/// positive softcaps...).
static void randomize(Argument &arg, std::mt19937_64 &rng,
                      const attn::Extents &e) {
  auto tensor = dyn_cast<RankedTensorType>(arg.type);
  arg.value.shape.assign(tensor ? tensor.getShape().begin() : nullptr,
                         tensor ? tensor.getShape().end() : nullptr);
  int64_t n = arg.value.numElements();
  arg.value.values.resize(n);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::normal_distribution<double> normal(0.0, 1.0);
  StringRef role = arg.hasSlot ? arg.slot.role : "";
  Type element = getElementTypeOrSelf(arg.type);
  int64_t keys = std::max<int64_t>(e.keyLen, 1);
  for (int64_t i = 0; i < n; ++i) {
    double x;
    if (element.isInteger(1))
      x = unit(rng) < (role.contains("keep") ? 0.7 : 0.5);
    else if (role.contains("document"))
      x = std::floor(4.0 * unit(rng));
    else if (role.contains("pyramid"))
      x = std::floor(5.0 * unit(rng)) - 1.0; // -1 (drop) to 3 (clamped)
    else if (element.isIntOrIndex())
      x = std::floor(unit(rng) * (role.contains("offset") ? 3 : keys + 1));
    else if (role.contains("softcap"))
      x = 5.0 + 45.0 * unit(rng);
    else if (role.contains("gamma"))
      x = 0.5 + 0.5 * unit(rng);
    else if (role.contains("temperature") || role.contains("zeta"))
      x = 0.5 + 1.5 * unit(rng);
    else if (role.contains("slopes"))
      x = 0.5 * unit(rng);
    else
      x = normal(rng);
    arg.value.values[i] = x;
  }
  // Selection lists (#attn.tokens, #attn.blocks): every list holds distinct
  // keys (or key blocks) in random order; counts are fixed up to the
  // lists' capacity once both are drawn (fixSelectionCounts).
  if (role.ends_with("indices") && !arg.value.shape.empty()) {
    int64_t limit = role.starts_with("block")
                        ? (keys + arg.slot.keyBlock - 1) / arg.slot.keyBlock
                        : keys;
    int64_t width = arg.value.shape.back();
    std::vector<double> pool(limit);
    for (int64_t start = 0; start < n; start += width) {
      std::iota(pool.begin(), pool.end(), 0.0);
      std::shuffle(pool.begin(), pool.end(), rng);
      for (int64_t t = 0; t < width; ++t)
        arg.value.values[start + t] = t < limit ? pool[t] : -1.0;
    }
  }
  // Packed documents: ids are non-decreasing along the sequence.
  if (role.contains("document") && arg.value.shape.size() == 2) {
    int64_t len = arg.value.shape[1];
    for (int64_t row = 0; row < arg.value.shape[0]; ++row)
      std::sort(arg.value.values.begin() + row * len,
                arg.value.values.begin() + (row + 1) * len);
  }
}

/// Random selection counts stay within their lists: at most the list's
/// width and the number of distinct entries it holds. Counts given as
/// inputs are left alone.
static void fixSelectionCounts(MutableArrayRef<Argument> args,
                               const StringMap<std::string> &given) {
  for (auto [counts, indices] : llvm::zip(args.drop_back(), args.drop_front())) {
    if (!counts.hasSlot || !StringRef(counts.slot.role).ends_with("counts") ||
        indices.value.shape.empty() || given.count(counts.name))
      continue;
    int64_t width = indices.value.shape.back();
    for (auto [row, count] : llvm::enumerate(counts.value.values)) {
      int64_t listed = 0;
      while (listed < width && indices.value.values[row * width + listed] >= 0)
        ++listed;
      count = std::min<double>(count, double(listed));
    }
  }
}

/// Parses `NAME=FILE` options into a map.
static Expected<StringMap<std::string>> parseBindings(ArrayRef<std::string> items,
                                                      StringRef option) {
  StringMap<std::string> result;
  for (StringRef item : items) {
    auto [name, file] = item.split('=');
    if (name.empty() || file.empty())
      return createStringError(inconvertibleErrorCode(),
                               "expected --" + option + " NAME=FILE.npy, got '" +
                                   item + "'");
    result[name] = file.str();
  }
  return result;
}

/// Runs the float64 reference through python/attn/check.py on files in
/// `dir`; returns its JSON answer.
static Expected<json::Object> runReference(const json::Object &request,
                                           StringRef dir) {
  SmallString<128> requestPath(dir);
  sys::path::append(requestPath, "request.json");
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(requestPath, ec);
    if (ec)
      return createStringError(ec, "cannot write " + requestPath);
    os << json::Value(json::Object(request));
  }
  SmallString<128> answerPath(dir);
  sys::path::append(answerPath, "answer.json");
  std::string pythonDir = ATTN_PYTHON_DIR;
  if (const char *env = std::getenv("ATTN_PYTHON_DIR"))
    pythonDir = env;
  SmallString<128> script(pythonDir);
  sys::path::append(script, "attn", "check.py");
  std::string python = "/usr/bin/python3";
  llvm::StringRef argv[] = {python, script, requestPath, answerPath};
  std::string error;
  int rc = sys::ExecuteAndWait(python, argv, std::nullopt, {}, 0, 0, &error);
  if (rc != 0)
    return createStringError(inconvertibleErrorCode(),
                             "the float64 reference failed (" + script + ")" +
                                 (error.empty() ? "" : ": " + error));
  auto buffer = llvm::MemoryBuffer::getFile(answerPath);
  if (!buffer)
    return createStringError(buffer.getError(), "no reference answer");
  Expected<json::Value> answer = json::parse((*buffer)->getBuffer());
  if (!answer)
    return answer.takeError();
  if (auto *object = answer->getAsObject())
    return std::move(*object);
  return createStringError(inconvertibleErrorCode(), "bad reference answer");
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
                "got '" + target + "'");
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

  // The spec function and the attention op in it.
  func::FuncOp func;
  attn::AttentionOp op;
  for (auto f : module->getOps<func::FuncOp>()) {
    if (!funcName.empty() && f.getName() != funcName)
      continue;
    f.walk([&](attn::AttentionOp a) {
      if (!op) {
        op = a;
        func = f;
      }
    });
    if (func)
      break;
  }
  if (!func)
    return fail(funcName.empty()
                    ? Twine("expected a function with an attn.attention in ") +
                          specPath
                    : Twine("expected a function @") + funcName +
                          " with an attn.attention");
  std::string name = func.getName().str();
  // Only the spec function is compiled.
  for (auto other : llvm::make_early_inc_range(module->getOps<func::FuncOp>()))
    if (other != func)
      other.erase();
  SmallVector<Argument> args;
  if (failed(describeArguments(func, args)))
    return 1;
  attn::Extents extents = op.getExtents();
  // Text of the structured attributes, for the reference.
  auto text = [](Attribute attr) -> json::Value {
    if (!attr)
      return nullptr;
    std::string s;
    llvm::raw_string_ostream os(s);
    attr.print(os);
    return s;
  };
  json::Object request{{"mask", text(op.getMaskAttr())},
                       {"norm", text(op.getNormAttr())},
                       {"gate", text(op.getGateAttr())},
                       {"layout", json::Array{attn::stringifyLayout(op.getQLayout()),
                                              attn::stringifyLayout(op.getKvLayout())}}};
  json::Array scoreText;
  if (ArrayAttr score = op.getScoreAttr())
    for (Attribute mod : score)
      scoreText.push_back(text(mod));
  request["score"] = std::move(scoreText);
  if (std::optional<APFloat> scale = op.getScale())
    request["scale"] = scale->convertToDouble();
  if (std::optional<int64_t> groups = op.getResidueGroups())
    request["residue_groups"] = *groups;
  if (!op.getPredicate().empty() || !op.getScoreFn().empty())
    request["regions"] = true;
  bool hasLse = static_cast<bool>(op.getLse());
  // The argument behind every operand of each group (an argument may be
  // used twice, e.g. document ids for queries and keys).
  auto argNames = [&](ValueRange values) {
    json::Array names;
    for (Value value : values)
      names.push_back(args[cast<BlockArgument>(value).getArgNumber()].name);
    return names;
  };
  request["groups"] = json::Object{{"q", argNames(op.getQuery())},
                                   {"k", argNames(op.getKey())},
                                   {"v", argNames(op.getValue())},
                                   {"mask", argNames(op.getMaskOperands())},
                                   {"score", argNames(op.getScoreOperands())},
                                   {"norm", argNames(op.getNormOperands())},
                                   {"gate", argNames(op.getGateOperands())}};
  if (op.getCuSeqlensQ())
    request["cu_seqlens"] = argNames({op.getCuSeqlensQ(), op.getCuSeqlensKv()});
  if (op.getBlockTable())
    request["paged"] = argNames({op.getBlockTable(), op.getKvLens()});

  // Inputs: files, else random data.
  auto inputMap = parseBindings(inputFiles, "input");
  auto outputMap = parseBindings(outputFiles, "output");
  if (!inputMap || !outputMap) {
    logAllUnhandledErrors(inputMap ? outputMap.takeError() : inputMap.takeError(),
                          errs(), "attn-run: error: ");
    return 1;
  }
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
  for (Argument &arg : args) {
    auto tensor = dyn_cast<RankedTensorType>(arg.type);
    auto it = inputMap->find(arg.name);
    if (it != inputMap->end()) {
      Expected<npy::Array> array = npy::read(it->second);
      if (!array) {
        logAllUnhandledErrors(array.takeError(), errs(), "attn-run: ");
        return 1;
      }
      ArrayRef<int64_t> expected = tensor ? tensor.getShape() : ArrayRef<int64_t>();
      bool ok = array->shape.size() == expected.size();
      for (size_t d = 0; ok && d < expected.size(); ++d)
        ok = ShapedType::isDynamic(expected[d]) || expected[d] == array->shape[d];
      if (!ok) {
        std::string want = tensor ? "" : "a scalar (shape ())";
        for (int64_t d : expected)
          want += (want.empty() ? "" : "x") +
                  (ShapedType::isDynamic(d) ? std::string("?") : std::to_string(d));
        std::string got;
        for (int64_t d : array->shape)
          got += (got.empty() ? "" : "x") + std::to_string(d);
        return fail("input '" + arg.name + "' (" + it->second + "): expected shape " +
                    want + ", got " + (got.empty() ? "()" : got));
      }
      Type element = getElementTypeOrSelf(arg.type);
      if (element.isIntOrIndex() && !element.isInteger(1) && array->kind == 'f')
        return fail("input '" + arg.name + "' (" + it->second +
                    "): expected an integer array, got floats");
      arg.value = std::move(*array);
      continue;
    }
    if (randomSeed < 0)
      return fail("missing input '" + arg.name + "': give --input " + arg.name +
                  "=FILE.npy or --random SEED");
    if (tensor && !tensor.hasStaticShape())
      return fail("input '" + arg.name + "' has a dynamic shape: give it with "
                  "--input, --random needs static shapes");
    randomize(arg, rng, extents);
  }
  if (randomSeed >= 0)
    fixSelectionCounts(args, *inputMap);
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

  // Compile the kernel.
  if (queryTile < 1 || keyTile < 1)
    return fail("expected positive --q-tile and --k-tile");
  auto [defaultQueryTile, defaultKeyTile] = attn::defaultTileSizes(*module, "");
  if (!queryTile.getNumOccurrences())
    queryTile = defaultQueryTile;
  if (!keyTile.getNumOccurrences())
    keyTile = defaultKeyTile;
  if (failed(attn::compileKernels(*module, queryTile, keyTile)))
    return 1;
  // ExecutionEngineOptions holds the transformer by reference.
  std::function<llvm::Error(llvm::Module *)> optimize =
      makeOptimizingTransformer(3, 0, nullptr);
  ExecutionEngineOptions engineOptions;
  engineOptions.transformer = optimize;
  auto engine = ExecutionEngine::create(*module, engineOptions);
  if (!engine) {
    logAllUnhandledErrors(engine.takeError(), errs(), "attn-run: error: ");
    return 1;
  }
  auto kernel = (*engine)->lookupPacked("_mlir_ciface_" + name);
  if (!kernel) {
    logAllUnhandledErrors(kernel.takeError(), errs(), "attn-run: error: ");
    return 1;
  }

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
  unsigned threads = *numThreads ? *numThreads
                                 : std::max(1u, std::thread::hardware_concurrency());
  auto run = [&]() {
    std::vector<int64_t> ids(threads);
    std::vector<std::vector<void *>> packed(threads, slots);
    int64_t total = threads;
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t) {
      ids[t] = t;
      packed[t].push_back(&ids[t]);
      packed[t].push_back(&total);
      if (t + 1 == threads)
        (*kernel)(packed[t].data());
      else
        pool.emplace_back([&, t] { (*kernel)(packed[t].data()); });
    }
    for (std::thread &thread : pool)
      thread.join();
  };
  run();
  SmallVector<double> times;
  for (unsigned i = 0; i < benchRuns; ++i) {
    auto start = std::chrono::steady_clock::now();
    run();
    times.push_back(std::chrono::duration<double, std::milli>(
                        std::chrono::steady_clock::now() - start)
                        .count());
  }

  // Outputs.
  auto toArray = [&](const Buffer &buffer) {
    npy::Array array;
    array.shape = buffer.shape;
    array.values.resize(array.numElements());
    for (int64_t e = 0; e < array.numElements(); ++e)
      array.values[e] = buffer.get(e);
    return array;
  };
  npy::Array o = toArray(buffers[args.size()]);
  npy::Array lse;
  if (hasLse)
    lse = toArray(buffers[args.size() + 1]);
  for (const auto &entry : *outputMap)
    if (Error error = npy::writeFloat32(entry.getValue(),
                                        entry.getKey() == "o" ? o : lse)) {
      logAllUnhandledErrors(std::move(error), errs(), "attn-run: ");
      return 1;
    }

  json::Object result{{"spec", specPath.getValue()},
                      {"func", name},
                      {"threads", threads}};
  int status = 0;
  if (checkOutput || benchRuns) {
    SmallString<128> dir;
    if (std::error_code ec = sys::fs::createUniqueDirectory("attn-run", dir))
      return fail("cannot create a temporary directory: " + ec.message());
    auto save = [&](const std::string &file, const npy::Array &array) -> json::Value {
      SmallString<128> path(dir);
      sys::path::append(path, file + ".npy");
      if (Error error = npy::writeFloat32(path, array)) {
        llvm::consumeError(std::move(error));
        return nullptr;
      }
      return std::string(path);
    };
    json::Array inputs;
    for (const Argument &arg : args) {
      json::Object entry{{"name", arg.name}, {"file", save(arg.name, arg.value)}};
      entry["scalar"] = !isa<RankedTensorType>(arg.type);
      inputs.push_back(std::move(entry));
    }
    request["inputs"] = std::move(inputs);
    request["o"] = save("o", o);
    if (hasLse)
      request["lse"] = save("lse", lse);
    request["count_only"] = !checkOutput;
    Expected<json::Object> answer = runReference(request, dir);
    sys::fs::remove_directories(dir);
    if (!answer) {
      logAllUnhandledErrors(answer.takeError(), errs(), "attn-run: error: ");
      return 1;
    }
    double allowed = answer->getNumber("allowed_pairs").value_or(0);
    result["allowed_pairs"] = allowed;
    if (checkOutput) {
      double error = answer->getNumber("max_rel_error").value_or(INFINITY);
      // As precise as the least precise of the output and Q, K, V: bf16
      // inputs may have P rounded to bf16 for the products (AMX), as in
      // FlashAttention's and PyTorch's bf16 kernels.
      auto precision = [](Type t) {
        return t.isF32() ? 1e-4 : t.isF16() ? 2e-3 : 1e-2;
      };
      double tolerance = precision(buffers[args.size()].element);
      for (size_t i = 0; i < 3 && i < args.size(); ++i)
        if (isa<RankedTensorType>(args[i].type))
          tolerance = std::max(tolerance,
                               precision(getElementTypeOrSelf(args[i].type)));
      result["max_rel_error"] = error;
      result["tolerance"] = tolerance;
      bool lseOk = answer->getBoolean("lse_ok").value_or(true);
      result["lse_ok"] = lseOk;
      if (!(error <= tolerance) || !lseOk)
        status = 1;
    }
    if (benchRuns) {
      std::sort(times.begin(), times.end());
      double median = times[times.size() / 2];
      int64_t headDim = args[queryArg].value.shape.back();
      result["median_ms"] = median;
      result["gflops"] = 4.0 * headDim * allowed / (median * 1e-3) / 1e9;
    }
  }
  if (jsonOutput) {
    outs() << json::Value(std::move(result)) << "\n";
  } else {
    outs() << "attn-run: @" << name << " on " << threads << " thread(s)";
    if (auto t = result.getNumber("median_ms"))
      outs() << ", median " << llvm::format("%.3f", *t) << " ms, "
             << llvm::format("%.2f", *result.getNumber("gflops")) << " GFLOP/s";
    if (auto e = result.getNumber("max_rel_error"))
      outs() << ", max rel error " << llvm::format("%.2e", *e)
             << (status ? " (FAILED)" : " (ok)");
    outs() << "\n";
  }
  return status;
}

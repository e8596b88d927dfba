//===- Program.cpp - multi-op spec functions on the CPU -------------------===//

#include "Program.h"
#include "Reference.h"
#include "attn/Dialect/Attn/IR/AttnDialect.h"
#include "attn/Target/CPU/KernelEmission.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/IR/TypeUtilities.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/SourceMgr.h"

#include <chrono>
#include <set>
#include <thread>

using namespace mlir;
using namespace attnrun;
namespace json = llvm::json;

void attnrun::runThreaded(void (*kernel)(void **), llvm::ArrayRef<void *> slots,
                          unsigned threads) {
  std::vector<int64_t> ids(threads);
  std::vector<std::vector<void *>> packed(threads, slots.vec());
  int64_t total = threads;
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) {
    ids[t] = t;
    packed[t].push_back(&ids[t]);
    packed[t].push_back(&total);
    if (t + 1 == threads)
      kernel(packed[t].data());
    else
      pool.emplace_back([&, t] { kernel(packed[t].data()); });
  }
  for (std::thread &thread : pool)
    thread.join();
}

//===----------------------------------------------------------------------===//
// Names from the spec's text
//===----------------------------------------------------------------------===//

/// The text at `loc` in the spec, if `loc` points into it.
static const char *textAt(Location loc, llvm::SourceMgr &sources) {
  auto file = dyn_cast<FileLineColLoc>(loc);
  if (!file || sources.getNumBuffers() == 0)
    return nullptr;
  unsigned id = sources.getMainFileID();
  llvm::SMLoc at =
      sources.FindLocForLineAndColumn(id, file.getLine(), file.getColumn());
  return at.isValid() ? at.getPointer() : nullptr;
}

/// The SSA name starting at `p` ("%q" -> "q", "%r#1" -> "r_1"), if any;
/// `length` receives the characters it takes in the text.
static std::string ssaName(const char *p, const char *end,
                           size_t *length = nullptr) {
  if (!p || p >= end || *p != '%')
    return "";
  const char *q = p + 1;
  auto take = [&](auto accept) {
    while (q < end && accept(*q))
      ++q;
  };
  take([](char c) {
    return isalnum(c) || c == '_' || c == '$' || c == '.' || c == '-';
  });
  std::string name(p + 1, q);
  if (q < end && *q == '#') {
    const char *digits = ++q;
    take([](char c) { return isdigit(c); });
    name += "_" + std::string(digits, q);
  }
  if (length)
    *length = q - p;
  return name;
}

/// The names the spec's `return %a, %b : ...` gives its results.
static SmallVector<std::string> returnNames(func::ReturnOp ret,
                                            llvm::SourceMgr &sources) {
  SmallVector<std::string> names;
  const char *p = textAt(ret.getLoc(), sources);
  if (!p)
    return names;
  const char *end =
      sources.getMemoryBuffer(sources.getMainFileID())->getBufferEnd();
  llvm::StringRef rest(p, end - p);
  if (!rest.consume_front("return"))
    return names;
  while (true) {
    rest = rest.ltrim();
    size_t length = 0;
    std::string name = ssaName(rest.data(), end, &length);
    if (name.empty())
      break;
    names.push_back(name);
    rest = rest.drop_front(length).ltrim();
    if (!rest.consume_front(","))
      break;
  }
  return names;
}

//===----------------------------------------------------------------------===//
// Steps
//===----------------------------------------------------------------------===//

/// The attributes of a non-attention op as JSON: integers, floats, flags,
/// float lists, pooling kinds by name, masks as text.
static json::Object describeAttributes(Operation *op) {
  json::Object attrs;
  for (NamedAttribute named : op->getAttrDictionary()) {
    llvm::StringRef key = named.getName().strref();
    Attribute value = named.getValue();
    if (key.ends_with("SegmentSizes"))
      continue;
    if ((key == "kind" || key == "pool") && isa<IntegerAttr>(value)) {
      attrs[key] = attn::stringifyPoolKind(
          static_cast<attn::PoolKind>(cast<IntegerAttr>(value).getInt()));
    } else if (auto i = dyn_cast<IntegerAttr>(value)) {
      attrs[key] = i.getType().isInteger(1)
                       ? json::Value(i.getValue().getBoolValue())
                       : json::Value(i.getInt());
    } else if (auto f = dyn_cast<FloatAttr>(value)) {
      attrs[key] = f.getValueAsDouble();
    } else if (isa<UnitAttr>(value)) {
      attrs[key] = true;
    } else if (auto list = dyn_cast<ArrayAttr>(value)) {
      json::Array items;
      for (Attribute item : list)
        if (auto f = dyn_cast<FloatAttr>(item))
          items.push_back(f.getValueAsDouble());
        else if (auto i = dyn_cast<IntegerAttr>(item))
          items.push_back(i.getInt());
      attrs[key] = std::move(items);
    } else {
      std::string text;
      llvm::raw_string_ostream os(text);
      value.print(os);
      attrs[key] = text;
    }
  }
  return attrs;
}

/// The operands of a selection op by role, as positions among the step's
/// inputs; fails where an operand is not an input of the step.
static FailureOr<json::Object> describeOperands(Operation *op, Block &entry) {
  json::Object roles;
  bool ok = true;
  auto position = [&](Value value) -> json::Value {
    auto arg = dyn_cast<BlockArgument>(value);
    if (!arg || arg.getOwner() != &entry) {
      ok = false;
      return nullptr;
    }
    return arg.getArgNumber();
  };
  auto one = [&](llvm::StringRef role, Value value) {
    if (value)
      roles[role] = position(value);
  };
  auto many = [&](llvm::StringRef role, ValueRange values) {
    json::Array list;
    for (Value value : values)
      list.push_back(position(value));
    roles[role] = std::move(list);
  };
  llvm::TypeSwitch<Operation *>(op)
      .Case([&](attn::IndexerTopkOp o) {
        one("query", o.getQuery());
        one("key", o.getKey());
        one("weights", o.getWeights());
        one("block_counts", o.getBlockCounts());
        one("block_indices", o.getBlockIndices());
        many("mask", o.getMaskOperands());
      })
      .Case([&](attn::PoolOp o) { one("input", o.getInput()); })
      .Case<attn::BlockTopkOp, attn::HipTopkOp, attn::ThresholdBlocksOp,
            attn::PyramidLevelsOp>([&](auto o) {
        one("query", o.getQuery());
        one("key", o.getKey());
        many("mask", o.getMaskOperands());
      })
      .Case([&](attn::QueryTopkOp o) {
        one("query", o.getQuery());
        one("key", o.getKey());
      })
      .Case([&](attn::ValueTopkOp o) {
        one("value", o.getValue());
        one("weight", o.getWeight());
        many("mask", o.getMaskOperands());
      })
      .Case([&](attn::HeadTopkOp o) { one("logits", o.getLogits()); })
      .Case([&](attn::MaskTilesOp o) { one("input", o.getMask()); })
      .Case([&](attn::IdRangesOp o) { one("input", o.getIds()); })
      .Default([&](Operation *) { many("all", op->getOperands()); });
  if (!ok)
    return op->emitOpError("expected every operand to be an input of its "
                           "program step");
  return roles;
}

/// Describes the step function `func` (one attn op) into `step`; records
/// the operand slots of the program arguments that a kernel step reads.
static LogicalResult describeStep(func::FuncOp func, ProgramStep &step,
                                  Program &program) {
  Operation *op = nullptr;
  func.walk([&](Operation *inner) {
    if (!op && isa<attn::AttnDialect>(inner->getDialect()))
      op = inner;
  });
  if (!op)
    return func.emitError("expected an attn op in program step @")
           << func.getName();
  // The operand roles of an attention kernel (for random inputs); other
  // steps have none: no error.
  FailureOr<SmallVector<attn::KernelArgument>> kernelArgs = failure();
  {
    ScopedDiagnosticHandler quiet(func.getContext(),
                                  [](Diagnostic &) { return success(); });
    kernelArgs = attn::describeKernel(func);
  }
  auto attention = dyn_cast<attn::AttentionOp>(op);
  if (succeeded(kernelArgs))
    for (auto [position, arg] : llvm::enumerate(*kernelArgs))
      if (!arg.output && arg.slot) {
        ProgramValue &value = program.values[step.operands[position]];
        if (step.operands[position] < program.numArguments && !value.slot)
          value.slot = *arg.slot;
      }
  Block &entry = func.getBody().front();
  if (attention) {
    if (ShapedType::isDynamic(program.extents.batch))
      program.extents = attention.getExtents();
    step.reference = describeAttention(attention, [&](Value value) {
      auto arg = dyn_cast<BlockArgument>(value);
      return arg && arg.getOwner() == &entry
                 ? "a" + std::to_string(arg.getArgNumber())
                 : std::string("?");
    });
    if (Value indices = attention.getTopkIndices()) {
      step.reference["kind"] = "attention_topk";
      step.reference["n"] =
          cast<ShapedType>(indices.getType()).getShape().back();
    } else {
      step.reference["kind"] = "attention";
      step.reference["lse"] = static_cast<bool>(attention.getLse());
    }
  } else {
    // A selection step computes all of its op's results (its outputs).
    auto ret = cast<func::ReturnOp>(entry.getTerminator());
    if (ValueRange(ret.getOperands()) !=
        ValueRange(attn::getSelectionResults(op)))
      return ret.emitOpError("expected @")
             << func.getName() << " to return every result of its "
             << op->getName() << ", in order";
    FailureOr<json::Object> operands = describeOperands(op, entry);
    if (failed(operands))
      return failure();
    step.reference = json::Object{{"kind", "op"},
                                  {"op", op->getName().getStringRef()},
                                  {"attrs", describeAttributes(op)},
                                  {"operands", std::move(*operands)}};
  }
  for (Type type : func.getResultTypes())
    step.tolerances.push_back(tolerance(type, op->getOperandTypes()));
  return success();
}

//===----------------------------------------------------------------------===//
// Building
//===----------------------------------------------------------------------===//

namespace {
/// Program::build's state.
struct ProgramBuilder {
  Program &program;
  SymbolTable &symbols;
  DenseMap<Value, unsigned> ids;
  SmallVector<func::FuncOp> stepFuncs;

  unsigned add(Value value, std::string name = "") {
    ids[value] = program.values.size();
    program.values.push_back({value.getType(), std::move(name), std::nullopt});
    return ids[value];
  }

  FailureOr<int> addStep(func::FuncOp func, ValueRange operands,
                         ValueRange results) {
    ProgramStep step;
    step.symbol = func.getName().str();
    for (Value operand : operands)
      step.operands.push_back(ids.lookup(operand));
    for (Value result : results)
      step.results.push_back(add(result));
    if (failed(describeStep(func, step, program)))
      return failure();
    program.steps.push_back(std::move(step));
    stepFuncs.push_back(func);
    return static_cast<int>(program.steps.size() - 1);
  }

  LogicalResult addNodes(Block &block, std::vector<ProgramNode> &nodes) {
    for (Operation &op : block.without_terminator()) {
      ProgramNode node;
      if (auto call = dyn_cast<func::CallOp>(op)) {
        auto callee = symbols.lookup<func::FuncOp>(call.getCallee());
        FailureOr<int> step =
            addStep(callee, call.getOperands(), call.getResults());
        if (failed(step))
          return failure();
        node.step = *step;
      } else if (auto branch = dyn_cast<scf::IfOp>(op)) {
        node.flag = ids.lookup(branch.getCondition());
        for (auto [side, region] : llvm::enumerate(branch->getRegions())) {
          Block &inner = region.front();
          if (failed(addNodes(inner, node.sides[side])))
            return failure();
          for (Value x : inner.getTerminator()->getOperands())
            node.yields[side].push_back(ids.lookup(x));
        }
        for (Value result : branch.getResults())
          node.results.push_back(add(result));
      } else {
        return op.emitOpError("unexpected op in a program");
      }
      nodes.push_back(std::move(node));
    }
    return success();
  }
};
} // namespace

/// Whether a program can pass `type` between its steps and the host.
static bool isProgramType(Type type) {
  if (auto tensor = dyn_cast<RankedTensorType>(type))
    return tensor.hasStaticShape() && tensor.getElementType().isIntOrFloat();
  return type.isIntOrFloat();
}

FailureOr<Program> Program::build(ModuleOp module, func::FuncOp func,
                                  llvm::SourceMgr &sources) {
  Program program;
  program.name = func.getName().str();
  for (Type type :
       llvm::concat<const Type>(func.getArgumentTypes(), func.getResultTypes()))
    if (!isProgramType(type))
      return func.emitError("expected the arguments and results of @")
             << program.name
             << " to be statically shaped tensors or integer or float "
                "scalars, got "
             << type;
  auto split = PassManager::on<ModuleOp>(module.getContext());
  if (failed(parsePassPipeline("attn-split-program{split-topk}", split)) ||
      failed(split.run(module)))
    return failure();
  func = module.lookupSymbol<func::FuncOp>(program.name);
  SymbolTable symbols(module);
  ProgramBuilder builder{program, symbols, DenseMap<Value, unsigned>(),
                         SmallVector<func::FuncOp>()};
  Block &body = func.getBody().front();
  const char *end =
      sources.getNumBuffers()
          ? sources.getMemoryBuffer(sources.getMainFileID())->getBufferEnd()
          : nullptr;
  for (BlockArgument arg : body.getArguments()) {
    std::string name = ssaName(textAt(arg.getLoc(), sources), end);
    builder.add(arg, name.empty() ? "arg" + std::to_string(arg.getArgNumber())
                                  : name);
  }
  program.numArguments = body.getNumArguments();
  auto ret = cast<func::ReturnOp>(body.getTerminator());
  SmallVector<std::string> names = returnNames(ret, sources);
  if (func->hasAttr("attn.program")) {
    if (failed(builder.addNodes(body, program.nodes)))
      return failure();
  } else {
    // One op: the function is its own step.
    ProgramNode node;
    FailureOr<int> step =
        builder.addStep(func, body.getArguments(), ret.getOperands());
    if (failed(step))
      return failure();
    node.step = *step;
    program.nodes.push_back(std::move(node));
  }
  std::set<std::string> taken;
  for (unsigned i = 0; i < program.numArguments; ++i)
    taken.insert(program.values[i].name);
  for (auto [i, result] : llvm::enumerate(ret.getOperands())) {
    unsigned id = builder.ids.lookup(result);
    if (id < program.numArguments || llvm::is_contained(program.outputs, id))
      return ret.emitOpError("expected every result of @")
             << program.name << " to be computed by its ops, once";
    // The spec's name; else (no source text) result<i>.
    std::string name = i < names.size() ? names[i] : "";
    if (name.empty() || taken.count(name))
      name = "result" + std::to_string(i);
    taken.insert(name);
    program.values[id].name = name;
    program.outputs.push_back(id);
  }
  // Only the steps are compiled.
  for (auto other : llvm::make_early_inc_range(module.getOps<func::FuncOp>()))
    if (!llvm::is_contained(builder.stepFuncs, other))
      other.erase();
  return program;
}

//===----------------------------------------------------------------------===//
// Running
//===----------------------------------------------------------------------===//

LogicalResult Program::checkKernels(ModuleOp module) const {
  for (const ProgramStep &step : steps) {
    auto entry =
        module.lookupSymbol<LLVM::LLVMFuncOp>("_mlir_ciface_" + step.symbol);
    if (!entry || !entry->hasAttr("attn.kernel"))
      return module.emitError("step @")
             << step.symbol << " did not compile to a kernel";
  }
  return success();
}

llvm::Error Program::link(ExecutionEngine &engine) {
  entries.clear();
  for (const ProgramStep &step : steps) {
    auto entry = engine.lookupPacked("_mlir_ciface_" + step.symbol);
    if (!entry)
      return entry.takeError();
    entries.push_back(*entry);
  }
  return llvm::Error::success();
}

void Program::runStep(const ProgramStep &step, std::vector<Buffer> &values,
                      unsigned threads) const {
  SmallVector<void *> slots;
  for (unsigned id : step.operands)
    slots.push_back(values[id].slot());
  for (unsigned id : step.results)
    slots.push_back(values[id].slot());
  runThreaded(entries[&step - steps.data()], slots, threads);
}

void Program::runNodes(const std::vector<ProgramNode> &nodes,
                       std::vector<Buffer> &values, unsigned threads,
                       Trace &trace) const {
  for (const ProgramNode &node : nodes) {
    if (node.step >= 0) {
      auto start = std::chrono::steady_clock::now();
      runStep(steps[node.step], values, threads);
      trace.steps.push_back(node.step);
      trace.ms.push_back(std::chrono::duration<double, std::milli>(
                             std::chrono::steady_clock::now() - start)
                             .count());
      continue;
    }
    unsigned side = values[node.flag].get(0) != 0 ? 0 : 1;
    runNodes(node.sides[side], values, threads, trace);
    for (auto [yield, result] : llvm::zip(node.yields[side], node.results))
      llvm::copy(values[yield].storage, values[result].storage.begin());
  }
}

Program::Trace Program::run(std::vector<Buffer> &values,
                            unsigned threads) const {
  Trace trace;
  runNodes(nodes, values, threads, trace);
  return trace;
}

json::Array
Program::describeRun(ArrayRef<unsigned> ran,
                     const std::function<json::Value(unsigned)> &save) const {
  json::Array list;
  for (unsigned index : ran) {
    const ProgramStep &step = steps[index];
    json::Object request = step.reference;
    request["symbol"] = step.symbol;
    json::Array inputs;
    for (auto [position, id] : llvm::enumerate(step.operands))
      inputs.push_back(json::Object{
          {"name", "a" + std::to_string(position)},
          {"file", save(id)},
          {"scalar", !isa<RankedTensorType>(values[id].type)},
          {"integer", getElementTypeOrSelf(values[id].type).isInteger()}});
    request["inputs"] = std::move(inputs);
    json::Array outputs;
    for (unsigned id : step.results)
      outputs.push_back(save(id));
    request["outputs"] = std::move(outputs);
    json::Array tolerances;
    for (double t : step.tolerances)
      tolerances.push_back(t);
    request["tolerances"] = std::move(tolerances);
    list.push_back(std::move(request));
  }
  return list;
}

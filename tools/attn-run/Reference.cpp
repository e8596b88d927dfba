//===- Reference.cpp - attn-run's side of the float64 reference -----------===//

#include "Reference.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"

using namespace mlir;
using namespace attnrun;
namespace json = llvm::json;
namespace sys = llvm::sys;
using llvm::createStringError;
using llvm::Expected;
using llvm::inconvertibleErrorCode;
using llvm::SmallString;
using llvm::StringRef;

json::Object
attnrun::describeAttention(attn::AttentionOp op,
                           const std::function<std::string(Value)> &nameOf) {
  auto text = [](Attribute attr) -> json::Value {
    if (!attr)
      return nullptr;
    std::string s;
    llvm::raw_string_ostream os(s);
    attr.print(os);
    return s;
  };
  json::Object request{
      {"mask", text(op.getMaskAttr())},
      {"norm", text(op.getNormAttr())},
      {"gate", text(op.getGateAttr())},
      {"layout", json::Array{attn::stringifyLayout(op.getQLayout()),
                             attn::stringifyLayout(op.getKvLayout())}}};
  json::Array scoreText;
  if (ArrayAttr score = op.getScoreAttr())
    for (Attribute mod : score)
      scoreText.push_back(text(mod));
  request["score"] = std::move(scoreText);
  if (std::optional<llvm::APFloat> scale = op.getScale())
    request["scale"] = scale->convertToDouble();
  if (std::optional<int64_t> groups = op.getResidueGroups())
    request["residue_groups"] = *groups;
  if (!op.getPredicate().empty() || !op.getScoreFn().empty())
    request["regions"] = true;
  // The input behind every operand of each group (an input may be used
  // twice, e.g. document ids for queries and keys).
  auto names = [&](ValueRange values) {
    json::Array list;
    for (Value value : values)
      list.push_back(nameOf(value));
    return list;
  };
  request["groups"] = json::Object{{"q", names(op.getQuery())},
                                   {"k", names(op.getKey())},
                                   {"v", names(op.getValue())},
                                   {"mask", names(op.getMaskOperands())},
                                   {"score", names(op.getScoreOperands())},
                                   {"norm", names(op.getNormOperands())},
                                   {"gate", names(op.getGateOperands())}};
  if (op.getCuSeqlensQ())
    request["cu_seqlens"] = names({op.getCuSeqlensQ(), op.getCuSeqlensKv()});
  if (op.getBlockTable())
    request["paged"] = names({op.getBlockTable(), op.getKvLens()});
  return request;
}

double attnrun::tolerance(Type type, TypeRange inputs) {
  auto precision = [](Type t) {
    t = getElementTypeOrSelf(t);
    return t.isF32() || t.isF64() ? 1e-4 : t.isF16() ? 2e-3 : 1e-2;
  };
  double result = precision(type);
  for (Type input : inputs)
    if (isa<FloatType>(getElementTypeOrSelf(input)))
      result = std::max(result, precision(input));
  return result;
}

/// Runs the float64 reference through python/attn/check.py on files in
/// `dir`; returns its JSON answer.
Expected<json::Object> attnrun::runReference(const json::Object &request,
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

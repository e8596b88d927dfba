//===- Inputs.cpp - the inputs of a spec function for attn-run ------------===//

#include "Inputs.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/TypeUtilities.h"

#include <algorithm>
#include <numeric>

using namespace mlir;
using namespace attnrun;
using llvm::ArrayRef;
using llvm::createStringError;
using llvm::Error;
using llvm::Expected;
using llvm::inconvertibleErrorCode;
using llvm::MutableArrayRef;
using llvm::StringMap;
using llvm::StringRef;

/// Messages in the form of npy::read's ("error: ...").
static Error fail(const llvm::Twine &message) {
  return createStringError(inconvertibleErrorCode(), "error: " + message);
}

/// Parses `NAME=FILE` options into a map.
Expected<StringMap<std::string>>
attnrun::parseBindings(ArrayRef<std::string> items, StringRef option) {
  StringMap<std::string> result;
  for (StringRef item : items) {
    auto [name, file] = item.split('=');
    if (name.empty() || file.empty())
      return fail("expected --" + option + " NAME=FILE.npy, got '" + item +
                  "'");
    result[name] = file.str();
  }
  return result;
}

Error attnrun::readInput(Argument &arg, StringRef file) {
  Expected<npy::Array> array = npy::read(file);
  if (!array)
    return array.takeError();
  auto tensor = dyn_cast<RankedTensorType>(arg.type);
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
    return fail("input '" + arg.name + "' (" + file + "): expected shape " +
                want + ", got " + (got.empty() ? "()" : got));
  }
  Type element = getElementTypeOrSelf(arg.type);
  if (element.isIntOrIndex() && !element.isInteger(1) && array->kind == 'f')
    return fail("input '" + arg.name + "' (" + file +
                "): expected an integer array, got floats");
  arg.value = std::move(*array);
  return Error::success();
}

Error attnrun::loadInputs(MutableArrayRef<Argument> args,
                          const StringMap<std::string> &inputs, bool random,
                          std::mt19937_64 &rng, const attn::Extents &extents) {
  for (Argument &arg : args) {
    auto it = inputs.find(arg.name);
    if (it != inputs.end()) {
      if (Error error = readInput(arg, it->second))
        return error;
      continue;
    }
    if (!random)
      return fail("missing input '" + arg.name + "': give --input " + arg.name +
                  "=FILE.npy or --random SEED");
    auto tensor = dyn_cast<RankedTensorType>(arg.type);
    if (tensor && !tensor.hasStaticShape())
      return fail("input '" + arg.name +
                  "' has a dynamic shape: give it with "
                  "--input, --random needs static shapes");
    randomize(arg, rng, extents);
  }
  if (random)
    fixSelectionCounts(args, inputs);
  return Error::success();
}

/// Random values that are valid for the role of `arg` (lengths within the
/// sequence, sorted document ids, pyramid levels from -1, gammas in (0, 1],
/// positive softcaps...).
void attnrun::randomize(Argument &arg, std::mt19937_64 &rng,
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
void attnrun::fixSelectionCounts(MutableArrayRef<Argument> args,
                                 const StringMap<std::string> &given) {
  for (auto [counts, indices] :
       llvm::zip(args.drop_back(), args.drop_front())) {
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

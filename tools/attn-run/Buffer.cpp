//===- Buffer.cpp - host buffers of compiled attn functions ---------------===//

#include "Buffer.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/APFloat.h"

#include <algorithm>
#include <cstring>

using namespace attnrun;
using llvm::APFloat;
using llvm::APInt;

void Buffer::allocate(mlir::Type elementType, llvm::ArrayRef<int64_t> dims) {
  element = elementType;
  shape.assign(dims.begin(), dims.end());
  storage.assign(std::max<int64_t>(numElements(), 1) * width(), 0);
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

void Buffer::allocateFor(mlir::Type type) {
  auto tensor = mlir::dyn_cast<mlir::RankedTensorType>(type);
  allocate(tensor ? tensor.getElementType() : type,
           tensor ? tensor.getShape() : llvm::ArrayRef<int64_t>());
  scalar = !tensor;
}

unsigned Buffer::width() const {
  return element.isInteger(1)
             ? 1
             : std::max(1u, element.getIntOrFloatBitWidth() / 8);
}

int64_t Buffer::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

void Buffer::set(int64_t i, double value) {
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

double Buffer::get(int64_t i) const {
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
  if (element.isF64()) {
    double x;
    std::memcpy(&x, p, 8);
    return x;
  }
  if (element.isInteger(1))
    return *p != 0;
  if (element.isInteger(8))
    return static_cast<signed char>(*p);
  if (element.isInteger(32)) {
    int32_t x;
    std::memcpy(&x, p, 4);
    return x;
  }
  int64_t x;
  std::memcpy(&x, p, 8);
  return static_cast<double>(x);
}

npy::Array Buffer::toArray() const {
  npy::Array array;
  array.shape = shape;
  array.values.resize(numElements());
  for (int64_t e = 0; e < numElements(); ++e)
    array.values[e] = get(e);
  return array;
}

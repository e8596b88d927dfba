//===- Npy.cpp - reading and writing NumPy .npy files ---------------------===//
//
// Parses the header dictionary ('descr', 'fortran_order', 'shape') and
// converts the data; rejects big-endian, Fortran-order and unsupported
// element types with a clear message.
//
//===----------------------------------------------------------------------===//

#include "Npy.h"
#include "llvm/ADT/APFloat.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <cstring>

using namespace attnrun;
using llvm::StringRef;

int64_t npy::Array::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

static llvm::Error fail(StringRef path, const llvm::Twine &what) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 "error: " + path + ": " + what);
}

/// The value of `key` in the header dictionary text.
static StringRef field(StringRef header, StringRef key) {
  size_t at = header.find(("'" + key + "'").str());
  if (at == StringRef::npos)
    return {};
  StringRef rest = header.drop_front(at + key.size() + 2).ltrim(" :");
  if (rest.starts_with("'"))
    return rest.drop_front().take_until([](char c) { return c == '\''; });
  if (rest.starts_with("("))
    return rest.drop_front().take_until([](char c) { return c == ')'; });
  return rest.take_until([](char c) { return c == ',' || c == '}'; }).trim();
}

llvm::Expected<npy::Array> npy::read(StringRef path) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false);
  if (!buffer)
    return fail(path, "cannot read file: " + buffer.getError().message());
  StringRef data = (*buffer)->getBuffer();
  if (data.size() < 10 || !data.starts_with("\x93NUMPY"))
    return fail(path, "expected a .npy file (bad magic)");
  unsigned major = static_cast<unsigned char>(data[6]);
  size_t headerLen, headerStart;
  if (major == 1) {
    headerLen = static_cast<unsigned char>(data[8]) |
                (static_cast<unsigned char>(data[9]) << 8);
    headerStart = 10;
  } else if (major == 2 || major == 3) {
    if (data.size() < 12)
      return fail(path, "truncated header");
    headerLen = 0;
    for (int i = 0; i < 4; ++i)
      headerLen |= size_t(static_cast<unsigned char>(data[8 + i])) << (8 * i);
    headerStart = 12;
  } else {
    return fail(path, "unsupported .npy version " + llvm::Twine(major));
  }
  if (data.size() < headerStart + headerLen)
    return fail(path, "truncated header");
  StringRef header = data.substr(headerStart, headerLen);
  StringRef descr = field(header, "descr");
  if (field(header, "fortran_order") != "False")
    return fail(path, "expected a C-order array (fortran_order is not False)");
  Array array;
  StringRef shapeText = field(header, "shape");
  llvm::SmallVector<StringRef> dims;
  shapeText.split(dims, ',', -1, /*KeepEmpty=*/false);
  for (StringRef d : dims) {
    int64_t size;
    if (d.trim().getAsInteger(10, size) || size < 0)
      return fail(path, "bad shape '(" + shapeText + ")'");
    array.shape.push_back(size);
  }
  size_t width;
  char kind;
  if (descr == "|b1") {
    width = 1, kind = 'b';
  } else if (descr == "<i4" || descr == "<i8" || descr == "|i1" ||
             descr == "|u1") {
    width = descr[2] - '0', kind = 'i';
  } else if (descr == "<f2" || descr == "<f4" || descr == "<f8") {
    width = descr[2] - '0', kind = 'f';
  } else {
    return fail(path, "unsupported element type '" + descr +
                          "' (expected bool, int8/32/64, uint8 or "
                          "float16/32/64, little-endian)");
  }
  array.kind = kind;
  int64_t n = array.numElements();
  StringRef payload = data.drop_front(headerStart + headerLen);
  if (payload.size() != size_t(n) * width)
    return fail(path, "expected " + llvm::Twine(n * width) +
                          " bytes of data for the shape, got " +
                          llvm::Twine(payload.size()));
  array.values.resize(n);
  const char *p = payload.data();
  for (int64_t i = 0; i < n; ++i, p += width) {
    double value;
    if (descr == "|b1" || descr == "|u1") {
      value = static_cast<unsigned char>(*p);
    } else if (descr == "|i1") {
      value = static_cast<signed char>(*p);
    } else if (descr == "<i4") {
      int32_t x;
      std::memcpy(&x, p, 4);
      value = x;
    } else if (descr == "<i8") {
      int64_t x;
      std::memcpy(&x, p, 8);
      value = double(x);
    } else if (descr == "<f2") {
      uint16_t bits;
      std::memcpy(&bits, p, 2);
      value = llvm::APFloat(llvm::APFloat::IEEEhalf(), llvm::APInt(16, bits))
                  .convertToDouble();
    } else if (descr == "<f4") {
      float x;
      std::memcpy(&x, p, 4);
      value = x;
    } else {
      std::memcpy(&value, p, 8);
    }
    array.values[i] = value;
  }
  return array;
}

llvm::Error npy::writeFloat32(StringRef path, const Array &array) {
  std::string shape;
  for (int64_t d : array.shape)
    shape += std::to_string(d) + ", ";
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" +
                       shape + "), }";
  // Pad so that the data starts at a multiple of 64 bytes.
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec);
  if (ec)
    return fail(path, "cannot write file: " + ec.message());
  os << "\x93NUMPY" << char(1) << char(0) << char(header.size() & 0xff)
     << char(header.size() >> 8) << header;
  for (double value : array.values) {
    float x = static_cast<float>(value);
    os.write(reinterpret_cast<const char *>(&x), 4);
  }
  return llvm::Error::success();
}

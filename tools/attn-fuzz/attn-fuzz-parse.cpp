//===- attn-fuzz-parse.cpp - libFuzzer: parse and verify ------------------===//
//
// Any input parses and verifies to a module or to diagnostics.
//
//===----------------------------------------------------------------------===//

#include "FuzzCommon.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  attn_fuzz::parse(data, size);
  return 0;
}

// The stock upstream mlir-opt loads the attn dialect and passes from the
// plugin, parses and prints attn IR, and runs an attn pass.
// RUN: mlir-opt %s --load-dialect-plugin=%attn_plugin | FileCheck %s --check-prefix=PARSE
// RUN: mlir-opt %s --load-dialect-plugin=%attn_plugin --load-pass-plugin=%attn_plugin \
// RUN:   --pass-pipeline="builtin.module(attn-normalize-masks)" | FileCheck %s --check-prefix=PASS
// RUN: not mlir-opt %s 2>&1 | FileCheck %s --check-prefix=NOPLUGIN

// PARSE: attn.attention %{{.*}}, %{{.*}}, %{{.*}} mask(#attn.and<#attn.causal, #attn.window<left = 64>>) score([#attn.alibi], %{{.*}} : tensor<4xf32>)
// PASS: attn.attention %{{.*}}, %{{.*}}, %{{.*}} mask(#attn.window<left = 64>) score([#attn.alibi], %{{.*}} : tensor<4xf32>)
// NOPLUGIN: Dialect `attn' not found

func.func @spec(%q: tensor<1x4x256x64xf16>, %slopes: tensor<4xf32>) -> tensor<1x4x256x64xf16> {
  %o = attn.attention %q, %q, %q mask(#attn.and<#attn.causal, #attn.window<left = 64, right = 0>>) score([#attn.alibi], %slopes : tensor<4xf32>) : tensor<1x4x256x64xf16>, tensor<1x4x256x64xf16>, tensor<1x4x256x64xf16> -> tensor<1x4x256x64xf16>
  return %o : tensor<1x4x256x64xf16>
}

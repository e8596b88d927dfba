// RUN: attn-opt %s -attn-normalize-masks | FileCheck %s

// The pass applies the mask normalization patterns and nothing else: other
// canonicalizations (here, the dead arith.addi and the constant) are left
// alone.

// CHECK-LABEL: func @normalize_only
// CHECK: arith.addi
// CHECK: attn.attention %{{.*}}, %{{.*}}, %{{.*}} mask(#attn.window<left = 128>) :
// CHECK: attn.indexer_topk {{.*}} mask(#attn.causal) :
func.func @normalize_only(%q: tensor<1x8x1024x64xbf16>, %k: tensor<1x2x1024x64xbf16>, %v: tensor<1x2x1024x64xbf16>, %qi: tensor<1x1024x4x32xbf16>, %ki: tensor<1x1024x32xbf16>, %w: tensor<1x1024x4xf32>, %x: index) -> (tensor<1x8x1024x64xbf16>, tensor<1x1x1024x64xi32>) {
  %c128 = arith.constant 128 : index
  %dead = arith.addi %x, %c128 : index
  %o = attn.attention %q, %k, %v mask(#attn.and<#attn.full, #attn.causal, #attn.window<left = ?, right = 0>>, %c128 : index) : tensor<1x8x1024x64xbf16>, tensor<1x2x1024x64xbf16>, tensor<1x2x1024x64xbf16> -> tensor<1x8x1024x64xbf16>
  %c, %i = attn.indexer_topk %qi, %ki, %w k = 64 mask(#attn.not<#attn.not<#attn.causal>>) : tensor<1x1024x4x32xbf16>, tensor<1x1024x32xbf16>, tensor<1x1024x4xf32> -> tensor<1x1x1024xi32>, tensor<1x1x1024x64xi32>
  return %o, %i : tensor<1x8x1024x64xbf16>, tensor<1x1x1024x64xi32>
}

// RUN: attn-opt %s -attn-summarize-masks -split-input-file | FileCheck %s

// An explicit bf16 mask gets its tile summary, read by the attention:
// 64 x 64 tiles (ceil(200 / 64) = 4 rows), ceil(ceil(2100 / 64) / 32) = 2
// words per bit vector; the mask's broadcast dimensions stay.
// CHECK-LABEL: func @dense_bf16
// CHECK-SAME: %[[M:[a-z0-9]+]]: tensor<1x4x200x2112xi1>
// CHECK: %[[T:.*]] = attn.mask_tiles %[[M]] : tensor<1x4x200x2112xi1> -> tensor<1x4x4x4xi32>
// CHECK: attn.attention {{.*}} mask(#attn.dense<tiles>, %[[M]], %[[T]] : tensor<1x4x200x2112xi1>, tensor<1x4x4x4xi32>)
func.func @dense_bf16(%q: tensor<2x4x200x64xbf16>, %k: tensor<2x4x2112x64xbf16>, %m: tensor<1x4x200x2112xi1>) -> tensor<2x4x200x64xbf16> {
  %o = attn.attention %q, %k, %k mask(#attn.dense, %m : tensor<1x4x200x2112xi1>) : tensor<2x4x200x64xbf16>, tensor<2x4x2112x64xbf16>, tensor<2x4x2112x64xbf16> -> tensor<2x4x200x64xbf16>
  return %o : tensor<2x4x200x64xbf16>
}

// -----

// Left as they are: f32 queries (no tensor-core body), rows not of 16-byte
// chunks, a dynamic mask, a mask inside a composition, a summarized mask.
// CHECK-LABEL: func @unchanged
// CHECK-NOT: attn.mask_tiles
// CHECK-COUNT-4: mask(#attn.
// CHECK: %[[T:.*]] = attn.mask_tiles
// CHECK-NOT: attn.mask_tiles
// CHECK: mask(#attn.dense<tiles>, %{{.*}}, %[[T]] :
// CHECK-NOT: attn.mask_tiles
func.func @unchanged(%q: tensor<1x2x64x64xf32>, %qh: tensor<1x2x64x64xf16>, %kh: tensor<1x2x72x64xf16>, %m: tensor<1x1x64x64xi1>, %m72: tensor<1x1x64x72xi1>, %md: tensor<1x1x?x64xi1>) {
  %0 = attn.attention %q, %q, %q mask(#attn.dense, %m : tensor<1x1x64x64xi1>) : tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32> -> tensor<1x2x64x64xf32>
  %1 = attn.attention %qh, %kh, %kh mask(#attn.dense, %m72 : tensor<1x1x64x72xi1>) : tensor<1x2x64x64xf16>, tensor<1x2x72x64xf16>, tensor<1x2x72x64xf16> -> tensor<1x2x64x64xf16>
  %2 = attn.attention %qh, %qh, %qh mask(#attn.dense, %md : tensor<1x1x?x64xi1>) : tensor<1x2x64x64xf16>, tensor<1x2x64x64xf16>, tensor<1x2x64x64xf16> -> tensor<1x2x64x64xf16>
  %3 = attn.attention %qh, %qh, %qh mask(#attn.and<#attn.causal, #attn.dense>, %m : tensor<1x1x64x64xi1>) : tensor<1x2x64x64xf16>, tensor<1x2x64x64xf16>, tensor<1x2x64x64xf16> -> tensor<1x2x64x64xf16>
  %t = attn.mask_tiles %m : tensor<1x1x64x64xi1> -> tensor<1x1x1x2xi32>
  %4 = attn.attention %qh, %qh, %qh mask(#attn.dense<tiles>, %m, %t : tensor<1x1x64x64xi1>, tensor<1x1x1x2xi32>) : tensor<1x2x64x64xf16>, tensor<1x2x64x64xf16>, tensor<1x2x64x64xf16> -> tensor<1x2x64x64xf16>
  return
}

// -----

// Document ids get their ranges per 64 tokens, once per ids value (the
// query and key ids of self-attention are one value: one attn.id_ranges),
// wherever the leaf sits in the mask; ceil(200 / 64) = 4 entries.
// CHECK-LABEL: func @documents
// CHECK-SAME: %[[D:[a-z0-9]+]]: tensor<2x200xi32>, %[[E:[a-z0-9]+]]: tensor<2x300xi32>
// CHECK: %[[RD:.*]] = attn.id_ranges %[[D]] : tensor<2x200xi32> -> tensor<2x4x2xi32>
// CHECK-NOT: attn.id_ranges
// CHECK: mask(#attn.and<#attn.causal, #attn.document<ranges>>, %[[D]], %[[D]], %[[RD]], %[[RD]] :
// CHECK: %[[RE:.*]] = attn.id_ranges %[[E]] : tensor<2x300xi32> -> tensor<2x5x2xi32>
// CHECK: %[[RD2:.*]] = attn.id_ranges %[[D]]
// CHECK: mask(#attn.or<#attn.key_prefix<len = 4>, #attn.not<#attn.document<ranges>>>, %[[E]], %[[D]], %[[RE]], %[[RD2]] :
func.func @documents(%q: tensor<2x4x200x64xbf16>, %k: tensor<2x4x300x64xbf16>, %d: tensor<2x200xi32>, %e: tensor<2x300xi32>) {
  %0 = attn.attention %q, %q, %q mask(#attn.and<#attn.causal, #attn.document>, %d, %d : tensor<2x200xi32>, tensor<2x200xi32>) : tensor<2x4x200x64xbf16>, tensor<2x4x200x64xbf16>, tensor<2x4x200x64xbf16> -> tensor<2x4x200x64xbf16>
  %1 = attn.attention %k, %q, %q mask(#attn.or<#attn.key_prefix<len = 4>, #attn.not<#attn.document>>, %e, %d : tensor<2x300xi32>, tensor<2x200xi32>) : tensor<2x4x300x64xbf16>, tensor<2x4x200x64xbf16>, tensor<2x4x200x64xbf16> -> tensor<2x4x300x64xbf16>
  return
}

// -----

// Left as they are: f32 queries, ids other than i32, ids of dynamic
// length, ids with ranges.
// CHECK-LABEL: func @documents_unchanged
// CHECK-NOT: attn.id_ranges
// CHECK-COUNT-3: mask(#attn.document, %
// CHECK: %[[R:.*]] = attn.id_ranges
// CHECK-NOT: attn.id_ranges
// CHECK: mask(#attn.document<ranges>, %{{.*}}, %{{.*}}, %[[R]], %[[R]] :
func.func @documents_unchanged(%q: tensor<1x2x64x64xf32>, %qh: tensor<1x2x64x64xf16>, %d: tensor<1x64xi32>, %d64: tensor<1x64xi64>, %qd: tensor<1x2x?x64xf16>, %dd: tensor<1x?xi32>) {
  %0 = attn.attention %q, %q, %q mask(#attn.document, %d, %d : tensor<1x64xi32>, tensor<1x64xi32>) : tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32> -> tensor<1x2x64x64xf32>
  %1 = attn.attention %qh, %qh, %qh mask(#attn.document, %d64, %d64 : tensor<1x64xi64>, tensor<1x64xi64>) : tensor<1x2x64x64xf16>, tensor<1x2x64x64xf16>, tensor<1x2x64x64xf16> -> tensor<1x2x64x64xf16>
  %2 = attn.attention %qd, %qd, %qd mask(#attn.document, %dd, %dd : tensor<1x?xi32>, tensor<1x?xi32>) : tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16> -> tensor<1x2x?x64xf16>
  %r = attn.id_ranges %d : tensor<1x64xi32> -> tensor<1x1x2xi32>
  %3 = attn.attention %qh, %qh, %qh mask(#attn.document<ranges>, %d, %d, %r, %r : tensor<1x64xi32>, tensor<1x64xi32>, tensor<1x1x2xi32>, tensor<1x1x2xi32>) : tensor<1x2x64x64xf16>, tensor<1x2x64x64xf16>, tensor<1x2x64x64xf16> -> tensor<1x2x64x64xf16>
  return
}

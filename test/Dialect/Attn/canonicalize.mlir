// RUN: attn-opt %s -canonicalize -split-input-file | FileCheck %s

// Canonicalization of the mask algebra and structured parameters.

// CHECK-LABEL: func @and_identity_and_flatten
// CHECK: attn.attention %{{.*}}, %{{.*}}, %{{.*}} mask(#attn.and<#attn.document, #attn.keep<key>>, %{{.*}}, %{{.*}}, %{{.*}} : tensor<1x64xi32>, tensor<1x64xi32>, tensor<1x4x64xi1>) :
func.func @and_identity_and_flatten(%q: tensor<1x4x64x32xf32>, %doc: tensor<1x64xi32>, %keep: tensor<1x4x64xi1>) -> tensor<1x4x64x32xf32> {
  %o = attn.attention %q, %q, %q mask(#attn.and<#attn.full, #attn.and<#attn.document, #attn.full>, #attn.keep<key>>, %doc, %doc, %keep : tensor<1x64xi32>, tensor<1x64xi32>, tensor<1x4x64xi1>) : tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32> -> tensor<1x4x64x32xf32>
  return %o : tensor<1x4x64x32xf32>
}

// -----

// Duplicates are dropped only when their operands are the same values too.
// CHECK-LABEL: func @or_idempotent
// CHECK: mask(#attn.or<#attn.key_prefix<len = ?>, #attn.key_prefix<len = ?>>, %[[A:.*]], %[[B:.*]] : tensor<1xi32>, tensor<1xi32>)
// CHECK: mask(#attn.key_prefix<len = ?>, %[[A]] : tensor<1xi32>)
func.func @or_idempotent(%q: tensor<1x4x64x32xf32>, %a: tensor<1xi32>, %b: tensor<1xi32>) -> (tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>) {
  %0 = attn.attention %q, %q, %q mask(#attn.or<#attn.key_prefix<len = ?>, #attn.key_prefix<len = ?>, #attn.key_prefix<len = ?>>, %a, %b, %a : tensor<1xi32>, tensor<1xi32>, tensor<1xi32>) : tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32> -> tensor<1x4x64x32xf32>
  %1 = attn.attention %q, %q, %q mask(#attn.or<#attn.key_prefix<len = ?>, #attn.key_prefix<len = ?>>, %a, %a : tensor<1xi32>, tensor<1xi32>) : tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32> -> tensor<1x4x64x32xf32>
  return %0, %1 : tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>
}

// -----

// CHECK-LABEL: func @absorbing_and_not
// CHECK: mask(#attn.empty) :
// CHECK: attn.attention %{{.*}}, %{{.*}}, %{{.*}} :
// CHECK: mask(#attn.causal) :
func.func @absorbing_and_not(%q: tensor<1x4x64x32xf32>) -> (tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>) {
  %0 = attn.attention %q, %q, %q mask(#attn.and<#attn.causal, #attn.not<#attn.full>>) : tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32> -> tensor<1x4x64x32xf32>
  %1 = attn.attention %q, %q, %q mask(#attn.or<#attn.causal, #attn.not<#attn.empty>>) : tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32> -> tensor<1x4x64x32xf32>
  %2 = attn.attention %q, %q, %q mask(#attn.not<#attn.not<#attn.causal>>) : tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32> -> tensor<1x4x64x32xf32>
  return %0, %1, %2 : tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>
}

// -----

// causal and a window on the same diagonal are one window.
// CHECK-LABEL: func @causal_window_normal_form
// CHECK: mask(#attn.window<left = 8>) :
// CHECK: mask(#attn.window<left = ?>, %{{.*}} : index) :
// CHECK: mask(#attn.window<left = 8, align = bottom_right>) :
// CHECK: mask(#attn.window<left = 4, right = 2>) :
// CHECK: mask(#attn.causal<offset = -2>) :
func.func @causal_window_normal_form(%q: tensor<1x4x64x32xf32>, %l: index) -> (tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>) {
  %0 = attn.attention %q, %q, %q mask(#attn.and<#attn.causal, #attn.window<left = 8, right = 5>>) : tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32> -> tensor<1x4x64x32xf32>
  %1 = attn.attention %q, %q, %q mask(#attn.and<#attn.window<left = ?, right = 0>, #attn.causal>, %l : index) : tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32> -> tensor<1x4x64x32xf32>
  %2 = attn.attention %q, %q, %q mask(#attn.and<#attn.causal<align = bottom_right>, #attn.window<left = 8, right = 0, align = bottom_right>>) : tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32> -> tensor<1x4x64x32xf32>
  %3 = attn.attention %q, %q, %q mask(#attn.and<#attn.window<left = 16, right = 2>, #attn.window<left = 4, right = 9>>) : tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32> -> tensor<1x4x64x32xf32>
  %4 = attn.attention %q, %q, %q mask(#attn.and<#attn.causal, #attn.causal<offset = -2>>) : tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32> -> tensor<1x4x64x32xf32>
  return %0, %1, %2, %3, %4 : tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>
}

// -----

// Different alignments stay separate: bottom-right depends on Sk - Sq.
// CHECK-LABEL: func @mixed_alignment_kept
// CHECK: mask(#attn.and<#attn.causal<align = bottom_right>, #attn.window<left = 8, offset = ?>>, %{{.*}} : index)
func.func @mixed_alignment_kept(%q: tensor<1x4x?x32xf32>, %k: tensor<1x4x?x32xf32>, %d: index) -> tensor<1x4x?x32xf32> {
  %o = attn.attention %q, %k, %k mask(#attn.and<#attn.causal<align = bottom_right>, #attn.window<left = 8, right = 0, offset = ?>>, %d : index) : tensor<1x4x?x32xf32>, tensor<1x4x?x32xf32>, tensor<1x4x?x32xf32> -> tensor<1x4x?x32xf32>
  return %o : tensor<1x4x?x32xf32>
}

// -----

// Constant runtime parameters fold into the attributes; invalid constants
// (a negative window) stay runtime values for the runtime checks to report.
// CHECK-LABEL: func @constant_parameters
// CHECK-DAG: %[[NEG:.*]] = arith.constant -1 : index
// CHECK: mask(#attn.window<left = 16>) score([#attn.softcap<cap = 3.000000e+01>]) norm(#attn.sink_softmax<logit = 0.000000e+00>) :
// CHECK: mask(#attn.window<left = ?>, %[[NEG]] : index) :
func.func @constant_parameters(%q: tensor<1x4x64x32xf32>) -> (tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>) {
  %c16 = arith.constant 16 : index
  %cap = arith.constant 30.0 : f32
  %sink = arith.constant 0.0 : f32
  %neg = arith.constant -1 : index
  %0 = attn.attention %q, %q, %q mask(#attn.window<left = ?, right = 0>, %c16 : index) score([#attn.softcap<cap = ?>], %cap : f32) norm(#attn.sink_softmax<logit = ?>, %sink : f32) : tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32> -> tensor<1x4x64x32xf32>
  %1 = attn.attention %q, %q, %q mask(#attn.window<left = ?, right = 0>, %neg : index) : tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32> -> tensor<1x4x64x32xf32>
  return %0, %1 : tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>
}

// -----

// With static lengths, a window wider than the sequence is causal or full,
// a full mask and an explicit softmax are dropped.
// CHECK-LABEL: func @wide_windows
// CHECK: attn.attention %{{.*}}, %{{.*}}, %{{.*}} mask(#attn.causal) :
// CHECK: attn.attention %{{.*}}, %{{.*}}, %{{.*}} : tensor
// CHECK: attn.attention %{{.*}}, %{{.*}}, %{{.*}} mask(#attn.causal<offset = 3>) :
// CHECK: attn.attention %{{.*}}, %{{.*}}, %{{.*}} : tensor
// CHECK: attn.attention %{{.*}}, %{{.*}}, %{{.*}} mask(#attn.window<left = 62>) :
func.func @wide_windows(%q: tensor<1x4x64x32xf32>) -> (tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>) {
  %0 = attn.attention %q, %q, %q mask(#attn.window<left = 4096, right = 0>) : tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32> -> tensor<1x4x64x32xf32>
  %1 = attn.attention %q, %q, %q mask(#attn.window<left = 63, right = 63>) norm(#attn.softmax) : tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32> -> tensor<1x4x64x32xf32>
  %2 = attn.attention %q, %q, %q mask(#attn.window<left = 100, right = 3>) : tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32> -> tensor<1x4x64x32xf32>
  %3 = attn.attention %q, %q, %q mask(#attn.or<#attn.causal<offset = 63>, #attn.key_prefix<len = 4>>) : tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32> -> tensor<1x4x64x32xf32>
  %4 = attn.attention %q, %q, %q mask(#attn.window<left = 62, right = 0>) : tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32> -> tensor<1x4x64x32xf32>
  return %0, %1, %2, %3, %4 : tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>
}

// -----

// Bottom-right causal: with Sq = 4 and Sk = 64 the diagonal is d = 60.
// CHECK-LABEL: func @bottom_right_wide
// CHECK: mask(#attn.causal<align = bottom_right>) :
// CHECK: attn.attention %{{.*}}, %{{.*}}, %{{.*}} : tensor
func.func @bottom_right_wide(%q: tensor<1x4x4x32xf32>, %k: tensor<1x4x64x32xf32>) -> (tensor<1x4x4x32xf32>, tensor<1x4x4x32xf32>) {
  %0 = attn.attention %q, %k, %k mask(#attn.window<left = 63, right = 0, align = bottom_right>) : tensor<1x4x4x32xf32>, tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32> -> tensor<1x4x4x32xf32>
  %1 = attn.attention %q, %k, %k mask(#attn.causal<offset = 63>) : tensor<1x4x4x32xf32>, tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32> -> tensor<1x4x4x32xf32>
  return %0, %1 : tensor<1x4x4x32xf32>, tensor<1x4x4x32xf32>
}

// -----

// Leaves that are constant over the problem.
// CHECK-LABEL: func @constant_leaves
// CHECK: mask(#attn.empty) :
// CHECK: mask(#attn.causal) :
// CHECK: mask(#attn.heads<begin = 0, end = 2>) :
func.func @constant_leaves(%q: tensor<1x4x64x32xf32>) -> (tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>) {
  %0 = attn.attention %q, %q, %q mask(#attn.or<#attn.key_prefix<len = 0>, #attn.heads<begin = 4, end = 8>>) : tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32> -> tensor<1x4x64x32xf32>
  %1 = attn.attention %q, %q, %q mask(#attn.and<#attn.causal, #attn.dilated<dilation = 1>, #attn.heads<begin = 0, end = 4>, #attn.query_prefix<len = 64>>) : tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32> -> tensor<1x4x64x32xf32>
  %2 = attn.attention %q, %q, %q mask(#attn.heads<begin = 0, end = 2>) : tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32> -> tensor<1x4x64x32xf32>
  return %0, %1, %2 : tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>
}

// -----

// Selection ops canonicalize their candidate masks too.
// CHECK-LABEL: func @selection_mask
// CHECK: attn.block_topk %{{.*}}, %{{.*}} blocks(64, 64) k = 2 pool = mean mask(#attn.window<left = 128>) :
func.func @selection_mask(%q: tensor<1x8x256x64xbf16>, %k: tensor<1x2x256x64xbf16>) -> (tensor<1x8x4xi32>, tensor<1x8x4x2xi32>) {
  %c128 = arith.constant 128 : i32
  %c, %i = attn.block_topk %q, %k blocks(64, 64) k = 2 pool = mean mask(#attn.and<#attn.full, #attn.causal, #attn.window<left = ?, right = 0>>, %c128 : i32) : tensor<1x8x256x64xbf16>, tensor<1x2x256x64xbf16> -> tensor<1x8x4xi32>, tensor<1x8x4x2xi32>
  return %c, %i : tensor<1x8x4xi32>, tensor<1x8x4x2xi32>
}

// -----

// Huge parameters: an "infinite" left window is still causal; offsets too
// large to add safely are left alone.
// CHECK-LABEL: func @huge_parameters
// CHECK: mask(#attn.causal) :
// CHECK: mask(#attn.and<#attn.causal<offset = 9223372036854775000>, #attn.window<left = 8, offset = -9223372036854775000>>) :
func.func @huge_parameters(%q: tensor<1x4x64x32xf32>) -> (tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>) {
  %0 = attn.attention %q, %q, %q mask(#attn.window<left = 9223372036854775000, right = 0>) : tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32> -> tensor<1x4x64x32xf32>
  %1 = attn.attention %q, %q, %q mask(#attn.and<#attn.causal<offset = 9223372036854775000>, #attn.window<left = 8, right = 0, offset = -9223372036854775000>>) : tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32> -> tensor<1x4x64x32xf32>
  return %0, %1 : tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>
}

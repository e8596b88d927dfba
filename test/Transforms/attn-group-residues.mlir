// RUN: attn-opt %s -split-input-file -attn-group-residues | FileCheck %s

// M7: a window of +-2048 tokens dilated by 4 is, within each residue class,
// a window of +-512 class positions.
// CHECK-LABEL: func @dilated_window
// CHECK: attn.attention %{{.*}}, %{{.*}}, %{{.*}} mask(#attn.window<left = 512, right = 512>) {residue_groups = 4 : i64}
func.func @dilated_window(%q: tensor<1x16x16384x128xbf16>, %k: tensor<1x16x16384x128xbf16>, %v: tensor<1x16x16384x128xbf16>) -> tensor<1x16x16384x128xbf16> {
  %o = attn.attention %q, %k, %v mask(#attn.and<#attn.window<left = 2048, right = 2048>, #attn.dilated<dilation = 4>>) : tensor<1x16x16384x128xbf16>, tensor<1x16x16384x128xbf16>, tensor<1x16x16384x128xbf16> -> tensor<1x16x16384x128xbf16>
  return %o : tensor<1x16x16384x128xbf16>
}

// -----

// Bounds round down (left 20 / 3 = 6 class positions: 18 tokens); a
// dilation alone leaves no mask; the LSE and BSHD layouts are kept.
// CHECK-LABEL: func @rounding
// CHECK: mask(#attn.window<left = 6, right = 2>) {residue_groups = 3 : i64}
// CHECK: attn.attention %{{.*}}, %{{.*}}, %{{.*}} layout(bshd, bshd) {residue_groups = 5 : i64} :
func.func @rounding(%q: tensor<2x4x203x64xf32>, %k: tensor<2x2x203x64xf32>, %x: tensor<2x97x4x64xf16>) -> (tensor<2x4x203x64xf32>, tensor<2x4x203xf32>, tensor<2x97x4x64xf16>) {
  %o, %l = attn.attention %q, %k, %k mask(#attn.and<#attn.window<left = 20, right = 7>, #attn.dilated<dilation = 3>>) : tensor<2x4x203x64xf32>, tensor<2x2x203x64xf32>, tensor<2x2x203x64xf32> -> tensor<2x4x203x64xf32>, lse tensor<2x4x203xf32>
  %p = attn.attention %x, %x, %x layout(bshd, bshd) mask(#attn.dilated<dilation = 5>) : tensor<2x97x4x64xf16>, tensor<2x97x4x64xf16>, tensor<2x97x4x64xf16> -> tensor<2x97x4x64xf16>
  return %o, %l, %p : tensor<2x4x203x64xf32>, tensor<2x4x203xf32>, tensor<2x97x4x64xf16>
}

// -----

// Diagonals: bottom-right alignment with Sk - Sq = 72 (a multiple of 4) is
// diagonal 72 = 18 class positions; a causal dilated mask is causal in
// class positions; per-head leaves stay.
// CHECK-LABEL: func @diagonals
// CHECK: mask(#attn.window<left = 5, offset = 18>) {residue_groups = 4 : i64}
// CHECK: mask(#attn.and<#attn.causal, #attn.heads<begin = 0, end = 2>>) {residue_groups = 2 : i64}
// CHECK: mask(#attn.window<left = 3, right = 3, offset = 1>) {residue_groups = 3 : i64}
func.func @diagonals(%q: tensor<1x4x130x64xbf16>, %k: tensor<1x4x202x64xbf16>) -> (tensor<1x4x130x64xbf16>, tensor<1x4x130x64xbf16>, tensor<1x4x130x64xbf16>) {
  %a = attn.attention %q, %k, %k mask(#attn.and<#attn.window<left = 20, align = bottom_right>, #attn.dilated<dilation = 4, align = bottom_right>>) : tensor<1x4x130x64xbf16>, tensor<1x4x202x64xbf16>, tensor<1x4x202x64xbf16> -> tensor<1x4x130x64xbf16>
  %b = attn.attention %q, %k, %k mask(#attn.and<#attn.causal, #attn.dilated<dilation = 2>, #attn.heads<begin = 0, end = 2>>) : tensor<1x4x130x64xbf16>, tensor<1x4x202x64xbf16>, tensor<1x4x202x64xbf16> -> tensor<1x4x130x64xbf16>
  %c = attn.attention %q, %k, %k mask(#attn.and<#attn.window<left = 9, right = 9, offset = 3>, #attn.dilated<dilation = 3, offset = 3>>) : tensor<1x4x130x64xbf16>, tensor<1x4x202x64xbf16>, tensor<1x4x202x64xbf16> -> tensor<1x4x130x64xbf16>
  return %a, %b, %c : tensor<1x4x130x64xbf16>, tensor<1x4x130x64xbf16>, tensor<1x4x130x64xbf16>
}

// -----

// Left alone: the residue condition pairs different classes (Sk - Sq = 73
// with bottom-right alignment; offset 1), a runtime window, a modifier that
// reads positions (ALiBi), a tensor operand (document ids), the thd layout,
// no dilation.
// CHECK-LABEL: func @not_grouped
// CHECK-NOT: residue_groups
func.func @not_grouped(%q: tensor<1x4x130x64xbf16>, %k: tensor<1x4x203x64xbf16>, %w: index, %slopes: tensor<4xf32>, %d: tensor<1x130xi32>, %t: tensor<100x4x64xbf16>, %cu: tensor<2xi32>) -> (tensor<1x4x130x64xbf16>, tensor<1x4x130x64xbf16>, tensor<1x4x130x64xbf16>, tensor<1x4x130x64xbf16>, tensor<1x4x130x64xbf16>, tensor<100x4x64xbf16>, tensor<1x4x130x64xbf16>) {
  %a = attn.attention %q, %k, %k mask(#attn.and<#attn.window<left = 20, align = bottom_right>, #attn.dilated<dilation = 4, align = bottom_right>>) : tensor<1x4x130x64xbf16>, tensor<1x4x203x64xbf16>, tensor<1x4x203x64xbf16> -> tensor<1x4x130x64xbf16>
  %b = attn.attention %q, %k, %k mask(#attn.dilated<dilation = 4, offset = 1>) : tensor<1x4x130x64xbf16>, tensor<1x4x203x64xbf16>, tensor<1x4x203x64xbf16> -> tensor<1x4x130x64xbf16>
  %c = attn.attention %q, %k, %k mask(#attn.and<#attn.window<left = ?>, #attn.dilated<dilation = 4>>, %w : index) : tensor<1x4x130x64xbf16>, tensor<1x4x203x64xbf16>, tensor<1x4x203x64xbf16> -> tensor<1x4x130x64xbf16>
  %e = attn.attention %q, %k, %k mask(#attn.dilated<dilation = 4>) score([#attn.alibi], %slopes : tensor<4xf32>) : tensor<1x4x130x64xbf16>, tensor<1x4x203x64xbf16>, tensor<1x4x203x64xbf16> -> tensor<1x4x130x64xbf16>
  %f = attn.attention %q, %q, %q mask(#attn.and<#attn.document, #attn.dilated<dilation = 4>>, %d, %d : tensor<1x130xi32>, tensor<1x130xi32>) : tensor<1x4x130x64xbf16>, tensor<1x4x130x64xbf16>, tensor<1x4x130x64xbf16> -> tensor<1x4x130x64xbf16>
  %g = attn.attention %t, %t, %t layout(thd, thd) mask(#attn.dilated<dilation = 4>) cu_seqlens_q(%cu : tensor<2xi32>) cu_seqlens_kv(%cu : tensor<2xi32>) : tensor<100x4x64xbf16>, tensor<100x4x64xbf16>, tensor<100x4x64xbf16> -> tensor<100x4x64xbf16>
  %h = attn.attention %q, %k, %k mask(#attn.window<left = 20>) : tensor<1x4x130x64xbf16>, tensor<1x4x203x64xbf16>, tensor<1x4x203x64xbf16> -> tensor<1x4x130x64xbf16>
  return %a, %b, %c, %e, %f, %g, %h : tensor<1x4x130x64xbf16>, tensor<1x4x130x64xbf16>, tensor<1x4x130x64xbf16>, tensor<1x4x130x64xbf16>, tensor<1x4x130x64xbf16>, tensor<100x4x64xbf16>, tensor<1x4x130x64xbf16>
}

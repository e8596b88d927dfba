// RUN: attn-opt %s | attn-opt | FileCheck %s
// RUN: attn-opt %s --mlir-print-op-generic | attn-opt | FileCheck %s

// Round trips of shapes, layouts and phases (X1-X5).

// X1: MQA (one KV head) in BSHD layout.
// CHECK-LABEL: func @x1_mqa_bshd
// CHECK: attn.attention %{{.*}}, %{{.*}}, %{{.*}} layout(bshd, bshd) mask(#attn.causal) : tensor<2x128x8x64xf16>, tensor<2x128x1x64xf16>, tensor<2x128x1x64xf16> -> tensor<2x128x8x64xf16>
func.func @x1_mqa_bshd(%q: tensor<2x128x8x64xf16>, %k: tensor<2x128x1x64xf16>, %v: tensor<2x128x1x64xf16>) -> tensor<2x128x8x64xf16> {
  %o = attn.attention %q, %k, %v layout(bshd, bshd) mask(#attn.causal) : tensor<2x128x8x64xf16>, tensor<2x128x1x64xf16>, tensor<2x128x1x64xf16> -> tensor<2x128x8x64xf16>
  return %o : tensor<2x128x8x64xf16>
}

// X2: decoding, 4 new tokens per sequence against a paged KV cache (pages of
// 16 tokens, block table, per-sequence lengths), bottom-right causal.
// CHECK-LABEL: func @x2_paged_decode
// CHECK: attn.attention %{{.*}}, %{{.*}}, %{{.*}} layout(bhsd, paged) mask(#attn.causal<align = bottom_right>) block_table(%{{.*}} : tensor<8x64xi32>) kv_lens(%{{.*}} : tensor<8xi32>) : tensor<8x16x4x128xbf16>, tensor<512x16x4x128xbf16>, tensor<512x16x4x128xbf16> -> tensor<8x16x4x128xbf16>, lse tensor<8x16x4xf32>
func.func @x2_paged_decode(%q: tensor<8x16x4x128xbf16>, %kc: tensor<512x16x4x128xbf16>, %vc: tensor<512x16x4x128xbf16>, %table: tensor<8x64xi32>, %lens: tensor<8xi32>) -> (tensor<8x16x4x128xbf16>, tensor<8x16x4xf32>) {
  %o, %lse = attn.attention %q, %kc, %vc layout(bhsd, paged) mask(#attn.causal<align = bottom_right>) block_table(%table : tensor<8x64xi32>) kv_lens(%lens : tensor<8xi32>) : tensor<8x16x4x128xbf16>, tensor<512x16x4x128xbf16>, tensor<512x16x4x128xbf16> -> tensor<8x16x4x128xbf16>, lse tensor<8x16x4xf32>
  return %o, %lse : tensor<8x16x4x128xbf16>, tensor<8x16x4xf32>
}

// X2: single-token decode against a contiguous cache of dynamic length.
// CHECK-LABEL: func @x2_contiguous_decode
// CHECK: attn.attention %{{.*}}, %{{.*}}, %{{.*}} mask(#attn.key_prefix<len = ?>, %{{.*}} : tensor<8xi32>) : tensor<8x16x1x128xbf16>, tensor<8x4x?x128xbf16>, tensor<8x4x?x128xbf16> -> tensor<8x16x1x128xbf16>
func.func @x2_contiguous_decode(%q: tensor<8x16x1x128xbf16>, %k: tensor<8x4x?x128xbf16>, %v: tensor<8x4x?x128xbf16>, %lens: tensor<8xi32>) -> tensor<8x16x1x128xbf16> {
  %o = attn.attention %q, %k, %v mask(#attn.key_prefix<len = ?>, %lens : tensor<8xi32>) : tensor<8x16x1x128xbf16>, tensor<8x4x?x128xbf16>, tensor<8x4x?x128xbf16> -> tensor<8x16x1x128xbf16>
  return %o : tensor<8x16x1x128xbf16>
}

// X3: variable-length batch of 4 sequences packed into 1000 tokens.
// CHECK-LABEL: func @x3_varlen
// CHECK: attn.attention %{{.*}}, %{{.*}}, %{{.*}} layout(thd, thd) mask(#attn.causal) cu_seqlens_q(%{{.*}} : tensor<5xi32>) cu_seqlens_kv(%{{.*}} : tensor<5xi32>) : tensor<1000x8x64xbf16>, tensor<1000x2x64xbf16>, tensor<1000x2x64xbf16> -> tensor<1000x8x64xbf16>, lse tensor<8x1000xf32>
func.func @x3_varlen(%q: tensor<1000x8x64xbf16>, %k: tensor<1000x2x64xbf16>, %v: tensor<1000x2x64xbf16>, %cu: tensor<5xi32>) -> (tensor<1000x8x64xbf16>, tensor<8x1000xf32>) {
  %o, %lse = attn.attention %q, %k, %v layout(thd, thd) mask(#attn.causal) cu_seqlens_q(%cu : tensor<5xi32>) cu_seqlens_kv(%cu : tensor<5xi32>) : tensor<1000x8x64xbf16>, tensor<1000x2x64xbf16>, tensor<1000x2x64xbf16> -> tensor<1000x8x64xbf16>, lse tensor<8x1000xf32>
  return %o, %lse : tensor<1000x8x64xbf16>, tensor<8x1000xf32>
}

// X4: head dims 32, 96, 256, and Dv != D (192 / 128, as in MLA).
// CHECK-LABEL: func @x4_head_dims
// CHECK: tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32> -> tensor<1x4x64x32xf32>
// CHECK: tensor<1x4x64x96xf32>, tensor<1x4x64x96xf32>, tensor<1x4x64x96xf32> -> tensor<1x4x64x96xf32>
// CHECK: tensor<1x4x64x256xf32>, tensor<1x4x64x256xf32>, tensor<1x4x64x256xf32> -> tensor<1x4x64x256xf32>
// CHECK: tensor<1x4x64x192xf32>, tensor<1x4x64x192xf32>, tensor<1x4x64x128xf32> -> tensor<1x4x64x128xf32>
func.func @x4_head_dims(%a: tensor<1x4x64x32xf32>, %b: tensor<1x4x64x96xf32>, %c: tensor<1x4x64x256xf32>, %d: tensor<1x4x64x192xf32>, %e: tensor<1x4x64x128xf32>) -> (tensor<1x4x64x32xf32>, tensor<1x4x64x96xf32>, tensor<1x4x64x256xf32>, tensor<1x4x64x128xf32>) {
  %0 = attn.attention %a, %a, %a : tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32> -> tensor<1x4x64x32xf32>
  %1 = attn.attention %b, %b, %b : tensor<1x4x64x96xf32>, tensor<1x4x64x96xf32>, tensor<1x4x64x96xf32> -> tensor<1x4x64x96xf32>
  %2 = attn.attention %c, %c, %c : tensor<1x4x64x256xf32>, tensor<1x4x64x256xf32>, tensor<1x4x64x256xf32> -> tensor<1x4x64x256xf32>
  %3 = attn.attention %d, %d, %e : tensor<1x4x64x192xf32>, tensor<1x4x64x192xf32>, tensor<1x4x64x128xf32> -> tensor<1x4x64x128xf32>
  return %0, %1, %2, %3 : tensor<1x4x64x32xf32>, tensor<1x4x64x96xf32>, tensor<1x4x64x256xf32>, tensor<1x4x64x128xf32>
}

// X5: f32, f16 and bf16 inputs; a bf16 computation may return f32 output.
// CHECK-LABEL: func @x5_element_types
// CHECK: tensor<1x4x64x64xf16>, tensor<1x4x64x64xf16>, tensor<1x4x64x64xf16> -> tensor<1x4x64x64xf16>
// CHECK: tensor<1x4x64x64xbf16>, tensor<1x4x64x64xbf16>, tensor<1x4x64x64xbf16> -> tensor<1x4x64x64xf32>
func.func @x5_element_types(%h: tensor<1x4x64x64xf16>, %b: tensor<1x4x64x64xbf16>) -> (tensor<1x4x64x64xf16>, tensor<1x4x64x64xf32>) {
  %0 = attn.attention %h, %h, %h : tensor<1x4x64x64xf16>, tensor<1x4x64x64xf16>, tensor<1x4x64x64xf16> -> tensor<1x4x64x64xf16>
  %1 = attn.attention %b, %b, %b : tensor<1x4x64x64xbf16>, tensor<1x4x64x64xbf16>, tensor<1x4x64x64xbf16> -> tensor<1x4x64x64xf32>
  return %0, %1 : tensor<1x4x64x64xf16>, tensor<1x4x64x64xf32>
}

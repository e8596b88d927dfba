// RUN: attn-opt %s -split-input-file -verify-diagnostics

// Verifier and parser errors of attn.attention: one case per block.

func.func @f(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>) {
  // expected-error @+1 {{expected layout bhsd, bshd, thd or paged, got 'bsdh'}}
  %o = attn.attention %q, %k, %v layout(bsdh, bhsd) : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>) {
  // expected-error @+1 {{expected 'lse' or 'topk' result types}}
  %o = attn.attention %q, %k, %v : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>, tensor<2x8x128xf32>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>) {
  // expected-error @+1 {{expected query layout bhsd, bshd or thd, got paged}}
  %o = attn.attention %q, %k, %v layout(paged, paged) : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>) {
  // expected-error @+1 {{expected query of rank 3 for layout thd, got rank 4}}
  %o = attn.attention %q, %k, %v layout(thd, bhsd) : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>) {
  // expected-error @+1 {{expected key and value of rank 3 for layout thd, got ranks 4 and 4}}
  %o = attn.attention %q, %k, %v layout(bhsd, thd) : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xi32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>) {
  // expected-error @+1 {{expected query element type to be f16, bf16 or f32, got 'i32'}}
  %o = attn.attention %q, %k, %v : tensor<2x8x128x64xi32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf16>, %v: tensor<2x2x128x64xf16>) {
  // expected-error @+1 {{expected key and value element types to match the query element type 'f32', got 'f16' and 'f16'}}
  %o = attn.attention %q, %k, %v : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf16>, tensor<2x2x128x64xf16> -> tensor<2x8x128x64xf32>
  return
}

// -----

func.func @f(%q: tensor<100x8x64xf32>, %k: tensor<100x2x64xf32>, %v: tensor<100x2x64xf32>, %cu: tensor<3xi32>) {
  // expected-error @+1 {{expected cu_seqlens_q operand for query layout thd}}
  %o = attn.attention %q, %k, %v layout(thd, thd) cu_seqlens_kv(%cu : tensor<3xi32>) : tensor<100x8x64xf32>, tensor<100x2x64xf32>, tensor<100x2x64xf32> -> tensor<100x8x64xf32>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>, %cu: tensor<3xi32>) {
  // expected-error @+1 {{expected no cu_seqlens_q operand unless query layout thd}}
  %o = attn.attention %q, %k, %v cu_seqlens_q(%cu : tensor<3xi32>) : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  return
}

// -----

func.func @f(%q: tensor<100x8x64xf32>, %k: tensor<100x2x64xf32>, %v: tensor<100x2x64xf32>, %cu: tensor<3x1xi32>) {
  // expected-error @+1 {{expected cu_seqlens_q of rank 1, got 'tensor<3x1xi32>'}}
  %o = attn.attention %q, %k, %v layout(thd, thd) cu_seqlens_q(%cu : tensor<3x1xi32>) cu_seqlens_kv(%cu : tensor<3x1xi32>) : tensor<100x8x64xf32>, tensor<100x2x64xf32>, tensor<100x2x64xf32> -> tensor<100x8x64xf32>
  return
}

// -----

func.func @f(%q: tensor<100x8x64xf32>, %k: tensor<100x2x64xf32>, %v: tensor<100x2x64xf32>, %cu: tensor<3xf32>) {
  // expected-error @+1 {{expected cu_seqlens_q element type to be an integer, got 'f32'}}
  %o = attn.attention %q, %k, %v layout(thd, thd) cu_seqlens_q(%cu : tensor<3xf32>) cu_seqlens_kv(%cu : tensor<3xf32>) : tensor<100x8x64xf32>, tensor<100x2x64xf32>, tensor<100x2x64xf32> -> tensor<100x8x64xf32>
  return
}

// -----

func.func @f(%q: tensor<100x8x64xf32>, %k: tensor<100x2x64xf32>, %v: tensor<100x2x64xf32>, %cq: tensor<3xi32>, %ck: tensor<4xi32>) {
  // expected-error @+1 {{expected cu_seqlens_kv of shape 3, got 'tensor<4xi32>'}}
  %o = attn.attention %q, %k, %v layout(thd, thd) cu_seqlens_q(%cq : tensor<3xi32>) cu_seqlens_kv(%ck : tensor<4xi32>) : tensor<100x8x64xf32>, tensor<100x2x64xf32>, tensor<100x2x64xf32> -> tensor<100x8x64xf32>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf32>, %k: tensor<64x16x2x64xf32>, %v: tensor<64x16x2x64xf32>, %t: tensor<2xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{expected block_table of rank 2, got 'tensor<2xi32>'}}
  %o = attn.attention %q, %k, %v layout(bhsd, paged) block_table(%t : tensor<2xi32>) kv_lens(%l : tensor<2xi32>) : tensor<2x8x128x64xf32>, tensor<64x16x2x64xf32>, tensor<64x16x2x64xf32> -> tensor<2x8x128x64xf32>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf32>, %k: tensor<64x16x2x64xf32>, %v: tensor<64x16x2x64xf32>, %t: tensor<2x8xi32>, %l: tensor<3xi32>) {
  // expected-error @+1 {{expected kv_lens of shape 2, got 'tensor<3xi32>'}}
  %o = attn.attention %q, %k, %v layout(bhsd, paged) block_table(%t : tensor<2x8xi32>) kv_lens(%l : tensor<3xi32>) : tensor<2x8x128x64xf32>, tensor<64x16x2x64xf32>, tensor<64x16x2x64xf32> -> tensor<2x8x128x64xf32>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x32xf32>, %v: tensor<2x2x128x32xf32>) {
  // expected-error @+1 {{expected key head dim to equal the query head dim 64, got 32}}
  %o = attn.attention %q, %k, %v : tensor<2x8x128x64xf32>, tensor<2x2x128x32xf32>, tensor<2x2x128x32xf32> -> tensor<2x8x128x32xf32>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x100x64xf32>) {
  // expected-error @+1 {{expected value of shape 2x2x128x?, got 'tensor<2x2x100x64xf32>'}}
  %o = attn.attention %q, %k, %v : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x100x64xf32> -> tensor<2x8x128x64xf32>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf32>, %k: tensor<3x2x128x64xf32>, %v: tensor<3x2x128x64xf32>) {
  // expected-error @+1 {{expected key batch of shape 2x?x?x?, got 'tensor<3x2x128x64xf32>'}}
  %o = attn.attention %q, %k, %v : tensor<2x8x128x64xf32>, tensor<3x2x128x64xf32>, tensor<3x2x128x64xf32> -> tensor<2x8x128x64xf32>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf32>, %k: tensor<2x3x128x64xf32>, %v: tensor<2x3x128x64xf32>) {
  // expected-error @+1 {{expected key head count to divide query head count, got 8 and 3}}
  %o = attn.attention %q, %k, %v : tensor<2x8x128x64xf32>, tensor<2x3x128x64xf32>, tensor<2x3x128x64xf32> -> tensor<2x8x128x64xf32>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>) {
  // expected-error @+1 {{expected output of shape 2x8x128x64, got 'tensor<2x128x8x64xf32>'}}
  %o = attn.attention %q, %k, %v : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x128x8x64xf32>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>) {
  // expected-error @+1 {{expected output element type to be f16, bf16 or f32, got 'f64'}}
  %o = attn.attention %q, %k, %v : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf64>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>) {
  // expected-error @+1 {{expected lse of shape 2x8x128, got 'tensor<2x128x8xf32>'}}
  %o, %l = attn.attention %q, %k, %v : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>, lse tensor<2x128x8xf32>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>) {
  // expected-error @+1 {{expected lse element type to be f32, got 'bf16'}}
  %o, %l = attn.attention %q, %k, %v : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>, lse tensor<2x8x128xbf16>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>) {
  // expected-error @+1 {{expected top-k counts and indices together}}
  %o:2 = "attn.attention"(%q, %k, %v) <{operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0>, resultSegmentSizes = array<i32: 1, 0, 1, 0>}> ({}, {}) : (tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32>) -> (tensor<2x8x128x64xf32>, tensor<2x8x128xi32>)
  return
}

// -----

func.func @f(%q: tensor<100x8x64xf32>, %k: tensor<100x2x64xf32>, %v: tensor<100x2x64xf32>, %cu: tensor<3xi32>) {
  // expected-error @+1 {{expected no top-k results for query layout thd}}
  %o, %c, %i = attn.attention %q, %k, %v layout(thd, thd) cu_seqlens_q(%cu : tensor<3xi32>) cu_seqlens_kv(%cu : tensor<3xi32>) : tensor<100x8x64xf32>, tensor<100x2x64xf32>, tensor<100x2x64xf32> -> tensor<100x8x64xf32>, topk tensor<100x8xi32>, tensor<100x8x4xi32>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>) {
  // expected-error @+1 {{expected top-k indices of rank 4, got 'tensor<2x8x128xi32>'}}
  %o, %c, %i = attn.attention %q, %k, %v : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>, topk tensor<2x8x128xi32>, tensor<2x8x128xi32>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>) {
  // expected-error @+1 {{expected top-k counts of shape 2x8x128, got 'tensor<2x8xi32>'}}
  %o, %c, %i = attn.attention %q, %k, %v : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>, topk tensor<2x8xi32>, tensor<2x8x128x4xi32>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>) {
  // expected-error @+1 {{expected top-k counts element type to be an integer, got 'f32'}}
  %o, %c, %i = attn.attention %q, %k, %v : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>, topk tensor<2x8x128xf32>, tensor<2x8x128x4xi32>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>) {
  // expected-error @+1 {{expected top-k indices element type to be an integer, got 'i1'}}
  %o, %c, %i = attn.attention %q, %k, %v : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>, topk tensor<2x8x128xi32>, tensor<2x8x128x4xi1>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>) {
  // expected-error @+1 {{expected top-k budget between 1 and the key length 128, got 256}}
  %o, %c, %i = attn.attention %q, %k, %v : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>, topk tensor<2x8x128xi32>, tensor<2x8x128x256xi32>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>) {
  // expected-error @+1 {{expected positive finite scale, got -1}}
  %o = attn.attention %q, %k, %v {scale = -1.0 : f64} : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>) {
  // expected-error @+1 {{expected a mask attribute, got #attn.softmax}}
  %o = attn.attention %q, %k, %v mask(#attn.softmax) : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>, %l: tensor<2x8x2x2xi8>) {
  // expected-error @+1 {{expected at most one #attn.pyramid, as the mask or a direct child of its top-level 'and'}}
  %o = attn.attention %q, %k, %v mask(#attn.or<#attn.causal, #attn.pyramid<q_block = 64, k_block = 64, max_level = 1>>, %l : tensor<2x8x2x2xi8>) : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>) {
  // expected-error @+1 {{expected a score modifier attribute, got #attn.causal}}
  %o = attn.attention %q, %k, %v score([#attn.causal]) : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>) {
  // expected-error @+1 {{expected a normalization attribute, got #attn.alibi}}
  %o = attn.attention %q, %k, %v norm(#attn.alibi) : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>) {
  // expected-error @+1 {{expected an output gate attribute, got #attn.softmax}}
  %o = attn.attention %q, %k, %v gate(#attn.softmax) : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>) {
  // expected-error @+1 {{expected 1 mask operand(s) for the mask attribute, got 0}}
  %o = attn.attention %q, %k, %v mask(#attn.window<left = ?>) : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>, %x: f32) {
  // expected-error @+1 {{expected 0 norm operand(s) for the norm attribute, got 1}}
  %o = attn.attention %q, %k, %v norm(#attn.softmax, %x : f32) : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>, %x: f32) {
  // expected-error @+1 {{expected score operand #0 (alibi slopes) to be a ranked tensor, got 'f32'}}
  %o = attn.attention %q, %k, %v score([#attn.alibi], %x : f32) : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>, %x: tensor<*xf32>) {
  // expected-error @+1 {{expected score operand #0 (temperature) to be a scalar or a ranked tensor, got 'tensor<*xf32>'}}
  %o = attn.attention %q, %k, %v score([#attn.temperature], %x : tensor<*xf32>) : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>, %x: f32) {
  // expected-error @+1 {{expected mask operand #0 (window left size) to be an integer scalar, got 'f32'}}
  %o = attn.attention %q, %k, %v mask(#attn.window<left = ?>, %x : f32) : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>, %x: tensor<2xi32>) {
  // expected-error @+1 {{expected mask operand #0 (window left size) to be a scalar, got 'tensor<2xi32>'}}
  %o = attn.attention %q, %k, %v mask(#attn.window<left = ?>, %x : tensor<2xi32>) : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>, %a: tensor<2x128xi32>, %b: tensor<2x128xf32>) {
  // expected-error @+1 {{expected mask operand #1 (key document ids) to have an integer element type, got 'tensor<2x128xf32>'}}
  %o = attn.attention %q, %k, %v mask(#attn.document, %a, %b : tensor<2x128xi32>, tensor<2x128xf32>) : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>, %x: tensor<8x1xf32>) {
  // expected-error @+1 {{expected score operand #0 (alibi slopes) to have rank 1, got 'tensor<8x1xf32>'}}
  %o = attn.attention %q, %k, %v score([#attn.alibi], %x : tensor<8x1xf32>) : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>, %x: tensor<2x3x128xi1>) {
  // expected-error @+1 {{expected mask operand #0 (key keep flags) to have a head-group dimension 1 that divides the query head count 8, got 3}}
  %o = attn.attention %q, %k, %v mask(#attn.keep<key>, %x : tensor<2x3x128xi1>) : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>, %x: tensor<7xf32>) {
  // expected-error @+1 {{expected score operand #0 (alibi slopes) to have dimension 0 equal to the query head count 8, got 'tensor<7xf32>'}}
  %o = attn.attention %q, %k, %v score([#attn.alibi], %x : tensor<7xf32>) : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>, %c: tensor<2x8x3xi32>, %i: tensor<2x8x2x2xi32>) {
  // expected-error @+1 {{expected mask operand #0 (block counts) to have dimension 2 equal to the query block count 2 (or 1), got 'tensor<2x8x3xi32>'}}
  %o = attn.attention %q, %k, %v mask(#attn.blocks<q_block = 64, k_block = 64>, %c, %i : tensor<2x8x3xi32>, tensor<2x8x2x2xi32>) : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>) {
  // expected-error @+1 {{expected a predicate region because the mask uses #attn.predicate}}
  %o = attn.attention %q, %k, %v mask(#attn.predicate) : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>) {
  // expected-error @+1 {{expected no predicate region because the mask does not use #attn.predicate}}
  %o = attn.attention %q, %k, %v mask(#attn.causal) predicate {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %t = arith.constant true
    attn.yield %t : i1
  } : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>) {
  // expected-error @+1 {{expected a score_fn region because the score modifiers use #attn.score_fn}}
  %o = attn.attention %q, %k, %v score([#attn.score_fn]) : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>) {
  // expected-error @+1 {{expected no score_fn region because the score modifiers do not use #attn.score_fn}}
  %o = attn.attention %q, %k, %v score_fn {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    attn.yield %s : f32
  } : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>, %x: f32) {
  // expected-error @+1 {{expected captures only with a predicate or score_fn region}}
  %o = attn.attention %q, %k, %v mask(#attn.causal) captures(%x : f32) : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>) {
  // expected-error @+1 {{expected predicate region arguments ('index', 'index', 'index', 'index'): (b, h, i, j) and one per captured operand, got ('index', 'index', 'index')}}
  %o = attn.attention %q, %k, %v mask(#attn.predicate) predicate {
  ^bb0(%b: index, %h: index, %i: index):
    %t = arith.constant true
    attn.yield %t : i1
  } : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  return
}

// -----

func.func @f(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>, %x: f32) {
  // expected-error @+1 {{expected score_fn region to yield one 'f32'}}
  %o = attn.attention %q, %k, %v score([#attn.score_fn]) captures(%x : f32) score_fn {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index, %c: f32):
    %t = arith.constant true
    attn.yield %t : i1
  } : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  return
}

// -----

func.func @neighborhood_grid(%q: tensor<1x2x100x64xf32>) {
  // expected-error @+1 {{expected query and key lengths equal to the neighborhood grid size 64, got 100 and 100}}
  %o = attn.attention %q, %q, %q mask(#attn.neighborhood<grid = [8, 8], kernel = [3, 3]>) : tensor<1x2x100x64xf32>, tensor<1x2x100x64xf32>, tensor<1x2x100x64xf32> -> tensor<1x2x100x64xf32>
  return
}

// -----

func.func @varying_window_grid(%q: tensor<1x2x64x64xf32>, %k: tensor<1x2x32x64xf32>) {
  // expected-error @+1 {{expected query and key lengths equal to the varying-window grid size 64, got 64 and 32}}
  %o = attn.attention %q, %k, %k mask(#attn.varying_window<grid = [8, 8], window = [4, 4], ratio = 2>) : tensor<1x2x64x64xf32>, tensor<1x2x32x64xf32>, tensor<1x2x32x64xf32> -> tensor<1x2x64x64xf32>
  return
}

// -----

func.func @decay_grid(%q: tensor<1x2x64x64xf32>, %g: tensor<2xf32>) {
  // expected-error @+1 {{expected query and key lengths equal to the decay grid size 16, got 64 and 64}}
  %o = attn.attention %q, %q, %q score([#attn.decay<distance = manhattan, grid = [4, 4]>], %g : tensor<2xf32>) : tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32> -> tensor<1x2x64x64xf32>
  return
}

// -----

func.func @residue_groups_zero(%q: tensor<1x2x64x64xf32>) {
  // expected-error @+1 {{attribute 'residue_groups' failed to satisfy constraint: 64-bit signless integer attribute whose minimum value is 1}}
  %o = attn.attention %q, %q, %q {residue_groups = 0 : i64} : tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32> -> tensor<1x2x64x64xf32>
  return
}

// -----

func.func @residue_groups_packed(%t: tensor<100x4x64xbf16>, %cu: tensor<2xi32>) {
  // expected-error @+1 {{expected bhsd or bshd layouts with residue_groups}}
  %o = attn.attention %t, %t, %t layout(thd, thd) cu_seqlens_q(%cu : tensor<2xi32>) cu_seqlens_kv(%cu : tensor<2xi32>) {residue_groups = 2 : i64} : tensor<100x4x64xbf16>, tensor<100x4x64xbf16>, tensor<100x4x64xbf16> -> tensor<100x4x64xbf16>
  return
}

// -----

func.func @residue_groups_tensor_operand(%q: tensor<1x2x64x64xf32>, %d: tensor<1x64xi32>) {
  // expected-error @+1 {{expected only scalar mask, score, norm and gate operands with residue_groups (a tensor indexed by position would be ambiguous)}}
  %o = attn.attention %q, %q, %q mask(#attn.document, %d, %d : tensor<1x64xi32>, tensor<1x64xi32>) {residue_groups = 2 : i64} : tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32> -> tensor<1x2x64x64xf32>
  return
}

// -----

func.func @residue_groups_grid(%q: tensor<1x2x64x64xf32>) {
  // expected-error @+1 {{expected no grid-based leaves, predicate or score_fn with residue_groups (they index tokens, not group positions)}}
  %o = attn.attention %q, %q, %q mask(#attn.neighborhood<grid = [8, 8], kernel = [3, 3]>) {residue_groups = 2 : i64} : tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32> -> tensor<1x2x64x64xf32>
  return
}

// -----

func.func @residue_groups_topk(%q: tensor<1x2x64x64xf32>) {
  // expected-error @+1 {{expected no top-k results with residue_groups}}
  %o, %c, %i = attn.attention %q, %q, %q {residue_groups = 2 : i64} : tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32> -> tensor<1x2x64x64xf32>, topk tensor<1x2x64xi32>, tensor<1x2x64x4xi32>
  return
}

// -----

func.func @patches_packed(%t: tensor<64x4x64xbf16>, %cu: tensor<2xi32>) {
  // expected-error @+1 {{expected bhsd or bshd layouts with patches}}
  %o = attn.attention %t, %t, %t layout(thd, thd) mask(#attn.neighborhood<grid = [8, 8], kernel = [3, 3]>) cu_seqlens_q(%cu : tensor<2xi32>) cu_seqlens_kv(%cu : tensor<2xi32>) {patches = array<i64: 4, 4>} : tensor<64x4x64xbf16>, tensor<64x4x64xbf16>, tensor<64x4x64xbf16> -> tensor<64x4x64xbf16>
  return
}

// -----

func.func @patches_with_groups(%q: tensor<1x2x64x64xf32>) {
  // expected-error @+1 {{expected no top-k results or residue_groups with patches}}
  %o = attn.attention %q, %q, %q {residue_groups = 2 : i64, patches = array<i64: 4, 4>} : tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32> -> tensor<1x2x64x64xf32>
  return
}

// -----

func.func @patches_without_grid(%q: tensor<1x2x64x64xf32>) {
  // expected-error @+1 {{expected the mask's grid leaves to share one 2-D grid with patches}}
  %o = attn.attention %q, %q, %q mask(#attn.causal) {patches = array<i64: 4, 4>} : tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32> -> tensor<1x2x64x64xf32>
  return
}

// -----

func.func @patches_two_grids(%q: tensor<1x2x64x64xf32>) {
  // expected-error @+1 {{expected the mask's grid leaves to share one 2-D grid with patches}}
  %o = attn.attention %q, %q, %q mask(#attn.or<#attn.neighborhood<grid = [8, 8], kernel = [3, 3]>, #attn.neighborhood<grid = [4, 16], kernel = [3, 3]>>) {patches = array<i64: 4, 4>} : tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32> -> tensor<1x2x64x64xf32>
  return
}

// -----

func.func @patches_not_dividing(%q: tensor<1x2x64x64xf32>) {
  // expected-error @+1 {{expected two positive patch extents dividing the grid 8x8}}
  %o = attn.attention %q, %q, %q mask(#attn.neighborhood<grid = [8, 8], kernel = [3, 3]>) {patches = array<i64: 3, 4>} : tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32> -> tensor<1x2x64x64xf32>
  return
}

// -----

func.func @patches_lengths(%q: tensor<1x2x?x64xf32>) {
  // expected-error @+1 {{expected static Sq == Sk == 64 (the grid's tokens) with patches}}
  %o = attn.attention %q, %q, %q mask(#attn.neighborhood<grid = [8, 8], kernel = [3, 3]>) {patches = array<i64: 4, 4>} : tensor<1x2x?x64xf32>, tensor<1x2x?x64xf32>, tensor<1x2x?x64xf32> -> tensor<1x2x?x64xf32>
  return
}

// -----

func.func @patches_positional_leaf(%q: tensor<1x2x64x64xf32>) {
  // expected-error @+1 {{expected only grid, heads, full and empty mask leaves and no position-reading score modifiers or gates with patches}}
  %o = attn.attention %q, %q, %q mask(#attn.and<#attn.neighborhood<grid = [8, 8], kernel = [3, 3]>, #attn.causal>) {patches = array<i64: 4, 4>} : tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32> -> tensor<1x2x64x64xf32>
  return
}

// -----

func.func @patches_alibi(%q: tensor<1x2x64x64xf32>, %x: tensor<2xf32>) {
  // expected-error @+1 {{expected only grid, heads, full and empty mask leaves and no position-reading score modifiers or gates with patches}}
  %o = attn.attention %q, %q, %q mask(#attn.neighborhood<grid = [8, 8], kernel = [3, 3]>) score([#attn.alibi], %x : tensor<2xf32>) {patches = array<i64: 4, 4>} : tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32> -> tensor<1x2x64x64xf32>
  return
}

// -----

func.func @patches_tensor_operand(%q: tensor<1x2x64x64xf32>, %bias: tensor<1x2x64x64xf32>) {
  // expected-error @+1 {{expected only scalar operands with patches}}
  %o = attn.attention %q, %q, %q mask(#attn.neighborhood<grid = [8, 8], kernel = [3, 3]>) score([#attn.bias], %bias : tensor<1x2x64x64xf32>) {patches = array<i64: 4, 4>} : tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32> -> tensor<1x2x64x64xf32>
  return
}

// -----

func.func @dense_tiles_argument(%q: tensor<1x2x64x64xf32>, %m: tensor<1x1x64x64xi1>, %t: tensor<1x1x1x2xi32>) {
  // expected-error @+1 {{expected the tile summary of #attn.dense<tiles> to be computed by attn.mask_tiles of its mask operand (or to be an argument of a program step)}}
  %o = attn.attention %q, %q, %q mask(#attn.dense<tiles>, %m, %t : tensor<1x1x64x64xi1>, tensor<1x1x1x2xi32>) : tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32> -> tensor<1x2x64x64xf32>
  return
}

// -----

func.func @dense_tiles_other_mask(%q: tensor<1x2x64x64xf32>, %m: tensor<1x1x64x64xi1>, %n: tensor<1x1x64x64xi1>) {
  %t = attn.mask_tiles %n : tensor<1x1x64x64xi1> -> tensor<1x1x1x2xi32>
  // expected-error @+1 {{expected the tile summary of #attn.dense<tiles> to be attn.mask_tiles of its mask operand}}
  %o = attn.attention %q, %q, %q mask(#attn.dense<tiles>, %m, %t : tensor<1x1x64x64xi1>, tensor<1x1x1x2xi32>) : tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32> -> tensor<1x2x64x64xf32>
  return
}

// -----

func.func @dense_tiles_nested(%q: tensor<1x2x64x64xf32>, %m: tensor<1x1x64x64xi1>) {
  %t = attn.mask_tiles %m : tensor<1x1x64x64xi1> -> tensor<1x1x1x2xi32>
  // expected-error @+1 {{expected #attn.dense<tiles> only as the whole mask of attn.attention}}
  %o = attn.attention %q, %q, %q mask(#attn.and<#attn.causal, #attn.dense<tiles>>, %m, %t : tensor<1x1x64x64xi1>, tensor<1x1x1x2xi32>) : tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32> -> tensor<1x2x64x64xf32>
  return
}

// -----

func.func @dense_tiles_step_words(%q: tensor<1x2x64x64xf32>, %m: tensor<1x1x64x64xi1>, %t: tensor<1x1x1x4xi32>) attributes {attn.step} {
  // expected-error @+1 {{expected mask tiles of shape 1x1x1x2, got 'tensor<1x1x1x4xi32>'}}
  %o = attn.attention %q, %q, %q mask(#attn.dense<tiles>, %m, %t : tensor<1x1x64x64xi1>, tensor<1x1x1x4xi32>) : tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32> -> tensor<1x2x64x64xf32>
  return
}

// -----

func.func @dense_tiles_element(%q: tensor<1x2x64x64xf32>, %m: tensor<1x1x64x64xi1>, %t: tensor<1x1x1x2xi64>) attributes {attn.step} {
  // expected-error @+1 {{expected i32 mask tiles, got 'i64'}}
  %o = attn.attention %q, %q, %q mask(#attn.dense<tiles>, %m, %t : tensor<1x1x64x64xi1>, tensor<1x1x1x2xi64>) : tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32> -> tensor<1x2x64x64xf32>
  return
}

// -----

func.func @document_ranges_argument(%q: tensor<1x2x64x64xf32>, %d: tensor<1x64xi32>, %r: tensor<1x1x2xi32>) {
  // expected-error @+1 {{expected the query id ranges of #attn.document<ranges> to be computed by attn.id_ranges of its mask operand (or to be an argument of a program step)}}
  %o = attn.attention %q, %q, %q mask(#attn.document<ranges>, %d, %d, %r, %r : tensor<1x64xi32>, tensor<1x64xi32>, tensor<1x1x2xi32>, tensor<1x1x2xi32>) : tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32> -> tensor<1x2x64x64xf32>
  return
}

// -----

func.func @document_ranges_other_ids(%q: tensor<1x2x64x64xf32>, %d: tensor<1x64xi32>, %e: tensor<1x64xi32>) {
  %r = attn.id_ranges %d : tensor<1x64xi32> -> tensor<1x1x2xi32>
  // expected-error @+1 {{expected the key id ranges of #attn.document<ranges> to be attn.id_ranges of its mask operand}}
  %o = attn.attention %q, %q, %q mask(#attn.and<#attn.causal, #attn.document<ranges>>, %d, %e, %r, %r : tensor<1x64xi32>, tensor<1x64xi32>, tensor<1x1x2xi32>, tensor<1x1x2xi32>) : tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32> -> tensor<1x2x64x64xf32>
  return
}

// -----

func.func @document_ranges_shape(%q: tensor<1x2x130x64xf32>, %d: tensor<1x130xi32>, %r: tensor<1x2x2xi32>) attributes {attn.step} {
  // expected-error @+1 {{expected mask operand #2 (query document id ranges) to have dimension 1 equal to the query block count 3, got 'tensor<1x2x2xi32>'}}
  %o = attn.attention %q, %q, %q mask(#attn.document<ranges>, %d, %d, %r, %r : tensor<1x130xi32>, tensor<1x130xi32>, tensor<1x2x2xi32>, tensor<1x2x2xi32>) : tensor<1x2x130x64xf32>, tensor<1x2x130x64xf32>, tensor<1x2x130x64xf32> -> tensor<1x2x130x64xf32>
  return
}

// -----

func.func @document_ranges_element(%q: tensor<1x2x64x64xf32>, %d: tensor<1x64xi32>, %r: tensor<1x1x2xi64>) attributes {attn.step} {
  // expected-error @+1 {{expected i32 document id ranges, got 'i64'}}
  %o = attn.attention %q, %q, %q mask(#attn.document<ranges>, %d, %d, %r, %r : tensor<1x64xi32>, tensor<1x64xi32>, tensor<1x1x2xi64>, tensor<1x1x2xi64>) : tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32> -> tensor<1x2x64x64xf32>
  return
}

// -----

func.func @document_ranges_keyword(%q: tensor<1x2x64x64xf32>, %d: tensor<1x64xi32>) {
  // expected-error @+1 {{expected 'ranges'}}
  %o = attn.attention %q, %q, %q mask(#attn.document<tiles>, %d, %d : tensor<1x64xi32>, tensor<1x64xi32>) : tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32> -> tensor<1x2x64x64xf32>
  return
}

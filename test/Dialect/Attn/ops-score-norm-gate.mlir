// RUN: attn-opt %s | attn-opt | FileCheck %s
// RUN: attn-opt %s --mlir-print-op-generic | attn-opt | FileCheck %s

// Round trips of score modifiers (S1-S7), normalizations (N1-N6) and output
// gates (G1, G3).

// S1: scale, per-query temperature, per-head temperature.
// CHECK-LABEL: func @s1_temperature
// CHECK: score([#attn.temperature], %{{.*}} : tensor<2x8x128xf32>) {scale = 1.250000e-01 : f64}
// CHECK: score([#attn.temperature], %{{.*}} : tensor<1x8x1xf32>)
func.func @s1_temperature(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>, %tau: tensor<2x8x128xf32>, %th: tensor<1x8x1xf32>) -> (tensor<2x8x128x64xf32>, tensor<2x8x128x64xf32>) {
  %0 = attn.attention %q, %k, %v score([#attn.temperature], %tau : tensor<2x8x128xf32>) {scale = 0.125 : f64} : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  %1 = attn.attention %q, %k, %v score([#attn.temperature], %th : tensor<1x8x1xf32>) : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  return %0, %1 : tensor<2x8x128x64xf32>, tensor<2x8x128x64xf32>
}

// S2: additive key-only bias, broadcast without an Sq x Sk buffer.
// CHECK-LABEL: func @s2_bias
// CHECK: score([#attn.bias], %{{.*}} : tensor<1x1x1x128xf32>)
func.func @s2_bias(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>, %bias: tensor<1x1x1x128xf32>) -> tensor<2x8x128x64xf32> {
  %0 = attn.attention %q, %k, %v score([#attn.bias], %bias : tensor<1x1x1x128xf32>) : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  return %0 : tensor<2x8x128x64xf32>
}

// S3: ALiBi with causal mask.
// CHECK-LABEL: func @s3_alibi
// CHECK: mask(#attn.causal) score([#attn.alibi], %{{.*}} : tensor<8xf32>)
func.func @s3_alibi(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>, %slopes: tensor<8xf32>) -> tensor<2x8x128x64xf32> {
  %0 = attn.attention %q, %k, %v mask(#attn.causal) score([#attn.alibi], %slopes : tensor<8xf32>) : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  return %0 : tensor<2x8x128x64xf32>
}

// S4: clamped and bucketed relative position tables.
// CHECK-LABEL: func @s4_rel_pos
// CHECK: score([#attn.rel_pos<max_distance = 64>], %{{.*}} : tensor<8x129xf32>)
// CHECK: score([#attn.rel_pos<max_distance = 128, buckets = 32>], %{{.*}} : tensor<8x32xf32>)
func.func @s4_rel_pos(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>, %t: tensor<8x129xf32>, %tb: tensor<8x32xf32>) -> (tensor<2x8x128x64xf32>, tensor<2x8x128x64xf32>) {
  %0 = attn.attention %q, %k, %v score([#attn.rel_pos<max_distance = 64>], %t : tensor<8x129xf32>) : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  %1 = attn.attention %q, %k, %v score([#attn.rel_pos<max_distance = 128, buckets = 32>], %tb : tensor<8x32xf32>) : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  return %0, %1 : tensor<2x8x128x64xf32>, tensor<2x8x128x64xf32>
}

// S5: static and runtime softcap.
// CHECK-LABEL: func @s5_softcap
// CHECK: score([#attn.softcap<cap = 5.000000e+01>])
// CHECK: score([#attn.softcap<cap = ?>], %{{.*}} : f32)
func.func @s5_softcap(%q: tensor<2x8x128x64xbf16>, %k: tensor<2x2x128x64xbf16>, %v: tensor<2x2x128x64xbf16>, %cap: f32) -> (tensor<2x8x128x64xbf16>, tensor<2x8x128x64xbf16>) {
  %0 = attn.attention %q, %k, %v score([#attn.softcap<cap = 50.0>]) : tensor<2x8x128x64xbf16>, tensor<2x2x128x64xbf16>, tensor<2x2x128x64xbf16> -> tensor<2x8x128x64xbf16>
  %1 = attn.attention %q, %k, %v score([#attn.softcap<cap = ?>], %cap : f32) : tensor<2x8x128x64xbf16>, tensor<2x2x128x64xbf16>, tensor<2x2x128x64xbf16> -> tensor<2x8x128x64xbf16>
  return %0, %1 : tensor<2x8x128x64xbf16>, tensor<2x8x128x64xbf16>
}

// S6: retention decay, 1-D and Manhattan on a 2-D grid.
// CHECK-LABEL: func @s6_decay
// CHECK: score([#attn.decay<distance = abs>], %{{.*}} : tensor<8xf32>)
// CHECK: score([#attn.decay<distance = manhattan, grid = [16, 8]>], %{{.*}} : tensor<8xf32>)
func.func @s6_decay(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>, %g: tensor<8xf32>) -> (tensor<2x8x128x64xf32>, tensor<2x8x128x64xf32>) {
  %0 = attn.attention %q, %k, %v score([#attn.decay<distance = abs>], %g : tensor<8xf32>) : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  %1 = attn.attention %q, %k, %v score([#attn.decay<distance = manhattan, grid = [16, 8]>], %g : tensor<8xf32>) : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  return %0, %1 : tensor<2x8x128x64xf32>, tensor<2x8x128x64xf32>
}

// S7: a general score function of (s, b, h, i, j) with a captured table,
// chained after a structured modifier.
// CHECK-LABEL: func @s7_score_fn
// CHECK: score([#attn.softcap<cap = 3.000000e+01>, #attn.score_fn]) captures(%{{.*}} : tensor<8xf32>) score_fn {
// CHECK: ^bb0(%{{.*}}: f32, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index, %{{.*}}: tensor<8xf32>):
// CHECK: attn.yield %{{.*}} : f32
func.func @s7_score_fn(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>, %slope: tensor<8xf32>) -> tensor<2x8x128x64xf32> {
  %0 = attn.attention %q, %k, %v score([#attn.softcap<cap = 30.0>, #attn.score_fn])
      captures(%slope : tensor<8xf32>)
      score_fn {
      ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index, %sl: tensor<8xf32>):
        %m = tensor.extract %sl[%h] : tensor<8xf32>
        %d = arith.subi %j, %i : index
        %di = arith.index_cast %d : index to i64
        %df = arith.sitofp %di : i64 to f32
        %t = arith.mulf %m, %df : f32
        %r = arith.addf %s, %t : f32
        attn.yield %r : f32
      }
      : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  return %0 : tensor<2x8x128x64xf32>
}

// N1: softmax, stated explicitly, with the LSE result.
// CHECK-LABEL: func @n1_softmax
// CHECK: norm(#attn.softmax) : {{.*}} -> tensor<2x8x128x64xf32>, lse tensor<2x8x128xf32>
func.func @n1_softmax(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>) -> (tensor<2x8x128x64xf32>, tensor<2x8x128xf32>) {
  %o, %lse = attn.attention %q, %k, %v norm(#attn.softmax) : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>, lse tensor<2x8x128xf32>
  return %o, %lse : tensor<2x8x128x64xf32>, tensor<2x8x128xf32>
}

// N2: off-by-one softmax and learned per-head sinks.
// CHECK-LABEL: func @n2_sink_softmax
// CHECK: norm(#attn.sink_softmax<logit = 0.000000e+00>)
// CHECK: norm(#attn.sink_softmax<logit = ?>, %{{.*}} : tensor<8xf32>)
func.func @n2_sink_softmax(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>, %sinks: tensor<8xf32>) -> (tensor<2x8x128x64xf32>, tensor<2x8x128x64xf32>) {
  %0 = attn.attention %q, %k, %v norm(#attn.sink_softmax<logit = 0.0>) : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  %1 = attn.attention %q, %k, %v norm(#attn.sink_softmax<logit = ?>, %sinks : tensor<8xf32>) : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  return %0, %1 : tensor<2x8x128x64xf32>, tensor<2x8x128x64xf32>
}

// N3: clipped softmax.
// CHECK-LABEL: func @n3_clipped_softmax
// CHECK: norm(#attn.clipped_softmax<zeta = 1.003000e+00, gamma = -3.000000e-03>)
func.func @n3_clipped_softmax(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>) -> tensor<2x8x128x64xf32> {
  %0 = attn.attention %q, %k, %v norm(#attn.clipped_softmax<zeta = 1.003, gamma = -0.003>) : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  return %0 : tensor<2x8x128x64xf32>
}

// N4: affine-scaled softmax, per-row alpha, scalar beta.
// CHECK-LABEL: func @n4_affine_softmax
// CHECK: norm(#attn.affine_softmax, %{{.*}}, %{{.*}} : tensor<2x8x128xf32>, f32)
func.func @n4_affine_softmax(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>, %alpha: tensor<2x8x128xf32>, %beta: f32) -> tensor<2x8x128x64xf32> {
  %0 = attn.attention %q, %k, %v norm(#attn.affine_softmax, %alpha, %beta : tensor<2x8x128xf32>, f32) : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  return %0 : tensor<2x8x128x64xf32>
}

// N5: sigmoid attention.
// CHECK-LABEL: func @n5_sigmoid
// CHECK: norm(#attn.sigmoid<bias = -4.000000e+00>)
func.func @n5_sigmoid(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>) -> tensor<2x8x128x64xf32> {
  %0 = attn.attention %q, %k, %v norm(#attn.sigmoid<bias = -4.0>) : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  return %0 : tensor<2x8x128x64xf32>
}

// N6: causal chunked gated linear attention and plain linear attention.
// CHECK-LABEL: func @n6_linear
// CHECK: attn.linear_attention %{{.*}}, %{{.*}}, %{{.*}} decay(%{{.*}} : tensor<1x8x256xf32>) feature_map = elu_plus_one {causal, chunk = 128 : i64}
// CHECK: attn.linear_attention %{{.*}}, %{{.*}}, %{{.*}} feature_map = identity :
func.func @n6_linear(%q: tensor<1x8x256x64xf32>, %k: tensor<1x2x256x64xf32>, %v: tensor<1x2x256x32xf32>, %g: tensor<1x8x256xf32>) -> (tensor<1x8x256x32xf32>, tensor<1x8x256x32xf32>) {
  %0 = attn.linear_attention %q, %k, %v decay(%g : tensor<1x8x256xf32>) feature_map = elu_plus_one {causal, chunk = 128 : i64} : tensor<1x8x256x64xf32>, tensor<1x2x256x64xf32>, tensor<1x2x256x32xf32> -> tensor<1x8x256x32xf32>
  %1 = attn.linear_attention %q, %k, %v feature_map = identity : tensor<1x8x256x64xf32>, tensor<1x2x256x64xf32>, tensor<1x2x256x32xf32> -> tensor<1x8x256x32xf32>
  return %0, %1 : tensor<1x8x256x32xf32>, tensor<1x8x256x32xf32>
}

// G1: sigmoid output gate, per element and per head.
// CHECK-LABEL: func @g1_output_gate
// CHECK: gate(#attn.output_gate<activation = sigmoid, granularity = element>, %{{.*}} : tensor<2x128x8x64xf32>)
// CHECK: gate(#attn.output_gate<activation = sigmoid, granularity = head>, %{{.*}} : tensor<2x128x8xf32>)
func.func @g1_output_gate(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>, %ge: tensor<2x128x8x64xf32>, %gh: tensor<2x128x8xf32>) -> (tensor<2x8x128x64xf32>, tensor<2x8x128x64xf32>) {
  %0 = attn.attention %q, %k, %v gate(#attn.output_gate<activation = sigmoid, granularity = element>, %ge : tensor<2x128x8x64xf32>) : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  %1 = attn.attention %q, %k, %v gate(#attn.output_gate<activation = sigmoid, granularity = head>, %gh : tensor<2x128x8xf32>) : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  return %0, %1 : tensor<2x8x128x64xf32>, tensor<2x8x128x64xf32>
}

// G3: key gate / KV eviction flags, one per KV head group.
// CHECK-LABEL: func @g3_key_gate
// CHECK: mask(#attn.and<#attn.causal, #attn.keep<key>>, %{{.*}} : tensor<2x2x128xi1>)
func.func @g3_key_gate(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>, %keep: tensor<2x2x128xi1>) -> tensor<2x8x128x64xf32> {
  %0 = attn.attention %q, %k, %v mask(#attn.and<#attn.causal, #attn.keep<key>>, %keep : tensor<2x2x128xi1>) : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  return %0 : tensor<2x8x128x64xf32>
}

// RUN: attn-opt %s | attn-opt | FileCheck %s
// RUN: attn-opt %s --mlir-print-op-generic | attn-opt | FileCheck %s

// Round trips of the mask catalog (M1-M13). GQA shapes throughout:
// Hq = 8, Hkv = 2.

// M1: full cross attention, Sq != Sk.
// CHECK-LABEL: func @m1_full_cross
// CHECK: attn.attention %{{.*}}, %{{.*}}, %{{.*}} : tensor<2x8x100x64xf32>, tensor<2x2x300x64xf32>, tensor<2x2x300x64xf32> -> tensor<2x8x100x64xf32>
func.func @m1_full_cross(%q: tensor<2x8x100x64xf32>, %k: tensor<2x2x300x64xf32>, %v: tensor<2x2x300x64xf32>) -> tensor<2x8x100x64xf32> {
  %o = attn.attention %q, %k, %v : tensor<2x8x100x64xf32>, tensor<2x2x300x64xf32>, tensor<2x2x300x64xf32> -> tensor<2x8x100x64xf32>
  return %o : tensor<2x8x100x64xf32>
}

// M2: causal, top-left and bottom-right alignment, static and runtime offset.
// CHECK-LABEL: func @m2_causal
// CHECK: mask(#attn.causal) :
// CHECK: mask(#attn.causal<align = bottom_right>) :
// CHECK: mask(#attn.causal<offset = ?>, %{{.*}} : index)
func.func @m2_causal(%q: tensor<2x8x100x64xf32>, %k: tensor<2x2x300x64xf32>, %v: tensor<2x2x300x64xf32>, %d: index) -> (tensor<2x8x100x64xf32>, tensor<2x8x100x64xf32>, tensor<2x8x100x64xf32>) {
  %0 = attn.attention %q, %k, %v mask(#attn.causal) : tensor<2x8x100x64xf32>, tensor<2x2x300x64xf32>, tensor<2x2x300x64xf32> -> tensor<2x8x100x64xf32>
  %1 = attn.attention %q, %k, %v mask(#attn.causal<align = bottom_right>) : tensor<2x8x100x64xf32>, tensor<2x2x300x64xf32>, tensor<2x2x300x64xf32> -> tensor<2x8x100x64xf32>
  %2 = attn.attention %q, %k, %v mask(#attn.causal<offset = ?>, %d : index) : tensor<2x8x100x64xf32>, tensor<2x2x300x64xf32>, tensor<2x2x300x64xf32> -> tensor<2x8x100x64xf32>
  return %0, %1, %2 : tensor<2x8x100x64xf32>, tensor<2x8x100x64xf32>, tensor<2x8x100x64xf32>
}

// M3: sliding window, causal local and two-sided, sizes as runtime values.
// CHECK-LABEL: func @m3_window
// CHECK: mask(#attn.window<left = 512>) :
// CHECK: mask(#attn.window<left = ?, right = ?>, %{{.*}}, %{{.*}} : index, i32)
func.func @m3_window(%q: tensor<1x8x4096x64xbf16>, %k: tensor<1x2x4096x64xbf16>, %v: tensor<1x2x4096x64xbf16>, %l: index, %r: i32) -> (tensor<1x8x4096x64xbf16>, tensor<1x8x4096x64xbf16>) {
  %0 = attn.attention %q, %k, %v mask(#attn.window<left = 512, right = 0>) : tensor<1x8x4096x64xbf16>, tensor<1x2x4096x64xbf16>, tensor<1x2x4096x64xbf16> -> tensor<1x8x4096x64xbf16>
  %1 = attn.attention %q, %k, %v mask(#attn.window<left = ?, right = ?>, %l, %r : index, i32) : tensor<1x8x4096x64xbf16>, tensor<1x2x4096x64xbf16>, tensor<1x2x4096x64xbf16> -> tensor<1x8x4096x64xbf16>
  return %0, %1 : tensor<1x8x4096x64xbf16>, tensor<1x8x4096x64xbf16>
}

// M4: attention sinks plus a causal window (StreamingLLM).
// CHECK-LABEL: func @m4_sink_window
// CHECK: mask(#attn.or<#attn.window<left = 1024>, #attn.key_prefix<len = 4>>) :
func.func @m4_sink_window(%q: tensor<1x8x4096x64xbf16>, %k: tensor<1x2x4096x64xbf16>, %v: tensor<1x2x4096x64xbf16>) -> tensor<1x8x4096x64xbf16> {
  %0 = attn.attention %q, %k, %v mask(#attn.or<#attn.window<left = 1024>, #attn.key_prefix<len = 4>>) : tensor<1x8x4096x64xbf16>, tensor<1x2x4096x64xbf16>, tensor<1x2x4096x64xbf16> -> tensor<1x8x4096x64xbf16>
  return %0 : tensor<1x8x4096x64xbf16>
}

// M5: prefix-LM with a per-batch prefix length.
// CHECK-LABEL: func @m5_prefix_lm
// CHECK: mask(#attn.or<#attn.causal, #attn.key_prefix<len = ?>>, %{{.*}} : tensor<2xi32>)
func.func @m5_prefix_lm(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>, %plen: tensor<2xi32>) -> tensor<2x8x128x64xf32> {
  %0 = attn.attention %q, %k, %v mask(#attn.or<#attn.causal, #attn.key_prefix<len = ?>>, %plen : tensor<2xi32>) : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  return %0 : tensor<2x8x128x64xf32>
}

// M6: document mask (packed documents), causal within each document.
// CHECK-LABEL: func @m6_document
// CHECK: mask(#attn.and<#attn.causal, #attn.document>, %{{.*}}, %{{.*}} : tensor<2x128xi32>, tensor<2x128xi32>)
func.func @m6_document(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>, %doc: tensor<2x128xi32>) -> tensor<2x8x128x64xf32> {
  %0 = attn.attention %q, %k, %v mask(#attn.and<#attn.causal, #attn.document>, %doc, %doc : tensor<2x128xi32>, tensor<2x128xi32>) : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  return %0 : tensor<2x8x128x64xf32>
}

// M7: dilated sliding window.
// CHECK-LABEL: func @m7_dilated
// CHECK: mask(#attn.and<#attn.window<left = 512>, #attn.dilated<dilation = 4>>) :
func.func @m7_dilated(%q: tensor<1x8x4096x64xbf16>, %k: tensor<1x2x4096x64xbf16>, %v: tensor<1x2x4096x64xbf16>) -> tensor<1x8x4096x64xbf16> {
  %0 = attn.attention %q, %k, %v mask(#attn.and<#attn.window<left = 512, right = 0>, #attn.dilated<dilation = 4>>) : tensor<1x8x4096x64xbf16>, tensor<1x2x4096x64xbf16>, tensor<1x2x4096x64xbf16> -> tensor<1x8x4096x64xbf16>
  return %0 : tensor<1x8x4096x64xbf16>
}

// M8: power (exponential) block pattern.
// CHECK-LABEL: func @m8_power
// CHECK: mask(#attn.power<block = 64>) :
func.func @m8_power(%q: tensor<1x8x4096x64xbf16>, %k: tensor<1x2x4096x64xbf16>, %v: tensor<1x2x4096x64xbf16>) -> tensor<1x8x4096x64xbf16> {
  %0 = attn.attention %q, %k, %v mask(#attn.power<block = 64>) : tensor<1x8x4096x64xbf16>, tensor<1x2x4096x64xbf16>, tensor<1x2x4096x64xbf16> -> tensor<1x8x4096x64xbf16>
  return %0 : tensor<1x8x4096x64xbf16>
}

// M9: 2-D 13x13 neighborhood, a 3-D one with dilation, stride and a causal
// time axis, and Swin-style blocked windows (stride = kernel).
// CHECK-LABEL: func @m9_neighborhood
// CHECK: mask(#attn.neighborhood<grid = [64, 64], kernel = [13, 13]>) :
// CHECK: mask(#attn.neighborhood<grid = [4, 8, 8], kernel = [3, 3, 3], dilation = [1, 2, 2], stride = [1, 2, 2], causal = [true, false, false]>) :
// CHECK: mask(#attn.neighborhood<grid = [64, 64], kernel = [8, 8], stride = [8, 8]>) :
func.func @m9_neighborhood(%q: tensor<1x8x4096x64xbf16>, %k: tensor<1x8x4096x64xbf16>, %v: tensor<1x8x4096x64xbf16>, %q3: tensor<1x8x256x64xbf16>, %k3: tensor<1x8x256x64xbf16>) -> (tensor<1x8x4096x64xbf16>, tensor<1x8x256x64xbf16>, tensor<1x8x4096x64xbf16>) {
  %0 = attn.attention %q, %k, %v mask(#attn.neighborhood<grid = [64, 64], kernel = [13, 13]>) : tensor<1x8x4096x64xbf16>, tensor<1x8x4096x64xbf16>, tensor<1x8x4096x64xbf16> -> tensor<1x8x4096x64xbf16>
  %1 = attn.attention %q3, %k3, %k3 mask(#attn.neighborhood<grid = [4, 8, 8], kernel = [3, 3, 3], dilation = [1, 2, 2], stride = [1, 2, 2], causal = [true, false, false]>) : tensor<1x8x256x64xbf16>, tensor<1x8x256x64xbf16>, tensor<1x8x256x64xbf16> -> tensor<1x8x256x64xbf16>
  %2 = attn.attention %q, %k, %v mask(#attn.neighborhood<grid = [64, 64], kernel = [8, 8], stride = [8, 8]>) : tensor<1x8x4096x64xbf16>, tensor<1x8x4096x64xbf16>, tensor<1x8x4096x64xbf16> -> tensor<1x8x4096x64xbf16>
  return %0, %1, %2 : tensor<1x8x4096x64xbf16>, tensor<1x8x256x64xbf16>, tensor<1x8x4096x64xbf16>
}

// M10: varying window attention, 4x4 query windows, 2x larger context.
// CHECK-LABEL: func @m10_varying_window
// CHECK: mask(#attn.varying_window<grid = [16, 8], window = [4, 4], ratio = 2>) :
func.func @m10_varying_window(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>) -> tensor<2x8x128x64xf32> {
  %0 = attn.attention %q, %k, %v mask(#attn.varying_window<grid = [16, 8], window = [4, 4], ratio = 2>) : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  return %0 : tensor<2x8x128x64xf32>
}

// M11: key and query padding with per-batch lengths.
// CHECK-LABEL: func @m11_padding
// CHECK: mask(#attn.and<#attn.key_prefix<len = ?>, #attn.query_prefix<len = ?>>, %{{.*}}, %{{.*}} : tensor<2xi32>, tensor<2xi32>)
func.func @m11_padding(%q: tensor<2x8x100x64xf32>, %k: tensor<2x2x300x64xf32>, %v: tensor<2x2x300x64xf32>, %kl: tensor<2xi32>, %ql: tensor<2xi32>) -> tensor<2x8x100x64xf32> {
  %0 = attn.attention %q, %k, %v mask(#attn.and<#attn.key_prefix<len = ?>, #attn.query_prefix<len = ?>>, %kl, %ql : tensor<2xi32>, tensor<2xi32>) : tensor<2x8x100x64xf32>, tensor<2x2x300x64xf32>, tensor<2x2x300x64xf32> -> tensor<2x8x100x64xf32>
  return %0 : tensor<2x8x100x64xf32>
}

// M12 with its tile summary (attn-summarize-masks' form): 64 x 64 tiles,
// two bit vectors of ceil(ceil(Sk / 64) / 32) words per row.
// CHECK-LABEL: func @m12_tiles
// CHECK: %[[T:.*]] = attn.mask_tiles %{{.*}} : tensor<2x1x100x2100xi1> -> tensor<2x1x2x4xi32>
// CHECK: mask(#attn.dense<tiles>, %{{.*}}, %[[T]] : tensor<2x1x100x2100xi1>, tensor<2x1x2x4xi32>)
func.func @m12_tiles(%q: tensor<2x8x100x64xf32>, %k: tensor<2x2x2100x64xf32>, %v: tensor<2x2x2100x64xf32>, %m: tensor<2x1x100x2100xi1>) -> tensor<2x8x100x64xf32> {
  %t = attn.mask_tiles %m : tensor<2x1x100x2100xi1> -> tensor<2x1x2x4xi32>
  %0 = attn.attention %q, %k, %v mask(#attn.dense<tiles>, %m, %t : tensor<2x1x100x2100xi1>, tensor<2x1x2x4xi32>) : tensor<2x8x100x64xf32>, tensor<2x2x2100x64xf32>, tensor<2x2x2100x64xf32> -> tensor<2x8x100x64xf32>
  return %0 : tensor<2x8x100x64xf32>
}

// M6 with the ids' ranges per 64 tokens: ceil(100 / 64) = 2 and
// ceil(2100 / 64) = 33 entries; inside a composition, printed back.
// CHECK-LABEL: func @m6_ranges
// CHECK: %[[RQ:.*]] = attn.id_ranges %{{.*}} : tensor<2x100xi32> -> tensor<2x2x2xi32>
// CHECK: %[[RK:.*]] = attn.id_ranges %{{.*}} : tensor<2x2100xi32> -> tensor<2x33x2xi32>
// CHECK: mask(#attn.and<#attn.causal, #attn.document<ranges>>, %{{.*}}, %{{.*}}, %[[RQ]], %[[RK]] :
func.func @m6_ranges(%q: tensor<2x8x100x64xf32>, %k: tensor<2x2x2100x64xf32>, %d: tensor<2x100xi32>, %e: tensor<2x2100xi32>) -> tensor<2x8x100x64xf32> {
  %rq = attn.id_ranges %d : tensor<2x100xi32> -> tensor<2x2x2xi32>
  %rk = attn.id_ranges %e : tensor<2x2100xi32> -> tensor<2x33x2xi32>
  %0 = attn.attention %q, %k, %k mask(#attn.and<#attn.causal, #attn.document<ranges>>, %d, %e, %rq, %rk : tensor<2x100xi32>, tensor<2x2100xi32>, tensor<2x2x2xi32>, tensor<2x33x2xi32>) : tensor<2x8x100x64xf32>, tensor<2x2x2100x64xf32>, tensor<2x2x2100x64xf32> -> tensor<2x8x100x64xf32>
  return %0 : tensor<2x8x100x64xf32>
}

// M12: explicit boolean mask, and a FlexAttention-style BlockMask: full
// blocks, plus partial blocks refined by a predicate.
// CHECK-LABEL: func @m12_explicit
// CHECK: mask(#attn.dense, %{{.*}} : tensor<2x1x128x128xi1>)
// CHECK: mask(#attn.or<#attn.blocks<q_block = 64, k_block = 64>, #attn.and<#attn.blocks<q_block = 64, k_block = 64>, #attn.predicate>>, {{.*}} : tensor<2x1x2xi32>, tensor<2x1x2x2xi32>, tensor<2x1x2xi32>, tensor<2x1x2x2xi32>) captures(%{{.*}} : tensor<2x128xi32>) predicate {
// CHECK: ^bb0(%{{.*}}: index, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index, %{{.*}}: tensor<2x128xi32>):
// CHECK: attn.yield %{{.*}} : i1
func.func @m12_explicit(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>, %m: tensor<2x1x128x128xi1>, %fc: tensor<2x1x2xi32>, %fi: tensor<2x1x2x2xi32>, %pc: tensor<2x1x2xi32>, %pi: tensor<2x1x2x2xi32>, %doc: tensor<2x128xi32>) -> (tensor<2x8x128x64xf32>, tensor<2x8x128x64xf32>) {
  %0 = attn.attention %q, %k, %v mask(#attn.dense, %m : tensor<2x1x128x128xi1>) : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  %1 = attn.attention %q, %k, %v
      mask(#attn.or<#attn.blocks<q_block = 64, k_block = 64>, #attn.and<#attn.blocks<q_block = 64, k_block = 64>, #attn.predicate>>, %fc, %fi, %pc, %pi : tensor<2x1x2xi32>, tensor<2x1x2x2xi32>, tensor<2x1x2xi32>, tensor<2x1x2x2xi32>)
      captures(%doc : tensor<2x128xi32>)
      predicate {
      ^bb0(%b: index, %h: index, %i: index, %j: index, %d: tensor<2x128xi32>):
        %di = tensor.extract %d[%b, %i] : tensor<2x128xi32>
        %dj = tensor.extract %d[%b, %j] : tensor<2x128xi32>
        %same = arith.cmpi eq, %di, %dj : i32
        attn.yield %same : i1
      }
      : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  return %0, %1 : tensor<2x8x128x64xf32>, tensor<2x8x128x64xf32>
}

// M13: composition with not, and a general predicate over (b, h, i, j).
// CHECK-LABEL: func @m13_composition
// CHECK: mask(#attn.and<#attn.causal, #attn.not<#attn.window<left = 16>>, #attn.predicate>) predicate {
// CHECK: arith.remui
// CHECK: attn.yield %{{.*}} : i1
func.func @m13_composition(%q: tensor<2x8x128x64xf32>, %k: tensor<2x2x128x64xf32>, %v: tensor<2x2x128x64xf32>) -> tensor<2x8x128x64xf32> {
  %0 = attn.attention %q, %k, %v
      mask(#attn.and<#attn.causal, #attn.not<#attn.window<left = 16, right = 0>>, #attn.predicate>)
      predicate {
      ^bb0(%b: index, %h: index, %i: index, %j: index):
        %c3 = arith.constant 3 : index
        %c0 = arith.constant 0 : index
        %r = arith.remui %j, %c3 : index
        %keep = arith.cmpi eq, %r, %c0 : index
        attn.yield %keep : i1
      }
      : tensor<2x8x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32> -> tensor<2x8x128x64xf32>
  return %0 : tensor<2x8x128x64xf32>
}

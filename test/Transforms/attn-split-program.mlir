// RUN: attn-opt %s -split-input-file -attn-split-program -verify-diagnostics | FileCheck %s

// D1: the indexer top-k feeds the attention. Each op becomes a step
// function (its operands as arguments in order of first use, its results
// as results, marked a step); the function calls the steps and is marked
// a program.
// CHECK-LABEL: func.func @dsa__step0(
// CHECK-SAME: %[[QI:.*]]: tensor<1x64x2x16xbf16>, %[[KI:.*]]: tensor<1x64x16xbf16>, %[[W:.*]]: tensor<1x64x2xf32>) -> (tensor<1x1x64xi32>, tensor<1x1x64x8xi32>)
// CHECK-SAME: attributes {attn.step}
// CHECK: %[[C:.*]], %[[I:.*]] = attn.indexer_topk %[[QI]], %[[KI]], %[[W]] k = 8
// CHECK: return %[[C]], %[[I]]
// CHECK-LABEL: func.func @dsa__step1(
// CHECK-SAME: %[[Q:.*]]: tensor<1x2x64x32xbf16>, %[[K:.*]]: tensor<1x1x64x32xbf16>, %[[V:.*]]: tensor<1x1x64x32xbf16>, %[[N:.*]]: tensor<1x1x64xi32>, %[[L:.*]]: tensor<1x1x64x8xi32>) -> tensor<1x2x64x32xbf16>
// CHECK: attn.attention %[[Q]], %[[K]], %[[V]] mask(#attn.and<#attn.causal, #attn.tokens>, %[[N]], %[[L]]
// CHECK-LABEL: func.func @dsa(
// CHECK-SAME: %[[A0:[^:]*]]: tensor<1x2x64x32xbf16>, %[[A1:[^:]*]]: tensor<1x1x64x32xbf16>, %[[A2:[^:]*]]: tensor<1x1x64x32xbf16>, %[[A3:[^:]*]]: tensor<1x64x2x16xbf16>, %[[A4:[^:]*]]: tensor<1x64x16xbf16>, %[[A5:[^:]*]]: tensor<1x64x2xf32>)
// CHECK-SAME: attributes {attn.program}
// CHECK: %[[S0:.*]]:2 = call @dsa__step0(%[[A3]], %[[A4]], %[[A5]])
// CHECK: %[[S1:.*]] = call @dsa__step1(%[[A0]], %[[A1]], %[[A2]], %[[S0]]#0, %[[S0]]#1)
// CHECK: return %[[S1]]
func.func @dsa(%q: tensor<1x2x64x32xbf16>, %k: tensor<1x1x64x32xbf16>, %v: tensor<1x1x64x32xbf16>,
               %qi: tensor<1x64x2x16xbf16>, %ki: tensor<1x64x16xbf16>, %w: tensor<1x64x2xf32>) -> tensor<1x2x64x32xbf16> {
  %c, %i = attn.indexer_topk %qi, %ki, %w k = 8 mask(#attn.causal)
      : tensor<1x64x2x16xbf16>, tensor<1x64x16xbf16>, tensor<1x64x2xf32> -> tensor<1x1x64xi32>, tensor<1x1x64x8xi32>
  %o = attn.attention %q, %k, %v mask(#attn.and<#attn.causal, #attn.tokens>, %c, %i : tensor<1x1x64xi32>, tensor<1x1x64x8xi32>)
      : tensor<1x2x64x32xbf16>, tensor<1x1x64x32xbf16>, tensor<1x1x64x32xbf16> -> tensor<1x2x64x32xbf16>
  return %o : tensor<1x2x64x32xbf16>
}

// -----

// Constants are cloned into the steps that read them (here a window's
// runtime width); a function with one attn op is left as it is.
// CHECK-LABEL: func.func @windows__step0(
// CHECK-SAME: %[[Q:.*]]: tensor<1x1x64x16xf32>)
// CHECK: %[[L:.*]] = arith.constant 8 : index
// CHECK: attn.attention %[[Q]], %[[Q]], %[[Q]] mask(#attn.window<left = ?>, %[[L]] : index)
// CHECK-LABEL: func.func @windows__step1(
// CHECK-SAME: %[[O:.*]]: tensor<1x1x64x16xf32>)
// CHECK: arith.constant 8 : index
// CHECK-LABEL: func.func @windows(
// CHECK-NOT: arith.constant
// CHECK: call @windows__step0
// CHECK: call @windows__step1
// CHECK-LABEL: func.func @single(
// CHECK-NOT: attn.program
// CHECK: attn.attention
func.func @windows(%q: tensor<1x1x64x16xf32>) -> tensor<1x1x64x16xf32> {
  %c8 = arith.constant 8 : index
  %a = attn.attention %q, %q, %q mask(#attn.window<left = ?, right = 0>, %c8 : index)
      : tensor<1x1x64x16xf32>, tensor<1x1x64x16xf32>, tensor<1x1x64x16xf32> -> tensor<1x1x64x16xf32>
  %b = attn.attention %a, %a, %a mask(#attn.window<left = ?, right = 0>, %c8 : index)
      : tensor<1x1x64x16xf32>, tensor<1x1x64x16xf32>, tensor<1x1x64x16xf32> -> tensor<1x1x64x16xf32>
  return %b : tensor<1x1x64x16xf32>
}
func.func @single(%q: tensor<1x1x64x16xf32>) -> tensor<1x1x64x16xf32> {
  %o = attn.attention %q, %q, %q mask(#attn.causal)
      : tensor<1x1x64x16xf32>, tensor<1x1x64x16xf32>, tensor<1x1x64x16xf32> -> tensor<1x1x64x16xf32>
  return %o : tensor<1x1x64x16xf32>
}

// -----

func.func @other_ops(%q: tensor<1x1x64x16xf32>) -> tensor<1x1x64x16xf32> {
  %a = attn.attention %q, %q, %q : tensor<1x1x64x16xf32>, tensor<1x1x64x16xf32>, tensor<1x1x64x16xf32> -> tensor<1x1x64x16xf32>
  // expected-error @below {{'arith.addf' op expected only attn ops, constants and scf.if on a flag argument in a spec function with several attn ops (a program)}}
  %s = arith.addf %a, %a : tensor<1x1x64x16xf32>
  %b = attn.attention %s, %s, %s : tensor<1x1x64x16xf32>, tensor<1x1x64x16xf32>, tensor<1x1x64x16xf32> -> tensor<1x1x64x16xf32>
  return %b : tensor<1x1x64x16xf32>
}

// -----

func.func @returns_argument(%q: tensor<1x1x64x16xf32>) -> (tensor<1x1x64x16xf32>, tensor<1x1x64x16xf32>) {
  %a = attn.attention %q, %q, %q : tensor<1x1x64x16xf32>, tensor<1x1x64x16xf32>, tensor<1x1x64x16xf32> -> tensor<1x1x64x16xf32>
  %b = attn.attention %a, %a, %a : tensor<1x1x64x16xf32>, tensor<1x1x64x16xf32>, tensor<1x1x64x16xf32> -> tensor<1x1x64x16xf32>
  // expected-error @below {{'func.return' op expected every result of a program to be computed by one of its attn ops or branches}}
  return %b, %q : tensor<1x1x64x16xf32>, tensor<1x1x64x16xf32>
}

// -----

// H4: a runtime choice between variants, an scf.if on a flag argument.
// The ops of both branches become steps; their calls stay in the branches,
// which yield the steps' results.
// CHECK-LABEL: func.func @routed__step0(
// CHECK: attn.block_topk
// CHECK-LABEL: func.func @routed__step1(
// CHECK: #attn.blocks
// CHECK-LABEL: func.func @routed__step2(
// CHECK: mask(#attn.causal)
// CHECK-LABEL: func.func @routed(
// CHECK-SAME: %[[FLAG:.*]]: i1,
// CHECK-SAME: attributes {attn.program}
// CHECK: %[[O:.*]] = scf.if %[[FLAG]]
// CHECK: %[[L:.*]]:2 = func.call @routed__step0
// CHECK: %[[S:.*]] = func.call @routed__step1(%{{.*}}, %{{.*}}, %[[L]]#0, %[[L]]#1)
// CHECK: scf.yield %[[S]]
// CHECK: } else {
// CHECK: %[[F:.*]] = func.call @routed__step2
// CHECK: scf.yield %[[F]]
// CHECK: return %[[O]]
func.func @routed(%sparse: i1, %q: tensor<1x2x64x16xf32>, %k: tensor<1x1x64x16xf32>) -> tensor<1x2x64x16xf32> {
  %o = scf.if %sparse -> tensor<1x2x64x16xf32> {
    %c, %i = attn.block_topk %q, %k blocks(16, 16) k = 2 pool = mean mask(#attn.causal) {include_local} : tensor<1x2x64x16xf32>, tensor<1x1x64x16xf32> -> tensor<1x2x4xi32>, tensor<1x2x4x2xi32>
    %s = attn.attention %q, %k, %k mask(#attn.and<#attn.causal, #attn.blocks<q_block = 16, k_block = 16>>, %c, %i : tensor<1x2x4xi32>, tensor<1x2x4x2xi32>) : tensor<1x2x64x16xf32>, tensor<1x1x64x16xf32>, tensor<1x1x64x16xf32> -> tensor<1x2x64x16xf32>
    scf.yield %s : tensor<1x2x64x16xf32>
  } else {
    %f = attn.attention %q, %k, %k mask(#attn.causal) : tensor<1x2x64x16xf32>, tensor<1x1x64x16xf32>, tensor<1x1x64x16xf32> -> tensor<1x2x64x16xf32>
    scf.yield %f : tensor<1x2x64x16xf32>
  }
  return %o : tensor<1x2x64x16xf32>
}

// -----

func.func @branch_other_op(%sparse: i1, %q: tensor<1x1x64x16xf32>) -> tensor<1x1x64x16xf32> {
  %a = attn.attention %q, %q, %q : tensor<1x1x64x16xf32>, tensor<1x1x64x16xf32>, tensor<1x1x64x16xf32> -> tensor<1x1x64x16xf32>
  %o = scf.if %sparse -> tensor<1x1x64x16xf32> {
    %b = attn.attention %a, %a, %a : tensor<1x1x64x16xf32>, tensor<1x1x64x16xf32>, tensor<1x1x64x16xf32> -> tensor<1x1x64x16xf32>
    // expected-error @below {{'arith.addf' op expected only attn ops and constants in a branch of a program}}
    %c = arith.addf %b, %b : tensor<1x1x64x16xf32>
    scf.yield %c : tensor<1x1x64x16xf32>
  } else {
    scf.yield %a : tensor<1x1x64x16xf32>
  }
  return %o : tensor<1x1x64x16xf32>
}

// -----

func.func @branch_yields_outside(%sparse: i1, %q: tensor<1x1x64x16xf32>) -> tensor<1x1x64x16xf32> {
  %a = attn.attention %q, %q, %q : tensor<1x1x64x16xf32>, tensor<1x1x64x16xf32>, tensor<1x1x64x16xf32> -> tensor<1x1x64x16xf32>
  %o = scf.if %sparse -> tensor<1x1x64x16xf32> {
    %b = attn.attention %a, %a, %a : tensor<1x1x64x16xf32>, tensor<1x1x64x16xf32>, tensor<1x1x64x16xf32> -> tensor<1x1x64x16xf32>
    scf.yield %b : tensor<1x1x64x16xf32>
  } else {
    // expected-error @below {{'scf.yield' op expected a program's branch to yield results of its own attn ops}}
    scf.yield %a : tensor<1x1x64x16xf32>
  }
  return %o : tensor<1x1x64x16xf32>
}

// -----

func.func private @twice__step0()
func.func @twice(%q: tensor<1x1x64x16xf32>) -> tensor<1x1x64x16xf32> {
  // expected-error @below {{cannot outline step 'twice__step0': the symbol already exists}}
  %a = attn.attention %q, %q, %q : tensor<1x1x64x16xf32>, tensor<1x1x64x16xf32>, tensor<1x1x64x16xf32> -> tensor<1x1x64x16xf32>
  %b = attn.attention %a, %a, %a : tensor<1x1x64x16xf32>, tensor<1x1x64x16xf32>, tensor<1x1x64x16xf32> -> tensor<1x1x64x16xf32>
  return %b : tensor<1x1x64x16xf32>
}

// -----

// With split-topk (the GPU pipelines): an attention's own top-k results
// (H3: layer 1's most attended keys drive layer 2) in a step of their own,
// which returns only them; O in another step.
// RUN: attn-opt %s -split-input-file -attn-split-program=split-topk -verify-diagnostics | FileCheck %s --check-prefix=TOPK
// TOPK-LABEL: func.func @h3__step0(
// TOPK-SAME: -> (tensor<1x2x64xi32>, tensor<1x2x64x4xi32>)
// TOPK: %{{.*}}, %[[C:.*]], %[[I:.*]] = attn.attention {{.*}} topk
// TOPK: return %[[C]], %[[I]]
// TOPK-LABEL: func.func @h3__step1(
// TOPK-SAME: -> tensor<1x2x64x16xf32>
// TOPK-NOT: topk
// TOPK: return
// TOPK-LABEL: func.func @h3__step2(
// TOPK: #attn.tokens
// TOPK-LABEL: func.func @h3(
// TOPK: %[[T:.*]]:2 = call @h3__step0
// TOPK: %[[O1:.*]] = call @h3__step1
// TOPK: %[[O2:.*]] = call @h3__step2(%{{.*}}, %[[T]]#0, %[[T]]#1)
// TOPK: return %[[O1]], %[[O2]]
func.func @h3(%q: tensor<1x2x64x16xf32>) -> (tensor<1x2x64x16xf32>, tensor<1x2x64x16xf32>) {
  %o1, %c, %i = attn.attention %q, %q, %q mask(#attn.causal) : tensor<1x2x64x16xf32>, tensor<1x2x64x16xf32>, tensor<1x2x64x16xf32> -> tensor<1x2x64x16xf32>, topk tensor<1x2x64xi32>, tensor<1x2x64x4xi32>
  %o2 = attn.attention %q, %q, %q mask(#attn.tokens, %c, %i : tensor<1x2x64xi32>, tensor<1x2x64x4xi32>) : tensor<1x2x64x16xf32>, tensor<1x2x64x16xf32>, tensor<1x2x64x16xf32> -> tensor<1x2x64x16xf32>
  return %o1, %o2 : tensor<1x2x64x16xf32>, tensor<1x2x64x16xf32>
}

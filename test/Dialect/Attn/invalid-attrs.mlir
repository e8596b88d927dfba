// RUN: attn-opt %s -split-input-file -verify-diagnostics

// Attribute verifiers: one case per block.
// expected-error @+1 {{expected mask attribute in 'and', got 1 : i32}}
func.func private @f0() attributes {m = #attn.and<#attn.causal, 1 : i32>}

// -----

// expected-error @+1 {{expected mask attribute in 'or', got #attn.softmax}}
func.func private @f1() attributes {m = #attn.or<#attn.softmax>}

// -----

// expected-error @+1 {{expected mask attribute in 'not', got #attn.alibi}}
func.func private @f2() attributes {m = #attn.not<#attn.alibi>}

// -----

// expected-error @+1 {{expected non-negative window left size, got -1}}
func.func private @f3() attributes {m = #attn.window<left = -1>}

// -----

// expected-error @+1 {{expected non-negative window right size, got -2}}
func.func private @f4() attributes {m = #attn.window<left = 4, right = -2>}

// -----

// expected-error @+1 {{expected non-negative prefix length, got -3}}
func.func private @f5() attributes {m = #attn.key_prefix<len = -3>}

// -----

// expected-error @+1 {{expected non-negative prefix length, got -1}}
func.func private @f6() attributes {m = #attn.query_prefix<len = -1>}

// -----

// expected-error @+1 {{expected positive dilation, got 0}}
func.func private @f7() attributes {m = #attn.dilated<dilation = 0>}

// -----

// expected-error @+1 {{expected positive power block size, got 0}}
func.func private @f8() attributes {m = #attn.power<block = 0>}

// -----

// expected-error @+1 {{expected neighborhood grid of rank 1 to 3, got rank 4}}
func.func private @f9() attributes {m = #attn.neighborhood<grid = [2, 2, 2, 2], kernel = [1, 1, 1, 1]>}

// -----

// expected-error @+1 {{expected neighborhood kernel of rank 2 to match the grid, got rank 1}}
func.func private @f10() attributes {m = #attn.neighborhood<grid = [8, 8], kernel = [3]>}

// -----

// expected-error @+1 {{expected neighborhood causal of rank 2 to match the grid, got rank 1}}
func.func private @f11() attributes {m = #attn.neighborhood<grid = [8, 8], kernel = [3, 3], causal = [true]>}

// -----

// expected-error @+1 {{expected positive grid extent on axis 1, got 0}}
func.func private @f12() attributes {m = #attn.neighborhood<grid = [8, 0], kernel = [3, 3]>}

// -----

// expected-error @+1 {{expected positive kernel size on axis 0, got 0}}
func.func private @f13() attributes {m = #attn.neighborhood<grid = [8, 8], kernel = [0, 3]>}

// -----

// expected-error @+1 {{expected positive dilation on axis 1, got 0}}
func.func private @f14() attributes {m = #attn.neighborhood<grid = [8, 8], kernel = [3, 3], dilation = [1, 0]>}

// -----

// expected-error @+1 {{expected kernel * dilation (3 * 3) to fit in the grid extent 8 on axis 1}}
func.func private @f15() attributes {m = #attn.neighborhood<grid = [8, 8], kernel = [3, 3], dilation = [1, 3]>}

// -----

// expected-error @+1 {{expected stride between 1 and the kernel size 3 on axis 0, got 4}}
func.func private @f16() attributes {m = #attn.neighborhood<grid = [8, 8], kernel = [3, 3], stride = [4, 1]>}

// -----

// expected-error @+2 {{expected 'true' or 'false'}}
// expected-error @+1 {{failed to parse Attn_NeighborhoodAttr parameter 'causal'}}
func.func private @f17() attributes {m = #attn.neighborhood<grid = [8], kernel = [3], causal = [yes]>}

// -----

// expected-error @+1 {{expected varying-window grid of rank 1 to 3, got rank 0}}
func.func private @f18() attributes {m = #attn.varying_window<grid = [], window = [], ratio = 2>}

// -----

// expected-error @+1 {{expected query window of rank 2 to match the grid, got rank 1}}
func.func private @f19() attributes {m = #attn.varying_window<grid = [16, 16], window = [4], ratio = 2>}

// -----

// expected-error @+1 {{expected context ratio of at least 1, got 0}}
func.func private @f20() attributes {m = #attn.varying_window<grid = [16], window = [4], ratio = 0>}

// -----

// expected-error @+1 {{expected query window 5 to divide the grid extent 16 on axis 0}}
func.func private @f21() attributes {m = #attn.varying_window<grid = [16], window = [5], ratio = 2>}

// -----

// expected-error @+1 {{expected context window 32 to fit in the grid extent 16 on axis 0}}
func.func private @f22() attributes {m = #attn.varying_window<grid = [16], window = [4], ratio = 8>}

// -----

// expected-error @+1 {{expected head range with 0 <= begin < end, got [4, 4)}}
func.func private @f23() attributes {m = #attn.heads<begin = 4, end = 4>}

// -----

// expected-error @+1 {{expected positive block sizes, got 0 and 64}}
func.func private @f24() attributes {m = #attn.blocks<q_block = 0, k_block = 64>}

// -----

// expected-error @+1 {{expected positive block sizes, got 64 and 0}}
func.func private @f25() attributes {m = #attn.pyramid<q_block = 64, k_block = 0, max_level = 1>}

// -----

// expected-error @+1 {{expected max level between 0 and log2(k_block), got 7}}
func.func private @f26() attributes {m = #attn.pyramid<q_block = 64, k_block = 64, max_level = 7>}

// -----

// expected-error @+1 {{expected positive max distance, got 0}}
func.func private @f27() attributes {m = #attn.rel_pos<max_distance = 0>}

// -----

// expected-error @+1 {{expected 0 (no bucketing) or at least 2 buckets, got 1}}
func.func private @f28() attributes {m = #attn.rel_pos<max_distance = 8, buckets = 1>}

// -----

// expected-error @+1 {{expected positive softcap, got -1}}
func.func private @f29() attributes {m = #attn.softcap<cap = -1.0>}

// -----

// expected-error @+1 {{expected a grid of rank 2 or 3 for manhattan distance, got rank 1}}
func.func private @f30() attributes {m = #attn.decay<distance = manhattan, grid = [64]>}

// -----

// expected-error @+1 {{expected no grid for abs distance}}
func.func private @f31() attributes {m = #attn.decay<distance = abs, grid = [8, 8]>}

// -----

// expected-error @+1 {{expected positive grid extents, got 0}}
func.func private @f32() attributes {m = #attn.decay<distance = manhattan, grid = [8, 0]>}

// -----

// expected-error @+1 {{expected zeta >= 1, got 5.000000e-01}}
func.func private @f33() attributes {m = #attn.clipped_softmax<zeta = 0.5, gamma = 0.0>}

// -----

// expected-error @+1 {{expected gamma <= 0, got 2.500000e-01}}
func.func private @f34() attributes {m = #attn.clipped_softmax<zeta = 1.0, gamma = 0.25>}

// -----

// expected-error @+1 {{expected kernel * dilation (5 * 4611686018427387904) to fit in the grid extent 8 on axis 0}}
func.func private @overflow() attributes {m = #attn.neighborhood<grid = [8], kernel = [5], dilation = [4611686018427387904]>}

// -----

// expected-error @+1 {{expected stride 1 on causal axis 0, got 2}}
func.func private @causal_stride() attributes {m = #attn.neighborhood<grid = [8, 8], kernel = [3, 3], stride = [2, 1], causal = [true, false]>}

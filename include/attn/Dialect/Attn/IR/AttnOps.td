//===- AttnOps.td - attn operations ------------------------*- tablegen -*-===//
//
// The attention op, linear attention (N6), and the selection ops of sections
// D, G and H of the pattern catalog. Selections produce index sets as plain
// integer tensors; attention consumes them through `#attn.tokens`,
// `#attn.blocks`, `#attn.pyramid` and `#attn.keep` mask leaves.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_IR_ATTNOPS_TD
#define ATTN_DIALECT_ATTN_IR_ATTNOPS_TD

include "attn/Dialect/Attn/IR/AttnBase.td"
include "attn/Dialect/Attn/IR/AttnAttrs.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/Interfaces/ControlFlowInterfaces.td"

// A mask (candidate set) with its runtime operands, shared by every op that
// takes one.
defvar Attn_MaskFormat =
  "`` custom<SlotGroup>(\"\\\"mask\\\"\", $mask, $mask_operands, type($mask_operands))";

//===----------------------------------------------------------------------===//
// AttentionOp
//===----------------------------------------------------------------------===//

def Attn_AttentionOp : Attn_Op<"attention", [
    AttrSizedOperandSegments, AttrSizedResultSegments, IsolatedFromAbove,
    RecursiveMemoryEffects]> {
  let summary = "fused scaled dot-product attention with structured variants";
  let description = [{
    Computes, for every batch `b`, query head `h`, query `i` and value
    feature `n`:

    ```
    s[b,h,i,j] = scale * dot(Q[b,h,i,:], K[b,g(h),j,:])   g(h) = h / (Hq / Hkv)
    s'         = score modifiers applied in order to s
    P[b,h,i,:] = normalization of s' over the keys j the mask allows
    O[b,h,i,n] = act(gate) * sum_j P[b,h,i,j] * V[b,g(h),j,n]
    LSE[b,h,i] = log(sum over allowed j of exp(s'))
    ```

    Dimensions: `B` batch, `Hq`/`Hkv` query/key heads (`Hkv` divides `Hq`:
    GQA, MQA), `Sq`/`Sk` query/key lengths, `D` head dim of Q and K, `Dv`
    head dim of V and O. A row with no allowed key yields `O = 0` and
    `LSE = -inf`. `scale` defaults to `1/sqrt(D)`.

    Layouts (`layout(q, kv)`, default `bhsd`): `bhsd` is `[B, H, S, D]`,
    `bshd` is `[B, S, H, D]`, `thd` packs variable-length sequences as
    `[T, H, D]` with `cu_seqlens_q` / `cu_seqlens_kv` (`tensor<(B+1)xi32>`),
    `paged` (keys and values only) is a page pool `[P, page, Hkv, D]` read
    through `block_table : tensor<BxNxi32>` with `kv_lens : tensor<Bxi32>`.
    O has the query layout with `Dv`; LSE is `[B, Hq, Sq]` (`[Hq, T]` for
    `thd`) in f32.

    Each of `mask(...)`, `score(...)`, `norm(...)` and `gate(...)` holds an
    attribute followed by the runtime operands its `?` parameters and tensor
    inputs read, in printing order: `mask(#attn.window<left = ?>, %w : index)`.
    `#attn.predicate` and `#attn.score_fn` refer to the `predicate` and
    `score_fn` regions, whose blocks take `(b, h, i, j : index)` (preceded by
    `s : f32` for `score_fn`) and then one argument per captured operand.
    With `{residue_groups = R}` the op is R independent attentions: group
    `r` holds the queries and keys whose positions are congruent to `r`
    modulo R, and everything the attributes see (positions `i`, `j`,
    lengths `Sq`, `Sk`) is in group coordinates (position `p` is `p / R` of
    group `p % R`; group `r` has `ceil((S - r) / R)` tokens); pairs of
    different groups are never allowed. `attn-group-residues` writes it for
    dilated masks, whose groups are then dense bands. It takes `bhsd` or
    `bshd` layouts, scalar operands only (a tensor indexed by position
    would be ambiguous), no grid-based leaves, regions or `topk` results.

    `{patches = array<i64: PH, PW>}` changes no result: it tells the lowering
    to visit queries and keys in patches of PH x PW tokens of the mask's 2-D
    grid (patch by patch in row-major order, row-major inside a patch), so
    that a neighborhood's tiles are compact boxes of the grid. The grid
    leaves must share one grid whose extents the patch divides, with
    `Sq == Sk ==` its size; the rest of the mask may only be `full`,
    `empty` or `heads`, nothing else may read positions (score modifiers
    over positions, regions, tensor operands) and the layouts are `bhsd` or
    `bshd`. `attn-order-patches` writes it for neighborhoods (M9).

    The optional `topk` results return, per query, the `N` allowed keys of
    largest probability (counts and indices) for reuse by a later attention
    (H3).

    ```mlir
    %o, %lse = attn.attention %q, %k, %v
        mask(#attn.and<#attn.causal, #attn.window<left = ?, right = 0>>, %w : index)
        score([#attn.softcap<cap = 30.0>])
        : tensor<2x16x1000x64xbf16>, tensor<2x4x1000x64xbf16>,
          tensor<2x4x1000x64xbf16>
        -> tensor<2x16x1000x64xbf16>, lse tensor<2x16x1000xf32>
    ```
  }];
  let arguments = (ins
    AnyRankedTensor:$query, AnyRankedTensor:$key, AnyRankedTensor:$value,
    Variadic<AnyType>:$mask_operands,
    Variadic<AnyType>:$score_operands,
    Variadic<AnyType>:$norm_operands,
    Variadic<AnyType>:$gate_operands,
    Variadic<AnyType>:$captures,
    Optional<AnyRankedTensor>:$cu_seqlens_q,
    Optional<AnyRankedTensor>:$cu_seqlens_kv,
    Optional<AnyRankedTensor>:$block_table,
    Optional<AnyRankedTensor>:$kv_lens,
    OptionalAttr<AnyAttr>:$mask,
    OptionalAttr<ArrayAttr>:$score,
    OptionalAttr<AnyAttr>:$norm,
    OptionalAttr<AnyAttr>:$gate,
    OptionalAttr<F64Attr>:$scale,
    DefaultValuedAttr<Attn_Layout, "::mlir::attn::Layout::bhsd">:$q_layout,
    DefaultValuedAttr<Attn_Layout, "::mlir::attn::Layout::bhsd">:$kv_layout,
    OptionalAttr<ConfinedAttr<I64Attr, [IntMinValue<1>]>>:$residue_groups,
    OptionalAttr<DenseI64ArrayAttr>:$patches);
  let results = (outs AnyRankedTensor:$output,
                      Optional<AnyRankedTensor>:$lse,
                      Optional<AnyRankedTensor>:$topk_counts,
                      Optional<AnyRankedTensor>:$topk_indices);
  let regions = (region MaxSizedRegion<1>:$predicate,
                        MaxSizedRegion<1>:$score_fn);
  let assemblyFormat = !strconcat([{
    $query `,` $key `,` $value
    `` custom<Layouts>($q_layout, $kv_layout)
  }], Attn_MaskFormat, [{
    `` custom<SlotGroup>("\"score\"", $score, $score_operands, type($score_operands))
    `` custom<SlotGroup>("\"norm\"", $norm, $norm_operands, type($norm_operands))
    `` custom<SlotGroup>("\"gate\"", $gate, $gate_operands, type($gate_operands))
    (`cu_seqlens_q` `(` $cu_seqlens_q^ `:` type($cu_seqlens_q) `)`)?
    (`cu_seqlens_kv` `(` $cu_seqlens_kv^ `:` type($cu_seqlens_kv) `)`)?
    (`block_table` `(` $block_table^ `:` type($block_table) `)`)?
    (`kv_lens` `(` $kv_lens^ `:` type($kv_lens) `)`)?
    (`captures` `(` $captures^ `:` type($captures) `)`)?
    (`predicate` $predicate^)?
    (`score_fn` $score_fn^)?
    attr-dict `:` type($query) `,` type($key) `,` type($value)
    `->` custom<AttentionResults>(type($output), type($lse), type($topk_counts),
                                  type($topk_indices))
  }]);
  let hasRegionVerifier = 1;
  let extraClassDeclaration = [{
    /// Sizes of the problem (B, Hq, Hkv, Sq, Sk, D, Dv) read off the operand
    /// types; unknown sizes are ShapedType::kDynamic.
    ::mlir::attn::Extents getExtents();
    /// The mask, `#attn.full` when absent.
    ::mlir::Attribute getMaskOrFull();
    /// The normalization, `#attn.softmax` when absent.
    ::mlir::Attribute getNormOrSoftmax();
    /// The softmax scale, `1/sqrt(D)` when absent.
    double getScaleOrDefault();
    /// Why the op cannot be read in residue groups (the verifier's message
    /// for `residue_groups`), or an empty string when it can.
    ::llvm::StringRef getResidueGroupsObstacle();
    /// Why the op cannot be visited in `patches` (the verifier's message),
    /// or an empty string when it can.
    std::string getPatchesObstacle(::llvm::ArrayRef<int64_t> patches);
    /// Whether a score modifier or the gate reads token positions (ALiBi,
    /// relative-position buckets, decay, score_fn, the output gate).
    bool hasPositionalModifiers();
    /// The grid of the mask's grid leaves when they share one, else empty.
    ::llvm::SmallVector<int64_t> getMaskGrid();
  }];
}

//===----------------------------------------------------------------------===//
// LinearAttentionOp
//===----------------------------------------------------------------------===//

def Attn_LinearAttentionOp : Attn_Op<"linear_attention", [Pure]> {
  let summary = "linear / gated-linear attention in causal chunked form (N6)";
  let description = [{
    `O[b,h,i,:] = phi(Q[b,h,i]) . S_i` with the running state
    `S_i = exp(decay[b,h,i]) * S_{i-1} + phi(K[b,g,i])^T V[b,g,i]`
    (`S_{-1} = 0`, `decay = 0` when absent: plain linear attention), where
    `phi` is `feature_map`. Without `causal` every query reads the final
    state. Layout `bhsd`, `Sq == Sk`; `chunk` is the block length of the
    chunked form (Lightning Attention-2, Gated Linear Attention); it changes
    the schedule, never the result.

    ```mlir
    %o = attn.linear_attention %q, %k, %v decay(%g : tensor<1x4x256xf32>)
        feature_map = elu_plus_one {causal, chunk = 64 : i64}
        : tensor<1x4x256x64xf32>, tensor<1x4x256x64xf32>,
          tensor<1x4x256x64xf32> -> tensor<1x4x256x64xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$query, AnyRankedTensor:$key,
                       AnyRankedTensor:$value,
                       Optional<AnyRankedTensor>:$decay,
                       DefaultValuedAttr<Attn_FeatureMap,
                           "::mlir::attn::FeatureMap::identity">:$feature_map,
                       DefaultValuedAttr<I64Attr, "64">:$chunk,
                       UnitAttr:$causal);
  let results = (outs AnyRankedTensor:$output);
  let assemblyFormat = [{
    $query `,` $key `,` $value (`decay` `(` $decay^ `:` type($decay) `)`)?
    `feature_map` `=` $feature_map attr-dict
    `:` type($query) `,` type($key) `,` type($value) `->` type($output)
  }];
}

//===----------------------------------------------------------------------===//
// Selection ops
//===----------------------------------------------------------------------===//

def Attn_IndexerTopkOp : Attn_Op<"indexer_topk", [Pure, AttrSizedOperandSegments]> {
  let summary = "lightning-indexer top-k keys per query (D1, D2)";
  let description = [{
    Scores `I[b,i,j] = sum_t w[b,i,t] * relu(qI[b,i,t,:] . kI[b,j,:])` with
    `qI : [B, Sq, T, Di]`, `kI : [B, Sk, Di]`, `w : [B, Sq, T]` (DeepSeek
    Sparse Attention's indexer, `T` indexer heads) over the keys the mask
    allows, and keeps the `k` best per query (ties: smaller index first).
    Results: `counts : [B, 1, Sq]` (fewer than `k` candidates give a smaller
    count) and `indices : [B, 1, Sq, k]` (ascending key order, padded with
    -1), ready for `#attn.tokens`.

    With `key_block = n`, each row of `kI` stands for a block of `n` keys
    (pooled with `attn.pool`): a block is a candidate when the mask allows
    any of its keys (the mask sees `n` times as many keys), and indices are
    block indices: the first stage of the hierarchical indexer D2. `within(counts, indices)` with `block_size = n` restricts the
    candidates to the listed key blocks: its second stage.

    ```mlir
    %c, %i = attn.indexer_topk %qi, %ki, %w k = 2048 mask(#attn.causal)
        : tensor<1x8192x4x64xbf16>, tensor<1x8192x64xbf16>, tensor<1x8192x4xf32>
        -> tensor<1x1x8192xi32>, tensor<1x1x8192x2048xi32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$query, AnyRankedTensor:$key,
                       AnyRankedTensor:$weights,
                       Optional<AnyRankedTensor>:$block_counts,
                       Optional<AnyRankedTensor>:$block_indices,
                       Variadic<AnyType>:$mask_operands,
                       I64Attr:$k,
                       DefaultValuedAttr<I64Attr, "1">:$key_block,
                       OptionalAttr<I64Attr>:$block_size,
                       OptionalAttr<AnyAttr>:$mask);
  let results = (outs AnyRankedTensor:$counts, AnyRankedTensor:$indices);
  let assemblyFormat = !strconcat([{
    $query `,` $key `,` $weights `k` `=` $k
    (`within` `(` $block_counts^ `,` $block_indices `:` type($block_counts) `,`
       type($block_indices) `)`)?
  }], Attn_MaskFormat, [{
    attr-dict `:` type($query) `,` type($key) `,` type($weights)
    `->` type($counts) `,` type($indices)
  }]);
}

def Attn_PoolOp : Attn_Op<"pool", [Pure]> {
  let summary = "pool consecutive tokens into blocks";
  let description = [{
    Reduces dimension `dim` of the input in blocks of `block` consecutive
    entries (the last block may be shorter) with `kind` (mean or max). Used
    to build block representatives for D2, D3 and D6.

    ```mlir
    %p = attn.pool %ki dim = 1 block = 64 kind = mean
        : tensor<1x8192x64xbf16> -> tensor<1x128x64xbf16>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, I64Attr:$dim, I64Attr:$block,
                       DefaultValuedAttr<Attn_Pool, "::mlir::attn::PoolKind::mean">:$kind);
  let results = (outs AnyRankedTensor:$output);
  let assemblyFormat = [{
    $input `dim` `=` $dim `block` `=` $block `kind` `=` $kind attr-dict
    `:` type($input) `->` type($output)
  }];
}

// Block-level selection over (query block, key block) pairs of a BHSD query
// and key. Results are a `#attn.blocks` layout.
class Attn_BlockSelectOp<string mnemonic, dag extraArgs,
                         string extraFormat>
    : Attn_Op<mnemonic, [Pure]> {
  let arguments = !con((ins AnyRankedTensor:$query, AnyRankedTensor:$key,
                            I64Attr:$q_block, I64Attr:$k_block),
                       extraArgs,
                       (ins Variadic<AnyType>:$mask_operands,
                            OptionalAttr<AnyAttr>:$mask));
  let results = (outs AnyRankedTensor:$counts, AnyRankedTensor:$indices);
  let assemblyFormat = !strconcat(
    "$query `,` $key `blocks` `(` $q_block `,` $k_block `)` ", extraFormat, " ",
    Attn_MaskFormat, [{
    attr-dict `:` type($query) `,` type($key) `->` type($counts) `,` type($indices)
  }]);
}

def Attn_BlockTopkOp : Attn_BlockSelectOp<"block_topk",
    (ins I64Attr:$k,
         DefaultValuedAttr<Attn_Pool, "::mlir::attn::PoolKind::mean">:$pool,
         UnitAttr:$include_local),
    "`k` `=` $k `pool` `=` $pool"> {
  let summary = "block routing: top-k key blocks per query block (D3)";
  let description = [{
    Pools `query : [B, Hq, Sq, D]` in blocks of `q_block` and
    `key : [B, Hkv, Sk, D]` in blocks of `k_block` with `pool`, scores every
    pair of pooled blocks the mask allows (a block pair is a candidate when
    the mask allows any of its pairs), and keeps the `k` best key blocks per
    query block (BiFormer bi-level routing, Landmark, NSA selection).
    `include_local` always keeps the diagonal block. Results:
    `counts : [B, Hq, QB]`, `indices : [B, Hq, QB, k]` (ascending, -1
    padded), `QB = ceil(Sq / q_block)`.

    ```mlir
    %c, %i = attn.block_topk %q, %k blocks(64, 64) k = 16 pool = mean
        mask(#attn.causal) {include_local}
        : tensor<1x16x4096x128xbf16>, tensor<1x16x4096x128xbf16>
        -> tensor<1x16x64xi32>, tensor<1x16x64x16xi32>
    ```
  }];
}

def Attn_HipTopkOp : Attn_BlockSelectOp<"hip_topk",
    (ins I64Attr:$k, DefaultValuedAttr<I64Attr, "2">:$branch),
    "`k` `=` $k `branch` `=` $branch"> {
  let summary = "hierarchical pruning: top-k key blocks by tree search (D4)";
  let description = [{
    HiP attention: per query block, the candidate key range is repeatedly
    split into `branch` parts; each part is scored by the dot product of the
    pooled query block with its representative key (the key of the part's
    first block), the best parts are kept, until `k` blocks of `k_block`
    keys remain. Results as in `attn.block_topk`.

    ```mlir
    %c, %i = attn.hip_topk %q, %k blocks(64, 32) k = 32 branch = 2
        mask(#attn.causal)
        : tensor<1x8x8192x64xf16>, tensor<1x8x8192x64xf16>
        -> tensor<1x8x128xi32>, tensor<1x8x128x32xi32>
    ```
  }];
}

def Attn_ThresholdBlocksOp : Attn_BlockSelectOp<"threshold_blocks",
    (ins F64Attr:$gamma, DefaultValuedAttr<I64Attr, "1">:$min_blocks),
    "`gamma` `=` $gamma"> {
  let summary = "cumulative-threshold block selection (D5)";
  let description = [{
    FlexPrefill: per head and query block, the attention mass of every
    candidate key block is estimated from the last query of the block against
    pooled keys; blocks are taken in decreasing mass until the cumulative
    mass reaches `gamma` (at least `min_blocks`). The budget is data
    dependent: `indices : [B, Hq, QB, KB]` has room for every block and
    `counts` says how many were kept.

    ```mlir
    %c, %i = attn.threshold_blocks %q, %k blocks(128, 128) gamma = 0.9
        mask(#attn.causal)
        : tensor<1x8x4096x64xbf16>, tensor<1x8x4096x64xbf16>
        -> tensor<1x8x32xi32>, tensor<1x8x32x32xi32>
    ```
  }];
}

def Attn_PyramidLevelsOp : Attn_Op<"pyramid_levels", [Pure]> {
  let summary = "choose a pooling level per (query block, key block) (D6)";
  let description = [{
    Pyramid Sparse Attention: the estimated importance of each candidate
    block pair (pooled query block against pooled key block, softmax over the
    row) is compared with the descending `thresholds`: a pair whose
    importance is at least `thresholds[l]` for the smallest such `l` gets
    level `l` (keys pooled over `2^l` tokens); below the last threshold it is
    dropped (-1). Result `levels : [B, Hq, QB, KB]` in i8, for
    `#attn.pyramid`.

    ```mlir
    %l = attn.pyramid_levels %q, %k blocks(64, 64)
        thresholds = [0.05, 0.01, 0.001] mask(#attn.causal)
        : tensor<1x8x4096x64xbf16>, tensor<1x8x4096x64xbf16> -> tensor<1x8x64x64xi8>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$query, AnyRankedTensor:$key,
                       I64Attr:$q_block, I64Attr:$k_block,
                       F64ArrayAttr:$thresholds,
                       Variadic<AnyType>:$mask_operands,
                       OptionalAttr<AnyAttr>:$mask);
  let results = (outs AnyRankedTensor:$levels);
  let assemblyFormat = !strconcat([{
    $query `,` $key `blocks` `(` $q_block `,` $k_block `)`
    `thresholds` `=` $thresholds
  }], Attn_MaskFormat, [{
    attr-dict `:` type($query) `,` type($key) `->` type($levels)
  }]);
}

def Attn_MaskTilesOp : Attn_Op<"mask_tiles", [Pure]> {
  let summary = "summarize an explicit mask per 64 x 64 tile (M12)";
  let description = [{
    The tile summary of a boolean mask `[B|1, H|1, Sq, Sk]` for
    `#attn.dense<tiles>`: result `[B|1, H|1, ceil(Sq / 64), 2 * W]` in i32,
    `W = ceil(ceil(Sk / 64) / 32)`. Row `qt` covers queries
    `[64 qt, min(64 qt + 64, Sq))`; bit `t % 32` of word `t / 32` is set
    where key tile `t` (keys `[64 t, min(64 t + 64, Sk))`) has an allowed
    pair in those rows, bit `t % 32` of word `W + t / 32` where it has a
    disallowed one. Bits past the last key tile are clear.

    Computed once per call, it lets every block of an attention kernel find
    the tiles it visits and those it computes without the mask from two
    short bit vectors, where each block scanning its rows of the mask read
    the whole mask once per (batch, head) group: attn-summarize-masks
    inserts it on the GPU.

    ```mlir
    %t = attn.mask_tiles %m
        : tensor<1x1x4096x4096xi1> -> tensor<1x1x64x4xi32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$mask);
  let results = (outs AnyRankedTensor:$tiles);
  let assemblyFormat = "$mask attr-dict `:` type($mask) `->` type($tiles)";
  let hasVerifier = 1;
}

def Attn_IdRangesOp : Attn_Op<"id_ranges", [Pure]> {
  let summary = "(min, max) of document ids per 64-token tile (M6)";
  let description = [{
    The ranges of integer ids `[B, S]` for `#attn.document<ranges>`: result
    `[B, ceil(S / 64), 2]` in i32, entry `(b, t, 0)` the smallest and
    `(b, t, 1)` the largest id of tokens `[64 t, min(64 t + 64, S))` of
    batch `b`.

    Computed once per call, it lets every block of an attention kernel
    classify a tile pair from an entry per 64 tokens — disjoint ranges: no
    allowed pair; one id on both sides: every pair allowed — where each
    block read every id of every key tile it tested. attn-summarize-masks
    inserts it on the GPU.

    ```mlir
    %r = attn.id_ranges %doc : tensor<2x4096xi32> -> tensor<2x64x2xi32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$ids);
  let results = (outs AnyRankedTensor:$ranges);
  let assemblyFormat = "$ids attr-dict `:` type($ids) `->` type($ranges)";
  let hasVerifier = 1;
}

def Attn_QueryTopkOp : Attn_Op<"query_topk", [Pure]> {
  let summary = "query-aware token selection with an optional data-dependent budget (D7)";
  let description = [{
    Scores every key token by its attention from the guiding queries
    (`query : [B, Hq, Sq, D]`, e.g. the text tokens; `key : [B, Hkv, Sk, D]`,
    e.g. video tokens): the softmax over keys of each query and head, summed
    over queries and heads. Keeps at most `max_tokens` tokens; with
    `threshold`, stops earlier once the kept tokens hold that fraction of the
    total mass (QTSplus). Results: `counts : [B, 1, 1]`,
    `indices : [B, 1, 1, max_tokens]`, shared by every query of the consuming
    attention.

    ```mlir
    %c, %i = attn.query_topk %qt, %kv max_tokens = 1024 {threshold = 0.95}
        : tensor<1x8x32x64xf32>, tensor<1x8x16384x64xf32>
        -> tensor<1x1x1xi32>, tensor<1x1x1x1024xi32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$query, AnyRankedTensor:$key,
                       I64Attr:$max_tokens, OptionalAttr<F64Attr>:$threshold);
  let results = (outs AnyRankedTensor:$counts, AnyRankedTensor:$indices);
  let assemblyFormat = [{
    $query `,` $key `max_tokens` `=` $max_tokens attr-dict
    `:` type($query) `,` type($key) `->` type($counts) `,` type($indices)
  }];
}

def Attn_ValueTopkOp : Attn_Op<"value_topk", [Pure]> {
  let summary = "value-derived dynamic mask: top-k keys per head ranked from V (G4)";
  let description = [{
    Trainable Dynamic Mask Sparse Attention: `score[b,g,j] =
    dot(V[b,g,j,:], weight[g,:])` for `value : [B, Hkv, Sk, Dv]` and
    `weight : [Hkv, Dv]`; the `k` best keys per (b, g) among those the mask
    allows for some query are kept. Results: `counts : [B, Hkv, 1]`,
    `indices : [B, Hkv, 1, k]` and the scores `[B, Hkv, Sk]` in f32 (usable as
    a `#attn.bias`).

    ```mlir
    %c, %i, %s = attn.value_topk %v, %w k = 256
        : tensor<1x4x2048x64xf32>, tensor<4x64xf32>
        -> tensor<1x4x1xi32>, tensor<1x4x1x256xi32>, tensor<1x4x2048xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$value, AnyRankedTensor:$weight,
                       Variadic<AnyType>:$mask_operands,
                       I64Attr:$k, OptionalAttr<AnyAttr>:$mask);
  let results = (outs AnyRankedTensor:$counts, AnyRankedTensor:$indices,
                      AnyRankedTensor:$scores);
  let assemblyFormat = !strconcat([{
    $value `,` $weight `k` `=` $k
  }], Attn_MaskFormat, [{
    attr-dict `:` type($value) `,` type($weight)
    `->` type($counts) `,` type($indices) `,` type($scores)
  }]);
}

def Attn_HeadTopkOp : Attn_Op<"head_topk", [Pure]> {
  let summary = "mixture of heads: top-k heads per token (G2)";
  let description = [{
    From router logits `[B, Sq, H]`, keeps the `k` largest heads per token
    (ties: smaller head first). Results: `keep : [B, H, Sq]` (i1, for
    `#attn.keep<query>`: unselected heads are never computed) and the
    routing weights `[B, Sq, H]` in f32 (softmax over the kept heads, 0
    elsewhere; for `#attn.output_gate<activation = linear, granularity = head>`).

    ```mlir
    %keep, %w = attn.head_topk %logits k = 4
        : tensor<2x512x16xf32> -> tensor<2x16x512xi1>, tensor<2x512x16xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$logits, I64Attr:$k);
  let results = (outs AnyRankedTensor:$keep, AnyRankedTensor:$weights);
  let assemblyFormat = [{
    $logits `k` `=` $k attr-dict `:` type($logits) `->` type($keep) `,` type($weights)
  }];
}

//===----------------------------------------------------------------------===//
// YieldOp
//===----------------------------------------------------------------------===//

def Attn_YieldOp : Attn_Op<"yield", [Pure, Terminator, ReturnLike,
                                     HasParent<"AttentionOp">]> {
  let summary = "terminates a predicate or score region";
  let description = [{
    Yields the `i1` of a `predicate` region or the `f32` of a `score_fn`
    region of `attn.attention`.
  }];
  let arguments = (ins Variadic<AnyType>:$values);
  let assemblyFormat = "$values attr-dict `:` type($values)";
  let hasVerifier = 0;
}

#endif // ATTN_DIALECT_ATTN_IR_ATTNOPS_TD

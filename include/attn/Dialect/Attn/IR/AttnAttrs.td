//===- AttnAttrs.td - attn structured attributes -----------*- tablegen -*-===//
//
// Structured descriptions of masks (section M of the pattern catalog, plus
// the consumers of selections from section D), score modifiers (S),
// normalizations (N1-N5) and output gates (G1, G2). Every attribute that
// reads runtime values implements OperandSlotsAttrInterface.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_IR_ATTNATTRS_TD
#define ATTN_DIALECT_ATTN_IR_ATTNATTRS_TD

include "attn/Dialect/Attn/IR/AttnBase.td"
include "attn/Dialect/Attn/IR/AttnInterfaces.td"

//===----------------------------------------------------------------------===//
// Parameter kinds
//===----------------------------------------------------------------------===//

// An integer that is either static or `?`: read from the next operand.
class Attn_DynIntParam<string desc, string default = "">
    : AttrParameter<"int64_t", desc> {
  let parser = "::mlir::attn::parseDynInt($_parser)";
  let printer = "::mlir::attn::printDynInt($_printer, $_self)";
  let defaultValue = default;
}

// A float that is either static or `?` (stored as a null FloatAttr).
class Attn_DynFloatParam<string desc, string default = "">
    : AttrParameter<"::mlir::FloatAttr", desc> {
  let parser = "::mlir::attn::parseDynFloat($_parser)";
  let printer = "::mlir::attn::printDynFloat($_printer, $_self)";
  let defaultValue = default;
}

class Attn_IntListParam<string desc>
    : OptionalArrayRefParameter<"int64_t", desc> {
  let parser = "::mlir::attn::parseIntList($_parser)";
  let printer = "::mlir::attn::printIntList($_printer, $_self)";
}

class Attn_BoolListParam<string desc>
    : OptionalArrayRefParameter<"bool", desc> {
  let parser = "::mlir::attn::parseBoolList($_parser)";
  let printer = "::mlir::attn::printBoolList($_printer, $_self)";
}

def Attn_AlignParam : EnumParameter<Attn_Align> {
  let defaultValue = "::mlir::attn::Align::top_left";
}

// An attribute that reads operands; `methods` lists the interface methods it
// overrides.
class Attn_SlotAttr<string name, string attrMnemonic,
                    list<string> methods = ["getOperandSlots"]>
    : Attn_Attr<name, attrMnemonic,
                [DeclareAttrInterfaceMethods<Attn_OperandSlotsAttrInterface,
                                             methods>]>;

//===----------------------------------------------------------------------===//
// Masks: algebra
//===----------------------------------------------------------------------===//

def Attn_FullAttr : Attn_SlotAttr<"Full", "full", []> {
  let summary = "every (query, key) pair is allowed (M1)";
  let description = "The identity of `and`; `#attn.full`.";
}

def Attn_EmptyAttr : Attn_SlotAttr<"Empty", "empty", []> {
  let summary = "no (query, key) pair is allowed";
  let description = [{
    The identity of `or`. Rows with no allowed key produce `O = 0` and
    `LSE = -inf`. Mostly produced by canonicalization (`not(full)`).
  }];
}

def Attn_AndAttr : Attn_SlotAttr<"And", "and",
                                 ["getOperandSlots", "foldConstantSlots"]> {
  let summary = "intersection of masks (M13)";
  let description = [{
    `#attn.and<m1, m2, ...>` allows a pair when every child allows it. The
    children's operand slots are consumed in order.
  }];
  let parameters = (ins ArrayRefParameter<"::mlir::Attribute",
                                          "child masks">:$masks);
  let assemblyFormat = "`<` $masks `>`";
  let genVerifyDecl = 1;
}

def Attn_OrAttr : Attn_SlotAttr<"Or", "or",
                                ["getOperandSlots", "foldConstantSlots"]> {
  let summary = "union of masks (M13)";
  let description = [{
    `#attn.or<m1, m2, ...>` allows a pair when any child allows it.
  }];
  let parameters = (ins ArrayRefParameter<"::mlir::Attribute",
                                          "child masks">:$masks);
  let assemblyFormat = "`<` $masks `>`";
  let genVerifyDecl = 1;
}

def Attn_NotAttr : Attn_SlotAttr<"Not", "not",
                                 ["getOperandSlots", "foldConstantSlots"]> {
  let summary = "complement of a mask (M13)";
  let description = "`#attn.not<m>` allows exactly the pairs `m` rejects.";
  let parameters = (ins "::mlir::Attribute":$mask);
  let assemblyFormat = "`<` $mask `>`";
  let genVerifyDecl = 1;
}

//===----------------------------------------------------------------------===//
// Masks: closed-form index predicates
//===----------------------------------------------------------------------===//

def Attn_CausalAttr : Attn_SlotAttr<"Causal", "causal",
                                    ["getOperandSlots", "foldConstantSlots"]> {
  let summary = "causal mask `j <= i + d` (M2)";
  let description = [{
    The diagonal is `d = offset` for `align = top_left` and
    `d = offset + Sk - Sq` for `align = bottom_right` (the KV-cache alignment
    of FlashAttention 2.1+). `offset` may be `?`.

    ```mlir
    #attn.causal
    #attn.causal<align = bottom_right>
    ```
  }];
  let parameters = (ins Attn_AlignParam:$align,
                        Attn_DynIntParam<"diagonal offset", "0">:$offset);
  let assemblyFormat = "(`<` struct(params)^ `>`)?";
}

def Attn_WindowAttr : Attn_SlotAttr<"Window", "window",
                                    ["getOperandSlots", "foldConstantSlots"]> {
  let summary = "sliding window `i + d - left <= j <= i + d + right` (M3)";
  let description = [{
    A band around the diagonal `d` (see `#attn.causal`). `right = 0` is a
    causal local window. Either size may be `?`; both must be non-negative.

    ```mlir
    #attn.window<left = 512, right = 0>
    #attn.window<left = ?, right = ?>
    ```
  }];
  let parameters = (ins Attn_DynIntParam<"keys before the diagonal">:$left,
                        Attn_DynIntParam<"keys after the diagonal", "0">:$right,
                        Attn_AlignParam:$align,
                        Attn_DynIntParam<"diagonal offset", "0">:$offset);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def Attn_KeyPrefixAttr : Attn_SlotAttr<"KeyPrefix", "key_prefix",
                                       ["getOperandSlots", "foldConstantSlots"]> {
  let summary = "keys in a prefix: `j < len[b]` (M4 sinks, M5, M11)";
  let description = [{
    Allows keys `j < len`. `len` is static, or `?`: a scalar or a
    per-batch tensor `tensor<Bxi32>`. Attention sinks (M4) are
    `or<window, key_prefix<len = 4>>`, prefix-LM (M5) is
    `or<causal, key_prefix<len = ?>>`, key padding (M11) is
    `and<m, key_prefix<len = ?>>`.
  }];
  let parameters = (ins Attn_DynIntParam<"prefix length">:$len);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def Attn_QueryPrefixAttr : Attn_SlotAttr<"QueryPrefix", "query_prefix",
                                         ["getOperandSlots", "foldConstantSlots"]> {
  let summary = "queries in a prefix: `i < len[b]` (M11 query padding)";
  let description = [{
    Allows queries `i < len`; rows past it are fully masked. `len` is static
    or `?` (scalar or `tensor<Bxi32>`).
  }];
  let parameters = (ins Attn_DynIntParam<"prefix length">:$len);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def Attn_DilatedAttr : Attn_SlotAttr<"Dilated", "dilated",
                                     ["getOperandSlots", "foldConstantSlots"]> {
  let summary = "residue condition `(i + d - j) mod dilation == 0` (M7)";
  let description = [{
    Combined with a window, `and<window<...>, dilated<dilation = 4>>` is a
    dilated sliding window; `d` is the diagonal of `#attn.causal`.
  }];
  let parameters = (ins Attn_DynIntParam<"dilation">:$dilation,
                        Attn_AlignParam:$align,
                        Attn_DynIntParam<"diagonal offset", "0">:$offset);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def Attn_PowerAttr : Attn_SlotAttr<"Power", "power", []> {
  let summary = "power (exponential) block pattern (M8)";
  let description = [{
    With blocks of `block` tokens, query block `qb` sees key blocks `qb`,
    `qb - 2^k` for `k >= 0`, and block 0 (the sink). Within the diagonal
    block the mask is causal (PowerAttention).
  }];
  let parameters = (ins "int64_t":$block);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def Attn_NeighborhoodAttr : Attn_SlotAttr<"Neighborhood", "neighborhood", []> {
  let summary = "N-d neighborhood attention with NATTEN clamping (M9)";
  let description = [{
    Tokens lie on a row-major grid of rank 1 to 3 (`Sq == Sk == prod(grid)`).
    Along each axis a query at coordinate `x` attends to the `kernel` keys of
    its neighborhood, spaced by `dilation`, shifted to stay inside the grid;
    queries are grouped by `stride` and share the window of their group's
    centre (Generalized Neighborhood Attention); `causal` restricts an axis to
    keys at or before the query. Swin windows are `stride = kernel`;
    MaxViT grid attention is `dilation = grid / kernel`.

    ```mlir
    #attn.neighborhood<grid = [64, 64], kernel = [13, 13]>
    ```
  }];
  let parameters = (ins Attn_IntListParam<"grid extent per axis">:$grid,
                        Attn_IntListParam<"window size per axis">:$kernel,
                        Attn_IntListParam<"dilation per axis (default 1)">:$dilation,
                        Attn_IntListParam<"query stride per axis (default 1)">:$stride,
                        Attn_BoolListParam<"causal flag per axis (default false)">:$causal);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// Per-axis dilation with the default (1) filled in.
    ::llvm::SmallVector<int64_t> getDilationOrDefault() const;
    /// Per-axis stride with the default (1) filled in.
    ::llvm::SmallVector<int64_t> getStrideOrDefault() const;
    /// Per-axis causal flag with the default (false) filled in.
    ::llvm::SmallVector<bool> getCausalOrDefault() const;
    /// Number of tokens of the grid (kDynamic if it overflows int64).
    int64_t getNumTokens() const;
  }];
}

def Attn_VaryingWindowAttr : Attn_SlotAttr<"VaryingWindow", "varying_window", []> {
  let summary = "query windows attend to larger centred context windows (M10)";
  let description = [{
    On a row-major grid, queries are grouped into non-overlapping windows of
    `window` tokens per axis; each query window attends to the context window
    `ratio` times larger per axis, centred on it and shifted to stay inside
    the grid (Varying Window Attention).
  }];
  let parameters = (ins Attn_IntListParam<"grid extent per axis">:$grid,
                        Attn_IntListParam<"query window per axis">:$window,
                        "int64_t":$ratio);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def Attn_HeadsAttr : Attn_SlotAttr<"Heads", "heads", []> {
  let summary = "query heads in `[begin, end)` (H1 per-head patterns)";
  let description = [{
    True for every pair of the query heads `begin <= h < end`. Per-head
    patterns are `or<and<heads<...>, m1>, and<not<heads<...>>, m2>>`.
  }];
  let parameters = (ins "int64_t":$begin, "int64_t":$end);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

//===----------------------------------------------------------------------===//
// Masks: runtime data
//===----------------------------------------------------------------------===//

def Attn_DocumentAttr : Attn_SlotAttr<"Document", "document"> {
  let summary = "same document: `qdoc[b, i] == kdoc[b, j]` (M6)";
  let description = [{
    Reads two integer operands: query document ids `tensor<BxSqxi32>` and key
    document ids `tensor<BxSkxi32>` (the same value for self-attention).

    `#attn.document<ranges>` reads two more: the (min, max) of each 64-token
    tile of the query ids `tensor<Bxceil(Sq/64)x2xi32>` and of the key ids
    `tensor<Bxceil(Sk/64)x2xi32>` (the results of `attn.id_ranges` on the
    first two operands): kernels then classify their tiles from a few
    entries instead of reading every id of the tiles. The ranges must be
    computed by `attn.id_ranges` of the matching ids in the function, or
    arrive as arguments of a program step (a function marked `attn.step`).
  }];
  let parameters = (ins DefaultValuedParameter<"bool", "false">:$ranges);
  let hasCustomAssemblyFormat = 1;
}

def Attn_DenseAttr : Attn_SlotAttr<"Dense", "dense"> {
  let summary = "explicit boolean mask tensor (M12)";
  let description = [{
    Reads one `i1` operand of shape `[B|1, H|1, Sq, Sk]`.

    `#attn.dense<tiles>` reads a second operand, the mask's tile summary
    (the result of `attn.mask_tiles` on the first operand): kernels then
    find the tiles they visit and those they compute without the mask from
    it. Only valid as the whole mask of `attn.attention`; the summary must
    be computed by `attn.mask_tiles` of the same mask in the function, or
    arrive as an argument of a program step (a function marked
    `attn.step`, attn-split-program), which receives it from the step
    before.
  }];
  let parameters = (ins DefaultValuedParameter<"bool", "false">:$tiles);
  let hasCustomAssemblyFormat = 1;
}

def Attn_BlocksAttr : Attn_SlotAttr<"Blocks", "blocks"> {
  let summary = "block-sparse layout: listed key blocks per query block (M12, D2-D5)";
  let description = [{
    Reads `counts : tensor<BxGxQB|1xi32>` and
    `indices : tensor<BxGxQB|1xNxi32>` (distinct key blocks per list): query
    block `qb` of head `h` attends to key blocks
    `indices[b, g, qb, 0 .. counts[b, g, qb])`, where
    `g = h / (Hq / G)` and `QB = ceil(Sq / q_block)`. This is the output of
    the block selection ops and FlexAttention's BlockMask (`or` a second
    `blocks` list of full blocks with `and<blocks, m>` for partial ones).
  }];
  let parameters = (ins "int64_t":$q_block, "int64_t":$k_block);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def Attn_TokensAttr : Attn_SlotAttr<"Tokens", "tokens"> {
  let summary = "selected keys per query (D1, D2, D7, G4, H2, H3)";
  let description = [{
    Reads `counts : tensor<BxGxSq|1xi32>` and
    `indices : tensor<BxGxSq|1xNxi32>`: query `i` of head `h` attends to keys
    `indices[b, g, i, 0 .. counts[b, g, i])`. A size-1 query dimension
    shares one selection among all queries (D7, G4); `G` divides `Hq`, so one
    group of heads may reuse another's selection (H2). The listed keys of a
    row are distinct (the selection ops produce them so); where the selection
    is the mask or a child of its top-level `and`, kernels visit exactly the
    listed keys, skipping entries outside `[0, Sk)` and counts past `N`.
  }];
}

def Attn_PyramidAttr : Attn_SlotAttr<"Pyramid", "pyramid"> {
  let summary = "per block pair pooling level (D6 pyramid pooled KV)";
  let description = [{
    Reads `levels : tensor<BxGxQBxKBxi8>`. Level `l >= 0` lets query block
    `qb` read key block `kb` in groups of `2^l` consecutive keys (from the
    block start); the keys of a group that the rest of the mask allows with
    a finite score all take the group's mean score. Under softmax that is
    one key with the mean-pooled K and V of those keys whose score gains
    `ln n` (n of them: `l * ln 2` for a whole group), the pooled KV of PSA;
    level 0 is plain attention. Level `-1` (any negative) drops the block,
    levels above `max_level` read as `max_level`. Only valid as the mask
    itself or as a direct child of a top-level `and`.
  }];
  let parameters = (ins "int64_t":$q_block, "int64_t":$k_block,
                        "int64_t":$max_level);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def Attn_KeepAttr : Attn_SlotAttr<"Keep", "keep"> {
  let summary = "per query or per key keep flags (G2, G3)";
  let description = [{
    `#attn.keep<key>` reads `keep : tensor<BxGxSkxi1>` and removes evicted
    keys (G3, attention-gate KV eviction); `#attn.keep<query>` reads
    `tensor<BxGxSqxi1>` and fully masks dropped rows (G2, heads a token did
    not route to).
  }];
  let parameters = (ins EnumParameter<Attn_Side>:$side);
  let assemblyFormat = "`<` $side `>`";
}

def Attn_PredicateAttr : Attn_SlotAttr<"Predicate", "predicate", []> {
  let summary = "the op's general predicate region (M13)";
  let description = [{
    Stands for the `predicate` region of the op, a function of
    `(b, h, i, j : index)` and the captured operands yielding `i1`. Analyses
    treat it as opaque unless they can prove more.
  }];
}

//===----------------------------------------------------------------------===//
// Score modifiers
//===----------------------------------------------------------------------===//

def Attn_TemperatureAttr : Attn_SlotAttr<"Temperature", "temperature"> {
  let summary = "multiply scores by `tau[b, h, i]` (S1)";
  let description = [{
    Reads one float operand: a scalar or `tensor<B|1 x H|1 x Sq|1>`.
  }];
}

def Attn_BiasAttr : Attn_SlotAttr<"Bias", "bias"> {
  let summary = "add a broadcast bias tensor (S2)";
  let description = [{
    Reads a float `tensor<B|1 x H|1 x Sq|1 x Sk|1>`; size-1 dimensions
    broadcast, so a key-only bias is `tensor<1x1x1xSkxf32>` and no
    `Sq x Sk` buffer exists.
  }];
}

def Attn_AlibiAttr : Attn_SlotAttr<"Alibi", "alibi"> {
  let summary = "ALiBi: `s + slope[h] * (j - i)` (S3)";
  let description = "Reads the slopes `tensor<Hqxf32>`.";
}

def Attn_RelPosAttr : Attn_SlotAttr<"RelPos", "rel_pos"> {
  let summary = "relative position table `s + table[h, clamp(i - j)]` (S4)";
  let description = [{
    With `buckets = 0`, `i - j` is clamped to `[-max_distance, max_distance]`
    and the table is `tensor<Hq x (2 * max_distance + 1) x f32>`. With
    `buckets > 0`, `i - j` is bucketed T5-style into `tensor<Hq x buckets>`:
    half of the buckets per sign; within a half, distances below a quarter
    of the buckets have their own bucket, larger ones share logarithmically
    spaced buckets up to `max_distance` (python/attn/reference.py,
    `rel_pos_bucket`).
  }];
  let parameters = (ins "int64_t":$max_distance,
                        DefaultValuedParameter<"int64_t", "0", "bucket count (0: no bucketing)">:$buckets);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def Attn_SoftcapAttr : Attn_SlotAttr<"Softcap", "softcap",
                                     ["getOperandSlots", "foldConstantSlots"]> {
  let summary = "soft capping `cap * tanh(s / cap)` (S5)";
  let description = "`cap` is a positive static float or `?`.";
  let parameters = (ins Attn_DynFloatParam<"cap">:$cap);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def Attn_DecayAttr : Attn_SlotAttr<"Decay", "decay"> {
  let summary = "retention decay `s + log(gamma[h]) * dist(i, j)` (S6)";
  let description = [{
    Reads `gamma : tensor<Hqxf32>` in (0, 1]. `distance = abs` uses `|i - j|`;
    `distance = manhattan` uses the Manhattan distance on the row-major `grid`.
  }];
  let parameters = (ins EnumParameter<Attn_Distance>:$distance,
                        Attn_IntListParam<"token grid for manhattan distance">:$grid);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def Attn_ScoreFnAttr : Attn_SlotAttr<"ScoreFn", "score_fn", []> {
  let summary = "the op's general score region (S7)";
  let description = [{
    Stands for the `score_fn` region of the op: a function of
    `(s : f32, b, h, i, j : index)` and the captured operands yielding `f32`.
  }];
}

//===----------------------------------------------------------------------===//
// Normalizations
//===----------------------------------------------------------------------===//

def Attn_SoftmaxAttr : Attn_SlotAttr<"Softmax", "softmax", []> {
  let summary = "numerically stable softmax over allowed keys (N1)";
  let description = "The default normalization.";
}

def Attn_SinkSoftmaxAttr : Attn_SlotAttr<"SinkSoftmax", "sink_softmax",
                                         ["getOperandSlots", "foldConstantSlots"]> {
  let summary = "softmax with an extra sink logit in the denominator (N2)";
  let description = [{
    `P = exp(s) / (exp(sink) + sum exp(s))`. `logit = 0.0` is the
    "off-by-one" softmax; `logit = ?` reads a scalar or `tensor<Hqxf32>`.
  }];
  let parameters = (ins Attn_DynFloatParam<"sink logit">:$logit);
  let assemblyFormat = "`<` struct(params) `>`";
}

def Attn_ClippedSoftmaxAttr : Attn_SlotAttr<"ClippedSoftmax", "clipped_softmax",
                                            ["getOperandSlots", "foldConstantSlots"]> {
  let summary = "`clip((zeta - gamma) * softmax + gamma, 0, 1)` (N3)";
  let description = "Requires `zeta >= 1 >= 0 >= gamma` when static.";
  let parameters = (ins Attn_DynFloatParam<"stretch upper bound">:$zeta,
                        Attn_DynFloatParam<"stretch lower bound">:$gamma);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def Attn_AffineSoftmaxAttr : Attn_SlotAttr<"AffineSoftmax", "affine_softmax"> {
  let summary = "`alpha[b, h, i] * softmax + beta[b, h, i]` (N4)";
  let description = [{
    Reads `alpha` and `beta`, each a float scalar or
    `tensor<B|1 x H|1 x Sq|1>`; `beta` is spread uniformly over the allowed
    keys of the row (`beta / n_allowed` per key), as in Affine-Scaled
    Attention.
  }];
}

def Attn_SigmoidAttr : Attn_SlotAttr<"Sigmoid", "sigmoid",
                                     ["getOperandSlots", "foldConstantSlots"]> {
  let summary = "elementwise `sigmoid(s + bias)`, no row normalization (N5)";
  let description = "`bias` is a static float or `?` (scalar operand).";
  let parameters = (ins Attn_DynFloatParam<"bias">:$bias);
  let assemblyFormat = "`<` struct(params) `>`";
}

//===----------------------------------------------------------------------===//
// Output gates
//===----------------------------------------------------------------------===//

def Attn_OutputGateAttr : Attn_SlotAttr<"OutputGate", "output_gate"> {
  let summary = "multiply the output by `act(g)` (G1, G2 head weights)";
  let description = [{
    Reads `g : tensor<BxSqxHqxDvxT>` (`granularity = element`) or
    `tensor<BxSqxHqxT>` (`granularity = head`). `activation = sigmoid` is the
    gated attention of G1; `activation = linear` multiplies by the routing
    weights of a mixture of heads (G2).
  }];
  let parameters = (ins EnumParameter<Attn_GateActivation>:$activation,
                        EnumParameter<Attn_GateGranularity>:$granularity);
  let assemblyFormat = "`<` struct(params) `>`";
}

#endif // ATTN_DIALECT_ATTN_IR_ATTNATTRS_TD

//===- Passes.td - attn dialect passes ---------------------*- tablegen -*-===//
//
// Passes over attn IR.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_TRANSFORMS_PASSES_TD
#define ATTN_DIALECT_ATTN_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def AttnNormalizeMasksPass : Pass<"attn-normalize-masks"> {
  let summary = "bring masks and structured parameters into normal form";
  let description = [{
    Applies only the mask and parameter normalization patterns of the attn
    dialect (the same ones `canonicalize` runs on attn ops), so that a
    compiler embedding attn can normalize specs without canonicalizing the
    rest of its IR. Afterwards:

    - constant runtime operands of structured parameters are folded into
      the attributes (`#attn.window<left = ?>` with `%c = 128` becomes
      `#attn.window<left = 128>`);
    - `and` / `or` are flattened, deduplicated and free of identities
      (`and<full, m>` is `m`, `or<m, m>` is `m`, `not<not<m>>` is `m`);
    - a causal mask and a window on the same diagonal are one window
      (`and<causal, window<left = L, right = R>>` is
      `window<left = L, right = 0>`);
    - with static sequence lengths, a window wider than the sequence is
      `causal` or `full`, and an absent or full mask is dropped.

    ```mlir
    // before
    %o = attn.attention %q, %k, %v
        mask(#attn.and<#attn.full, #attn.causal, #attn.window<left = ?, right = 0>>, %c128 : index) : ...
    // after
    %o = attn.attention %q, %k, %v mask(#attn.window<left = 128>) : ...
    ```
  }];
  let dependentDialects = ["::mlir::attn::AttnDialect"];
}

def AttnGroupResiduesPass : Pass<"attn-group-residues"> {
  let summary = "group the tokens of dilated masks by residue (dense bands)";
  let description = [{
    A mask `and<window<left = L, right = R>, dilated<dilation = D>>` allows
    a query only the keys of its own residue class modulo D: in token order
    every tile of the window is partial and allows one pair in D. The pass
    rewrites the op to `{residue_groups = D}` with the mask in group
    coordinates, where it is a band: `window<left = L / D, right = R / D>`
    (rounded down; causal and windows on other diagonals likewise). The
    lowering reads group r's tokens r, r + D, ... through strided views, so
    the reordering and its inverse on O and LSE move no data.

    It applies when the grouped form is exact: one `dilated` leaf with a
    static dilation whose diagonal is a multiple of D, the other leaves of
    the top-level `and` static causal / window / heads leaves, no mask
    operands, no tensor operands, no modifier that reads positions (ALiBi,
    relative position buckets, decay, score_fn), no gate or top-k results,
    `bhsd` / `bshd` layouts. Run it after `attn-normalize-masks`.

    ```mlir
    // before
    %o = attn.attention %q, %k, %v mask(#attn.and<#attn.window<left = 2048, right = 2048>, #attn.dilated<dilation = 4>>) : ...
    // after
    %o = attn.attention %q, %k, %v mask(#attn.window<left = 512, right = 512>) {residue_groups = 4 : i64} : ...
    ```
  }];
  let dependentDialects = ["::mlir::attn::AttnDialect"];
}

def AttnOrderPatchesPass : Pass<"attn-order-patches"> {
  let summary = "visit the tokens of 2-D neighborhoods patch by patch";
  let description = [{
    In row-major order a tile of a 2-D neighborhood (M9) is a strip of
    grid rows, and its keys are whole rows of the grid above and below it:
    at 128 x 128 tokens a 64-query tile visits 26 key tiles for 169 keys
    per query. Counted patch by patch (`patch-rows` x `patch-cols` tokens,
    8 x 8 by default) a tile is a box of the grid and its keys a few boxes
    around it (9 tiles for a 13 x 13 kernel). The pass sets
    `{patches = array<i64: PH, PW>}` on the op, which changes no result:
    the lowering maps every load and store of Q, K, V, O and LSE to the
    row-major position and the mask reads grid coordinates from the patch
    order.

    It applies to ops the attribute allows (one shared 2-D grid divided by
    the patch, `Sq == Sk ==` its size, only grid / heads / full / empty
    leaves, nothing else reading positions, `bhsd` / `bshd`) whose mask has
    a neighborhood leaf, and only where the tile classification visits
    fewer key tiles of `tile` keys in patch order than in row-major order.

    ```mlir
    // before
    %o = attn.attention %q, %k, %v mask(#attn.neighborhood<grid = [128, 128], kernel = [13, 13]>) : ...
    // after
    %o = attn.attention %q, %k, %v mask(#attn.neighborhood<grid = [128, 128], kernel = [13, 13]>) {patches = array<i64: 8, 8>} : ...
    ```
  }];
  let options = [
    Option<"patchRows", "patch-rows", "int64_t", "8",
           "grid rows per patch">,
    Option<"patchCols", "patch-cols", "int64_t", "8",
           "grid columns per patch">,
    Option<"tile", "tile", "int64_t", "64",
           "query and key tile size of the comparison">,
  ];
  let dependentDialects = ["::mlir::attn::AttnDialect"];
}

def AttnClassifyTilesPass : Pass<"attn-classify-tiles"> {
  let summary = "annotate attention ops with the key ranges of their query tiles";
  let description = [{
    Runs the tile classification analysis (`attn/Analysis/TileClassification.h`)
    on every `attn.attention` and records its closed form on the op, for
    inspection and tests; the lowering calls the same analysis directly.

    - `attn.hull`: key ranges, as functions of the query tile bounds
      `[i0, i1)`, `Sq`, `Sk`, `h` and mask operands `%n`, outside which no
      key is allowed;
    - `attn.core`: key ranges allowed for every query of the tile;
    - `attn.key_tiles`: the disjoint key-tile index ranges a query tile
      visits;
    - `attn.tile_counts = array<i64: empty, full, partial>`: when `Sq`, `Sk`
      and `Hq` are static and the ranges need no runtime operand, the number
      of (head, query tile, key tile) triples of each kind.

    With `dump`, one JSON line per (head, query tile) is written to stderr
    with the kind of every key tile (`E`, `F`, `P`), which the test suite
    checks against the float64 reference masks.

    ```mlir
    // attn-classify-tiles{q-tile=64 k-tile=64} on a causal 256x256 problem:
    %o = attn.attention %q, %k, %v mask(#attn.causal) {
        attn.core = "[0, min((i0 + 1), Sk))", attn.hull = "[0, min(i1, Sk))",
        attn.key_tiles = "[0, ceildiv(min(i1, Sk), 64))",
        attn.tile_counts = array<i64: 6, 4, 4>} : ...
    ```
  }];
  let options = [
    Option<"queryTile", "q-tile", "int64_t", /*default=*/"64",
           "query rows per tile">,
    Option<"keyTile", "k-tile", "int64_t", /*default=*/"64",
           "keys per tile">,
    Option<"dump", "dump", "bool", /*default=*/"false",
           "write the kind of every key tile as JSON lines to stderr">,
  ];
  let dependentDialects = ["::mlir::attn::AttnDialect"];
}

def AttnSummarizeMasksPass : Pass<"attn-summarize-masks"> {
  let summary = "compute explicit masks' tile summaries once per call (GPU)";
  let description = [{
    An explicit boolean mask (`#attn.dense`, M12) says nothing in closed
    form about which tiles are empty or full, so the GPU's tensor-core body
    summarized each key tile from its rows of the mask in every block: each
    (batch, head) group of blocks read the whole mask again, and the
    summary sat before the block's first product. This pass computes the
    summary once per call instead: an `attn.mask_tiles` of the mask (a bit
    per 64 x 64 tile for "some pair allowed" and one for "some pair not"),
    read by the attention through `#attn.dense<tiles>`, whose kernels then
    take a few words per block. The function becomes a program of two
    steps (attn-split-program).

    ```mlir
    // before
    %o = attn.attention %q, %k, %v mask(#attn.dense, %m : tensor<1x1x4096x4096xi1>) ...
    // after
    %t = attn.mask_tiles %m : tensor<1x1x4096x4096xi1> -> tensor<1x1x64x4xi32>
    %o = attn.attention %q, %k, %v
        mask(#attn.dense<tiles>, %m, %t : tensor<1x1x4096x4096xi1>, tensor<1x1x64x4xi32>) ...
    ```

    Applies where the tensor-core body can read the summary: the mask is
    the whole mask, of static shape with rows of a multiple of 16 keys, and
    Q is f16 or bf16. Other ops are left as they are.

    Document ids (`#attn.document`, M6, anywhere in the mask) likewise get
    their (min, max) per 64 tokens once per call: an `attn.id_ranges` per
    ids value, read through `#attn.document<ranges>`, where each block read
    every id of every key tile it tested (M6 at 16K, D = 64: 251 -> 280
    TFLOP/s on the H100 with a fraction of those loads). Applies to i32 ids
    of static shape with f16 or bf16 queries.
  }];
  let dependentDialects = ["::mlir::attn::AttnDialect"];
}

def AttnSplitProgramPass : Pass<"attn-split-program", "::mlir::ModuleOp"> {
  let summary = "outline each op of a multi-op spec function into a step";
  let description = [{
    A spec function may chain several attn ops through SSA values: a
    selection whose index set feeds an attention (D1-D7, H2, H3), an
    attention whose `topk` results feed the next. Kernel back ends compile
    one op per kernel, so this pass turns such a function into a *program*:
    every attn op becomes its own spec function `@<name>__step<N>` (its
    operands as arguments, in order of first use; its results as results;
    the constants it reads cloned in; marked `attn.step`), and the function's body becomes the
    calls of the steps in order. The function gets `attn.program`; the
    manifest writer turns it into the launches and the temporaries between
    them (attn/Runtime/attnrt.h). Functions with one attn op are left as
    they are.

    ```mlir
    // before
    func.func @dsa(%qi, %ki, %w, %q, %k, %v) -> tensor<...> {
      %n, %idx = attn.indexer_topk %qi, %ki, %w k = 64 ...
      %o = attn.attention %q, %k, %v mask(#attn.tokens, %n, %idx : ...) ...
      return %o
    }
    // after
    func.func @dsa__step0(%qi, %ki, %w) -> (tensor<...>, tensor<...>) {...}
    func.func @dsa__step1(%q, %k, %v, %n, %idx) -> tensor<...> {...}
    func.func @dsa(...) -> tensor<...> attributes {attn.program} {
      %0:2 = call @dsa__step0(%qi, %ki, %w)
      %1 = call @dsa__step1(%q, %k, %v, %0#0, %0#1)
      return %1
    }
    ```

    The function must consist of attn ops and constants only, and return
    results of its ops; anything else is a located error. The one form of
    control flow a program may hold is a runtime choice between variants
    (H4): an `scf.if` on an argument of the function whose branches hold
    attn ops and constants and yield results of their ops. Their ops become
    steps as well, the calls stay in the branches, and the launcher runs
    the steps of the branch the flag picks (`when`/`unless` in the
    manifest).

    With `split-topk` (the GPU pipelines), an attention with `topk` results
    (H2, H3) becomes two steps: one that computes only the top-k results
    (its step returns just those) and the attention without them, since a
    kernel computes one or the other.
  }];
  let options = [
    Option<"splitTopk", "split-topk", "bool", /*default=*/"false",
           "compute an attention's top-k results in a step of their own">,
  ];
  let dependentDialects = ["::mlir::func::FuncDialect",
                           "::mlir::scf::SCFDialect"];
}

#endif // ATTN_DIALECT_ATTN_TRANSFORMS_PASSES_TD

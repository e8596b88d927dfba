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

#endif // ATTN_DIALECT_ATTN_TRANSFORMS_PASSES_TD

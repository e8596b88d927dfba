"""The benchmark patterns of the GPU issue as attn specs (bf16 in and out,
H = 16, B = 4, B = 1 for S >= 16384) and their PyTorch equivalents for
FlexAttention (mask_mod / score_mod) and SDPA (is_causal where it applies).
Shared by bundle.py (compiles, on the development machine) and run.py
(measures, on the GPU machine)."""

# name: (mask attribute, mask operands, score attribute)
PATTERNS = {
    "M1": (None, [], None),
    "M2": ("#attn.causal", [], None),
    "M3": ("#attn.window<left = 1024>", [], None),
    "M4": ("#attn.or<#attn.window<left = 1024>, #attn.key_prefix<len = 4>>", [], None),
    "M5": ("#attn.or<#attn.causal, #attn.key_prefix<len = {prefix}>>", [], None),
    "M6": ("#attn.and<#attn.causal, #attn.document>", ["doc", "doc"], None),
    "M7": ("#attn.and<#attn.window<left = 2048, right = 2048>, "
           "#attn.dilated<dilation = 4>>", [], None),
    "M9": ("#attn.neighborhood<grid = [{g}, {g}], kernel = [13, 13]>", [], None),
    "M12": ("#attn.dense", ["blocks"], None),
    # M12's blocks given as a block-sparse layout (counts, listed blocks),
    # as FlexAttention gets them in its BlockMask.
    "M12b": ("#attn.blocks<q_block = {block}, k_block = {block}>", ["bsr"], None),
    "S3": ("#attn.causal", [], "[#attn.alibi]"),
    "S5": ("#attn.causal", [], "[#attn.softcap<cap = 50.0>]"),
}

# Catalog variants for correctness (python/attn/cases.py parameters) and
# the relative tolerance of each: the tensor-core body rounds P to the
# input type before the value product.
VARIANTS = {
    "catalog": {},
    "catalog_bf16_d64": {"sq": 150, "sk": 203, "d": 64, "dv": 64, "dtype": "bf16"},
    "catalog_f16_d128": {"sq": 150, "sk": 203, "d": 128, "dv": 128, "dtype": "f16"},
    "catalog_bf16_d64_dv128": {"sq": 131, "sk": 77, "d": 64, "dv": 128, "dtype": "bf16"},
    # Sequence lengths dynamic in the spec types (`?`): one kernel for any
    # length, sizes from the arguments.
    "catalog_dynamic": {"dynamic": True},
    "catalog_bf16_d128_dynamic": {"sq": 150, "sk": 203, "d": 128, "dv": 128,
                                  "dtype": "bf16", "dynamic": True},
    # Keys a multiple of 16: explicit masks get block summaries.
    "catalog_bf16_d64_k208": {"sq": 150, "sk": 208, "d": 64, "dv": 64, "dtype": "bf16"},
    # The same on 128 x 128 tiles (D = 128): explicit masks and document
    # ids as runtime tile tests of the TMA body, the mask's rows split
    # over the warps.
    "catalog_bf16_d128_k208": {"sq": 150, "sk": 208, "d": 128, "dv": 128, "dtype": "bf16"},
    # Decoding-sized queries: GQA heads packed into the tile rows (masks
    # without operands).
    "catalog_bf16_d128_sq5": {"sq": 5, "sk": 203, "d": 128, "dv": 128, "dtype": "bf16"},
}
TOLERANCE = {"catalog": 1e-4, "catalog_bf16_d64": 1e-2, "catalog_f16_d128": 2e-3,
             "catalog_bf16_d64_dv128": 1e-2, "catalog_dynamic": 1e-4,
             "catalog_bf16_d128_dynamic": 1e-2, "catalog_bf16_d64_k208": 1e-2,
             "catalog_bf16_d128_k208": 1e-2,
             "catalog_bf16_d128_sq5": 1e-2}

DOCUMENTS = 8          # M6: equal documents per sequence
BLOCK = 128            # M12: block size of the random block mask
BLOCK_DENSITY = 0.25   # M12: fraction of random blocks kept (plus diagonal)


def batch_for(s):
    return 1 if s >= 16384 else 4


def spec(pattern, s, d, heads=16, dtype="bf16"):
    """(spec text, function name) of `pattern` at S x S, head dim d."""
    mask, operands, score = PATTERNS[pattern]
    b = batch_for(s)
    name = f"{pattern}_S{s}_D{d}"
    t = f"tensor<{b}x{heads}x{s}x{d}x{dtype}>"
    args = [f"%q: {t}", f"%k: {t}", f"%v: {t}"]
    groups = []
    if mask:
        mask = mask.format(g=int(round(s ** 0.5)), prefix=s // 4, block=BLOCK)
        if operands == ["doc", "doc"]:
            args.append(f"%doc: tensor<{b}x{s}xi32>")
            groups.append(f"mask({mask}, %doc, %doc : tensor<{b}x{s}xi32>, "
                          f"tensor<{b}x{s}xi32>)")
        elif operands == ["bsr"]:
            nb = (s + BLOCK - 1) // BLOCK
            counts, listed = f"tensor<{b}x1x{nb}xi32>", f"tensor<{b}x1x{nb}x{nb}xi32>"
            args += [f"%c: {counts}", f"%i: {listed}"]
            groups.append(f"mask({mask}, %c, %i : {counts}, {listed})")
        elif operands == ["blocks"]:
            args.append(f"%m: tensor<1x1x{s}x{s}xi1>")
            groups.append(f"mask({mask}, %m : tensor<1x1x{s}x{s}xi1>)")
        else:
            groups.append(f"mask({mask})")
    if score == "[#attn.alibi]":
        args.append(f"%slopes: tensor<{heads}xf32>")
        groups.append(f"score({score}, %slopes : tensor<{heads}xf32>)")
    elif score:
        groups.append(f"score({score})")
    return (f"func.func @{name}({', '.join(args)}) -> {t} {{\n"
            f"  %o = attn.attention %q, %k, %v {' '.join(groups)} : {t}, {t}, {t} -> {t}\n"
            f"  return %o : {t}\n}}\n"), name

"""The benchmark patterns of the CPU issue as attn specs (B = 1, H heads,
S x S, head dim D): M1 dense, M2 causal, M3 window 512, M4 sinks + window
512, M6 document + causal, M9 2-D 13x13 neighborhood on a square grid.
Shared by run.py (here) and bundle.py (kernels for another machine)."""

PATTERNS = {
    "M1": (None, []),
    "M2": ("#attn.causal", []),
    "M3": ("#attn.window<left = 512>", []),
    "M4": ("#attn.or<#attn.window<left = 512>, #attn.key_prefix<len = 4>>", []),
    "M6": ("#attn.and<#attn.causal, #attn.document>", ["doc", "doc"]),
    "M9": ("#attn.neighborhood<grid = [{g}, {g}], kernel = [13, 13]>", []),
}


def spec(pattern, s, h, d, dtype):
    """Returns (spec text, mask attribute text or None). The function is
    @bench(q, k, v[, doc]) -> o with O in f32."""
    mask, operands = PATTERNS[pattern]
    t = f"tensor<1x{h}x{s}x{d}x{dtype}>"
    args = f"%q: {t}, %k: {t}, %v: {t}"
    group = ""
    if mask:
        mask = mask.format(g=int(round(s ** 0.5)))
        if operands:
            args += f", %doc: tensor<1x{s}xi32>"
            group = (f" mask({mask}, %doc, %doc : tensor<1x{s}xi32>, "
                     f"tensor<1x{s}xi32>)")
        else:
            group = f" mask({mask})"
    out = f"tensor<1x{h}x{s}x{d}xf32>"
    return (f"func.func @bench({args}) -> {out} {{\n"
            f"  %o = attn.attention %q, %k, %v{group} : {t}, {t}, {t} -> {out}\n"
            f"  return %o : {out}\n}}\n"), mask

"""Random attn mask compositions for randomized tests.

`mask(rng, depth, sq, sk, heads, grid)` returns the text of a random
composition (and/or/not, depth <= `depth`) of static mask leaves that is
valid for a problem of the given sizes; `grid` (a list of extents whose
product is sq == sk) enables neighborhood and varying-window leaves.
"""


def diag_params(rng):
    parts = []
    if rng.random() < 0.3:
        parts.append("align = bottom_right")
    if rng.random() < 0.3:
        parts.append(f"offset = {rng.randint(-8, 8)}")
    return parts


def leaf(rng, sq, sk, heads, grid):
    kinds = ["causal", "window", "key_prefix", "query_prefix", "heads",
             "dilated", "power", "full", "empty"]
    if grid:
        kinds += ["neighborhood", "varying_window"] * 2
    kind = rng.choice(kinds)
    if kind == "causal":
        p = diag_params(rng)
        return "#attn.causal" + (f"<{', '.join(p)}>" if p else "")
    if kind == "window":
        p = [f"left = {rng.randint(0, sk)}", f"right = {rng.randint(0, 24)}"]
        return f"#attn.window<{', '.join(p + diag_params(rng))}>"
    if kind == "key_prefix":
        return f"#attn.key_prefix<len = {rng.randint(0, sk + 4)}>"
    if kind == "query_prefix":
        return f"#attn.query_prefix<len = {rng.randint(0, sq + 4)}>"
    if kind == "heads":
        begin = rng.randint(0, heads - 1)
        return f"#attn.heads<begin = {begin}, end = {rng.randint(begin + 1, heads + 1)}>"
    if kind == "dilated":
        return f"#attn.dilated<dilation = {rng.randint(1, 4)}>"
    if kind == "power":
        return f"#attn.power<block = {rng.choice([4, 8, 16])}>"
    if kind == "neighborhood":
        rank = len(grid)
        kernel, dilation, stride, causal = [], [], [], []
        for n in grid:
            k = rng.randint(1, n)
            d = rng.randint(1, max(1, n // k))
            c = rng.random() < 0.25
            kernel.append(k)
            dilation.append(d)
            causal.append(c)
            stride.append(1 if c else rng.randint(1, k))
        text = f"grid = {grid}, kernel = {kernel}, dilation = {dilation}, stride = {stride}"
        if any(causal):
            text += ", causal = [" + ", ".join(str(c).lower() for c in causal) + "]"
        return f"#attn.neighborhood<{text}>"
    if kind == "varying_window":
        window, ratio = [], rng.randint(1, 3)
        for n in grid:
            divisors = [p for p in range(1, n + 1) if n % p == 0 and p * ratio <= n]
            if not divisors:
                return "#attn.full"
            window.append(rng.choice(divisors))
        return f"#attn.varying_window<grid = {grid}, window = {window}, ratio = {ratio}>"
    return f"#attn.{kind}"


def mask(rng, depth, *shape):
    r = rng.random()
    if depth == 0 or r < 0.4:
        return leaf(rng, *shape)
    if r < 0.65:
        n = rng.randint(2, 3)
        return "#attn.and<" + ", ".join(mask(rng, depth - 1, *shape) for _ in range(n)) + ">"
    if r < 0.9:
        n = rng.randint(2, 3)
        return "#attn.or<" + ", ".join(mask(rng, depth - 1, *shape) for _ in range(n)) + ">"
    return f"#attn.not<{mask(rng, depth - 1, *shape)}>"

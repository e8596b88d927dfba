"""Checks attn-classify-tiles against the float64 reference masks.

For random mask compositions, shapes and tile sizes, runs
`attn-opt --attn-classify-tiles=dump` and compares every (head, query tile,
key tile) claim with the reference mask: a tile claimed empty must allow no
pair, a tile claimed full must allow every pair (soundness). For masks whose
closed form is exact, it also requires that no tile is needlessly partial.

usage: check_tile_classes.py ATTN_OPT PYTHON_DIR [--seed N] [--cases N]
"""

import json
import random
import subprocess
import sys

sys.path.insert(0, sys.argv[2])
from attn import attrs, random_masks, reference  # noqa: E402

args = sys.argv[3:]
seed = int(args[args.index("--seed") + 1]) if "--seed" in args else 0
cases = int(args[args.index("--cases") + 1]) if "--cases" in args else 200
rng = random.Random(seed)


def problem():
    grid = None
    if rng.random() < 0.35:
        grid = rng.choice([[24], [6, 8], [4, 5, 6], [8, 8], [3, 4, 4]])
        sq = sk = 1
        for n in grid:
            sq *= n
        sk = sq
    else:
        sq, sk = rng.randint(1, 100), rng.randint(1, 100)
    heads = rng.choice([1, 2, 4])
    tiles = (rng.choice([1, 3, 8, 16, 24, 32]), rng.choice([1, 4, 8, 16, 20, 64]))
    return sq, sk, heads, grid, tiles


def patch_problem():
    """A 2-D grid, a patch shape dividing it, and a random composition of
    the leaves the `patches` attribute allows (grid leaves, heads, full,
    empty)."""
    grid = rng.choice([[8, 8], [6, 8], [12, 16], [4, 12], [16, 16]])
    patch = [rng.choice([p for p in range(1, n + 1) if n % p == 0]) for n in grid]
    heads = rng.choice([1, 2])

    def allowed_leaf(kinds=("#attn.neighborhood", "#attn.varying_window",
                            "#attn.heads", "#attn.full", "#attn.empty")):
        while True:
            text = random_masks.leaf(rng, 0, 0, heads, grid)
            if text.startswith(kinds):
                return text

    def compose(depth):
        r = rng.random()
        if depth == 0 or r < 0.5:
            return allowed_leaf()
        name = "and" if r < 0.75 else "or" if r < 0.95 else "not"
        count = 1 if name == "not" else rng.randint(2, 3)
        return f"#attn.{name}<" + ", ".join(compose(depth - 1) for _ in range(count)) + ">"

    spec = compose(2)
    if "neighborhood" not in spec and "varying_window" not in spec:
        spec = f"#attn.and<{allowed_leaf(('#attn.neighborhood',))}, {spec}>"
    tiles = (rng.choice([1, 3, 8, 16, 32]), rng.choice([1, 4, 8, 16, 64]))
    return spec, grid, patch, heads, tiles


def patch_order(grid, patch):
    """Row-major positions of the tokens counted patch by patch."""
    (rows, cols), (ph, pw) = grid, patch
    order = []
    for pr in range(rows // ph):
        for pc in range(cols // pw):
            for r in range(ph):
                for c in range(pw):
                    order.append((pr * ph + r) * cols + pc * pw + c)
    return order


def run_all(problems):
    """Classifies every problem in one attn-opt run (one function each);
    returns the dump lines of each, by problem."""
    functions = []
    for index, (spec, sq, sk, heads, tiles, *extra) in enumerate(problems):
        ty = lambda s: f"tensor<1x{heads}x{s}x8xf32>"
        attributes = f" {{{extra[0]}}}" if extra else ""
        functions.append(
            f"func.func @f{index}(%q: {ty(sq)}, %k: {ty(sk)}) -> {ty(sq)} {{\n"
            f"  %o = attn.attention %q, %k, %k mask({spec}){attributes}"
            f" : {ty(sq)}, {ty(sk)}, {ty(sk)} -> {ty(sq)}\n  return %o : {ty(sq)}\n}}\n")
    dumps = [[] for _ in problems]
    # One run per tile-size pair: the pass takes the tile sizes as options.
    by_tiles = {}
    for index, problem in enumerate(problems):
        by_tiles.setdefault(problem[4], []).append(index)
    for (tq, tk), indices in sorted(by_tiles.items()):
        result = subprocess.run(
            [sys.argv[1], "-", f"--attn-classify-tiles=q-tile={tq} k-tile={tk} dump",
             "-o", "/dev/null"],
            input="".join(functions[i] for i in indices), capture_output=True,
            text=True)
        if result.returncode != 0:
            raise SystemExit(f"attn-opt failed:\n{result.stderr[-2000:]}")
        for line in result.stderr.splitlines():
            if line.startswith("{"):
                record = json.loads(line)
                dumps[indices[record["op"]]].append(record)
    return dumps


# Masks whose closed form is exact: no tile is partial unless it is.
EXACT = ["#attn.causal", "#attn.window<left = 13, right = 5>",
         "#attn.causal<align = bottom_right>", "#attn.key_prefix<len = 20>",
         "#attn.and<#attn.causal, #attn.window<left = 30, right = 0>>",
         "#attn.or<#attn.window<left = 16, right = 0>, #attn.key_prefix<len = 4>>",
         "#attn.query_prefix<len = 33>", "#attn.heads<begin = 1, end = 3>"]

violations = partial_total = partial_needless = 0
checks = [(spec, 70, 90, 4, None, (16, 8), True) for spec in EXACT]
for _ in range(cases):
    sq, sk, heads, grid, tiles = problem()
    checks.append((random_masks.mask(rng, 3, sq, sk, heads, grid), sq, sk, heads,
                   grid, tiles, False))

# Patch order (`patches`): the same claims against the reference mask with
# queries and keys permuted into the order the tiles count them in.
patches = {}
for _ in range(cases // 3):
    spec, grid, patch, heads, tiles = patch_problem()
    patches[len(checks)] = patch
    checks.append((spec, grid[0] * grid[1], grid[0] * grid[1], heads, grid,
                   tiles, False))

dumps = run_all([(spec, sq, sk, heads, tiles) +
                 ((f"patches = array<i64: {patches[i][0]}, {patches[i][1]}>",)
                  if i in patches else ())
                 for i, (spec, sq, sk, heads, _, tiles, _) in enumerate(checks)])
for index, ((spec, sq, sk, heads, grid, (tq, tk), exact), lines) in enumerate(
        zip(checks, dumps)):
    ref = reference.dense_mask(attrs.parse(spec), 1, heads, sq, sk)[0]
    if index in patches:
        order = patch_order(grid, patches[index])
        ref = ref[:, order][:, :, order]
    if len(lines) != heads * -(-sq // tq):
        raise SystemExit(f"expected a dump for every (head, query tile) of {spec}")
    for line in lines:
        h, qt = line["head"], line["qtile"]
        for kt, kind in enumerate(line["tiles"]):
            block = ref[h, qt * tq:(qt + 1) * tq, kt * tk:(kt + 1) * tk]
            if (kind == "E" and block.any()) or (kind == "F" and not block.all()):
                violations += 1
                print(f"unsound: {spec} Sq={sq} Sk={sk} tiles={tq}x{tk} "
                      f"h={h} qtile={qt} ktile={kt} claimed {kind}")
            if kind == "P":
                partial_total += 1
                if not block.any() or block.all():
                    partial_needless += 1
                    if exact:
                        violations += 1
                        print(f"imprecise: {spec} h={h} qtile={qt} ktile={kt}")

print(f"{len(checks)} masks, {violations} violations, "
      f"{partial_needless} of {partial_total} partial tiles could be empty or full")
sys.exit(1 if violations else 0)

"""The GPU issue's sparse-pattern target on a benchmark run: a pattern's
time should be within 1.25x of (dense time x fraction of non-empty tiles).

The tiles are the tensor-core kernel's: 64 queries by 64 keys, in the
order the compiler makes the kernel visit tokens — patch by patch (8 x 8
patches of the grid) for the 2-D neighborhood M9 (attn-order-patches),
by residue for the dilated window M7 (attn-group-residues: each residue
group is a window of its own), row-major otherwise. The masks come from
the project's float64 reference (python/attn), the dense time from the
same run's M1 row at the same S and D (score modifiers, S3 and S5, are
not sparsity and left out); M12's blocks are random on the GPU
machine, so its fraction is its allowed pairs over all pairs (its
128-blocks are whole tiles).

usage: /usr/bin/python3 bench/gpu/tile_fraction.py RESULTS.json [MORE.json ...]
(several runs: each time the best of the runs, as in report.py)
"""

import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))
from attn import attrs, reference  # noqa: E402
from specs import BLOCK, DOCUMENTS, PATTERNS  # noqa: E402

TILE = 64
PATCH = 8  # attn-order-patches' default patch: 8 x 8 grid tokens


def patch_order(s):
    """Row-major token of each position when tokens are counted patch by
    patch (PATCH x PATCH boxes of the sqrt(s) x sqrt(s) grid)."""
    g = int(round(s ** 0.5))
    rows, cols = np.divmod(np.arange(s), g)
    patch = (rows // PATCH) * ((g + PATCH - 1) // PATCH) + cols // PATCH
    return np.lexsort((cols % PATCH, rows % PATCH, patch))


def residue_order(s, groups):
    """Tokens by residue group: r, r + groups, ... for r = 0 .. groups - 1."""
    return np.argsort(np.arange(s) % groups, kind="stable")


def non_empty_fraction(pattern, s):
    """Fraction of the TILE x TILE tiles with an allowed pair (one head and
    batch: these masks are the same for all)."""
    text, operands, _ = PATTERNS[pattern]
    if text is None:
        return 1.0
    attr = attrs.parse(text.format(g=int(round(s ** 0.5)), prefix=s // 4, block=BLOCK))
    values = []
    if operands == ["doc", "doc"]:
        doc = (np.arange(s) * DOCUMENTS // s).astype(np.int32)[None]
        values = [doc, doc]
    mask = reference.dense_mask(attr, 1, 1, s, s, values)[0, 0]
    if pattern == "M9":
        order = patch_order(s)
        mask = mask[order][:, order]
    if pattern == "M7":
        order = residue_order(s, 4)
        mask = mask[order][:, order]
    t = s // TILE
    return float(mask.reshape(t, TILE, t, TILE).any(axis=(1, 3)).mean())


def main():
    from report import load_best
    results = load_best(sys.argv[1:])
    dense = {(r["S"], r["D"]): r["ours_ms"] for r in results["bench"] if r["pattern"] == "M1"}
    fractions = {}
    print("| pattern | S | D | non-empty tiles | dense ms x fraction | ours ms | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in results["bench"]:
        pattern, s, d = r["pattern"], r["S"], r["D"]
        # Score modifiers (S3, S5) are not sparsity: left out.
        if pattern == "M1" or (s, d) not in dense or PATTERNS[pattern][2]:
            continue
        if pattern in ("M12", "M12b"):
            fraction = r["allowed_pairs"] / (r["B"] * r["H"] * s * s)
        else:
            if (pattern, s) not in fractions:
                fractions[pattern, s] = non_empty_fraction(pattern, s)
            fraction = fractions[pattern, s]
        floor = dense[s, d] * fraction
        ratio = r["ours_ms"] / floor
        mark = "" if ratio <= 1.25 else " (over 1.25)"
        print(f"| {pattern} | {s} | {d} | {fraction:.3f} | {floor:.3f} | "
              f"{r['ours_ms']:.3f} | {ratio:.2f}{mark} |")


if __name__ == "__main__":
    main()
